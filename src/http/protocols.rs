//! `/api/v1/protocols` and `/api/v1/clinic`: the clinic's aftercare protocol (versioned) and
//! its settings.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::representation::location;
use crate::{
    db::{from_db, new_id, to_db},
    domain::protocol::{Step, validate_steps},
    error::{ApiError, ApiResult, FieldError},
    http::extract::{AuthUser, Json, double_option},
    repo::{
        clinics,
        protocols::{self, Protocol},
    },
    security::normalize_email,
    services::reminders::current_protocol,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolView {
    pub id: String,
    pub version: i32,
    pub steps: Vec<Step>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolVersion {
    pub id: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolsView {
    /// Used for sessions recorded from now on.
    pub current: ProtocolView,
    /// Every version, newest first; reminders keep the version they were planned under.
    pub versions: Vec<ProtocolVersion>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceProtocol {
    pub steps: Vec<Step>,
}

fn view(p: Protocol) -> ApiResult<ProtocolView> {
    Ok(ProtocolView {
        steps: serde_json::from_str(&p.steps).map_err(ApiError::internal)?,
        created_at: from_db(p.created_at),
        id: p.id,
        version: p.version,
    })
}

/// The clinic's current aftercare protocol and its history (staff).
#[utoipa::path(get, path = "/api/v1/protocols", tag = "protocols", security(("bearer" = [])),
    responses((status = 200, body = ProtocolsView),
    (status = 403, description = "Patients cannot", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get_protocols(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ProtocolsView>> {
    user.require_staff()?;
    let (clinic, now) = (user.clinic_id.clone(), state.now());
    let (current, all) = state
        .db
        .write(move |c| -> ApiResult<(Protocol, Vec<Protocol>)> {
            let current = current_protocol(c, &clinic, now)?;
            Ok((current, protocols::find_versions(c, &clinic)?))
        })
        .await?;
    let versions = all
        .into_iter()
        .map(|p| ProtocolVersion { created_at: from_db(p.created_at), id: p.id, version: p.version })
        .collect();
    Ok(web::Json(ProtocolsView { current: view(current)?, versions }))
}

/// Replaces the protocol with a new version (admins). Reminders already planned keep theirs.
#[utoipa::path(put, path = "/api/v1/protocols", tag = "protocols", security(("bearer" = [])),
    request_body = ReplaceProtocol, responses((status = 201, body = ProtocolView),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn replace_protocol(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<ReplaceProtocol>,
) -> ApiResult<HttpResponse> {
    user.require_admin()?;
    validate_steps(&body.steps)
        .map_err(|errors| ApiError::validation(errors.into_iter().map(|(f, m)| FieldError::new(f, m)).collect()))?;
    let steps = serde_json::to_string(&body.steps).map_err(ApiError::internal)?;
    let (u, now) = (user.clone(), state.now());
    let p = state
        .db
        .write(move |c| -> ApiResult<Protocol> {
            let latest = current_protocol(c, &u.clinic_id, now)?;
            let p = Protocol {
                id: new_id(),
                clinic_id: u.clinic_id.clone(),
                version: latest.version + 1,
                steps,
                created_by: Some(u.account_id.clone()),
                created_at: to_db(now),
            };
            protocols::insert_protocol(c, &p)?;
            Ok(p)
        })
        .await?;
    Ok(HttpResponse::Created().insert_header(location("/api/v1/protocols".to_owned())).json(view(p)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicView {
    pub id: String,
    pub name: String,
    /// Where patients' replies to reminder emails go.
    pub reply_to: Option<String>,
    /// The number a patient is told to call when a check-in needs the clinic now.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClinic {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub reply_to: Option<Option<String>>,
    /// 5 to 30 characters: digits, spaces and `+ - ( ) .`; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 5, max_length = 30, pattern = r"^\+?[0-9 ()+.-]{5,30}$")]
    pub phone: Option<Option<String>>,
}

/// The caller's clinic.
#[utoipa::path(get, path = "/api/v1/clinic", tag = "clinic", security(("bearer" = [])),
    responses((status = 200, body = ClinicView)))]
pub async fn get_clinic(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ClinicView>> {
    let id = user.clinic_id.clone();
    let clinic = state.db.run(move |c| clinics::find_clinic(c, &id)).await?.ok_or_else(ApiError::not_found)?;
    Ok(web::Json(ClinicView { id: clinic.id, name: clinic.name, reply_to: clinic.reply_to, phone: clinic.phone }))
}

/// Changes the clinic's name or reply-to address (admins).
#[utoipa::path(patch, path = "/api/v1/clinic", tag = "clinic", security(("bearer" = [])),
    request_body = UpdateClinic, responses((status = 200, body = ClinicView),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update_clinic(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<UpdateClinic>,
) -> ApiResult<web::Json<ClinicView>> {
    user.require_admin()?;
    let mut c = crate::http::extract::Checks::default();
    let name = body.name.as_deref().and_then(|n| c.check("name", crate::http::extract::text(n, 200)));
    let reply_to = match &body.reply_to {
        None => None,
        Some(None) => Some(None),
        Some(Some(e)) => {
            c.check("reply_to", normalize_email(e).ok_or_else(|| "is not an email address".to_owned())).map(Some)
        }
    };
    let phone = match &body.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => c.check("phone", phone_number(p)).map(Some),
    };
    c.finish()?;
    let id = user.clinic_id.clone();
    let clinic = state
        .db
        .write(move |c| -> ApiResult<clinics::Clinic> { Ok(clinics::update_clinic(c, &id, name, reply_to, phone)?) })
        .await?;
    Ok(web::Json(ClinicView { id: clinic.id, name: clinic.name, reply_to: clinic.reply_to, phone: clinic.phone }))
}

/// A phone number as people write them: 5 to 30 characters of digits, spaces and `+ - ( ) .`,
/// with at least 5 digits; kept as written (trimmed).
fn phone_number(p: &str) -> Result<String, String> {
    let p = p.trim();
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if (5..=30).contains(&p.chars().count())
        && digits >= 5
        && p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        Ok(p.to_owned())
    } else {
        Err("must be a phone number: 5 to 30 digits, spaces and + - ( ) .".to_owned())
    }
}
