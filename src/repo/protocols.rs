//! Protocols: versioned per clinic; a new version never touches reminders planned under an old.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::protocols};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = protocols)]
pub struct Protocol {
    pub id: String,
    pub clinic_id: String,
    pub version: i32,
    /// JSON array of steps.
    pub steps: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_protocol(conn: &mut DbConnection, p: &Protocol) -> QueryResult<()> {
    diesel::insert_into(protocols::table).values(p).execute(conn).map(|_| ())
}

pub fn find_latest(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Option<Protocol>> {
    protocols::table
        .filter(protocols::clinic_id.eq(clinic_id))
        .order(protocols::version.desc())
        .select(Protocol::as_select())
        .first(conn)
        .optional()
}

pub fn find_protocol(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Protocol>> {
    protocols::table.find(id).select(Protocol::as_select()).first(conn).optional()
}

pub fn find_versions(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Vec<Protocol>> {
    protocols::table
        .filter(protocols::clinic_id.eq(clinic_id))
        .order(protocols::version.desc())
        .select(Protocol::as_select())
        .load(conn)
}
