//! Idempotency keys: the first request with a key stores its response; a retry with the same
//! key and body gets that response again.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::idempotency_keys};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
    /// `None` while the first request is still running.
    pub status_code: Option<i32>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn find_key(conn: &mut DbConnection, scope: &str, key: &str) -> QueryResult<Option<IdempotencyKey>> {
    idempotency_keys::table.find((scope, key)).select(IdempotencyKey::as_select()).first(conn).optional()
}

pub fn insert_key(conn: &mut DbConnection, row: &IdempotencyKey) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table).values(row).execute(conn).map(|_| ())
}

pub fn complete_key(conn: &mut DbConnection, scope: &str, key: &str, status: i32, body: &str) -> QueryResult<usize> {
    diesel::update(idempotency_keys::table.find((scope, key)))
        .set((idempotency_keys::status_code.eq(status), idempotency_keys::response_body.eq(body)))
        .execute(conn)
}

pub fn delete_key(conn: &mut DbConnection, scope: &str, key: &str) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.find((scope, key))).execute(conn)
}

/// Removes keys past their lifetime.
pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now))).execute(conn)
}
