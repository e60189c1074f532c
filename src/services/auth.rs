//! Login, refresh-token rotation with reuse detection, and logout. A login opens a session (a
//! family of refresh tokens); its access tokens name it and stop when it ends.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{self, DbConnection, from_db, new_id, to_db},
    domain::Role,
    error::{ApiError, ApiResult, ErrorCode},
    repo::{
        accounts::{self, Account},
        refresh_tokens::{self, RefreshToken},
    },
    security::{mask_email, normalize_email, random_token, token_hash},
    services::login_sessions,
    state::AppState,
};

/// Tokens handed to a client after login, refresh or accepting an invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque; exchange it at `/api/v1/auth/refresh`. Each one works once.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Checks credentials (rate-limited per IP and per account) and opens a new token family.
pub async fn login(state: &AppState, email: &str, password: SecretString, ip: &str) -> ApiResult<TokenResponse> {
    state.login_limiter.check_ip(ip).map_err(ApiError::too_many_requests)?;
    let email = normalize_email(email).unwrap_or_default();
    state.login_limiter.check_account(&email).map_err(ApiError::too_many_requests)?;

    let lookup = email.clone();
    let account = if email.is_empty() {
        None
    } else {
        state.db.run(move |c| accounts::find_account_by_email(c, &lookup)).await?
    };
    let verified = state.hasher.verify(password, account.as_ref().map(|a| a.password_hash.clone())).await?;
    // A deactivated account is refused exactly like a wrong password (after the same work).
    let account = match account {
        Some(account) if verified && account.is_active() => account,
        _ => {
            tracing::info!(account.email = %mask_email(&email), "login refused");
            return Err(ApiError::code(ErrorCode::InvalidCredentials));
        }
    };
    let now = state.now();
    let ttl = Duration::days(state.settings.auth.refresh_token_ttl_days);
    let session = new_id();
    let (refresh, row) = new_refresh_token(&account.id, &session, now, ttl);
    let (id, hash) = (account.id.clone(), account.password_hash.clone());
    state
        .db
        .write(move |c| -> ApiResult<()> {
            // Deactivated or given a new password since the check above: refused all the same.
            if !accounts::lock_if_usable(c, &id, &hash)? {
                return Err(ApiError::code(ErrorCode::InvalidCredentials));
            }
            Ok(refresh_tokens::insert_refresh_token(c, &row)?)
        })
        .await?;
    tracing::info!(account.id = %account.id, "login");
    token_response(state, &account, &session, refresh, now)
}

enum Rotation {
    /// The account, the session (family) and the new refresh token.
    Rotated(Box<Account>, String, String),
    /// The family that was revoked.
    Reused(String),
    Invalid,
}

/// Exchanges a refresh token for a new pair. A token presented twice revokes its family.
pub async fn refresh(state: &AppState, presented: SecretString) -> ApiResult<TokenResponse> {
    let now = state.now();
    let ttl = Duration::days(state.settings.auth.refresh_token_ttl_days);
    let hash = token_hash(presented.expose_secret());
    let outcome = state
        .db
        .write(move |c| -> ApiResult<Rotation> {
            let Some(token) = refresh_tokens::find_by_hash(c, &hash)? else {
                return Ok(Rotation::Invalid);
            };
            if token.used_at.is_some() || token.revoked_at.is_some() {
                refresh_tokens::revoke_family(c, &token.family_id, to_db(now))?;
                return Ok(Rotation::Reused(token.family_id));
            }
            if from_db(token.expires_at) <= now {
                return Ok(Rotation::Invalid);
            }
            // The account row first, as deactivation and password changes do (same lock order).
            let Some(account) = accounts::find_account(c, &token.account_id)? else {
                return Ok(Rotation::Invalid);
            };
            if !accounts::lock_if_usable(c, &account.id, &account.password_hash)? {
                return Ok(Rotation::Invalid);
            }
            if !refresh_tokens::mark_used(c, &token.id, to_db(now))? {
                refresh_tokens::revoke_family(c, &token.family_id, to_db(now))?;
                return Ok(Rotation::Reused(token.family_id));
            }
            let (secret, row) = new_refresh_token(&account.id, &token.family_id, now, ttl);
            refresh_tokens::insert_refresh_token(c, &row)?;
            Ok(Rotation::Rotated(Box::new(account), token.family_id, secret))
        })
        .await?;
    match outcome {
        Rotation::Rotated(account, session, secret) => token_response(state, &account, &session, secret, now),
        Rotation::Reused(session) => {
            state.login_sessions.forget(&[session]);
            tracing::warn!("refresh token reused; token family revoked");
            Err(ApiError::code(ErrorCode::RefreshTokenReused))
        }
        Rotation::Invalid => Err(ApiError::code(ErrorCode::InvalidRefreshToken)),
    }
}

/// Ends the session of a refresh token: its family is revoked and the access tokens issued in
/// it stop at once. Unknown tokens are ignored (nothing to reveal).
pub async fn logout(state: &AppState, presented: SecretString) -> ApiResult<()> {
    let hash = token_hash(presented.expose_secret());
    let token = state.db.run(move |c| refresh_tokens::find_by_hash(c, &hash)).await?;
    match token {
        Some(token) => login_sessions::end_session(state, &token.family_id).await,
        None => Ok(()),
    }
}

/// A session just opened: its id (the refresh-token family) and its first refresh token.
pub struct NewSession {
    pub id: String,
    pub refresh_token: String,
}

/// A fresh family for an account that just proved who it is (login, accepted invitation).
pub fn open_family(
    conn: &mut DbConnection,
    account_id: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> diesel::QueryResult<NewSession> {
    let id = db::new_id();
    let (secret, row) = new_refresh_token(account_id, &id, now, ttl);
    refresh_tokens::insert_refresh_token(conn, &row)?;
    Ok(NewSession { id, refresh_token: secret })
}

fn new_refresh_token(account_id: &str, family_id: &str, now: DateTime<Utc>, ttl: Duration) -> (String, RefreshToken) {
    let secret = random_token(32);
    let row = RefreshToken {
        id: new_id(),
        account_id: account_id.to_owned(),
        family_id: family_id.to_owned(),
        token_hash: token_hash(&secret),
        created_at: to_db(now),
        expires_at: to_db(now + ttl),
        used_at: None,
        revoked_at: None,
    };
    (secret, row)
}

/// Signs an access token for `account` in the session `session_id` and pairs it with `refresh`.
pub fn token_response(
    state: &AppState,
    account: &Account,
    session_id: &str,
    refresh: String,
    now: DateTime<Utc>,
) -> ApiResult<TokenResponse> {
    let role =
        Role::parse(&account.role).ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored role is unknown")))?;
    let access = state.jwt.issue(&account.id, session_id, &account.clinic_id, role, now).map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer".to_owned(),
        expires_in: state.jwt.ttl_secs(),
    })
}
