//! Invitations: a one-time, expiring token (stored hashed) that lets a person set a password
//! and join a clinic with a given role. One is open while it is neither accepted, revoked nor
//! expired.

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
    /// Revoked by staff, or because the address it was sent to is no longer the person's.
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_invitation(conn: &mut DbConnection, invitation: &Invitation) -> QueryResult<()> {
    diesel::insert_into(invitations::table).values(invitation).execute(conn).map(|_| ())
}

pub fn find_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<Invitation>> {
    invitations::table.filter(invitations::token_hash.eq(hash)).select(Invitation::as_select()).first(conn).optional()
}

pub fn find_invitation(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Invitation>> {
    invitations::table.find(id).select(Invitation::as_select()).first(conn).optional()
}

/// A page of a clinic's open invitations (not accepted, not revoked, not expired at `now`),
/// newest first, after the cursor id; patient invitations only with `patients_only`.
pub fn find_open(
    conn: &mut DbConnection,
    clinic_id: &str,
    patients_only: bool,
    now: NaiveDateTime,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Invitation>> {
    let mut q = invitations::table
        .filter(invitations::clinic_id.eq(clinic_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .into_boxed();
    if patients_only {
        q = q.filter(invitations::patient_id.is_not_null());
    }
    if let Some(before) = before {
        q = q.filter(invitations::id.lt(before.to_owned()));
    }
    q.order(invitations::id.desc()).limit(limit).select(Invitation::as_select()).load(conn)
}

/// Revokes the invitation unless it was accepted or revoked already; false if nothing changed.
pub fn revoke_invitation(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

/// Revokes every invitation of a patient that was neither accepted nor revoked yet.
pub fn revoke_patient_invitations(conn: &mut DbConnection, patient_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        invitations::table
            .filter(invitations::patient_id.eq(patient_id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(at))
    .execute(conn)
}

/// Marks the invitation accepted unless it already was or was revoked; false if someone else won.
pub fn mark_accepted(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::accepted_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn delete_invitation(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(invitations::table.filter(invitations::id.eq(id))).execute(conn)
}
