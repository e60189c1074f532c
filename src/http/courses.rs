//! Courses over HTTP: created and listed under a patient, read and changed at `/courses/{id}`.

use actix_web::{HttpResponse, web};

use super::representation::location;
use crate::{
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    services::{
        courses::{self, CourseView, CreateCourse, UpdateCourse},
        patients as patient_service,
    },
    state::AppState,
    wire::pagination::{Page, SyncParams},
};

type Problem = crate::error::Problem;

/// A course with its progress: sessions done, next due date, whether booking now is too soon.
#[utoipa::path(get, path = "/api/v1/courses/{id}", tag = "courses", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = CourseView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get_course(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<CourseView>> {
    Ok(web::Json(courses::read(&state, &user, &id).await?))
}

/// Edits a course; setting `status` completes or cancels it.
#[utoipa::path(patch, path = "/api/v1/courses/{id}", tag = "courses", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateCourse, responses((status = 200, body = CourseView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json"),
))]
pub async fn update_course(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<UpdateCourse>,
) -> ApiResult<web::Json<CourseView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(web::Json(courses::update(&state, &user, &id, body).await?))
}

/// Opens a course (treatment plan) for the patient.
#[utoipa::path(post, path = "/api/v1/patients/{id}/courses", tag = "courses", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CreateCourse, responses((status = 201, body = CourseView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The patient is archived", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create_course(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<CreateCourse>,
) -> ApiResult<HttpResponse> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    let course = courses::create(&state, &user, &patient, body).await?;
    Ok(HttpResponse::Created().insert_header(location(format!("/api/v1/courses/{}", course.id))).json(course))
}

/// The patient's courses, newest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/courses", tag = "courses", security(("bearer" = [])),
    params(("id" = String, Path), SyncParams), responses((status = 200, body = Page<CourseView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_patient_courses(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<CourseView>>> {
    let patient = patient_service::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(courses::list(&state, &user, &patient, &q).await?))
}
