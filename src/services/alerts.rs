//! Alerts for clinicians: raised by the escalation rules, failed reminders and missed check-ins;
//! at most one open per (patient, session, reason); urgent ones are also emailed to the clinic's
//! staff.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, from_db, new_id, to_db},
    domain::escalation::{AlertReason, Raise, Severity},
    email::templates,
    repo::{
        accounts,
        alerts::{self, Alert},
        clinics,
    },
    services::webhooks::{self, EventType},
    state::AppState,
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
    })
}

/// Whom an alert is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub clinic_id: &'a str,
    pub patient_id: &'a str,
    pub session_id: Option<&'a str>,
}

/// Raises an alert unless one is open for the same patient, session and reason. Returns the new
/// alert, if any (call [`notify`] after the transaction commits).
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
    tracing::info!(alert.id = %alert.id, alert.reason = %alert.reason, alert.severity = %alert.severity, "alert raised");
    Ok(Some(alert))
}

/// Emails the clinic's staff about urgent alerts (best effort: the alert is already stored and
/// listed; a mail failure is logged).
pub async fn notify(state: &AppState, raised: &[Alert]) {
    for alert in raised.iter().filter(|a| a.severity == "urgent") {
        let clinic_id = alert.clinic_id.clone();
        let found = state
            .db
            .run(move |c| Ok((clinics::find_clinic(c, &clinic_id)?, accounts::find_staff(c, &clinic_id)?)))
            .await;
        let Ok((Some(clinic), staff)) = found else { continue };
        let link = format!("{}/app/alerts/{}", state.settings.server.public_url.trim_end_matches('/'), alert.id);
        for member in staff {
            let ctx = serde_json::json!({
                "clinic_name": clinic.name,
                "reason": alert.reason.replace('_', " "),
                "details": alert.details,
                "link": link,
            });
            match templates::render("urgent_alert", &member.email, ctx) {
                Ok(mut mail) => {
                    mail.message_id = Some(format!("alert-{}-{}@aftercare", alert.id, member.id));
                    let _ = state.mailer.send(&mail).await;
                }
                Err(e) => tracing::error!(error = %e, "alert email not rendered"),
            }
        }
    }
}
