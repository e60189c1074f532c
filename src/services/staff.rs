//! The clinic's staff and their lifecycle: admins list them, deactivate and reactivate them. A
//! deactivated account keeps its row (its name on alerts and audit events) but cannot log in or
//! refresh, and every login it had ends at once; the clinic always keeps one active admin.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{from_db, to_db},
    domain::Role,
    error::{ApiError, ApiResult, ErrorCode},
    repo::{
        accounts::{self, Account},
        password_resets, refresh_tokens,
    },
    security::caller::AuthUser,
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffMember {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// False while an admin has deactivated the account (it cannot log in).
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl StaffMember {
    fn of(a: Account) -> Option<Self> {
        Some(Self {
            role: Role::parse(&a.role)?,
            active: a.is_active(),
            id: a.id,
            email: a.email,
            created_at: from_db(a.created_at),
        })
    }
}

/// The clinic's admins and clinicians, active or not, oldest first (admins only).
pub async fn list(state: &AppState, user: &AuthUser, q: &PageParams) -> ApiResult<Page<StaffMember>> {
    user.require_admin()?;
    let (limit, after) = q.resolve()?;
    let clinic = user.clinic_id.clone();
    let rows = state.db.run(move |c| accounts::page_staff(c, &clinic, after.as_deref(), fetch_limit(limit))).await?;
    let page = Page::from_rows(rows, limit, |a| a.id.as_str(), StaffMember::of);
    Ok(Page { items: page.items.into_iter().flatten().collect(), next_cursor: page.next_cursor })
}

/// Deactivates (`active: false`) or reactivates a staff account of the admin's clinic; 404 for
/// any other id (another clinic's, a patient's). Deactivating ends every login of the account at
/// once and closes its reset links; the clinic's last active admin cannot be deactivated (409
/// `last_admin`), which also covers an admin deactivating themselves. Both are idempotent.
pub async fn set_active(state: &AppState, user: &AuthUser, id: &str, active: bool) -> ApiResult<StaffMember> {
    user.require_admin()?;
    let (clinic, id, now) = (user.clinic_id.clone(), id.to_owned(), to_db(state.now()));
    let (account, ended) = state
        .db
        .write(move |c| -> ApiResult<(Account, Vec<String>)> {
            // One status change per clinic at a time: two admins deactivating each other at once
            // must not both pass the last-admin check.
            accounts::lock_clinic_staff(c, &clinic)?;
            let account = accounts::find_account(c, &id)?
                .filter(|a| a.clinic_id == clinic && a.role != Role::Patient.as_str())
                .ok_or_else(ApiError::not_found)?;
            let mut ended = Vec::new();
            match (active, account.is_active()) {
                (true, false) => {
                    accounts::update_deactivated_at(c, &account.id, None, now)?;
                }
                (false, true) => {
                    if account.role == Role::Admin.as_str()
                        && accounts::count_other_active_admins(c, &clinic, &account.id)? == 0
                    {
                        return Err(ApiError::code(ErrorCode::LastAdmin));
                    }
                    // The account row first, then its sessions (see `accounts::lock_if_usable`).
                    accounts::update_deactivated_at(c, &account.id, Some(now), now)?;
                    password_resets::close_for_account(c, &account.id, now)?;
                    ended = refresh_tokens::revoke_account_families(c, &account.id, now)?;
                }
                _ => {}
            }
            let account = accounts::find_account(c, &account.id)?.ok_or_else(ApiError::not_found)?;
            Ok((account, ended))
        })
        .await?;
    state.login_sessions.forget(&ended);
    tracing::info!(account.id = %account.id, account.active = account.is_active(), sessions.ended = ended.len(), "staff status set");
    StaffMember::of(account).ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored role is unknown")))
}
