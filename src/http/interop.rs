//! FHIR R4: a record as a bundle (staff, and the patient's own), the capability statement and the
//! check-in questionnaire.

use actix_web::{HttpResponse, http::header, web};

use crate::{
    error::ApiResult,
    http::extract::AuthUser,
    repo::patients::Patient,
    services::{
        audit::{self, Action},
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
