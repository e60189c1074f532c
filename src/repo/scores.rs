//! Scales (seeded, versioned definitions) and scores recorded on them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{
    DbConnection, DbTime,
    schema::{scales, scores},
};

use crate::repo::patients::{Scope, in_scope};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scales)]
pub struct ScaleRow {
    pub code: String,
    pub version: i32,
    /// JSON `ScaleDef`.
    pub definition: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scores)]
pub struct Score {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub scale_code: String,
    pub scale_version: i32,
    pub value: f64,
    /// JSON object of item values, for item scales.
    pub item_values: Option<String>,
    /// JSON array of photo ids the score was derived from.
    pub photo_ids: String,
    pub session_id: Option<String>,
    pub time_point: Option<String>,
    pub rater: String,
    pub rater_account_id: Option<String>,
    pub algorithm_version: Option<String>,
    pub roi: Option<String>,
    pub baseline_delta: Option<f64>,
    #[diesel(deserialize_as = DbTime)]
    pub recorded_at: NaiveDateTime,
    #[diesel(deserialize_as = DbTime)]
    pub created_at: NaiveDateTime,
}

pub fn find_scales(conn: &mut DbConnection) -> QueryResult<Vec<ScaleRow>> {
    scales::table.order((scales::code.asc(), scales::version.asc())).select(ScaleRow::as_select()).load(conn)
}

pub fn scale_exists(conn: &mut DbConnection, code: &str, version: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(scales::table.filter(scales::code.eq(code)).filter(scales::version.eq(version))))
        .get_result(conn)
}

pub fn insert_scale(conn: &mut DbConnection, row: &ScaleRow) -> QueryResult<()> {
    diesel::insert_into(scales::table).values(row).execute(conn).map(|_| ())
}

pub fn insert_score(conn: &mut DbConnection, s: &Score) -> QueryResult<()> {
    diesel::insert_into(scores::table).values(s).execute(conn).map(|_| ())
}

/// A patient's scores in time order.
pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Score>> {
    scores::table
        .filter(scores::patient_id.eq(patient_id))
        .select(Score::as_select())
        .order((scores::recorded_at.asc(), scores::id.asc()))
        .load(conn)
}

/// A score as a progress series shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scores)]
pub struct ScorePoint {
    pub id: String,
    pub patient_id: String,
    pub scale_code: String,
    pub rater: String,
    pub value: f64,
    pub session_id: Option<String>,
    #[diesel(deserialize_as = DbTime)]
    pub recorded_at: NaiveDateTime,
}

/// A patient's scores, oldest first, as the caller may see them (`scope`): the columns a
/// progress series needs (not the item values, photos or region of interest).
pub fn points_in_scope(conn: &mut DbConnection, scope: Scope<'_>) -> QueryResult<Vec<ScorePoint>> {
    crate::db::natively!(conn, |c| in_scope!(scores, scope, |q| q
        .select(ScorePoint::as_select())
        .order((scores::recorded_at.asc(), scores::id.asc()))
        .load(c)))
}

/// Removes the automatic scores computed from a photo.
pub fn delete_automatic_for_photo(conn: &mut DbConnection, patient_id: &str, photo_id: &str) -> QueryResult<usize> {
    let pattern = format!("[\"{photo_id}\"]");
    diesel::delete(
        scores::table
            .filter(scores::patient_id.eq(patient_id))
            .filter(scores::rater.eq("automatic"))
            .filter(scores::photo_ids.eq(pattern)),
    )
    .execute(conn)
}
