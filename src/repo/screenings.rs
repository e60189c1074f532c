//! Screenings: the pre-treatment checklist, its outcome, and a clinician's override.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::{
    db::{DbConnection, schema::screenings},
    wire::pagination::After,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = screenings)]
pub struct Screening {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    /// JSON of the answers.
    pub answers: String,
    pub outcome: String,
    /// JSON list of findings.
    pub findings: String,
    pub screened_by: String,
    pub override_by: Option<String>,
    pub override_reason: Option<String>,
    pub overridden_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert_screening(conn: &mut DbConnection, s: &Screening) -> QueryResult<()> {
    diesel::insert_into(screenings::table).values(s).execute(conn).map(|_| ())
}

pub fn find_screening(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Screening>> {
    screenings::table.find(id).select(Screening::as_select()).first(conn).optional()
}

pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Screening>> {
    screenings::table
        .filter(screenings::patient_id.eq(patient_id))
        .order((screenings::created_at.desc(), screenings::id.desc()))
        .select(Screening::as_select())
        .load(conn)
}

/// The latest screening taken at or before `at`.
pub fn find_latest_before(
    conn: &mut DbConnection,
    patient_id: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<Screening>> {
    screenings::table
        .filter(screenings::patient_id.eq(patient_id))
        .filter(screenings::created_at.le(at))
        .order((screenings::created_at.desc(), screenings::id.desc()))
        .select(Screening::as_select())
        .first(conn)
        .optional()
}

/// Records an override unless one exists; false when someone already overrode it.
pub fn set_override(conn: &mut DbConnection, id: &str, by: &str, reason: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(screenings::table.find(id).filter(screenings::overridden_at.is_null()))
        .set((screenings::override_by.eq(by), screenings::override_reason.eq(reason), screenings::overridden_at.eq(at)))
        .execute(conn)
        .map(|n| n == 1)
}

/// A page of a patient's screenings, newest first (`created_at`, then id).
pub fn page(
    conn: &mut DbConnection,
    patient_id: &str,
    after: Option<&After<NaiveDateTime>>,
    limit: i64,
) -> QueryResult<Vec<Screening>> {
    let mut q = screenings::table.filter(screenings::patient_id.eq(patient_id)).into_boxed();
    if let Some(a) = after {
        q = q.filter(
            screenings::created_at.lt(a.key).or(screenings::created_at.eq(a.key).and(screenings::id.lt(a.id.clone()))),
        );
    }
    q.order((screenings::created_at.desc(), screenings::id.desc()))
        .limit(limit)
        .select(Screening::as_select())
        .load(conn)
}
