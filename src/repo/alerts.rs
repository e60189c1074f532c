//! Alerts: a clinician must look. At most one open alert per (patient, session, reason).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::alerts};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = alerts)]
pub struct Alert {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub session_id: Option<String>,
    pub severity: String,
    pub reason: String,
    pub details: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
}

pub fn insert_alert(conn: &mut DbConnection, a: &Alert) -> QueryResult<()> {
    diesel::insert_into(alerts::table).values(a).execute(conn).map(|_| ())
}

pub fn open_exists(
    conn: &mut DbConnection,
    patient_id: &str,
    session_id: Option<&str>,
    reason: &str,
) -> QueryResult<bool> {
    let q = alerts::table
        .filter(alerts::patient_id.eq(patient_id))
        .filter(alerts::reason.eq(reason))
        .filter(alerts::status.eq("open"));
    let ids: Vec<Option<String>> = q.select(alerts::session_id).load(conn)?;
    Ok(ids.iter().any(|s| s.as_deref() == session_id))
}

pub fn find_alert(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Alert>> {
    alerts::table.find(id).select(Alert::as_select()).first(conn).optional()
}

/// A page of a clinic's alerts, newest first.
pub fn find_page(
    conn: &mut DbConnection,
    clinic_id: &str,
    status: Option<&str>,
    severity: Option<&str>,
    patient_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Alert>> {
    let mut q = alerts::table.filter(alerts::clinic_id.eq(clinic_id)).into_boxed();
    if let Some(s) = status {
        q = q.filter(alerts::status.eq(s));
    }
    if let Some(s) = severity {
        q = q.filter(alerts::severity.eq(s));
    }
    if let Some(p) = patient_id {
        q = q.filter(alerts::patient_id.eq(p));
    }
    if let Some(c) = after {
        q = q.filter(alerts::id.lt(c));
    }
    q.order(alerts::id.desc()).limit(limit).select(Alert::as_select()).load(conn)
}

pub fn resolve(conn: &mut DbConnection, id: &str, by: &str, note: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(alerts::table.filter(alerts::id.eq(id)).filter(alerts::status.eq("open")))
        .set((
            alerts::status.eq("resolved"),
            alerts::resolved_at.eq(at),
            alerts::resolved_by.eq(by),
            alerts::resolution_note.eq(note),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Every alert about a patient, oldest first (export).
pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Alert>> {
    alerts::table
        .filter(alerts::patient_id.eq(patient_id))
        .order(alerts::id.asc())
        .select(Alert::as_select())
        .load(conn)
}
