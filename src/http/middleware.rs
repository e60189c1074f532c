//! The outermost layer: a request id (kept from `X-Request-Id` when sane, else a new UUIDv7)
//! on a tracing span and the response, metrics by route, a closing log line (route, status,
//! latency), and a last guard that turns any error response actix made on its own (unknown
//! route, wrong method, …) into problem+json. The route is known once the router has matched,
//! so it is on the closing line rather than on the span.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage, HttpRequest, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header},
    middleware::Next,
    web,
};
use tracing::Instrument;

use crate::{
    error::{ApiError, ErrorCode},
    state::AppState,
};

/// The request's id, for audit events and logs.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", request.id = %request_id, http.method = %method);
    let started = Instant::now();

    req.extensions_mut().insert(RequestId(request_id.clone()));
    let response = next.call(req).instrument(span.clone()).await;
    let mut response = match response {
        Ok(res) => as_problem(res.map_into_boxed_body()),
        Err(err) => return Err(err),
    };
    let status = response.status();
    let route = route_of(response.request(), status);
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe_request(&method, &route, status.as_u16(), elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            http.route = %route,
            http.status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1e3,
            "request done"
        );
    });
    if let Ok(value) = header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// The route that served a request (`/api/v1/patients/{id}`), for logs and metrics: the path
/// with each segment the router matched put back as `{name}`. actix's own `match_pattern` walks
/// the whole route table again with a regular expression per route (see docs/performance.md,
/// item 13); it is kept for 404 and 405, where the path may match no route and
/// must not become a label of its own.
fn route_of(req: &HttpRequest, status: StatusCode) -> String {
    if matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) {
        return req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    }
    let info = req.match_info();
    let path = info.as_str();
    // Each matched value is a slice of `path`: its address gives its place.
    let base = path.as_ptr() as usize;
    let mut route = String::with_capacity(path.len() + 8);
    let mut at = 0;
    for (name, value) in info.iter() {
        let start = (value.as_ptr() as usize).wrapping_sub(base);
        let end = start.saturating_add(value.len());
        // A value that is not a slice of the path (a static one) has nothing to put back.
        let Some(before) = path.get(at..start).filter(|_| !value.is_empty() && end <= path.len()) else { continue };
        route.push_str(before);
        route.push('{');
        route.push_str(name);
        route.push('}');
        at = end;
    }
    route.push_str(path.get(at..).unwrap_or_default());
    route
}

/// Replaces a non-problem error body with the problem for its status. An HTML page is kept:
/// only the pages behind emailed links (`http::pages`) answer failures with one, on purpose.
fn as_problem(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let content_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let is_problem = content_type.starts_with("application/problem+json") || content_type.starts_with("text/html");
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::NOT_ACCEPTABLE => ErrorCode::NotAcceptable,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServerBusy,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::InternalError,
    };
    let (req, old) = res.into_parts();
    let mut new: HttpResponse = actix_web::ResponseError::error_response(&ApiError::code(code));
    // Keep the status actix chose (e.g. 400 vs 408) and headers such as `Allow`.
    *new.status_mut() = status;
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, new)
}
