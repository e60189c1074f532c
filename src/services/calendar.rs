//! The patient's calendar feed (RFC 5545): sessions past and recorded, the next session due, and
//! upcoming reminders with alarms. Calendar apps poll it through a secret URL (`?token=`) that
//! the patient can rotate or revoke; only the token's hash is stored.
//!
//! Times: sessions and reminders are instants, written in UTC (`…Z`), which every client shows
//! in the viewer's zone and which never drift across a DST change. The next session due is a
//! date, an all-day event on the local date in the patient's zone; `X-WR-TIMEZONE` names that
//! zone for clients that display a calendar zone.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::{
    db::{from_db, new_id, to_db},
    error::{ApiError, ApiResult},
    repo::{
        calendar::{self, CalendarFeed},
        patients::Patient,
    },
    security::{random_token, token_hash},
    services::{courses, record::Record},
    state::AppState,
};

/// How far ahead reminders are listed.
const REMINDER_HORIZON_DAYS: i64 = 120;

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn stamp_db(t: NaiveDateTime) -> String {
    stamp(from_db(t))
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes one content line, folded at 75 octets without splitting a character (§3.1).
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for ch in content.chars() {
        let len = ch.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += len;
    }
    out.push_str("\r\n");
}

struct Event<'a> {
    uid: String,
    start: String,
    /// `DURATION` for timed events; all-day events end the next day.
    duration: Option<&'a str>,
    summary: String,
    description: Option<String>,
    status: &'a str,
    categories: Option<String>,
    transparent: bool,
    /// `TRIGGER` of a display alarm, if any.
    alarm: Option<&'a str>,
}

fn event(out: &mut String, e: &Event<'_>, now: &str) {
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", e.uid));
    line(out, &format!("DTSTAMP:{now}"));
    match e.duration {
        Some(d) => {
            line(out, &format!("DTSTART:{}", e.start));
            line(out, &format!("DURATION:{d}"));
        }
        None => line(out, &format!("DTSTART;VALUE=DATE:{}", e.start)),
    }
    line(out, &format!("SUMMARY:{}", text(&e.summary)));
    if let Some(d) = &e.description {
        line(out, &format!("DESCRIPTION:{}", text(d)));
    }
    if let Some(c) = &e.categories {
        line(out, &format!("CATEGORIES:{}", text(c)));
    }
    line(out, &format!("STATUS:{}", e.status));
    line(out, if e.transparent { "TRANSP:TRANSPARENT" } else { "TRANSP:OPAQUE" });
    if let Some(trigger) = e.alarm {
        line(out, "BEGIN:VALARM");
        line(out, "ACTION:DISPLAY");
        line(out, &format!("DESCRIPTION:{}", text(&e.summary)));
        line(out, &format!("TRIGGER:{trigger}"));
        line(out, "END:VALARM");
    }
    line(out, "END:VEVENT");
}

/// The calendar of one patient's record at `now`.
pub fn ics(record: &Record, now: DateTime<Utc>) -> String {
    let p = &record.patient;
    let clinic = record.clinic.as_ref().map_or("your clinic", |c| c.name.as_str());
    let tz: Tz = p.time_zone.tz();
    let dtstamp = stamp(now);
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Aftercare//Aftercare calendar 1.0//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ] {
        line(&mut out, l);
    }
    line(&mut out, &format!("X-WR-CALNAME:{}", text(&format!("Aftercare – {clinic}"))));
    line(&mut out, &format!("X-WR-TIMEZONE:{}", tz.name()));
    for s in &record.sessions {
        let areas: Vec<String> = record.areas_of(&s.id).iter().map(|a| a.area.replace('_', " ")).collect();
        let cancelled = s.status == "cancelled";
        event(
            &mut out,
            &Event {
                uid: format!("session-{}@aftercare", s.id),
                start: stamp_db(s.performed_at),
                duration: Some("PT1H"),
                summary: format!("Microneedling session – {clinic}"),
                description: (!areas.is_empty()).then(|| format!("Areas: {}", areas.join(", "))),
                status: if cancelled { "CANCELLED" } else { "CONFIRMED" },
                categories: Some("Treatment".into()),
                transparent: false,
                alarm: (!cancelled && from_db(s.performed_at) > now).then_some("-PT2H"),
            },
            &dtstamp,
        );
    }
    for course in record.courses.iter().filter(|c| c.status == "active") {
        let sessions = record.sessions_of(&course.id);
        let Ok(view) = courses::view(course.clone(), &sessions, now, false) else { continue };
        let Some(due) = view.next_session_due_at else { continue };
        if view.sessions_done >= i64::from(course.planned_sessions) {
            continue;
        }
        let local = due.with_timezone(&tz).date_naive();
        event(
            &mut out,
            &Event {
                uid: format!("next-session-{}@aftercare", course.id),
                start: local.format("%Y%m%d").to_string(),
                duration: None,
                summary: "Next microneedling session due".into(),
                description: Some(format!(
                    "Session {} of {}: book it with {clinic} on or after this day.",
                    view.sessions_done + 1,
                    course.planned_sessions
                )),
                status: "TENTATIVE",
                categories: Some("Treatment".into()),
                transparent: true,
                // 09:00 on the day (all-day events start at local midnight).
                alarm: Some("PT9H"),
            },
            &dtstamp,
        );
    }
    let horizon = now + Duration::days(REMINDER_HORIZON_DAYS);
    for r in record
        .reminders
        .iter()
        // One the patient marked done needs no alarm: it leaves the feed.
        .filter(|r| matches!(r.status.as_str(), "scheduled" | "sending") && r.done_at.is_none())
        .filter(|r| from_db(r.due_at) >= now - Duration::hours(1) && from_db(r.due_at) <= horizon)
    {
        let step = record.step(r);
        event(
            &mut out,
            &Event {
                uid: format!("reminder-{}@aftercare", r.id),
                start: stamp_db(r.due_at),
                duration: Some("PT15M"),
                summary: record.step_title(r),
                description: step.map(|s| s.message.clone()),
                status: "CONFIRMED",
                categories: Some(format!("Aftercare,{}", r.kind.replace('_', " "))),
                transparent: true,
                alarm: Some("PT0M"),
            },
            &dtstamp,
        );
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// A new secret feed URL for the patient; any previous one stops working.
pub async fn rotate(state: &AppState, patient: &Patient) -> ApiResult<(String, DateTime<Utc>)> {
    let token = random_token(32);
    let now = state.now();
    let feed = CalendarFeed {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        token_hash: token_hash(&token),
        created_at: to_db(now),
        revoked_at: None,
    };
    state
        .db
        .write(move |c| -> ApiResult<()> {
            calendar::revoke_for_patient(c, &feed.patient_id, feed.created_at)?;
            Ok(calendar::insert_feed(c, &feed)?)
        })
        .await?;
    Ok((token, now))
}

/// The patient a live feed token belongs to.
pub async fn patient_for_token(state: &AppState, token: &str) -> ApiResult<Patient> {
    if token.is_empty() || token.len() > 200 {
        return Err(ApiError::not_found());
    }
    let hash = token_hash(token);
    state
        .db
        .run(move |c| {
            let Some(feed) = calendar::find_active_by_hash(c, &hash)? else { return Ok(None) };
            crate::repo::patients::find_in_clinic(c, &feed.clinic_id, &feed.patient_id)
        })
        .await?
        .ok_or_else(ApiError::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_lines_fold_between_characters() {
        assert_eq!(text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        line(&mut out, &long);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets", l.len());
        }
        assert_eq!(out.replace("\r\n ", "").trim_end(), long);
    }
}
