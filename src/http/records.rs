//! Patient rights over a whole record: the patient's data export and erasure (staff).

use actix_web::{HttpResponse, http::header, web};

use crate::{
    error::ApiResult,
    http::extract::{AuthUser, Json},
    services::{
        export,
        export::{ErasePatient, ErasureReport},
        patients,
    },
    state::AppState,
};

type Problem = crate::error::Problem;

/// Everything held about the caller, as a zip: `export.json`, `fhir.json` and `photos/`.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "me", security(("bearer" = [])), responses(
    (status = 200, description = "Zip archive", content_type = "application/zip", body = Vec<u8>),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_my_export(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    let file = export::export(&state, &user, patient).await?;
    let name = format!("aftercare-export-{}.zip", state.now().format("%Y-%m-%d"));
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stream))
}

/// Erases a patient (admins): personal data, photo files, pending reminders and webhook
/// deliveries go; audit events stay, de-identified. Cannot be undone.
#[utoipa::path(delete, path = "/api/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ErasePatient, responses(
    (status = 200, body = ErasureReport),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The confirmation does not match", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Photo storage unavailable; nothing was erased", body = Problem, content_type = "application/problem+json")))]
pub async fn erase_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<ErasePatient>,
) -> ApiResult<web::Json<ErasureReport>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    user.require_admin()?;
    Ok(web::Json(export::erase(&state, &user, patient, body).await?))
}
