//! The authenticated caller: who is making a request, in which clinic and role. Services take it
//! to authorize and audit; the HTTP layer builds it from the access token (its extractor lives in
//! `http::extract`), so the type sits here, below both.

use crate::{domain::Role, error::ApiError};

/// The authenticated caller, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub account_id: String,
    pub clinic_id: String,
    pub role: Role,
    /// The request this caller is making (for audit events).
    pub request_id: String,
}

impl AuthUser {
    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin { Ok(()) } else { Err(ApiError::forbidden()) }
    }

    /// 403 unless the caller is clinic staff (admin or clinician).
    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.role.is_staff() { Ok(()) } else { Err(ApiError::forbidden()) }
    }
}
