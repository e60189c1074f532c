//! Planning reminders for sessions, inside the caller's transaction: a session's reminders are
//! written with it; re-planning (new session time, new zone or quiet hours) replaces only the
//! unsent ones and never repeats an occurrence already sent; cancelling a session or course
//! cancels the scheduled ones. Consent is per channel and checked when a reminder is due (see
//! `domain::dispatch`): a reminder is planned whatever the patient consents to, since it is also
//! the app's list and the calendar.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::QueryResult;

use crate::{
    db::{DbConnection, from_db, new_id, to_db},
    domain::{
        clinical::QuietHours,
        protocol::{self, Step},
    },
    repo::{
        courses,
        patients::Patient,
        protocols::{self, Protocol},
        reminders::{self, Reminder},
        sessions::{self, Session},
    },
};

/// The clinic's current protocol, creating version 1 from the built-in default on first use.
pub fn current_protocol(conn: &mut DbConnection, clinic_id: &str, now: DateTime<Utc>) -> QueryResult<Protocol> {
    if let Some(p) = protocols::find_latest(conn, clinic_id)? {
        return Ok(p);
    }
    let p = Protocol {
        id: new_id(),
        clinic_id: clinic_id.to_owned(),
        version: 1,
        steps: serde_json::to_string(&protocol::default_steps()).unwrap_or_else(|_| "[]".into()),
        created_by: None,
        created_at: to_db(now),
    };
    protocols::insert_protocol(conn, &p)?;
    Ok(p)
}

fn steps_of(p: &Protocol) -> Vec<Step> {
    serde_json::from_str(&p.steps).unwrap_or_default()
}

/// Plans (or re-plans) one session's reminders. Only future occurrences are written; sent,
/// skipped, failed or cancelled ones stay as they are.
pub fn plan_session(
    conn: &mut DbConnection,
    session: &Session,
    patient: &Patient,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let existing = reminders::find_for_session(conn, &session.id)?;
    let protocol = match existing.first() {
        Some(r) => protocols::find_protocol(conn, &r.protocol_id)?,
        None => None,
    };
    let protocol = match protocol {
        Some(p) => p,
        None => current_protocol(conn, &session.clinic_id, now)?,
    };
    reminders::delete_scheduled_for_session(conn, &session.id)?;
    if session.status != "completed" {
        return Ok(0);
    }
    let course = courses::find_course(conn, &session.course_id)?;
    if course.as_ref().is_some_and(|c| c.status == "cancelled") {
        return Ok(0);
    }
    let interval = course.map(|c| c.interval_days).unwrap_or(28);
    let tz: Tz = patient.time_zone.tz();
    let quiet = QuietHours::parse(&patient.quiet_start, &patient.quiet_end).unwrap_or_default();
    let kept: std::collections::HashSet<(String, i32)> =
        reminders::find_for_session(conn, &session.id)?.into_iter().map(|r| (r.step_key, r.occurrence)).collect();
    let mut written = 0;
    for p in protocol::plan(&steps_of(&protocol), from_db(session.performed_at), tz, quiet, interval) {
        if p.due_at <= now || kept.contains(&(p.step_key.clone(), p.occurrence)) {
            continue;
        }
        let kind = crate::domain::wire_name(p.kind);
        reminders::insert_reminder(
            conn,
            &Reminder {
                id: new_id(),
                clinic_id: session.clinic_id.clone(),
                patient_id: patient.id.clone(),
                session_id: session.id.clone(),
                protocol_id: protocol.id.clone(),
                step_key: p.step_key,
                occurrence: p.occurrence,
                kind,
                planned_at: to_db(p.due_at),
                due_at: to_db(p.due_at),
                status: "scheduled".into(),
                attempts: 0,
                status_reason: None,
                last_error: None,
                sent_at: None,
                done_at: None,
                created_at: to_db(now),
                updated_at: to_db(now),
            },
        )?;
        written += 1;
    }
    Ok(written)
}

/// Re-plans every session of a patient (after a change of zone or quiet hours).
pub fn replan_patient(conn: &mut DbConnection, patient: &Patient, now: DateTime<Utc>) -> QueryResult<usize> {
    let mut n = 0;
    for session in sessions::find_for_patient(conn, &patient.id)? {
        if session.status == "completed" && has_future(conn, &session, now)? {
            n += plan_session(conn, &session, patient, now)?;
        }
    }
    Ok(n)
}

fn has_future(conn: &mut DbConnection, session: &Session, now: DateTime<Utc>) -> QueryResult<bool> {
    Ok(reminders::find_for_session(conn, &session.id)?
        .iter()
        .any(|r| r.status == "scheduled" && from_db(r.due_at) > now))
}

/// Cancels the scheduled reminders of one session.
pub fn cancel_session(
    conn: &mut DbConnection,
    session_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    reminders::cancel_scheduled(conn, &[session_id.to_owned()], reason, to_db(now))
}

/// Cancels the scheduled reminders of every session of a course.
pub fn cancel_course(conn: &mut DbConnection, course_id: &str, now: DateTime<Utc>) -> QueryResult<usize> {
    let ids: Vec<String> = sessions::find_for_course(conn, course_id)?.into_iter().map(|s| s.id).collect();
    reminders::cancel_scheduled(conn, &ids, "course_cancelled", to_db(now))
}
