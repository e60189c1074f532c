//! Progress photos: uploaded by staff or the patient (with `photos` consent), processed off the
//! async threads under a bound, stored before the record is written (and removed again if the
//! record cannot be), served only within scope, deleted with their files.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{from_db, new_id, to_db},
    domain::{
        erythema::{ALGORITHM, Roi},
        escalation::{AlertReason, Raise, Severity},
    },
    error::{ApiError, ApiResult, ErrorCode},
    media::{
        process::{Bounds, MediaError, process},
        store::StoreError,
    },
    repo::{
        alerts::Alert,
        audit as audit_repo, consents,
        patients::Patient,
        photos::{self, Photo},
        scores::{self, Score},
        sessions,
    },
    security::caller::AuthUser,
    services::validation::{Checks, text},
    services::{
        alerts::{self, Subject},
        audit::{self, Action},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams, fetch_limit},
};

/// The angle a photo is taken from.
// The wire name (`left45`) is also the stored value: the photos table's CHECK lists exactly
// `View::ALL` (tests/api/security_uploads.rs holds the two together).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PhotoAngle)]
pub enum View {
    Frontal,
    Left45,
    Right45,
    LeftLateral,
    RightLateral,
    Other,
}

impl View {
    /// Every view, in the order the API documents them.
    pub const ALL: [View; 6] =
        [View::Frontal, View::Left45, View::Right45, View::LeftLateral, View::RightLateral, View::Other];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimePoint {
    Baseline,
    Session,
    Day,
    FollowUp,
}

/// The `metadata` part of an upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoMetadata {
    pub view: View,
    pub time_point: TimePoint,
    /// The session the photo documents (required for `session` and `day`).
    pub session_id: Option<String>,
    /// Days after the session, for `day`.
    pub day_number: Option<u32>,
    #[schema(example = "left cheek", min_length = 1, max_length = 100, pattern = r"\S")]
    pub area: Option<String>,
    /// Default: EXIF capture time, else the upload time.
    pub taken_at: Option<DateTime<Utc>>,
    /// Whether a colour card is in frame (colour metrics are comparable only with one).
    #[serde(default)]
    pub colour_card: bool,
    /// Region for the redness metric; the whole image by default.
    pub roi: Option<Roi>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoView {
    pub id: String,
    pub patient_id: String,
    pub session_id: Option<String>,
    pub view: View,
    pub time_point: TimePoint,
    pub day_number: Option<i32>,
    pub area: Option<String>,
    pub taken_at: DateTime<Utc>,
    pub colour_card: bool,
    pub roi: Roi,
    pub width: i32,
    pub height: i32,
    /// Mean CIELAB a* over the region (redness).
    pub a_star: f64,
    pub algorithm_version: String,
    /// a* minus the patient's baseline photo of the same view; absent for the baseline itself.
    pub a_star_change_from_baseline: Option<f64>,
    /// Without a colour card, colour metrics depend on lighting.
    pub comparable: bool,
    pub thumb_url: String,
    pub image_url: String,
    pub created_at: DateTime<Utc>,
    /// True when the same image was uploaded before (the earlier photo is returned).
    pub duplicate: bool,
}

use crate::domain::wire_name as enum_name;

fn enum_parse<T: serde::de::DeserializeOwned>(s: &str) -> ApiResult<T> {
    crate::domain::from_wire(s).ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown stored value `{s}`")))
}

/// Views of photos with their change from the baseline of the same view.
pub fn views(rows: &[Photo], all_of_patient: &[Photo]) -> ApiResult<Vec<PhotoView>> {
    rows.iter().map(|p| view(p, all_of_patient, false)).collect()
}

fn baseline_for<'a>(p: &Photo, all: &'a [Photo]) -> Option<&'a Photo> {
    let same_view = all.iter().filter(|o| o.view == p.view);
    let explicit = same_view.clone().filter(|o| o.time_point == "baseline").min_by_key(|o| (o.taken_at, o.id.clone()));
    explicit.or_else(|| same_view.min_by_key(|o| (o.taken_at, o.id.clone())))
}

fn view(p: &Photo, all: &[Photo], duplicate: bool) -> ApiResult<PhotoView> {
    let baseline = baseline_for(p, all).filter(|b| b.id != p.id);
    Ok(PhotoView {
        view: enum_parse(&p.view)?,
        time_point: enum_parse(&p.time_point)?,
        roi: p.roi.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or(Roi::WHOLE),
        taken_at: from_db(p.taken_at),
        a_star_change_from_baseline: baseline.map(|b| ((p.a_star - b.a_star) * 100.0).round() / 100.0),
        comparable: p.colour_card && baseline.is_none_or(|b| b.colour_card),
        thumb_url: format!("/api/v1/photos/{}/image?size=thumb", p.id),
        image_url: format!("/api/v1/photos/{}/image?size=full", p.id),
        created_at: from_db(p.created_at),
        id: p.id.clone(),
        patient_id: p.patient_id.clone(),
        session_id: p.session_id.clone(),
        day_number: p.day_number,
        area: p.area.clone(),
        colour_card: p.colour_card,
        width: p.width,
        height: p.height,
        a_star: (p.a_star * 100.0).round() / 100.0,
        algorithm_version: p.algorithm_version.clone(),
        duplicate,
    })
}

pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Full => ApiError::code(ErrorCode::StorageFull),
        StoreError::Missing => ApiError::not_found(),
        StoreError::Unavailable(cause) => {
            tracing::error!(error = %cause, "photo storage failed");
            ApiError::code(ErrorCode::StorageUnavailable)
        }
    }
}

/// Stores an uploaded image for a patient in the caller's scope.
pub async fn upload(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    meta: PhotoMetadata,
    bytes: Vec<u8>,
) -> ApiResult<(PhotoView, bool)> {
    let mut c = Checks::default();
    let area = meta.area.as_deref().and_then(|a| c.check("metadata.area", text(a, 100)));
    if let Some(roi) = meta.roi {
        c.check("metadata.roi", roi.check());
    }
    match meta.time_point {
        TimePoint::Session | TimePoint::Day if meta.session_id.is_none() => {
            c.fail("metadata.session_id", "is required for a session or day photo")
        }
        TimePoint::Day if meta.day_number.is_none() => c.fail("metadata.day_number", "is required for a day photo"),
        _ => {}
    }
    if meta.day_number.is_some_and(|d| d > 365) {
        c.fail("metadata.day_number", "must be 0 to 365");
    }
    let now = state.now();
    if meta.taken_at.is_some_and(|t| t > now + Duration::minutes(5)) {
        c.fail("metadata.taken_at", "must not be in the future");
    }
    c.finish()?;

    let (pid, sid) = (patient.id.clone(), meta.session_id.clone());
    let (consented, session_ok) = state
        .db
        .run(move |c| {
            let consented = consents::is_granted(c, &pid, "photos")?;
            let session_ok = match &sid {
                Some(s) => sessions::find_session(c, s)?.is_some_and(|s| s.patient_id == pid),
                None => true,
            };
            Ok((consented, session_ok))
        })
        .await?;
    if !session_ok {
        return Err(ApiError::invalid("metadata.session_id", "is not a session of this patient"));
    }
    if !consented {
        return Err(ApiError::new(ErrorCode::ConsentRequired, "The patient has not consented to photos"));
    }

    let tz: Tz = patient.time_zone.tz();
    let roi = meta.roi.unwrap_or(Roi::WHOLE);
    let bounds = Bounds {
        max_pixels: state.settings.photos.max_pixels,
        max_decode_bytes: state.settings.photos.max_decode_bytes,
    };
    let permit = state.heavy.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let started = std::time::Instant::now();
    let processed = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        process(&bytes, bounds, roi, tz)
    })
    .await
    .map_err(ApiError::internal)?;
    state.metrics.photo_processed(started.elapsed());
    let processed = processed.map_err(|e| match e {
        MediaError::Unsupported => ApiError::new(ErrorCode::UnsupportedImage, e.to_string()),
        MediaError::TooManyPixels(..) | MediaError::TooMuchMemory(..) => {
            ApiError::new(ErrorCode::ImageTooLarge, e.to_string())
        }
        MediaError::Corrupt(_) => ApiError::new(ErrorCode::ImageUnreadable, "The image could not be decoded"),
    })?;

    let (pid, sha) = (patient.id.clone(), processed.sha256.clone());
    if let Some(existing) = state.db.run(move |c| photos::find_by_sha(c, &pid, &sha)).await? {
        let pid = patient.id.clone();
        let all = state.db.run(move |c| photos::find_for_patient(c, &pid, None, None)).await?;
        return Ok((view(&existing, &all, true)?, false));
    }

    let id = new_id();
    let prefix = format!("{}/{}/{}", patient.clinic_id, patient.id, id);
    let (full_key, thumb_key) = (format!("{prefix}/full.jpg"), format!("{prefix}/thumb.jpg"));
    let etag = |b: &[u8]| format!("\"{}\"", &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))[..32]);
    let row = Photo {
        id: id.clone(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        session_id: meta.session_id.clone(),
        time_point: enum_name(meta.time_point),
        day_number: meta.day_number.and_then(|d| i32::try_from(d).ok()),
        view: enum_name(meta.view),
        area,
        taken_at: to_db(meta.taken_at.or(processed.captured_at).unwrap_or(now)),
        colour_card: meta.colour_card,
        roi: meta.roi.and_then(|r| serde_json::to_string(&r).ok()),
        sha256: processed.sha256.clone(),
        width: i32::try_from(processed.width).unwrap_or(i32::MAX),
        height: i32::try_from(processed.height).unwrap_or(i32::MAX),
        full_bytes: i64::try_from(processed.full_jpeg.len()).unwrap_or(i64::MAX),
        full_key: full_key.clone(),
        thumb_key: thumb_key.clone(),
        full_etag: etag(&processed.full_jpeg),
        thumb_etag: etag(&processed.thumb_jpeg),
        a_star: processed.a_star,
        algorithm_version: ALGORITHM.to_owned(),
        uploaded_by: user.account_id.clone(),
        created_at: to_db(now),
    };
    state.photos.put(&thumb_key, processed.thumb_jpeg).await.map_err(store_error)?;
    if let Err(e) = state.photos.put(&full_key, processed.full_jpeg).await {
        let _ = state.photos.delete(&thumb_key).await;
        return Err(store_error(e));
    }

    let event = audit::event(user, Action::Create, "photo", Some(&id), Some(&patient.id), now);
    let stored = row.clone();
    let recorded = state
        .db
        .write(move |c| -> ApiResult<(Vec<Photo>, Option<Alert>)> {
            photos::insert_photo(c, &stored)?;
            let all = photos::find_for_patient(c, &stored.patient_id, None, None)?;
            let baseline = baseline_for(&stored, &all).filter(|b| b.id != stored.id).map(|b| b.a_star);
            scores::insert_score(
                c,
                &Score {
                    id: new_id(),
                    clinic_id: stored.clinic_id.clone(),
                    patient_id: stored.patient_id.clone(),
                    scale_code: "erythema_a_star".into(),
                    scale_version: 1,
                    value: stored.a_star,
                    item_values: None,
                    photo_ids: serde_json::to_string(&[&stored.id]).map_err(ApiError::internal)?,
                    session_id: stored.session_id.clone(),
                    time_point: Some(stored.time_point.clone()),
                    rater: "automatic".into(),
                    rater_account_id: None,
                    algorithm_version: Some(ALGORITHM.into()),
                    roi: stored.roi.clone(),
                    baseline_delta: baseline.map(|b| stored.a_star - b),
                    recorded_at: stored.taken_at,
                    created_at: stored.created_at,
                },
            )?;
            audit_repo::insert_events(c, &[event])?;
            let alert = photo_redness_rule(c, &stored, &all, now)?;
            Ok((all, alert))
        })
        .await;
    let (all, _alert) = match recorded {
        Ok(r) => r,
        Err(e) => {
            // Nothing half-written: the files go when the record cannot be kept.
            let _ = state.photos.delete(&full_key).await;
            let _ = state.photos.delete(&thumb_key).await;
            return Err(e);
        }
    };
    Ok((view(&row, &all, false)?, true))
}

/// DOMAIN rule 4: the photo redness metric rising between photos of the same view taken at
/// least 48 h after the session.
fn photo_redness_rule(
    c: &mut crate::db::DbConnection,
    p: &Photo,
    all: &[Photo],
    now: DateTime<Utc>,
) -> ApiResult<Option<Alert>> {
    let taken = from_db(p.taken_at);
    let session = sessions::find_for_patient(c, &p.patient_id)?
        .into_iter()
        .filter(|s| s.status == "completed" && from_db(s.performed_at) <= taken)
        .max_by_key(|s| s.performed_at);
    let Some(session) = session else { return Ok(None) };
    let after = from_db(session.performed_at) + Duration::hours(48);
    let previous = all
        .iter()
        .filter(|o| o.id != p.id && o.view == p.view && from_db(o.taken_at) >= after && o.taken_at < p.taken_at)
        .max_by_key(|o| o.taken_at);
    let Some(prev) = previous else { return Ok(None) };
    if taken < after || p.a_star <= prev.a_star + 0.5 {
        return Ok(None);
    }
    let what = Raise {
        severity: Severity::Review,
        reason: AlertReason::PhotoRednessRising,
        details: format!("photo redness (a*) rose from {:.1} to {:.1} ({} view)", prev.a_star, p.a_star, p.view),
    };
    let about = Subject { clinic_id: &p.clinic_id, patient_id: &p.patient_id, session_id: Some(&session.id) };
    Ok(alerts::raise(c, &about, &what, now)?)
}

/// A photo in the caller's scope (staff of its clinic, or the patient).
pub async fn load(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Photo> {
    let (u, id) = (user.clone(), id.to_owned());
    state
        .db
        .run(move |c| {
            let Some(photo) = photos::find_photo(c, &id)? else { return Ok(None) };
            Ok(crate::services::access::patient(c, &u, &photo.patient_id)?.map(|_| photo))
        })
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn list(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    session: Option<String>,
    view_filter: Option<View>,
    q: &SyncParams,
) -> ApiResult<Page<PhotoView>> {
    let (limit, after) = q.page().resolve_keyed()?;
    let (pid, since) = (patient.id.clone(), q.since()?);
    let view_name = view_filter.map(enum_name);
    let (rows, all) = state
        .db
        .run(move |c| {
            let filter = photos::PhotoFilter { session_id: session.as_deref(), view: view_name.as_deref(), since };
            // The whole set's metadata too: each view names its change from its baseline.
            Ok((
                photos::page(c, &pid, filter, after.as_ref(), fetch_limit(limit))?,
                photos::find_for_patient(c, &pid, None, None)?,
            ))
        })
        .await?;
    state.audit.record(audit::event(user, Action::List, "photo", None, Some(&patient.id), state.now())).await;
    let page = Page::from_keyed_rows(rows, limit, |p| (p.taken_at, p.id.as_str()), |p| view(&p, &all, false));
    Ok(Page { items: page.items.into_iter().collect::<ApiResult<_>>()?, next_cursor: page.next_cursor })
}

/// The stored bytes of one size.
pub async fn image(state: &AppState, user: &AuthUser, photo: &Photo, full: bool) -> ApiResult<bytes::Bytes> {
    let key = if full { &photo.full_key } else { &photo.thumb_key };
    let bytes = state.photos.get(key).await.map_err(store_error)?;
    state
        .audit
        .record(audit::event(user, Action::Read, "photo", Some(&photo.id), Some(&photo.patient_id), state.now()))
        .await;
    Ok(bytes)
}

/// Deletes a photo: its files, its automatic scores and its row.
pub async fn delete(state: &AppState, user: &AuthUser, photo: Photo) -> ApiResult<()> {
    let now = state.now();
    state.photos.delete(&photo.full_key).await.map_err(store_error)?;
    state.photos.delete(&photo.thumb_key).await.map_err(store_error)?;
    let event = audit::event(user, Action::Erase, "photo", Some(&photo.id), Some(&photo.patient_id), now);
    state
        .db
        .write(move |c| -> ApiResult<()> {
            scores::delete_automatic_for_photo(c, &photo.patient_id, &photo.id)?;
            photos::delete_photo(c, &photo.id)?;
            audit_repo::insert_events(c, &[event])?;
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new view fails to compile here: add it to `View::ALL` (and to the photos CHECK in a
    /// migration) with its arm.
    fn position(v: View) -> usize {
        match v {
            View::Frontal => 0,
            View::Left45 => 1,
            View::Right45 => 2,
            View::LeftLateral => 3,
            View::RightLateral => 4,
            View::Other => 5,
        }
    }

    #[test]
    fn all_lists_every_view_once_by_its_wire_name() {
        assert_eq!(View::ALL.map(position), [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            View::ALL.map(enum_name),
            ["frontal", "left45", "right45", "left_lateral", "right_lateral", "other"]
        );
    }
}
