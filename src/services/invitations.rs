//! Invitations: an admin invites staff by email; the invitee sets a password with the one-time
//! token and is logged in.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{from_db, is_unique_violation, new_id, to_db},
    domain::Role,
    email::templates::{self, InvitationContext},
    error::{ApiError, ApiResult, ErrorCode},
    repo::{
        accounts::{self, Account},
        clinics,
        invitations::{self, Invitation},
    },
    security::{password, random_token, token_hash},
    services::auth::{self, TokenResponse},
    state::AppState,
};

/// An invitation as shown to the admin who sent it (the token itself only travels by email).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

/// Creates an invitation for `email` into `clinic_id` and emails its token.
pub async fn invite(
    state: &AppState,
    clinic_id: &str,
    invited_by: &str,
    email: String,
    role: Role,
) -> ApiResult<InvitationView> {
    let now = state.now();
    let token = random_token(32);
    let row = Invitation {
        id: new_id(),
        clinic_id: clinic_id.to_owned(),
        email: email.clone(),
        role: role.as_str().to_owned(),
        token_hash: token_hash(&token),
        invited_by: Some(invited_by.to_owned()),
        created_at: to_db(now),
        expires_at: to_db(now + Duration::hours(state.settings.auth.invitation_ttl_hours)),
        accepted_at: None,
        patient_id: None,
    };
    let stored = row.clone();
    let clinic = state
        .db
        .write(move |c| -> ApiResult<clinics::Clinic> {
            if accounts::email_taken(c, &stored.email)? {
                return Err(ApiError::code(ErrorCode::AccountExists));
            }
            invitations::insert_invitation(c, &stored)?;
            clinics::find_clinic(c, &stored.clinic_id)?.ok_or_else(ApiError::not_found)
        })
        .await?;

    let accept_url = format!("{}/invite?token={token}", state.settings.server.public_url.trim_end_matches('/'));
    let expires_at = from_db(row.expires_at);
    let mail = templates::render(
        "invitation",
        &email,
        InvitationContext {
            clinic_name: &clinic.name,
            role: role.as_str(),
            accept_url: &accept_url,
            token: &token,
            expires_at: &expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        },
    )
    .map_err(ApiError::internal)?;
    if let Err(e) = state.mailer.send(&mail).await {
        // The invitation is useless without its email: take it back so nothing half-done stays.
        let id = row.id.clone();
        state.db.write(move |c| -> ApiResult<usize> { Ok(invitations::delete_invitation(c, &id)?) }).await?;
        return Err(ApiError::new(
            ErrorCode::MailUnavailable,
            format!("The invitation email could not be sent ({})", short(&e)),
        ));
    }
    Ok(InvitationView { id: row.id, email, role, expires_at })
}

fn short(e: &crate::email::MailError) -> &'static str {
    match e {
        crate::email::MailError::Transient(_) => "mail server unavailable",
        crate::email::MailError::Permanent(_) => "address refused",
    }
}

/// Sets the invitee's password, creates the account and logs it in.
pub async fn accept(state: &AppState, token: &str, password: SecretString) -> ApiResult<TokenResponse> {
    password::check_policy(password.expose_secret()).map_err(|m| ApiError::invalid("password", m))?;
    let hash = token_hash(token);
    let known = state.db.run(move |c| invitations::find_by_hash(c, &hash)).await?;
    let invitation = known.ok_or_else(|| ApiError::code(ErrorCode::InvitationNotFound))?;
    check_usable(&invitation, state.now())?;

    let password_hash = state.hasher.hash(password).await?;
    let now = state.now();
    let ttl = Duration::days(state.settings.auth.refresh_token_ttl_days);
    let (account, session) = state
        .db
        .write(move |c| -> ApiResult<(Account, auth::NewSession)> {
            check_usable(&invitation, now)?;
            if !invitations::mark_accepted(c, &invitation.id, to_db(now))? {
                return Err(ApiError::code(ErrorCode::InvitationAlreadyUsed));
            }
            if accounts::email_taken(c, &invitation.email)? {
                return Err(ApiError::code(ErrorCode::AccountExists));
            }
            let account = Account {
                id: new_id(),
                clinic_id: invitation.clinic_id.clone(),
                email: invitation.email.clone(),
                password_hash,
                role: invitation.role.clone(),
                created_at: to_db(now),
                updated_at: to_db(now),
            };
            accounts::insert_account(c, &account).map_err(|e| {
                if is_unique_violation(&e) { ApiError::code(ErrorCode::AccountExists) } else { e.into() }
            })?;
            if let Some(patient_id) = &invitation.patient_id {
                crate::services::patients::link_account(c, patient_id, &account.id)?;
            }
            let session = auth::open_family(c, &account.id, now, ttl)?;
            Ok((account, session))
        })
        .await?;
    tracing::info!(account.id = %account.id, account.role = %account.role, "invitation accepted");
    auth::token_response(state, &account, &session.id, session.refresh_token, now)
}

fn check_usable(invitation: &Invitation, now: DateTime<Utc>) -> ApiResult<()> {
    if invitation.accepted_at.is_some() {
        return Err(ApiError::code(ErrorCode::InvitationAlreadyUsed));
    }
    if from_db(invitation.expires_at) <= now {
        return Err(ApiError::code(ErrorCode::InvitationExpired));
    }
    Ok(())
}
