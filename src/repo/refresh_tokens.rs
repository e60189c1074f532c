//! Refresh tokens: stored as SHA-256 hashes, grouped in families (one per login). Rotation marks
//! the old token used; presenting a used or revoked token revokes its whole family.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::refresh_tokens};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: String,
    pub account_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_refresh_token(conn: &mut DbConnection, token: &RefreshToken) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(token).execute(conn).map(|_| ())
}

pub fn find_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()
}

/// Marks a token used if nobody did first; false when it was already used or revoked.
pub fn mark_used(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

/// Revokes every live token of a family.
pub fn revoke_family(conn: &mut DbConnection, family_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)
}

/// Whether the login session `family_id` of `account_id` is live: one of its tokens is not
/// revoked (rotation marks tokens used, never revoked; logout, reuse and ending every session
/// revoke them all; erasure deletes them with the account). One indexed read.
pub fn is_session_live(conn: &mut DbConnection, family_id: &str, account_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::account_id.eq(account_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    ))
    .get_result(conn)
}

/// The live login sessions (families) of an account.
pub fn find_live_families(conn: &mut DbConnection, account_id: &str) -> QueryResult<Vec<String>> {
    refresh_tokens::table
        .filter(refresh_tokens::account_id.eq(account_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)
}

/// Ends every login session of an account (password change, deactivation): revokes all its
/// live tokens and returns the families ended. After the transaction commits, hand them to
/// `SessionCache::forget` so this replica refuses their access tokens at once.
pub fn revoke_account_families(
    conn: &mut DbConnection,
    account_id: &str,
    at: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let families = find_live_families(conn, account_id)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::account_id.eq(account_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)?;
    Ok(families)
}
