//! Patients: one clinic's person under care, optionally linked to a patient login.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::{
    deserialize::FromSqlRow,
    pg::Pg,
    prelude::*,
    sql_types::{Bool, Date, Integer, Nullable, Text, Timestamp},
    sqlite::Sqlite,
};

use crate::{
    db::{DbConnection, DbTime, DbTimeOpt, schema::patients},
    domain::clinical::TimeZone,
};

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
    pub time_zone: TimeZone,
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

/// The SQL types of the staff page's columns ([`find_page`]), in the order the page shows them:
/// id, name, email, phone, date of birth, time zone, Fitzpatrick type, quiet hours' start and
/// end, language, clinical notes, whether the patient has an account, archived, created and
/// updated instants (not `clinic_id`, the caller's own, nor `search_text`, only searched).
pub type ListedSql = (
    Text,
    Text,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<Date>,
    Text,
    Nullable<Integer>,
    Text,
    Text,
    Text,
    Nullable<Text>,
    Bool,
    Nullable<Timestamp>,
    Timestamp,
    Timestamp,
);

/// Columns to change; `None` leaves a column, `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = patients)]
pub struct PatientChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub date_of_birth: Option<Option<NaiveDate>>,
    pub time_zone: Option<TimeZone>,
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
/// connection: the staff list is a hot read), each row as [`ListedSql`] read by `R`.
pub fn find_page<R>(
    conn: &mut DbConnection,
    clinic_id: &str,
    query: Option<&str>,
    include_archived: bool,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<R>>
where
    R: FromSqlRow<ListedSql, Pg> + FromSqlRow<ListedSql, Sqlite> + 'static,
{
    let pattern = query.map(|text| {
        let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    });
    let columns = (
        patients::id,
        patients::name,
        patients::email,
        patients::phone,
        patients::date_of_birth,
        patients::time_zone,
        patients::fitzpatrick,
        patients::quiet_start,
        patients::quiet_end,
        patients::language,
        patients::clinical_notes,
        patients::account_id.is_not_null(),
        patients::archived_at,
        patients::created_at,
        patients::updated_at,
    );
    // One statement type for each combination of the optional filters, rather than one boxed
    // statement: diesel keeps a statement of a fixed type prepared under its type, while a boxed
    // one has its SQL written out again on every execution to be looked up (docs/performance.md,
    // item 23).
    macro_rules! page {
        ($c:ident, $filtered:expr) => {
            $filtered.order(patients::id.desc()).limit(limit).select(columns).load::<R>($c)
        };
    }
    crate::db::natively!(conn, |c| {
        let clinic = patients::table.filter(patients::clinic_id.eq(clinic_id));
        let active = patients::archived_at.is_null();
        match (pattern.as_deref(), include_archived, after) {
            (None, true, None) => page!(c, clinic),
            (None, false, None) => page!(c, clinic.filter(active)),
            (None, true, Some(cursor)) => page!(c, clinic.filter(patients::id.lt(cursor))),
            (None, false, Some(cursor)) => page!(c, clinic.filter(active).filter(patients::id.lt(cursor))),
            (Some(pattern), archived, cursor) => {
                let found = clinic.filter(patients::search_text.like(pattern).escape('\\'));
                match (archived, cursor) {
                    (true, None) => page!(c, found),
                    (false, None) => page!(c, found.filter(active)),
                    (true, Some(cursor)) => page!(c, found.filter(patients::id.lt(cursor))),
                    (false, Some(cursor)) => page!(c, found.filter(active).filter(patients::id.lt(cursor))),
                }
            }
        }
    })
}

pub fn update_patient(conn: &mut DbConnection, id: &str, changes: &PatientChanges) -> QueryResult<Patient> {
    diesel::update(patients::table.find(id)).set(changes).returning(patients::all_columns).get_result(conn)
}

/// Links an account to the patient if none is linked yet and the record's email is still `email`
/// (the address the invitation went to); 0 rows otherwise.
pub fn link_account(conn: &mut DbConnection, id: &str, account_id: &str, email: &str) -> QueryResult<usize> {
    diesel::update(patients::table.find(id).filter(patients::account_id.is_null()).filter(patients::email.eq(email)))
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
