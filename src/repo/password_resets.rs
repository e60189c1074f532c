//! Password reset tokens: single use, expiring, stored as SHA-256 hashes (the token itself only
//! travels in the email). One is open while it is neither used nor expired.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::password_resets};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct PasswordReset {
    pub id: String,
    pub account_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// Used to set a password, or closed by a later password change or a deactivation.
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert_password_reset(conn: &mut DbConnection, row: &PasswordReset) -> QueryResult<()> {
    diesel::insert_into(password_resets::table).values(row).execute(conn).map(|_| ())
}

pub fn find_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<PasswordReset>> {
    password_resets::table
        .filter(password_resets::token_hash.eq(hash))
        .select(PasswordReset::as_select())
        .first(conn)
        .optional()
}

pub fn find_password_reset(conn: &mut DbConnection, id: &str) -> QueryResult<Option<PasswordReset>> {
    password_resets::table.find(id).select(PasswordReset::as_select()).first(conn).optional()
}

pub fn delete_password_reset(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(password_resets::table.filter(password_resets::id.eq(id))).execute(conn)
}

/// How many reset tokens were issued to the account since `since`.
pub fn count_issued_since(conn: &mut DbConnection, account_id: &str, since: NaiveDateTime) -> QueryResult<i64> {
    password_resets::table
        .filter(password_resets::account_id.eq(account_id))
        .filter(password_resets::created_at.ge(since))
        .count()
        .get_result(conn)
}

/// Marks one token used unless it already was; false if someone else used it first.
pub fn mark_used(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(password_resets::table.filter(password_resets::id.eq(id)).filter(password_resets::used_at.is_null()))
        .set(password_resets::used_at.eq(at))
        .execute(conn)
        .map(|n| n == 1)
}

/// Closes every open token of the account (its password changed, or it was deactivated).
pub fn close_for_account(conn: &mut DbConnection, account_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        password_resets::table
            .filter(password_resets::account_id.eq(account_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(at))
    .execute(conn)
}
