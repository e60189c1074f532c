//! `deliver_due_reminders`: one dispatcher pass. Claims due reminders with a lease, decides for
//! each (send, skip, or cancel), renders and sends the email with a deterministic Message-ID,
//! and records the outcome. Transient mail failures go back to `scheduled` with exponential
//! backoff and jitter; permanent ones, or too many attempts, fail the reminder and alert the
//! clinic. A crash after claiming leaves rows whose lease expires, and another pass sends them.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use futures_util::{StreamExt, stream};
use rand::Rng;
use serde::Serialize;

use crate::{
    db::{DbError, from_db, to_db},
    domain::{
        escalation::{AlertReason, Raise, Severity},
        protocol::{Goal, Step},
    },
    email::{Email, MailError, message_id, templates},
    i18n::{self, Lang},
    repo::{
        checkins,
        clinics::Clinic,
        consents,
        patients::{self, Patient},
        protocols,
        reminders::{self, Reminder},
        sessions,
    },
    services::{
        alerts::{self, Subject},
        webhooks::{self, EventType},
    },
    state::AppState,
};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub skipped: usize,
    pub retried: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Outcomes not recorded because another dispatcher took the row over (lease expired).
    pub lost_lease: usize,
}

enum Decision {
    Send(Box<Email>),
    Skip(&'static str),
    Cancel(&'static str),
}

impl DispatchReport {
    fn add(&mut self, other: &Self) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.skipped += other.skipped;
        self.retried += other.retried;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.lost_lease += other.lost_lease;
    }
}

/// What the scheduler runs each tick: passes back to back while they claim full batches and
/// mail is getting through, for at most `dispatch.pass_budget_secs`, so a backlog drains at the
/// engine's speed on every replica instead of one batch a tick. A pass whose sends all failed
/// for a transient reason (mail is down) ends the drain: the next tick tries again.
pub async fn drain_due_reminders(state: &AppState) -> Result<DispatchReport, DbError> {
    let d = &state.settings.dispatch;
    let budget = std::time::Duration::from_secs(d.pass_budget_secs);
    let started = std::time::Instant::now();
    let mut total = DispatchReport::default();
    loop {
        let pass = deliver_due_reminders(state, state.now()).await?;
        total.add(&pass);
        let full = i64::try_from(pass.claimed).unwrap_or(i64::MAX) >= d.batch_size;
        let mail_down = pass.sent == 0 && pass.retried > 0;
        if !full || mail_down || started.elapsed() >= budget {
            return Ok(total);
        }
    }
}

/// The end of one pass's claim. Every claimed row has `due_at` = this instant while it is
/// `sending`; a renewal moves those rows (and this value) on together.
struct Lease {
    until_micros: AtomicI64,
}

impl Lease {
    fn new(until: DateTime<Utc>) -> Self {
        Self { until_micros: AtomicI64::new(until.timestamp_micros()) }
    }

    fn until(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.until_micros.load(Ordering::Acquire)).unwrap_or_default()
    }

    fn set(&self, until: DateTime<Utc>) {
        self.until_micros.store(until.timestamp_micros(), Ordering::Release);
    }
}

/// Aborts the renewal task when the pass ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the pass's claims every third of the lease while its sends are in flight: a live
/// dispatcher keeps what it holds however slow the mail server is, and a dead one's claims come
/// back one (short) lease after it stopped renewing.
fn keep_renewing(state: &AppState, lease: Arc<Lease>, ids: Vec<String>) -> AbortOnDrop {
    let state = state.clone();
    let lease_secs = state.settings.dispatch.lease_secs;
    let every = std::time::Duration::from_secs(u64::try_from(lease_secs / 3).unwrap_or(1).max(1));
    AbortOnDrop(tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticker.tick().await;
            let (held, until) = (lease.until(), state.now() + Duration::seconds(lease_secs));
            if until <= held {
                continue;
            }
            let ids = ids.clone();
            let renewed = state.db.execute(move |c| reminders::renew_claims(c, &ids, to_db(held), to_db(until))).await;
            match renewed {
                Ok(_) => lease.set(until),
                Err(e) => tracing::warn!(error = %e, "renewing reminder claims failed; will try again"),
            }
        }
    }))
}

/// Runs one pass at `now`: claims one batch and delivers it.
pub async fn deliver_due_reminders(state: &AppState, now: DateTime<Utc>) -> Result<DispatchReport, DbError> {
    let d = &state.settings.dispatch;
    let (limit, lease_until) = (d.batch_size, now + Duration::seconds(d.lease_secs));
    let claimed = state
        .db
        .write(move |c| -> Result<Vec<Reminder>, DbError> {
            Ok(reminders::claim_due(c, to_db(now), to_db(lease_until), limit)?)
        })
        .await?;
    let mut report = DispatchReport { claimed: claimed.len(), ..Default::default() };
    if claimed.is_empty() {
        return Ok(report);
    }
    let lease = Arc::new(Lease::new(lease_until));
    let _renewal = keep_renewing(state, lease.clone(), claimed.iter().map(|r| r.id.clone()).collect());
    let lease = &*lease;
    // Patients in parallel, each patient's reminders in order: the daily cap is read after the
    // previous send of the same patient is recorded.
    let mut by_patient: Vec<Vec<Reminder>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for r in claimed {
        match index.get(&r.patient_id) {
            Some(&i) => by_patient[i].push(r),
            None => {
                index.insert(r.patient_id.clone(), by_patient.len());
                by_patient.push(vec![r]);
            }
        }
    }
    let batch = load_batch(state, &by_patient, now).await?;
    let batch = &batch;
    let outcomes: Vec<Result<Outcome, DbError>> = stream::iter(by_patient)
        .map(|group| async move {
            let mut done = Vec::with_capacity(group.len());
            // Sent to this patient in the last 24 hours, kept current as this pass sends.
            let mut sent_today = group.first().and_then(|r| batch.sent_today.get(&r.patient_id)).copied().unwrap_or(0);
            for r in group {
                let outcome = deliver_one(state, batch, r, now, lease, sent_today).await;
                if matches!(outcome, Ok(Outcome::Sent)) {
                    sent_today += 1;
                }
                done.push(outcome);
            }
            done
        })
        .buffer_unordered(d.concurrency.max(1))
        .flat_map(stream::iter)
        .collect()
        .await;
    for outcome in outcomes {
        match outcome? {
            Outcome::Sent => report.sent += 1,
            Outcome::Skipped => report.skipped += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Cancelled => report.cancelled += 1,
            Outcome::LostLease => report.lost_lease += 1,
        }
    }
    if report.claimed > 0 {
        tracing::info!(
            dispatch.claimed = report.claimed,
            dispatch.sent = report.sent,
            dispatch.skipped = report.skipped,
            dispatch.retried = report.retried,
            dispatch.failed = report.failed,
            "dispatch pass"
        );
    }
    Ok(report)
}

enum Outcome {
    Sent,
    Skipped,
    Retried,
    Failed,
    Cancelled,
    LostLease,
}

async fn deliver_one(
    state: &AppState,
    batch: &Batch,
    r: Reminder,
    now: DateTime<Utc>,
    lease: &Lease,
    sent_today: i64,
) -> Result<Outcome, DbError> {
    // Each claim counts an attempt, so a reminder whose dispatchers keep dying (a crash loop)
    // fails here instead of being retried forever.
    if r.attempts > state.settings.dispatch.max_attempts {
        return fail(state, &r, "too_many_attempts", "claimed too many times without an outcome", now).await;
    }
    let decision = decide(state, batch, &r, now, sent_today).await?;
    let email = match decision {
        Decision::Skip(reason) => return finish(state, &r, "skipped", Some(reason), None, now, Outcome::Skipped).await,
        Decision::Cancel(reason) => {
            return finish(state, &r, "cancelled", Some(reason), None, now, Outcome::Cancelled).await;
        }
        Decision::Send(email) => email,
    };
    // A slow pass must not send after its lease ran out: another dispatcher may hold the row.
    if state.now() + Duration::seconds(5) >= lease.until() {
        let ok = finish_at(state, &r, "scheduled", Some("lease_expired"), None, now, now).await?;
        return Ok(if ok { Outcome::Retried } else { Outcome::LostLease });
    }
    match state.mailer.send(&email).await {
        Ok(()) => record_sent(state, &r, now, lease).await,
        Err(MailError::Transient(e)) if r.attempts < state.settings.dispatch.max_attempts => {
            let retry_at = now + backoff(state.settings.dispatch.backoff_base_secs, r.attempts);
            let ok = finish_at(state, &r, "scheduled", Some("retrying"), Some(&e), retry_at, now).await?;
            Ok(if ok { Outcome::Retried } else { Outcome::LostLease })
        }
        Err(e) => fail(state, &r, "undeliverable", &e.to_string(), now).await,
    }
}

/// Marks a claimed reminder failed and alerts the clinic (once while open); reports a lost
/// lease instead when another dispatcher took the row over meanwhile.
async fn fail(
    state: &AppState,
    r: &Reminder,
    reason: &'static str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let (r2, msg) = (r.clone(), error.to_owned());
    let held = state
        .db
        .write(move |c| -> Result<Option<Option<crate::repo::alerts::Alert>>, DbError> {
            if !reminders::finish_claim(c, &r2, "failed", Some(reason), Some(&msg), to_db(now), to_db(now))? {
                return Ok(None);
            }
            let data = serde_json::json!({
                "reminder_id": r2.id,
                "patient_id": r2.patient_id,
                "session_id": r2.session_id,
                "kind": r2.kind,
                "attempts": r2.attempts,
                "reason": reason,
            });
            webhooks::enqueue(c, &r2.clinic_id, EventType::ReminderFailed, Some(&r2.patient_id), data, now)?;
            let what = Raise {
                severity: Severity::Review,
                reason: AlertReason::ReminderFailed,
                details: format!("a {} reminder could not be emailed after {} attempt(s)", r2.kind, r2.attempts),
            };
            let about =
                Subject { clinic_id: &r2.clinic_id, patient_id: &r2.patient_id, session_id: Some(&r2.session_id) };
            Ok(Some(alerts::raise(c, &about, &what, now)?))
        })
        .await?;
    if held.is_none() {
        return Ok(Outcome::LostLease);
    }
    tracing::warn!(reminder.id = %r.id, error = %crate::security::redact(error), "reminder failed");
    Ok(Outcome::Failed)
}

/// Exponential backoff with ±20 % jitter, capped at one hour.
pub fn backoff(base_secs: i64, attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    let secs = base_secs.saturating_mul(1_i64 << exp).min(3600);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::milliseconds((secs as f64 * 1000.0 * jitter) as i64)
}

async fn finish(
    state: &AppState,
    r: &Reminder,
    status: &'static str,
    reason: Option<&'static str>,
    error: Option<&str>,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> Result<Outcome, DbError> {
    let ok = finish_at(state, r, status, reason, error, now, now).await?;
    Ok(if ok { outcome } else { Outcome::LostLease })
}

/// Records a sent email. The email is out, so losing this write would send it again when the
/// lease ends: a database that is briefly away (a restart, a failover) is retried with backoff
/// until shortly before the lease ends.
async fn record_sent(state: &AppState, r: &Reminder, now: DateTime<Utc>, lease: &Lease) -> Result<Outcome, DbError> {
    // Measured on the wall clock: the lease runs out in real time (unless renewed meanwhile).
    let budget = (lease.until() - state.now() - Duration::seconds(2)).to_std().unwrap_or_default();
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match finish_at(state, r, "sent", None, None, now, now).await {
            Ok(true) => return Ok(Outcome::Sent),
            Ok(false) => return Ok(Outcome::LostLease),
            Err(e) if started.elapsed() + wait < budget => {
                tracing::warn!(reminder.id = %r.id, error = %e, "recording a sent reminder failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn finish_at(
    state: &AppState,
    r: &Reminder,
    status: &'static str,
    reason: Option<&'static str>,
    error: Option<&str>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let (r, error) = (r.clone(), error.map(str::to_owned));
    state
        .db
        .execute(move |c| reminders::finish_claim(c, &r, status, reason, error.as_deref(), to_db(due_at), to_db(now)))
        .await
}

/// What a pass reads once for its whole batch instead of once per reminder: the patients, their
/// clinics, sessions, protocol steps, email consent, and what each was sent in the last 24 hours.
struct Batch {
    patients: HashMap<String, Patient>,
    clinics: HashMap<String, Clinic>,
    sessions: HashMap<String, DateTime<Utc>>,
    steps: HashMap<String, Vec<Step>>,
    consented: HashSet<String>,
    sent_today: HashMap<String, i64>,
}

async fn load_batch(state: &AppState, groups: &[Vec<Reminder>], now: DateTime<Utc>) -> Result<Batch, DbError> {
    let distinct = |f: fn(&Reminder) -> &String| -> Vec<String> {
        let mut v: Vec<String> = groups.iter().flatten().map(|r| f(r).clone()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (patient_ids, clinic_ids) = (distinct(|r| &r.patient_id), distinct(|r| &r.clinic_id));
    let (session_ids, protocol_ids) = (distinct(|r| &r.session_id), distinct(|r| &r.protocol_id));
    let since = to_db(now - Duration::hours(24));
    state
        .db
        .run(move |c| {
            let patients = patients::find_by_ids(c, &patient_ids)?.into_iter().map(|p| (p.id.clone(), p)).collect();
            let mut clinics = HashMap::new();
            for id in clinic_ids {
                if let Some(clinic) = crate::repo::clinics::find_clinic(c, &id)? {
                    clinics.insert(id, clinic);
                }
            }
            let mut steps = HashMap::new();
            for id in protocol_ids {
                if let Some(p) = protocols::find_protocol(c, &id)? {
                    steps.insert(id, serde_json::from_str::<Vec<Step>>(&p.steps).unwrap_or_default());
                }
            }
            Ok(Batch {
                patients,
                clinics,
                sessions: sessions::performed_at(c, &session_ids)?
                    .into_iter()
                    .map(|(id, t)| (id, from_db(t)))
                    .collect(),
                steps,
                consented: consents::granted_among(c, &patient_ids, "email_reminders")?,
                sent_today: reminders::count_sent_since_by_patient(c, &patient_ids, since)?.into_iter().collect(),
            })
        })
        .await
}

/// Everything the decision needs.
struct Context {
    patient: Patient,
    clinic: Clinic,
    step: Option<Step>,
    consented: bool,
    goal_met: bool,
    sent_today: i64,
    session_at: DateTime<Utc>,
}

async fn decide(
    state: &AppState,
    batch: &Batch,
    r: &Reminder,
    now: DateTime<Utc>,
    sent_today: i64,
) -> Result<Decision, DbError> {
    let patient = batch.patients.get(&r.patient_id);
    let clinic = batch.clinics.get(&r.clinic_id);
    let session_at = batch.sessions.get(&r.session_id);
    let ctx = match (patient, clinic, session_at) {
        (Some(patient), Some(clinic), Some(session_at)) => {
            let step = batch.steps.get(&r.protocol_id).and_then(|s| s.iter().find(|s| s.key == r.step_key)).cloned();
            let goal_met = match step.as_ref().and_then(|s| s.goal) {
                Some(goal) => goal_met(state, goal, &patient.id, from_db(r.planned_at), now).await?,
                None => false,
            };
            Some(Context {
                consented: batch.consented.contains(&patient.id),
                patient: patient.clone(),
                clinic: clinic.clone(),
                step,
                goal_met,
                sent_today,
                session_at: *session_at,
            })
        }
        _ => None,
    };
    let Some(ctx) = ctx else { return Ok(Decision::Skip("record_missing")) };
    if !ctx.consented {
        return Ok(Decision::Cancel(crate::services::reminders::NO_CONSENT));
    }
    if ctx.patient.archived_at.is_some() {
        return Ok(Decision::Skip("patient_archived"));
    }
    let Some(to) = ctx.patient.email.clone() else { return Ok(Decision::Skip("no_email")) };
    let Some(step) = ctx.step.as_ref() else { return Ok(Decision::Skip("step_missing")) };
    if r.done_at.is_some() {
        return Ok(Decision::Skip("done"));
    }
    if ctx.goal_met {
        return Ok(Decision::Skip("goal_met"));
    }
    if ctx.sent_today >= state.settings.dispatch.daily_cap {
        tracing::warn!(reminder.id = %r.id, patient.id = %ctx.patient.id, "daily reminder cap reached");
        return Ok(Decision::Skip("daily_cap"));
    }
    match render(state, r, &ctx, step, &to) {
        Ok(email) => Ok(Decision::Send(Box::new(email))),
        Err(e) => {
            tracing::error!(reminder.id = %r.id, error = %e, "reminder not rendered");
            Ok(Decision::Skip("render_failed"))
        }
    }
}

/// Whether the patient already did what the reminder asks (serum logged, check-in sent).
async fn goal_met(
    state: &AppState,
    goal: Goal,
    patient_id: &str,
    planned: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let patient_id = patient_id.to_owned();
    state
        .db
        .run(move |c| match goal {
            Goal::SerumLogged => {
                let to = to_db(now.max(planned + Duration::hours(3)));
                Ok(!checkins::serum_times(c, &patient_id, to_db(planned - Duration::hours(3)), to)?.is_empty())
            }
            Goal::CheckinDone => {
                Ok(!checkins::checkin_times(c, &patient_id, to_db(planned - Duration::hours(12)), to_db(now))?
                    .is_empty())
            }
        })
        .await
}

#[derive(Serialize)]
struct ReminderContext<'a> {
    /// Empty when the name has no first word (the greeting then has no name).
    first_name: &'a str,
    title: &'a str,
    message: &'a str,
    avoid: &'a [String],
    action_url: Option<String>,
    local_time: String,
    time_zone: &'a str,
    /// Days since the treatment (0 is the day itself).
    day: i64,
    clinic_name: &'a str,
    unsubscribe_url: String,
    /// Whether a reply reaches the clinic (it has a reply-to address): the email invites a reply
    /// only then, never from a no-reply sender.
    can_reply: bool,
}

/// The unsubscribe link for a patient (RFC 8058 one-click target).
pub fn unsubscribe_url(state: &AppState, patient_id: &str) -> String {
    format!(
        "{}/api/v1/unsubscribe?token={}",
        state.settings.server.public_url.trim_end_matches('/'),
        state.links.sign(patient_id)
    )
}

fn render(state: &AppState, r: &Reminder, ctx: &Context, step: &Step, to: &str) -> anyhow::Result<Email> {
    let tz: Tz = ctx.patient.time_zone.parse().unwrap_or(Tz::UTC);
    let planned = from_db(r.planned_at);
    let base = state.settings.server.public_url.trim_end_matches('/');
    let day = (planned - ctx.session_at).num_days();
    let unsubscribe = unsubscribe_url(state, &ctx.patient.id);
    // The patient's language; the step's words are the catalogue's while the clinic kept the
    // built-in text, otherwise its own.
    let lang = Lang::from_tag(&ctx.patient.language);
    let words = i18n::step_text(lang, step);
    let context = ReminderContext {
        first_name: ctx.patient.name.split_whitespace().next().unwrap_or_default(),
        title: &words.title,
        message: &words.message,
        avoid: &words.avoid,
        action_url: step.action.as_ref().map(|a| format!("{base}/app/{a}?reminder={}", r.id)),
        local_time: i18n::datetime_short(lang, &planned.with_timezone(&tz)),
        time_zone: &ctx.patient.time_zone,
        day,
        clinic_name: &ctx.clinic.name,
        unsubscribe_url: unsubscribe.clone(),
        can_reply: ctx.clinic.reply_to.is_some(),
    };
    let mut email = templates::render("reminder", lang, to, &context)?;
    email.message_id = Some(message_id(&format!("reminder-{}", r.id), &state.settings.server.public_url));
    email.reply_to = ctx.clinic.reply_to.clone();
    email.headers = vec![
        ("List-Unsubscribe".to_owned(), format!("<{unsubscribe}>")),
        ("List-Unsubscribe-Post".to_owned(), "List-Unsubscribe=One-Click".to_owned()),
    ];
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=3 {
            let expected = 60 * (1 << (attempt - 1));
            let got = backoff(60, attempt).num_milliseconds() as f64 / 1000.0;
            assert!(got >= expected as f64 * 0.8 && got <= expected as f64 * 1.2, "{attempt}: {got}");
        }
        assert!(backoff(60, 30).num_seconds() <= 4320);
    }

    #[test]
    fn message_ids_use_the_public_url_s_domain() {
        assert_eq!(message_id("reminder-1", "https://care.clinic.example/"), "reminder-1@care.clinic.example");
        assert_eq!(message_id("reminder-1", "http://127.0.0.1:8080"), "reminder-1@127.0.0.1");
        assert_eq!(message_id("reminder-1", "nonsense"), "reminder-1@aftercare.localhost");
    }
}
