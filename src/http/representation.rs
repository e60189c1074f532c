//! Headers that describe a representation rather than the request's outcome, set in one place:
//! `Location` on a 201 that created something with a URL of its own, and validators on reads
//! (`ETag`, answered with 304 when `If-None-Match` names it) so the app can re-check a list or a
//! chart without downloading it again.

use actix_web::{
    Error, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderValue},
    },
    middleware::Next,
};
use sha2::{Digest, Sha256};

/// The `Location` header of a created resource: a path on this server (a relative reference,
/// RFC 9110 §10.2.2), the same behind any proxy or public URL.
pub fn location(path: String) -> (header::HeaderName, String) {
    (header::LOCATION, path)
}

/// The operations whose 201 carries `Location`, and what it names (for the OpenAPI document).
pub const LOCATIONS: &[(&str, &str)] = &[
    ("create_patient", "The patient: `/api/v1/patients/{id}`"),
    ("create_course", "The course: `/api/v1/courses/{id}`"),
    ("create_session", "The session: `/api/v1/sessions/{id}`"),
    ("create_webhook", "The endpoint: `/api/v1/webhooks/{id}`"),
    ("upload_patient_photo", "The photo's image: `/api/v1/photos/{id}/image`"),
    ("upload_my_photo", "The photo's image: `/api/v1/photos/{id}/image`"),
    ("replace_protocol", "The clinic's current protocol: `/api/v1/protocols`"),
    ("create_calendar_feed", "The subscription: `/api/v1/me/calendar-feed`"),
];

/// Bodies larger than this are not hashed for an `ETag` (the export zip can be large; lists are
/// bounded by their page size).
const MAX_TAGGED_BYTES: u64 = 4 * 1024 * 1024;

/// The entity tag of a body: a strong validator (the bytes' SHA-256, 128 bits shown).
pub fn entity_tag(body: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(body))[..32])
}

/// Whether an `If-None-Match` value names `tag` (or is `*`). Weak comparison (RFC 9110 §13.1.2):
/// a `W/` prefix on either side is ignored.
pub fn none_match(if_none_match: &str, tag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let tag = strip(tag);
    if_none_match.split(',').any(|candidate| candidate.trim() == "*" || strip(candidate) == tag)
}

/// Adds an `ETag` to successful reads under `/api/v1` that have none (photos set their own) and
/// answers 304 Not Modified, without the body, when the request's `If-None-Match` names it.
pub async fn validators(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD) && req.path().starts_with("/api/v1/");
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let res = next.call(req).await?.map_into_boxed_body();
    if !read || res.status() != StatusCode::OK || res.headers().contains_key(header::ETAG) {
        return Ok(res);
    }
    let tagged = match res.response().body().size() {
        actix_web::body::BodySize::Sized(n) => n <= MAX_TAGGED_BYTES,
        _ => false,
    };
    if !tagged {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(e) => return Err(actix_web::error::ErrorInternalServerError(e.to_string())),
    };
    let tag = entity_tag(&bytes);
    let tag_value = HeaderValue::from_str(&tag).map_err(actix_web::error::ErrorInternalServerError)?;
    if if_none_match.as_deref().is_some_and(|v| none_match(v, &tag)) {
        let mut not_modified = HttpResponse::NotModified().finish();
        for (name, value) in head.headers() {
            // A 304 repeats the validators and caching headers of the 200 it stands for.
            if name == header::CACHE_CONTROL || name == header::VARY || name == header::CONTENT_LOCATION {
                not_modified.headers_mut().insert(name.clone(), value.clone());
            }
        }
        not_modified.headers_mut().insert(header::ETAG, tag_value);
        return Ok(ServiceResponse::new(req, not_modified));
    }
    let mut res = head.set_body(BoxBody::new(bytes));
    res.headers_mut().insert(header::ETAG, tag_value);
    Ok(ServiceResponse::new(req, res))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_names_a_tag_in_a_list_weakly_or_with_a_star() {
        let tag = entity_tag(b"{}");
        assert_eq!(tag.len(), 34);
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"other\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
        assert_ne!(entity_tag(b"{}"), entity_tag(b"[]"));
    }
}
