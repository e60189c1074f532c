//! Interoperability and patient rights: the FHIR R4 bundle of a record, the calendar feed and
//! its secret subscription URL, the patient's data export, and erasure.

use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::representation::location;
use crate::{
    domain::Role,
    error::ApiResult,
    http::{
        extract::{AuthUser, Json},
        idempotency::holding_secret,
        middleware::RequestId,
    },
    repo::{calendar as calendar_repo, patients::Patient},
    services::{
        audit::{self, Action},
        calendar, export,
        export::{ErasePatient, ErasureReport},
        fhir, patients, record,
    },
    state::AppState,
};

type Problem = crate::error::Problem;

async fn fhir_response(state: &AppState, user: &AuthUser, patient: Patient) -> ApiResult<HttpResponse> {
    let now = state.now();
    let pid = patient.id.clone();
    let rec = state.db.run(move |c| record::load(c, patient)).await?;
    let audience = fhir::Audience { staff: user.role.is_staff(), public_url: state.settings.server.public_url.clone() };
    let bundle = fhir::bundle(&rec, &audience, now);
    state.audit.record(audit::event(user, Action::Export, "fhir_bundle", None, Some(&pid), now)).await;
    Ok(HttpResponse::Ok().content_type("application/fhir+json").body(bundle.to_string()))
}

/// A patient's record as a FHIR R4 Bundle (staff): Patient, CarePlan, Procedure, Device,
/// Observation, Media, CommunicationRequest, Communication, QuestionnaireResponse, Consent,
/// Flag, Appointment.
#[utoipa::path(get, path = "/api/v1/patients/{id}/fhir", tag = "interop", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, description = "FHIR R4 Bundle (type collection)", body = Object, content_type = "application/fhir+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn get_patient_fhir(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    fhir_response(&state, &user, patient).await
}

/// The caller's own record as a FHIR R4 Bundle (staff notes left out).
#[utoipa::path(get, path = "/api/v1/me/fhir", tag = "me", security(("bearer" = [])), responses(
    (status = 200, description = "FHIR R4 Bundle (type collection)", body = Object, content_type = "application/fhir+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_my_fhir(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    fhir_response(&state, &user, patient).await
}

/// What this server offers as FHIR R4 (public): a `CapabilityStatement` naming the record
/// export operations and the check-in Questionnaire.
#[utoipa::path(get, path = "/api/v1/fhir/metadata", tag = "interop", responses(
    (status = 200, description = "FHIR R4 CapabilityStatement", body = Object, content_type = "application/fhir+json")))]
pub async fn get_fhir_metadata(state: web::Data<AppState>) -> HttpResponse {
    let statement =
        fhir::capability_statement(&state.settings.server.public_url, env!("CARGO_PKG_VERSION"), state.now());
    HttpResponse::Ok().content_type("application/fhir+json").body(statement.to_string())
}

/// The check-in as a FHIR R4 `Questionnaire` (public): its canonical URL is this address, and
/// every check-in's `QuestionnaireResponse` in a record bundle names it.
#[utoipa::path(get, path = "/api/v1/fhir/Questionnaire/aftercare-checkin", tag = "interop", responses(
    (status = 200, description = "FHIR R4 Questionnaire", body = Object, content_type = "application/fhir+json")))]
pub async fn get_checkin_questionnaire(state: web::Data<AppState>) -> HttpResponse {
    let questionnaire = fhir::checkin_questionnaire(&state.settings.server.public_url);
    HttpResponse::Ok()
        .content_type("application/fhir+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(questionnaire.to_string())
}

/// A calendar subscription URL: shown once; calendar apps poll it without logging in.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedCreated {
    /// `https://…/api/v1/me/calendar.ics?token=…`
    pub url: String,
    /// The same as `webcal://`, which phones open in their calendar app.
    pub webcal_url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedStatus {
    /// Whether a subscription URL is live (its token is not shown again).
    pub active: bool,
    pub created_at: Option<DateTime<Utc>>,
}

/// Creates the caller's calendar subscription URL, revoking any earlier one (rotation).
///
/// The URL is shown once: a retry with the same `Idempotency-Key` answers 409
/// `idempotency_secret_withheld` rather than repeat it.
#[utoipa::path(post, path = "/api/v1/me/calendar-feed", tag = "me", security(("bearer" = [])), responses(
    (status = 201, body = CalendarFeedCreated),
    (status = 409, description = "A replay of a created URL (`idempotency_secret_withheld`), or the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_calendar_feed(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    let (token, created_at) = calendar::rotate(&state, &patient).await?;
    let base = state.settings.server.public_url.trim_end_matches('/');
    let url = format!("{base}/api/v1/me/calendar.ics?token={token}");
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    state.audit.record(audit::event(&user, Action::Create, "calendar_feed", None, Some(&patient.id), created_at)).await;
    let created = HttpResponse::Created()
        .insert_header(location("/api/v1/me/calendar-feed".to_owned()))
        .json(CalendarFeedCreated { url, webcal_url, created_at });
    Ok(holding_secret(created))
}

/// Whether the caller has a live calendar subscription URL.
#[utoipa::path(get, path = "/api/v1/me/calendar-feed", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = CalendarFeedStatus),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_calendar_feed(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<CalendarFeedStatus>> {
    let patient = patients::own(&state, &user).await?;
    let feed = state.db.run(move |c| calendar_repo::find_active_for_patient(c, &patient.id)).await?;
    Ok(web::Json(CalendarFeedStatus {
        active: feed.is_some(),
        created_at: feed.map(|f| crate::db::from_db(f.created_at)),
    }))
}

/// Revokes the caller's calendar subscription URL.
#[utoipa::path(delete, path = "/api/v1/me/calendar-feed", tag = "me", security(("bearer" = [])), responses(
    (status = 204, description = "Revoked (or there was none)"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_calendar_feed(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    let now = crate::db::to_db(state.now());
    state
        .db
        .write(move |c| -> ApiResult<usize> { Ok(calendar_repo::revoke_for_patient(c, &patient.id, now)?) })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CalendarParams {
    /// The secret from the subscription URL; without it, a patient's bearer token is used.
    pub token: Option<String>,
}

/// The patient's calendar (RFC 5545): sessions, the next session due and upcoming reminders
/// with alarms. Calendar apps use the subscription URL (`?token=`); the app may use its login.
#[utoipa::path(get, path = "/api/v1/me/calendar.ics", tag = "me", security((), ("bearer" = [])), params(CalendarParams),
    responses(
    (status = 200, description = "iCalendar", content_type = "text/calendar", body = String),
    (status = 401, description = "No token and no login", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Unknown or revoked token, or not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_calendar(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CalendarParams>,
) -> ApiResult<HttpResponse> {
    let (patient, reader) = match &q.token {
        Some(token) => {
            let patient = calendar::patient_for_token(&state, token).await?;
            // The calendar app reads on the patient's behalf.
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            let reader = AuthUser {
                account_id: patient.account_id.clone().unwrap_or_default(),
                clinic_id: patient.clinic_id.clone(),
                role: Role::Patient,
                request_id,
            };
            (patient, reader)
        }
        None => {
            let user = AuthUser::extract(&req).await?;
            (patients::own(&state, &user).await?, user)
        }
    };
    let now = state.now();
    state.audit.record(audit::event(&reader, Action::Read, "calendar", None, Some(&patient.id), now)).await;
    let rec = state.db.run(move |c| record::load(c, patient)).await?;
    let body = calendar::ics(&rec, now);
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

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
