//! `/api/v1/webhooks`: clinic systems' endpoints (admins), their delivery log and re-sends.

use actix_web::{HttpResponse, web};

use super::representation::location;
use crate::{
    error::ApiResult,
    http::{
        extract::{AuthUser, Json},
        idempotency::holding_secret,
    },
    services::webhooks::{self, CreateWebhook, DeliveryView, UpdateWebhook, WebhookView},
    state::AppState,
    wire::pagination::{Page, PageParams},
};

type Problem = crate::error::Problem;

/// Registers an endpoint (admins). The answer holds its signing secret, shown this once.
///
/// A retry with the same `Idempotency-Key` answers 409 `idempotency_secret_withheld` rather than
/// repeat the secret: read the endpoint, or rotate its secret.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateWebhook, responses((status = 201, body = WebhookView),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "A replay of a created endpoint (`idempotency_secret_withheld`), or the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json")))]
pub async fn create_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<HttpResponse> {
    let webhook = webhooks::create(&state, &user, body).await?;
    let created =
        HttpResponse::Created().insert_header(location(format!("/api/v1/webhooks/{}", webhook.id))).json(webhook);
    Ok(holding_secret(created))
}

/// The clinic's endpoints (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<WebhookView>),
    (status = 400, description = "Malformed limit or cursor", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json")))]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<WebhookView>>> {
    Ok(web::Json(webhooks::list(&state, &user, &q).await?))
}

/// One endpoint (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = WebhookView),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such endpoint in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn get_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<WebhookView>> {
    let endpoint = webhooks::load(&state, &user, &id).await?;
    Ok(web::Json(webhooks::view(&endpoint, None)))
}

/// Changes an endpoint's URL, events, description, or pauses it (`active: false`).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateWebhook, responses((status = 200, body = WebhookView),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such endpoint in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn update_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<UpdateWebhook>,
) -> ApiResult<web::Json<WebhookView>> {
    Ok(web::Json(webhooks::update(&state, &user, &id, body).await?))
}

/// Removes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Removed"),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such endpoint in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    webhooks::delete(&state, &user, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret. For 24 hours deliveries carry signatures by both the new and the
/// previous secret, so the receiver can switch without losing events.
///
/// The secret is shown once: a retry with the same `Idempotency-Key` answers 409
/// `idempotency_secret_withheld` (rotate again to get a new one).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = WebhookView),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such endpoint in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "A replay of a rotation (`idempotency_secret_withheld`), or the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json")))]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(holding_secret(HttpResponse::Ok().json(webhooks::rotate_secret(&state, &user, &id).await?)))
}

/// The endpoint's delivery log, newest first, with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path), PageParams), responses((status = 200, body = Page<DeliveryView>),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such endpoint in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<DeliveryView>>> {
    let (limit, cursor) = q.resolve()?;
    Ok(web::Json(webhooks::deliveries(&state, &user, &id, cursor, limit).await?))
}

/// Sends a delivery's event again, now (same `webhook-id` and body, a new log entry).
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/resend", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 202, body = DeliveryView),
    (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such delivery in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The endpoint is disabled", body = Problem, content_type = "application/problem+json")))]
pub async fn resend_webhook_delivery(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Accepted().json(webhooks::resend(&state, &user, &id).await?))
}
