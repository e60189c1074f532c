//! Extractors whose failures are problem+json: a strict JSON body, the authenticated caller,
//! and the client address used for rate limits.

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
use futures_util::{StreamExt, future::LocalBoxFuture};
use serde::de::DeserializeOwned;

use crate::{
    error::{ApiError, ErrorCode, FieldError},
    http::{body_deadline, middleware::RequestId, strict_json::Strict},
    services::login_sessions,
    state::AppState,
};
pub use crate::{
    security::caller::AuthUser,
    services::validation::{Checks, double_option, each_once, text},
};

/// A JSON body: `application/json` (or `+json`) only, bounded in size, unknown fields refused
/// by the target type, every struct an object (not an array of its fields). Syntax errors are
/// 400 `malformed_json`; well-formed JSON of the wrong shape is 422 with the path of the
/// offending field.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit =
            req.app_data::<web::Data<AppState>>().map(|s| s.settings.server.json_limit_bytes).unwrap_or(64 * 1024);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
            })
            .unwrap_or(false);
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_len.is_some_and(|n| n > limit) {
                return Err(too_large(limit));
            }
            if !content_type_ok {
                return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "Send the body as application/json"));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| body_deadline::read_error(&e))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(Json)
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("The body is larger than {limit} bytes"))
}

/// Deserializes strictly, turning serde's complaint into a field error.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let result: Result<T, _> = serde_path_to_error::deserialize(Strict(&mut *de));
    match result {
        Ok(value) => {
            de.end().map_err(|e| ApiError::new(ErrorCode::MalformedJson, strip_position(&e.to_string())))?;
            Ok(value)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = strip_position(&inner.to_string());
            match inner.classify() {
                serde_json::error::Category::Data => Err(ApiError::validation(vec![field_error(&path, &message)])),
                // serde_json reports an enum given a number, boolean, null or array as the syntax
                // error "expected value", though the JSON is fine: it is a field of the wrong type.
                _ if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
                    Err(ApiError::validation(vec![FieldError::new(path, ENUM_TYPE_MESSAGE)]))
                }
                _ => Err(ApiError::new(ErrorCode::MalformedJson, message)),
            }
        }
    }
}

const ENUM_TYPE_MESSAGE: &str = "invalid type: expected a string, one of the documented values";

/// serde says "missing field `x`" with the parent's path; name the field itself.
fn field_error(path: &str, message: &str) -> FieldError {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (p, Some(name)) if message.starts_with("missing") => format!("{p}.{name}"),
        (p, _) => p.to_owned(),
    };
    FieldError::new(field, message)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// The caller of a request: a bearer access token that verifies and whose login session is
/// live. The idempotency middleware scopes keys with this same function.
pub async fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))?;
    let token = bearer_token(req.headers())?;
    let claims = state.jwt.verify(token, state.now()).ok_or_else(|| ApiError::code(ErrorCode::InvalidToken))?;
    if !login_sessions::is_live(state, &claims).await? {
        return Err(ApiError::new(ErrorCode::InvalidToken, "The login this access token belongs to has ended"));
    }
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    Ok(AuthUser { account_id: claims.sub, clinic_id: claims.clinic, role: claims.role, request_id })
}

/// The token of `Authorization: Bearer <token>`: the scheme in any case (RFC 7235), then spaces
/// or tabs, then the token (token68: no whitespace inside). 401 when absent or malformed.
pub fn bearer_token(headers: &header::HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| ApiError::code(ErrorCode::Unauthenticated))?;
    let malformed = || ApiError::new(ErrorCode::Unauthenticated, "Use `Authorization: Bearer <access token>`");
    let value = value.to_str().map_err(|_| malformed())?.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, token) = value.split_once([' ', '\t']).ok_or_else(malformed)?;
    let token = token.trim_start_matches([' ', '\t']);
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains([' ', '\t']) {
        return Err(malformed());
    }
    Ok(token)
}

/// The peer address of the connection (the key for per-IP limits).
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[expect(dead_code, reason = "only deserialized")]
        email: String,
        #[expect(dead_code, reason = "only deserialized")]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[expect(dead_code, reason = "only deserialized")]
        n: u8,
    }

    fn fields(body: &str) -> (u16, Vec<String>) {
        let e = parse_json::<Body>(body.as_bytes()).unwrap_err().problem();
        (e.status, e.errors.into_iter().map(|f| f.field).collect())
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(fields(r#"{}"#), (422, vec!["email".to_owned()]));
        assert_eq!(fields(r#"{"email":"a","extra":1}"#), (422, vec!["extra".to_owned()]));
        assert_eq!(fields(r#"{"email":"a","inner":{"n":300}}"#), (422, vec!["inner.n".to_owned()]));
        assert_eq!(fields(r#"{"email":"a","inner":{}}"#), (422, vec!["inner.n".to_owned()]));
        assert_eq!(fields(r#"{"email":5}"#), (422, vec!["email".to_owned()]));
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct WithEnum {
        #[expect(dead_code, reason = "only deserialized")]
        items: Vec<Kinded>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Kinded {
        #[expect(dead_code, reason = "only deserialized")]
        kind: crate::domain::protocol::StepKind,
        #[expect(dead_code, reason = "only deserialized")]
        goal: Option<crate::domain::protocol::Goal>,
    }

    #[test]
    fn an_enum_of_the_wrong_type_is_a_field_error_not_malformed_json() {
        for (body, field) in [
            (r#"{"items":[{"kind":0,"goal":null}]}"#, "items[0].kind"),
            (r#"{"items":[{"kind":"avoid","goal":false}]}"#, "items[0].goal"),
            (r#"{"items":[{"kind":"avoid"},{"kind":null}]}"#, "items[1].kind"),
            (r#"{"items":[{"kind":[1],"goal":null}]}"#, "items[0].kind"),
        ] {
            let p = parse_json::<WithEnum>(body.as_bytes()).unwrap_err().problem();
            assert_eq!((p.status, p.code), (422, ErrorCode::ValidationFailed), "{body}");
            let errors: Vec<_> = p.errors.iter().map(|f| (f.field.as_str(), f.message.as_str())).collect();
            assert_eq!(errors, [(field, ENUM_TYPE_MESSAGE)], "{body}");
        }
        // An unknown name is serde's own data error, naming the variants.
        let p = parse_json::<WithEnum>(br#"{"items":[{"kind":"nope","goal":null}]}"#).unwrap_err().problem();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "items[0].kind"));
        assert!(p.errors[0].message.contains("unknown variant"), "{}", p.errors[0].message);
        // Broken JSON around an enum is still malformed.
        let p = parse_json::<WithEnum>(br#"{"items":[{"kind":tru"#).unwrap_err().problem();
        assert_eq!((p.status, p.code), (400, ErrorCode::MalformedJson));
    }

    #[test]
    fn a_nul_character_in_any_text_is_a_field_error() {
        assert_eq!(fields(r#"{"email":"a\u0000b"}"#), (422, vec!["email".to_owned()]));
        let p = parse_json::<serde_json::Value>(br#"{"a":{"b":["x","y\u0000"]}}"#).unwrap_err().problem();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "a.b[1]"), "inside untyped JSON too");
        assert!(p.errors[0].message.contains("NUL") && !p.errors[0].message.contains('y'), "{}", p.errors[0].message);
        assert!(parse_json::<serde_json::Value>(br#"{"a":"\u0001 is fine"}"#).is_ok());
    }

    #[test]
    fn a_struct_is_an_object_never_an_array_of_its_fields() {
        for (body, field) in [
            (r#"["a", null]"#, "."),
            (r#"{"email":"a","inner":[5]}"#, "inner"),
            (r#"{"email":"a","inner":[]}"#, "inner"),
        ] {
            let p = parse_json::<Body>(body.as_bytes()).unwrap_err().problem();
            assert_eq!((p.status, p.code), (422, ErrorCode::ValidationFailed), "{body}");
            assert_eq!(p.errors[0].field, field, "{body}");
            assert!(p.errors[0].message.contains("invalid type: sequence, expected struct"), "{}", p.errors[0].message);
        }
        let p = parse_json::<WithEnum>(br#"{"items":[{"kind":"avoid","goal":null},["serum",null]]}"#)
            .unwrap_err()
            .problem();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "items[1]"));
        // An internally tagged enum (a protocol step's schedule) is an object too.
        let step = |schedule: &str| {
            format!(
                r#"{{"key":"a","kind":"avoid","title":"t","message":"m","schedule":{schedule},"goal":null,"action":null}}"#
            )
        };
        let p = parse_json::<crate::domain::protocol::Step>(step(r#"["after_hours",[1]]"#).as_bytes())
            .unwrap_err()
            .problem();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "schedule"), "{:?}", p.errors);
        let read =
            parse_json::<crate::domain::protocol::Step>(step(r#"{"type":"after_hours","hours":[1]}"#).as_bytes());
        let written = serde_json::to_value(read.expect("an object reads").schedule).expect("serializes");
        assert_eq!(written, serde_json::json!({"type": "after_hours", "hours": [1]}));
        // Objects, and arrays where the type is a list, read as before.
        assert!(parse_json::<Body>(br#"{"email":"a","inner":{"n":5}}"#).is_ok());
        assert!(
            parse_json::<WithEnum>(br#"{"items":[{"kind":"avoid","goal":"serum_logged"},{"kind":"serum"}]}"#).is_ok()
        );
    }

    #[test]
    fn each_item_is_kept_once_where_it_first_appears() {
        assert_eq!(each_once(&[3, 1, 3, 2, 1]), [3, 1, 2]);
        assert_eq!(each_once::<u8>(&[]), Vec::<u8>::new());
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_with_any_blanks() {
        let read = |value: &str| {
            let mut headers = header::HeaderMap::new();
            headers.insert(header::AUTHORIZATION, header::HeaderValue::from_str(value).unwrap());
            bearer_token(&headers).map(str::to_owned).map_err(|e| e.code)
        };
        for value in ["Bearer abc.def", "bearer abc.def", "BEARER abc.def", "BeArEr \t abc.def ", "  Bearer  abc.def"] {
            assert_eq!(read(value), Ok("abc.def".to_owned()), "{value:?}");
        }
        for value in ["Bearer", "Bearer ", "Bearerabc", "Basic abc", "Bearer a b", "abc.def"] {
            assert_eq!(read(value), Err(ErrorCode::Unauthenticated), "{value:?}");
        }
        assert_eq!(bearer_token(&header::HeaderMap::new()).map_err(|e| e.code), Err(ErrorCode::Unauthenticated));
    }

    #[test]
    fn syntax_errors_are_400() {
        for body in ["{", "", "nope", r#"{"email":"a"} trailing"#] {
            let p = parse_json::<Body>(body.as_bytes()).unwrap_err().problem();
            assert_eq!((p.status, p.code), (400, ErrorCode::MalformedJson), "{body}");
            assert!(!p.detail.contains(" at line "));
        }
    }
}
