//! `/api/v1/patients/*`: staff manage patients and their consents. What lives under a patient
//! (courses, sessions, screenings, check-ins, photos, scores) is with its own resource.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::representation::location;
use crate::{
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    repo::patients,
    services::{
        audit::{self, Action},
        consents::{self, ConsentChange, ConsentsView},
        patients::{self as patient_service, CreatePatient, ListedPatientJson, PatientView, UpdatePatient},
    },
    state::AppState,
    wire::{
        json::Fast,
        pagination::{Page, PageParams, fetch_limit},
    },
};

type Problem = crate::error::Problem;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PatientListParams {
    /// Matches part of the name or email, case-insensitively.
    pub q: Option<String>,
    /// Include archived patients (default false).
    pub include_archived: Option<bool>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; absent or empty for the first.
    pub cursor: Option<String>,
}

/// Creates a patient; with an email, the patient is invited to the app.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", security(("bearer" = [])),
    request_body = CreatePatient, responses(
    (status = 201, body = PatientView),
    (status = 403, description = "Patients cannot", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreatePatient>,
) -> ApiResult<HttpResponse> {
    let view = patient_service::create(&state, &user, body).await?;
    Ok(HttpResponse::Created().insert_header(location(format!("/api/v1/patients/{}", view.id))).json(view))
}

/// Lists the clinic's patients, newest first; search by name or email.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", security(("bearer" = [])),
    params(PatientListParams), responses(
    (status = 200, body = Page<PatientView>),
    (status = 403, description = "Patients cannot", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_patients(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PatientListParams>,
) -> ApiResult<Fast<Page<ListedPatientJson>>> {
    user.require_staff()?;
    let (limit, cursor) = PageParams { limit: query.limit, cursor: query.cursor.clone() }.resolve()?;
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    if search.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::new(crate::error::ErrorCode::InvalidQuery, "q must be at most 200 characters"));
    }
    let (clinic, archived) = (user.clinic_id.clone(), query.include_archived.unwrap_or(false));
    let rows = state
        .db
        .run(move |c| {
            patients::find_page(c, &clinic, search.as_deref(), archived, cursor.as_deref(), fetch_limit(limit))
        })
        .await?;
    state.audit.record(audit::event(&user, Action::List, "patient", None, None, state.now())).await;
    Ok(Fast(Page::from_rows(rows, limit, |p: &ListedPatientJson| &p.id, |p| p)))
}

/// One patient.
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = PatientView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<PatientView>> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    state
        .audit
        .record(audit::event(&user, Action::Read, "patient", Some(&patient.id), Some(&patient.id), state.now()))
        .await;
    Ok(web::Json(patient.into()))
}

/// Edits a patient; `null` clears an optional field.
///
/// Changing the email revokes the patient's open app invitations: they belong to the old address.
#[utoipa::path(patch, path = "/api/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdatePatient, responses(
    (status = 200, body = PatientView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn update_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<UpdatePatient>,
) -> ApiResult<web::Json<PatientView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(web::Json(patient_service::update(&state, &user, &id, body).await?.into()))
}

/// Archives a patient: kept for the record, hidden from lists by default.
#[utoipa::path(post, path = "/api/v1/patients/{id}/archive", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = PatientView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn archive_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<PatientView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(web::Json(patient_service::archive(&state, &user, &id).await?.into()))
}

/// Sends the app invitation again (a new one-time token).
#[utoipa::path(post, path = "/api/v1/patients/{id}/invitation", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, description = "`app_invitation` says whether it was sent", body = PatientView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The patient already has an app account", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The patient has no email", body = Problem, content_type = "application/problem+json"),
))]
pub async fn resend_patient_invitation(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<PatientView>> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    if patient.account_id.is_some() {
        return Err(ApiError::code(crate::error::ErrorCode::AccountExists));
    }
    if patient.email.is_none() {
        return Err(ApiError::invalid("email", "the patient has no email"));
    }
    let sent = patient_service::send_invitation(&state, &user, &patient).await;
    Ok(web::Json(PatientView { app_invitation: Some(sent.to_owned()), ..patient.into() }))
}

/// The patient's consents: current state per kind and the full history.
#[utoipa::path(get, path = "/api/v1/patients/{id}/consents", tag = "consents", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ConsentsView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_patient_consents(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<ConsentsView>> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(consents::read(&state, &user, &patient).await?))
}

/// Records a grant or withdrawal (append-only).
#[utoipa::path(post, path = "/api/v1/patients/{id}/consents", tag = "consents", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ConsentChange, responses((status = 201, body = ConsentsView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The patient is archived", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create_patient_consent(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<ConsentChange>,
) -> ApiResult<HttpResponse> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    Ok(HttpResponse::Created().json(consents::change(&state, &user, &patient, body).await?))
}
