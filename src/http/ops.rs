//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, web};
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

/// Prometheus metrics: requests by route and status, latency histograms, and the staff alert
/// email outbox by status (read from the database, so every replica reports the same).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
))]
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    crate::services::alerts::refresh_metrics(&state).await;
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
