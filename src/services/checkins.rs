//! Check-ins and serum logs from the patient's app, and what they set off: escalation alerts
//! (urgent ones emailed to staff) and adherence figures.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, from_db, new_id, to_db},
    domain::escalation::{CheckinPoint, EscalationRules, RedFlag, evaluate_checkin},
    error::{ApiError, ApiResult},
    repo::{
        alerts::Alert,
        audit as audit_repo,
        checkins::{self, Checkin, SerumApplication},
        patients::Patient,
        reminders,
        sessions::{self, Session},
    },
    security::caller::AuthUser,
    services::validation::{Checks, text},
    services::{
        alerts::{self, Subject},
        audit::{self, Action},
        webhooks::{self, EventType},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams, fetch_limit},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckin {
    /// 0 none, 1 faint, 2 mild, 3 moderate, 4 severe.
    #[schema(minimum = 0, maximum = 4)]
    pub redness: u8,
    #[schema(minimum = 0, maximum = 3)]
    pub swelling: u8,
    #[schema(minimum = 0, maximum = 10)]
    pub pain: u8,
    #[schema(minimum = 0, maximum = 3)]
    pub itch: u8,
    #[serde(default)]
    pub red_flags: Vec<RedFlag>,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: Option<String>,
    /// When the patient filled it in (offline apps send later); default now, at most 7 days ago.
    pub reported_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinView {
    pub id: String,
    pub session_id: Option<String>,
    pub redness: i32,
    pub swelling: i32,
    pub pain: i32,
    pub itch: i32,
    pub red_flags: Vec<RedFlag>,
    pub note: Option<String>,
    pub reported_at: DateTime<Utc>,
    /// Alerts this check-in raised (the clinic has been told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts_raised: Option<usize>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSerumApplication {
    #[schema(example = "Hyaluronic acid serum", min_length = 1, max_length = 120, pattern = r"\S")]
    pub product: String,
    pub applied_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SerumApplicationView {
    pub id: String,
    pub session_id: Option<String>,
    pub product: String,
    pub applied_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdherenceView {
    pub session_id: String,
    /// Serum reminders the protocol planned for this session.
    pub planned_serum_applications: i64,
    /// Serum applications the patient logged during that window.
    pub logged_serum_applications: i64,
    /// logged / planned, at most 1; absent when nothing was planned.
    pub ratio: Option<f64>,
}

pub fn view(c: Checkin) -> CheckinView {
    CheckinView {
        red_flags: serde_json::from_str(&c.red_flags).unwrap_or_default(),
        reported_at: from_db(c.reported_at),
        id: c.id,
        session_id: c.session_id,
        redness: c.redness,
        swelling: c.swelling,
        pain: c.pain,
        itch: c.itch,
        note: c.note,
        alerts_raised: None,
    }
}

pub fn serum_view(s: SerumApplication) -> SerumApplicationView {
    SerumApplicationView { applied_at: from_db(s.applied_at), id: s.id, session_id: s.session_id, product: s.product }
}

fn range(c: &mut Checks, field: &str, v: u8, max: u8) -> i32 {
    if v > max {
        c.fail(field, format!("must be 0 to {max}"));
    }
    i32::from(v)
}

/// The latest completed session performed at or before `at`.
fn session_before(
    conn: &mut DbConnection,
    patient_id: &str,
    at: DateTime<Utc>,
) -> diesel::QueryResult<Option<Session>> {
    Ok(sessions::find_for_patient(conn, patient_id)?
        .into_iter()
        .filter(|s| s.status == "completed" && from_db(s.performed_at) <= at)
        .max_by_key(|s| s.performed_at))
}

pub async fn create_checkin(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    body: CreateCheckin,
) -> ApiResult<CheckinView> {
    let now = state.now();
    let (view, _) = record(state, patient, body, |id| {
        audit::event(user, Action::Create, "checkin", Some(id), Some(&patient.id), now)
    })
    .await?;
    Ok(view)
}

/// Records a check-in exactly as the app's does (validation, the session it follows, webhooks,
/// escalation), with the audit event `event` makes for its id; also answers whether an alert it
/// raised is urgent (the patient should call the clinic now).
pub(crate) async fn record(
    state: &AppState,
    patient: &Patient,
    body: CreateCheckin,
    event: impl FnOnce(&str) -> crate::repo::audit::AuditEvent,
) -> ApiResult<(CheckinView, bool)> {
    let now = state.now();
    let mut c = Checks::default();
    let redness = range(&mut c, "redness", body.redness, 4);
    let swelling = range(&mut c, "swelling", body.swelling, 3);
    let pain = range(&mut c, "pain", body.pain, 10);
    let itch = range(&mut c, "itch", body.itch, 3);
    let note = body.note.as_deref().and_then(|n| c.check("note", text(n, 2_000)));
    let at = body.reported_at.unwrap_or(now);
    if at > now + Duration::minutes(5) || at < now - Duration::days(7) {
        c.fail("reported_at", "must be within the last 7 days");
    }
    c.finish()?;
    let mut flags = body.red_flags.clone();
    flags.dedup();
    let row = Checkin {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        session_id: None,
        redness,
        swelling,
        pain,
        itch,
        red_flags: serde_json::to_string(&flags).map_err(ApiError::internal)?,
        note,
        reported_at: to_db(at),
        created_at: to_db(now),
    };
    let event = event(&row.id);
    let current = CheckinPoint { at, redness: body.redness, red_flags: flags };
    let (row, raised) = state
        .db
        .write(move |c| -> ApiResult<(Checkin, Vec<Alert>)> {
            let mut row = row;
            let session = session_before(c, &row.patient_id, at)?;
            row.session_id = session.as_ref().map(|s| s.id.clone());
            let previous = checkins::find_checkins(c, &row.patient_id, 20)?
                .into_iter()
                .filter(|p| p.session_id == row.session_id && from_db(p.reported_at) <= at)
                .max_by_key(|p| p.reported_at);
            checkins::insert_checkin(c, &row)?;
            audit_repo::insert_events(c, &[event])?;
            let data = serde_json::json!({
                "checkin_id": row.id,
                "patient_id": row.patient_id,
                "session_id": row.session_id,
                "redness": row.redness,
                "swelling": row.swelling,
                "pain": row.pain,
                "itch": row.itch,
                "red_flags": current.red_flags,
                "reported_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            let (clinic, patient) = (row.clinic_id.clone(), row.patient_id.clone());
            webhooks::enqueue(c, &clinic, EventType::CheckinCreated, Some(&patient), data, now)?;
            let mut raised = Vec::new();
            if let Some(session) = &session {
                let prev = previous.map(|p| CheckinPoint {
                    at: from_db(p.reported_at),
                    redness: u8::try_from(p.redness).unwrap_or(0),
                    red_flags: Vec::new(),
                });
                let rules = EscalationRules::default();
                let about =
                    Subject { clinic_id: &row.clinic_id, patient_id: &row.patient_id, session_id: Some(&session.id) };
                for r in evaluate_checkin(from_db(session.performed_at), prev.as_ref(), &current, &rules) {
                    raised.extend(alerts::raise(c, &about, &r, now)?);
                }
            } else if !current.red_flags.is_empty() {
                // No session yet: red flags still reach the clinic.
                let about = Subject { clinic_id: &row.clinic_id, patient_id: &row.patient_id, session_id: None };
                for r in evaluate_checkin(at, None, &current, &EscalationRules::default()) {
                    raised.extend(alerts::raise(c, &about, &r, now)?);
                }
            }
            Ok((row, raised))
        })
        .await?;
    let urgent = raised.iter().any(|a| a.severity == "urgent");
    Ok((CheckinView { alerts_raised: Some(raised.len()), ..view(row) }, urgent))
}

pub async fn list_checkins(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    q: &SyncParams,
) -> ApiResult<Page<CheckinView>> {
    let (limit, after) = q.page().resolve_keyed()?;
    let (id, since) = (patient.id.clone(), q.since()?);
    let rows =
        state.db.run(move |c| checkins::page_checkins(c, &id, since, after.as_ref(), fetch_limit(limit))).await?;
    state.audit.record(audit::event(user, Action::List, "checkin", None, Some(&patient.id), state.now())).await;
    Ok(Page::from_keyed_rows(rows, limit, |r| (r.reported_at, r.id.as_str()), view))
}

pub async fn create_serum(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    body: CreateSerumApplication,
) -> ApiResult<SerumApplicationView> {
    let now = state.now();
    record_serum(state, patient, body, |id| {
        audit::event(user, Action::Create, "serum_application", Some(id), Some(&patient.id), now)
    })
    .await
}

/// Records a serum application as the app's are, with the audit event `event` makes for its id.
pub(crate) async fn record_serum(
    state: &AppState,
    patient: &Patient,
    body: CreateSerumApplication,
    event: impl FnOnce(&str) -> crate::repo::audit::AuditEvent,
) -> ApiResult<SerumApplicationView> {
    let now = state.now();
    let mut c = Checks::default();
    let product = c.check("product", text(&body.product, 120));
    if body.applied_at > now + Duration::minutes(5) || body.applied_at < now - Duration::days(30) {
        c.fail("applied_at", "must be within the last 30 days");
    }
    c.finish()?;
    let row = SerumApplication {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        session_id: None,
        product: product.unwrap_or_default(),
        applied_at: to_db(body.applied_at),
        created_at: to_db(now),
    };
    let event = event(&row.id);
    let at = body.applied_at;
    let row = state
        .db
        .write(move |c| -> ApiResult<SerumApplication> {
            let mut row = row;
            row.session_id = session_before(c, &row.patient_id, at)?.map(|s| s.id);
            checkins::insert_serum(c, &row)?;
            audit_repo::insert_events(c, &[event])?;
            Ok(row)
        })
        .await?;
    Ok(serum_view(row))
}

pub async fn list_serum(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    q: &SyncParams,
) -> ApiResult<Page<SerumApplicationView>> {
    let (limit, after) = q.page().resolve_keyed()?;
    let (id, since) = (patient.id.clone(), q.since()?);
    let rows = state.db.run(move |c| checkins::page_serum(c, &id, since, after.as_ref(), fetch_limit(limit))).await?;
    state
        .audit
        .record(audit::event(user, Action::List, "serum_application", None, Some(&patient.id), state.now()))
        .await;
    Ok(Page::from_keyed_rows(rows, limit, |r| (r.applied_at, r.id.as_str()), serum_view))
}

/// Logged vs planned serum applications for one session in the caller's scope.
pub async fn adherence(state: &AppState, user: &AuthUser, session_id: &str) -> ApiResult<AdherenceView> {
    let (u, id) = (user.clone(), session_id.to_owned());
    let result = state
        .db
        .run(move |c| {
            let Some((session, _)) = crate::services::access::session(c, &u, &id)? else { return Ok(None) };
            let planned: Vec<_> = reminders::find_for_session(c, &session.id)?
                .into_iter()
                .filter(|r| r.kind == "serum" && r.status_reason.as_deref() != Some("session_cancelled"))
                .collect();
            let Some(last) = planned.iter().map(|r| r.planned_at).max() else {
                return Ok(Some((session, 0_i64, 0_i64)));
            };
            let logged =
                checkins::serum_times(c, &session.patient_id, session.performed_at, last + Duration::hours(3))?;
            let planned_n = i64::try_from(planned.len()).unwrap_or(i64::MAX);
            Ok(Some((session, planned_n, i64::try_from(logged.len()).unwrap_or(i64::MAX))))
        })
        .await?;
    let (session, planned, logged) = result.ok_or_else(ApiError::not_found)?;
    let event =
        audit::event(user, Action::Read, "adherence", Some(&session.id), Some(&session.patient_id), state.now());
    state.audit.record(event).await;
    Ok(AdherenceView {
        session_id: session.id,
        planned_serum_applications: planned,
        logged_serum_applications: logged,
        ratio: (planned > 0).then(|| (logged as f64 / planned as f64).min(1.0)),
    })
}
