//! Pre-treatment screenings over HTTP: recorded and listed under a patient, overridden by a
//! clinician.

use actix_web::{HttpResponse, web};

use crate::{
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    services::{
        patients as patient_service,
        screenings::{self, CreateScreening, OverrideScreening, ScreeningView},
    },
    state::AppState,
    wire::pagination::{Page, PageParams},
};

type Problem = crate::error::Problem;

/// A clinician overrides a `needs_override` screening with a reason.
#[utoipa::path(post, path = "/api/v1/screenings/{id}/override", tag = "screenings", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = OverrideScreening, responses((status = 200, body = ScreeningView),
    (status = 403, description = "Only clinicians override", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Contraindicated, clear, or already overridden", body = Problem, content_type = "application/problem+json"),
))]
pub async fn override_screening(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<OverrideScreening>,
) -> ApiResult<web::Json<ScreeningView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(web::Json(screenings::override_screening(&state, &user, &id, body).await?))
}

/// Records a pre-treatment screening; the outcome is computed from the answers.
#[utoipa::path(post, path = "/api/v1/patients/{id}/screenings", tag = "screenings", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CreateScreening, responses((status = 201, body = ScreeningView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The patient is archived", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create_screening(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<CreateScreening>,
) -> ApiResult<HttpResponse> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    Ok(HttpResponse::Created().json(screenings::create(&state, &user, &patient, body).await?))
}

/// The patient's screenings, newest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/screenings", tag = "screenings", security(("bearer" = [])),
    params(("id" = String, Path), PageParams), responses((status = 200, body = Page<ScreeningView>),
    (status = 400, description = "Malformed limit or cursor", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_screenings(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<ScreeningView>>> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(screenings::list(&state, &user, &patient, &q).await?))
}
