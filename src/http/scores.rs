//! Scales, scores, progress and the progress charts over HTTP.

use actix_web::{HttpResponse, http::header, web};

use crate::{
    domain::scales::ScaleDef,
    error::{ApiError, ApiResult},
    http::extract::{AuthUser, Json},
    media::chart,
    services::{
        patients, scales,
        scores::{self, CreateScore, ProgressView, ScoreView},
    },
    state::AppState,
    wire::{
        json::Fast,
        pagination::{Page, PageParams, SyncParams},
    },
};

type Problem = crate::error::Problem;

/// The validated scales (all versions).
#[utoipa::path(get, path = "/api/v1/scales", tag = "scores", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<ScaleDef>),
    (status = 400, description = "Malformed limit or cursor", body = Problem, content_type = "application/problem+json")))]
pub async fn list_scales(
    state: web::Data<AppState>,
    _user: AuthUser,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<ScaleDef>>> {
    let (limit, after) = q.resolve_keyed::<String>()?;
    let defs = state.db.run(scales::all).await?;
    // A short catalogue, read whole from the cache: paged in memory, by code then version.
    Ok(web::Json(Page::of_sorted(defs, after.as_ref(), limit, false, |d| {
        (d.code.clone(), format!("{:010}", d.version))
    })))
}

/// Records a score (staff: clinician- or patient-rated).
#[utoipa::path(post, path = "/api/v1/patients/{id}/scores", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CreateScore, responses((status = 201, body = ScoreView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn create_patient_score(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<CreateScore>,
) -> ApiResult<HttpResponse> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(HttpResponse::Created().json(scores::create(&state, &user, &patient, body).await?))
}

/// Records a patient-rated score from the app.
#[utoipa::path(post, path = "/api/v1/me/scores", tag = "me", security(("bearer" = [])),
    request_body = CreateScore, responses((status = 201, body = ScoreView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_my_score(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateScore>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(scores::create(&state, &user, &patient, body).await?))
}

/// A patient's scores (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/scores", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path), SyncParams), responses((status = 200, body = Page<ScoreView>),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_scores(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<SyncParams>,
) -> ApiResult<web::Json<Page<ScoreView>>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(scores::list(&state, &user, &patient, &q).await?))
}

/// Progress per scale: series, baseline, latest, change, clinically meaningful (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/progress", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ProgressView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn get_patient_progress(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<Fast<ProgressView>> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    Ok(Fast(scores::progress_of(&state, &user, Some(&id)).await?))
}

/// The patient's own progress.
#[utoipa::path(get, path = "/api/v1/me/progress", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = ProgressView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_my_progress(state: web::Data<AppState>, user: AuthUser) -> ApiResult<Fast<ProgressView>> {
    Ok(Fast(scores::progress_of(&state, &user, None).await?))
}

async fn chart_for(state: &AppState, user: &AuthUser, id: &str, png: bool) -> ApiResult<HttpResponse> {
    user.require_staff().map_err(|_| ApiError::not_found())?;
    let progress = scores::progress_of(state, user, Some(id)).await?;
    render_chart(state, progress, png).await
}

async fn render_chart(state: &AppState, progress: scores::ProgressView, png: bool) -> ApiResult<HttpResponse> {
    let permit = state.heavy.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let rendered = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if png {
            chart::png(&progress.chart()).map(|b| (b, "image/png"))
        } else {
            chart::svg(&progress.chart()).map(|s| (s.into_bytes(), "image/svg+xml"))
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(anyhow::anyhow!("chart: {e}")))?;
    Ok(HttpResponse::Ok().content_type(rendered.1).insert_header((header::CACHE_CONTROL, "no-store")).body(rendered.0))
}

/// The progress chart as SVG: one panel per scale, sessions marked.
#[utoipa::path(get, path = "/api/v1/patients/{id}/progress/chart.svg", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "SVG", content_type = "image/svg+xml"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn get_progress_chart_svg(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    chart_for(&state, &user, &id, false).await
}

/// The caller's own progress chart as SVG (patients): the same chart their clinic sees, with
/// a legend, the sessions marked and a text description for screen readers.
#[utoipa::path(get, path = "/api/v1/me/progress/chart.svg", tag = "me", security(("bearer" = [])),
    responses((status = 200, description = "SVG", content_type = "image/svg+xml"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_my_progress_chart_svg(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    if user.role.is_staff() {
        return Err(ApiError::not_found());
    }
    let progress = scores::progress_of(&state, &user, None).await?;
    render_chart(&state, progress, false).await
}

/// The progress chart as PNG.
#[utoipa::path(get, path = "/api/v1/patients/{id}/progress/chart.png", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "PNG", content_type = "image/png"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn get_progress_chart_png(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    chart_for(&state, &user, &id, true).await
}
