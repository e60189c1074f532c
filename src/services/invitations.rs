//! Invitations: an admin invites staff by email (and staff invite patients, in
//! `services::patients`); the invitee sets a password with the one-time token and is logged in.
//!
//! An invitation belongs to the address it was sent to: it can be revoked, a patient's email
//! change revokes theirs, and accepting needs it open and still addressed to the patient. An
//! address that already has an account in another clinic is answered like any other (no
//! "account exists" that would tell one clinic about another's users): its owner gets a notice
//! instead of the token, so that invitation can never be accepted.

use chrono::{DateTime, Duration, Utc};
use diesel::QueryResult;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, from_db, is_unique_violation, new_id, to_db},
    domain::Role,
    email::{
        Email, MailError, message_id,
        templates::{self, ExistingAccountContext, InvitationContext},
    },
    error::{ApiError, ApiResult, ErrorCode},
    i18n::{Lang, Reader},
    repo::{
        accounts::{self, Account},
        clinics, invitations,
        invitations::Invitation,
        patients,
    },
    security::{
        password::{self, PasswordOwner},
        random_token, token_hash,
    },
    services::auth::{self, TokenResponse},
    state::AppState,
};

/// An invitation as staff see it (the token itself only travels by email).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The patient record a patient invitation was made for.
    pub patient_id: Option<String>,
    /// The account that sent it.
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl InvitationView {
    /// The view of a stored row; `None` for a role this build does not know.
    pub fn of(row: Invitation) -> Option<Self> {
        Some(Self {
            role: Role::parse(&row.role)?,
            id: row.id,
            email: row.email,
            patient_id: row.patient_id,
            invited_by: row.invited_by,
            created_at: from_db(row.created_at),
            expires_at: from_db(row.expires_at),
        })
    }
}

/// A new invitation row for `email` (not stored) and its token.
pub fn new_invitation(
    state: &AppState,
    clinic_id: &str,
    invited_by: &str,
    email: &str,
    role: Role,
    patient_id: Option<&str>,
) -> (Invitation, String) {
    let now = state.now();
    let token = random_token(32);
    let row = Invitation {
        id: new_id(),
        clinic_id: clinic_id.to_owned(),
        email: email.to_owned(),
        role: role.as_str().to_owned(),
        token_hash: token_hash(&token),
        invited_by: Some(invited_by.to_owned()),
        created_at: to_db(now),
        expires_at: to_db(now + Duration::hours(state.settings.auth.invitation_ttl_hours)),
        accepted_at: None,
        patient_id: patient_id.map(str::to_owned),
        revoked_at: None,
    };
    (row, token)
}

/// The email for a new invitation: the token (`template`), or, when the address already has an
/// account, a notice to its owner that carries no token; in the `reader`'s language, with the
/// expiry in their zone; replies go to the clinic when it has an address for them.
pub fn invitation_mail(
    state: &AppState,
    template: &str,
    row: &Invitation,
    token: &str,
    clinic: &clinics::Clinic,
    has_account: bool,
    reader: Reader,
) -> ApiResult<Email> {
    let clinic_name = clinic.name.as_str();
    let (kind, rendered) = if has_account {
        (
            "notice",
            templates::render("existing_account", reader.lang, &row.email, ExistingAccountContext { clinic_name }),
        )
    } else {
        let accept_url = format!("{}/invite?token={token}", state.settings.server.public_url.trim_end_matches('/'));
        let expires_at = reader.datetime_long(from_db(row.expires_at));
        let ctx =
            InvitationContext { clinic_name, role: &row.role, accept_url: &accept_url, token, expires_at: &expires_at };
        ("invitation", templates::render(template, reader.lang, &row.email, ctx))
    };
    let mut mail = rendered.map_err(ApiError::internal)?;
    mail.message_id = Some(message_id(&format!("{kind}-{}", row.id), &state.settings.server.public_url));
    mail.reply_to = clinic.reply_to.clone();
    Ok(mail)
}

/// Sends an invitation's email; if it cannot be sent, deletes the invitation (useless without
/// its email) so nothing half-done stays, and answers 503 `mail_unavailable`.
pub async fn send_or_take_back(state: &AppState, mail: &Email, invitation_id: &str) -> ApiResult<()> {
    let Err(e) = state.mailer.send(mail).await else {
        return Ok(());
    };
    let id = invitation_id.to_owned();
    state.db.write(move |c| -> ApiResult<usize> { Ok(invitations::delete_invitation(c, &id)?) }).await?;
    Err(ApiError::new(ErrorCode::MailUnavailable, format!("The invitation email could not be sent ({})", short(&e))))
}

/// Creates a staff invitation for `email` into `clinic_id` and emails it. An account with this
/// email in the same clinic is 409 `account_exists` (the admin sees their staff and patients
/// anyway); one in another clinic gets the notice, and the answer is the same as for anyone.
pub async fn invite(
    state: &AppState,
    clinic_id: &str,
    invited_by: &str,
    email: String,
    role: Role,
) -> ApiResult<InvitationView> {
    let (row, token) = new_invitation(state, clinic_id, invited_by, &email, role, None);
    let stored = row.clone();
    let (clinic, has_account) = state
        .db
        .write(move |c| -> ApiResult<(clinics::Clinic, bool)> {
            let has_account = match accounts::find_account_by_email(c, &stored.email)? {
                Some(a) if a.clinic_id == stored.clinic_id => return Err(ApiError::code(ErrorCode::AccountExists)),
                found => found.is_some(),
            };
            invitations::insert_invitation(c, &stored)?;
            let clinic = clinics::find_clinic(c, &stored.clinic_id)?.ok_or_else(ApiError::not_found)?;
            Ok((clinic, has_account))
        })
        .await?;
    let mail = invitation_mail(state, "invitation", &row, &token, &clinic, has_account, Reader::staff())?;
    send_or_take_back(state, &mail, &row.id).await?;
    InvitationView::of(row).ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role")))
}

fn short(e: &MailError) -> &'static str {
    match e {
        MailError::Transient(_) => "mail server unavailable",
        MailError::Permanent(_) => "address refused",
    }
}

/// A page of the clinic's open invitations, newest first (`fetch` rows, after `cursor`);
/// patient invitations only with `patients_only`.
pub async fn list_open(
    state: &AppState,
    clinic_id: &str,
    patients_only: bool,
    cursor: Option<String>,
    fetch: i64,
) -> ApiResult<Vec<InvitationView>> {
    let (clinic, now) = (clinic_id.to_owned(), to_db(state.now()));
    let rows =
        state.db.run(move |c| invitations::find_open(c, &clinic, patients_only, now, cursor.as_deref(), fetch)).await?;
    Ok(rows.into_iter().filter_map(InvitationView::of).collect())
}

/// Revokes an invitation of the clinic (a patient invitation only with `patients_only`): 404
/// outside that, 409 `invitation_already_used` once accepted; revoking twice is a no-op.
pub async fn revoke(state: &AppState, clinic_id: &str, patients_only: bool, id: &str) -> ApiResult<()> {
    let (clinic, id, now) = (clinic_id.to_owned(), id.to_owned(), to_db(state.now()));
    state
        .db
        .write(move |c| -> ApiResult<()> {
            let invitation = invitations::find_invitation(c, &id)?
                .filter(|i| i.clinic_id == clinic && (!patients_only || i.patient_id.is_some()))
                .ok_or_else(ApiError::not_found)?;
            if invitation.accepted_at.is_some() {
                return Err(ApiError::code(ErrorCode::InvitationAlreadyUsed));
            }
            invitations::revoke_invitation(c, &invitation.id, now)?;
            Ok(())
        })
        .await
}

/// An invitation with what accepting it needs: its clinic's name and, for a patient
/// invitation, the patient record's name and current email.
#[derive(Clone)]
struct Invitee {
    invitation: Invitation,
    clinic_name: String,
    patient: Option<(String, Option<String>)>,
}

fn find_invitee(c: &mut DbConnection, invitation: Option<Invitation>) -> QueryResult<Option<Invitee>> {
    let Some(invitation) = invitation else {
        return Ok(None);
    };
    // The clinic exists (foreign key); its name is only a word the password may not lean on.
    let clinic_name = clinics::find_clinic(c, &invitation.clinic_id)?.map(|c| c.name).unwrap_or_default();
    let patient = match &invitation.patient_id {
        Some(id) => patients::find_by_id(c, id)?.map(|p| (p.name, p.email)),
        None => None,
    };
    Ok(Some(Invitee { invitation, clinic_name, patient }))
}

/// What the invitation page shows before the password is chosen.
#[derive(Debug, Clone)]
pub struct InvitationPreview {
    pub clinic_name: String,
    pub email: String,
    /// Whether it invites a patient (who goes on in the app) rather than staff.
    pub for_patient: bool,
    /// The invited patient's language; `None` for staff (the page follows the browser).
    pub language: Option<Lang>,
}

/// The invitation `token` opens, if it can be accepted now: the same answers as [`accept`]
/// (404 unknown or revoked, 409 expired or used). Changes nothing.
pub async fn preview(state: &AppState, token: &str) -> ApiResult<InvitationPreview> {
    let hash = token_hash(token);
    let found = state
        .db
        .run(move |c| -> QueryResult<Option<(Invitee, Option<String>)>> {
            let found = invitations::find_by_hash(c, &hash)?;
            let Some(invitee) = find_invitee(c, found)? else { return Ok(None) };
            let language = match &invitee.invitation.patient_id {
                Some(id) => patients::find_by_id(c, id)?.map(|p| p.language),
                None => None,
            };
            Ok(Some((invitee, language)))
        })
        .await?;
    let (invitee, language) = found.ok_or_else(|| ApiError::code(ErrorCode::InvitationNotFound))?;
    check_usable(&invitee, state.now())?;
    Ok(InvitationPreview {
        clinic_name: invitee.clinic_name,
        email: invitee.invitation.email.clone(),
        for_patient: invitee.invitation.patient_id.is_some(),
        language: language.as_deref().map(Lang::from_tag),
    })
}

/// Sets the invitee's password, creates the account and logs it in.
pub async fn accept(state: &AppState, token: &str, password: SecretString) -> ApiResult<TokenResponse> {
    password::check_policy(password.expose_secret()).map_err(|m| ApiError::invalid("password", m))?;
    let hash = token_hash(token);
    let known = state
        .db
        .run(move |c| {
            let found = invitations::find_by_hash(c, &hash)?;
            find_invitee(c, found)
        })
        .await?;
    let invitee = known.ok_or_else(|| ApiError::code(ErrorCode::InvitationNotFound))?;
    check_usable(&invitee, state.now())?;
    check_strength(&password, &invitee).await?;

    let password_hash = state.hasher.hash(password).await?;
    let now = state.now();
    let ttl = Duration::days(state.settings.auth.refresh_token_ttl_days);
    let id = invitee.invitation.id;
    let (account, session) = state
        .db
        .write(move |c| -> ApiResult<(Account, auth::NewSession)> {
            let found = invitations::find_invitation(c, &id)?;
            let invitee = find_invitee(c, found)?.ok_or_else(|| ApiError::code(ErrorCode::InvitationNotFound))?;
            check_usable(&invitee, now)?;
            let invitation = invitee.invitation;
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
                deactivated_at: None,
            };
            accounts::insert_account(c, &account).map_err(|e| {
                if is_unique_violation(&e) { ApiError::code(ErrorCode::AccountExists) } else { e.into() }
            })?;
            if let Some(patient_id) = &invitation.patient_id {
                crate::services::patients::link_account(c, patient_id, &account.id, &invitation.email)?;
            }
            let session = auth::open_family(c, &account.id, now, ttl)?;
            Ok((account, session))
        })
        .await?;
    tracing::info!(account.id = %account.id, account.role = %account.role, "invitation accepted");
    auth::token_response(state, &account, &session.id, session.refresh_token, now)
}

/// The password's strength against the invitee's email, name and clinic (off the async
/// runtime: a long password costs zxcvbn milliseconds).
async fn check_strength(password: &SecretString, invitee: &Invitee) -> ApiResult<()> {
    let (password, invitee) = (password.clone(), invitee.clone());
    tokio::task::spawn_blocking(move || {
        let owner = PasswordOwner {
            email: &invitee.invitation.email,
            name: invitee.patient.as_ref().map(|(name, _)| name.as_str()),
            clinic_name: Some(&invitee.clinic_name),
        };
        password::check_new_password(password.expose_secret(), &owner)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|m| ApiError::invalid("password", m))
}

/// Open, and still addressed to its patient. A revoked invitation, or one whose patient's email
/// has changed since, answers like an unknown token: nothing tells which.
fn check_usable(invitee: &Invitee, now: DateTime<Utc>) -> ApiResult<()> {
    let invitation = &invitee.invitation;
    let readdressed = invitation.patient_id.is_some()
        && invitee.patient.as_ref().and_then(|(_, email)| email.as_deref()) != Some(invitation.email.as_str());
    if invitation.revoked_at.is_some() || readdressed {
        return Err(ApiError::code(ErrorCode::InvitationNotFound));
    }
    if invitation.accepted_at.is_some() {
        return Err(ApiError::code(ErrorCode::InvitationAlreadyUsed));
    }
    if from_db(invitation.expires_at) <= now {
        return Err(ApiError::code(ErrorCode::InvitationExpired));
    }
    Ok(())
}
