//! A NUL character (`%00`) in a request's path or query string is refused before any handler
//! runs: no id or parameter has a use for one, and PostgreSQL cannot hold it in TEXT, so it
//! would reach the driver as an error (a 500) where SQLite simply found nothing. A path with one
//! names nothing (404, as any unknown id); a query parameter with one is malformed, a 400
//! `invalid_query` naming it, as any query parameter that cannot be read. JSON bodies are
//! checked by `strict_json`, on every string they hold (422 naming the field).

use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

use crate::error::{ApiError, ErrorCode};

/// Refuses a path or query string holding a NUL character.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // In the raw path a NUL can only be written `%00` (a literal one is not valid HTTP).
    if req.uri().path().contains("%00") {
        return Ok(req.error_response(ApiError::not_found()));
    }
    if let Some(names) = nul_parameters(req.query_string()) {
        let detail = format!("query parameter `{}` must not contain a NUL character (%00)", names.join("`, `"));
        return Ok(req.error_response(ApiError::new(ErrorCode::InvalidQuery, detail)));
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// The name of each query parameter whose name or value holds a NUL, once decoded (`%00`).
fn nul_parameters(query: &str) -> Option<Vec<String>> {
    if !query.contains("%00") {
        return None;
    }
    let names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', ""))
        .collect();
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_with_a_nul_are_named() {
        assert_eq!(nul_parameters("q=ja%00ne&limit=5&cur%00sor=x").unwrap(), ["q", "cursor"]);
        assert!(nul_parameters("q=jane&limit=5").is_none());
        assert!(nul_parameters("q=%2500").is_none(), "an escaped percent sign is not a NUL");
    }
}
