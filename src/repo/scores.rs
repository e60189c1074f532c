//! Scales (seeded, versioned definitions) and scores recorded on them.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::NaiveDateTime;
use diesel::{
    prelude::*,
    sql_types::{Double, Nullable, Text, Timestamp},
};

use crate::db::{
    DbConnection, DbTime,
    schema::{scales, scores},
};

use crate::{
    domain::scales::ScaleDef,
    repo::{patients::Scope, scoped::ScopedSql, sessions::CompletedSession},
};

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

/// A page of a patient's scores in time order (`recorded_at`, then id), only those recorded at or
/// after `since` when given.
pub fn page(
    conn: &mut DbConnection,
    patient_id: &str,
    since: Option<NaiveDateTime>,
    after: Option<&crate::wire::pagination::After<NaiveDateTime>>,
    limit: i64,
) -> QueryResult<Vec<Score>> {
    let mut q = scores::table.filter(scores::patient_id.eq(patient_id)).into_boxed();
    if let Some(since) = since {
        q = q.filter(scores::created_at.ge(since));
    }
    if let Some(a) = after {
        q = q.filter(scores::recorded_at.gt(a.key).or(scores::recorded_at.eq(a.key).and(scores::id.gt(a.id.clone()))));
    }
    q.order((scores::recorded_at.asc(), scores::id.asc())).limit(limit).select(Score::as_select()).load(conn)
}

/// A score as a progress series shows it.
#[derive(Debug, Clone)]
pub struct ScorePoint {
    pub id: String,
    pub patient_id: String,
    pub scale_code: String,
    pub rater: String,
    pub value: f64,
    pub session_id: Option<String>,
    pub recorded_at: NaiveDateTime,
}

/// One row of [`progress_rows`]' statement: a score, or a completed session (`kind` = `session`,
/// score columns null).
#[derive(Queryable)]
struct ProgressRow {
    kind: String,
    id: String,
    patient_id: String,
    scale_code: Option<String>,
    rater: Option<String>,
    value: Option<f64>,
    session_id: Option<String>,
    #[diesel(deserialize_as = DbTime)]
    at: NaiveDateTime,
}

/// What a patient's progress shows, as the caller may see it (`scope`): their scores, oldest
/// first, and their completed sessions, oldest first — the columns a chart needs (not a score's
/// item values, photos or region, nor a session's notes and products), in one statement.
pub fn progress_rows(
    conn: &mut DbConnection,
    scope: Scope<'_>,
) -> QueryResult<(Vec<ScorePoint>, Vec<CompletedSession>)> {
    type Row = (Text, Text, Text, Nullable<Text>, Nullable<Text>, Nullable<Double>, Nullable<Text>, Timestamp);
    /// The statement's name among prepared statements (see `ScopedQuery`).
    struct Progress;
    static PROGRESS: ScopedSql = ScopedSql::new(|filter| {
        format!(
            "SELECT 'score' AS kind, id, patient_id, scale_code, rater, value, session_id, recorded_at AS at \
             FROM scores WHERE {filter} \
             UNION ALL \
             SELECT 'session', id, patient_id, NULL, NULL, NULL, NULL, performed_at \
             FROM sessions WHERE {filter} AND status = 'completed'"
        )
    });
    let rows = match scope {
        Scope::Own { account_id, clinic_id } => {
            crate::db::natively!(conn, |c| PROGRESS.own::<Row, Progress>(account_id, clinic_id).load::<ProgressRow>(c))
        }
        Scope::InClinic { patient_id, clinic_id } => crate::db::natively!(conn, |c| PROGRESS
            .in_clinic::<Row, Progress>(patient_id, clinic_id)
            .load::<ProgressRow>(c)),
    }?;
    let (mut points, mut sessions) = (Vec::new(), Vec::new());
    for r in rows {
        match (r.kind.as_str(), r.scale_code, r.rater, r.value) {
            ("score", Some(scale_code), Some(rater), Some(value)) => points.push(ScorePoint {
                id: r.id,
                patient_id: r.patient_id,
                scale_code,
                rater,
                value,
                session_id: r.session_id,
                recorded_at: r.at,
            }),
            ("session", ..) => {
                sessions.push(CompletedSession { id: r.id, patient_id: r.patient_id, performed_at: r.at })
            }
            _ => return Err(diesel::result::Error::DeserializationError("a progress row of no known shape".into())),
        }
    }
    points.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
    sessions.sort_by(|a, b| (a.performed_at, &a.id).cmp(&(b.performed_at, &b.id)));
    Ok((points, sessions))
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

/// Every stored scale definition, all versions (a row that does not parse is left out).
pub fn all_definitions(conn: &mut DbConnection) -> QueryResult<Vec<ScaleDef>> {
    Ok(find_scales(conn)?.into_iter().filter_map(|r| serde_json::from_str(&r.definition).ok()).collect())
}

/// Every stored definition, read at most once a minute: a (code, version) row never changes,
/// and new versions only appear when a newer release seeds them at start-up.
#[derive(Clone, Default)]
pub struct ScaleCache(Arc<RwLock<Option<Cached>>>);

/// When the definitions were read, and the definitions.
type Cached = (Instant, Arc<Vec<ScaleDef>>);

const SCALE_CACHE_TTL: Duration = Duration::from_secs(60);

impl ScaleCache {
    /// The definitions, from the cache or (when it is older than a minute) from `conn`.
    pub fn all(&self, conn: &mut DbConnection) -> diesel::QueryResult<Arc<Vec<ScaleDef>>> {
        if let Some((at, defs)) = self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < SCALE_CACHE_TTL
        {
            return Ok(defs.clone());
        }
        let defs = Arc::new(all_definitions(conn)?);
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), defs.clone()));
        Ok(defs)
    }
}
