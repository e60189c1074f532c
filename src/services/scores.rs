//! Scores on validated scales, and progress: per scale (and rater) the series over the course,
//! baseline, latest, change, and whether the change is clinically meaningful.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{from_db, new_id, to_db},
    domain::{
        Role,
        scales::{Direction, Rater, ScaleDef, meaningful, score_value},
    },
    error::{ApiError, ApiResult, FieldError},
    media::chart,
    repo::{
        audit as audit_repo,
        patients::Patient,
        photos,
        scores::{self, Score, ScorePoint},
        sessions::{self, CompletedSession},
    },
    security::caller::AuthUser,
    services::{
        access,
        audit::{self, Action},
        photos::TimePoint,
        scales,
    },
    state::AppState,
    wire::json::{JsonWriter, WriteJson},
    wire::pagination::{Page, SyncParams, fetch_limit},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScore {
    /// Scale code, e.g. `gais`, `posas_observer`.
    pub scale: String,
    /// Default: the latest version.
    pub version: Option<i32>,
    /// For scales scored directly.
    pub value: Option<f64>,
    /// For item scales (POSAS, Vancouver, Goodman & Baron quantitative).
    #[schema(nullable = false)]
    pub items: Option<BTreeMap<String, f64>>,
    /// Photos the score was made from.
    #[serde(default)]
    pub photo_ids: Vec<String>,
    pub session_id: Option<String>,
    pub time_point: Option<TimePoint>,
    /// Who rated: `clinician` or `patient` (patients may only send `patient`).
    pub rater: Rater,
    /// Default now.
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreView {
    pub id: String,
    pub scale: String,
    pub version: i32,
    pub value: f64,
    /// Each item's value, on item scales; absent on scales scored directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub items: Option<BTreeMap<String, f64>>,
    pub photo_ids: Vec<String>,
    pub session_id: Option<String>,
    pub time_point: Option<String>,
    pub rater: Rater,
    pub algorithm_version: Option<String>,
    pub change_from_baseline: Option<f64>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressPoint {
    #[serde(serialize_with = "crate::wire::json::instant")]
    pub at: DateTime<Utc>,
    pub value: f64,
    pub session_id: Option<String>,
    pub score_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScaleProgress {
    pub scale: String,
    pub name: String,
    pub rater: Rater,
    pub direction: Direction,
    pub min: f64,
    pub max: f64,
    pub series: Vec<ProgressPoint>,
    pub baseline: f64,
    pub latest: f64,
    /// latest − baseline.
    pub change: f64,
    /// Whether the change is better (by the scale's direction).
    pub improved: bool,
    /// By the scale's rule (e.g. GAIS ≤ 3, a ≥ 1-grade drop); absent when the scale has none
    /// or there is only the baseline.
    pub clinically_meaningful: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionMark {
    pub id: String,
    #[serde(serialize_with = "crate::wire::json::instant")]
    pub performed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub patient_id: String,
    pub scales: Vec<ScaleProgress>,
    /// Completed sessions, for marking on charts.
    pub sessions: Vec<SessionMark>,
}

impl ProgressView {
    /// What its chart shows (`media::chart`).
    pub fn chart(&self) -> chart::Progress {
        chart::Progress {
            scales: self
                .scales
                .iter()
                .map(|s| chart::Panel {
                    scale: s.scale.clone(),
                    name: s.name.clone(),
                    rater: s.rater,
                    direction: s.direction,
                    min: s.min,
                    max: s.max,
                    series: s.series.iter().map(|p| chart::Point { at: p.at, value: p.value }).collect(),
                    improved: s.improved,
                })
                .collect(),
            sessions: self.sessions.iter().map(|s| chart::SessionMark { performed_at: s.performed_at }).collect(),
        }
    }
}

fn rater_name(r: Rater) -> String {
    crate::domain::wire_name(r)
}

fn parse_rater(s: &str) -> Rater {
    crate::domain::from_wire(s).unwrap_or(Rater::Automatic)
}

pub fn view(s: Score) -> ScoreView {
    ScoreView {
        items: s.item_values.as_deref().and_then(|i| serde_json::from_str(i).ok()),
        photo_ids: serde_json::from_str(&s.photo_ids).unwrap_or_default(),
        rater: parse_rater(&s.rater),
        recorded_at: from_db(s.recorded_at),
        change_from_baseline: s.baseline_delta,
        id: s.id,
        scale: s.scale_code,
        version: s.scale_version,
        value: s.value,
        session_id: s.session_id,
        time_point: s.time_point,
        algorithm_version: s.algorithm_version,
    }
}

/// Records a score for a patient in the caller's scope.
pub async fn create(state: &AppState, user: &AuthUser, patient: &Patient, body: CreateScore) -> ApiResult<ScoreView> {
    match (user.role, body.rater) {
        (_, Rater::Automatic) => return Err(ApiError::invalid("rater", "automatic scores come from photos only")),
        (Role::Patient, Rater::Clinician) => return Err(ApiError::invalid("rater", "patients rate as `patient`")),
        _ => {}
    }
    let now = state.now();
    let recorded_at = body.recorded_at.unwrap_or(now);
    if recorded_at > now + chrono::Duration::minutes(5) {
        return Err(ApiError::invalid("recorded_at", "must not be in the future"));
    }
    let (pid, code, version, sid, photo_ids) =
        (patient.id.clone(), body.scale.clone(), body.version, body.session_id.clone(), body.photo_ids.clone());
    let (def, session_ok, photos_ok) = state
        .db
        .run(move |c| {
            let def = scales::find(c, &code, version)?;
            let session_ok = match &sid {
                Some(s) => sessions::find_session(c, s)?.is_some_and(|s| s.patient_id == pid),
                None => true,
            };
            let own: Vec<String> = photos::find_for_patient(c, &pid, None, None)?.into_iter().map(|p| p.id).collect();
            Ok((def, session_ok, photo_ids.iter().all(|p| own.contains(p))))
        })
        .await?;
    let def: ScaleDef =
        def.ok_or_else(|| ApiError::invalid("scale", format!("`{}` is not a known scale (version)", body.scale)))?;
    let mut errors: Vec<FieldError> = Vec::new();
    if !def.raters.contains(&body.rater) {
        errors.push(FieldError::new("rater", format!("this scale is not rated by `{}`", rater_name(body.rater))));
    }
    if !session_ok {
        errors.push(FieldError::new("session_id", "is not a session of this patient"));
    }
    if !photos_ok || body.photo_ids.len() > 20 {
        errors.push(FieldError::new("photo_ids", "must be photos of this patient (at most 20)"));
    }
    let value = match score_value(&def, body.value, body.items.as_ref()) {
        Ok(v) => Some(v),
        Err(list) => {
            errors.extend(list.into_iter().map(|(f, m)| FieldError::new(f, m)));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let value = value.unwrap_or_default();
    let row = Score {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        scale_code: def.code.clone(),
        scale_version: def.version,
        value,
        item_values: body.items.as_ref().and_then(|i| serde_json::to_string(i).ok()),
        photo_ids: serde_json::to_string(&body.photo_ids).map_err(ApiError::internal)?,
        session_id: body.session_id.clone(),
        time_point: body
            .time_point
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        rater: rater_name(body.rater),
        rater_account_id: Some(user.account_id.clone()),
        algorithm_version: None,
        roi: None,
        baseline_delta: None,
        recorded_at: to_db(recorded_at),
        created_at: to_db(now),
    };
    let event = audit::event(user, Action::Create, "score", Some(&row.id), Some(&patient.id), now);
    let row = state
        .db
        .write(move |c| -> ApiResult<Score> {
            let mut row = row;
            let baseline = scores::find_for_patient(c, &row.patient_id)?
                .into_iter()
                .find(|s| s.scale_code == row.scale_code && s.rater == row.rater && s.recorded_at <= row.recorded_at);
            row.baseline_delta = baseline.map(|b| row.value - b.value);
            scores::insert_score(c, &row)?;
            audit_repo::insert_events(c, &[event])?;
            Ok(row)
        })
        .await?;
    Ok(view(row))
}

pub async fn list(state: &AppState, user: &AuthUser, patient: &Patient, q: &SyncParams) -> ApiResult<Page<ScoreView>> {
    let (limit, after) = q.page().resolve_keyed()?;
    let (pid, since) = (patient.id.clone(), q.since()?);
    let rows = state.db.run(move |c| scores::page(c, &pid, since, after.as_ref(), fetch_limit(limit))).await?;
    state.audit.record(audit::event(user, Action::List, "score", None, Some(&patient.id), state.now())).await;
    Ok(Page::from_keyed_rows(rows, limit, |s| (s.recorded_at, s.id.as_str()), view))
}

/// Progress per (scale, rater) of the caller's own record (`staff_patient` = `None`) or of a patient of a staff
/// member's clinic, read with one connection: the scope check, scores and sessions.
pub async fn progress_of(state: &AppState, user: &AuthUser, staff_patient: Option<&str>) -> ApiResult<ProgressView> {
    let (u, staff_patient, cache) = (user.clone(), staff_patient.map(str::to_owned), state.scale_cache.clone());
    let (patient_id, rows, defs, sessions) = state
        .db
        .run(move |c| {
            let Some(scope) = access::scope(&u, staff_patient.as_deref()) else { return Ok(None) };
            let (rows, sessions) = scores::progress_rows(c, scope)?;
            let named = rows.first().map(|s| &s.patient_id).or(sessions.first().map(|s| &s.patient_id));
            let Some(patient_id) =
                access::scoped_patient_id(c, &u, staff_patient.as_deref(), named.map(String::as_str))?
            else {
                return Ok(None);
            };
            Ok(Some((patient_id, rows, cache.all(c)?, sessions)))
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.audit.record(audit::event(user, Action::Read, "progress", None, Some(&patient_id), state.now())).await;
    Ok(build_progress(patient_id, rows, &defs, sessions))
}

fn build_progress(
    patient_id: String,
    rows: Vec<ScorePoint>,
    defs: &[ScaleDef],
    sessions: Vec<CompletedSession>,
) -> ProgressView {
    let mut groups: BTreeMap<(String, String), Vec<ScorePoint>> = BTreeMap::new();
    for s in rows {
        groups.entry((s.scale_code.clone(), s.rater.clone())).or_default().push(s);
    }
    let mut out = Vec::new();
    for ((code, rater), series) in groups {
        let Some(def) = defs.iter().filter(|d| d.code == code).max_by_key(|d| d.version) else { continue };
        let (Some(first), Some(last)) = (series.first(), series.last()) else { continue };
        let (baseline, latest) = (first.value, last.value);
        let change = latest - baseline;
        out.push(ScaleProgress {
            scale: code,
            name: def.name.clone(),
            rater: parse_rater(&rater),
            direction: def.direction,
            min: def.min,
            max: def.max,
            improved: match def.direction {
                Direction::LowerIsBetter => change < 0.0,
                Direction::HigherIsBetter => change > 0.0,
            },
            clinically_meaningful: if series.len() > 1 { meaningful(def, baseline, latest) } else { None },
            baseline,
            latest,
            change: (change * 100.0).round() / 100.0,
            series: series
                .into_iter()
                .map(|s| ProgressPoint {
                    at: from_db(s.recorded_at),
                    value: s.value,
                    session_id: s.session_id,
                    score_id: s.id,
                })
                .collect(),
        });
    }
    ProgressView {
        patient_id,
        scales: out,
        sessions: sessions
            .into_iter()
            .map(|s| SessionMark { performed_at: from_db(s.performed_at), id: s.id })
            .collect(),
    }
}

/// Progress written by hand, byte for byte as serde writes it (a test checks arbitrary views): serde
/// escapes every key and text a byte at a time (its cost: docs/performance.md, item 28).
impl WriteJson for ProgressView {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"patient_id\":");
        out.str(&self.patient_id);
        out.raw(",\"scales\":");
        out.list(&self.scales);
        out.raw(",\"sessions\":");
        out.list(&self.sessions);
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        let scales: usize = self.scales.iter().map(WriteJson::size_hint).sum();
        64 + self.patient_id.len() + scales + self.sessions.iter().map(WriteJson::size_hint).sum::<usize>()
    }
}

impl WriteJson for ScaleProgress {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"scale\":");
        out.str(&self.scale);
        out.raw(",\"name\":");
        out.str(&self.name);
        out.raw(",\"rater\":");
        out.value(&self.rater);
        out.raw(",\"direction\":");
        out.value(&self.direction);
        out.raw(",\"min\":");
        out.value(&self.min);
        out.raw(",\"max\":");
        out.value(&self.max);
        out.raw(",\"series\":");
        out.list(&self.series);
        out.raw(",\"baseline\":");
        out.value(&self.baseline);
        out.raw(",\"latest\":");
        out.value(&self.latest);
        out.raw(",\"change\":");
        out.value(&self.change);
        out.raw(",\"improved\":");
        out.bool(self.improved);
        out.raw(",\"clinically_meaningful\":");
        match self.clinically_meaningful {
            Some(b) => out.bool(b),
            None => out.raw("null"),
        }
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        220 + self.series.len() * 120
    }
}

impl WriteJson for ProgressPoint {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"at\":");
        out.instant(&self.at);
        out.raw(",\"value\":");
        out.value(&self.value);
        out.raw(",\"session_id\":");
        out.opt_str(self.session_id.as_deref());
        out.raw(",\"score_id\":");
        out.str(&self.score_id);
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        120
    }
}

impl WriteJson for SessionMark {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"id\":");
        out.str(&self.id);
        out.raw(",\"performed_at\":");
        out.instant(&self.performed_at);
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        80
    }
}

#[cfg(test)]
mod tests {
    use proptest::{option, prelude::*};

    use super::*;
    use crate::wire::json::arbitrary::{instant, text as arbitrary_text};

    /// Any number, including those serde_json writes as `null` (not finite).
    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![any::<f64>(), -10.0..10.0f64, Just(f64::NAN), Just(f64::INFINITY), Just(0.0)]
    }

    fn scale() -> impl Strategy<Value = ScaleProgress> {
        let point = (instant(), number(), option::of(arbitrary_text()), arbitrary_text())
            .prop_map(|(at, value, session_id, score_id)| ProgressPoint { at, value, session_id, score_id });
        (
            (
                arbitrary_text(),
                arbitrary_text(),
                prop_oneof![Just(Rater::Clinician), Just(Rater::Patient), Just(Rater::Automatic)],
            ),
            (prop_oneof![Just(Direction::LowerIsBetter), Just(Direction::HigherIsBetter)], number(), number()),
            prop::collection::vec(point, 0..4),
            (number(), number(), number(), any::<bool>(), option::of(any::<bool>())),
        )
            .prop_map(
                |(
                    (scale, name, rater),
                    (direction, min, max),
                    series,
                    (baseline, latest, change, improved, clinically_meaningful),
                )| {
                    ScaleProgress {
                        scale,
                        name,
                        rater,
                        direction,
                        min,
                        max,
                        series,
                        baseline,
                        latest,
                        change,
                        improved,
                        clinically_meaningful,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn progress_is_written_as_serde_writes_it(
            patient_id in arbitrary_text(),
            scales in prop::collection::vec(scale(), 0..4),
            sessions in prop::collection::vec((arbitrary_text(), instant()), 0..4),
        ) {
            let view = ProgressView {
                patient_id,
                scales,
                sessions: sessions.into_iter().map(|(id, performed_at)| SessionMark { id, performed_at }).collect(),
            };
            let mut out = JsonWriter::with_capacity(view.size_hint());
            view.write_json(&mut out);
            let ours = String::from_utf8(out.finish().map_err(|e| TestCaseError::fail(e.to_string()))?)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(ours, serde_json::to_string(&view).map_err(|e| TestCaseError::fail(e.to_string()))?);
        }
    }
}
