//! Calendar subscriptions: the hash of each patient's secret feed token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::calendar_feeds};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = calendar_feeds)]
pub struct CalendarFeed {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_feed(conn: &mut DbConnection, f: &CalendarFeed) -> QueryResult<()> {
    diesel::insert_into(calendar_feeds::table).values(f).execute(conn).map(|_| ())
}

/// The live feed with this token hash.
pub fn find_active_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<CalendarFeed>> {
    calendar_feeds::table
        .filter(calendar_feeds::token_hash.eq(hash))
        .filter(calendar_feeds::revoked_at.is_null())
        .select(CalendarFeed::as_select())
        .first(conn)
        .optional()
}

pub fn find_active_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Option<CalendarFeed>> {
    calendar_feeds::table
        .filter(calendar_feeds::patient_id.eq(patient_id))
        .filter(calendar_feeds::revoked_at.is_null())
        .select(CalendarFeed::as_select())
        .first(conn)
        .optional()
}

/// Revokes a patient's live feeds; returns how many.
pub fn revoke_for_patient(conn: &mut DbConnection, patient_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        calendar_feeds::table
            .filter(calendar_feeds::patient_id.eq(patient_id))
            .filter(calendar_feeds::revoked_at.is_null()),
    )
    .set(calendar_feeds::revoked_at.eq(now))
    .execute(conn)
}
