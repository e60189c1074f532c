//! `deliver_due_reminders`: one dispatcher pass. Claims due reminders with a lease, decides for
//! each which channels to send on (`domain::dispatch::decide`: consent per channel, archived,
//! done, goal met, daily cap), sends the email (deterministic Message-ID) and the pushes (one per
//! device, collapse id = the reminder), and records the outcome of the reminder and of each
//! channel in one transaction. A channel delivered is not sent again when another is retried.
//! Transient failures go back to `scheduled` with exponential backoff and jitter; when nothing
//! was delivered and retries ran out (or the failure is permanent), the reminder fails and the
//! clinic is alerted. Refused push tokens delete their device. A crash after claiming leaves
//! rows whose lease expires, and another pass sends them.

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
        dispatch::{self as rules, ChannelFacts, Facts, SkipReason},
        escalation::{AlertReason, Raise, Severity},
        protocol::Step,
    },
    email::{Email, MailError, message_id, templates},
    i18n::{self, Lang},
    push::{Notification, PushError},
    repo::{
        checkins,
        clinics::Clinic,
        consents,
        devices::{self, Device},
        patients::{self, Patient},
        protocols,
        reminder_deliveries::{self, Delivery, EMAIL_TARGET},
        reminders::{self, Reminder},
        sessions,
    },
    services::{
        alerts::{self, Subject},
        webhooks::{self, EventType},
    },
    state::AppState,
    telemetry::metrics::{self, Channel},
};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub claimed: usize,
    /// Reminders delivered on at least one channel.
    pub sent: usize,
    pub skipped: usize,
    pub retried: usize,
    pub failed: usize,
    /// Outcomes not recorded because another dispatcher took the row over (lease expired).
    pub lost_lease: usize,
    /// Reminder emails the mail server accepted (also those of reminders retried for push).
    pub emails: usize,
    /// Push notifications accepted by FCM or APNs.
    pub pushes: usize,
    /// Devices deleted because the push service refused their token.
    pub devices_removed: usize,
}

impl DispatchReport {
    fn add(&mut self, other: &Self) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.skipped += other.skipped;
        self.retried += other.retried;
        self.failed += other.failed;
        self.lost_lease += other.lost_lease;
        self.emails += other.emails;
        self.pushes += other.pushes;
        self.devices_removed += other.devices_removed;
    }
}

/// What the scheduler runs each tick: passes back to back while they claim full batches and
/// something is getting through, for at most `dispatch.pass_budget_secs`, so a backlog drains at
/// the engine's speed on every replica instead of one batch a tick. A pass in which nothing
/// reached anyone and sends failed for a transient reason (mail and push down) ends the drain:
/// the next tick tries again. One channel down does not: reminders whose email went out while
/// their push is retried (a push service outage) keep the drain going.
pub async fn drain_due_reminders(state: &AppState) -> Result<DispatchReport, DbError> {
    let d = &state.settings.dispatch;
    let budget = std::time::Duration::from_secs(d.pass_budget_secs);
    let started = std::time::Instant::now();
    let mut total = DispatchReport::default();
    loop {
        let pass = deliver_due_reminders(state, state.now()).await?;
        total.add(&pass);
        let full = i64::try_from(pass.claimed).unwrap_or(i64::MAX) >= d.batch_size;
        let all_down = pass.retried > 0 && pass.sent == 0 && pass.emails == 0 && pass.pushes == 0;
        if !full || all_down || started.elapsed() >= budget {
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
    state.metrics.reminders_claimed(claimed.len());
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
    let outcomes: Vec<Result<Done, DbError>> = stream::iter(by_patient)
        .map(|group| async move {
            let mut done = Vec::with_capacity(group.len());
            // Sent to this patient in the last 24 hours, kept current as this pass sends.
            let mut sent_today = group.first().and_then(|r| batch.sent_today.get(&r.patient_id)).copied().unwrap_or(0);
            for r in group {
                let outcome = deliver_one(state, batch, r, now, lease, sent_today).await;
                if matches!(outcome, Ok(Done { outcome: Outcome::Sent, .. })) {
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
    for done in outcomes {
        let done = done?;
        report.emails += done.emails;
        report.pushes += done.pushes;
        report.devices_removed += done.devices_removed;
        match done.outcome {
            Outcome::Sent => report.sent += 1,
            Outcome::Skipped => report.skipped += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
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
            dispatch.emails = report.emails,
            dispatch.pushes = report.pushes,
            dispatch.devices_removed = report.devices_removed,
            "dispatch pass"
        );
    }
    Ok(report)
}

#[derive(Clone, Copy)]
enum Outcome {
    Sent,
    Skipped,
    Retried,
    Failed,
    LostLease,
}

/// One reminder's outcome, with what its channels did.
struct Done {
    outcome: Outcome,
    emails: usize,
    pushes: usize,
    devices_removed: usize,
}

impl From<Outcome> for Done {
    fn from(outcome: Outcome) -> Self {
        Self { outcome, emails: 0, pushes: 0, devices_removed: 0 }
    }
}

/// What to send for one reminder: the email, and one notification per device.
struct Sends {
    email: Option<Result<Box<Email>, String>>,
    pushes: Vec<(Device, Notification)>,
}

/// How a reminder's claim ends, and what its channels did (written together).
struct Settle {
    status: &'static str,
    reason: Option<&'static str>,
    error: Option<String>,
    due_at: DateTime<Utc>,
    deliveries: Vec<Delivery>,
    /// Devices whose token was refused: (id, token).
    refused: Vec<(String, String)>,
}

impl Settle {
    fn ended(status: &'static str, reason: Option<&'static str>, now: DateTime<Utc>) -> Self {
        Self { status, reason, error: None, due_at: now, deliveries: Vec::new(), refused: Vec::new() }
    }
}

async fn deliver_one(
    state: &AppState,
    batch: &Batch,
    r: Reminder,
    now: DateTime<Utc>,
    lease: &Lease,
    sent_today: i64,
) -> Result<Done, DbError> {
    let max_attempts = state.settings.dispatch.max_attempts;
    // Each claim counts an attempt, so a reminder whose dispatchers keep dying (a crash loop)
    // fails here instead of being retried forever.
    if r.attempts > max_attempts {
        let error = "claimed too many times without an outcome";
        return fail(state, &r, "too_many_attempts", error, Settle::ended("failed", None, now), now)
            .await
            .map(Into::into);
    }
    let delivered_before =
        batch.delivered.contains(&(r.id.clone(), "email")) || batch.delivered.contains(&(r.id.clone(), "push"));
    let sends = match plan(state, batch, &r, now, sent_today) {
        Err(reason) => {
            // A retry whose remaining channels are now out (consent withdrawn, goal met, done)
            // still reached the patient on the earlier attempt.
            let (status, outcome) =
                if delivered_before { ("sent", Outcome::Sent) } else { ("skipped", Outcome::Skipped) };
            let reason = (!delivered_before).then_some(reason.as_str());
            return settle(state, &r, Settle::ended(status, reason, now), now, outcome).await.map(Into::into);
        }
        Ok(sends) => sends,
    };
    // A slow pass must not send after its lease ran out: another dispatcher may hold the row.
    if state.now() + Duration::seconds(5) >= lease.until() {
        let settled = Settle::ended("scheduled", Some("lease_expired"), now);
        return settle(state, &r, settled, now, Outcome::Retried).await.map(Into::into);
    }
    let email = async {
        match &sends.email {
            None => None,
            Some(Ok(email)) => Some(state.mailer.send(email).await),
            Some(Err(e)) => Some(Err(MailError::Permanent(e.clone()))),
        }
    };
    let pushes = futures_util::future::join_all(
        sends.pushes.iter().map(|(device, n)| state.push.send(&device.platform, &device.token, n)),
    );
    let (email, pushes) = futures_util::future::join(email, pushes).await;

    let retry = r.attempts < max_attempts;
    let mut settled = Settle::ended("sent", None, now);
    let (mut delivered, mut transient, mut failure) = (false, None::<String>, None::<String>);
    // `refused`: the device's token was refused; the device goes, and that is no failure of the
    // reminder (an app uninstalled).
    let mut record = |channel: Channel, target: &str, result: Result<(), String>, is_transient: bool, refused: bool| {
        let (status, error, counted) = match result {
            Ok(()) => ("sent", None, metrics::Outcome::Sent),
            Err(e) if is_transient && retry => ("retrying", Some(e), metrics::Outcome::Retried),
            Err(e) => ("failed", Some(e), metrics::Outcome::Failed),
        };
        state.metrics.reminder(channel, counted);
        settled.deliveries.push(Delivery {
            reminder_id: r.id.clone(),
            channel: channel.as_str().to_owned(),
            target: target.to_owned(),
            status: status.to_owned(),
            attempts: 1,
            last_error: error.clone(),
            sent_at: (status == "sent").then(|| to_db(now)),
            created_at: to_db(now),
            updated_at: to_db(now),
        });
        match (status, error) {
            ("sent", _) => delivered = true,
            ("retrying", Some(e)) => transient = Some(e),
            (_, Some(e)) if !refused => failure = Some(e),
            _ => {}
        }
    };
    let mut done = Done::from(Outcome::Sent);
    if let Some(result) = email {
        let is_transient = matches!(result, Err(MailError::Transient(_)));
        done.emails = usize::from(result.is_ok());
        record(Channel::Email, EMAIL_TARGET, result.map_err(|e| e.to_string()), is_transient, false);
    }
    let mut refused = Vec::new();
    for ((device, _), result) in sends.pushes.iter().zip(pushes) {
        let is_refused = matches!(result, Err(PushError::InvalidToken(_)));
        match result {
            Ok(()) => done.pushes += 1,
            Err(PushError::InvalidToken(_)) => refused.push((device.id.clone(), device.token.clone())),
            Err(_) => {}
        }
        let is_transient = matches!(result, Err(PushError::Transient(_)));
        record(Channel::Push, &device.id, result.map_err(|e| e.to_string()), is_transient, is_refused);
    }
    done.devices_removed = refused.len();
    settled.refused = refused;
    let delivered_any = delivered || delivered_before;
    done.outcome = if let Some(e) = transient {
        let retry_at = now + backoff(state.settings.dispatch.backoff_base_secs, r.attempts);
        settled = Settle { status: "scheduled", reason: Some("retrying"), error: Some(e), due_at: retry_at, ..settled };
        Outcome::Retried
    } else if delivered_any {
        Outcome::Sent
    } else if let Some(e) = failure {
        return fail(state, &r, "undeliverable", &e, settled, now).await.map(|outcome| Done { outcome, ..done });
    } else {
        // Every device's token was refused, and nothing else was to be sent.
        settled = Settle { status: "skipped", reason: Some(SkipReason::NoDevice.as_str()), ..settled };
        Outcome::Skipped
    };
    let outcome = if delivered {
        record_delivered(state, &r, settled, now, lease, done.outcome).await?
    } else {
        settle(state, &r, settled, now, done.outcome).await?
    };
    Ok(Done { outcome, ..done })
}

/// Marks a claimed reminder failed and alerts the clinic (once while open); reports a lost
/// lease instead when another dispatcher took the row over meanwhile.
async fn fail(
    state: &AppState,
    r: &Reminder,
    reason: &'static str,
    error: &str,
    settled: Settle,
    now: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let (r2, msg) = (r.clone(), error.to_owned());
    let settled = Settle { status: "failed", reason: Some(reason), error: Some(msg), due_at: now, ..settled };
    let held = state
        .db
        .write(move |c| -> Result<Option<Option<crate::repo::alerts::Alert>>, DbError> {
            if !end_claim(c, &r2, &settled, now)? {
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
                details: format!("a {} reminder could not be delivered after {} attempt(s)", r2.kind, r2.attempts),
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

/// Ends the claim with the reminder's outcome, its channels' records and the refused devices,
/// in one transaction, if this dispatcher still holds the row (same attempt).
fn end_claim(c: &mut crate::db::DbConnection, r: &Reminder, s: &Settle, now: DateTime<Utc>) -> Result<bool, DbError> {
    let held = reminders::finish_claim(c, r, s.status, s.reason, s.error.as_deref(), to_db(s.due_at), to_db(now))?;
    if !held {
        return Ok(false);
    }
    for d in &s.deliveries {
        reminder_deliveries::record(c, d)?;
    }
    for (id, token) in &s.refused {
        devices::delete_refused(c, id, token)?;
    }
    Ok(true)
}

/// Exponential backoff with ±20 % jitter, capped at one hour.
pub fn backoff(base_secs: i64, attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    let secs = base_secs.saturating_mul(1_i64 << exp).min(3600);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::milliseconds((secs as f64 * 1000.0 * jitter) as i64)
}

async fn settle(
    state: &AppState,
    r: &Reminder,
    settled: Settle,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> Result<Outcome, DbError> {
    let r = r.clone();
    let held = state.db.write(move |c| end_claim(c, &r, &settled, now)).await?;
    Ok(if held { outcome } else { Outcome::LostLease })
}

/// Records the outcome of a reminder that reached the patient on some channel. The email or
/// push is out, so losing this write would send it again when the lease ends: a database that
/// is briefly away (a restart, a failover) is retried with backoff until shortly before the
/// lease ends.
async fn record_delivered(
    state: &AppState,
    r: &Reminder,
    settled: Settle,
    now: DateTime<Utc>,
    lease: &Lease,
    outcome: Outcome,
) -> Result<Outcome, DbError> {
    // Measured on the wall clock: the lease runs out in real time (unless renewed meanwhile).
    let budget = (lease.until() - state.now() - Duration::seconds(2)).to_std().unwrap_or_default();
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    let settled = Arc::new(settled);
    loop {
        let (r2, s) = (r.clone(), settled.clone());
        match state.db.write(move |c| end_claim(c, &r2, &s, now)).await {
            Ok(true) => return Ok(outcome),
            Ok(false) => return Ok(Outcome::LostLease),
            Err(e) if started.elapsed() + wait < budget => {
                tracing::warn!(reminder.id = %r.id, error = %e, "recording a delivered reminder failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a pass reads once for its whole batch instead of once per reminder: the patients, their
/// clinics, sessions, protocol steps, channel consents, devices, earlier deliveries, goal events,
/// and what each was sent in the last 24 hours.
struct Batch {
    patients: HashMap<String, Patient>,
    clinics: HashMap<String, Clinic>,
    sessions: HashMap<String, DateTime<Utc>>,
    steps: HashMap<String, Vec<Step>>,
    email_consented: HashSet<String>,
    push_consented: HashSet<String>,
    devices: HashMap<String, Vec<Device>>,
    /// (reminder, channel) delivered on an earlier attempt.
    delivered: HashSet<(String, &'static str)>,
    /// (reminder, target) a channel is done with (sent, or failed for good): not sent again.
    finished: HashSet<(String, String)>,
    /// Serum applications and check-ins by patient, in the batch's goal window.
    serum: HashMap<String, Vec<DateTime<Utc>>>,
    checkins: HashMap<String, Vec<DateTime<Utc>>>,
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
    let reminder_ids: Vec<String> = groups.iter().flatten().map(|r| r.id.clone()).collect();
    let planned = groups.iter().flatten().map(|r| from_db(r.planned_at));
    let (first, last) = (planned.clone().min().unwrap_or(now), planned.max().unwrap_or(now));
    let (goal_from, goal_to) = rules::goal_window(first, last, now);
    let since = to_db(now - Duration::hours(24));
    let push_on = state.push.enabled();
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
            let (mut serum, mut checkin_times) = (HashMap::<_, Vec<_>>::new(), HashMap::<_, Vec<_>>::new());
            for (patient, at, is_serum) in
                checkins::goal_events_between(c, &patient_ids, to_db(goal_from), to_db(goal_to))?
            {
                let into = if is_serum { &mut serum } else { &mut checkin_times };
                into.entry(patient).or_default().push(from_db(at));
            }
            // Devices only matter when a push service is configured.
            let mut devices_by_patient: HashMap<String, Vec<Device>> = HashMap::new();
            if push_on {
                for d in devices::find_for_patients(c, &patient_ids)? {
                    devices_by_patient.entry(d.patient_id.clone()).or_default().push(d);
                }
            }
            let (mut delivered, mut finished) = (HashSet::new(), HashSet::new());
            for d in reminder_deliveries::find_for_reminders(c, &reminder_ids)? {
                let channel = if d.channel == "email" { "email" } else { "push" };
                if d.status == "sent" {
                    delivered.insert((d.reminder_id.clone(), channel));
                }
                if d.status != "retrying" {
                    finished.insert((d.reminder_id, d.target));
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
                email_consented: consents::granted_among(c, &patient_ids, "email_reminders")?,
                push_consented: consents::granted_among(c, &patient_ids, "push_reminders")?,
                devices: devices_by_patient,
                delivered,
                finished,
                serum,
                checkins: checkin_times,
                sent_today: reminders::count_sent_since_by_patient(c, &patient_ids, since)?.into_iter().collect(),
            })
        })
        .await
}

/// The facts of one reminder from its batch, the decision, and what to send: the email
/// (rendered) and one notification per device; or why nothing is sent.
fn plan(
    state: &AppState,
    batch: &Batch,
    r: &Reminder,
    now: DateTime<Utc>,
    sent_today: i64,
) -> Result<Sends, SkipReason> {
    let patient = batch.patients.get(&r.patient_id);
    let clinic = batch.clinics.get(&r.clinic_id);
    let session_at = batch.sessions.get(&r.session_id);
    let step = batch.steps.get(&r.protocol_id).and_then(|s| s.iter().find(|s| s.key == r.step_key));
    let planned = from_db(r.planned_at);
    let no_times = Vec::new();
    let goal_met = match (step.and_then(|s| s.goal), patient) {
        (Some(goal), Some(p)) => rules::goal_met(
            goal,
            planned,
            now,
            batch.serum.get(&p.id).unwrap_or(&no_times),
            batch.checkins.get(&p.id).unwrap_or(&no_times),
        ),
        _ => false,
    };
    let delivered = |channel| batch.delivered.contains(&(r.id.clone(), channel));
    let open = |target: &str| !batch.finished.contains(&(r.id.clone(), target.to_owned()));
    let address = patient.and_then(|p| p.email.clone()).filter(|_| open(EMAIL_TARGET));
    let targets: Vec<&Device> = batch
        .devices
        .get(&r.patient_id)
        .into_iter()
        .flatten()
        .filter(|d| state.push.serves(&d.platform) && open(&d.id))
        .collect();
    let facts = Facts {
        record_found: patient.is_some() && clinic.is_some() && session_at.is_some(),
        archived: patient.is_some_and(|p| p.archived_at.is_some()),
        step_found: step.is_some(),
        done: r.done_at.is_some(),
        goal_met,
        sent_today,
        daily_cap: state.settings.dispatch.daily_cap,
        email: ChannelFacts {
            consented: batch.email_consented.contains(&r.patient_id),
            reachable: address.is_some(),
            delivered: delivered("email"),
        },
        push: ChannelFacts {
            consented: batch.push_consented.contains(&r.patient_id),
            reachable: !targets.is_empty(),
            delivered: delivered("push"),
        },
    };
    let (email, push) = match rules::decide(&facts) {
        rules::Decision::Skip(reason) => {
            if reason == SkipReason::DailyCap {
                tracing::warn!(reminder.id = %r.id, patient.id = %r.patient_id, "daily reminder cap reached");
            }
            return Err(reason);
        }
        rules::Decision::Send { email, push } => (email, push),
    };
    // decide() sends only with the record, the step and a reachable channel, all found above.
    let (Some(patient), Some(clinic), Some(session_at), Some(step)) = (patient, clinic, session_at, step) else {
        return Err(SkipReason::RecordMissing);
    };
    let ctx = Context { patient, clinic, session_at: *session_at };
    let email = match (email, address) {
        (true, Some(to)) => Some(render(state, r, &ctx, step, &to).map(Box::new).map_err(|e| {
            tracing::error!(reminder.id = %r.id, error = %e, "reminder not rendered");
            "the reminder email could not be rendered".to_owned()
        })),
        _ => None,
    };
    let pushes = if push {
        targets
            .into_iter()
            .map(|d| {
                let (title, message) = i18n::push_reminder(Lang::from_tag(&d.language), step);
                let (title, body) = crate::push::reminder_text(&title, &message);
                let n = Notification {
                    title,
                    body,
                    collapse_id: r.id.clone(),
                    reminder_id: r.id.clone(),
                    kind: r.kind.clone(),
                    expires_at: now + Duration::hours(12),
                };
                (d.clone(), n)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Sends { email, pushes })
}

/// What rendering the email needs besides the reminder and its step.
struct Context<'a> {
    patient: &'a Patient,
    clinic: &'a Clinic,
    session_at: DateTime<Utc>,
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

/// How long a reminder email's check-in or serum link works after it is sent.
pub const CHECKIN_LINK_HOURS: i64 = 72;

/// The actions a reminder email's link can take without the app (`http::pages::checkin`).
pub const LINKED_ACTIONS: [&str; 2] = ["checkin", "log_serum"];

/// A reminder's app link (`/app/{action}?reminder=`: the app opens it when installed). A check-in
/// or serum link also carries a signed token, so that without the app the page there does it.
fn action_url(state: &AppState, base: &str, action: &str, reminder_id: &str) -> String {
    let mut url = format!("{base}/app/{action}?reminder={reminder_id}");
    if LINKED_ACTIONS.contains(&action) {
        let until = (state.now() + chrono::Duration::hours(CHECKIN_LINK_HOURS)).timestamp();
        url.push_str("&token=");
        url.push_str(&state.links.sign_action(action, reminder_id, until));
    }
    url
}

fn render(state: &AppState, r: &Reminder, ctx: &Context<'_>, step: &Step, to: &str) -> anyhow::Result<Email> {
    let tz: Tz = ctx.patient.time_zone.tz();
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
        action_url: step.action.as_ref().map(|a| action_url(state, base, a, &r.id)),
        local_time: i18n::datetime_short(lang, &planned.with_timezone(&tz)),
        time_zone: ctx.patient.time_zone.name(),
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
