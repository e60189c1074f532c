//! Courses: a treatment plan for one patient.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{
    DbConnection,
    schema::{courses, sessions},
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = courses)]
pub struct Course {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    /// JSON array of concern names.
    pub concerns: String,
    pub planned_sessions: i32,
    pub interval_days: i32,
    pub status: String,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = courses)]
pub struct CourseChanges {
    pub concerns: Option<String>,
    pub planned_sessions: Option<i32>,
    pub interval_days: Option<i32>,
    pub status: Option<String>,
    pub notes: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert_course(conn: &mut DbConnection, course: &Course) -> QueryResult<()> {
    diesel::insert_into(courses::table).values(course).execute(conn).map(|_| ())
}

pub fn find_course(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Course>> {
    courses::table.find(id).select(Course::as_select()).first(conn).optional()
}

pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Course>> {
    courses::table
        .filter(courses::patient_id.eq(patient_id))
        .order(courses::id.desc())
        .select(Course::as_select())
        .load(conn)
}

pub fn update_course(conn: &mut DbConnection, id: &str, changes: &CourseChanges) -> QueryResult<Course> {
    diesel::update(courses::table.find(id)).set(changes).returning(courses::all_columns).get_result(conn)
}

/// A page of a patient's courses, newest first. With `since`, only the courses changed at or
/// after it, or with a session changed at or after it (a course's view counts its sessions).
pub fn page(
    conn: &mut DbConnection,
    patient_id: &str,
    since: Option<NaiveDateTime>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Course>> {
    let mut q = courses::table.filter(courses::patient_id.eq(patient_id)).into_boxed();
    if let Some(since) = since {
        let touched = sessions::table
            .filter(sessions::patient_id.eq(patient_id))
            .filter(sessions::updated_at.ge(since))
            .select(sessions::course_id);
        q = q.filter(courses::updated_at.ge(since).or(courses::id.eq_any(touched)));
    }
    if let Some(after) = after {
        q = q.filter(courses::id.lt(after));
    }
    q.order(courses::id.desc()).limit(limit).select(Course::as_select()).load(conn)
}
