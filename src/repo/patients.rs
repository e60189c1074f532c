//! Patients: one clinic's person under care, optionally linked to a patient login.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::{DbConnection, DbTime, DbTimeOpt, schema::patients};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = patients)]
pub struct Patient {
    pub id: String,
    pub clinic_id: String,
    pub account_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub time_zone: String,
    pub fitzpatrick: Option<i32>,
    pub quiet_start: String,
    pub quiet_end: String,
    pub language: String,
    pub clinical_notes: Option<String>,
    pub search_text: String,
    #[diesel(deserialize_as = DbTimeOpt)]
    pub archived_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = DbTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = DbTime)]
    pub updated_at: NaiveDateTime,
}

/// A patient as the staff list shows them: every column but `clinic_id` (the caller's own) and
/// `search_text` (only searched), which a page would otherwise read and copy for every row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = patients)]
pub struct ListedPatient {
    pub id: String,
    pub account_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub time_zone: String,
    pub fitzpatrick: Option<i32>,
    pub quiet_start: String,
    pub quiet_end: String,
    pub language: String,
    pub clinical_notes: Option<String>,
    #[diesel(deserialize_as = DbTimeOpt)]
    pub archived_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = DbTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = DbTime)]
    pub updated_at: NaiveDateTime,
}

impl From<Patient> for ListedPatient {
    fn from(p: Patient) -> Self {
        Self {
            id: p.id,
            account_id: p.account_id,
            name: p.name,
            email: p.email,
            phone: p.phone,
            date_of_birth: p.date_of_birth,
            time_zone: p.time_zone,
            fitzpatrick: p.fitzpatrick,
            quiet_start: p.quiet_start,
            quiet_end: p.quiet_end,
            language: p.language,
            clinical_notes: p.clinical_notes,
            archived_at: p.archived_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Columns to change; `None` leaves a column, `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = patients)]
pub struct PatientChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub date_of_birth: Option<Option<NaiveDate>>,
    pub time_zone: Option<String>,
    pub fitzpatrick: Option<Option<i32>>,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    pub language: Option<String>,
    pub clinical_notes: Option<Option<String>>,
    pub search_text: Option<String>,
    pub archived_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Whose rows a read of a patient's records asks for. Lists filter on it in their own statement
/// (`repo::scoped::ScopedQuery`), so a read needs no separate query to check the caller's scope
/// (see `services::access::scope`).
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The patient linked to this login in this clinic: a patient reading their own record.
    Own { account_id: &'a str, clinic_id: &'a str },
    /// This patient if they belong to this clinic: staff.
    InClinic { patient_id: &'a str, clinic_id: &'a str },
}

/// What the name/email search matches against.
pub fn search_text(name: &str, email: Option<&str>) -> String {
    format!("{} {}", name.to_lowercase(), email.unwrap_or(""))
}

pub fn insert_patient(conn: &mut DbConnection, patient: &Patient) -> QueryResult<()> {
    diesel::insert_into(patients::table).values(patient).execute(conn).map(|_| ())
}

/// A patient of `clinic_id`, or none (another clinic's patient is "not found"). On the backend's
/// own connection: every staff read of one patient's records starts here.
pub fn find_in_clinic(conn: &mut DbConnection, clinic_id: &str, id: &str) -> QueryResult<Option<Patient>> {
    crate::db::natively!(conn, |c| {
        patients::table
            .filter(patients::id.eq(id))
            .filter(patients::clinic_id.eq(clinic_id))
            .select(Patient::as_select())
            .first(c)
            .optional()
    })
}

/// The patient linked to a login (on the backend's own connection: every `/me` read starts here).
pub fn find_by_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<Option<Patient>> {
    crate::db::natively!(conn, |c| {
        patients::table.filter(patients::account_id.eq(account_id)).select(Patient::as_select()).first(c).optional()
    })
}

pub fn email_in_clinic(
    conn: &mut DbConnection,
    clinic_id: &str,
    email: &str,
    except: Option<&str>,
) -> QueryResult<bool> {
    let same = patients::table.filter(patients::clinic_id.eq(clinic_id)).filter(patients::email.eq(email));
    let ids: Vec<String> = same.select(patients::id).limit(2).load(conn)?;
    Ok(ids.iter().any(|id| Some(id.as_str()) != except))
}

/// A page of a clinic's patients, newest first, after the cursor id (on the backend's own
/// connection: the staff list is a hot read).
pub fn find_page(
    conn: &mut DbConnection,
    clinic_id: &str,
    query: Option<&str>,
    include_archived: bool,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ListedPatient>> {
    crate::db::natively!(conn, |c| {
        let mut q = patients::table.filter(patients::clinic_id.eq(clinic_id)).into_boxed();
        if let Some(text) = query {
            let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            q = q.filter(patients::search_text.like(format!("%{escaped}%")).escape('\\'));
        }
        if !include_archived {
            q = q.filter(patients::archived_at.is_null());
        }
        if let Some(cursor) = after {
            q = q.filter(patients::id.lt(cursor));
        }
        q.order(patients::id.desc()).limit(limit).select(ListedPatient::as_select()).load(c)
    })
}

pub fn update_patient(conn: &mut DbConnection, id: &str, changes: &PatientChanges) -> QueryResult<Patient> {
    diesel::update(patients::table.find(id)).set(changes).returning(patients::all_columns).get_result(conn)
}

pub fn link_account(conn: &mut DbConnection, id: &str, account_id: &str) -> QueryResult<usize> {
    diesel::update(patients::table.find(id).filter(patients::account_id.is_null()))
        .set(patients::account_id.eq(account_id))
        .execute(conn)
}

/// A patient by id, whatever the clinic (for jobs, which act on behalf of the system).
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Patient>> {
    crate::db::natively!(conn, |c| patients::table.find(id).select(Patient::as_select()).first(c).optional())
}

/// Patients by id (the dispatcher reads a batch's patients at once).
pub fn find_by_ids(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Patient>> {
    patients::table.filter(patients::id.eq_any(ids)).select(Patient::as_select()).load(conn)
}
