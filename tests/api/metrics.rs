//! `/metrics`: what it counts after the service has worked (a reminder and a staff alert over
//! real SMTP, a webhook delivery, a photo upload), who may read it (the token on the main port,
//! or a listener of its own), and that it names no one.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::{
    helpers::{METRICS_TOKEN, TestApp, assert_problem, ok},
    photos::{jpeg_with_exif, upload},
    reliability::treated_over_smtp,
    smtp_sink::SmtpSink,
    webhooks::receiver,
};
use aftercare::{
    clock::Clock,
    jobs::{alert_mail::deliver_alert_notifications, dispatch::deliver_due_reminders, webhooks::deliver_due_webhooks},
};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The value of one series (`name{labels}` exactly as rendered); panics when it is absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_scrape_counts_reminders_alerts_webhooks_smtp_pool_and_photos_and_names_no_one() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(url.into());
        s.webhooks.allow_private_targets = true;
    })
    .await;
    let (staff, patient) = treated_over_smtp(&app, &sink).await;
    let list = ok(app.get("/api/v1/patients", Some(&staff)).await, 200).await;
    let pid = list["items"][0]["id"].as_str().unwrap().to_owned();
    for kind in ["email_reminders", "photos"] {
        let grant = json!({"kind": kind, "granted": true});
        ok(app.post(&format!("/api/v1/patients/{pid}/consents"), &grant, Some(&staff)).await, 201).await;
    }
    let rx = receiver(0).await;
    let hook = json!({"url": rx.url, "events": ["checkin.created"]});
    ok(app.post("/api/v1/webhooks", &hook, Some(&staff)).await, 201).await;

    // A red flag (its staff email and the check-in's webhook wait for their jobs) and a photo,
    // while the access tokens are fresh.
    let checkin = json!({"redness": 1, "swelling": 0, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &checkin, Some(&patient)).await, 201).await;
    let photo = jpeg_with_exif(64, 32, [210, 120, 110]);
    let meta = json!({"view": "frontal", "time_point": "baseline", "colour_card": true});
    ok(upload(&app, &format!("/api/v1/patients/{pid}/photos"), &staff, photo, meta).await, 201).await;

    // Reminders wait: the gauges read at the scrape show them and how long the oldest waited.
    app.clock.set(at("2026-03-16T12:00:00Z"));
    let text = app.scrape().await;
    assert!(value(&text, "aftercare_reminders_due") >= 1.0, "{text}");
    assert!(value(&text, "aftercare_reminders_oldest_due_age_seconds") > 0.0, "{text}");
    assert_eq!(value(&text, "aftercare_reminders_claimed_total"), 0.0, "{text}");

    // A reminder over SMTP, the staff email, the webhook.
    let report = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert!(report.sent >= 1, "{report:?}");
    let alerts = deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(alerts.sent, 1, "{alerts:?}");
    let hooks = deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(hooks.delivered, 1, "{hooks:?}");

    // The mail server now refuses for good: the next day's reminders fail.
    *sink.rcpt_reply.lock().unwrap() = Some("550 5.1.1 no such user".into());
    app.clock.advance(Duration::days(1));
    let refused = deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    assert!(refused.failed >= 1, "{refused:?}");

    let text = app.scrape().await;
    assert!(value(&text, "aftercare_reminders_claimed_total") >= 2.0, "{text}");
    assert!(value(&text, "aftercare_reminders_sent_total{channel=\"email\"}") >= 1.0, "{text}");
    assert!(value(&text, "aftercare_reminders_failed_total{channel=\"email\"}") >= 1.0, "{text}");
    assert_eq!(value(&text, "aftercare_reminders_retried_total{channel=\"email\"}"), 0.0, "{text}");
    assert_eq!(value(&text, "aftercare_reminders_sent_total{channel=\"push\"}"), 0.0, "no device: {text}");
    assert_eq!(value(&text, "aftercare_alert_notifications_sent_total"), 1.0, "{text}");
    assert_eq!(value(&text, "aftercare_alert_notifications_failed_total"), 0.0, "{text}");
    assert_eq!(value(&text, "aftercare_webhook_deliveries_total{outcome=\"sent\"}"), 1.0, "{text}");
    assert_eq!(value(&text, "aftercare_webhook_deliveries_total{outcome=\"failed\"}"), 0.0, "{text}");
    // The invitation, the first reminder, the alert email, and the refused ones.
    assert!(value(&text, "aftercare_smtp_send_duration_seconds_count") >= 4.0, "{text}");
    assert!(text.contains("aftercare_smtp_send_duration_seconds_bucket{le=\"+Inf\"}"), "{text}");
    assert!(value(&text, "aftercare_smtp_errors_total{kind=\"permanent\"}") >= 1.0, "{text}");
    assert_eq!(value(&text, "aftercare_smtp_errors_total{kind=\"timeout\"}"), 0.0, "{text}");
    assert_eq!(value(&text, "aftercare_photo_processing_duration_seconds_count"), 1.0, "{text}");
    let pool = value(&text, "aftercare_db_pool_connections{state=\"in_use\"}")
        + value(&text, "aftercare_db_pool_connections{state=\"idle\"}");
    assert!((1.0..=4.0).contains(&pool), "at most the pool size: {text}");
    assert_eq!(value(&text, "aftercare_db_pool_waiting"), 0.0, "{text}");
    assert_eq!(value(&text, "aftercare_db_pool_checkout_timeouts_total"), 0.0, "{text}");
    assert!(value(&text, "aftercare_alert_emails{status=\"sent\"}") >= 1.0, "{text}");

    for secret in [pid.as_str(), "jane", "Jane", "x.example", "glow.example", &staff, &patient] {
        assert!(!text.contains(secret), "{secret} appears in the scrape:\n{text}");
    }
}

#[tokio::test]
async fn on_the_main_port_metrics_need_the_token_and_without_one_are_not_served() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/metrics", None).await, 401, "unauthenticated").await;
    assert_problem(app.get("/metrics", Some("metrics-token-for-test")).await, 401, "invalid_token").await;
    let basic = app.client.get(app.url("/metrics")).basic_auth("x", Some(METRICS_TOKEN)).send().await.unwrap();
    assert_problem(basic, 401, "unauthenticated").await;
    assert!(app.scrape().await.contains("# TYPE aftercare_reminders_due gauge"));
    let lower = app.client.get(app.url("/metrics")).header("authorization", format!("bearer {METRICS_TOKEN}"));
    assert_eq!(lower.send().await.unwrap().status(), 200, "the scheme is case-insensitive");

    let closed = TestApp::spawn_with(|s| s.metrics.token = None).await;
    assert_eq!(closed.metrics_address, None);
    assert_problem(closed.get("/metrics", None).await, 404, "route_not_found").await;
    assert_problem(closed.get("/metrics", Some(METRICS_TOKEN)).await, 404, "route_not_found").await;
}

#[tokio::test]
async fn with_a_metrics_bind_the_listener_serves_them_and_the_main_port_does_not() {
    let app = TestApp::spawn_with(|s| {
        s.metrics.token = None;
        s.metrics.bind = Some("127.0.0.1:0".into());
    })
    .await;
    let base = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(base, app.address);
    app.get("/healthz", None).await;
    assert_problem(app.get("/metrics", None).await, 404, "route_not_found").await;

    let res = app.client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(text.contains("# TYPE aftercare_db_pool_connections gauge"), "{text}");
    // Nothing else is served there.
    let other = app.client.get(format!("{base}/api/v1/me")).send().await.unwrap();
    assert_problem(other, 404, "route_not_found").await;
}
