//! Consents: an append-only log of grants and withdrawals; the current state of a kind is its
//! latest entry.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::consents};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct Consent {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub kind: String,
    pub granted: bool,
    /// None when the patient withdrew through an email link (no login).
    pub actor_account_id: Option<String>,
    pub actor_role: String,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_consent(conn: &mut DbConnection, consent: &Consent) -> QueryResult<()> {
    diesel::insert_into(consents::table).values(consent).execute(conn).map(|_| ())
}

/// Every entry for a patient, oldest first.
pub fn find_history(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Consent>> {
    consents::table
        .filter(consents::patient_id.eq(patient_id))
        .order(consents::id.asc())
        .select(Consent::as_select())
        .load(conn)
}

/// Whether the latest entry of `kind` for the patient grants it.
pub fn is_granted(conn: &mut DbConnection, patient_id: &str, kind: &str) -> QueryResult<bool> {
    consents::table
        .filter(consents::patient_id.eq(patient_id))
        .filter(consents::kind.eq(kind))
        .order(consents::id.desc())
        .select(consents::granted)
        .first(conn)
        .optional()
        .map(|g| g.unwrap_or(false))
}

/// Which of these patients' latest entry of `kind` grants it.
pub fn granted_among(
    conn: &mut DbConnection,
    patient_ids: &[String],
    kind: &str,
) -> QueryResult<std::collections::HashSet<String>> {
    let rows: Vec<(String, bool)> = consents::table
        .filter(consents::patient_id.eq_any(patient_ids))
        .filter(consents::kind.eq(kind))
        .order(consents::id.asc())
        .select((consents::patient_id, consents::granted))
        .load(conn)?;
    let mut latest = std::collections::HashMap::new();
    for (patient, granted) in rows {
        latest.insert(patient, granted);
    }
    Ok(latest.into_iter().filter(|(_, g)| *g).map(|(p, _)| p).collect())
}
