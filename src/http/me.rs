//! `/api/v1/me`: who the caller is.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::Role,
    error::{ApiError, ApiResult, ErrorCode},
    http::extract::{AuthUser, Json},
    repo::{accounts, clinics},
    services::{
        audit::{self, Action},
        consents::{self, ConsentChange, ConsentsView},
        courses::{self, CourseView},
        patients::{self, ProfileView, UpdateProfile},
        sessions::{self, SessionView},
    },
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct ClinicRef {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub clinic: ClinicRef,
}

/// The authenticated account and its clinic.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])), responses((status = 200, body = Me)))]
pub async fn get_me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Me>> {
    let id = user.account_id.clone();
    let found = state
        .db
        .run(move |c| {
            let Some(account) = accounts::find_account(c, &id)? else { return Ok(None) };
            let clinic = clinics::find_clinic(c, &account.clinic_id)?;
            Ok(clinic.map(|clinic| (account, clinic)))
        })
        .await?;
    let (account, clinic) = found.ok_or_else(|| ApiError::code(ErrorCode::InvalidToken))?;
    Ok(web::Json(Me {
        id: account.id,
        email: account.email,
        role: user.role,
        clinic: ClinicRef { id: clinic.id, name: clinic.name },
    }))
}

/// The patient's own profile (no clinical fields).
#[utoipa::path(get, path = "/api/v1/me/profile", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = ProfileView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn get_profile(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ProfileView>> {
    let patient = patients::own(&state, &user).await?;
    state
        .audit
        .record(audit::event(&user, Action::Read, "profile", Some(&patient.id), Some(&patient.id), state.now()))
        .await;
    Ok(web::Json(patient.into()))
}

/// Edits the patient's own time zone, quiet hours, language or phone.
#[utoipa::path(patch, path = "/api/v1/me/profile", tag = "me", security(("bearer" = [])),
    request_body = UpdateProfile, responses(
    (status = 200, body = ProfileView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn update_profile(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<UpdateProfile>,
) -> ApiResult<web::Json<ProfileView>> {
    Ok(web::Json(patients::update_profile(&state, &user, body).await?.into()))
}

/// The patient's own consents.
#[utoipa::path(get, path = "/api/v1/me/consents", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = ConsentsView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn get_my_consents(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ConsentsView>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(consents::read(&state, &user, &patient).await?))
}

/// The patient grants or withdraws a consent.
#[utoipa::path(post, path = "/api/v1/me/consents", tag = "me", security(("bearer" = [])),
    request_body = ConsentChange, responses(
    (status = 201, body = ConsentsView),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "The record is archived", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn change_my_consent(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<ConsentChange>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(consents::change(&state, &user, &patient, body).await?))
}

/// The patient's own courses.
#[utoipa::path(get, path = "/api/v1/me/courses", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = Vec<CourseView>),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_my_courses(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Vec<CourseView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(courses::list(&state, &user, &patient).await?))
}

/// The patient's own sessions, without clinician notes.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = Vec<SessionView>),
    (status = 404, description = "Not a patient account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list_my_sessions(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Vec<SessionView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(sessions::list_for_patient(&state, &user, &patient).await?))
}
