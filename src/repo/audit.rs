//! Audit events: who read or changed which patient's data, when, in which request.

use chrono::NaiveDateTime;
use diesel::{dsl, prelude::*};

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

/// Rows of `clinic_id`, tested on each row found rather than used to find rows (`clinic_id || ''`
/// is not a column an index could be searched by). A patient's events are found along the patient
/// index, where SQLite would otherwise prefer the clinic's range of the table's own key (it holds
/// every column, the index needs a lookup per row) and read all of the clinic's events for one
/// patient's.
fn of_clinic(clinic_id: &str) -> dsl::Eq<dsl::Concat<audit_events::clinic_id, &'static str>, &str> {
    audit_events::clinic_id.concat("").eq(clinic_id)
}

/// A page of a clinic's events, newest first, of one patient's if `patient_id` is given.
pub fn find_page(
    conn: &mut DbConnection,
    clinic_id: &str,
    patient_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut q = match patient_id {
        Some(p) => audit_events::table.filter(audit_events::patient_id.eq(p)).filter(of_clinic(clinic_id)).into_boxed(),
        None => audit_events::table.filter(audit_events::clinic_id.eq(clinic_id)).into_boxed(),
    };
    if let Some(c) = after {
        q = q.filter(audit_events::id.lt(c));
    }
    q.order(audit_events::id.desc()).limit(limit).select(AuditEvent::as_select()).load(conn)
}

/// Every audit event about a patient of `clinic_id`, oldest first (their right of access covers
/// who saw what).
pub fn find_for_patient(conn: &mut DbConnection, clinic_id: &str, patient_id: &str) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::patient_id.eq(patient_id))
        .filter(of_clinic(clinic_id))
        .order(audit_events::id.asc())
        .select(AuditEvent::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, RunQueryDsl, SqliteConnection, sql_types::Text};
    use diesel_migrations::MigrationHarness;

    /// SQLite's plan for a statement, a line per step.
    fn plan(c: &mut SqliteConnection, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Step {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<Step>(c)
            .unwrap()
            .into_iter()
            .map(|s| s.detail)
            .collect()
    }

    /// Audit events grow with every read, so nothing that looks them up may read them all: every
    /// statement on `audit_events` that the lookups above and erasure (`repo::erasure`) run, as
    /// diesel writes it, planned by SQLite on the migrated schema.
    #[test]
    fn audit_events_are_found_by_clinic_or_patient_without_a_scan_or_a_sort() {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.run_pending_migrations(crate::db::SQLITE_MIGRATIONS).unwrap();
        let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = ran.clone();
        c.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
                let sql = query.to_string();
                let sql = sql.split(" -- binds:").next().unwrap_or_default().to_owned();
                if sql.contains("`audit_events`") {
                    seen.lock().unwrap().push(sql);
                }
            }
        });
        let mut conn = crate::db::DbConnection::Sqlite(c);
        let expected = [
            // find_page: the clinic's events, newest first, after a cursor
            "PRIMARY KEY",
            // find_page filtered by patient
            "audit_events_patient_idx",
            // find_for_patient (export)
            "audit_events_patient_idx",
            // erasure: the patient and their account taken out of their events (one statement)
            "audit_events_patient_idx",
        ];
        super::find_page(&mut conn, "c-1", None, Some("e-1"), 50).unwrap();
        super::find_page(&mut conn, "c-1", Some("p-1"), Some("e-1"), 50).unwrap();
        super::find_for_patient(&mut conn, "c-1", "p-1").unwrap();
        crate::repo::erasure::erase_patient(&mut conn, "p-1", Some("a-1")).unwrap();
        let crate::db::DbConnection::Sqlite(c) = &mut conn else { unreachable!() };
        c.set_instrumentation(|_: diesel::connection::InstrumentationEvent<'_>| {});
        let statements = ran.lock().unwrap().clone();
        assert_eq!(statements.len(), expected.len(), "{statements:#?}");
        for (sql, index) in statements.iter().zip(expected) {
            let steps = plan(c, sql);
            assert!(steps.iter().all(|s| !s.starts_with("SCAN") && !s.contains("TEMP B-TREE")), "{sql}: {steps:?}");
            assert!(
                steps.iter().any(|s| s.starts_with("SEARCH audit_events") && s.contains(index)),
                "{sql}: {steps:?}"
            );
        }
    }
}
