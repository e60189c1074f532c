//! The one API error: every failure leaves the service as RFC 9457 `application/problem+json`
//! with a stable snake_case `code`. A 5xx carries no internals; its cause is logged once, inside
//! the request's span (which holds the request id).

use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $title:literal)),+ $(,)?) => {
        /// Every error code the API can return; clients may match on these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub fn status(self) -> StatusCode {
                match self { $(Self::$variant => $status),+ }
            }
            pub fn title(self) -> &'static str {
                match self { $(Self::$variant => $title),+ }
            }
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),+];
        }
    };
}

error_codes! {
    MalformedJson => (StatusCode::BAD_REQUEST, "The body is not valid JSON"),
    InvalidPath => (StatusCode::BAD_REQUEST, "A path parameter is malformed"),
    InvalidQuery => (StatusCode::BAD_REQUEST, "A query parameter is malformed"),
    BadRequest => (StatusCode::BAD_REQUEST, "The request is malformed"),
    Unauthenticated => (StatusCode::UNAUTHORIZED, "Authentication is required"),
    InvalidToken => (StatusCode::UNAUTHORIZED, "The access token is invalid or expired"),
    InvalidCredentials => (StatusCode::UNAUTHORIZED, "The email or password is wrong"),
    InvalidRefreshToken => (StatusCode::UNAUTHORIZED, "The refresh token is invalid or expired"),
    RefreshTokenReused => (StatusCode::UNAUTHORIZED, "The refresh token was already used; the session is revoked"),
    InvalidResetToken => (StatusCode::BAD_REQUEST, "The password reset link is invalid, expired or already used"),
    WrongPassword => (StatusCode::FORBIDDEN, "The password is wrong"),
    Forbidden => (StatusCode::FORBIDDEN, "Your role does not allow this"),
    NotFound => (StatusCode::NOT_FOUND, "No such resource"),
    RouteNotFound => (StatusCode::NOT_FOUND, "No such endpoint"),
    InvitationNotFound => (StatusCode::NOT_FOUND, "The invitation is unknown"),
    MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "This method is not allowed here"),
    NotAcceptable => (StatusCode::NOT_ACCEPTABLE, "The requested representation is not available"),
    AccountExists => (StatusCode::CONFLICT, "An account with this email already exists"),
    InvitationExpired => (StatusCode::CONFLICT, "The invitation has expired"),
    InvitationAlreadyUsed => (StatusCode::CONFLICT, "The invitation was already accepted"),
    LastAdmin => (StatusCode::CONFLICT, "The clinic's last active admin cannot be deactivated"),
    Conflict => (StatusCode::CONFLICT, "The request conflicts with the current state"),
    IdempotencyRequestInProgress => (StatusCode::CONFLICT, "A request with this Idempotency-Key is still running"),
    IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "This Idempotency-Key was used with a different body"),
    IdempotencySecretWithheld => (StatusCode::CONFLICT, "The first response held a secret shown once; it is not replayed"),
    ScreeningRequired => (StatusCode::CONFLICT, "A recent clear or overridden screening is required"),
    ScreeningContraindicated => (StatusCode::CONFLICT, "The latest screening found a contraindication"),
    PatientArchived => (StatusCode::CONFLICT, "The patient is archived"),
    CourseNotActive => (StatusCode::CONFLICT, "The course is not active"),
    SessionCancelled => (StatusCode::CONFLICT, "The session is cancelled"),
    EmailTaken => (StatusCode::CONFLICT, "Another patient of this clinic has this email"),
    ReminderNotPending => (StatusCode::CONFLICT, "The reminder is no longer waiting to be sent"),
    AlertAlreadyResolved => (StatusCode::CONFLICT, "The alert is already resolved"),
    ConsentRequired => (StatusCode::CONFLICT, "The patient has not consented to this"),
    UnsupportedImage => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Only JPEG and PNG images are accepted"),
    ImageTooLarge => (StatusCode::UNPROCESSABLE_ENTITY, "The image has too many pixels"),
    ImageUnreadable => (StatusCode::UNPROCESSABLE_ENTITY, "The image could not be decoded"),
    StorageUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "Photo storage is unavailable; nothing was stored"),
    StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "Photo storage is full; nothing was stored"),
    PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The body is too large"),
    RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "The request body did not arrive in time"),
    UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "The content type is not supported"),
    ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "The request has invalid fields"),
    TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "Too many requests; try again later"),
    InternalError => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side"),
    DatabaseUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable"),
    ServerBusy => (StatusCode::SERVICE_UNAVAILABLE, "The server is busy; try again shortly"),
    MailUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "Email could not be sent; try again shortly"),
}

impl ErrorCode {
    pub fn as_str(self) -> String {
        crate::domain::wire_name(self)
    }
}

/// One invalid field of a 422.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `areas[0].depth_mm`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// RFC 9457 problem details, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type: `/problems/{code}`, a page saying what the code means.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// Present on 422: each invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldError>,
}

/// The error every handler returns.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
    /// The cause of a 5xx, logged and never sent.
    source: Option<anyhow::Error>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), errors: Vec::new(), retry_after_secs: None, source: None }
    }

    /// A code with its standard title as the detail.
    pub fn code(code: ErrorCode) -> Self {
        Self::new(code, code.title())
    }

    pub fn not_found() -> Self {
        Self::code(ErrorCode::NotFound)
    }

    pub fn forbidden() -> Self {
        Self::code(ErrorCode::Forbidden)
    }

    /// 422 with the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self { errors, ..Self::new(ErrorCode::ValidationFailed, detail) }
    }

    /// 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                ErrorCode::TooManyRequests,
                format!("Too many attempts; retry after {} s", retry_after_secs.max(1)),
            )
        }
    }

    /// 500 whose cause is logged, never shown.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self { source: Some(cause.into()), ..Self::code(ErrorCode::InternalError) }
    }

    pub fn problem(&self) -> Problem {
        let status = self.code.status();
        Problem {
            type_: format!("/problems/{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            errors: self.errors.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.code.status();
        if status.is_server_error() {
            match &self.source {
                Some(cause) => {
                    tracing::error!(error.code = %self.code.as_str(), error.cause = %crate::security::redact(&format!("{cause:#}")), "request failed")
                }
                None => tracing::warn!(error.code = %self.code.as_str(), "request failed"),
            }
        }
        let mut builder = HttpResponse::build(status);
        builder.content_type("application/problem+json");
        if let Some(secs) = self.retry_after_secs {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        builder.json(self.problem())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(_) => Self { source: Some(e.into()), ..Self::code(ErrorCode::DatabaseUnavailable) },
            other => Self::internal(other),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match e {
            Error::NotFound => Self::not_found(),
            // A check-then-insert that lost a race to a concurrent request (same email, same
            // protocol version, same photo): the state changed under it, so 409, never 500. The
            // database's own words (constraint names, values) stay out of the answer.
            Error::DatabaseError(Kind::UniqueViolation | Kind::ForeignKeyViolation, _) => {
                tracing::info!(error = %crate::security::redact(&e.to_string()), "write lost a race");
                Self::new(ErrorCode::Conflict, "A concurrent change got there first; read the resource again and retry")
            }
            other => Self::internal(other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(!s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2 at /secret/path"));
        let body = serde_json::to_string(&err.problem()).unwrap();
        assert!(!body.contains("hunter2") && !body.contains("/secret/path"), "{body}");
        assert_eq!(err.problem().status, 500);
    }

    #[test]
    fn constraint_races_are_409_without_database_words() {
        use diesel::result::{DatabaseErrorKind, Error};
        for kind in [DatabaseErrorKind::UniqueViolation, DatabaseErrorKind::ForeignKeyViolation] {
            let e = Error::DatabaseError(
                kind,
                Box::new(String::from("duplicate key value violates \"patients_email_key\"")),
            );
            let p = ApiError::from(e).problem();
            assert_eq!((p.status, p.code), (409, ErrorCode::Conflict));
            assert!(!p.detail.contains("patients_email_key"), "{}", p.detail);
        }
        let other = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(String::from("boom")));
        assert_eq!(ApiError::from(other).problem().status, 500);
    }

    #[test]
    fn one_invalid_field_is_named_in_the_detail() {
        let p = ApiError::invalid("password", "must be at least 10 characters").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors.len(), 1);
        assert!(p.detail.starts_with("password:"));
    }
}
