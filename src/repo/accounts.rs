//! Accounts: a login (email + argon2id hash) with a role, in one clinic. A staff account can be
//! deactivated (kept, but unable to log in) and reactivated.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{
    DbConnection,
    schema::{accounts, clinics},
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub clinic_id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Set while an admin has deactivated the account: it cannot log in.
    pub deactivated_at: Option<NaiveDateTime>,
}

impl Account {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

pub fn insert_account(conn: &mut DbConnection, account: &Account) -> QueryResult<()> {
    diesel::insert_into(accounts::table).values(account).execute(conn).map(|_| ())
}

pub fn find_account_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<Account>> {
    accounts::table.filter(accounts::email.eq(email)).select(Account::as_select()).first(conn).optional()
}

pub fn find_account(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Account>> {
    accounts::table.find(id).select(Account::as_select()).first(conn).optional()
}

pub fn email_taken(conn: &mut DbConnection, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(accounts::table.filter(accounts::email.eq(email)))).get_result(conn)
}

/// Staff of one clinic (admins and clinicians), oldest first.
pub fn find_staff(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Vec<Account>> {
    accounts::table
        .filter(accounts::clinic_id.eq(clinic_id))
        .filter(accounts::role.ne("patient"))
        .order(accounts::id.asc())
        .select(Account::as_select())
        .load(conn)
}

/// A page of a clinic's staff accounts in id (creation) order.
pub fn page_staff(
    conn: &mut DbConnection,
    clinic_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Account>> {
    let mut q =
        accounts::table.filter(accounts::clinic_id.eq(clinic_id)).filter(accounts::role.ne("patient")).into_boxed();
    if let Some(after) = after {
        q = q.filter(accounts::id.gt(after));
    }
    q.order(accounts::id.asc()).limit(limit).select(Account::as_select()).load(conn)
}

/// Takes the account's row lock if it is active and its password hash is still `password_hash`
/// (a no-op update); false otherwise. A session opened in the same transaction afterwards cannot
/// outlive a concurrent deactivation or password change: those update this row first and end
/// the account's sessions after, so one of the two waits for the other and sees its outcome.
pub fn lock_if_usable(conn: &mut DbConnection, id: &str, password_hash: &str) -> QueryResult<bool> {
    diesel::update(
        accounts::table
            .filter(accounts::id.eq(id))
            .filter(accounts::deactivated_at.is_null())
            .filter(accounts::password_hash.eq(password_hash)),
    )
    .set(accounts::updated_at.eq(accounts::updated_at))
    .execute(conn)
    .map(|n| n == 1)
}

/// Replaces the password hash if it is still `old_hash` (someone else may have changed it
/// meanwhile) and the account is active; false if nothing changed.
pub fn update_password_hash(
    conn: &mut DbConnection,
    id: &str,
    old_hash: &str,
    new_hash: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        accounts::table
            .filter(accounts::id.eq(id))
            .filter(accounts::deactivated_at.is_null())
            .filter(accounts::password_hash.eq(old_hash)),
    )
    .set((accounts::password_hash.eq(new_hash), accounts::updated_at.eq(at)))
    .execute(conn)
    .map(|n| n == 1)
}

/// Deactivates (`Some(at)`) or reactivates (`None`) an account.
pub fn update_deactivated_at(
    conn: &mut DbConnection,
    id: &str,
    deactivated_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(accounts::table.filter(accounts::id.eq(id)))
        .set((accounts::deactivated_at.eq(deactivated_at), accounts::updated_at.eq(now)))
        .execute(conn)
}

/// Active admins of a clinic other than `except`.
pub fn count_other_active_admins(conn: &mut DbConnection, clinic_id: &str, except: &str) -> QueryResult<i64> {
    accounts::table
        .filter(accounts::clinic_id.eq(clinic_id))
        .filter(accounts::role.eq("admin"))
        .filter(accounts::deactivated_at.is_null())
        .filter(accounts::id.ne(except))
        .count()
        .get_result(conn)
}

/// Takes the clinic row's lock (a no-op update) so that changes to its staff's status run one at
/// a time: two admins deactivating each other at once cannot both pass the last-admin check.
pub fn lock_clinic_staff(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<bool> {
    diesel::update(clinics::table.filter(clinics::id.eq(clinic_id)))
        .set(clinics::name.eq(clinics::name))
        .execute(conn)
        .map(|n| n == 1)
}
