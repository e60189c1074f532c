//! The HTTP edge: the route table (all in one place), thin handlers per resource, extractors,
//! middleware, metrics and the OpenAPI document.

pub mod auth;
pub mod extract;
pub mod me;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod staff;

use actix_web::{HttpResponse, web};

use crate::error::{ApiError, ErrorCode};

/// Every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(ops::get_healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::get_readyz)))
        .service(web::resource("/metrics").route(web::get().to(ops::get_metrics)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi::get_openapi)))
        .service(
            web::resource("/docs").route(
                web::get()
                    .to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }),
            ),
        )
        .service(openapi::swagger_ui())
        .service(
            web::scope("/api/v1")
                .service(web::resource("/auth/login").route(web::post().to(auth::login)))
                .service(web::resource("/auth/refresh").route(web::post().to(auth::refresh)))
                .service(web::resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(web::resource("/auth/accept-invitation").route(web::post().to(auth::accept_invitation)))
                .service(web::resource("/me").route(web::get().to(me::get_me)))
                .service(web::resource("/staff").route(web::get().to(staff::list_staff)))
                .service(web::resource("/staff/invitations").route(web::post().to(staff::create_staff_invitation))),
        );
}

/// Path and query extractor failures as problem+json.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::new(ErrorCode::InvalidPath, err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::new(ErrorCode::InvalidQuery, err.to_string()).into()),
    );
}

/// Unknown routes.
pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::code(ErrorCode::RouteNotFound))
}
