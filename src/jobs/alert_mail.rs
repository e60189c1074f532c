//! `deliver_alert_notifications`: sends the staff emails of urgent alerts from their outbox
//! (`alert_notifications`), under a lease like reminders. A transient mail failure is retried
//! with backoff; when the attempts run out the row fails and the clinic gets a review alert that
//! staff could not be reached (listed in the app, where admins look). An alert resolved before
//! its email went needs no email. The scheduler runs this before the reminders on every tick, and
//! while an alert email waits out a backoff each pass asks the mail server whether it answers
//! again, so a red flag raised while mail was down goes out on the first tick after it is back
//! rather than when its backoff ends.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;

use super::dispatch::backoff;
use crate::{
    db::{DbError, to_db},
    domain::escalation::{AlertReason, Raise, Severity},
    email::{Email, MailError, message_id, templates},
    i18n::Lang,
    repo::{
        accounts,
        alert_notifications::{self, AlertNotification},
        alerts::{self, Alert},
        clinics,
    },
    services::alerts::{Subject, raise},
    state::AppState,
    telemetry::metrics,
};

/// How many notifications one pass claims.
const BATCH: i64 = 50;
/// Emails in flight at once.
const CONCURRENCY: usize = 8;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct AlertMailReport {
    pub claimed: usize,
    pub sent: usize,
    pub skipped: usize,
    pub retried: usize,
    pub failed: usize,
    /// Outcomes not recorded because another sender took the row over (lease expired).
    pub lost_lease: usize,
}

enum Outcome {
    Sent,
    Skipped,
    Retried,
    Failed,
    LostLease,
}

impl Outcome {
    /// What `/metrics` counts of it (a skipped or lost row sent nothing).
    fn counted(&self) -> Option<metrics::Outcome> {
        match self {
            Self::Sent => Some(metrics::Outcome::Sent),
            Self::Retried => Some(metrics::Outcome::Retried),
            Self::Failed => Some(metrics::Outcome::Failed),
            Self::Skipped | Self::LostLease => None,
        }
    }
}

/// What to send to whom: the alert, its clinic's name and the staff member's address.
struct Letter {
    alert: Alert,
    clinic_name: String,
    to: String,
}

/// Runs one pass at `now`.
pub async fn deliver_alert_notifications(state: &AppState, now: DateTime<Utc>) -> Result<AlertMailReport, DbError> {
    retry_now_if_mail_is_back(state, now).await?;
    let lease_until = now + Duration::seconds(state.settings.dispatch.lease_secs);
    let claimed = state
        .db
        .write(move |c| -> Result<Vec<AlertNotification>, DbError> {
            Ok(alert_notifications::claim_due(c, to_db(now), to_db(lease_until), BATCH)?)
        })
        .await?;
    let mut report = AlertMailReport { claimed: claimed.len(), ..Default::default() };
    if claimed.is_empty() {
        return Ok(report);
    }
    let letters = load_letters(state, &claimed).await?;
    let letters = &letters;
    let outcomes: Vec<Result<Outcome, DbError>> = stream::iter(claimed)
        .map(|n| async move {
            let letter = letters.get(&n.id);
            deliver_one(state, n, letter, now, lease_until).await
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for outcome in outcomes {
        let outcome = outcome?;
        if let Some(counted) = outcome.counted() {
            state.metrics.alert_notification(counted);
        }
        match outcome {
            Outcome::Sent => report.sent += 1,
            Outcome::Skipped => report.skipped += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::LostLease => report.lost_lease += 1,
        }
    }
    tracing::info!(
        alert_mail.claimed = report.claimed,
        alert_mail.sent = report.sent,
        alert_mail.retried = report.retried,
        alert_mail.failed = report.failed,
        "alert mail pass"
    );
    Ok(report)
}

/// Alert emails waiting out a backoff become due now when the mail server answers again after not
/// answering (one NOOP or connection per pass, bounded by the mail timeout, and only while some
/// wait): a red flag reaches staff within a tick of mail coming back. Each retry still counts an
/// attempt; a server that answers but refuses the message keeps the backoff.
async fn retry_now_if_mail_is_back(state: &AppState, now: DateTime<Utc>) -> Result<(), DbError> {
    let at = to_db(now);
    let waiting = state.db.run(move |c| alert_notifications::count_waiting_to_retry(c, at)).await?;
    if waiting == 0 || !state.mailer.answers_again().await {
        return Ok(());
    }
    let due = state.db.write(move |c| -> Result<usize, DbError> { Ok(alert_notifications::retry_now(c, at)?) }).await?;
    tracing::info!(
        alert_mail.retry_now = due,
        "the mail server answers again: alert emails waiting to retry are due now"
    );
    Ok(())
}

/// The alert, clinic and recipient of each claimed row (by notification id); a row whose alert
/// or recipient is gone has none.
async fn load_letters(state: &AppState, claimed: &[AlertNotification]) -> Result<HashMap<String, Letter>, DbError> {
    let rows = claimed.to_vec();
    state
        .db
        .run(move |c| {
            let mut out = HashMap::new();
            let mut clinic_names: HashMap<String, Option<String>> = HashMap::new();
            for n in rows {
                let (Some(alert), Some(member)) =
                    (alerts::find_alert(c, &n.alert_id)?, accounts::find_account(c, &n.account_id)?)
                else {
                    continue;
                };
                // Deactivated since the alert was raised: skipped like a recipient that is gone.
                if !member.is_active() {
                    continue;
                }
                let name = match clinic_names.get(&n.clinic_id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = clinics::find_clinic(c, &n.clinic_id)?.map(|cl| cl.name);
                        clinic_names.insert(n.clinic_id.clone(), name.clone());
                        name
                    }
                };
                let Some(clinic_name) = name else { continue };
                out.insert(n.id, Letter { alert, clinic_name, to: member.email });
            }
            Ok(out)
        })
        .await
}

async fn deliver_one(
    state: &AppState,
    n: AlertNotification,
    letter: Option<&Letter>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let Some(letter) = letter.filter(|l| l.alert.status == "open") else {
        // Resolved before its email went, or its alert or recipient is gone (or deactivated):
        // nothing to tell.
        return finish(state, &n, "skipped", None, now, now, Outcome::Skipped).await;
    };
    let email = match render(state, letter, &n) {
        Ok(email) => email,
        Err(e) => return give_up(state, &n, letter, &format!("cannot render the email: {e}"), now).await,
    };
    if state.now() + Duration::seconds(5) >= lease_until {
        return finish(state, &n, "pending", Some("lease_expired"), now, now, Outcome::Retried).await;
    }
    match state.mailer.send(&email).await {
        Ok(()) => finish(state, &n, "sent", None, now, now, Outcome::Sent).await,
        Err(MailError::Transient(e)) if n.attempts < state.settings.dispatch.max_attempts => {
            let retry_at = now + backoff(state.settings.dispatch.backoff_base_secs, n.attempts);
            finish(state, &n, "pending", Some(&e), retry_at, now, Outcome::Retried).await
        }
        Err(e) => give_up(state, &n, letter, &e.to_string(), now).await,
    }
}

fn render(state: &AppState, letter: &Letter, n: &AlertNotification) -> anyhow::Result<Email> {
    let link = format!("{}/app/alerts/{}", state.settings.server.public_url.trim_end_matches('/'), letter.alert.id);
    let ctx = serde_json::json!({
        "clinic_name": letter.clinic_name,
        "reason": letter.alert.reason.replace('_', " "),
        "details": letter.alert.details,
        "link": link,
    });
    // Staff read English: clinics have no language setting yet.
    let mut mail = templates::render("urgent_alert", Lang::En, &letter.to, ctx)?;
    let local = format!("alert-{}-{}", letter.alert.id, n.account_id);
    mail.message_id = Some(message_id(&local, &state.settings.server.public_url));
    Ok(mail)
}

/// Fails the row and tells the clinic in the app that a staff member could not be reached.
async fn give_up(
    state: &AppState,
    n: &AlertNotification,
    letter: &Letter,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let (row, alert, message) = (n.clone(), letter.alert.clone(), error.to_owned());
    let held = state
        .db
        .write(move |c| -> Result<bool, DbError> {
            if !alert_notifications::finish_claim(c, &row, "failed", Some(&message), to_db(now), to_db(now))? {
                return Ok(false);
            }
            let about = Subject {
                clinic_id: &alert.clinic_id,
                patient_id: &alert.patient_id,
                session_id: alert.session_id.as_deref(),
            };
            let what = Raise {
                severity: Severity::Review,
                reason: AlertReason::StaffUnreachable,
                details: format!(
                    "the email about an urgent alert ({}) could not reach a staff member after {} attempt(s)",
                    alert.reason.replace('_', " "),
                    row.attempts
                ),
            };
            raise(c, &about, &what, now)?;
            Ok(true)
        })
        .await?;
    if held {
        tracing::error!(alert.id = %n.alert_id, error = %crate::security::redact(error), "alert email failed for good");
        Ok(Outcome::Failed)
    } else {
        Ok(Outcome::LostLease)
    }
}

async fn finish(
    state: &AppState,
    n: &AlertNotification,
    status: &'static str,
    error: Option<&str>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> Result<Outcome, DbError> {
    let (n, error) = (n.clone(), error.map(str::to_owned));
    let held = state
        .db
        .execute(move |c| alert_notifications::finish_claim(c, &n, status, error.as_deref(), to_db(due_at), to_db(now)))
        .await?;
    Ok(if held { outcome } else { Outcome::LostLease })
}
