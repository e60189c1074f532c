//! Check-ins and the serum log over HTTP: the patient records them, patient and staff list them,
//! and a session's serum adherence.

use actix_web::{HttpResponse, web};

use crate::{
    error::ApiResult,
    http::extract::{AuthUser, Json},
    services::{
        checkins::{self, AdherenceView, CheckinView, CreateCheckin, CreateSerumApplication, SerumApplicationView},
        patients,
    },
    state::AppState,
    wire::pagination::{Page, SyncParams},
};

type Problem = crate::error::Problem;

/// Reports how the skin is recovering; may raise alerts for the clinic.
#[utoipa::path(post, path = "/api/v1/me/checkins", tag = "me", security(("bearer" = [])),
    request_body = CreateCheckin, responses((status = 201, body = CheckinView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_my_checkin(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateCheckin>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(checkins::create_checkin(&state, &user, &patient, body).await?))
}

/// The patient's own check-ins, newest first.
#[utoipa::path(get, path = "/api/v1/me/checkins", tag = "me", security(("bearer" = [])),
    params(SyncParams), responses((status = 200, body = Page<CheckinView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_checkins(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<CheckinView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(checkins::list_checkins(&state, &user, &patient, &q).await?))
}

/// Logs a serum application (this is what makes serum reminders unnecessary).
#[utoipa::path(post, path = "/api/v1/me/serum-applications", tag = "me", security(("bearer" = [])),
    request_body = CreateSerumApplication, responses((status = 201, body = SerumApplicationView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_my_serum_application(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateSerumApplication>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(checkins::create_serum(&state, &user, &patient, body).await?))
}

/// The patient's own serum log, newest first.
#[utoipa::path(get, path = "/api/v1/me/serum-applications", tag = "me", security(("bearer" = [])),
    params(SyncParams), responses((status = 200, body = Page<SerumApplicationView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_serum_applications(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<SerumApplicationView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(checkins::list_serum(&state, &user, &patient, &q).await?))
}

/// A patient's check-ins (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/checkins", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path), SyncParams), responses((status = 200, body = Page<CheckinView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_checkins(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<CheckinView>>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(checkins::list_checkins(&state, &user, &patient, &q).await?))
}

/// A patient's serum log (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/serum-applications", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path), SyncParams), responses((status = 200, body = Page<SerumApplicationView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_serum_applications(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<SerumApplicationView>>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(checkins::list_serum(&state, &user, &patient, &q).await?))
}

/// Serum adherence for one session: logged vs planned applications.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/adherence", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AdherenceView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json")))]
pub async fn get_session_adherence(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<AdherenceView>> {
    Ok(web::Json(checkins::adherence(&state, &user, &id).await?))
}
