//! `/api/v1/auth/*`: login, token refresh, logout, accepting an invitation, password reset.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::ApiResult,
    http::extract::{Json, client_ip},
    services::{
        auth::{self, TokenResponse},
        invitations, password_reset,
    },
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin@clinic.example")]
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The token from the invitation email.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// 10 to 256 characters, hard to guess (zxcvbn strength 3 or 4 of 4).
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub password: SecretString,
}

/// Logs in with email and password.
///
/// Rate-limited per client IP and per account (429 with `Retry-After`). An unknown email and a
/// wrong password get the same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "Wrong email or password", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<LoginRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    auth::login(&state, &body.email, body.password, &client_ip(&req)).await.map(web::Json)
}

/// Exchanges a refresh token for a new pair (rotation).
///
/// Each refresh token works once. Presenting one that was already used revokes every token of
/// that login (401 `refresh_token_reused`).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "Invalid, expired or reused refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn refresh(
    state: web::Data<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    auth::refresh(&state, body.refresh_token).await.map(web::Json)
}

/// Logs out: revokes the refresh token and every token rotated from the same login.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, responses(
    (status = 204, description = "Revoked (also when the token was unknown)"),
))]
pub async fn logout(state: web::Data<AppState>, Json(body): Json<RefreshRequest>) -> ApiResult<HttpResponse> {
    auth::logout(&state, body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts an invitation: sets the password, creates the account and logs it in.
///
/// The password needs 10 to 256 characters and a zxcvbn strength of at least 3 of 4, judged
/// with the invitee's email, name and clinic as known words; otherwise 422 naming the rule. A
/// revoked invitation, or a patient's whose email changed since, is unknown (404).
#[utoipa::path(post, path = "/api/v1/auth/accept-invitation", tag = "auth", request_body = AcceptInvitationRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 404, description = "Unknown or revoked invitation token", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "Invitation expired or already used, or the email has an account", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    Json(body): Json<AcceptInvitationRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    use secrecy::ExposeSecret;
    invitations::accept(&state, body.token.expose_secret(), body.password).await.map(web::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(example = "jane@example.com")]
    pub email: String,
}

/// The one answer to a reset request, whether or not the address has an account.
#[derive(Serialize, ToSchema)]
pub struct PasswordResetAccepted {
    pub message: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the reset email (`/reset-password?token=…`).
    #[schema(value_type = String)]
    pub token: SecretString,
    /// 10 to 256 characters, hard to guess (zxcvbn strength 3 or 4 of 4).
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub password: SecretString,
}

/// Asks for a password reset link by email.
///
/// Always 202 with the same body, in the same time, whether or not the address has an account;
/// if it has an active one, an email with a link (`/reset-password?token=…`) that works once, for
/// one hour, is sent after the answer. At most 3 such emails per account per hour. Rate-limited
/// per client IP and per address (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest, responses(
    (status = 202, body = PasswordResetAccepted),
    (status = 422, description = "Not an email address", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "Too many attempts", body = crate::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    password_reset::request(&state, &body.email, &client_ip(&req)).await?;
    Ok(HttpResponse::Accepted().json(PasswordResetAccepted {
        message: "If an account uses this address, an email with a reset link is on its way. The link works once, for one hour.".to_owned(),
    }))
}

/// Sets a new password with the token from a reset email.
///
/// Every login of the account ends (its refresh tokens and access tokens stop at once) and its
/// other reset links close; the owner is told by email. Log in again with the new password. An
/// unknown, expired or used token is 400 `invalid_reset_token`, one answer for all three; a
/// password that breaks the rule is 422 naming it.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm, responses(
    (status = 204, description = "The password is set; every session of the account has ended"),
    (status = 400, description = "`invalid_reset_token`: unknown, expired or already used", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "The password breaks the rule", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    Json(body): Json<PasswordResetConfirm>,
) -> ApiResult<HttpResponse> {
    use secrecy::ExposeSecret;
    password_reset::confirm(&state, body.token.expose_secret(), body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}
