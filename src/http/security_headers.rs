//! Headers that tell browsers and caches how to treat what the service sends, set once for
//! every response rather than by each handler: `X-Content-Type-Options: nosniff` everywhere (a
//! photo or a text is never run as a script); `Cache-Control: no-store` on everything under
//! `/api/v1`, since any of it may carry patient data (JSON, FHIR, charts, photos, the calendar
//! feed) and no shared or disk cache may keep it; and a Content Security Policy on HTML pages
//! that forbids framing (clickjacking) and anything not served by the service itself.
//! `/healthz`, `/openapi.json` and `/docs` hold no patient data and stay cacheable.

use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
};

/// The policy of the server-rendered pages (`http::pages`): no scripts at all, no inline
/// styles (one stylesheet from the service), forms posting back to the service, no framing.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The policy of the Swagger UI at `/docs/`: its own scripts, styles and the document, nothing
/// from elsewhere (its assets are compiled in), inline styles for the widgets it draws.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     object-src 'none'; frame-ancestors 'none'";

/// Adds the headers to every response.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let api = req.path().starts_with("/api/v1/") || req.path() == "/api/v1";
    let docs = req.path().starts_with("/docs");
    let mut res = next.call(req).await?.map_into_boxed_body();
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if html {
        let csp = if docs { DOCS_CSP } else { PAGE_CSP };
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(res)
}
