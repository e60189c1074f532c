//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, ErrorCode},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn get_healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok".into() })
}

/// The database answers; load balancers send traffic only when this is 200.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Health),
    (status = 503, description = "The database is unreachable", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn get_readyz(state: web::Data<AppState>) -> ApiResult<web::Json<Health>> {
    if state.db.ping().await {
        Ok(web::Json(Health { status: "ready".into() }))
    } else {
        Err(ApiError::code(ErrorCode::DatabaseUnavailable))
    }
}

/// Prometheus metrics (the names are listed in the README): requests by route and status,
/// latency histograms, reminders, alert emails, webhooks, SMTP, the database pool and photo
/// processing. On this port only with `Authorization: Bearer <AFTERCARE__METRICS__TOKEN>`; without
/// that setting it answers 404 here (`AFTERCARE__METRICS__BIND` serves it on a port of its own).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("metrics_token" = [])), responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
    (status = 401, description = "Missing or wrong metrics token", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No metrics token is set: not served on this port", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn get_metrics(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let Some(expected) = &state.settings.metrics.token else {
        return Err(ApiError::code(ErrorCode::RouteNotFound));
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthenticated, "Send the metrics token as `Authorization: Bearer …`")
        })?;
    if !crate::security::same_secret(presented.trim(), expected.expose_secret()) {
        return Err(ApiError::new(ErrorCode::InvalidToken, "The metrics token is wrong"));
    }
    Ok(render_metrics(&state).await)
}

/// `/metrics` on the port of `AFTERCARE__METRICS__BIND`: no authentication (keep that port private).
pub async fn get_metrics_open(state: web::Data<AppState>) -> HttpResponse {
    render_metrics(&state).await
}

async fn render_metrics(state: &AppState) -> HttpResponse {
    crate::services::metrics::refresh(state).await;
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
