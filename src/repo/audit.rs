//! Audit events: who read or changed which patient's data, when, in which request.

use chrono::NaiveDateTime;
use diesel::{connection::SimpleConnection, prelude::*};

use crate::db::{DbConnection, schema::audit_events};

/// `None` is inserted as NULL, not as `DEFAULT` (no column has a default): diesel can then write
/// several rows in one statement on SQLite too, where a batch that might hold `DEFAULT` is run as
/// one statement per row.
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

/// Rows per multi-row INSERT.
const ROWS_PER_STATEMENT: usize = 32;

/// Inserts events, [`ROWS_PER_STATEMENT`] rows per statement and the rest one by one. Each shape
/// has a fixed SQL, so both stay prepared: a statement of however many rows a batch holds would
/// be parsed and planned again for every batch, which under load cost more than the rows.
pub fn insert_events(conn: &mut DbConnection, events: &[AuditEvent]) -> QueryResult<usize> {
    crate::db::natively!(conn, |c| {
        let mut n = 0;
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            match <&[AuditEvent; ROWS_PER_STATEMENT]>::try_from(chunk) {
                Ok(rows) => n += diesel::insert_into(audit_events::table).values(rows).execute(c)?,
                // The last, shorter chunk.
                Err(_) => {
                    for row in chunk {
                        n += diesel::insert_into(audit_events::table).values(row).execute(c)?;
                    }
                }
            }
        }
        Ok(n)
    })
}

/// Inserts a batch of read events gathered by the audit writer ([`insert_events`]). On SQLite the
/// batch's dirty pages stay in memory until it commits (`cache_spill` off for its duration): a
/// batch touches one page of the patient index per patient, more pages than SQLite's 2 MB cache
/// holds under a read load, and spilling them into the WAL mid-transaction wrote and re-read
/// each of them once more. They are bounded by the batch (`services::audit`): at most one index
/// page per event and the pages its rows are appended to. The setting is restored whatever the
/// insert's outcome.
pub fn insert_batch(conn: &mut DbConnection, events: &[AuditEvent]) -> QueryResult<usize> {
    match conn {
        DbConnection::Sqlite(c) => {
            c.batch_execute("PRAGMA cache_spill = OFF")?;
            let stored = insert_events(conn, events);
            let restored = conn.batch_execute("PRAGMA cache_spill = ON");
            let n = stored?;
            restored.map(|()| n)
        }
        DbConnection::Postgres(_) => insert_events(conn, events),
    }
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
