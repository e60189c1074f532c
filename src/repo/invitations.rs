//! Invitations: a one-time, expiring token (stored hashed) that lets a person set a password
//! and join a clinic with a given role.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::invitations};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: String,
    pub clinic_id: String,
    pub email: String,
    pub role: String,
    pub token_hash: String,
    pub invited_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    /// Set for a patient's app invitation: the record the new account is linked to.
    pub patient_id: Option<String>,
}

pub fn insert_invitation(conn: &mut DbConnection, invitation: &Invitation) -> QueryResult<()> {
    diesel::insert_into(invitations::table).values(invitation).execute(conn).map(|_| ())
}

pub fn find_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<Invitation>> {
    invitations::table.filter(invitations::token_hash.eq(hash)).select(Invitation::as_select()).first(conn).optional()
}

/// Marks the invitation accepted unless it already was; false if someone else won.
pub fn mark_accepted(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(invitations::table.filter(invitations::id.eq(id)).filter(invitations::accepted_at.is_null()))
        .set(invitations::accepted_at.eq(at))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn delete_invitation(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(invitations::table.filter(invitations::id.eq(id))).execute(conn)
}
