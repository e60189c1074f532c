//! Audit events: who read or changed which patient's data, when, in which request.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::audit_events};

/// `None` is inserted as NULL, not as `DEFAULT` (no column has a default): diesel can then write a
/// batch as one multi-row statement on SQLite too, where a batch that might hold `DEFAULT` is run
/// as one statement per row in a savepoint (about 50,000 instructions an event).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct AuditEvent {
    pub id: String,
    pub clinic_id: String,
    pub actor_account_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub request_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Inserts events with multi-row INSERTs (up to 500 rows per statement) on both backends. The
/// multi-backend connection has no batch insert, so this is the one place that matches on the
/// backend.
pub fn insert_events(conn: &mut DbConnection, events: &[AuditEvent]) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in events.chunks(500) {
        n += match conn {
            DbConnection::Postgres(pg) => diesel::insert_into(audit_events::table).values(chunk).execute(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_into(audit_events::table).values(chunk).execute(lite)?,
        };
    }
    Ok(n)
}

/// A page of a clinic's events, newest first.
pub fn find_page(
    conn: &mut DbConnection,
    clinic_id: &str,
    patient_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut q = audit_events::table.filter(audit_events::clinic_id.eq(clinic_id)).into_boxed();
    if let Some(p) = patient_id {
        q = q.filter(audit_events::patient_id.eq(p));
    }
    if let Some(c) = after {
        q = q.filter(audit_events::id.lt(c));
    }
    q.order(audit_events::id.desc()).limit(limit).select(AuditEvent::as_select()).load(conn)
}

/// Every audit event about a patient, oldest first (their right of access covers who saw what).
pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::patient_id.eq(patient_id))
        .order(audit_events::id.asc())
        .select(AuditEvent::as_select())
        .load(conn)
}
