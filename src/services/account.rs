//! What a signed-in person does to their own account: change the password (every login ends and
//! the caller gets a fresh one) and, for patients, delete the account with everything it holds.
//! Also the pieces the password reset shares: the password's strength against the owner's own
//! words, and the notice email sent after a password was set.

use chrono::{DateTime, Duration, Utc};
use diesel::QueryResult;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    db::{DbConnection, new_id, to_db},
    domain::Role,
    email::{
        Email, message_id,
        templates::{self, AccountDeletedContext, PasswordChangedContext},
    },
    error::{ApiError, ApiResult, ErrorCode},
    i18n::Reader,
    repo::{
        accounts::{self, Account},
        audit::AuditEvent,
        clinics, password_resets, patients, refresh_tokens,
    },
    security::{
        caller::AuthUser,
        mask_email,
        password::{self, PasswordOwner},
    },
    services::{
        auth::{self, TokenResponse},
        export::{self, ErasureReport},
        patients as patient_service,
    },
    state::AppState,
};

/// The words a password must not lean on besides the email: the patient's name (for a patient
/// account) and the clinic's name.
#[derive(Clone, Debug)]
pub struct OwnerWords {
    /// Whom the account's emails are written for: the patient's language and zone, or staff's.
    pub reader: Reader,
    pub name: Option<String>,
    pub clinic_name: String,
    pub clinic_reply_to: Option<String>,
}

/// Reads [`OwnerWords`] for `account`.
pub fn owner_words(c: &mut DbConnection, account: &Account) -> QueryResult<OwnerWords> {
    let clinic = clinics::find_clinic(c, &account.clinic_id)?;
    let patient =
        if account.role == Role::Patient.as_str() { patients::find_by_account(c, &account.id)? } else { None };
    let reader = patient.as_ref().map_or_else(Reader::staff, |p| Reader::patient(&p.language, p.time_zone.tz()));
    Ok(OwnerWords {
        reader,
        name: patient.map(|p| p.name),
        clinic_name: clinic.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        clinic_reply_to: clinic.and_then(|c| c.reply_to),
    })
}

/// The password's length and strength against the owner's email, name and clinic, off the async
/// runtime (zxcvbn takes milliseconds on a long password); a 422 on `field` otherwise.
pub async fn check_strength(password: &SecretString, email: &str, words: &OwnerWords, field: &str) -> ApiResult<()> {
    let (password, email, words) = (password.clone(), email.to_owned(), words.clone());
    tokio::task::spawn_blocking(move || {
        let owner = PasswordOwner { email: &email, name: words.name.as_deref(), clinic_name: Some(&words.clinic_name) };
        password::check_new_password(password.expose_secret(), &owner)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|m| ApiError::invalid(field, m))
}

/// Sends `mail` after the answer, on its own task: a notice must not fail (or slow down) what
/// it tells about, which has already happened. A failure is logged with the address masked.
pub fn send_later(state: &AppState, mail: Email, kind: &'static str) {
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        match mailer.send(&mail).await {
            Ok(()) => tracing::info!(email.kind = kind, email.to = %mask_email(&mail.to), "account email sent"),
            Err(e) => tracing::warn!(
                email.kind = kind,
                email.to = %mask_email(&mail.to),
                error = %crate::security::redact(&e.to_string()),
                "account email not sent"
            ),
        }
    });
}

/// `{public_url}/reset-password`: the page where a reset is asked for (or, with `?token=`, used).
pub fn reset_page_url(state: &AppState) -> String {
    format!("{}/reset-password", state.settings.server.public_url.trim_end_matches('/'))
}

/// The notice that a password was set (`by_reset`: through a reset link; otherwise changed by a
/// signed-in caller), with what to do if it was not the owner.
pub fn password_changed_mail(
    state: &AppState,
    account: &Account,
    words: &OwnerWords,
    at: DateTime<Utc>,
    by_reset: bool,
) -> ApiResult<Email> {
    let reset_url = reset_page_url(state);
    let changed_at = words.reader.datetime_long(at);
    let ctx = PasswordChangedContext {
        clinic_name: &words.clinic_name,
        changed_at: &changed_at,
        by_reset,
        reset_url: &reset_url,
    };
    let mut mail =
        templates::render("password_changed", words.reader.lang, &account.email, ctx).map_err(ApiError::internal)?;
    mail.message_id = Some(message_id(&format!("password-changed-{}", new_id()), &state.settings.server.public_url));
    mail.reply_to = words.clinic_reply_to.clone();
    Ok(mail)
}

/// The caller's account with its owner words; 401 when the account is gone (erased meanwhile).
async fn load_own(state: &AppState, user: &AuthUser) -> ApiResult<(Account, OwnerWords)> {
    let id = user.account_id.clone();
    state
        .db
        .run(move |c| {
            let Some(account) = accounts::find_account(c, &id)? else { return Ok(None) };
            let words = owner_words(c, &account)?;
            Ok(Some((account, words)))
        })
        .await?
        .ok_or_else(|| ApiError::code(ErrorCode::InvalidToken))
}

/// Counts an attempt at `what` by the caller (per account, the login limit): 429 past it.
fn limit(state: &AppState, what: &str, user: &AuthUser) -> ApiResult<()> {
    state.login_limiter.check_account(&format!("{what}:{}", user.account_id)).map_err(ApiError::too_many_requests)
}

/// Verifies the caller's password; 403 `wrong_password` otherwise.
async fn verify(state: &AppState, account: &Account, password: SecretString) -> ApiResult<()> {
    if state.hasher.verify(password, Some(account.password_hash.clone())).await? {
        Ok(())
    } else {
        tracing::info!(account.id = %account.id, "wrong password for an account change");
        Err(ApiError::code(ErrorCode::WrongPassword))
    }
}

/// Changes the caller's password: `current` must be right (403 `wrong_password`), `new` follows
/// the password rule (422 on `new`). Every login of the account ends (refresh tokens revoked,
/// access tokens refused at once) and open reset links close; the caller gets the tokens of a
/// new login so the app stays signed in. The owner is told by email.
pub async fn change_password(
    state: &AppState,
    user: &AuthUser,
    current: SecretString,
    new: SecretString,
) -> ApiResult<TokenResponse> {
    limit(state, "password-change", user)?;
    password::check_policy(new.expose_secret()).map_err(|m| ApiError::invalid("new", m))?;
    let (account, words) = load_own(state, user).await?;
    verify(state, &account, current.clone()).await?;
    if current.expose_secret() == new.expose_secret() {
        return Err(ApiError::invalid("new", "must differ from the current password"));
    }
    check_strength(&new, &account.email, &words, "new").await?;
    let new_hash = state.hasher.hash(new).await?;
    let now = state.now();
    let ttl = Duration::days(state.settings.auth.refresh_token_ttl_days);
    let (id, old_hash) = (account.id.clone(), account.password_hash.clone());
    let (ended, session) = state
        .db
        .write(move |c| -> ApiResult<(Vec<String>, auth::NewSession)> {
            // The account row first (a concurrent login or refresh waits for it, then fails).
            if !accounts::update_password_hash(c, &id, &old_hash, &new_hash, to_db(now))? {
                return Err(ApiError::new(ErrorCode::Conflict, "The password was changed meanwhile; log in again"));
            }
            password_resets::close_for_account(c, &id, to_db(now))?;
            let ended = refresh_tokens::revoke_account_families(c, &id, to_db(now))?;
            Ok((ended, auth::open_family(c, &id, now, ttl)?))
        })
        .await?;
    state.login_sessions.forget(&ended);
    tracing::info!(account.id = %account.id, sessions.ended = ended.len(), "password changed");
    send_later(state, password_changed_mail(state, &account, &words, now, false)?, "password_changed");
    auth::token_response(state, &account, &session.id, session.refresh_token, now)
}

/// A patient deletes their own account (the app stores' rule): with the password right (403
/// `wrong_password`), the same erasure as an admin's runs, a confirmation goes to the account's
/// address (read before it is erased), and the counts come back. Staff get 403: an admin
/// deactivates them instead.
pub async fn delete_own_account(state: &AppState, user: &AuthUser, password: SecretString) -> ApiResult<ErasureReport> {
    if user.role != Role::Patient {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Staff accounts cannot delete themselves; an admin of the clinic deactivates them",
        ));
    }
    limit(state, "account-deletion", user)?;
    let (account, words) = load_own(state, user).await?;
    verify(state, &account, password).await?;
    let patient = patient_service::own(state, user).await?;
    let now = state.now();
    // The patient and their login are taken out of the trail: the event says a patient erased a
    // record of this clinic, not whose.
    let event = AuditEvent {
        id: new_id(),
        clinic_id: user.clinic_id.clone(),
        actor_account_id: None,
        actor_role: Some(Role::Patient.as_str().to_owned()),
        action: crate::services::audit::Action::Erase.as_str().to_owned(),
        resource_type: "patient".to_owned(),
        resource_id: None,
        patient_id: None,
        request_id: Some(user.request_id.clone()),
        created_at: to_db(now),
    };
    let report = export::erase_record(state, patient, event).await?;
    tracing::info!("patient deleted their own account");
    let deleted_at = words.reader.datetime_long(now);
    let ctx = AccountDeletedContext { clinic_name: &words.clinic_name, deleted_at: &deleted_at };
    match templates::render("account_deleted", words.reader.lang, &account.email, ctx) {
        Ok(mut mail) => {
            mail.message_id =
                Some(message_id(&format!("account-deleted-{}", new_id()), &state.settings.server.public_url));
            mail.reply_to = words.clinic_reply_to.clone();
            send_later(state, mail, "account_deleted");
        }
        Err(e) => tracing::error!(error = %e, "cannot render the deletion confirmation"),
    }
    Ok(report)
}
