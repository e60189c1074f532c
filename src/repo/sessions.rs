//! Treatment sessions and their treated areas.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::{
    db::{
        DbConnection, DbTime, DbTimeOpt,
        schema::{session_areas, sessions},
    },
    wire::pagination::After,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub course_id: String,
    pub screening_id: String,
    #[diesel(deserialize_as = DbTime)]
    pub performed_at: NaiveDateTime,
    pub clinician_id: String,
    pub device_kind: String,
    pub device_model: String,
    pub cartridge_lot: Option<String>,
    pub numbing: Option<String>,
    /// JSON array of product names.
    pub products_applied: String,
    pub erythema_grade: Option<i32>,
    pub pinpoint_bleeding: Option<bool>,
    pub notes: Option<String>,
    /// JSON array of warnings given when it was recorded.
    pub warnings: String,
    pub status: String,
    pub cancel_reason: Option<String>,
    #[diesel(deserialize_as = DbTimeOpt)]
    pub cancelled_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = DbTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = DbTime)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = session_areas)]
pub struct SessionArea {
    pub id: String,
    pub session_id: String,
    pub position: i32,
    pub area: String,
    pub depth_mm: f64,
    pub passes: i32,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = sessions)]
pub struct SessionChanges {
    pub performed_at: Option<NaiveDateTime>,
    pub device_kind: Option<String>,
    pub device_model: Option<String>,
    pub cartridge_lot: Option<Option<String>>,
    pub numbing: Option<Option<String>>,
    pub products_applied: Option<String>,
    pub erythema_grade: Option<Option<i32>>,
    pub pinpoint_bleeding: Option<Option<bool>>,
    pub notes: Option<Option<String>>,
    pub warnings: Option<String>,
    pub status: Option<String>,
    pub cancel_reason: Option<Option<String>>,
    pub cancelled_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert_session(conn: &mut DbConnection, session: &Session, areas: &[SessionArea]) -> QueryResult<()> {
    diesel::insert_into(sessions::table).values(session).execute(conn)?;
    insert_areas(conn, areas)
}

pub fn find_session(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Session>> {
    sessions::table.find(id).select(Session::as_select()).first(conn).optional()
}

pub fn find_areas(conn: &mut DbConnection, session_ids: &[String]) -> QueryResult<Vec<SessionArea>> {
    session_areas::table
        .filter(session_areas::session_id.eq_any(session_ids))
        .order((session_areas::session_id.asc(), session_areas::position.asc()))
        .select(SessionArea::as_select())
        .load(conn)
}

pub fn replace_areas(conn: &mut DbConnection, session_id: &str, areas: &[SessionArea]) -> QueryResult<()> {
    diesel::delete(session_areas::table.filter(session_areas::session_id.eq(session_id))).execute(conn)?;
    insert_areas(conn, areas)
}

fn insert_areas(conn: &mut DbConnection, areas: &[SessionArea]) -> QueryResult<()> {
    for area in areas {
        diesel::insert_into(session_areas::table).values(area).execute(conn)?;
    }
    Ok(())
}

/// A course's sessions in time order.
pub fn find_for_course(conn: &mut DbConnection, course_id: &str) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::course_id.eq(course_id))
        .order((sessions::performed_at.asc(), sessions::id.asc()))
        .select(Session::as_select())
        .load(conn)
}

/// A patient's sessions in time order.
pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::patient_id.eq(patient_id))
        .select(Session::as_select())
        .order((sessions::performed_at.asc(), sessions::id.asc()))
        .load(conn)
}

/// A completed session as a progress chart marks it (read by `scores::progress_rows`).
#[derive(Debug, Clone)]
pub struct CompletedSession {
    pub id: String,
    pub patient_id: String,
    pub performed_at: NaiveDateTime,
}

pub fn update_session(conn: &mut DbConnection, id: &str, changes: &SessionChanges) -> QueryResult<Session> {
    diesel::update(sessions::table.find(id)).set(changes).returning(sessions::all_columns).get_result(conn)
}

/// When each of these sessions was performed.
pub fn performed_at(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    sessions::table.filter(sessions::id.eq_any(ids)).select((sessions::id, sessions::performed_at)).load(conn)
}

/// Whose sessions a page lists.
#[derive(Debug, Clone, Copy)]
pub enum SessionsOf<'a> {
    Patient(&'a str),
    Course(&'a str),
}

/// A page of sessions in time order (`performed_at`, then id), only those changed at or after
/// `since` when given.
pub fn page(
    conn: &mut DbConnection,
    of: SessionsOf<'_>,
    since: Option<NaiveDateTime>,
    after: Option<&After<NaiveDateTime>>,
    limit: i64,
) -> QueryResult<Vec<Session>> {
    let mut q = match of {
        SessionsOf::Patient(id) => sessions::table.filter(sessions::patient_id.eq(id)).into_boxed(),
        SessionsOf::Course(id) => sessions::table.filter(sessions::course_id.eq(id)).into_boxed(),
    };
    if let Some(since) = since {
        q = q.filter(sessions::updated_at.ge(since));
    }
    if let Some(a) = after {
        q = q.filter(
            sessions::performed_at.gt(a.key).or(sessions::performed_at.eq(a.key).and(sessions::id.gt(a.id.clone()))),
        );
    }
    q.order((sessions::performed_at.asc(), sessions::id.asc())).limit(limit).select(Session::as_select()).load(conn)
}

/// The sessions of the given courses, in time order.
pub fn find_for_courses(conn: &mut DbConnection, course_ids: &[String]) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::course_id.eq_any(course_ids))
        .order((sessions::performed_at.asc(), sessions::id.asc()))
        .select(Session::as_select())
        .load(conn)
}
