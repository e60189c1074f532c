//! The reminder engine as a clinic and a patient meet it: planning in the patient's zone,
//! sending once, consent, goals, snooze and done, re-planning, check-ins and alerts, missed
//! check-ins, unsubscribe, protocols.

use crate::{
    clinical::{answers, session_body},
    helpers::{PASSWORD, TestApp, access, assert_problem, ok},
};
use aftercare::{
    clock::Clock,
    jobs::{
        alert_mail::deliver_alert_notifications, dispatch::deliver_due_reminders,
        missed_checkins::check_missed_checkins,
    },
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

pub use crate::helpers::Treated as Fx;

/// The treated patient of helpers, with or without `email_reminders` consent.
pub async fn fixture(app: &TestApp, consent: bool) -> Fx {
    crate::helpers::treated_patient(app, if consent { &["email_reminders"] } else { &[] }).await
}

async fn tokens(app: &TestApp) -> (String, String) {
    (access(&app.login("admin@glow.example", PASSWORD).await), access(&app.login("jane@x.example", PASSWORD).await))
}

async fn reminders(app: &TestApp, staff: &str, pid: &str) -> Value {
    ok(app.get(&format!("/api/v1/patients/{pid}/reminders?limit=200"), Some(staff)).await, 200).await
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn london(t: &Value) -> String {
    let tz: Tz = "Europe/London".parse().unwrap();
    at(t.as_str().unwrap()).with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

fn reminder_emails(app: &TestApp) -> Vec<aftercare::email::Email> {
    app.outbox().into_iter().filter(|m| m.message_id.as_deref().is_some_and(|id| id.starts_with("reminder-"))).collect()
}

#[tokio::test]
async fn recording_a_session_plans_its_reminders_at_local_times_outside_quiet_hours() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let r = reminders(&app, &fx.staff, &fx.pid).await;
    let up = r["upcoming"].as_array().unwrap();
    assert_eq!(up.len(), 30, "the default protocol's occurrences after 09:00 on day 0");
    assert_eq!(r["past"], json!([]));
    let serum: Vec<String> =
        up.iter().filter(|r| r["step_key"] == "ha_serum").map(|r| london(&r["planned_at"])).collect();
    assert_eq!(serum.len(), 13);
    assert_eq!(serum[0], "2026-03-16 20:00");
    assert_eq!(serum[12], "2026-03-22 20:00", "days 0 to 6");
    for r in up {
        let local = london(&r["planned_at"]);
        let hour: u32 = local[11..13].parse().unwrap();
        assert!((8..21).contains(&hour), "{} at {local}", r["step_key"]);
        assert_eq!(r["status"], "scheduled");
    }
    let checkins: Vec<String> =
        up.iter().filter(|r| r["kind"] == "checkin").map(|r| london(&r["planned_at"])).collect();
    assert_eq!(
        checkins,
        ["2026-03-17 09:00", "2026-03-18 09:00", "2026-03-19 09:00", "2026-03-21 09:00", "2026-03-23 09:00"]
    );
    let next = up.iter().find(|r| r["kind"] == "next_session").unwrap();
    // London moves to BST on 29 March: the next-session reminder is still 10:00 local (09:00 UTC).
    assert_eq!(london(&next["planned_at"]), "2026-04-10 10:00", "3 days before the 28-day interval ends");
    assert_eq!(next["planned_at"], "2026-04-10T09:00:00Z");
    assert_eq!(up[0]["title"], "Your first 24 hours");
    assert!(up[0]["avoid"].as_array().unwrap().iter().any(|a| a == "makeup"));
    // The patient sees the same on the app.
    let mine = ok(app.get("/api/v1/me/reminders", Some(&fx.patient)).await, 200).await;
    assert_eq!(mine["upcoming"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn due_reminders_are_emailed_once_in_the_patients_time_with_unsubscribe_headers() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    ok(
        app.client
            .patch(app.url("/api/v1/clinic"))
            .bearer_auth(&fx.staff)
            .json(&json!({"reply_to": "desk@glow.example"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    let nothing = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(nothing.claimed, 0);
    app.clock.set(at("2026-03-16T11:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.claimed, report.sent), (1, 1));
    let again = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(again.claimed, 0, "sent once");

    let mails = reminder_emails(&app);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, "jane@x.example");
    assert_eq!(mail.subject, "Your first 24 hours");
    assert_eq!(mail.reply_to.as_deref(), Some("desk@glow.example"));
    assert!(mail.text.contains("Hello Jane,"), "{}", mail.text);
    assert!(mail.text.contains("Monday 16 March, 11:00 (Europe/London)"), "{}", mail.text);
    assert!(mail.text.contains("Glow Skin Clinic"));
    assert!(mail.text.contains("  - makeup"), "{}", mail.text);
    let unsubscribe = mail.headers.iter().find(|(k, _)| k == "List-Unsubscribe").unwrap();
    assert!(unsubscribe.1.starts_with("<http://127.0.0.1:8080/api/v1/unsubscribe?token="));
    assert!(mail.headers.iter().any(|(k, v)| k == "List-Unsubscribe-Post" && v == "List-Unsubscribe=One-Click"));

    let (staff, _) = tokens(&app).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    let sent = &r["past"][0];
    assert_eq!((sent["status"].as_str(), sent["sent_at"].as_str()), (Some("sent"), Some("2026-03-16T11:00:00Z")));
    assert_eq!(
        mail.message_id.as_deref(),
        Some(format!("reminder-{}@127.0.0.1", sent["id"].as_str().unwrap()).as_str())
    );
}

#[tokio::test]
async fn without_channel_consent_reminders_are_listed_but_not_sent_and_a_grant_takes_effect_at_the_next() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, false).await;
    let r = reminders(&app, &fx.staff, &fx.pid).await;
    assert_eq!(r["upcoming"].as_array().unwrap().len(), 30, "planned whatever the consents: the app lists them");
    assert_eq!(r["past"], json!([]));

    app.clock.set(at("2026-03-16T11:00:00Z"));
    let (staff, patient) = tokens(&app).await;
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.claimed, report.sent, report.skipped), (1, 0, 1));
    assert!(reminder_emails(&app).is_empty());
    let past = reminders(&app, &staff, &fx.pid).await["past"].clone();
    assert_eq!((past[0]["status"].as_str(), past[0]["status_reason"].as_str()), (Some("skipped"), Some("no_consent")));

    ok(
        app.post("/api/v1/me/consents", &json!({"kind": "email_reminders", "granted": true}), Some(&patient)).await,
        201,
    )
    .await;
    app.clock.set(at("2026-03-16T20:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert!(report.sent >= 1 && report.sent == report.claimed, "{report:?}");
    let emailed = reminder_emails(&app).len();
    assert_eq!(emailed, report.sent);

    // Withdrawing stops the emails; the reminders stay planned.
    let (staff, patient) = tokens(&app).await;
    let upcoming = |r: Value| r["upcoming"].as_array().unwrap().len();
    let before = upcoming(reminders(&app, &staff, &fx.pid).await);
    ok(
        app.post("/api/v1/me/consents", &json!({"kind": "email_reminders", "granted": false}), Some(&patient)).await,
        201,
    )
    .await;
    assert_eq!(upcoming(reminders(&app, &staff, &fx.pid).await), before);
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert!(report.claimed > 0);
    assert_eq!((report.sent, report.skipped), (0, report.claimed));
    assert_eq!(reminder_emails(&app).len(), emailed);
}

#[tokio::test]
async fn a_reminder_whose_goal_is_met_is_skipped_not_sent() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    app.clock.set(at("2026-03-16T19:45:00Z"));
    let (_, patient) = tokens(&app).await;
    ok(
        app.post(
            "/api/v1/me/serum-applications",
            &json!({"product": "HA serum", "applied_at": "2026-03-16T19:40:00Z"}),
            Some(&patient),
        )
        .await,
        201,
    )
    .await;
    app.clock.set(at("2026-03-16T20:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report.skipped, 1, "{report:?}");
    assert_eq!(report.sent, 1, "the 11:00 first-day reminder still goes: {report:?}");
    let (staff, _) = tokens(&app).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    let serum = r["past"].as_array().unwrap().iter().find(|r| r["step_key"] == "ha_serum").unwrap().clone();
    assert_eq!((serum["status"].as_str(), serum["status_reason"].as_str()), (Some("skipped"), Some("goal_met")));
    // A check-in likewise satisfies the check-in reminder.
    app.clock.set(at("2026-03-17T08:30:00Z"));
    let (_, patient) = tokens(&app).await;
    ok(
        app.post("/api/v1/me/checkins", &json!({"redness": 2, "swelling": 1, "pain": 2, "itch": 0}), Some(&patient))
            .await,
        201,
    )
    .await;
    app.clock.set(at("2026-03-17T09:00:00Z"));
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    let (staff, _) = tokens(&app).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    let checkin = r["past"].as_array().unwrap().iter().find(|r| r["kind"] == "checkin").unwrap().clone();
    assert_eq!(checkin["status_reason"], "goal_met");
    let adherence = ok(app.get(&format!("/api/v1/sessions/{}/adherence", fx.session), Some(&staff)).await, 200).await;
    assert_eq!(adherence["planned_serum_applications"], 13);
    assert_eq!(adherence["logged_serum_applications"], 1);
}

#[tokio::test]
async fn a_patient_snoozes_or_completes_a_reminder() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let mine = ok(app.get("/api/v1/me/reminders", Some(&fx.patient)).await, 200).await;
    let first = mine["upcoming"][0]["id"].as_str().unwrap().to_owned();
    let second = mine["upcoming"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(mine["upcoming"][0]["due_at"], "2026-03-16T11:00:00Z");
    // Ten minutes before it is due, the patient puts it off for half an hour.
    app.clock.set(at("2026-03-16T10:50:00Z"));
    let (_, patient) = tokens(&app).await;
    let snoozed = ok(
        app.post(&format!("/api/v1/me/reminders/{first}/snooze"), &json!({"minutes": 30}), Some(&patient)).await,
        200,
    )
    .await;
    assert_eq!(snoozed["due_at"], "2026-03-16T11:20:00Z");
    let res = app.post(&format!("/api/v1/me/reminders/{first}/snooze"), &json!({"minutes": 2}), Some(&patient)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "minutes");
    let done =
        ok(app.post(&format!("/api/v1/me/reminders/{second}/done"), &json!({}), Some(&patient)).await, 200).await;
    assert_eq!(done["done_at"], "2026-03-16T10:50:00Z");

    app.clock.set(at("2026-03-16T21:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert!(report.skipped >= 1, "{report:?}");
    let (staff, patient) = tokens(&app).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    let done = r["past"].as_array().unwrap().iter().find(|r| r["id"] == second.as_str()).unwrap().clone();
    assert_eq!(done["status_reason"], "done");
    // Sent reminders cannot be snoozed; other people's reminders do not exist.
    let res = app.post(&format!("/api/v1/me/reminders/{first}/snooze"), &json!({"minutes": 30}), Some(&patient)).await;
    assert_problem(res, 409, "reminder_not_pending").await;
    let res = app.post(&format!("/api/v1/me/reminders/{first}/done"), &json!({}), Some(&staff)).await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn moving_or_cancelling_a_session_and_changing_zone_re_plan_only_unsent_reminders() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    app.clock.set(at("2026-03-16T11:00:00Z"));
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    let (staff, patient) = tokens(&app).await;

    // The session actually happened an hour later: unsent reminders move, the sent one stays.
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/sessions/{}", fx.session)))
        .bearer_auth(&staff)
        .json(&json!({"performed_at": "2026-03-16T10:00:00Z"}))
        .send()
        .await
        .unwrap();
    ok(res, 200).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    assert_eq!(r["past"].as_array().unwrap().len(), 1, "the sent reminder is kept");
    let checkin = r["upcoming"].as_array().unwrap().iter().find(|r| r["kind"] == "checkin").unwrap().clone();
    assert_eq!(london(&checkin["planned_at"]), "2026-03-17 10:00");
    let keys: Vec<&str> = r["upcoming"].as_array().unwrap().iter().map(|r| r["step_key"].as_str().unwrap()).collect();
    assert!(!keys.contains(&"first_day_care"), "never repeats what was sent");

    // The patient moves to New York: local times follow.
    let res = app
        .client
        .patch(app.url("/api/v1/me/profile"))
        .bearer_auth(&patient)
        .json(&json!({"time_zone": "America/New_York"}))
        .send()
        .await
        .unwrap();
    ok(res, 200).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    let ny: Tz = "America/New_York".parse().unwrap();
    let serum: Vec<String> = r["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["step_key"] == "ha_serum")
        .map(|r| at(r["planned_at"].as_str().unwrap()).with_timezone(&ny).format("%H:%M").to_string())
        .collect();
    assert!(!serum.is_empty() && serum.iter().all(|t| t == "08:00" || t == "20:00"), "{serum:?}");

    // Cancelling the session cancels what is left.
    ok(
        app.post(
            &format!("/api/v1/sessions/{}/cancel", fx.session),
            &json!({"reason": "recorded in error"}),
            Some(&staff),
        )
        .await,
        200,
    )
    .await;
    let r = reminders(&app, &staff, &fx.pid).await;
    assert_eq!(r["upcoming"], json!([]));
    assert!(r["past"].as_array().unwrap().iter().any(|r| r["status_reason"] == "session_cancelled"));
}

#[tokio::test]
async fn cancelling_the_course_cancels_its_reminders() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    ok(
        app.client
            .patch(app.url(&format!("/api/v1/courses/{}", fx.course)))
            .bearer_auth(&fx.staff)
            .json(&json!({"status": "cancelled"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let r = reminders(&app, &fx.staff, &fx.pid).await;
    assert_eq!(r["upcoming"], json!([]));
    assert!(r["past"].as_array().unwrap().iter().all(|r| r["status_reason"] == "course_cancelled"));
}

#[tokio::test]
async fn check_ins_raise_alerts_by_the_escalation_rules_without_duplicates() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let clinician = access(&app.invite_and_accept(&fx.staff, "dr.lee@glow.example", "clinician").await);
    let outbox_before = app.outbox().len();
    let c = ok(app.post("/api/v1/me/checkins", &json!({"redness": 2, "swelling": 1, "pain": 3, "itch": 1, "red_flags": ["pus", "fever"], "note": "hot to touch"}), Some(&fx.patient)).await, 201).await;
    assert_eq!(c["alerts_raised"], 1);
    assert_eq!(c["session_id"], fx.session.as_str());
    let alerts = ok(app.get("/api/v1/alerts", Some(&clinician)).await, 200).await;
    let items = alerts["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["severity"].as_str(), items[0]["reason"].as_str()), (Some("urgent"), Some("red_flag")));
    assert!(items[0]["details"].as_str().unwrap().contains("pus, fever"));
    // Urgent alerts are emailed to every staff member, without patient details, by the
    // dispatcher (never from inside the patient's request).
    assert_eq!(items[0]["notification"], json!({"status": "pending", "sent": 0, "pending": 2, "failed": 0}));
    assert!(app.outbox()[outbox_before..].iter().all(|m| !m.subject.starts_with("Urgent")), "not sent in the request");
    let report = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.claimed, report.sent), (2, 2));
    let listed = ok(app.get("/api/v1/alerts", Some(&clinician)).await, 200).await;
    assert_eq!(listed["items"][0]["notification"], json!({"status": "sent", "sent": 2, "pending": 0, "failed": 0}));
    let staff_mail: Vec<_> =
        app.outbox()[outbox_before..].iter().filter(|m| m.subject.starts_with("Urgent")).cloned().collect();
    let mut to: Vec<&str> = staff_mail.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["admin@glow.example", "dr.lee@glow.example"]);
    assert!(!staff_mail[0].text.contains("Jane") && !staff_mail[0].text.contains("jane@x.example"));

    // The same reason again while open: no new alert.
    let again = ok(
        app.post(
            "/api/v1/me/checkins",
            &json!({"redness": 2, "swelling": 1, "pain": 3, "itch": 1, "red_flags": ["pus"]}),
            Some(&fx.patient),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(again["alerts_raised"], 0);
    // Rising redness is a different reason.
    let rising = ok(
        app.post("/api/v1/me/checkins", &json!({"redness": 3, "swelling": 1, "pain": 3, "itch": 1}), Some(&fx.patient))
            .await,
        201,
    )
    .await;
    assert_eq!(rising["alerts_raised"], 1);

    let id = items[0]["id"].as_str().unwrap();
    let res = app.post(&format!("/api/v1/alerts/{id}/resolve"), &json!({"note": ""}), Some(&clinician)).await;
    assert_problem(res, 422, "validation_failed").await;
    let resolved = ok(
        app.post(
            &format!("/api/v1/alerts/{id}/resolve"),
            &json!({"note": "seen in clinic, antibiotics started"}),
            Some(&clinician),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(resolved["status"], "resolved");
    assert_problem(
        app.post(&format!("/api/v1/alerts/{id}/resolve"), &json!({"note": "again"}), Some(&clinician)).await,
        409,
        "alert_already_resolved",
    )
    .await;
    let open = ok(app.get("/api/v1/alerts?severity=urgent", Some(&clinician)).await, 200).await;
    assert_eq!(open["items"].as_array().unwrap().len(), 1, "the rising-redness alert is still open");
    let done = ok(app.get("/api/v1/alerts?status=resolved", Some(&clinician)).await, 200).await;
    assert_eq!(done["items"][0]["resolution_note"], "seen in clinic, antibiotics started");
    assert_problem(app.get("/api/v1/alerts", Some(&fx.patient)).await, 403, "forbidden").await;

    let res = app
        .post("/api/v1/me/checkins", &json!({"redness": 5, "swelling": 4, "pain": 11, "itch": 4}), Some(&fx.patient))
        .await;
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 4);
    let res = app
        .post(
            "/api/v1/me/checkins",
            &json!({"redness": 1, "swelling": 0, "pain": 0, "itch": 0, "red_flags": ["itchy"]}),
            Some(&fx.patient),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn persistent_redness_at_72_hours_and_any_redness_at_day_seven_need_review() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    app.clock.set(at("2026-03-19T09:30:00Z"));
    let (_, patient) = tokens(&app).await;
    let c = ok(
        app.post("/api/v1/me/checkins", &json!({"redness": 3, "swelling": 0, "pain": 1, "itch": 0}), Some(&patient))
            .await,
        201,
    )
    .await;
    assert_eq!(c["alerts_raised"], 1);
    app.clock.set(at("2026-03-23T10:00:00Z"));
    let (_, patient) = tokens(&app).await;
    let c = ok(
        app.post("/api/v1/me/checkins", &json!({"redness": 1, "swelling": 0, "pain": 0, "itch": 0}), Some(&patient))
            .await,
        201,
    )
    .await;
    assert_eq!(c["alerts_raised"], 1);
    let (staff, _) = tokens(&app).await;
    let alerts = ok(app.get("/api/v1/alerts?severity=review", Some(&staff)).await, 200).await;
    let mut reasons: Vec<&str> =
        alerts["items"].as_array().unwrap().iter().map(|a| a["reason"].as_str().unwrap()).collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["persistent_redness", "redness_day7"]);
    let listed = ok(app.get(&format!("/api/v1/patients/{}/checkins", fx.pid), Some(&staff)).await, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn two_missed_check_ins_nudge_the_patient_and_open_a_staff_task_once() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    app.clock.set(at("2026-03-18T20:00:00Z"));
    let report = check_missed_checkins(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report.alerts_raised, 0, "the second check-in is still within its grace: {report:?}");
    app.clock.set(at("2026-03-18T21:00:00Z"));
    let report = check_missed_checkins(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.alerts_raised, report.nudges_sent), (1, 1), "{report:?}");
    let nudge = app.outbox().into_iter().rev().find(|m| m.to == "jane@x.example").unwrap();
    assert!(nudge.subject.contains("haven't heard from you"));
    let again = check_missed_checkins(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(again.alerts_raised, 0, "once while the task is open");
    let (staff, _) = tokens(&app).await;
    let alerts = ok(app.get(&format!("/api/v1/alerts?patient_id={}", fx.pid), Some(&staff)).await, 200).await;
    assert_eq!(alerts["items"][0]["reason"], "missed_checkins");
}

#[tokio::test]
async fn one_click_unsubscribe_withdraws_email_consent_only_without_a_login() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    app.clock.set(at("2026-03-16T11:00:00Z"));
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    let mail = reminder_emails(&app).pop().unwrap();
    let link =
        mail.headers.iter().find(|(k, _)| k == "List-Unsubscribe").unwrap().1.trim_matches(['<', '>']).to_owned();
    let path = link.trim_start_matches("http://127.0.0.1:8080").to_owned();

    let page = app.get(&path, None).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    let res = app
        .client
        .post(app.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(ok(res, 200).await["status"], "unsubscribed");
    let res = app.client.post(app.url(&path)).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(res.status(), 200, "a second click is harmless");

    let (staff, _) = tokens(&app).await;
    let upcoming = reminders(&app, &staff, &fx.pid).await["upcoming"].as_array().unwrap().len();
    assert_eq!(upcoming, 29, "email stops; the reminders stay in the app's list");
    let consents = ok(app.get(&format!("/api/v1/patients/{}/consents", fx.pid), Some(&staff)).await, 200).await;
    let history = consents["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "one withdrawal recorded");
    assert_eq!(history[1]["granted"], false);
    assert_eq!(history[1]["actor_role"], "patient");

    let forged = path.replace("token=", "token=x");
    assert_problem(app.client.post(app.url(&forged)).send().await.unwrap(), 404, "not_found").await;
    assert_problem(app.client.post(app.url("/api/v1/unsubscribe")).send().await.unwrap(), 400, "invalid_query").await;
}

#[tokio::test]
async fn the_daily_cap_stops_a_flood() {
    let app = TestApp::spawn_with(|s| s.dispatch.daily_cap = 2).await;
    let fx = fixture(&app, true).await;
    // Three days of reminders become due at once (as after an outage).
    app.clock.set(at("2026-03-18T12:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(report.skipped, report.claimed - 2);
    let (staff, _) = tokens(&app).await;
    let r = reminders(&app, &staff, &fx.pid).await;
    assert!(r["past"].as_array().unwrap().iter().any(|r| r["status_reason"] == "daily_cap"));
}

#[tokio::test]
async fn protocols_are_versioned_and_a_new_version_leaves_planned_reminders_alone() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let before = reminders(&app, &fx.staff, &fx.pid).await;
    let p = ok(app.get("/api/v1/protocols", Some(&fx.staff)).await, 200).await;
    assert_eq!(p["current"]["version"], 1);
    let mut steps = p["current"]["steps"].as_array().unwrap().clone();
    steps.retain(|s| s["key"] == "redness_checkin");
    steps[0]["schedule"] = json!({"type": "after_hours", "hours": [24, 72]});
    let created = ok(
        app.client
            .put(app.url("/api/v1/protocols"))
            .bearer_auth(&fx.staff)
            .json(&json!({"steps": steps}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["version"], 2);
    assert_eq!(reminders(&app, &fx.staff, &fx.pid).await, before, "planned reminders keep version 1");

    let mut bad = steps.clone();
    bad[0]["schedule"] = json!({"type": "daily_at", "times": ["8am"], "from_day": 0, "to_day": 2});
    let res = app
        .client
        .put(app.url("/api/v1/protocols"))
        .bearer_auth(&fx.staff)
        .json(&json!({"steps": bad}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "steps[0].schedule.times");
    let clinician = access(&app.invite_and_accept(&fx.staff, "dr.lee@glow.example", "clinician").await);
    let res = app
        .client
        .put(app.url("/api/v1/protocols"))
        .bearer_auth(&clinician)
        .json(&json!({"steps": steps}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;

    // A new session uses version 2: two check-ins only.
    ok(app.post(&format!("/api/v1/patients/{}/screenings", fx.pid), &answers(&[]), Some(&fx.staff)).await, 201).await;
    let s = ok(
        app.post(
            &format!("/api/v1/courses/{}/sessions", fx.course),
            &session_body("2026-03-16T09:00:00Z", "chin", 1.0),
            Some(&fx.staff),
        )
        .await,
        201,
    )
    .await;
    let r = reminders(&app, &fx.staff, &fx.pid).await;
    let new: Vec<&Value> = r["upcoming"].as_array().unwrap().iter().filter(|r| r["session_id"] == s["id"]).collect();
    assert_eq!(new.len(), 2);
    assert!(new.iter().all(|r| r["kind"] == "checkin"));
}

#[tokio::test]
async fn reminder_emails_escape_html_and_match_the_snapshot() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let p = ok(app.post("/api/v1/patients", &json!({"name": "<b>Eve</b> O'Neil", "email": "eve@x.example", "time_zone": "Europe/London", "invite": false}), Some(&staff)).await, 201).await;
    let pid = p["id"].as_str().unwrap();
    ok(
        app.post(
            &format!("/api/v1/patients/{pid}/consents"),
            &json!({"kind": "email_reminders", "granted": true}),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let c = ok(
        app.post(
            &format!("/api/v1/patients/{pid}/courses"),
            &json!({"concerns": ["texture"], "planned_sessions": 3}),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    ok(
        app.post(
            &format!("/api/v1/courses/{}/sessions", c["id"].as_str().unwrap()),
            &session_body("2026-03-16T09:00:00Z", "cheeks", 1.0),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    app.clock.set(at("2026-03-16T11:00:00Z"));
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    let mail = reminder_emails(&app).pop().unwrap();
    assert!(mail.html.contains("Hello &lt;b&gt;Eve&lt;&#x2f;b&gt;,"), "{}", mail.html);
    assert!(!mail.html.contains("<b>Eve"));
    assert!(mail.text.contains("Hello <b>Eve</b>,"));

    // Snapshot of the plain-text part with the per-run token redacted.
    let redacted: String = mail
        .text
        .lines()
        .map(|l| match l.find("token=") {
            Some(i) => format!("{}token=[redacted]", &l[..i]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    // In tests/snapshots; `cargo insta review` (or INSTA_UPDATE=always) accepts a changed text.
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("reminder_first_day_care", redacted);
    });
}

/// The fixture after the dispatcher's run on 2026-03-18 12:00 (several sent, the rest upcoming),
/// with the run's report and staff's and the patient's access tokens.
async fn dispatched(app: &TestApp) -> (Fx, aftercare::jobs::dispatch::DispatchReport, String, String) {
    let fx = fixture(app, true).await;
    app.clock.set(at("2026-03-18T12:00:00Z"));
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert!(report.sent >= 3, "several sent: {report:?}");
    let (staff, patient) = tokens(app).await;
    (fx, report, staff, patient)
}

/// Each list keeps its own order and its own `limit`, and the patient sees what staff see.
#[tokio::test]
async fn upcoming_and_past_are_each_ordered_and_limited_on_their_own() {
    let app = TestApp::spawn().await;
    let (fx, report, staff, patient) = dispatched(&app).await;

    let all = reminders(&app, &staff, &fx.pid).await;
    let (up, past) = (all["upcoming"].as_array().unwrap(), all["past"].as_array().unwrap());
    assert_eq!(up.len() + past.len(), 30);
    assert_eq!(past.len(), report.sent + report.skipped + report.failed);
    assert!(up.iter().all(|r| r["status"] == "scheduled"));
    assert!(past.iter().all(|r| r["status"] != "scheduled" && r["status"] != "sending"));
    assert!(past.iter().any(|r| r["status"] == "sent"));
    let key = |r: &Value, field: &str| (at(r[field].as_str().unwrap()), r["id"].as_str().unwrap().to_owned());
    assert!(up.windows(2).all(|w| key(&w[0], "due_at") <= key(&w[1], "due_at")), "soonest first");
    assert!(past.windows(2).all(|w| key(&w[0], "planned_at") >= key(&w[1], "planned_at")), "latest first");

    let two = ok(app.get(&format!("/api/v1/patients/{}/reminders?limit=2", fx.pid), Some(&staff)).await, 200).await;
    assert_eq!(two["upcoming"], json!(up[..2]));
    assert_eq!(two["past"], json!(past[..2]));
    let mine = app.get("/api/v1/me/reminders?limit=2", Some(&patient)).await;
    assert_eq!(mine.headers()["content-type"], "application/json", "the hand-written body is JSON");
    let mine = ok(mine, 200).await;
    assert_eq!(mine, two);
}

/// The lists write each row's JSON from the database's row; a reminder's own view (what snooze
/// and done answer) is written by serde. Both must be the same bytes, in every state.
#[tokio::test]
async fn each_listed_reminder_is_written_as_its_own_view_is() {
    let app = TestApp::spawn().await;
    let (fx, _, staff, patient) = dispatched(&app).await;
    // A 200's body as sent.
    let body = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    };
    // The patient's list and staff's list of the same reminders.
    let pages = || async {
        let staff_path = format!("/api/v1/patients/{}/reminders?limit=200", fx.pid);
        [
            body(app.get("/api/v1/me/reminders?limit=200", Some(&patient)).await).await,
            body(app.get(&staff_path, Some(&staff)).await).await,
        ]
    };
    let [before, _] = pages().await;
    let before: Value = serde_json::from_str(&before).unwrap();
    let id = |r: &Value| r["id"].as_str().unwrap().to_owned();
    let upcoming: Vec<String> = before["upcoming"].as_array().unwrap().iter().map(id).collect();
    let ids: Vec<String> = upcoming.iter().cloned().chain(before["past"].as_array().unwrap().iter().map(id)).collect();
    assert!(ids.len() == 30 && upcoming.len() >= 2, "{before}");

    // A snoozed reminder: scheduled, neither sent nor done.
    let path = format!("/api/v1/me/reminders/{}/snooze", upcoming[0]);
    let snoozed = body(app.post(&path, &json!({"minutes": 45}), Some(&patient)).await).await;
    assert!(snoozed.contains("\"sent_at\":null,\"done_at\":null"), "{snoozed}");
    for page in pages().await {
        assert!(page.contains(&snoozed), "the listed reminder differs from\n{snoozed}\nin\n{page}");
    }
    // Then every reminder done: sent ones keep their send time, pending ones are skipped.
    let mut views = Vec::new();
    for id in &ids {
        views.push(body(app.post(&format!("/api/v1/me/reminders/{id}/done"), &json!({}), Some(&patient)).await).await);
    }
    assert!(views.iter().any(|v| v.contains("\"status\":\"sent\"")), "some were sent");
    for page in pages().await {
        for view in &views {
            assert!(page.contains(view.as_str()), "the listed reminder differs from\n{view}\nin\n{page}");
        }
    }
}

#[tokio::test]
async fn a_snooze_never_brings_a_reminder_on() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let mine = ok(app.get("/api/v1/me/reminders?limit=200", Some(&fx.patient)).await, 200).await;
    let now = app.clock.now();
    // The first reminder due more than an hour from now.
    let later = mine["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| at(r["due_at"].as_str().unwrap()) > now + chrono::Duration::hours(1))
        .expect("a reminder due later today or after")
        .clone();
    let id = later["id"].as_str().unwrap();
    let snoozed = ok(
        app.post(&format!("/api/v1/me/reminders/{id}/snooze"), &json!({"minutes": 30}), Some(&fx.patient)).await,
        200,
    )
    .await;
    assert_eq!(snoozed["due_at"], later["due_at"], "a 30-minute snooze leaves a reminder due hours away where it was");
    let snoozed = ok(
        app.post(&format!("/api/v1/me/reminders/{id}/snooze"), &json!({"minutes": 1440}), Some(&fx.patient)).await,
        200,
    )
    .await;
    assert_eq!(at(snoozed["due_at"].as_str().unwrap()), now + chrono::Duration::hours(24), "a day from now is later");
}

#[tokio::test]
async fn a_reminder_marked_done_leaves_the_calendar_feed() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let mine = ok(app.get("/api/v1/me/reminders", Some(&fx.patient)).await, 200).await;
    let id = mine["upcoming"][0]["id"].as_str().unwrap().to_owned();
    let feed = ok(app.post("/api/v1/me/calendar-feed", &json!({}), Some(&fx.patient)).await, 201).await;
    let url = feed["url"].as_str().unwrap();
    let path = url[url.find("/api/").unwrap()..].to_owned();
    let uid = format!("UID:reminder-{id}@aftercare");
    let before = app.get(&path, None).await.text().await.unwrap();
    assert!(before.contains(&uid), "listed while pending");
    ok(app.post(&format!("/api/v1/me/reminders/{id}/done"), &json!({}), Some(&fx.patient)).await, 200).await;
    let after = app.get(&path, None).await.text().await.unwrap();
    assert!(!after.contains(&uid), "a done reminder has no alarm left to ring");
    assert_eq!(
        before.matches("BEGIN:VALARM").count(),
        after.matches("BEGIN:VALARM").count() + 1,
        "exactly its alarm went"
    );
}
