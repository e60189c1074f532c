//! `/api/v1/me/devices`: the patient's app registers, lists and removes its push devices.

use actix_web::{HttpResponse, web};

use crate::{
    error::{ApiResult, Problem},
    http::extract::{AuthUser, Json},
    services::devices::{self, DeviceView, RegisterDevice},
    state::AppState,
    wire::pagination::{Page, PageParams},
};

/// Registers the app's push token. The same token again updates its device (and moves it to
/// this login): 200; a new token: 201.
#[utoipa::path(post, path = "/api/v1/me/devices", tag = "me", security(("bearer" = [])),
    request_body = RegisterDevice, responses(
    (status = 201, description = "Registered", body = DeviceView),
    (status = 200, description = "Already registered: updated", body = DeviceView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json"),
))]
pub async fn register_my_device(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<RegisterDevice>,
) -> ApiResult<HttpResponse> {
    let (view, created) = devices::register(&state, &user, body).await?;
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// The patient's registered devices (tokens are not shown).
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "me", security(("bearer" = [])), params(PageParams), responses(
    (status = 200, body = Page<DeviceView>),
    (status = 400, description = "Malformed limit or cursor", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list_my_devices(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageParams>,
) -> ApiResult<web::Json<Page<DeviceView>>> {
    Ok(web::Json(devices::list(&state, &user, &q).await?))
}

/// Removes a device: it gets no more pushes.
#[utoipa::path(delete, path = "/api/v1/me/devices/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 204, description = "Removed"),
    (status = 404, description = "No such device of yours", body = Problem, content_type = "application/problem+json"),
))]
pub async fn delete_my_device(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    devices::remove(&state, &user, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
