//! A loopback fake of FCM HTTP v1 and its OAuth2 token endpoint, one port per replica (so every
//! push is traced to its sender), checking each request's shape as the real service requires:
//!
//! - `POST /token`: a JWT-bearer grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`)
//!   whose assertion is signed RS256 by the service account's key (verified with its public key),
//!   with the service account as issuer, this endpoint as audience, the FCM scope and at most an
//!   hour of life; answers an access token.
//! - `POST /v1/projects/{project}/messages:send`: the project of the service account, a bearer
//!   access token this fake issued (else 401 as FCM does), a JSON `message` with a device
//!   `token`, a `notification` title and body, `data.reminder_id` and `data.kind`, and
//!   `android.collapse_key` = the reminder id with a `ttl` in seconds; answers 200 with the
//!   message's `name`.
//!
//! A push counts as received only when it was answered 200; it is recorded by its reminder id.
//! Requests of the wrong shape are answered 400 and listed as violations. While
//! [`FcmFake::set_unavailable`] is on, well-formed sends are answered `503 UNAVAILABLE` (as FCM
//! does when overloaded or in maintenance) and counted, not recorded.
//!
//! The service account's RSA key is generated at drill time (`openssl genpkey`) into the drill's
//! temp directory: nothing secret is kept.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::sink::Received;

pub const PROJECT: &str = "aftercare-drills";
const CLIENT_EMAIL: &str = "push@aftercare-drills.iam.gserviceaccount.com";
const KEY_ID: &str = "drills-key-1";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

pub struct FcmFake {
    /// One port per replica.
    pub ports: Vec<u16>,
    inner: Arc<Inner>,
    handle: ServerHandle,
    /// The service account's private key (PEM), for the replicas' key files.
    private_key: String,
}

#[derive(Default)]
struct State {
    /// Reminder id → every time a push for it was accepted.
    received: HashMap<String, Vec<Received>>,
    per_port: HashMap<usize, usize>,
    violations: Vec<String>,
    access_tokens: HashSet<String>,
    tokens_issued: usize,
    /// Sends answered 503 while unavailable.
    refused: usize,
}

struct Inner {
    state: Mutex<State>,
    /// Port → replica index.
    index: HashMap<u16, usize>,
    public_key: DecodingKey,
    unavailable: AtomicBool,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn violation(&self, what: String) -> HttpResponse {
        self.state().violations.push(what.clone());
        HttpResponse::BadRequest().json(json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": what}}))
    }
}

/// A 2048-bit RSA key (PKCS #8 PEM) and its public key, made by `openssl` in `dir`.
fn generate_key(dir: &Path) -> anyhow::Result<(String, String)> {
    let (key, public) = (dir.join("fcm-drill-key.pem"), dir.join("fcm-drill-pub.pem"));
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("openssl")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .context("the push drills need `openssl` to make a throwaway service-account key")?;
        anyhow::ensure!(status.success(), "openssl {args:?} failed: {status}");
        Ok(())
    };
    let (key_s, public_s) = (key.to_string_lossy(), public.to_string_lossy());
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key_s])?;
    run(&["pkey", "-in", &key_s, "-pubout", "-out", &public_s])?;
    Ok((std::fs::read_to_string(&key)?, std::fs::read_to_string(&public)?))
}

impl FcmFake {
    /// Listens on `ports` loopback ports with a fresh key made in `dir`.
    pub async fn start(ports: usize, dir: &Path) -> anyhow::Result<Self> {
        let (private_key, public_pem) = generate_key(dir)?;
        let public_key = DecodingKey::from_rsa_pem(public_pem.as_bytes())?;
        let mut listeners = Vec::new();
        let mut index = HashMap::new();
        for k in 0..ports {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            index.insert(port, k);
            listeners.push((listener, port));
        }
        let inner = Arc::new(Inner { state: Mutex::default(), index, public_key, unavailable: AtomicBool::new(false) });
        let data = web::Data::from(inner.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/token", web::post().to(token_endpoint))
                .route("/v1/projects/{project}/messages:send", web::post().to(send))
        })
        .workers(1)
        // Idle connections stay open longer than the replicas' HTTP client keeps them (reqwest's
        // pool, 90 s): with actix's default 5 s the fake closes connections a replica may be
        // about to reuse, and a push sent on one fails (it is retried, not lost).
        .keep_alive(std::time::Duration::from_secs(120))
        .max_connections(4096)
        .disable_signals();
        let mut bound = Vec::new();
        for (listener, port) in listeners {
            server = server.listen(listener)?;
            bound.push(port);
        }
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { ports: bound, inner, handle, private_key })
    }

    pub fn base_url(&self, replica: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[replica])
    }

    /// Writes replica `replica`'s service-account key file (its token URI on its own port) into
    /// `dir`; its path.
    pub fn write_service_account(&self, replica: usize, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        let account = json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": KEY_ID,
            "private_key": self.private_key,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": format!("{}/token", self.base_url(replica)),
        });
        let path = dir.join("fcm-service-account.json");
        std::fs::write(&path, account.to_string())?;
        Ok(path)
    }

    /// The settings that point a replica at this fake.
    pub fn settings(&self, replica: usize, dir: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
        let file = self.write_service_account(replica, dir)?;
        Ok(vec![
            ("AFTERCARE__PUSH__FCM_SERVICE_ACCOUNT_FILE", file.to_string_lossy().into_owned()),
            ("AFTERCARE__PUSH__FCM_BASE_URL", self.base_url(replica)),
        ])
    }

    /// Every accepted push by reminder id, with the times it was accepted.
    pub fn received(&self) -> HashMap<String, Vec<Received>> {
        self.inner.state().received.clone()
    }

    pub fn port_count(&self, replica: usize) -> usize {
        self.inner.state().per_port.get(&replica).copied().unwrap_or(0)
    }

    /// Requests that did not have the shape FCM requires.
    pub fn violations(&self) -> Vec<String> {
        self.inner.state().violations.clone()
    }

    /// Sends answered 503 while unavailable.
    pub fn refused(&self) -> usize {
        self.inner.state().refused
    }

    /// Answers well-formed sends 503 UNAVAILABLE (`true`) or accepts them again.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.inner.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Access tokens issued (one per replica while each caches its token).
    pub fn tokens_issued(&self) -> usize {
        self.inner.state().tokens_issued
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// The replica a request came in for (by the port it reached).
fn replica_of(inner: &Inner, req: &HttpRequest) -> usize {
    inner.index.get(&req.app_config().local_addr().port()).copied().unwrap_or(usize::MAX)
}

async fn token_endpoint(
    inner: web::Data<Inner>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return inner.violation(format!("grant_type {:?}", form.get("grant_type")));
    }
    let Some(assertion) = form.get("assertion") else { return inner.violation("no assertion".into()) };
    match jsonwebtoken::decode_header(assertion) {
        Ok(h) if h.alg == Algorithm::RS256 && h.kid.as_deref() == Some(KEY_ID) => {}
        other => return inner.violation(format!("grant header {other:?}")),
    }
    let aud = format!("http://127.0.0.1:{}/token", req.app_config().local_addr().port());
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    let claims = match jsonwebtoken::decode::<Value>(assertion, &inner.public_key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return inner.violation(format!("grant JWT: {e}")),
    };
    if claims["scope"] != SCOPE {
        return inner.violation(format!("scope {}", claims["scope"]));
    }
    if claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0) > 3600 {
        return inner.violation("grant lives over an hour".into());
    }
    let mut s = inner.state();
    s.tokens_issued += 1;
    let token = format!("ya29.drill-{}-{}", replica_of(&inner, &req), s.tokens_issued);
    s.access_tokens.insert(token.clone());
    HttpResponse::Ok().json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

async fn send(inner: web::Data<Inner>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    if path.as_str() != PROJECT {
        return inner.violation(format!("project {path}"));
    }
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let known = auth.strip_prefix("Bearer ").is_some_and(|t| inner.state().access_tokens.contains(t));
    if !known {
        return HttpResponse::Unauthorized().json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}));
    }
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return inner.violation(format!("content-type {content_type:?}"));
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else { return inner.violation("body is not JSON".into()) };
    let m = &msg["message"];
    let shaped = m["token"].as_str().is_some_and(|t| !t.is_empty())
        && m["notification"]["title"].as_str().is_some_and(|t| !t.is_empty())
        && m["notification"]["body"].as_str().is_some_and(|t| !t.is_empty())
        && m["data"]["kind"].is_string();
    let reminder_id = m["data"]["reminder_id"].as_str().unwrap_or_default().to_owned();
    if !shaped || reminder_id.is_empty() || m["android"]["collapse_key"] != reminder_id.as_str() {
        return inner.violation(format!("message {msg}"));
    }
    if !m["android"]["ttl"].as_str().is_some_and(|t| t.ends_with('s')) {
        return inner.violation(format!("ttl {}", m["android"]["ttl"]));
    }
    if inner.unavailable.load(Ordering::SeqCst) {
        inner.state().refused += 1;
        return HttpResponse::ServiceUnavailable().insert_header(("retry-after", "10")).json(json!({"error": {
            "code": 503, "status": "UNAVAILABLE", "message": "The service is currently unavailable."}}));
    }
    let replica = replica_of(&inner, &req);
    let mut s = inner.state();
    *s.per_port.entry(replica).or_default() += 1;
    let n = s.received.values().map(Vec::len).sum::<usize>() + 1;
    s.received.entry(reminder_id).or_default().push(Received { port: replica, at: Instant::now() });
    HttpResponse::Ok().json(json!({"name": format!("projects/{PROJECT}/messages/0:{n}")}))
}
