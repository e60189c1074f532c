//! Treatment sessions over HTTP: a course's sessions, one session, a patient's sessions.

use actix_web::{HttpResponse, web};

use super::representation::location;
use crate::{
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    services::{
        patients as patient_service,
        sessions::{self, CancelSession, CreateSession, SessionView, UpdateSession},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams},
};

type Problem = crate::error::Problem;

/// Records a treatment session under the course.
///
/// Needs a clear (or overridden) screening from the last 30 days: otherwise 409
/// `screening_required` or `screening_contraindicated`. Depths outside 0.25–3.0 mm are 422;
/// unusual depths, a session sooner than the interval or beyond the plan come back as `warnings`.
#[utoipa::path(post, path = "/api/v1/courses/{id}/sessions", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CreateSession, responses((status = 201, body = SessionView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Screening missing or contraindicated; course not active; patient archived", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<CreateSession>,
) -> ApiResult<HttpResponse> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    let session = sessions::create(&state, &user, &id, body).await?;
    Ok(HttpResponse::Created().insert_header(location(format!("/api/v1/sessions/{}", session.id))).json(session))
}

/// The course's sessions, oldest first.
#[utoipa::path(get, path = "/api/v1/courses/{id}/sessions", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path), SyncParams), responses((status = 200, body = Page<SessionView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_course_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<SessionView>>> {
    Ok(web::Json(sessions::list_for_course(&state, &user, &id, &q).await?))
}

/// One session (patients see their own, without clinician notes).
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = SessionView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<SessionView>> {
    Ok(web::Json(sessions::read(&state, &user, &id).await?))
}

/// Edits a session; warnings are recomputed.
#[utoipa::path(patch, path = "/api/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateSession, responses((status = 200, body = SessionView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Cancelled, or the new time has no valid screening", body = Problem, content_type = "application/problem+json"),
))]
pub async fn update_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<UpdateSession>,
) -> ApiResult<web::Json<SessionView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(web::Json(sessions::update(&state, &user, &id, body).await?))
}

/// Cancels a session with a reason.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/cancel", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CancelSession, responses((status = 200, body = SessionView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Already cancelled", body = Problem, content_type = "application/problem+json"),
))]
pub async fn cancel_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<CancelSession>,
) -> ApiResult<web::Json<SessionView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(web::Json(sessions::cancel(&state, &user, &id, body).await?))
}

/// Every session of the patient, oldest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/sessions", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path), SyncParams), responses((status = 200, body = Page<SessionView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_patient_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<SessionView>>> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(sessions::list_for_patient(&state, &user, &patient, &q).await?))
}
