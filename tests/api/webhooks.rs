//! Webhooks against a real receiver on loopback: signed (checked here with our own HMAC, the
//! Standard Webhooks way), retried with backoff when the receiver fails, logged, re-sent,
//! secrets rotated with an overlap, and delivered within seconds by the running scheduler. The
//! receiver is on loopback, so these apps allow private targets (tests/api/security_network.rs
//! covers the default, which refuses them).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration as StdDuration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    clinical::session_body,
    helpers::{PASSWORD, TestApp, access, assert_problem, ok, treated_patient},
};
use aftercare::{clock::Clock, jobs::webhooks::deliver_due_webhooks};

#[derive(Clone, Debug)]
struct Hit {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A receiver on loopback that answers 500 to its first `fail_first` requests, then 204.
pub(crate) struct Receiver {
    pub(crate) url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

pub(crate) async fn receiver(fail_first: usize) -> Receiver {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (h, s) = (hits.clone(), seen.clone());
    let server = HttpServer::new(move || {
        let (h, s) = (h.clone(), s.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: String| {
            let (h, s) = (h.clone(), s.clone());
            async move {
                let header = |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                h.lock().unwrap().push(Hit {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body,
                });
                if s.fetch_add(1, Ordering::SeqCst) < fail_first {
                    HttpResponse::InternalServerError().body("not yet")
                } else {
                    HttpResponse::NoContent().finish()
                }
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    Receiver { url: format!("http://{addr}/hooks/aftercare"), hits }
}

/// Verifies a `webhook-signature` header with `secret`, independently of the service's code.
fn signed_by(hit: &Hit, secret: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", hit.id, hit.timestamp, hit.body).as_bytes());
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    hit.signature.split(' ').any(|s| s == expected)
}

/// An app whose webhooks may reach the loopback receiver.
async fn spawn_allowing_loopback(tweak: impl FnOnce(&mut aftercare::config::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.webhooks.allow_private_targets = true;
        tweak(s);
    })
    .await
}

#[tokio::test]
async fn deliveries_are_signed_retried_with_backoff_logged_and_resent() {
    let app = spawn_allowing_loopback(|_| {}).await;
    let fx = treated_patient(&app, &[]).await;
    let rx = receiver(2).await;
    let hook = json!({"url": rx.url, "events": ["checkin.created", "alert.created"], "description": "CRM"});
    let created = ok(app.post("/api/v1/webhooks", &hook, Some(&fx.staff)).await, 201).await;
    let (hook_id, secret) =
        (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("whsec_"));
    let listed = ok(app.get("/api/v1/webhooks", Some(&fx.staff)).await, 200).await;
    assert_eq!(listed["items"][0]["id"], created["id"]);
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once");

    // A check-in with a red flag: one checkin.created and one alert.created.
    let checkin = json!({"redness": 2, "swelling": 1, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &checkin, Some(&fx.patient)).await, 201).await;
    let now = app.clock.now();
    let first = deliver_due_webhooks(&app.state, now).await.unwrap();
    assert_eq!((first.claimed, first.retried, first.delivered), (2, 2, 0), "the receiver fails twice");
    assert_eq!(deliver_due_webhooks(&app.state, now).await.unwrap().claimed, 0, "not before the backoff");
    app.clock.advance(Duration::seconds(13));
    let second = deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((second.claimed, second.delivered), (2, 2));
    let metrics = app.scrape().await;
    for series in [
        r#"aftercare_webhook_deliveries_total{outcome="retried"} 2"#,
        r#"aftercare_webhook_deliveries_total{outcome="sent"} 2"#,
        r#"aftercare_webhook_deliveries_total{outcome="failed"} 0"#,
    ] {
        assert!(metrics.lines().any(|l| l == series), "no {series} in\n{metrics}");
    }

    let hits = rx.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 4);
    for hit in &hits {
        assert!(signed_by(hit, &secret), "signature of {hit:?}");
        let body: Value = serde_json::from_str(&hit.body).unwrap();
        assert_eq!(body["id"], hit.id.as_str(), "the webhook-id is the event id");
        assert!(body["timestamp"].is_string() && body["data"]["patient_id"] == fx.pid.as_str());
        assert!(!hit.body.contains("Jane") && !hit.body.contains("jane@"), "no names or contact details");
    }
    let types: Vec<String> = hits
        .iter()
        .map(|h| serde_json::from_str::<Value>(&h.body).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(types.contains(&"checkin.created".to_owned()) && types.contains(&"alert.created".to_owned()));
    assert_eq!(hits[0].id, hits.iter().skip(2).find(|h| h.body == hits[0].body).unwrap().id, "same id on retry");
    let mut tampered = hits[2].clone();
    tampered.body = tampered.body.replace("fever", "fine");
    assert!(!signed_by(&tampered, &secret), "a changed body fails verification");

    // The log shows each attempt.
    let log = ok(app.get(&format!("/api/v1/webhooks/{hook_id}/deliveries"), Some(&fx.staff)).await, 200).await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for d in items {
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["attempts"], 2);
        assert_eq!(d["attempt_log"][0]["status_code"], 500);
        assert_eq!(d["attempt_log"][1]["status_code"], 204);
    }

    // Re-send one: same event id and body, a new log entry.
    let delivery = items[0]["id"].as_str().unwrap();
    let resent =
        ok(app.post(&format!("/api/v1/webhooks/deliveries/{delivery}/resend"), &json!({}), Some(&fx.staff)).await, 202)
            .await;
    assert_eq!(resent["status"], "pending");
    assert_eq!(resent["event_id"], items[0]["event_id"]);
    assert_eq!(deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap().delivered, 1);
    assert_eq!(rx.hits.lock().unwrap().last().unwrap().id, items[0]["event_id"].as_str().unwrap());

    // Rotation: both signatures for a day, then only the new one.
    let rotated =
        ok(app.post(&format!("/api/v1/webhooks/{hook_id}/rotate-secret"), &json!({}), Some(&fx.staff)).await, 200)
            .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    ok(
        app.post("/api/v1/me/checkins", &json!({"redness": 1, "swelling": 1, "pain": 1, "itch": 0}), Some(&fx.patient))
            .await,
        201,
    )
    .await;
    deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    let hit = rx.hits.lock().unwrap().last().unwrap().clone();
    assert!(signed_by(&hit, &new_secret) && signed_by(&hit, &secret), "{}", hit.signature);
    app.clock.advance(Duration::hours(25));
    let patient = access(&app.login("jane@x.example", PASSWORD).await);
    ok(
        app.post("/api/v1/me/checkins", &json!({"redness": 1, "swelling": 0, "pain": 0, "itch": 0}), Some(&patient))
            .await,
        201,
    )
    .await;
    deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    let hit = rx.hits.lock().unwrap().last().unwrap().clone();
    assert!(signed_by(&hit, &new_secret) && !signed_by(&hit, &secret), "{}", hit.signature);
}

#[tokio::test]
async fn a_receiver_that_never_answers_fails_the_delivery_after_the_last_attempt() {
    let app = spawn_allowing_loopback(|s| s.webhooks.max_attempts = 3).await;
    let fx = treated_patient(&app, &[]).await;
    let rx = receiver(usize::MAX).await;
    let hook = json!({"url": rx.url, "events": ["session.created"]});
    let id =
        ok(app.post("/api/v1/webhooks", &hook, Some(&fx.staff)).await, 201).await["id"].as_str().unwrap().to_owned();
    let session = session_body("2026-04-13T09:00:00Z", "forehead", 0.5);
    app.clock.set(chrono::DateTime::parse_from_rfc3339("2026-04-13T10:00:00Z").unwrap().to_utc());
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    ok(app.post(&format!("/api/v1/courses/{}/sessions", fx.course), &session, Some(&staff)).await, 201).await;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let r = deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
        outcomes.push((r.retried, r.failed));
        app.clock.advance(Duration::hours(2));
    }
    assert_eq!(outcomes, vec![(1, 0), (1, 0), (0, 1)]);
    assert_eq!(deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap().claimed, 0);
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let log = ok(app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&staff)).await, 200).await;
    assert_eq!(log["items"][0]["status"], "failed");
    assert_eq!(log["items"][0]["attempt_log"].as_array().unwrap().len(), 3);
    assert_eq!(log["items"][0]["last_error"], "the receiver answered 500 Internal Server Error");

    // A receiver that is not there at all: connection refused, retried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/webhooks/{id}")))
        .bearer_auth(&staff)
        .json(&json!({"url": dead}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let d = log["items"][0]["id"].as_str().unwrap();
    ok(app.post(&format!("/api/v1/webhooks/deliveries/{d}/resend"), &json!({}), Some(&staff)).await, 202).await;
    let r = deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(r.retried, 1);
    let log = ok(app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&staff)).await, 200).await;
    assert_eq!(log["items"][0]["last_error"], "could not connect to the receiver");
}

#[tokio::test]
async fn endpoints_are_admin_only_validated_and_scoped_to_the_clinic() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let bad = [
        json!({"url": "ftp://x.example/", "events": ["alert.created"]}),
        json!({"url": "not a url", "events": ["alert.created"]}),
        json!({"url": "https://user:pw@x.example/", "events": ["alert.created"]}),
        json!({"url": "https://x.example/", "events": []}),
    ];
    for body in bad {
        assert_problem(app.post("/api/v1/webhooks", &body, Some(&fx.staff)).await, 422, "validation_failed").await;
    }
    let res =
        app.post("/api/v1/webhooks", &json!({"url": "https://x.example/", "events": ["nope"]}), Some(&fx.staff)).await;
    assert_eq!(res.status(), 422);
    let hook = json!({"url": "https://crm.example/hook", "events": ["alert.created"]});
    let id =
        ok(app.post("/api/v1/webhooks", &hook, Some(&fx.staff)).await, 201).await["id"].as_str().unwrap().to_owned();
    let twice =
        json!({"url": "https://crm.example/b", "events": ["alert.created", "session.created", "alert.created"]});
    let created = ok(app.post("/api/v1/webhooks", &twice, Some(&fx.staff)).await, 201).await;
    assert_eq!(created["events"], json!(["alert.created", "session.created"]), "each event once, in the order given");
    let clinician = access(&app.invite_and_accept(&fx.staff, "dr@glow.example", "clinician").await);
    assert_problem(app.get("/api/v1/webhooks", Some(&clinician)).await, 403, "forbidden").await;
    assert_problem(app.post("/api/v1/webhooks", &hook, Some(&fx.patient)).await, 403, "forbidden").await;
    app.create_admin("Other Clinic", "admin@other.example").await;
    let other = access(&app.login("admin@other.example", PASSWORD).await);
    assert_problem(app.get(&format!("/api/v1/webhooks/{id}"), Some(&other)).await, 404, "not_found").await;
    assert_eq!(ok(app.get("/api/v1/webhooks", Some(&other)).await, 200).await["items"], json!([]));
    let res =
        app.client.delete(app.url(&format!("/api/v1/webhooks/{id}"))).bearer_auth(&fx.staff).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(app.get(&format!("/api/v1/webhooks/{id}"), Some(&fx.staff)).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_running_scheduler_delivers_an_alert_within_seconds() {
    let app = spawn_allowing_loopback(|s| {
        s.dispatch.enabled = true;
        s.webhooks.tick_secs = 1;
    })
    .await;
    let fx = treated_patient(&app, &[]).await;
    let rx = receiver(0).await;
    let hook = json!({"url": rx.url, "events": ["alert.created"]});
    ok(app.post("/api/v1/webhooks", &hook, Some(&fx.staff)).await, 201).await;
    let started = Instant::now();
    let checkin = json!({"redness": 2, "swelling": 1, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &checkin, Some(&fx.patient)).await, 201).await;
    while rx.hits.lock().unwrap().is_empty() {
        assert!(started.elapsed() < StdDuration::from_secs(10), "no delivery within 10 s");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let hit = rx.hits.lock().unwrap()[0].clone();
    let body: Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(body["type"], "alert.created");
    assert_eq!(body["data"]["severity"], "urgent");
    println!("alert.created reached the receiver {} ms after the check-in", started.elapsed().as_millis());
}
