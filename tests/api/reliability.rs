//! The reminder dispatcher's promise, "sent once, never lost": real SMTP on the wire, SMTP
//! outages and refusals, retries with backoff, a dispatcher that dies holding a lease, several
//! dispatchers at once, and claims that respect their limit.

use std::collections::{HashMap, HashSet};

use crate::{
    clinical::{answers, session_body},
    helpers::{PASSWORD, TestApp, access, ok},
    smtp_sink::SmtpSink,
};
use aftercare::{
    clock::Clock,
    db::{Backend, DbError, new_id, schema, to_db},
    jobs::{
        alert_mail::{AlertMailReport, deliver_alert_notifications},
        dispatch::{DispatchReport, deliver_due_reminders, drain_due_reminders},
    },
    repo::reminders::{self, Reminder},
};
use chrono::{DateTime, Duration, Utc};
use diesel::{Connection, connection::SimpleConnection, prelude::*};
use serde_json::json;

const ADMIN: &str = "admin@glow.example";

/// Steps of the default protocol without a goal: a reminder of these is always emailed.
const GOALLESS_STEPS: [&str; 3] = ["first_day_care", "no_sweating", "avoid_actives"];

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

struct Fx {
    pid: String,
    session: String,
}

/// A London patient with an email (not invited to the app), consent to reminder emails, a clear
/// screening, a course, and a session at the test clock's start: about 30 reminders planned.
async fn fixture(app: &TestApp, staff: &str, email: &str) -> Fx {
    let p = ok(
        app.post(
            "/api/v1/patients",
            &json!({"name": "Jane Doe", "email": email, "time_zone": "Europe/London", "invite": false}),
            Some(staff),
        )
        .await,
        201,
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    ok(
        app.post(
            &format!("/api/v1/patients/{pid}/consents"),
            &json!({"kind": "email_reminders", "granted": true}),
            Some(staff),
        )
        .await,
        201,
    )
    .await;
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(staff)).await, 201).await;
    let c = ok(
        app.post(
            &format!("/api/v1/patients/{pid}/courses"),
            &json!({"concerns": ["acne_scars"], "planned_sessions": 3}),
            Some(staff),
        )
        .await,
        201,
    )
    .await;
    let course = c["id"].as_str().unwrap();
    let s = ok(
        app.post(
            &format!("/api/v1/courses/{course}/sessions"),
            &session_body("2026-03-16T09:00:00Z", "cheeks", 1.0),
            Some(staff),
        )
        .await,
        201,
    )
    .await;
    Fx { pid, session: s["id"].as_str().unwrap().to_owned() }
}

/// One dispatcher pass at the test clock's time.
async fn pass(app: &TestApp) -> DispatchReport {
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap()
}

/// Passes until one claims nothing; the reports of the passes that claimed something.
async fn drain(app: &TestApp) -> Vec<DispatchReport> {
    let mut reports = Vec::new();
    loop {
        let report = pass(app).await;
        if report.claimed == 0 {
            return reports;
        }
        reports.push(report);
        assert!(reports.len() < 1_000, "the dispatcher never runs dry");
    }
}

async fn session_rows(app: &TestApp, session: &str) -> Vec<Reminder> {
    let session = session.to_owned();
    app.state.db.run(move |c| reminders::find_for_session(c, &session)).await.unwrap()
}

async fn all_rows(app: &TestApp) -> Vec<Reminder> {
    app.state.db.run(|c| schema::reminders::table.select(Reminder::as_select()).load::<Reminder>(c)).await.unwrap()
}

async fn row(app: &TestApp, id: &str) -> Reminder {
    let id = id.to_owned();
    app.state.db.run(move |c| reminders::find_reminder(c, &id)).await.unwrap().unwrap()
}

/// The ids of a session's reminders that are due (scheduled, `due_at <= now`).
async fn due_ids(app: &TestApp, session: &str) -> Vec<String> {
    let now = to_db(app.clock.now());
    session_rows(app, session)
        .await
        .into_iter()
        .filter(|r| r.status == "scheduled" && r.due_at <= now)
        .map(|r| r.id)
        .collect()
}

/// Inserts `count` due reminders for a session, as if planned over the last `count` seconds,
/// copying a planned reminder of a goal-less step for its protocol, kind and owners. Returns
/// their ids.
async fn insert_due(app: &TestApp, session: &str, count: usize) -> Vec<String> {
    let templates: Vec<Reminder> = session_rows(app, session).await;
    let templates: Vec<Reminder> = GOALLESS_STEPS
        .iter()
        .map(|key| templates.iter().find(|r| r.step_key == *key).unwrap_or_else(|| panic!("no {key}")).clone())
        .collect();
    let now = app.clock.now();
    let rows: Vec<Reminder> = (0..count)
        .map(|i| {
            let t = &templates[i % templates.len()];
            let planned = to_db(now - Duration::seconds(i64::try_from(i).unwrap() + 1));
            Reminder {
                id: new_id(),
                occurrence: 100 + i32::try_from(i).unwrap(),
                planned_at: planned,
                due_at: planned,
                status: "scheduled".into(),
                attempts: 0,
                status_reason: None,
                last_error: None,
                sent_at: None,
                done_at: None,
                created_at: to_db(now),
                updated_at: to_db(now),
                ..t.clone()
            }
        })
        .collect();
    let ids = rows.iter().map(|r| r.id.clone()).collect();
    app.state
        .db
        .write(move |c| -> Result<(), DbError> {
            for r in &rows {
                reminders::insert_reminder(c, r)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    ids
}

/// The Message-IDs of the reminder emails in the in-memory outbox.
fn outbox_reminder_ids(app: &TestApp) -> Vec<String> {
    app.outbox().into_iter().filter_map(|m| m.message_id).filter(|id| id.starts_with("reminder-")).collect()
}

/// A header of a raw message, unfolded (RFC 5322 §2.2.3: only the CRLF goes).
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", "\t");
    unfolded.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// `<reminder-ID@domain>` → `reminder-ID@domain`.
fn message_id(raw: &str) -> String {
    let id = header(raw, "Message-ID").unwrap_or_else(|| panic!("no Message-ID in {raw}"));
    id.strip_prefix('<').and_then(|i| i.strip_suffix('>')).unwrap_or_else(|| panic!("Message-ID {id}")).to_owned()
}

fn reminder_id_of(message_id: &str) -> &str {
    message_id.strip_prefix("reminder-").and_then(|i| i.split('@').next()).unwrap()
}

/// How many times each item occurs.
fn tally<'a>(items: impl IntoIterator<Item = &'a String>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for i in items {
        *counts.entry(i.as_str()).or_insert(0) += 1;
    }
    counts
}

/// A loopback port nothing listens on (yet).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The SMTP server comes back on `port`: each connection is relayed to the sink on `to`.
async fn bring_up(port: u16, to: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

#[tokio::test]
async fn reminders_reach_a_real_smtp_server_with_message_id_and_one_click_unsubscribe() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    assert!(sink.received().is_empty(), "no invitation was asked for");

    app.clock.set(at("2026-03-16T11:00:00Z"));
    let report = pass(&app).await;
    assert_eq!((report.claimed, report.sent, report.retried, report.failed), (1, 1, 0, 0), "{report:?}");
    let sent: Vec<Reminder> =
        session_rows(&app, &fx.session).await.into_iter().filter(|r| r.status == "sent").collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].step_key, "first_day_care");

    let received = sink.received();
    assert_eq!(received.len(), 1);
    let raw = &received[0];
    assert_eq!(message_id(raw), format!("reminder-{}@127.0.0.1", sent[0].id), "{raw}");
    assert_eq!(header(raw, "To").as_deref(), Some("jane@x.example"), "{raw}");
    let unsubscribe = header(raw, "List-Unsubscribe").unwrap_or_else(|| panic!("no List-Unsubscribe in {raw}"));
    let link = unsubscribe.strip_prefix('<').and_then(|l| l.strip_suffix('>')).unwrap();
    assert!(link.starts_with("http") && link.contains("/api/v1/unsubscribe?token="), "{unsubscribe}");
    assert!(!link.contains(char::is_whitespace), "the link survives folding: {unsubscribe}");
    assert_eq!(header(raw, "List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"), "{raw}");
    let content_type = header(raw, "Content-Type").unwrap();
    assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    assert!(body.contains("Content-Type: text/plain"), "{raw}");
    assert!(body.contains("Content-Type: text/html"), "{raw}");

    // The link as it arrived is a working one-click unsubscribe.
    let path = &link[link.find("/api/v1/unsubscribe").unwrap()..];
    let res = app.client.post(app.url(path)).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(ok(res, 200).await["status"], "unsubscribed");
}

#[tokio::test]
async fn when_smtp_is_down_reminders_stay_pending_and_all_go_out_once_it_is_back_none_lost() {
    let sink = SmtpSink::start().await;
    let port = closed_port();
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.mail.timeout_secs = 2;
    })
    .await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;

    // Tuesday noon: the first day's reminders and Tuesday morning's are due.
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let due = due_ids(&app, &fx.session).await;
    assert_eq!(due.len(), 7);
    let report = pass(&app).await;
    assert_eq!(
        report,
        DispatchReport { claimed: 7, retried: 7, ..Default::default() },
        "nothing is sent while SMTP is down"
    );
    let now = to_db(app.clock.now());
    for id in &due {
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.status_reason.as_deref(), r.attempts), ("scheduled", Some("retrying"), 1));
        assert!(r.last_error.as_deref().is_some_and(|e| !e.is_empty()), "{r:?}");
        let wait = (r.due_at - now).num_milliseconds();
        assert!((48_000..=72_000).contains(&wait), "first retry after 60 s ± 20 %: {wait} ms");
        assert!(r.sent_at.is_none());
    }
    assert_eq!(pass(&app).await.claimed, 0, "nothing is retried before its backoff");

    // Still down two minutes later: the backoff doubles.
    app.clock.advance(Duration::minutes(2));
    let report = pass(&app).await;
    assert_eq!(report, DispatchReport { claimed: 7, retried: 7, ..Default::default() });
    let now = to_db(app.clock.now());
    for id in &due {
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("scheduled", 2));
        let wait = (r.due_at - now).num_milliseconds();
        assert!((96_000..=144_000).contains(&wait), "second retry after 120 s ± 20 %: {wait} ms");
    }
    assert!(sink.received().is_empty());

    // The server comes back; past the longest backoff, everything goes out.
    bring_up(port, sink.port).await;
    app.clock.advance(Duration::hours(2));
    let reports = drain(&app).await;
    let sent: usize = reports.iter().map(|r| r.sent).sum();
    let other: usize = reports.iter().map(|r| r.retried + r.failed + r.skipped + r.lost_lease).sum();
    assert_eq!((sent, other), (7, 0), "{reports:?}");

    let ids: Vec<String> = sink.received().iter().map(|raw| message_id(raw)).collect();
    let counts = tally(&ids);
    assert!(counts.values().all(|n| *n == 1), "a reminder was emailed twice: {counts:?}");
    let mailed: HashSet<&str> = ids.iter().map(|id| reminder_id_of(id)).collect();
    let due: HashSet<&str> = due.iter().map(String::as_str).collect();
    assert_eq!(mailed, due, "every reminder that was due is emailed, and only those");

    let now = to_db(app.clock.now());
    let rows = session_rows(&app, &fx.session).await;
    assert!(rows.iter().all(|r| r.status != "failed" && r.status != "sending"), "{rows:?}");
    for r in rows.iter().filter(|r| due.contains(r.id.as_str())) {
        assert_eq!((r.status.as_str(), r.attempts, r.last_error.as_deref()), ("sent", 3, None), "{r:?}");
        assert_eq!(r.sent_at, Some(now));
    }
    assert!(rows.iter().filter(|r| r.planned_at <= now).all(|r| r.status == "sent"), "none due is left");
}

#[tokio::test]
async fn a_permanent_smtp_refusal_fails_the_reminder_and_alerts_the_clinic() {
    let sink = SmtpSink::start().await;
    *sink.rcpt_reply.lock().unwrap() = Some("550 5.1.1 no such user".into());
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;

    let hook = json!({"url": "https://crm.example/hooks", "events": ["reminder.failed", "alert.created"]});
    let hook = ok(app.post("/api/v1/webhooks", &hook, Some(&staff)).await, 201).await;

    app.clock.set(at("2026-03-16T11:00:00Z"));
    let first = due_ids(&app, &fx.session).await;
    assert_eq!(first.len(), 1);
    let report = pass(&app).await;
    assert_eq!(report, DispatchReport { claimed: 1, failed: 1, ..Default::default() });
    // Clinic systems hear of it: a reminder.failed and an alert.created event wait for delivery.
    let staff = access(&app.login(ADMIN, PASSWORD).await);
    let log =
        ok(app.get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), Some(&staff)).await, 200)
            .await;
    let mut events: Vec<&str> =
        log["items"].as_array().unwrap().iter().map(|d| d["event_type"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, ["alert.created", "reminder.failed"], "{log}");
    let failed = log["items"].as_array().unwrap().iter().find(|d| d["event_type"] == "reminder.failed").unwrap();
    assert_eq!(failed["payload"]["data"]["reminder_id"], first[0].as_str());
    assert_eq!(failed["payload"]["data"]["reason"], "undeliverable");
    assert_eq!(failed["status"], "pending");
    let r = row(&app, &first[0]).await;
    assert_eq!((r.status.as_str(), r.status_reason.as_deref(), r.attempts), ("failed", Some("undeliverable"), 1));
    assert!(r.last_error.as_deref().is_some_and(|e| e.contains("550")), "{r:?}");
    assert!(r.sent_at.is_none());
    assert_eq!(pass(&app).await.claimed, 0, "a failed reminder is not retried");

    let staff = access(&app.login(ADMIN, PASSWORD).await);
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    let items = alerts["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{alerts}");
    assert_eq!(items[0]["reason"], "reminder_failed");
    assert_eq!(items[0]["status"], "open");
    assert_eq!(items[0]["patient_id"], fx.pid.as_str());
    assert_eq!(items[0]["session_id"], fx.session.as_str());

    // The evening serum reminder fails too: the open alert already covers it.
    app.clock.set(at("2026-03-16T20:00:00Z"));
    let second = due_ids(&app, &fx.session).await;
    assert_eq!(second.len(), 1);
    let report = pass(&app).await;
    assert_eq!(report, DispatchReport { claimed: 1, failed: 1, ..Default::default() });
    assert_eq!(row(&app, &second[0]).await.status, "failed");
    let staff = access(&app.login(ADMIN, PASSWORD).await);
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "one open alert per session: {alerts}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn too_many_transient_failures_fail_the_reminder() {
    let sink = SmtpSink::start().await;
    *sink.rcpt_reply.lock().unwrap() = Some("451 4.3.0 try later".into());
    let url = sink.url();
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(url.into());
        s.dispatch.max_attempts = 2;
    })
    .await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;

    app.clock.set(at("2026-03-16T11:00:00Z"));
    let due = due_ids(&app, &fx.session).await;
    assert_eq!(due.len(), 1);
    assert_eq!(pass(&app).await, DispatchReport { claimed: 1, retried: 1, ..Default::default() });
    let r = row(&app, &due[0]).await;
    assert_eq!((r.status.as_str(), r.attempts), ("scheduled", 1));
    assert!(r.last_error.as_deref().is_some_and(|e| e.contains("451")), "{r:?}");

    app.clock.advance(Duration::hours(2));
    assert_eq!(pass(&app).await, DispatchReport { claimed: 1, failed: 1, ..Default::default() });
    let r = row(&app, &due[0]).await;
    assert_eq!((r.status.as_str(), r.status_reason.as_deref(), r.attempts), ("failed", Some("undeliverable"), 2));
    assert!(r.last_error.as_deref().is_some_and(|e| e.contains("451")), "{r:?}");

    app.clock.advance(Duration::hours(2));
    assert_eq!(pass(&app).await.claimed, 0, "no third attempt");
    let staff = access(&app.login(ADMIN, PASSWORD).await);
    let alerts = ok(app.get(&format!("/api/v1/alerts?patient_id={}", fx.pid), Some(&staff)).await, 200).await;
    let reasons: Vec<&str> =
        alerts["items"].as_array().unwrap().iter().map(|a| a["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["reminder_failed"]);
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_dispatcher_that_dies_after_claiming_leaves_rows_another_one_sends_after_the_lease() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let due = due_ids(&app, &fx.session).await;
    assert_eq!(due.len(), 7);

    // A dispatcher claims, then dies before sending or recording anything.
    let now = app.clock.now();
    let lease_secs = app.state.settings.dispatch.lease_secs;
    let (claim_now, lease_until) = (to_db(now), to_db(now + Duration::seconds(lease_secs)));
    let crashed = app
        .state
        .db
        .write(move |c| -> Result<Vec<Reminder>, DbError> { Ok(reminders::claim_due(c, claim_now, lease_until, 100)?) })
        .await
        .unwrap();
    let claimed: HashSet<&str> = crashed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(claimed, due.iter().map(String::as_str).collect::<HashSet<_>>());
    assert!(crashed.iter().all(|r| r.status == "sending" && r.due_at == lease_until && r.attempts == 1));

    // While the lease holds, nobody else touches the rows.
    assert_eq!(pass(&app).await, DispatchReport::default());
    app.clock.advance(Duration::seconds(lease_secs - 1));
    assert_eq!(pass(&app).await.claimed, 0, "a second before the lease ends");
    assert!(outbox_reminder_ids(&app).is_empty());

    // After the lease, another dispatcher takes them over and sends each once.
    app.clock.advance(Duration::seconds(2));
    let report = pass(&app).await;
    assert_eq!(report, DispatchReport { claimed: 7, sent: 7, emails: 7, ..Default::default() });
    assert_eq!(pass(&app).await.claimed, 0);
    let ids = outbox_reminder_ids(&app);
    assert_eq!(ids.len(), 7);
    let mailed: HashSet<&str> = ids.iter().map(|id| reminder_id_of(id)).collect();
    assert_eq!(mailed, claimed, "each once");
    for id in &due {
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("sent", 2), "{r:?}");
    }

    // The dead dispatcher's late write is refused: its claim is no longer the row's.
    let stale = crashed[0].clone();
    let late = to_db(app.clock.now());
    let recorded = app
        .state
        .db
        .write(move |c| -> Result<bool, DbError> {
            Ok(reminders::finish_claim(c, &stale, "scheduled", Some("retrying"), Some("boom"), late, late)?)
        })
        .await
        .unwrap();
    assert!(!recorded);
    assert_eq!(row(&app, &crashed[0].id).await.status, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_dispatchers_at_once_deliver_each_of_1000_reminders_exactly_once() {
    const PATIENTS: usize = 4;
    const PER_PATIENT: usize = 250;
    const N: usize = PATIENTS * PER_PATIENT;
    let app = TestApp::spawn_with(|s| {
        s.dispatch.daily_cap = 1_000_000;
        s.dispatch.batch_size = 25;
    })
    .await;
    let staff = app.admin_token().await;
    let mut inserted = HashSet::new();
    for n in 0..PATIENTS {
        let fx = fixture(&app, &staff, &format!("patient{n}@x.example")).await;
        inserted.extend(insert_due(&app, &fx.session, PER_PATIENT).await);
    }
    assert_eq!(inserted.len(), N);
    // At the clock's start (the session's time) only the inserted rows are due.
    let now = to_db(app.clock.now());
    let due = all_rows(&app).await.into_iter().filter(|r| r.status == "scheduled" && r.due_at <= now).count();
    assert_eq!(due, N);

    let started = std::time::Instant::now();
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (state, now) = (app.state.clone(), app.clock.now());
            tokio::spawn(async move {
                let mut reports = Vec::new();
                loop {
                    let report = deliver_due_reminders(&state, now).await.unwrap();
                    if report.claimed == 0 {
                        return reports;
                    }
                    assert!(report.claimed <= 25, "{report:?}");
                    reports.push(report);
                }
            })
        })
        .collect();
    let mut reports = Vec::new();
    for l in loops {
        reports.extend(l.await.unwrap());
    }
    eprintln!(
        "{N} reminders by 4 dispatchers in {:?} ({} passes) on {:?}",
        started.elapsed(),
        reports.len(),
        app.state.db.backend()
    );

    let total = |f: fn(&DispatchReport) -> usize| reports.iter().map(f).sum::<usize>();
    assert_eq!(total(|r| r.claimed), N);
    assert_eq!(total(|r| r.sent), N);
    assert_eq!(total(|r| r.lost_lease), 0);
    assert_eq!(total(|r| r.retried + r.failed + r.skipped), 0);

    let ids = outbox_reminder_ids(&app);
    assert_eq!(ids.len(), N, "one email per reminder");
    let counts = tally(&ids);
    assert_eq!(counts.len(), N, "distinct Message-IDs");
    let mailed: HashSet<String> = counts.keys().map(|id| reminder_id_of(id).to_owned()).collect();
    assert_eq!(mailed, inserted);
    let rows: Vec<Reminder> = all_rows(&app).await.into_iter().filter(|r| inserted.contains(&r.id)).collect();
    assert_eq!(rows.len(), N);
    let unsent: Vec<&Reminder> = rows.iter().filter(|r| r.status != "sent" || r.attempts != 1).collect();
    assert!(unsent.is_empty(), "each row sent on its one and only claim: {:?}", unsent.first());
}

#[tokio::test]
async fn a_claim_never_takes_more_rows_than_its_limit() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    let inserted: HashSet<String> = insert_due(&app, &fx.session, 30).await.into_iter().collect();
    let now = app.clock.now();
    let (claim_now, lease_until) = (to_db(now), to_db(now + Duration::minutes(2)));

    let (first, second) = match app.state.db.backend() {
        // Two dispatchers with overlapping transactions: the second claims while the first
        // still holds its rows locked, and skips them rather than waiting.
        Backend::Postgres => {
            let db = app.state.db.clone();
            tokio::task::spawn_blocking(move || {
                let (mut a, mut b) = (db.get().unwrap(), db.get().unwrap());
                a.transaction(|a| {
                    let first = reminders::claim_due(a, claim_now, lease_until, 7)?;
                    let second = b.transaction(|b| {
                        b.batch_execute("SET LOCAL lock_timeout = '5s'")?;
                        reminders::claim_due(b, claim_now, lease_until, 7)
                    })?;
                    Ok::<_, diesel::result::Error>((first, second))
                })
                .unwrap()
            })
            .await
            .unwrap()
        }
        // One writer at a time: two claims at once take turns.
        Backend::Sqlite => {
            let claim = || {
                app.state.db.write(move |c| -> Result<Vec<Reminder>, DbError> {
                    Ok(reminders::claim_due(c, claim_now, lease_until, 7)?)
                })
            };
            let (first, second) = tokio::join!(claim(), claim());
            (first.unwrap(), second.unwrap())
        }
    };
    assert_eq!((first.len(), second.len()), (7, 7));
    let a: HashSet<&str> = first.iter().map(|r| r.id.as_str()).collect();
    let b: HashSet<&str> = second.iter().map(|r| r.id.as_str()).collect();
    assert_eq!((a.len(), b.len()), (7, 7), "no row twice in one claim");
    assert!(a.is_disjoint(&b), "a row in both claims: {:?}", a.intersection(&b).collect::<Vec<_>>());
    assert!(first.iter().chain(&second).all(|r| r.status == "sending" && r.due_at == lease_until && r.attempts == 1));
    // The oldest due rows go first.
    let newest_claimed = first.iter().chain(&second).map(|r| r.planned_at).max().unwrap();
    let rows: Vec<Reminder> = all_rows(&app).await.into_iter().filter(|r| inserted.contains(&r.id)).collect();
    let count = |status: &str| rows.iter().filter(|r| r.status == status).count();
    assert_eq!((count("sending"), count("scheduled")), (14, 16), "no row beyond the two limits is taken");
    assert!(rows.iter().filter(|r| r.status == "scheduled").all(|r| r.planned_at > newest_claimed));

    // What is left is less than a limit: a claim takes exactly that.
    let rest = app
        .state
        .db
        .write(move |c| -> Result<Vec<Reminder>, DbError> { Ok(reminders::claim_due(c, claim_now, lease_until, 20)?) })
        .await
        .unwrap();
    assert_eq!(rest.len(), 16);
    let c: HashSet<&str> = rest.iter().map(|r| r.id.as_str()).collect();
    assert!(c.is_disjoint(&a) && c.is_disjoint(&b));
}

// Guards the daily cap against the built-in protocol. With a cap of 6 (the default until it
// became 12) the `avoid_actives` reminder ("Keep your routine gentle this week", day 1 at 11:00)
// was never emailed: it falls exactly 24 h after `first_day_care`, `count_sent_since` counts
// `sent_at >= now - 24h`, so 6 were already "sent today" and the reminder was skipped with
// `daily_cap`; a skip is final, so the instruction was lost although nothing went wrong.
#[tokio::test]
async fn a_healthy_dispatcher_ticking_through_the_first_week_drops_no_reminder_of_the_default_protocol() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    // A dispatcher every 5 minutes for 8 days, the mail server always up.
    for _ in 0..(12 * 24 * 8) {
        app.clock.advance(Duration::minutes(5));
        pass(&app).await;
    }
    let now = to_db(app.clock.now());
    let rows = session_rows(&app, &fx.session).await;
    let due: Vec<&Reminder> = rows.iter().filter(|r| r.planned_at <= now).collect();
    assert_eq!(due.len(), 29, "all but the next-session reminder");
    let dropped: Vec<String> = due
        .iter()
        .filter(|r| r.status != "sent")
        .map(|r| format!("{} at {}: {} ({:?})", r.step_key, r.planned_at, r.status, r.status_reason))
        .collect();
    assert!(dropped.is_empty(), "reminders never emailed: {dropped:?}");
    assert_eq!(outbox_reminder_ids(&app).len(), 29);
}

#[tokio::test]
async fn a_reminder_whose_dispatchers_keep_dying_fails_after_max_attempts_and_alerts() {
    let app = TestApp::spawn_with(|s| s.dispatch.max_attempts = 2).await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let due = due_ids(&app, &fx.session).await;
    let lease_secs = app.state.settings.dispatch.lease_secs;
    // Two dispatchers in a row claim the batch and die.
    for _ in 0..2 {
        let now = app.clock.now();
        let (claim_now, lease_until) = (to_db(now), to_db(now + Duration::seconds(lease_secs)));
        let crashed = app
            .state
            .db
            .write(move |c| -> Result<Vec<Reminder>, DbError> {
                Ok(reminders::claim_due(c, claim_now, lease_until, 100)?)
            })
            .await
            .unwrap();
        assert_eq!(crashed.len(), due.len());
        app.clock.advance(Duration::seconds(lease_secs + 1));
    }
    // The third claim is past max_attempts: the reminders fail instead of going round forever.
    let report = pass(&app).await;
    assert_eq!((report.claimed, report.failed, report.sent), (due.len(), due.len(), 0), "{report:?}");
    for id in &due {
        let r = row(&app, id).await;
        assert_eq!((r.status.as_str(), r.status_reason.as_deref()), ("failed", Some("too_many_attempts")));
    }
    assert!(outbox_reminder_ids(&app).is_empty());
    let staff = access(&app.login(ADMIN, PASSWORD).await);
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "one open alert per session and reason");
    assert_eq!(alerts["items"][0]["reason"], "reminder_failed");
}

#[tokio::test]
async fn a_backlog_drains_in_one_tick_while_batches_come_back_full() {
    let app = TestApp::spawn_with(|s| s.dispatch.batch_size = 2).await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let due = due_ids(&app, &fx.session).await;
    assert_eq!(due.len(), 7);

    let report = drain_due_reminders(&app.state).await.unwrap();
    assert_eq!(
        report,
        DispatchReport { claimed: 7, sent: 7, emails: 7, ..Default::default() },
        "four passes of two, in one tick"
    );
    assert_eq!(outbox_reminder_ids(&app).len(), 7);
    assert_eq!(drain_due_reminders(&app.state).await.unwrap(), DispatchReport::default());
}

#[tokio::test]
async fn a_drain_stops_when_mail_is_down_instead_of_spending_every_attempt_at_once() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| {
        s.dispatch.batch_size = 2;
        s.mail.smtp_url = Some(url.into());
    })
    .await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    *sink.rcpt_reply.lock().unwrap() = Some("451 4.3.0 try later".into());
    app.clock.set(at("2026-03-17T12:00:00Z"));
    assert_eq!(due_ids(&app, &fx.session).await.len(), 7);
    let report = drain_due_reminders(&app.state).await.unwrap();
    assert_eq!((report.claimed, report.retried, report.sent), (2, 2, 0), "{report:?}");
}

#[tokio::test]
async fn a_live_dispatcher_renews_only_its_own_claims() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let fx = fixture(&app, &staff, "jane@x.example").await;
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let due = due_ids(&app, &fx.session).await;
    let now = app.clock.now();
    let (claim_now, held) = (to_db(now), to_db(now + Duration::seconds(30)));
    let claimed = app
        .state
        .db
        .write(move |c| -> Result<Vec<Reminder>, DbError> { Ok(reminders::claim_due(c, claim_now, held, 3)?) })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    // One of them is finished meanwhile; another dispatcher's lease on a fourth is not ours.
    let finished = claimed[0].clone();
    let done = app
        .state
        .db
        .execute(move |c| reminders::finish_claim(c, &finished, "sent", None, None, claim_now, claim_now))
        .await
        .unwrap();
    assert!(done);
    let ids: Vec<String> = claimed.iter().map(|r| r.id.clone()).chain(due.iter().cloned()).collect();
    let until = to_db(now + Duration::seconds(60));
    let renewed = app.state.db.execute(move |c| reminders::renew_claims(c, &ids, held, until)).await.unwrap();
    assert_eq!(renewed, 2, "the two still in flight under this lease");
    for r in &claimed[1..] {
        let row = row(&app, &r.id).await;
        assert_eq!((row.status.as_str(), row.due_at), ("sending", until));
    }
    assert_eq!(row(&app, &claimed[0].id).await.status, "sent");
    // A finished claim still ends normally after a renewal.
    let second = claimed[1].clone();
    let finish = app
        .state
        .db
        .execute(move |c| reminders::finish_claim(c, &second, "sent", None, None, claim_now, claim_now))
        .await
        .unwrap();
    assert!(finish, "renewal keeps the claim this dispatcher's");
}

/// The treated patient of helpers, set up through a real SMTP server: the invitation token is
/// read from what the sink received. Returns (staff token, patient token).
pub(crate) async fn treated_over_smtp(app: &TestApp, sink: &SmtpSink) -> (String, String) {
    let staff = app.admin_token().await;
    let body = json!({"name": "Jane Doe", "email": "jane@x.example", "time_zone": "Europe/London"});
    let p = ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await;
    let pid = p["id"].as_str().unwrap();
    let raw = sink.received().into_iter().rev().find(|m| m.contains("To: jane@x.example")).expect("invitation");
    let token = crate::helpers::token_from_text(&raw.replace("=\r\n", "").replace("=3D", "="));
    let accept = json!({"token": token, "password": PASSWORD});
    let patient = access(&ok(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await);
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let plan = json!({"concerns": ["acne_scars"], "planned_sessions": 3});
    let c = ok(app.post(&format!("/api/v1/patients/{pid}/courses"), &plan, Some(&staff)).await, 201).await;
    let session = session_body("2026-03-16T09:00:00Z", "cheeks", 1.0);
    let path = format!("/api/v1/courses/{}/sessions", c["id"].as_str().unwrap());
    ok(app.post(&path, &session, Some(&staff)).await, 201).await;
    (staff, patient)
}

/// A red flag reported while the mail server refuses everything: the check-in is recorded at
/// once, the staff emails wait in the outbox, and the first pass after mail is back sends each.
#[tokio::test]
async fn a_red_flag_raised_while_smtp_is_down_reaches_every_staff_member_once_it_is_back() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let (staff, patient) = treated_over_smtp(&app, &sink).await;
    let urgent = |m: &String| m.contains("Subject: Urgent");
    *sink.rcpt_reply.lock().unwrap() = Some("421 4.3.2 service not available".into());

    let started = std::time::Instant::now();
    let body = json!({"redness": 3, "swelling": 2, "pain": 6, "itch": 1, "red_flags": ["pus"]});
    let c = ok(app.post("/api/v1/me/checkins", &body, Some(&patient)).await, 201).await;
    assert_eq!(c["alerts_raised"], 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "no mail inside the request");

    // Mail is down: the pass retries, nothing is lost.
    let down = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(down, AlertMailReport { claimed: 1, retried: 1, ..Default::default() });
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    assert_eq!(alerts["items"][0]["notification"]["status"], "pending");
    assert!(!sink.received().iter().any(urgent));

    // Mail is back: the next pass after the backoff sends it, once.
    *sink.rcpt_reply.lock().unwrap() = None;
    app.clock.advance(Duration::minutes(2));
    let back = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(back, AlertMailReport { claimed: 1, sent: 1, ..Default::default() });
    let mails: Vec<String> = sink.received().into_iter().filter(urgent).collect();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: admin@glow.example"), "{}", mails[0]);
    assert!(mails[0].contains("Message-ID: <alert-"), "{}", mails[0]);
    assert_eq!(deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap(), AlertMailReport::default());
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    assert_eq!(alerts["items"][0]["notification"], json!({"status": "sent", "sent": 1, "pending": 0, "failed": 0}));
}

/// A relay on `port` to the sink on `to` that can be switched off: while off it answers every
/// connection `421` and drops the ones it was relaying (a mail server gone for maintenance).
async fn switchable_relay(port: u16, to: u16) -> tokio::sync::watch::Sender<bool> {
    use tokio::io::AsyncWriteExt;
    let (up, watch) = tokio::sync::watch::channel(true);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut watch = watch.clone();
            tokio::spawn(async move {
                if !*watch.borrow() {
                    let _ = inbound.write_all(b"421 4.3.2 service not available, closing\r\n").await;
                    return;
                }
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                }
            });
        }
    });
    up
}

/// Issue 24's goal: a red flag raised while the mail server refuses connections reaches staff on
/// the first pass after the server answers again, not when the email's backoff ends; a pass
/// while it still refuses sends nothing and retries nothing early.
#[tokio::test]
async fn a_red_flag_raised_while_smtp_refuses_connections_goes_out_on_the_first_pass_after_it_answers() {
    let sink = SmtpSink::start().await;
    let port = closed_port();
    let up = switchable_relay(port, sink.port).await;
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.mail.timeout_secs = 2;
    })
    .await;
    let (_staff, patient) = treated_over_smtp(&app, &sink).await;
    let urgent = |m: &String| m.contains("Subject: Urgent");
    up.send_replace(false);

    let body = json!({"redness": 3, "swelling": 2, "pain": 6, "itch": 1, "red_flags": ["pus"]});
    let c = ok(app.post("/api/v1/me/checkins", &body, Some(&patient)).await, 201).await;
    assert_eq!(c["alerts_raised"], 1);
    let down = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(down, AlertMailReport { claimed: 1, retried: 1, ..Default::default() });

    // A tick later the server still refuses: the email keeps its backoff.
    app.clock.advance(Duration::seconds(5));
    let still = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(still, AlertMailReport::default());
    assert!(!sink.received().iter().any(urgent));

    // It answers again: the next pass sends the email at once, well before its backoff ends.
    up.send_replace(true);
    app.clock.advance(Duration::seconds(5));
    let back = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(back, AlertMailReport { claimed: 1, sent: 1, ..Default::default() });
    assert_eq!(sink.received().into_iter().filter(urgent).count(), 1);
    app.clock.advance(Duration::seconds(5));
    assert_eq!(deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap(), AlertMailReport::default());
    assert_eq!(sink.received().into_iter().filter(urgent).count(), 1, "sent once");
    let metrics = app.scrape().await;
    for series in [
        "aftercare_alert_notifications_retried_total 1",
        "aftercare_alert_notifications_sent_total 1",
        "aftercare_alert_notifications_failed_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == series), "no {series} in\n{metrics}");
    }
    let transient = metrics.lines().find_map(|l| l.strip_prefix("aftercare_smtp_errors_total{kind=\"transient\"} "));
    assert!(transient.is_some_and(|n| n.parse::<f64>().unwrap() >= 1.0), "{metrics}");
}

/// When a staff member's address is refused for good, the alert shows it and the clinic gets a
/// review alert in the app that staff could not be reached.
#[tokio::test]
async fn an_alert_email_refused_for_good_is_visible_and_alerts_the_clinic() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let (staff, patient) = treated_over_smtp(&app, &sink).await;
    *sink.rcpt_reply.lock().unwrap() = Some("550 5.1.1 no such user".into());
    let body = json!({"redness": 1, "swelling": 0, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &body, Some(&patient)).await, 201).await;

    let report = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report, AlertMailReport { claimed: 1, failed: 1, ..Default::default() });
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    let items = alerts["items"].as_array().unwrap();
    let red = items.iter().find(|a| a["reason"] == "red_flag").unwrap();
    assert_eq!(red["notification"], json!({"status": "failed", "sent": 0, "pending": 0, "failed": 1}));
    let unreachable = items.iter().find(|a| a["reason"] == "staff_unreachable").expect("the clinic is told");
    assert_eq!(
        (unreachable["severity"].as_str(), unreachable["patient_id"].as_str()),
        (Some("review"), red["patient_id"].as_str())
    );
    assert_eq!(unreachable["notification"]["status"], "none", "review alerts are not emailed");
    let metrics = app.scrape().await;
    assert!(metrics.contains("aftercare_alert_emails{status=\"failed\"} 1"), "{metrics}");
}

/// An alert a clinician resolved before its email went needs no email.
#[tokio::test]
async fn an_alert_resolved_before_its_email_went_is_not_emailed() {
    let app = TestApp::spawn().await;
    let fx = crate::helpers::treated_patient(&app, &[]).await;
    let (staff, patient) = (fx.staff.clone(), fx.patient.clone());
    let body = json!({"redness": 1, "swelling": 0, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &body, Some(&patient)).await, 201).await;
    let alerts = ok(app.get("/api/v1/alerts", Some(&staff)).await, 200).await;
    let id = alerts["items"][0]["id"].as_str().unwrap();
    ok(app.post(&format!("/api/v1/alerts/{id}/resolve"), &json!({"note": "called her"}), Some(&staff)).await, 200)
        .await;
    let report = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report, AlertMailReport { claimed: 1, skipped: 1, ..Default::default() });
    assert!(app.outbox().iter().all(|m| !m.subject.starts_with("Urgent")));
}

/// Erasing a patient whose red flag is still waiting to be emailed leaves no outbox row behind,
/// and nothing about them is mailed afterwards.
#[tokio::test]
async fn erasure_takes_a_patient_s_unsent_alert_emails_with_it() {
    let app = TestApp::spawn().await;
    let fx = crate::helpers::treated_patient(&app, &[]).await;
    let body = json!({"redness": 1, "swelling": 0, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &body, Some(&fx.patient)).await, 201).await;
    let pending = || async {
        app.state.db.run(|c| schema::alert_notifications::table.count().get_result::<i64>(c)).await.unwrap()
    };
    assert_eq!(pending().await, 1, "one staff member to tell");
    let path = format!("/api/v1/patients/{}", fx.pid);
    let req = app.client.delete(app.url(&path)).bearer_auth(&fx.staff).json(&json!({"confirm_patient_id": fx.pid}));
    assert_eq!(req.send().await.unwrap().status(), 200);
    assert_eq!(pending().await, 0, "the outbox rows went with the alert");
    let report = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report, AlertMailReport::default());
    assert!(app.outbox().iter().all(|m| !m.subject.starts_with("Urgent")));
}
