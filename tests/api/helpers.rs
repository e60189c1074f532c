//! `TestApp`: the real application on a random port with an in-memory mailer and a manual
//! clock, on a fresh database.

use aftercare::{
    clock::{Clock, ManualClock},
    config::Settings,
    email::{Email, Mailer},
    services::bootstrap,
    startup::{Application, Overrides},
    state::AppState,
};
use chrono::{DateTime, Utc};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

/// The `/metrics` token of test apps (`metrics.token`).
pub const METRICS_TOKEN: &str = "metrics-token-for-tests";

pub struct TestApp {
    pub address: String,
    /// The `/metrics` listener's base URL, when `metrics.bind` is set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).execute(&mut conn);
        }
    }
}

/// A fresh PostgreSQL database when `TEST_DATABASE_URL` is set; panics if the server is
/// unreachable (never a silent fall-back to SQLite).
pub fn fresh_postgres() -> Option<(String, PgDatabase)> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    let mut conn = PgConnection::establish(&admin_url)
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    let name = format!("aftercare_test_{}", uuid::Uuid::now_v7().simple());
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    Some((url.to_string(), PgDatabase { admin_url, name }))
}

/// The instant every test starts at (a Monday, before the EU DST change).
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-16T09:00:00Z").unwrap().to_utc()
}

/// Settings for a test: loopback port 0, its own data dir, fast password hashing slots.
pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings { data_dir: dir.to_path_buf(), ..Default::default() };
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = 2;
    s.database.pool_size = 4;
    // Tests call the jobs directly with the test clock.
    s.dispatch.enabled = false;
    s.auth.jwt_secret = Some(secrecy::SecretString::from("test-secret-test-secret-test-secret!"));
    s.metrics.token = Some(secrecy::SecretString::from(METRICS_TOKEN));
    s
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings adjusted by `tweak` (and the in-memory mailer unless SMTP is set).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        if std::env::var("TEST_LOG").is_ok() {
            aftercare::telemetry::init(&Default::default());
        }
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(dir.path());
        let pg = fresh_postgres();
        if let Some((url, _)) = &pg {
            settings.database.url = Some(url.clone());
        }
        tweak(&mut settings);
        let clock = ManualClock::new(start_time());
        let mailer = match settings.mail.smtp_url {
            Some(_) => None,
            None => Some(Mailer::memory(&settings.mail.from).unwrap()),
        };
        let app = Application::build(settings, Overrides { mailer, clock: Some(std::sync::Arc::new(clock.clone())) })
            .await
            .expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { address, metrics_address, client, clock, state, _dir: dir, _pg: pg.map(|(_, db)| db) }
    }

    /// The app's data directory (SQLite file, photos, mail files).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `/metrics` with the metrics token: the Prometheus text (asserted 200 `text/plain`).
    pub async fn scrape(&self) -> String {
        let res = self.get("/metrics", Some(METRICS_TOKEN)).await;
        assert_eq!(res.status(), StatusCode::OK, "/metrics with the token");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        res.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Creates a clinic and its admin; returns the admin's email.
    pub async fn create_admin(&self, clinic: &str, email: &str) -> String {
        let db = self.state.db.clone();
        let (clinic, email_owned) = (clinic.to_owned(), email.to_owned());
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || bootstrap::create_admin(&db, &clinic, &email_owned, PASSWORD, now))
            .await
            .unwrap()
            .unwrap();
        email.to_owned()
    }

    /// Logs in; returns the token response body.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let res = self.post("/api/v1/auth/login", &json!({"email": email, "password": password}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {email}");
        res.json().await.unwrap()
    }

    /// A clinic with an admin, logged in: the admin's access token.
    pub async fn admin_token(&self) -> String {
        let email = self.create_admin("Glow Skin Clinic", "admin@glow.example").await;
        access(&self.login(&email, PASSWORD).await)
    }

    /// Invites `email` as `role` with the admin `token`, accepts, and returns the new account's tokens.
    pub async fn invite_and_accept(&self, admin_token: &str, email: &str, role: &str) -> Value {
        let res =
            self.post("/api/v1/staff/invitations", &json!({"email": email, "role": role}), Some(admin_token)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let token = self.invitation_token(email);
        let res =
            self.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub fn outbox(&self) -> Vec<Email> {
        self.state.mailer.outbox()
    }

    /// The invitation token from the newest email to `to`.
    pub fn invitation_token(&self, to: &str) -> String {
        let mail = self.outbox().into_iter().rev().find(|m| m.to == to).expect("an email to the invitee");
        token_from_text(&mail.text)
    }
}

/// Asserts the status (showing the body when it differs) and returns the JSON body
/// (`null` for an empty one).
pub async fn ok(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() }
}

pub fn token_from_text(text: &str) -> String {
    text.split("token=").nth(1).expect("a token link").split_whitespace().next().unwrap().to_owned()
}

pub fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

pub fn refresh(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(ct.starts_with("application/problem+json"), "content type {ct}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(), "{body}");
    body
}

/// A treated patient: Jane Doe in London with the app, the given consents, a clear screening, a
/// course and a session at the test clock's start (Monday 2026-03-16 09:00 UTC = 09:00 GMT).
pub struct Treated {
    pub staff: String,
    pub patient: String,
    pub pid: String,
    pub course: String,
    pub session: String,
}

pub async fn treated_patient(app: &TestApp, consents: &[&str]) -> Treated {
    use crate::clinical::{answers, session_body};
    let staff = app.admin_token().await;
    let body = json!({"name": "Jane Doe", "email": "jane@x.example", "time_zone": "Europe/London"});
    let p = ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let token = app.invitation_token("jane@x.example");
    let accept = json!({"token": token, "password": PASSWORD});
    let patient = access(&ok(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await);
    for kind in consents {
        let grant = json!({"kind": kind, "granted": true});
        ok(app.post(&format!("/api/v1/patients/{pid}/consents"), &grant, Some(&staff)).await, 201).await;
    }
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let plan = json!({"concerns": ["acne_scars"], "planned_sessions": 3});
    let c = ok(app.post(&format!("/api/v1/patients/{pid}/courses"), &plan, Some(&staff)).await, 201).await;
    let course = c["id"].as_str().unwrap().to_owned();
    let session = session_body("2026-03-16T09:00:00Z", "cheeks", 1.0);
    let s = ok(app.post(&format!("/api/v1/courses/{course}/sessions"), &session, Some(&staff)).await, 201).await;
    Treated { staff, patient, pid, course, session: s["id"].as_str().unwrap().to_owned() }
}
