//! Check-ins (how the skin is recovering) and serum applications, as the patient reports them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::{
    db::{
        DbConnection,
        schema::{checkins, serum_applications},
    },
    wire::pagination::After,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkins)]
pub struct Checkin {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub session_id: Option<String>,
    pub redness: i32,
    pub swelling: i32,
    pub pain: i32,
    pub itch: i32,
    /// JSON array of red flags.
    pub red_flags: String,
    pub note: Option<String>,
    pub reported_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = serum_applications)]
pub struct SerumApplication {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub session_id: Option<String>,
    pub product: String,
    pub applied_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn insert_checkin(conn: &mut DbConnection, c: &Checkin) -> QueryResult<()> {
    diesel::insert_into(checkins::table).values(c).execute(conn).map(|_| ())
}

pub fn insert_serum(conn: &mut DbConnection, s: &SerumApplication) -> QueryResult<()> {
    diesel::insert_into(serum_applications::table).values(s).execute(conn).map(|_| ())
}

/// A patient's check-ins, newest first.
pub fn find_checkins(conn: &mut DbConnection, patient_id: &str, limit: i64) -> QueryResult<Vec<Checkin>> {
    checkins::table
        .filter(checkins::patient_id.eq(patient_id))
        .order((checkins::reported_at.desc(), checkins::id.desc()))
        .limit(limit)
        .select(Checkin::as_select())
        .load(conn)
}

/// Check-in times of a patient within a window.
pub fn checkin_times(
    conn: &mut DbConnection,
    patient_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<NaiveDateTime>> {
    checkins::table
        .filter(checkins::patient_id.eq(patient_id))
        .filter(checkins::reported_at.between(from, to))
        .select(checkins::reported_at)
        .load(conn)
}

/// Goal events of several patients within a window, in one statement: (patient, when, whether it
/// is a serum application rather than a check-in). The dispatcher reads its batch's this way.
pub fn goal_events_between(
    conn: &mut DbConnection,
    patient_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<(String, NaiveDateTime, bool)>> {
    use diesel::{dsl::sql, sql_types::Bool};
    let checkins = checkins::table
        .filter(checkins::patient_id.eq_any(patient_ids))
        .filter(checkins::reported_at.between(from, to))
        .select((checkins::patient_id, checkins::reported_at, sql::<Bool>("1 = 0")));
    let serum = serum_applications::table
        .filter(serum_applications::patient_id.eq_any(patient_ids))
        .filter(serum_applications::applied_at.between(from, to))
        .select((serum_applications::patient_id, serum_applications::applied_at, sql::<Bool>("1 = 1")));
    match conn {
        DbConnection::Postgres(c) => checkins.union_all(serum).load(c),
        DbConnection::Sqlite(c) => checkins.union_all(serum).load(c),
    }
}

/// Serum applications of a patient within a window.
pub fn serum_times(
    conn: &mut DbConnection,
    patient_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<NaiveDateTime>> {
    serum_applications::table
        .filter(serum_applications::patient_id.eq(patient_id))
        .filter(serum_applications::applied_at.between(from, to))
        .select(serum_applications::applied_at)
        .load(conn)
}

pub fn find_serum(conn: &mut DbConnection, patient_id: &str, limit: i64) -> QueryResult<Vec<SerumApplication>> {
    serum_applications::table
        .filter(serum_applications::patient_id.eq(patient_id))
        .order((serum_applications::applied_at.desc(), serum_applications::id.desc()))
        .limit(limit)
        .select(SerumApplication::as_select())
        .load(conn)
}

/// A page of a patient's check-ins, newest first (`reported_at`, then id), only those recorded at
/// or after `since` when given.
pub fn page_checkins(
    conn: &mut DbConnection,
    patient_id: &str,
    since: Option<NaiveDateTime>,
    after: Option<&After<NaiveDateTime>>,
    limit: i64,
) -> QueryResult<Vec<Checkin>> {
    let mut q = checkins::table.filter(checkins::patient_id.eq(patient_id)).into_boxed();
    if let Some(since) = since {
        q = q.filter(checkins::created_at.ge(since));
    }
    if let Some(a) = after {
        q = q.filter(
            checkins::reported_at.lt(a.key).or(checkins::reported_at.eq(a.key).and(checkins::id.lt(a.id.clone()))),
        );
    }
    q.order((checkins::reported_at.desc(), checkins::id.desc())).limit(limit).select(Checkin::as_select()).load(conn)
}

/// A page of a patient's serum log, newest first (`applied_at`, then id), only those recorded at
/// or after `since` when given.
pub fn page_serum(
    conn: &mut DbConnection,
    patient_id: &str,
    since: Option<NaiveDateTime>,
    after: Option<&After<NaiveDateTime>>,
    limit: i64,
) -> QueryResult<Vec<SerumApplication>> {
    let mut q = serum_applications::table.filter(serum_applications::patient_id.eq(patient_id)).into_boxed();
    if let Some(since) = since {
        q = q.filter(serum_applications::created_at.ge(since));
    }
    if let Some(a) = after {
        q = q.filter(
            serum_applications::applied_at
                .lt(a.key)
                .or(serum_applications::applied_at.eq(a.key).and(serum_applications::id.lt(a.id.clone()))),
        );
    }
    q.order((serum_applications::applied_at.desc(), serum_applications::id.desc()))
        .limit(limit)
        .select(SerumApplication::as_select())
        .load(conn)
}
