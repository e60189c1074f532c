//! The app's devices for push notifications: a patient registers the push token of each phone
//! (re-registering a token updates it and moves it to this login), lists and removes them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{DbError, from_db, is_unique_violation, new_id, to_db},
    domain::wire_name,
    error::{ApiError, ApiResult},
    repo::{
        audit as audit_repo,
        devices::{self, Device},
    },
    security::caller::AuthUser,
    services::{
        audit::{self, Action},
        patients::{self, check_language},
        validation::Checks,
    },
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

/// Devices kept per patient; registering one more drops the least recently seen.
pub const MAX_DEVICES: i64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// APNs.
    Ios,
    /// FCM.
    Android,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub platform: Platform,
    /// The push token: APNs' device token in hex (iOS) or the FCM registration token (Android).
    #[schema(min_length = 8, max_length = 4096)]
    pub token: String,
    /// The app's bundle or package id, e.g. `com.example.aftercare`.
    #[schema(min_length = 1, max_length = 255)]
    pub app_id: String,
    /// The device's language (BCP 47), for the push texts; the patient's language when absent.
    #[schema(min_length = 2, max_length = 35)]
    pub language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub platform: Platform,
    pub app_id: String,
    pub language: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the app last registered it.
    pub last_seen_at: DateTime<Utc>,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        Self {
            platform: if d.platform == "ios" { Platform::Ios } else { Platform::Android },
            id: d.id,
            app_id: d.app_id,
            language: d.language,
            created_at: from_db(d.created_at),
            updated_at: from_db(d.updated_at),
            last_seen_at: from_db(d.last_seen_at),
        }
    }
}

fn check_token(platform: Platform, token: &str) -> Result<String, String> {
    let ok = match platform {
        Platform::Ios => (64..=200).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit()),
        Platform::Android => {
            (8..=4096).contains(&token.len())
                && token.bytes().all(|b| b.is_ascii_alphanumeric() || b":_-.".contains(&b))
        }
    };
    if ok {
        Ok(token.to_owned())
    } else {
        Err(match platform {
            Platform::Ios => "must be the APNs device token in hex (64 to 200 characters)".into(),
            Platform::Android => "must be an FCM registration token (8 to 4096 letters, digits, : _ - .)".into(),
        })
    }
}

fn check_app_id(app_id: &str) -> Result<String, String> {
    let ok =
        (1..=255).contains(&app_id.len()) && app_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok { Ok(app_id.to_owned()) } else { Err("must be a bundle or package id such as `com.example.app`".into()) }
}

/// Registers (201, `true`) or re-registers (200, `false`) the caller's device.
pub async fn register(state: &AppState, user: &AuthUser, body: RegisterDevice) -> ApiResult<(DeviceView, bool)> {
    let patient = patients::own(state, user).await?;
    let mut c = Checks::default();
    let token = c.check("token", check_token(body.platform, &body.token));
    let app_id = c.check("app_id", check_app_id(&body.app_id));
    let language = match body.language.as_deref() {
        Some(l) => c.check("language", check_language(l)),
        None => Some(patient.language.clone()),
    };
    c.finish()?;
    // Every check passed, so each is Some.
    let (token, app_id, language) =
        (token.unwrap_or_default(), app_id.unwrap_or_default(), language.unwrap_or_default());
    let now = to_db(state.now());
    let device = Device {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        account_id: user.account_id.clone(),
        platform: wire_name(body.platform),
        token,
        app_id,
        language,
        created_at: now,
        updated_at: now,
        last_seen_at: now,
    };
    // Two registrations of a new token at once: the second insert meets the unique token and
    // its transaction runs again, finding the row to update.
    for _ in 0..2 {
        let (d, u) = (device.clone(), user.clone());
        let done = state
            .db
            .write(move |c| -> Result<(Device, bool), DbError> {
                let (row, created) = match devices::find_by_token(c, &d.token)? {
                    Some(old) => {
                        let moved = Device { id: old.id, created_at: old.created_at, ..d };
                        devices::update_device(c, &moved)?;
                        (moved, false)
                    }
                    None => {
                        devices::insert_device(c, &d)?;
                        devices::prune(c, &d.patient_id, MAX_DEVICES)?;
                        (d, true)
                    }
                };
                let action = if created { Action::Create } else { Action::Update };
                let event = audit::event(&u, action, "device", Some(&row.id), Some(&row.patient_id), from_db(now));
                audit_repo::insert_events(c, &[event])?;
                Ok((row, created))
            })
            .await;
        match done {
            Err(DbError::Query(e)) if is_unique_violation(&e) => continue,
            other => {
                let (row, created) = other?;
                return Ok((row.into(), created));
            }
        }
    }
    Err(ApiError::internal(anyhow::anyhow!("device registration kept meeting a concurrent one")))
}

/// The caller's devices, oldest first.
pub async fn list(state: &AppState, user: &AuthUser, q: &PageParams) -> ApiResult<Page<DeviceView>> {
    let (limit, after) = q.resolve()?;
    let patient = patients::own(state, user).await?;
    let id = patient.id.clone();
    let rows = state.db.run(move |c| devices::page(c, &id, after.as_deref(), fetch_limit(limit))).await?;
    state.audit.record(audit::event(user, Action::List, "device", None, Some(&patient.id), state.now())).await;
    Ok(Page::from_rows(rows, limit, |d| d.id.as_str(), DeviceView::from))
}

/// Removes one of the caller's devices (404 for anyone else's).
pub async fn remove(state: &AppState, user: &AuthUser, device_id: &str) -> ApiResult<()> {
    let patient = patients::own(state, user).await?;
    let (id, pid, u, now) = (device_id.to_owned(), patient.id.clone(), user.clone(), state.now());
    let removed = state
        .db
        .write(move |c| -> ApiResult<bool> {
            if !devices::delete_for_patient(c, &id, &pid)? {
                return Ok(false);
            }
            audit_repo::insert_events(c, &[audit::event(&u, Action::Erase, "device", Some(&id), Some(&pid), now)])?;
            Ok(true)
        })
        .await?;
    if removed { Ok(()) } else { Err(ApiError::not_found()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_per_platform() {
        assert!(check_token(Platform::Ios, &"ab12".repeat(16)).is_ok());
        assert!(
            check_token(Platform::Ios, "not-hex-at-all-not-hex-at-all-not-hex-at-all-not-hex-at-all-xxxx").is_err()
        );
        assert!(check_token(Platform::Android, "fcm:APA91b-abc_def.123").is_ok());
        assert!(check_token(Platform::Android, "short").is_err());
        assert!(check_token(Platform::Android, "has space in it").is_err());
        assert!(check_app_id("com.example.aftercare").is_ok());
        assert!(check_app_id("").is_err() && check_app_id("a/b").is_err());
    }
}
