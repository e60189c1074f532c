//! Photos: metadata rows; the image bytes live in the photo store (local directory or S3).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::{
    db::{DbConnection, schema::photos},
    wire::pagination::After,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = photos)]
pub struct Photo {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub session_id: Option<String>,
    pub time_point: String,
    pub day_number: Option<i32>,
    pub view: String,
    pub area: Option<String>,
    pub taken_at: NaiveDateTime,
    pub colour_card: bool,
    /// JSON region of interest used for the redness metric.
    pub roi: Option<String>,
    /// SHA-256 of the uploaded bytes (recognises the same photo uploaded twice).
    pub sha256: String,
    pub width: i32,
    pub height: i32,
    pub full_bytes: i64,
    pub full_key: String,
    pub thumb_key: String,
    pub full_etag: String,
    pub thumb_etag: String,
    pub a_star: f64,
    pub algorithm_version: String,
    pub uploaded_by: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_photo(conn: &mut DbConnection, p: &Photo) -> QueryResult<()> {
    diesel::insert_into(photos::table).values(p).execute(conn).map(|_| ())
}

pub fn find_photo(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Photo>> {
    photos::table.find(id).select(Photo::as_select()).first(conn).optional()
}

pub fn find_by_sha(conn: &mut DbConnection, patient_id: &str, sha: &str) -> QueryResult<Option<Photo>> {
    photos::table
        .filter(photos::patient_id.eq(patient_id))
        .filter(photos::sha256.eq(sha))
        .select(Photo::as_select())
        .first(conn)
        .optional()
}

/// A patient's photos in time order, optionally by session and view.
pub fn find_for_patient(
    conn: &mut DbConnection,
    patient_id: &str,
    session_id: Option<&str>,
    view: Option<&str>,
) -> QueryResult<Vec<Photo>> {
    let mut q = photos::table.filter(photos::patient_id.eq(patient_id)).into_boxed();
    if let Some(s) = session_id {
        q = q.filter(photos::session_id.eq(s));
    }
    if let Some(v) = view {
        q = q.filter(photos::view.eq(v));
    }
    q.order((photos::taken_at.asc(), photos::id.asc())).select(Photo::as_select()).load(conn)
}

pub fn delete_photo(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(photos::table.filter(photos::id.eq(id))).execute(conn)
}

/// What a page of photos is filtered by.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhotoFilter<'a> {
    pub session_id: Option<&'a str>,
    pub view: Option<&'a str>,
    /// Only photos uploaded at or after this instant.
    pub since: Option<NaiveDateTime>,
}

/// A page of a patient's photos in time order (`taken_at`, then id).
pub fn page(
    conn: &mut DbConnection,
    patient_id: &str,
    filter: PhotoFilter<'_>,
    after: Option<&After<NaiveDateTime>>,
    limit: i64,
) -> QueryResult<Vec<Photo>> {
    let mut q = photos::table.filter(photos::patient_id.eq(patient_id)).into_boxed();
    if let Some(s) = filter.session_id {
        q = q.filter(photos::session_id.eq(s));
    }
    if let Some(v) = filter.view {
        q = q.filter(photos::view.eq(v));
    }
    if let Some(since) = filter.since {
        q = q.filter(photos::created_at.ge(since));
    }
    if let Some(a) = after {
        q = q.filter(photos::taken_at.gt(a.key).or(photos::taken_at.eq(a.key).and(photos::id.gt(a.id.clone()))));
    }
    q.order((photos::taken_at.asc(), photos::id.asc())).limit(limit).select(Photo::as_select()).load(conn)
}
