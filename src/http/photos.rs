//! Photos over HTTP: multipart uploads (staff and patient), lists, images with ETag caching,
//! deletion. Scores and progress are in `scores`.

use actix_multipart::{Multipart, MultipartError};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::header, web};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::representation::location;
use crate::{
    error::{ApiError, ApiResult, ErrorCode},
    http::{
        body_deadline::{self, BodyDeadline},
        extract::{AuthUser, parse_json},
    },
    repo::patients::Patient,
    services::{
        patients,
        photos::{self, PhotoMetadata, PhotoView, View},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams},
};

type Problem = crate::error::Problem;

/// The multipart form of an upload (documentation of the two parts).
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the multipart body for OpenAPI")]
pub struct PhotoUpload {
    /// JPEG or PNG bytes (the type is read from the bytes, not the declared type).
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// JSON, as a part with content type `application/json`.
    metadata: PhotoMetadata,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PhotoListParams {
    pub session_id: Option<String>,
    pub view: Option<View>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; absent or empty for the first.
    pub cursor: Option<String>,
    /// Only photos uploaded at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub updated_since: Option<String>,
}

impl PhotoListParams {
    fn sync(&self) -> SyncParams {
        SyncParams { limit: self.limit, cursor: self.cursor.clone(), updated_since: self.updated_since.clone() }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImageParams {
    /// `thumb` (320 px) or `full` (default).
    #[param(inline)]
    pub size: Option<ImageSize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageSize {
    Thumb,
    #[default]
    Full,
}

/// A multipart failure: 408 past the body deadline, else 400.
fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::Payload(p) if body_deadline::is_timeout(&p) => body_deadline::timeout_error(),
        other => ApiError::new(ErrorCode::BadRequest, format!("malformed multipart body: {other}")),
    }
}

/// Reads the two parts before the body deadline (408 beyond), bounded: the image at `max` bytes
/// (413 beyond), metadata at 16 KiB.
async fn read_upload(req: &HttpRequest, form: Multipart, max: usize) -> ApiResult<(PhotoMetadata, Vec<u8>)> {
    // The image is read into one buffer of the announced size, not grown by doubling (which
    // holds the old and the new buffer at once, 24 MiB for a 15 MiB upload).
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(max);
    let deadline = req.extensions().get::<BodyDeadline>().copied();
    match deadline {
        Some(BodyDeadline(at)) => tokio::time::timeout_at(at, read_parts(form, max, announced))
            .await
            .map_err(|_| body_deadline::timeout_error())?,
        None => read_parts(form, max, announced).await,
    }
}

async fn read_parts(mut form: Multipart, max: usize, announced: usize) -> ApiResult<(PhotoMetadata, Vec<u8>)> {
    let (mut meta, mut image) = (None, None);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        let limit = match name.as_str() {
            "image" => max,
            "metadata" => 16 * 1024,
            other => return Err(ApiError::invalid(other, "unknown part; send `image` and `metadata`")),
        };
        let mut buf = Vec::with_capacity(if name == "image" { announced } else { 0 });
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the {name} part is larger than {limit} bytes"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        if name == "image" {
            image = Some(buf);
        } else {
            meta = Some(parse_json::<PhotoMetadata>(&buf).map_err(|e| {
                if e.errors.is_empty() {
                    e
                } else {
                    let errors = e
                        .errors
                        .into_iter()
                        .map(|f| crate::error::FieldError::new(format!("metadata.{}", f.field), f.message))
                        .collect();
                    ApiError::validation(errors)
                }
            })?);
        }
    }
    match (meta, image) {
        (Some(m), Some(i)) if !i.is_empty() => Ok((m, i)),
        (None, _) => Err(ApiError::invalid("metadata", "is required")),
        _ => Err(ApiError::invalid("image", "is required")),
    }
}

fn multipart_only(req: &HttpRequest) -> ApiResult<()> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the photo as multipart/form-data with `image` and `metadata` parts",
        ))
    }
}

async fn upload_for(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    req: &HttpRequest,
    form: Multipart,
) -> ApiResult<HttpResponse> {
    let max = state.settings.photos.max_upload_bytes;
    multipart_only(req)?;
    let (meta, bytes) = read_upload(req, form, max).await?;
    let (view, created) = photos::upload(state, user, patient, meta, bytes).await?;
    Ok(if created {
        HttpResponse::Created().insert_header(location(format!("/api/v1/photos/{}/image", view.id))).json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Uploads a photo for a patient (staff). Needs the patient's `photos` consent.
#[utoipa::path(post, path = "/api/v1/patients/{id}/photos", tag = "photos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = PhotoUpload, content_type = "multipart/form-data"),
    responses(
    (status = 201, body = PhotoView),
    (status = 200, description = "The same image was uploaded before; that photo is returned", body = PhotoView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "No photo consent", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "Not JPEG or PNG", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "Bad metadata, too many pixels, or undecodable", body = Problem, content_type = "application/problem+json"),
    (status = 507, description = "Photo storage is full", body = Problem, content_type = "application/problem+json"),
))]
pub async fn upload_patient_photo(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    req: HttpRequest,
    form: Multipart,
) -> ApiResult<HttpResponse> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    upload_for(&state, &user, &patient, &req, form).await
}

/// Uploads a photo of the patient's own (from the app).
#[utoipa::path(post, path = "/api/v1/me/photos", tag = "me", security(("bearer" = [])),
    request_body(content = PhotoUpload, content_type = "multipart/form-data"),
    responses(
    (status = 201, body = PhotoView),
    (status = 200, description = "The same image was uploaded before", body = PhotoView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "No photo consent", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "Not JPEG or PNG", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "Bad metadata, too many pixels, or undecodable", body = Problem, content_type = "application/problem+json"),
    (status = 507, description = "Photo storage is full", body = Problem, content_type = "application/problem+json"),
))]
pub async fn upload_my_photo(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    form: Multipart,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    upload_for(&state, &user, &patient, &req, form).await
}

/// A patient's photos in time order (staff); filter by session or view.
#[utoipa::path(get, path = "/api/v1/patients/{id}/photos", tag = "photos", security(("bearer" = [])),
    params(("id" = String, Path), PhotoListParams), responses((status = 200, body = Page<PhotoView>),
    (status = 400, description = "Malformed filter, limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_photos(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<PhotoListParams>,
) -> ApiResult<web::Json<Page<PhotoView>>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(photos::list(&state, &user, &patient, q.session_id.clone(), q.view, &q.sync()).await?))
}

/// The patient's own photos.
#[utoipa::path(get, path = "/api/v1/me/photos", tag = "me", security(("bearer" = [])),
    params(PhotoListParams), responses((status = 200, body = Page<PhotoView>),
    (status = 400, description = "Malformed filter, limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_photos(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PhotoListParams>,
) -> ApiResult<web::Json<Page<PhotoView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(photos::list(&state, &user, &patient, q.session_id.clone(), q.view, &q.sync()).await?))
}

/// The image (JPEG, metadata stripped), to the patient and their clinic's staff only.
#[utoipa::path(get, path = "/api/v1/photos/{id}/image", tag = "photos", security(("bearer" = [])),
    params(("id" = String, Path), ImageParams), responses(
    (status = 200, description = "JPEG bytes", content_type = "image/jpeg", headers(("ETag" = String))),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json")))]
pub async fn get_photo_image(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<ImageParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let full = q.size.unwrap_or_default() == ImageSize::Full;
    let photo = photos::load(&state, &user, &id).await?;
    let etag = if full { photo.full_etag.clone() } else { photo.thumb_etag.clone() };
    let cache = (header::CACHE_CONTROL, "no-store");
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).insert_header(cache).finish());
    }
    let bytes = photos::image(&state, &user, &photo, full).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header((header::ETAG, etag))
        .insert_header(cache)
        .body(bytes))
}

/// Deletes a photo and its stored files (staff, or the patient's own).
#[utoipa::path(delete, path = "/api/v1/photos/{id}", tag = "photos", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Deleted"),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_photo(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let photo = photos::load(&state, &user, &id).await?;
    photos::delete(&state, &user, photo).await?;
    Ok(HttpResponse::NoContent().finish())
}
