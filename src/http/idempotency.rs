//! `Idempotency-Key` on POST: the first request with a key runs and its response is stored for
//! 24 h; a retry with the same key and body gets the stored response (`Idempotency-Replayed:
//! true`); the same key with another body is 422 `idempotency_key_reused`; a retry while the
//! first is still running is 409 `idempotency_request_in_progress`.
//!
//! Keys are scoped per account, found by [`authenticate`], the very function that lets the
//! request in: a request without a caller it accepts (no token, a malformed, invalid or expired
//! one, an ended login) runs normally and is never stored, so no one can replay another's answer.
//! A response holding a secret shown once (a calendar-feed URL, a webhook signing secret) is
//! marked by its handler ([`holding_secret`]); only a marker is stored, and a replay answers 409
//! `idempotency_secret_withheld`. Auth endpoints are excluded: their responses are all tokens.

use actix_web::{
    Error, HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, StatusCode, header},
    middleware::Next,
    web,
};
use chrono::Duration;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::{
    db::{from_db, is_unique_violation, to_db},
    error::{ApiError, ErrorCode},
    http::extract::authenticate,
    repo::idempotency::{self, IdempotencyKey},
    state::AppState,
};

const HEADER: &str = "idempotency-key";
const TTL_HOURS: i64 = 24;

/// Marks a response that holds a secret shown only once: it is sent, never stored for replay.
#[derive(Clone, Copy, Debug)]
pub struct HoldsSecret;

/// `res`, marked as holding a secret (see [`HoldsSecret`]).
pub fn holding_secret(mut res: HttpResponse) -> HttpResponse {
    res.extensions_mut().insert(HoldsSecret);
    res
}

enum Claim {
    /// This request runs and will complete the key.
    Run,
    Replay(u16, String),
    Reused,
    InProgress,
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let applies = req.method() == Method::POST
        && req.path().starts_with("/api/v1/")
        && !req.path().starts_with("/api/v1/auth/")
        && req.headers().contains_key(HEADER);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (true, Some(state)) = (applies, state) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let Ok(caller) = authenticate(req.request()).await else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let key = match req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        Some(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_owned(),
        _ => {
            let err = ApiError::new(ErrorCode::BadRequest, "Idempotency-Key must be 1–255 visible ASCII characters");
            return Ok(req.error_response(err));
        }
    };
    let scope = idempotency::account_scope(&caller.account_id);
    let request_hash = match hash_request(&mut req, &state).await {
        Ok(hash) => hash,
        Err(err) => return Ok(req.error_response(err)),
    };
    let now = state.now();
    let row = IdempotencyKey {
        scope: scope.clone(),
        key: key.clone(),
        request_hash,
        status_code: None,
        response_body: None,
        created_at: to_db(now),
        expires_at: to_db(now + Duration::hours(TTL_HOURS)),
        request_path: req.path().to_owned(),
    };
    match claim(&state, row).await {
        Err(e) => Ok(req.error_response(e)),
        Ok(Claim::Reused) => {
            let err = ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "This Idempotency-Key was used with a different request body",
            );
            Ok(req.error_response(err))
        }
        Ok(Claim::InProgress) => Ok(req.error_response(ApiError::code(ErrorCode::IdempotencyRequestInProgress))),
        Ok(Claim::Replay(status, body)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
            let res = HttpResponse::build(status)
                .content_type(content_type)
                .insert_header(("idempotency-replayed", "true"))
                .body(body);
            Ok(req.into_response(res))
        }
        Ok(Claim::Run) => run_and_store(req, next, &state, scope, key).await,
    }
}

/// Buffers the body (bounded by what the route accepts), hands it on, and hashes it with the
/// method and URI.
async fn hash_request(req: &mut ServiceRequest, state: &AppState) -> Result<String, ApiError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/"));
    let limit = if multipart {
        state.settings.photos.max_upload_bytes + 64 * 1024
    } else {
        state.settings.server.json_limit_bytes
    };
    let mut payload = req.take_payload();
    let mut buffer = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| crate::http::body_deadline::read_error(&e))?;
        if buffer.len() + chunk.len() > limit {
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, format!("The body is larger than {limit} bytes")));
        }
        buffer.extend_from_slice(&chunk);
    }
    let body = buffer.freeze();
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.uri().to_string());
    hasher.update(b"\n");
    hasher.update(&body);
    req.set_payload(Payload::from(body));
    Ok(hex::encode(hasher.finalize()))
}

/// Takes the key for this request, or finds what an earlier request with it left.
async fn claim(state: &AppState, row: IdempotencyKey) -> Result<Claim, ApiError> {
    let now = from_db(row.created_at);
    state
        .db
        .write(move |c| -> Result<Claim, ApiError> {
            if let Some(existing) = idempotency::find_key(c, &row.scope, &row.key)? {
                if from_db(existing.expires_at) > now {
                    return Ok(match (existing.request_hash == row.request_hash, existing.status_code) {
                        (false, _) => Claim::Reused,
                        (true, None) => Claim::InProgress,
                        (true, Some(status)) => Claim::Replay(
                            u16::try_from(status).unwrap_or(500),
                            existing.response_body.unwrap_or_default(),
                        ),
                    });
                }
                idempotency::delete_key(c, &row.scope, &row.key)?;
            }
            match idempotency::insert_key(c, &row) {
                Ok(()) => Ok(Claim::Run),
                Err(e) if is_unique_violation(&e) => Ok(Claim::InProgress),
                Err(e) => Err(e.into()),
            }
        })
        .await
}

/// Runs the request and completes its key: with the response, with the withheld-secret marker,
/// or (on a 5xx) by deleting the key so a retry runs again.
async fn run_and_store(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: &AppState,
    scope: String,
    key: String,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let holds_secret = res.response().extensions().get::<HoldsSecret>().is_some();
    let (req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let outcome = if status.is_server_error() {
        state.db.write(move |c| -> Result<usize, ApiError> { Ok(idempotency::delete_key(c, &scope, &key)?) }).await
    } else {
        let (code, text) = if holds_secret {
            withheld_marker(status)
        } else {
            (i32::from(status.as_u16()), String::from_utf8_lossy(&bytes).into_owned())
        };
        state
            .db
            .write(move |c| -> Result<usize, ApiError> { Ok(idempotency::complete_key(c, &scope, &key, code, &text)?) })
            .await
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, "idempotency key not completed");
    }
    Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(bytes))))
}

/// What is stored instead of a response holding a secret: the 409 problem a replay answers.
fn withheld_marker(status: StatusCode) -> (i32, String) {
    let err = ApiError::new(
        ErrorCode::IdempotencySecretWithheld,
        format!(
            "The first request with this Idempotency-Key succeeded ({status}), and its answer held a secret \
             shown only once, which is not kept for replays. Read the resource, or rotate the secret."
        ),
    );
    let body = serde_json::to_string(&err.problem()).unwrap_or_default();
    (i32::from(err.code.status().as_u16()), body)
}
