//! Right of access and right to erasure.
//!
//! The export is a zip: `export.json` (everything held about the patient, in the API's own
//! shapes, plus who accessed their record), `fhir.json` (the same record as a FHIR R4 bundle),
//! `photos/<id>.jpg` (each photo as stored) and a `README.txt`. It is written to a temporary
//! file, photo by photo, so memory stays flat however many photos there are.
//!
//! Erasure removes every row about the patient in one transaction and their photo files (before
//! and after it, so an upload racing the erasure leaves nothing behind), cancels what was still
//! to be sent, and keeps the audit trail with the patient taken out of it.

use std::io::{Seek, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use crate::{
    db::from_db,
    error::{ApiError, ApiResult},
    media::store::StoreError,
    repo::{
        audit::{self as audit_repo, AuditEvent},
        erasure::{self, ErasedCounts},
        patients::Patient,
        photos as photos_repo, refresh_tokens,
    },
    security::caller::AuthUser,
    services::{
        alerts, audit, checkins, consents, courses, fhir,
        photos::{self, store_error},
        record::{self, Record},
        scores, screenings, sessions,
    },
    state::AppState,
};

fn to_json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `export.json`: the record in the API's shapes.
fn document(
    state: &AppState,
    rec: &Record,
    access: Vec<audit_repo::AuditEvent>,
    now: DateTime<Utc>,
) -> ApiResult<Value> {
    let valid_days = state.settings.clinical.screening_valid_days;
    let courses = rec
        .courses
        .iter()
        .map(|c| courses::view(c.clone(), &rec.sessions_of(&c.id), now, true).map(to_json))
        .collect::<ApiResult<Vec<_>>>()?;
    let sessions = rec
        .sessions
        .iter()
        .map(|s| sessions::view(s.clone(), &rec.areas_of(&s.id), true).map(to_json))
        .collect::<ApiResult<Vec<_>>>()?;
    let screenings = rec
        .screenings
        .iter()
        .map(|s| screenings::view(s.clone(), valid_days).map(to_json))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut photos = Vec::new();
    for view in photos::views(&rec.photos, &rec.photos)? {
        let mut v = to_json(&view);
        v["file"] = json!(format!("photos/{}.jpg", view.id));
        photos.push(v);
    }
    let reminders: Vec<Value> = rec
        .reminders
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "session_id": r.session_id, "kind": r.kind, "title": rec.step_title(r),
                "message": rec.step(r).map(|s| s.message.clone()),
                "planned_at": from_db(r.planned_at), "due_at": from_db(r.due_at), "status": r.status,
                "status_reason": r.status_reason, "sent_at": r.sent_at.map(from_db), "done_at": r.done_at.map(from_db),
            })
        })
        .collect();
    let access: Vec<Value> = access
        .into_iter()
        .map(|e| {
            json!({ "at": from_db(e.created_at), "actor_role": e.actor_role, "action": e.action,
                    "resource_type": e.resource_type, "resource_id": e.resource_id })
        })
        .collect();
    Ok(json!({
        "format": "aftercare-export/1",
        "exported_at": now,
        "clinic": rec.clinic.as_ref().map(|c| json!({ "id": c.id, "name": c.name })),
        "patient": to_json(crate::services::patients::PatientView::from(rec.patient.clone())),
        "consents": to_json(consents::view(rec.consents.clone())),
        "courses": courses,
        "sessions": sessions,
        "screenings": screenings,
        "reminders": reminders,
        "checkins": rec.checkins.iter().cloned().map(checkins::view).collect::<Vec<_>>(),
        "serum_applications": rec.serum.iter().cloned().map(checkins::serum_view).collect::<Vec<_>>(),
        "photos": photos,
        "scores": rec.scores.iter().cloned().map(scores::view).collect::<Vec<_>>(),
        "alerts": rec.alerts.iter().cloned().filter_map(alerts::view).collect::<Vec<_>>(),
        "access_log": access,
    }))
}

const README: &str = "Your Aftercare record\r\n\
\r\n\
export.json  everything your clinic's Aftercare service holds about you: profile, consents,\r\n\
             treatment courses and sessions, screenings, reminders, check-ins, serum logs,\r\n\
             photos (listed), progress scores, clinical alerts, and who accessed your record.\r\n\
fhir.json    the same record as a FHIR R4 Bundle, which other health systems can import.\r\n\
photos/      your photos, as stored (metadata such as location removed on upload).\r\n";

fn zip_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(anyhow::anyhow!("export archive: {e}"))
}

/// Builds the export archive of `patient` in a temporary file, rewound, ready to stream.
pub async fn export(state: &AppState, user: &AuthUser, patient: Patient) -> ApiResult<std::fs::File> {
    let now = state.now();
    let (pid, clinic) = (patient.id.clone(), patient.clinic_id.clone());
    state.audit.flush().await; // the access log includes the latest reads
    let (rec, access) = state
        .db
        .run(move |c| {
            let access = audit_repo::find_for_patient(c, &clinic, &pid)?;
            Ok((record::load(c, patient)?, access))
        })
        .await?;
    let doc = document(state, &rec, access, now)?;
    let audience = fhir::Audience { staff: false, public_url: state.settings.server.public_url.clone() };
    let bundle = fhir::bundle(&rec, &audience, now);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut zip = tokio::task::spawn_blocking(move || -> ApiResult<ZipWriter<std::fs::File>> {
        let file = tempfile::tempfile().map_err(zip_error)?;
        let mut zip = ZipWriter::new(file);
        for (name, body) in [
            ("README.txt", README.as_bytes().to_vec()),
            ("export.json", serde_json::to_vec_pretty(&doc).map_err(zip_error)?),
            ("fhir.json", serde_json::to_vec_pretty(&bundle).map_err(zip_error)?),
        ] {
            zip.start_file(name, deflated).map_err(zip_error)?;
            zip.write_all(&body).map_err(zip_error)?;
        }
        Ok(zip)
    })
    .await
    .map_err(ApiError::internal)??;
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut missing = Vec::new();
    for photo in &rec.photos {
        let bytes = match state.photos.get(&photo.full_key).await {
            Ok(bytes) => bytes,
            // A lost file must not cost the patient the rest of their record: it is listed instead.
            Err(StoreError::Missing) => {
                tracing::warn!(photo.id = %photo.id, "photo file missing from storage; left out of the export");
                missing.push(photo.id.clone());
                continue;
            }
            Err(e) => return Err(store_error(e)),
        };
        let name = format!("photos/{}.jpg", photo.id);
        zip = tokio::task::spawn_blocking(move || -> ApiResult<ZipWriter<std::fs::File>> {
            zip.start_file(name, stored).map_err(zip_error)?;
            zip.write_all(&bytes).map_err(zip_error)?;
            Ok(zip)
        })
        .await
        .map_err(ApiError::internal)??;
    }
    let file = tokio::task::spawn_blocking(move || -> ApiResult<std::fs::File> {
        if !missing.is_empty() {
            zip.start_file("photos/MISSING.txt", deflated).map_err(zip_error)?;
            let text = format!(
                "These photos are listed in export.json but their image files could not be found in storage:\r\n{}\r\n",
                missing.join("\r\n")
            );
            zip.write_all(text.as_bytes()).map_err(zip_error)?;
        }
        let mut file = zip.finish().map_err(zip_error)?;
        file.rewind().map_err(zip_error)?;
        Ok(file)
    })
    .await
    .map_err(ApiError::internal)??;
    let event = audit::event(user, audit::Action::Export, "patient", Some(&rec.patient.id), Some(&rec.patient.id), now);
    state.audit.record(event).await;
    Ok(file)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasePatient {
    /// Must repeat the patient's id: erasure cannot be undone.
    pub confirm_patient_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureReport {
    /// The id that no longer exists.
    pub patient_id: String,
    pub erased_at: DateTime<Utc>,
    pub deleted: ErasedCounts,
    /// Image files removed from photo storage (full size and thumbnails).
    pub photo_files_deleted: usize,
}

/// Erases `patient` (admins; the caller has already been scoped to the patient).
pub async fn erase(
    state: &AppState,
    user: &AuthUser,
    patient: Patient,
    body: ErasePatient,
) -> ApiResult<ErasureReport> {
    user.require_admin()?;
    if body.confirm_patient_id != patient.id {
        return Err(ApiError::invalid("confirm_patient_id", "must equal the id of the patient being erased"));
    }
    let event = audit::event(user, audit::Action::Erase, "patient", None, None, state.now());
    erase_record(state, patient, event).await
}

/// Erases `patient` and writes `event` (who erased it) in the same transaction: photo files,
/// every row about the patient, their login with its sessions (its access tokens stop at once).
/// The one erasure, for an admin's request and a patient's own.
pub async fn erase_record(state: &AppState, patient: Patient, event: AuditEvent) -> ApiResult<ErasureReport> {
    let now = state.now();
    // Files first: if storage fails, nothing in the database has changed and the call can be retried.
    let pid = patient.id.clone();
    let before = state.db.run(move |c| photos_repo::find_for_patient(c, &pid, None, None)).await?;
    let mut removed: Vec<String> = Vec::new();
    for key in before.iter().flat_map(|p| [p.full_key.clone(), p.thumb_key.clone()]) {
        state.photos.delete(&key).await.map_err(store_error)?;
        removed.push(key);
    }
    // Read events still in the writer's buffer are stored now, so the erasure de-identifies them too.
    state.audit.flush().await;
    let (pid, account) = (patient.id.clone(), patient.account_id.clone());
    let (counts, keys, sessions) = state
        .db
        .write(move |c| -> ApiResult<(ErasedCounts, Vec<String>, Vec<String>)> {
            let sessions = match &account {
                Some(account) => refresh_tokens::find_live_families(c, account)?,
                None => Vec::new(),
            };
            let (counts, keys) = erasure::erase_patient(c, &pid, account.as_deref())?;
            audit_repo::insert_events(c, &[event])?;
            Ok((counts, keys, sessions))
        })
        .await?;
    // The login is gone: its access tokens stop now on this replica (see `SessionCache`).
    state.login_sessions.forget(&sessions);
    // Photos uploaded between the first pass and the transaction.
    let late: Vec<String> = keys.into_iter().filter(|k| !removed.contains(k)).collect();
    for key in late {
        match state.photos.delete(&key).await {
            Ok(()) => removed.push(key),
            Err(e) => tracing::error!(error = %e, "photo file left after erasure"),
        }
    }
    tracing::info!(erasure.photo_files = removed.len(), "patient erased");
    Ok(ErasureReport { patient_id: patient.id, erased_at: now, deleted: counts, photo_files_deleted: removed.len() })
}
