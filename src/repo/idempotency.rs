//! Idempotency keys: the first request with a key stores its response; a retry with the same
//! key and body gets that response again. Keys are scoped per account; erasing a patient takes
//! every stored response about them.

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
    /// The path the key was used on (`/api/v1/patients/{id}/consents`): erasure finds the
    /// responses about a patient by it as well as by their body.
    pub request_path: String,
}

/// The scope of an authenticated account's keys (anonymous requests are never stored).
pub fn account_scope(account_id: &str) -> String {
    format!("account:{account_id}")
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

/// Deletes every stored key of the account scope `scope` and every one whose path or response
/// mentions one of `ids` (a patient's id, their login's id): the answers that hold their data,
/// whoever made the request. Ids are matched as substrings, with LIKE's wildcards escaped.
pub fn delete_mentioning(conn: &mut DbConnection, scope: Option<&str>, ids: &[&str]) -> QueryResult<usize> {
    let mut deleted = match scope {
        Some(scope) => {
            diesel::delete(idempotency_keys::table.filter(idempotency_keys::scope.eq(scope))).execute(conn)?
        }
        None => 0,
    };
    for id in ids.iter().filter(|id| !id.is_empty()) {
        let pattern = format!("%{}%", escape_like(id));
        let mentions = idempotency_keys::request_path
            .like(pattern.clone())
            .escape('\\')
            .or(idempotency_keys::response_body.like(pattern).escape('\\'));
        deleted += diesel::delete(idempotency_keys::table.filter(mentions)).execute(conn)?;
    }
    Ok(deleted)
}

/// `text` matched literally inside a LIKE pattern whose escape character is `\`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("019a-b_c%d\\e"), "019a-b\\_c\\%d\\\\e");
        assert_eq!(escape_like("plain"), "plain");
    }
}
