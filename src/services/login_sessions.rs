//! Login sessions: every access token names the session it was issued to (`sid`, the family of
//! refresh tokens one login opened), and works only while that session is live. So logout,
//! a reused refresh token, erasure and "end every session of this account" (password change,
//! staff deactivation) stop access tokens at once instead of when they expire. The check runs on
//! every authenticated request, so its answer is cached briefly per session.

pub use crate::security::sessions::{SESSION_CHECK_TTL, SessionCache};
use crate::{db::to_db, error::ApiResult, repo::refresh_tokens, security::jwt::Claims, state::AppState};

/// Whether the session an access token names is still live (and so its account still exists).
pub async fn is_live(state: &AppState, claims: &Claims) -> ApiResult<bool> {
    let cache = &state.login_sessions;
    if let Some(live) = cache.get(&claims.sid) {
        return Ok(live);
    }
    let generation = cache.generation();
    let (sid, sub) = (claims.sid.clone(), claims.sub.clone());
    let live = state.db.run(move |c| refresh_tokens::is_session_live(c, &sid, &sub)).await?;
    cache.remember(&claims.sid, live, generation);
    Ok(live)
}

/// Ends one session (logout): its refresh tokens are revoked and its access tokens refused.
pub async fn end_session(state: &AppState, session_id: &str) -> ApiResult<()> {
    let (sid, now) = (session_id.to_owned(), to_db(state.now()));
    state.db.write(move |c| -> ApiResult<usize> { Ok(refresh_tokens::revoke_family(c, &sid, now)?) }).await?;
    state.login_sessions.forget(&[session_id]);
    Ok(())
}

/// Ends every session of an account (password change, staff deactivation); returns how many.
/// Inside a larger transaction, call [`refresh_tokens::revoke_account_families`] there and
/// [`SessionCache::forget`] after the commit instead.
pub async fn end_all_sessions(state: &AppState, account_id: &str) -> ApiResult<usize> {
    let (account, now) = (account_id.to_owned(), to_db(state.now()));
    let ended = state
        .db
        .write(move |c| -> ApiResult<Vec<String>> { Ok(refresh_tokens::revoke_account_families(c, &account, now)?) })
        .await?;
    state.login_sessions.forget(&ended);
    tracing::info!(account.id = %account_id, sessions.ended = ended.len(), "every session of the account ended");
    Ok(ended.len())
}
