//! Push notifications against loopback fakes of FCM HTTP v1 (with its OAuth token endpoint) and
//! APNs (HTTP/2, cleartext with prior knowledge): each fake checks the request's shape (path,
//! headers, bearer token, the JWT's algorithm, key id and claims, the JSON payload) and answers
//! as the test tells it per device token. Device registration, channel consent, refused tokens,
//! retries, and the channel being off without settings.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, http::Version, web};
use aftercare::{
    clock::Clock,
    jobs::dispatch::{DispatchReport, deliver_due_reminders, drain_due_reminders},
    repo::reminder_deliveries,
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Treated, access, assert_problem, ok, treated_patient};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/push");
const PROJECT: &str = "aftercare-test";
const CLIENT_EMAIL: &str = "push@aftercare-test.iam.gserviceaccount.com";
const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "DEF123GHIJ";
const TOPIC: &str = "com.example.aftercare";
const ANDROID: &str = "fcm:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx";
const IOS: &str = "8a1f3c5e7b9d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a";

/// How the fake answers for a device token.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Accept,
    /// FCM 404 UNREGISTERED / APNs 410 Unregistered.
    Gone,
    /// FCM 400 INVALID_ARGUMENT on message.token / APNs 400 BadDeviceToken.
    BadToken,
    /// 500.
    Fail,
}

/// A notification the fake accepted.
#[derive(Clone, Debug)]
struct Seen {
    service: &'static str,
    token: String,
    title: String,
    body: String,
    reminder_id: String,
}

#[derive(Default)]
struct FakeState {
    answers: HashMap<String, Answer>,
    seen: Vec<Seen>,
    /// Requests that did not have the shape the real service requires.
    violations: Vec<String>,
    tokens_issued: usize,
    access_token: Option<String>,
    base: String,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<FakeState>>);

impl Fake {
    fn answer(&self, token: &str, answer: Answer) {
        self.0.lock().unwrap().answers.insert(token.to_owned(), answer);
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().seen.clone()
    }

    fn tokens_issued(&self) -> usize {
        self.0.lock().unwrap().tokens_issued
    }

    fn assert_well_formed(&self) {
        let v = self.0.lock().unwrap().violations.clone();
        assert!(v.is_empty(), "malformed push requests: {v:#?}");
    }

    fn violation(&self, what: String) -> HttpResponse {
        self.0.lock().unwrap().violations.push(what.clone());
        HttpResponse::BadRequest()
            .json(json!({"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": what}}))
    }

    fn answer_for(&self, token: &str) -> Answer {
        self.0.lock().unwrap().answers.get(token).copied().unwrap_or(Answer::Accept)
    }
}

fn public_key(file: &str, ec: bool) -> DecodingKey {
    let pem = std::fs::read(format!("{FIXTURES}/{file}")).unwrap();
    if ec { DecodingKey::from_ec_pem(&pem).unwrap() } else { DecodingKey::from_rsa_pem(&pem).unwrap() }
}

/// The OAuth2 token endpoint: a JWT-bearer grant signed RS256 by the service account's key.
async fn token_endpoint(fake: web::Data<Fake>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return fake.violation(format!("grant_type {:?}", form.get("grant_type")));
    }
    let Some(assertion) = form.get("assertion") else { return fake.violation("no assertion".into()) };
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some("test-key-1") {
        return fake.violation(format!("grant header {header:?}"));
    }
    let aud = format!("{}/token", fake.0.lock().unwrap().base);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    let claims = match jsonwebtoken::decode::<Value>(assertion, &public_key("fcm_pub.pem", false), &validation) {
        Ok(data) => data.claims,
        Err(e) => return fake.violation(format!("grant JWT: {e}")),
    };
    if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
        return fake.violation(format!("scope {}", claims["scope"]));
    }
    if claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0) > 3600 {
        return fake.violation("grant lives over an hour".into());
    }
    let mut s = fake.0.lock().unwrap();
    s.tokens_issued += 1;
    let token = format!("ya29.fake-{}", s.tokens_issued);
    s.access_token = Some(token.clone());
    HttpResponse::Ok().json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

async fn fcm_send(fake: web::Data<Fake>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    if path.as_str() != PROJECT {
        return fake.violation(format!("project {path}"));
    }
    let expected = fake.0.lock().unwrap().access_token.clone().map(|t| format!("Bearer {t}"));
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if expected.is_none() || auth != expected {
        return HttpResponse::Unauthorized().json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}));
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else { return fake.violation("FCM body is not JSON".into()) };
    let m = &msg["message"];
    let (Some(token), Some(title), Some(text)) =
        (m["token"].as_str(), m["notification"]["title"].as_str(), m["notification"]["body"].as_str())
    else {
        return fake.violation(format!("FCM message {msg}"));
    };
    let reminder_id = m["data"]["reminder_id"].as_str().unwrap_or_default().to_owned();
    if reminder_id.is_empty() || m["android"]["collapse_key"] != reminder_id.as_str() || !m["data"]["kind"].is_string()
    {
        return fake.violation(format!("FCM data/collapse_key {msg}"));
    }
    if !m["android"]["ttl"].as_str().is_some_and(|t| t.ends_with('s')) {
        return fake.violation(format!("FCM ttl {msg}"));
    }
    let fcm_error =
        |code: &str| json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code});
    match fake.answer_for(token) {
        Answer::Accept => {
            let seen =
                Seen { service: "fcm", token: token.into(), title: title.into(), body: text.into(), reminder_id };
            fake.0.lock().unwrap().seen.push(seen);
            HttpResponse::Ok().json(json!({"name": format!("projects/{PROJECT}/messages/0:1")}))
        }
        Answer::Gone => HttpResponse::NotFound().json(json!({"error": {"code": 404, "status": "NOT_FOUND",
            "message": "Requested entity was not found.", "details": [fcm_error("UNREGISTERED")]}})),
        Answer::BadToken => {
            HttpResponse::BadRequest().json(json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token",
            "details": [fcm_error("INVALID_ARGUMENT"), {"@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]}]}}))
        }
        Answer::Fail => HttpResponse::InternalServerError().json(json!({"error": {"code": 500, "status": "INTERNAL",
            "details": [fcm_error("INTERNAL")]}})),
    }
}

async fn apns_send(
    fake: web::Data<Fake>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if req.version() != Version::HTTP_2 {
        return fake.violation(format!("APNs over {:?}", req.version()));
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let Some(jwt) = header("authorization").strip_prefix("bearer ").map(str::to_owned) else {
        return fake.violation(format!("APNs authorization {:?}", header("authorization")));
    };
    let jwt_header = jsonwebtoken::decode_header(&jwt).unwrap();
    if jwt_header.alg != Algorithm::ES256 || jwt_header.kid.as_deref() != Some(KEY_ID) {
        return fake.violation(format!("APNs JWT header {jwt_header:?}"));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[TEAM_ID]);
    validation.set_required_spec_claims(&["iss"]);
    validation.validate_exp = false;
    match jsonwebtoken::decode::<Value>(&jwt, &public_key("apns_pub.pem", true), &validation) {
        Ok(data) if data.claims["iat"].is_i64() => {}
        other => return fake.violation(format!("APNs JWT {other:?}")),
    }
    let checks = [
        ("apns-topic", header("apns-topic") == TOPIC),
        ("apns-push-type", header("apns-push-type") == "alert"),
        ("apns-priority", header("apns-priority") == "10"),
        ("apns-expiration", header("apns-expiration").parse::<i64>().is_ok_and(|t| t > 1_700_000_000)),
        ("apns-collapse-id", (1..=64).contains(&header("apns-collapse-id").len())),
    ];
    if let Some((name, _)) = checks.iter().find(|(_, ok)| !ok) {
        return fake.violation(format!("APNs header {name}: {:?}", header(name)));
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else { return fake.violation("APNs body".into()) };
    let alert = &payload["aps"]["alert"];
    let (Some(title), Some(text), Some(reminder_id)) =
        (alert["title"].as_str(), alert["body"].as_str(), payload["reminder_id"].as_str())
    else {
        return fake.violation(format!("APNs payload {payload}"));
    };
    if header("apns-collapse-id") != reminder_id {
        return fake.violation("apns-collapse-id is not the reminder".into());
    }
    match fake.answer_for(&token) {
        Answer::Accept => {
            let seen = Seen {
                service: "apns",
                token: token.clone(),
                title: title.into(),
                body: text.into(),
                reminder_id: reminder_id.into(),
            };
            fake.0.lock().unwrap().seen.push(seen);
            HttpResponse::Ok().insert_header(("apns-id", "EC1BF194-B3B2-424A-89A9-5A918A6E6B5E")).finish()
        }
        Answer::Gone => {
            HttpResponse::Gone().json(json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000_i64}))
        }
        Answer::BadToken => HttpResponse::BadRequest().json(json!({"reason": "BadDeviceToken"})),
        Answer::Fail => HttpResponse::InternalServerError().json(json!({"reason": "InternalServerError"})),
    }
}

/// Starts both fakes on one loopback port (HTTP/1.1, and HTTP/2 with prior knowledge).
fn start_fake() -> (Fake, String) {
    let fake = Fake(Arc::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    fake.0.lock().unwrap().base = base.clone();
    let data = web::Data::new(fake.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/token", web::post().to(token_endpoint))
            .route("/v1/projects/{project}/messages:send", web::post().to(fcm_send))
            .route("/3/device/{token}", web::post().to(apns_send))
    })
    .workers(1)
    .disable_signals()
    .listen_auto_h2c(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (fake, base)
}

/// The app with both push services pointed at a fresh fake.
async fn app_with_push() -> (TestApp, Fake) {
    app_with_push_and(|_| {}).await
}

/// The same, with further settings.
async fn app_with_push_and(tweak: impl FnOnce(&mut aftercare::config::Settings)) -> (TestApp, Fake) {
    let (fake, base) = start_fake();
    let app = TestApp::spawn_with(|s| {
        let account = json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "test-key-1",
            "private_key": std::fs::read_to_string(format!("{FIXTURES}/fcm_key.pem")).unwrap(),
            "client_email": CLIENT_EMAIL,
            "token_uri": format!("{base}/token"),
        });
        let file = s.data_dir.join("fcm.json");
        std::fs::write(&file, account.to_string()).unwrap();
        s.push.fcm_service_account_file = Some(file);
        s.push.fcm_base_url = base.clone();
        s.push.apns_key_file = Some(format!("{FIXTURES}/apns_key.p8").into());
        s.push.apns_key_id = Some(KEY_ID.into());
        s.push.apns_team_id = Some(TEAM_ID.into());
        s.push.apns_topic = Some(TOPIC.into());
        s.push.apns_base_url = base.clone();
        s.push.timeout_secs = 5;
        tweak(s);
    })
    .await;
    (app, fake)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn register(app: &TestApp, patient: &str, platform: &str, token: &str) -> Value {
    let body = json!({"platform": platform, "token": token, "app_id": TOPIC, "language": "en-GB"});
    ok(app.post("/api/v1/me/devices", &body, Some(patient)).await, 201).await
}

async fn pass(app: &TestApp, when: &str) -> DispatchReport {
    app.clock.set(at(when));
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap()
}

fn reminder_emails(app: &TestApp) -> usize {
    app.outbox().iter().filter(|m| m.message_id.as_deref().is_some_and(|id| id.starts_with("reminder-"))).count()
}

/// Jane's access token now (the test clock moves past the ones the fixture got).
async fn jane(app: &TestApp) -> String {
    access(&app.login("jane@x.example", PASSWORD).await)
}

async fn past(app: &TestApp, fx: &Treated) -> Vec<Value> {
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let r = ok(app.get(&format!("/api/v1/patients/{}/reminders?limit=200", fx.pid), Some(&staff)).await, 200).await;
    r["past"].as_array().unwrap().clone()
}

async fn my_devices(app: &TestApp) -> Vec<Value> {
    ok(app.get("/api/v1/me/devices", Some(&jane(app).await)).await, 200).await["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_due_reminder_goes_to_email_and_to_every_device_when_both_are_consented() {
    let (app, fake) = app_with_push().await;
    let fx = treated_patient(&app, &["email_reminders", "push_reminders"]).await;
    register(&app, &fx.patient, "android", ANDROID).await;
    register(&app, &fx.patient, "ios", IOS).await;

    let report = pass(&app, "2026-03-16T11:00:00Z").await;
    assert_eq!((report.claimed, report.sent, report.pushes), (1, 1, 2), "{report:?}");
    fake.assert_well_formed();
    assert_eq!(reminder_emails(&app), 1);
    let seen = fake.seen();
    let mut services: Vec<&str> = seen.iter().map(|s| s.service).collect();
    services.sort_unstable();
    assert_eq!(services, ["apns", "fcm"]);
    let sent = &past(&app, &fx).await[0];
    assert_eq!(sent["status"], "sent");
    for s in &seen {
        assert_eq!(s.title, "Your first 24 hours");
        assert!(!s.body.is_empty() && s.body.chars().count() <= 160, "{}", s.body);
        assert_eq!(s.reminder_id, sent["id"].as_str().unwrap());
    }
    assert_eq!(seen.iter().find(|s| s.service == "fcm").unwrap().token, ANDROID);
    assert_eq!(seen.iter().find(|s| s.service == "apns").unwrap().token, IOS);
    let id = sent["id"].as_str().unwrap().to_owned();
    let rows = app.state.db.run(move |c| reminder_deliveries::find_for_reminder(c, &id)).await.unwrap();
    assert_eq!(rows.len(), 3, "one email, two devices");
    assert!(rows.iter().all(|d| d.status == "sent" && d.attempts == 1), "{rows:?}");

    // The next reminder reuses the cached OAuth token.
    let report = pass(&app, "2026-03-16T20:00:00Z").await;
    assert!(report.pushes >= 2, "{report:?}");
    assert_eq!(fake.tokens_issued(), 1, "the FCM access token is cached until it nears expiry");
    fake.assert_well_formed();
}

#[tokio::test]
async fn after_an_email_unsubscribe_pushes_go_on_and_the_reminders_stay_listed() {
    let (app, fake) = app_with_push().await;
    let fx = treated_patient(&app, &["email_reminders", "push_reminders"]).await;
    register(&app, &fx.patient, "ios", IOS).await;
    let token = app.state.links.sign(&fx.pid);
    let res = app.client.post(app.url(&format!("/api/v1/unsubscribe?token={token}"))).send().await.unwrap();
    assert_eq!(ok(res, 200).await["status"], "unsubscribed");
    let upcoming = ok(app.get("/api/v1/me/reminders?limit=200", Some(&fx.patient)).await, 200).await;
    assert_eq!(upcoming["upcoming"].as_array().unwrap().len(), 30, "nothing cancelled");

    let report = pass(&app, "2026-03-16T11:00:00Z").await;
    assert_eq!((report.sent, report.pushes), (1, 1), "{report:?}");
    assert_eq!(reminder_emails(&app), 0, "no email after the unsubscribe");
    assert_eq!(fake.seen().len(), 1);
    fake.assert_well_formed();
    let mine = ok(app.get("/api/v1/me/reminders?limit=200", Some(&jane(&app).await)).await, 200).await;
    assert_eq!(mine["past"][0]["status"], "sent");
    assert_eq!(mine["upcoming"].as_array().unwrap().len(), 29);
}

#[tokio::test]
async fn refused_tokens_remove_their_devices() {
    let (app, fake) = app_with_push().await;
    let fx = treated_patient(&app, &["push_reminders"]).await;
    let ios_bad = "ff".repeat(32);
    let tokens = [
        ("android", ANDROID, Answer::Gone),
        ("android", "fcm:not-a-real-token", Answer::BadToken),
        ("ios", IOS, Answer::Gone),
        ("ios", ios_bad.as_str(), Answer::BadToken),
    ];
    for (platform, token, answer) in tokens {
        register(&app, &fx.patient, platform, token).await;
        fake.answer(token, answer);
    }
    assert_eq!(my_devices(&app).await.len(), 4);

    let report = pass(&app, "2026-03-16T11:00:00Z").await;
    assert_eq!((report.claimed, report.devices_removed, report.pushes), (1, 4, 0), "{report:?}");
    fake.assert_well_formed();
    assert_eq!(my_devices(&app).await, Vec::<Value>::new(), "every refused device is gone");
    let reminder = &past(&app, &fx).await[0];
    assert_eq!((reminder["status"].as_str(), reminder["status_reason"].as_str()), (Some("skipped"), Some("no_device")));

    // With no device left, the next reminder skips push without calling anyone.
    let report = pass(&app, "2026-03-16T20:00:00Z").await;
    assert_eq!((report.sent, report.skipped), (0, report.claimed));
}

#[tokio::test]
async fn a_push_service_error_is_retried_later_without_emailing_again() {
    let (app, fake) = app_with_push().await;
    let fx = treated_patient(&app, &["email_reminders", "push_reminders"]).await;
    register(&app, &fx.patient, "android", ANDROID).await;
    fake.answer(ANDROID, Answer::Fail);

    let report = pass(&app, "2026-03-16T11:00:00Z").await;
    assert_eq!((report.claimed, report.retried, report.pushes), (1, 1, 0), "{report:?}");
    assert_eq!(reminder_emails(&app), 1, "the email went");
    let mine = ok(app.get("/api/v1/me/reminders?limit=200", Some(&jane(&app).await)).await, 200).await;
    let retrying = &mine["upcoming"][0];
    assert_eq!(
        (retrying["status"].as_str(), retrying["status_reason"].as_str()),
        (Some("scheduled"), Some("retrying"))
    );
    let due = at(retrying["due_at"].as_str().unwrap());
    assert!(due > at("2026-03-16T11:00:40Z") && due < at("2026-03-16T11:01:20Z"), "backoff: {due}");

    // Not before its time; then the push goes and the email is not sent again.
    assert_eq!(pass(&app, "2026-03-16T11:00:30Z").await.claimed, 0);
    fake.answer(ANDROID, Answer::Accept);
    let report = pass(&app, "2026-03-16T11:02:00Z").await;
    assert_eq!((report.claimed, report.sent, report.pushes), (1, 1, 1), "{report:?}");
    assert_eq!(reminder_emails(&app), 1, "email delivered once");
    assert_eq!(fake.seen().len(), 1);
    fake.assert_well_formed();
    let id = retrying["id"].as_str().unwrap().to_owned();
    let rows = app.state.db.run(move |c| reminder_deliveries::find_for_reminder(c, &id)).await.unwrap();
    let push = rows.iter().find(|d| d.channel == "push").unwrap();
    assert_eq!((push.status.as_str(), push.attempts), ("sent", 2));
    let email = rows.iter().find(|d| d.channel == "email").unwrap();
    assert_eq!((email.status.as_str(), email.attempts), ("sent", 1));
    assert_eq!(past(&app, &fx).await[0]["status"], "sent");
    // `/metrics` counts each channel's attempts.
    let text = app.scrape().await;
    for series in [
        r#"aftercare_reminders_retried_total{channel="push"} 1"#,
        r#"aftercare_reminders_sent_total{channel="push"} 1"#,
        r#"aftercare_reminders_sent_total{channel="email"} 1"#,
        r#"aftercare_reminders_retried_total{channel="email"} 0"#,
        "aftercare_reminders_claimed_total 2",
    ] {
        assert!(text.lines().any(|l| l == series), "no {series} in\n{text}");
    }
}

#[tokio::test]
async fn a_push_outage_does_not_hold_back_the_emails_of_a_backlog() {
    // Batches of two: a backlog takes several passes, which a tick runs back to back while
    // something gets through. Here the emails do and every push fails.
    let (app, fake) = app_with_push_and(|s| s.dispatch.batch_size = 2).await;
    let fx = treated_patient(&app, &["email_reminders", "push_reminders"]).await;
    register(&app, &fx.patient, "android", ANDROID).await;
    fake.answer(ANDROID, Answer::Fail);
    app.clock.set(at("2026-03-17T12:00:00Z"));

    let report = drain_due_reminders(&app.state).await.unwrap();
    assert!(report.claimed > 2, "more than one batch in the tick: {report:?}");
    assert_eq!((report.retried, report.emails, report.pushes), (report.claimed, report.claimed, 0), "{report:?}");
    assert_eq!(reminder_emails(&app), report.claimed, "every claimed reminder's email went out");
    assert!(fake.seen().is_empty());
    let mine = ok(app.get("/api/v1/me/reminders?limit=200", Some(&jane(&app).await)).await, 200).await;
    let retrying = mine["upcoming"].as_array().unwrap().iter().filter(|r| r["status_reason"] == "retrying").count();
    assert_eq!(retrying, report.claimed, "each waits to retry its push only");
    fake.assert_well_formed();
}

#[tokio::test]
async fn without_push_settings_the_channel_is_off_and_nothing_fails() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["email_reminders", "push_reminders"]).await;
    register(&app, &fx.patient, "android", ANDROID).await;
    let report = pass(&app, "2026-03-16T11:00:00Z").await;
    assert_eq!((report.sent, report.pushes, report.failed, report.retried), (1, 0, 0, 0), "{report:?}");
    assert_eq!(reminder_emails(&app), 1);
    assert_eq!(my_devices(&app).await.len(), 1, "the device stays for when push is configured");

    // Push alone, and push is off: skipped, not failed.
    let token = app.state.links.sign(&fx.pid);
    ok(app.client.post(app.url(&format!("/api/v1/unsubscribe?token={token}"))).send().await.unwrap(), 200).await;
    let report = pass(&app, "2026-03-16T20:00:00Z").await;
    assert!(report.claimed > 0);
    assert_eq!((report.skipped, report.failed), (report.claimed, 0), "{report:?}");
    assert!(past(&app, &fx).await.iter().any(|r| r["status_reason"] == "no_device"));
}

#[tokio::test]
async fn devices_are_registered_updated_listed_and_removed_by_their_patient_only() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let first = register(&app, &fx.patient, "android", ANDROID).await;
    assert_eq!((first["platform"].as_str(), first["language"].as_str()), (Some("android"), Some("en-GB")));
    assert!(first.get("token").is_none(), "tokens are not shown back");

    // The same token again: 200, the same device, updated.
    app.clock.set(at("2026-03-17T10:00:00Z"));
    let (patient, staff) = (jane(&app).await, access(&app.login("admin@glow.example", PASSWORD).await));
    let again = json!({"platform": "android", "token": ANDROID, "app_id": "com.example.aftercare.beta"});
    let updated = ok(app.post("/api/v1/me/devices", &again, Some(&patient)).await, 200).await;
    assert_eq!(updated["id"], first["id"]);
    assert_eq!(updated["app_id"], "com.example.aftercare.beta");
    assert_eq!(updated["language"], "en", "the patient's language when the app sends none");
    assert_eq!(updated["created_at"], first["created_at"]);
    assert_eq!(updated["last_seen_at"], "2026-03-17T10:00:00Z");
    assert_eq!(my_devices(&app).await.len(), 1);

    // Bad input: 422 naming the field.
    for (body, field) in [
        (json!({"platform": "ios", "token": "not-hex", "app_id": TOPIC}), "token"),
        (json!({"platform": "android", "token": "has spaces in it", "app_id": TOPIC}), "token"),
        (json!({"platform": "android", "token": ANDROID, "app_id": "a/b"}), "app_id"),
        (json!({"platform": "android", "token": ANDROID, "app_id": TOPIC, "language": "!!"}), "language"),
    ] {
        let res = app.post("/api/v1/me/devices", &body, Some(&patient)).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let res = app
        .post("/api/v1/me/devices", &json!({"platform": "windows", "token": ANDROID, "app_id": TOPIC}), Some(&patient))
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));

    // Staff have no devices here; nobody removes another's device.
    assert_problem(app.get("/api/v1/me/devices", Some(&staff)).await, 404, "not_found").await;
    let id = first["id"].as_str().unwrap();
    let res = app.client.delete(app.url(&format!("/api/v1/me/devices/{id}"))).bearer_auth(&staff).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;
    let res = app.client.delete(app.url("/api/v1/me/devices/nope")).bearer_auth(&patient).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;
    let res =
        app.client.delete(app.url(&format!("/api/v1/me/devices/{id}"))).bearer_auth(&patient).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(my_devices(&app).await.is_empty());
}

#[tokio::test]
async fn a_token_registered_by_another_patient_moves_to_them() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let first = register(&app, &fx.patient, "ios", IOS).await;
    let body = json!({"name": "Ann Lee", "email": "ann@x.example", "time_zone": "Europe/London"});
    ok(app.post("/api/v1/patients", &body, Some(&fx.staff)).await, 201).await;
    let invite = json!({"token": app.invitation_token("ann@x.example"), "password": PASSWORD});
    let ann = access(&ok(app.post("/api/v1/auth/accept-invitation", &invite, None).await, 200).await);

    let body = json!({"platform": "ios", "token": IOS, "app_id": TOPIC});
    let moved = ok(app.post("/api/v1/me/devices", &body, Some(&ann)).await, 200).await;
    assert_eq!(moved["id"], first["id"]);
    assert!(my_devices(&app).await.is_empty(), "Jane's phone is now Ann's");
    let anns = ok(app.get("/api/v1/me/devices", Some(&ann)).await, 200).await;
    assert_eq!(anns["items"].as_array().unwrap().len(), 1);
    // Jane can no longer remove it.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/me/devices/{}", moved["id"].as_str().unwrap())))
        .bearer_auth(&fx.patient)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
}
