//! `check_missed_checkins`: when a patient has missed two check-ins in a row after a session,
//! nudge them by email and open a review task for the clinic (once per session while open).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::{
    db::{DbError, from_db, to_db},
    domain::escalation::{AlertReason, Raise, Severity, missed_two_in_a_row},
    email::{message_id, templates},
    i18n::Lang,
    jobs::dispatch::unsubscribe_url,
    repo::{checkins, clinics, consents, patients, reminders},
    services::alerts::{self, Subject},
    state::AppState,
};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct MissedReport {
    pub sessions_checked: usize,
    pub alerts_raised: usize,
    pub nudges_sent: usize,
}

/// Looks at check-in reminders planned in the last ten days.
pub async fn check_missed_checkins(state: &AppState, now: DateTime<Utc>) -> Result<MissedReport, DbError> {
    let grace = Duration::hours(state.settings.dispatch.checkin_grace_hours);
    let from = to_db(now - Duration::days(10));
    let candidates = state.db.run(move |c| reminders::sessions_with_checkins_between(c, from, to_db(now))).await?;
    let mut report = MissedReport { sessions_checked: candidates.len(), ..Default::default() };
    for (session_id, patient_id, clinic_id) in candidates {
        let (sid, pid) = (session_id.clone(), patient_id.clone());
        let (due, reported) = state
            .db
            .run(move |c| {
                let due: Vec<DateTime<Utc>> = reminders::find_for_session(c, &sid)?
                    .into_iter()
                    .filter(|r| r.kind == "checkin" && reached_or_pending(r))
                    .map(|r| from_db(r.planned_at))
                    .collect();
                let reported = checkins::checkin_times(c, &pid, to_db(now - Duration::days(30)), to_db(now))?;
                Ok((due, reported.into_iter().map(from_db).collect::<Vec<_>>()))
            })
            .await?;
        if !missed_two_in_a_row(&due, &reported, now, grace) {
            continue;
        }
        let (sid, pid, cid) = (session_id.clone(), patient_id.clone(), clinic_id.clone());
        let raised = state
            .db
            .write(move |c| -> Result<_, DbError> {
                let what = Raise {
                    severity: Severity::Review,
                    reason: AlertReason::MissedCheckins,
                    details: "two check-ins in a row were missed".into(),
                };
                Ok(alerts::raise(
                    c,
                    &Subject { clinic_id: &cid, patient_id: &pid, session_id: Some(&sid) },
                    &what,
                    now,
                )?)
            })
            .await?;
        if let Some(alert) = raised {
            report.alerts_raised += 1;
            if nudge(state, &patient_id, &clinic_id, &alert.id).await? {
                report.nudges_sent += 1;
            }
        }
    }
    Ok(report)
}

/// Whether a check-in reminder counts towards "missed": not cancelled, and not skipped for want
/// of a channel (a patient who consented to no channel was never asked; reminders are planned
/// whatever the consents, so this is where that is told apart).
fn reached_or_pending(r: &crate::repo::reminders::Reminder) -> bool {
    const UNREACHED: [&str; 4] = ["no_consent", "no_email", "no_device", "no_channel"];
    match r.status.as_str() {
        "cancelled" => false,
        "skipped" => !r.status_reason.as_deref().is_some_and(|reason| UNREACHED.contains(&reason)),
        _ => true,
    }
}

/// Emails the patient a gentle nudge, if they consented to reminder emails (one per missed
/// check-ins alert, which names its Message-ID).
async fn nudge(state: &AppState, patient_id: &str, clinic_id: &str, alert_id: &str) -> Result<bool, DbError> {
    let (pid, cid) = (patient_id.to_owned(), clinic_id.to_owned());
    let found = state
        .db
        .run(move |c| {
            Ok((
                patients::find_by_id(c, &pid)?,
                clinics::find_clinic(c, &cid)?,
                consents::is_granted(c, &pid, "email_reminders")?,
            ))
        })
        .await?;
    let (Some(patient), Some(clinic), true) = found else { return Ok(false) };
    let Some(email) = patient.email.clone() else { return Ok(false) };
    let base = state.settings.server.public_url.trim_end_matches('/');
    let ctx = serde_json::json!({
        "first_name": patient.name.split_whitespace().next().unwrap_or_default(),
        "clinic_name": clinic.name,
        "action_url": format!("{base}/app/checkin"),
        "unsubscribe_url": unsubscribe_url(state, &patient.id),
    });
    let Ok(mut mail) = templates::render("checkin_nudge", Lang::from_tag(&patient.language), &email, ctx) else {
        return Ok(false);
    };
    mail.reply_to = clinic.reply_to.clone();
    mail.message_id = Some(message_id(&format!("nudge-{alert_id}"), &state.settings.server.public_url));
    Ok(state.mailer.send(&mail).await.is_ok())
}
