//! Courses: a patient's treatment plan, and what it tells about the next session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{from_db, new_id, to_db},
    domain::clinical::{Concern, CourseStatus, next_due},
    error::{ApiError, ApiResult, ErrorCode},
    repo::{
        audit as audit_repo,
        courses::{self, Course, CourseChanges},
        patients::Patient,
        sessions::{self, Session},
    },
    security::caller::AuthUser,
    services::validation::{Checks, double_option, each_once, text},
    services::{
        access,
        audit::{self, Action},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams, fetch_limit},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCourse {
    /// At least one.
    #[schema(min_items = 1)]
    pub concerns: Vec<Concern>,
    /// 1–12.
    #[schema(minimum = 1, maximum = 12)]
    pub planned_sessions: i32,
    /// Days between sessions, 1–365 (default 28).
    #[schema(minimum = 1, maximum = 365)]
    pub interval_days: Option<i32>,
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub notes: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCourse {
    #[schema(min_items = 1)]
    pub concerns: Option<Vec<Concern>>,
    #[schema(minimum = 1, maximum = 12)]
    pub planned_sessions: Option<i32>,
    #[schema(minimum = 1, maximum = 365)]
    pub interval_days: Option<i32>,
    pub status: Option<CourseStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 10000, pattern = r"\S")]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseView {
    pub id: String,
    pub patient_id: String,
    pub concerns: Vec<Concern>,
    pub planned_sessions: i32,
    pub interval_days: i32,
    pub status: CourseStatus,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Completed (not cancelled) sessions.
    pub sessions_done: i64,
    pub last_session_at: Option<DateTime<Utc>>,
    /// One interval after the last session; absent before the first.
    pub next_session_due_at: Option<DateTime<Utc>>,
    /// Whether a session booked now would come sooner than the interval allows.
    pub next_session_too_soon: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn view(course: Course, sessions: &[Session], now: DateTime<Utc>, staff: bool) -> ApiResult<CourseView> {
    let done: Vec<&Session> = sessions.iter().filter(|s| s.status == "completed").collect();
    let last = done.iter().map(|s| from_db(s.performed_at)).max();
    let due = next_due(last, course.interval_days);
    Ok(CourseView {
        concerns: serde_json::from_str(&course.concerns).map_err(ApiError::internal)?,
        status: crate::domain::from_wire(&course.status).unwrap_or(CourseStatus::Active),
        notes: if staff { course.notes } else { None },
        sessions_done: i64::try_from(done.len()).unwrap_or(i64::MAX),
        last_session_at: last,
        next_session_due_at: due,
        next_session_too_soon: due.is_some_and(|d| now < d),
        created_at: from_db(course.created_at),
        updated_at: from_db(course.updated_at),
        id: course.id,
        patient_id: course.patient_id,
        planned_sessions: course.planned_sessions,
        interval_days: course.interval_days,
    })
}

fn check_concerns(c: &mut Checks, concerns: &[Concern]) -> Option<String> {
    if concerns.is_empty() {
        c.fail("concerns", "must name at least one concern");
        return None;
    }
    serde_json::to_string(&each_once(concerns)).ok()
}

fn check_range(c: &mut Checks, field: &str, v: i32, lo: i32, hi: i32) -> Option<i32> {
    c.check(field, if (lo..=hi).contains(&v) { Ok(v) } else { Err(format!("must be between {lo} and {hi}")) })
}

pub async fn create(state: &AppState, user: &AuthUser, patient: &Patient, body: CreateCourse) -> ApiResult<CourseView> {
    user.require_staff()?;
    if patient.archived_at.is_some() {
        return Err(ApiError::code(ErrorCode::PatientArchived));
    }
    let mut c = Checks::default();
    let concerns = check_concerns(&mut c, &body.concerns);
    let planned = check_range(&mut c, "planned_sessions", body.planned_sessions, 1, 12);
    let interval = check_range(&mut c, "interval_days", body.interval_days.unwrap_or(28), 1, 365);
    let notes = body.notes.as_deref().and_then(|n| c.check("notes", text(n, 10_000)));
    c.finish()?;
    let (Some(concerns), Some(planned), Some(interval)) = (concerns, planned, interval) else {
        return Err(ApiError::internal(anyhow::anyhow!("checked fields missing")));
    };
    let now = state.now();
    let course = Course {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        concerns,
        planned_sessions: planned,
        interval_days: interval,
        status: "active".into(),
        notes,
        created_by: user.account_id.clone(),
        created_at: to_db(now),
        updated_at: to_db(now),
    };
    let stored = course.clone();
    let event = audit::event(user, Action::Create, "course", Some(&course.id), Some(&patient.id), now);
    state
        .db
        .write(move |c| -> ApiResult<()> {
            courses::insert_course(c, &stored)?;
            audit_repo::insert_events(c, &[event])?;
            Ok(())
        })
        .await?;
    view(course, &[], now, true)
}

/// The courses of a patient in scope, with their sessions summarised.
pub async fn list(state: &AppState, user: &AuthUser, patient: &Patient, q: &SyncParams) -> ApiResult<Page<CourseView>> {
    let (limit, after) = q.page().resolve()?;
    let (id, since) = (patient.id.clone(), q.since()?);
    let (rows, page_sessions) = state
        .db
        .run(move |c| {
            let rows = courses::page(c, &id, since, after.as_deref(), fetch_limit(limit))?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            Ok((rows, sessions::find_for_courses(c, &ids)?))
        })
        .await?;
    let now = state.now();
    state.audit.record(audit::event(user, Action::List, "course", None, Some(&patient.id), now)).await;
    let page = Page::from_rows(
        rows,
        limit,
        |r| r.id.as_str(),
        |course| {
            let own: Vec<Session> = page_sessions.iter().filter(|s| s.course_id == course.id).cloned().collect();
            view(course, &own, now, user.role.is_staff())
        },
    );
    Ok(Page { items: page.items.into_iter().collect::<ApiResult<_>>()?, next_cursor: page.next_cursor })
}

pub async fn read(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<CourseView> {
    let (u, id) = (user.clone(), id.to_owned());
    let (course, sessions) = state
        .db
        .run(move |c| {
            let Some((course, _)) = access::course(c, &u, &id)? else { return Ok(None) };
            let sessions = sessions::find_for_course(c, &course.id)?;
            Ok(Some((course, sessions)))
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    let now = state.now();
    state
        .audit
        .record(audit::event(user, Action::Read, "course", Some(&course.id), Some(&course.patient_id), now))
        .await;
    view(course, &sessions, now, user.role.is_staff())
}

pub async fn update(state: &AppState, user: &AuthUser, id: &str, body: UpdateCourse) -> ApiResult<CourseView> {
    user.require_staff()?;
    let now = state.now();
    let mut c = Checks::default();
    let mut changes = CourseChanges { updated_at: Some(to_db(now)), ..Default::default() };
    changes.concerns = body.concerns.as_deref().and_then(|cs| check_concerns(&mut c, cs));
    changes.planned_sessions = body.planned_sessions.and_then(|v| check_range(&mut c, "planned_sessions", v, 1, 12));
    changes.interval_days = body.interval_days.and_then(|v| check_range(&mut c, "interval_days", v, 1, 365));
    changes.status = body.status.map(crate::domain::wire_name);
    changes.notes = match &body.notes {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => c.check("notes", text(n, 10_000)).map(Some),
    };
    c.finish()?;
    let (u, id) = (user.clone(), id.to_owned());
    let (course, sessions) = state
        .db
        .write(move |c| -> ApiResult<(Course, Vec<Session>)> {
            let (current, _) = access::course(c, &u, &id)?.ok_or_else(ApiError::not_found)?;
            let updated = courses::update_course(c, &current.id, &changes)?;
            if updated.status == "cancelled" && current.status != "cancelled" {
                crate::services::reminders::cancel_course(c, &current.id, now)?;
            }
            let event = audit::event(&u, Action::Update, "course", Some(&current.id), Some(&current.patient_id), now);
            audit_repo::insert_events(c, &[event])?;
            let sessions = sessions::find_for_course(c, &current.id)?;
            Ok((updated, sessions))
        })
        .await?;
    view(course, &sessions, now, true)
}
