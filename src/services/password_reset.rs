//! Password reset by email: [`request`] mails a single-use link valid one hour, [`confirm`] sets
//! the new password with its token and ends every login of the account. Only the token's SHA-256
//! is stored, as for invitations.
//!
//! Nothing in the answer to [`request`] depends on whether the address has an account: after
//! checking the address's form and counting the attempt against the rate limits, it answers and
//! hands the address to a task of its own, which looks the account up, stores the token and
//! sends the email. The request does the same work for every address, so its timing tells
//! nothing either, however slow the mail server is. The price: a reset email that fails (or a
//! process that stops in those milliseconds) is not retried; the person asks again. A retrying
//! outbox would have to keep the token readable in the database, which is what storing only
//! its hash avoids.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    db::{from_db, new_id, to_db},
    email::{
        Email, message_id,
        templates::{self, PasswordResetContext},
    },
    error::{ApiError, ApiResult, ErrorCode},
    i18n::Lang,
    repo::{
        accounts::{self, Account},
        password_resets::{self, PasswordReset},
        refresh_tokens,
    },
    security::{mask_email, normalize_email, password, random_token, token_hash},
    services::account::{self, OwnerWords},
    state::AppState,
};

/// How long a reset link works.
pub const RESET_TTL: Duration = Duration::hours(1);

/// Reset emails an account gets per hour at most, whoever asks (further requests are answered
/// the same and send nothing): the per-minute limits alone would let someone fill a mailbox.
pub const MAX_RESETS_PER_HOUR: i64 = 3;

/// Asks for a reset link for `email`. `Ok(())` whether or not the address has an account (the
/// email, if any, is sent after the answer; see the module notes). Rate-limited per client IP
/// and per address: 429 `too_many_requests`. An address that is not one is 422 on `email`.
pub async fn request(state: &AppState, email: &str, ip: &str) -> ApiResult<()> {
    let email = normalize_email(email).ok_or_else(|| ApiError::invalid("email", "is not an email address"))?;
    let limiter = &state.login_limiter;
    limiter.check_ip(&format!("reset-ip:{ip}")).map_err(ApiError::too_many_requests)?;
    limiter.check_account(&format!("reset-email:{email}")).map_err(ApiError::too_many_requests)?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = issue(&state, &email).await {
            tracing::warn!(account.email = %mask_email(&email), error = %e, "password reset email not sent");
        }
    });
    Ok(())
}

/// Looks the address up and, for an active account under the hourly cap, stores a token and
/// mails its link. Unknown addresses, deactivated accounts and capped ones get nothing.
async fn issue(state: &AppState, email: &str) -> ApiResult<()> {
    let now = state.now();
    let token = random_token(32);
    let (lookup, hash) = (email.to_owned(), token_hash(&token));
    let issued = state
        .db
        .write(move |c| -> ApiResult<Option<(PasswordReset, Account, OwnerWords)>> {
            let Some(account) = accounts::find_account_by_email(c, &lookup)?.filter(Account::is_active) else {
                return Ok(None);
            };
            if password_resets::count_issued_since(c, &account.id, to_db(now - Duration::hours(1)))?
                >= MAX_RESETS_PER_HOUR
            {
                tracing::info!(account.id = %account.id, "password reset not sent: hourly cap reached");
                return Ok(None);
            }
            let row = PasswordReset {
                id: new_id(),
                account_id: account.id.clone(),
                token_hash: hash,
                created_at: to_db(now),
                expires_at: to_db(now + RESET_TTL),
                used_at: None,
            };
            password_resets::insert_password_reset(c, &row)?;
            let words = account::owner_words(c, &account)?;
            Ok(Some((row, account, words)))
        })
        .await?;
    let Some((row, account, words)) = issued else { return Ok(()) };
    let mail = reset_mail(state, &row, &account, &words, &token)?;
    if let Err(e) = state.mailer.send(&mail).await {
        // Useless without its email; and it should not count against the hourly cap.
        let id = row.id.clone();
        state.db.write(move |c| -> ApiResult<usize> { Ok(password_resets::delete_password_reset(c, &id)?) }).await?;
        return Err(ApiError::internal(anyhow::anyhow!("{e}")));
    }
    tracing::info!(account.id = %account.id, "password reset email sent");
    Ok(())
}

fn reset_mail(
    state: &AppState,
    row: &PasswordReset,
    account: &Account,
    words: &OwnerWords,
    token: &str,
) -> ApiResult<Email> {
    let reset_url = format!("{}?token={token}", account::reset_page_url(state));
    let expires_at = words.reader.datetime_long(from_db(row.expires_at));
    let ctx =
        PasswordResetContext { clinic_name: &words.clinic_name, reset_url: &reset_url, token, expires_at: &expires_at };
    let mut mail =
        templates::render("password_reset", words.reader.lang, &account.email, ctx).map_err(ApiError::internal)?;
    mail.message_id = Some(message_id(&format!("password-reset-{}", row.id), &state.settings.server.public_url));
    mail.reply_to = words.clinic_reply_to.clone();
    Ok(mail)
}

/// Usable now: not used (nor closed by a password change or deactivation), not expired, and
/// its account active.
fn usable(reset: &PasswordReset, account: &Account, now: DateTime<Utc>) -> bool {
    reset.used_at.is_none() && from_db(reset.expires_at) > now && account.is_active()
}

fn invalid() -> ApiError {
    ApiError::code(ErrorCode::InvalidResetToken)
}

/// Whether `token` would be accepted now (for a page that shows the form or says the link is
/// spent). Changes nothing.
pub async fn is_usable(state: &AppState, token: &str) -> ApiResult<bool> {
    let (hash, now) = (token_hash(token), state.now());
    state
        .db
        .run(move |c| {
            let Some(reset) = password_resets::find_by_hash(c, &hash)? else { return Ok(false) };
            let account = accounts::find_account(c, &reset.account_id)?;
            Ok(account.is_some_and(|a| usable(&reset, &a, now)))
        })
        .await
        .map_err(Into::into)
}

/// The language of the account a usable `token` resets (its page is written in it), or the
/// one answer for every unusable token: 400 `invalid_reset_token`. Changes nothing.
pub async fn language(state: &AppState, token: &str) -> ApiResult<Lang> {
    let (hash, now) = (token_hash(token), state.now());
    let found = state
        .db
        .run(move |c| {
            let Some(reset) = password_resets::find_by_hash(c, &hash)? else { return Ok(None) };
            let Some(account) = accounts::find_account(c, &reset.account_id)? else { return Ok(None) };
            if !usable(&reset, &account, now) {
                return Ok(None);
            }
            account::owner_words(c, &account).map(|w| Some(w.reader.lang))
        })
        .await?;
    found.ok_or_else(invalid)
}

/// Sets a new password with a reset token. An unknown, expired, used or closed token, or one of
/// a deactivated account, is one answer: 400 `invalid_reset_token`. The password follows the
/// rule for every new password (422 on `password`). Every login of the account ends at once,
/// the account's other reset links close, and the owner is told by email. It does not log in.
pub async fn confirm(state: &AppState, token: &str, password: SecretString) -> ApiResult<()> {
    password::check_policy(password.expose_secret()).map_err(|m| ApiError::invalid("password", m))?;
    let (hash, now) = (token_hash(token), state.now());
    let found = state
        .db
        .run(move |c| {
            let Some(reset) = password_resets::find_by_hash(c, &hash)? else { return Ok(None) };
            let Some(account) = accounts::find_account(c, &reset.account_id)? else { return Ok(None) };
            let words = account::owner_words(c, &account)?;
            Ok(Some((reset, account, words)))
        })
        .await?;
    let (reset, account, words) = found.filter(|(r, a, _)| usable(r, a, now)).ok_or_else(invalid)?;
    account::check_strength(&password, &account.email, &words, "password").await?;
    let new_hash = state.hasher.hash(password).await?;
    let now = state.now();
    let (reset_id, id, old_hash) = (reset.id.clone(), account.id.clone(), account.password_hash.clone());
    let ended = state
        .db
        .write(move |c| -> ApiResult<Vec<String>> {
            // Re-checked here: used by a concurrent confirm, closed by a change or a
            // deactivation, or expired while the password was hashed.
            let fresh = password_resets::find_password_reset(c, &reset_id)?;
            if fresh.as_ref().is_none_or(|r| r.used_at.is_some() || from_db(r.expires_at) <= now) {
                return Err(invalid());
            }
            if !accounts::update_password_hash(c, &id, &old_hash, &new_hash, to_db(now))? {
                return Err(invalid());
            }
            if !password_resets::mark_used(c, &reset_id, to_db(now))? {
                return Err(invalid());
            }
            password_resets::close_for_account(c, &id, to_db(now))?;
            Ok(refresh_tokens::revoke_account_families(c, &id, to_db(now))?)
        })
        .await?;
    state.login_sessions.forget(&ended);
    tracing::info!(account.id = %account.id, sessions.ended = ended.len(), "password reset");
    account::send_later(state, account::password_changed_mail(state, &account, &words, now, true)?, "password_changed");
    Ok(())
}
