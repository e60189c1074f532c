//! Alerts for clinicians: raised by the escalation rules, failed reminders and missed check-ins;
//! at most one open per (patient, session, reason). Urgent ones are also emailed to the clinic's
//! staff through an outbox written in the same transaction (`alert_notifications`), which the
//! dispatcher sends with retries: nothing is sent from inside a request, and a red flag raised
//! while mail is down still reaches staff once it is back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, from_db, new_id, to_db},
    domain::escalation::{AlertReason, Raise, Severity},
    repo::{
        accounts,
        alert_notifications::{self, AlertNotification},
        alerts::{self, Alert},
    },
    services::webhooks::{self, EventType},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    pub id: String,
    pub patient_id: String,
    pub session_id: Option<String>,
    pub severity: Severity,
    pub reason: AlertReason,
    pub details: String,
    /// `open` or `resolved`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    /// How the staff email about an urgent alert is going (the alert list and resolve answer
    /// carry it; exports do not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<AlertNotice>,
}

/// The staff email of an urgent alert: one per active staff member of the clinic.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AlertNotice {
    /// `none` (review alerts are not emailed), `pending` (some still to go; retried while mail
    /// is down), `sent` (every staff member was emailed), `failed` (some could not be reached
    /// after every attempt: the clinic's admins have an alert about it).
    pub status: NoticeStatus,
    pub sent: u32,
    pub pending: u32,
    pub failed: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    #[default]
    None,
    Pending,
    Sent,
    Failed,
}

impl AlertNotice {
    /// From the (status, count) pairs of one alert's outbox rows.
    pub fn from_counts<'a>(counts: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        let mut n = Self::default();
        for (status, count) in counts {
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            match status {
                "sent" | "skipped" => n.sent += count,
                "failed" => n.failed += count,
                _ => n.pending += count,
            }
        }
        n.status = if n.failed > 0 {
            NoticeStatus::Failed
        } else if n.pending > 0 {
            NoticeStatus::Pending
        } else if n.sent > 0 {
            NoticeStatus::Sent
        } else {
            NoticeStatus::None
        };
        n
    }
}

/// Views of alerts with their notices (one query for all of them).
pub fn views_with_notices(conn: &mut DbConnection, rows: Vec<Alert>) -> diesel::QueryResult<Vec<AlertView>> {
    let ids: Vec<String> = rows.iter().map(|a| a.id.clone()).collect();
    let counts = alert_notifications::count_by_alert(conn, &ids)?;
    Ok(rows
        .into_iter()
        .filter_map(|a| {
            let mine = counts.iter().filter(|(id, _, _)| *id == a.id).map(|(_, s, n)| (s.as_str(), *n));
            let notice = AlertNotice::from_counts(mine);
            view(a).map(|v| AlertView { notification: Some(notice), ..v })
        })
        .collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveAlert {
    /// What was done.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

pub fn view(a: Alert) -> Option<AlertView> {
    Some(AlertView {
        severity: crate::domain::from_wire(&a.severity)?,
        reason: crate::domain::from_wire(&a.reason)?,
        created_at: from_db(a.created_at),
        resolved_at: a.resolved_at.map(from_db),
        id: a.id,
        patient_id: a.patient_id,
        session_id: a.session_id,
        details: a.details,
        status: a.status,
        resolved_by: a.resolved_by,
        resolution_note: a.resolution_note,
        notification: None,
    })
}

/// Whom an alert is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub clinic_id: &'a str,
    pub patient_id: &'a str,
    pub session_id: Option<&'a str>,
}

/// Raises an alert unless one is open for the same patient, session and reason; an urgent one
/// also gets its staff emails queued. Returns the new alert, if any.
pub fn raise(
    conn: &mut DbConnection,
    about: &Subject<'_>,
    what: &Raise,
    now: DateTime<Utc>,
) -> diesel::QueryResult<Option<Alert>> {
    let Subject { clinic_id, patient_id, session_id } = *about;
    let Raise { severity, reason, details } = what;
    let reason_name = reason.as_str();
    if alerts::open_exists(conn, patient_id, session_id, &reason_name)? {
        return Ok(None);
    }
    let alert = Alert {
        id: new_id(),
        clinic_id: clinic_id.to_owned(),
        patient_id: patient_id.to_owned(),
        session_id: session_id.map(str::to_owned),
        severity: crate::domain::wire_name(severity),
        reason: reason_name,
        details: details.clone(),
        status: "open".into(),
        created_at: to_db(now),
        resolved_at: None,
        resolved_by: None,
        resolution_note: None,
    };
    alerts::insert_alert(conn, &alert)?;
    let data = serde_json::json!({
        "alert_id": alert.id,
        "patient_id": alert.patient_id,
        "session_id": alert.session_id,
        "severity": alert.severity,
        "reason": alert.reason,
        "details": alert.details,
    });
    webhooks::enqueue(conn, clinic_id, EventType::AlertCreated, Some(patient_id), data, now)?;
    if *severity == Severity::Urgent {
        enqueue_notices(conn, &alert, now)?;
    }
    tracing::info!(alert.id = %alert.id, alert.reason = %alert.reason, alert.severity = %alert.severity, "alert raised");
    Ok(Some(alert))
}

/// Writes the staff emails of an urgent alert into the outbox (in the caller's transaction):
/// one row per staff member, due now.
fn enqueue_notices(conn: &mut DbConnection, alert: &Alert, now: DateTime<Utc>) -> diesel::QueryResult<usize> {
    let now = to_db(now);
    // Deactivated staff no longer hear about the clinic's patients.
    let rows: Vec<AlertNotification> = accounts::find_staff(conn, &alert.clinic_id)?
        .into_iter()
        .filter(accounts::Account::is_active)
        .map(|member| AlertNotification {
            id: new_id(),
            alert_id: alert.id.clone(),
            clinic_id: alert.clinic_id.clone(),
            account_id: member.id,
            status: "pending".into(),
            attempts: 0,
            due_at: now,
            last_error: None,
            sent_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    alert_notifications::insert_notifications(conn, &rows)
}

/// Brings the `aftercare_alert_emails` gauge up to date from the outbox, read from the database so
/// every replica reports the same (if it cannot be read, the gauge keeps its last value).
pub async fn refresh_metrics(state: &crate::state::AppState) {
    match state.db.run(alert_notifications::count_by_status).await {
        Ok(counts) => state.metrics.set_alert_emails(&counts),
        Err(e) => tracing::warn!(error = %e, "alert email counts unavailable for /metrics"),
    }
}
