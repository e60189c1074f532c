//! Typed settings, layered: defaults that work → optional `aftercare.toml` (or the file named by
//! `AFTERCARE_CONFIG`) → environment `AFTERCARE__SECTION__KEY` → `DATABASE_URL`.
//! Secrets are `SecretString`: their `Debug` is redacted and they are never logged.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::db::DatabaseUrl;

/// Whether the service may invent secrets (development) or must be given them (production).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

/// Every setting by its environment name, with an example value. The README's settings table
/// lists exactly these (a test compares them), and a unit test proves each name is read.
pub const ENV_SETTINGS: &[(&str, &str)] = &[
    ("DATABASE_URL", "sqlite://./data/aftercare.db"),
    ("AFTERCARE__ENVIRONMENT", "development"),
    ("AFTERCARE__DATA_DIR", "./data"),
    ("AFTERCARE__SERVER__BIND", "127.0.0.1:8080"),
    ("AFTERCARE__SERVER__PUBLIC_URL", "http://127.0.0.1:8080"),
    ("AFTERCARE__SERVER__WORKERS", "0"),
    ("AFTERCARE__SERVER__JSON_LIMIT_BYTES", "65536"),
    ("AFTERCARE__SERVER__BODY_TIMEOUT_SECS", "30"),
    ("AFTERCARE__SERVER__STAFF_APP_URL", "https://staff.clinic.example"),
    ("AFTERCARE__DATABASE__URL", "postgres://aftercare@localhost/aftercare"),
    ("AFTERCARE__DATABASE__POOL_SIZE", "10"),
    ("AFTERCARE__DATABASE__CONNECT_TIMEOUT_SECS", "5"),
    ("AFTERCARE__MAIL__SMTP_URL", "smtp://127.0.0.1:1025"),
    ("AFTERCARE__MAIL__FROM", "Aftercare <no-reply@aftercare.localhost>"),
    ("AFTERCARE__MAIL__TIMEOUT_SECS", "10"),
    ("AFTERCARE__AUTH__JWT_SECRET", "an-example-secret-of-at-least-32-bytes"),
    ("AFTERCARE__AUTH__ISSUER", "aftercare"),
    ("AFTERCARE__AUTH__AUDIENCE", "aftercare-api"),
    ("AFTERCARE__AUTH__ACCESS_TOKEN_TTL_SECS", "900"),
    ("AFTERCARE__AUTH__REFRESH_TOKEN_TTL_DAYS", "30"),
    ("AFTERCARE__AUTH__INVITATION_TTL_HOURS", "72"),
    ("AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE", "30"),
    ("AFTERCARE__AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE", "10"),
    ("AFTERCARE__AUTH__MAX_CONCURRENT_HASHES", "4"),
    ("AFTERCARE__CLINICAL__SCREENING_VALID_DAYS", "30"),
    ("AFTERCARE__DISPATCH__ENABLED", "true"),
    ("AFTERCARE__DISPATCH__TICK_SECS", "5"),
    ("AFTERCARE__DISPATCH__BATCH_SIZE", "50"),
    ("AFTERCARE__DISPATCH__PASS_BUDGET_SECS", "30"),
    ("AFTERCARE__DISPATCH__CONCURRENCY", "8"),
    ("AFTERCARE__DISPATCH__LEASE_SECS", "120"),
    ("AFTERCARE__DISPATCH__MAX_ATTEMPTS", "8"),
    ("AFTERCARE__DISPATCH__BACKOFF_BASE_SECS", "60"),
    ("AFTERCARE__DISPATCH__DAILY_CAP", "12"),
    ("AFTERCARE__DISPATCH__CHECKIN_GRACE_HOURS", "12"),
    ("AFTERCARE__WEBHOOKS__TICK_SECS", "2"),
    ("AFTERCARE__WEBHOOKS__TIMEOUT_SECS", "10"),
    ("AFTERCARE__WEBHOOKS__MAX_ATTEMPTS", "10"),
    ("AFTERCARE__WEBHOOKS__BACKOFF_BASE_SECS", "10"),
    ("AFTERCARE__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "false"),
    ("AFTERCARE__PHOTOS__MAX_UPLOAD_BYTES", "15728640"),
    ("AFTERCARE__PHOTOS__MAX_PIXELS", "50000000"),
    ("AFTERCARE__PHOTOS__MAX_DECODE_BYTES", "67108864"),
    ("AFTERCARE__PHOTOS__MAX_CONCURRENT", "2"),
    ("AFTERCARE__PHOTOS__STORAGE", "local"),
    ("AFTERCARE__PHOTOS__S3_BUCKET", "aftercare-photos"),
    ("AFTERCARE__PHOTOS__S3_ENDPOINT", "http://127.0.0.1:9000"),
    ("AFTERCARE__PHOTOS__S3_REGION", "us-east-1"),
    ("AFTERCARE__PHOTOS__S3_ACCESS_KEY_ID", "aftercare"),
    ("AFTERCARE__PHOTOS__S3_SECRET_ACCESS_KEY", "an-example-secret"),
    ("AFTERCARE__PUSH__FCM_SERVICE_ACCOUNT_FILE", "/etc/aftercare/fcm-service-account.json"),
    ("AFTERCARE__PUSH__FCM_BASE_URL", "https://fcm.googleapis.com"),
    ("AFTERCARE__PUSH__APNS_KEY_FILE", "/etc/aftercare/AuthKey_ABC123DEFG.p8"),
    ("AFTERCARE__PUSH__APNS_KEY_ID", "ABC123DEFG"),
    ("AFTERCARE__PUSH__APNS_TEAM_ID", "DEF123GHIJ"),
    ("AFTERCARE__PUSH__APNS_TOPIC", "com.example.aftercare"),
    ("AFTERCARE__PUSH__APNS_BASE_URL", "https://api.push.apple.com"),
    ("AFTERCARE__PUSH__TIMEOUT_SECS", "10"),
    ("AFTERCARE__APP__IOS_APP_IDS", "DEF123GHIJ.com.example.aftercare"),
    ("AFTERCARE__APP__ANDROID_PACKAGE", "com.example.aftercare"),
    (
        "AFTERCARE__APP__ANDROID_SHA256_FINGERPRINTS",
        "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5",
    ),
    ("AFTERCARE__LOG__FORMAT", "pretty"),
    ("AFTERCARE__LOG__LEVEL", "info"),
    ("AFTERCARE__METRICS__BIND", "127.0.0.1:9464"),
    ("AFTERCARE__METRICS__TOKEN", "an-example-metrics-token"),
];

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub environment: Environment,
    /// Where the SQLite file, mail files, photos and the generated JWT secret live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub mail: MailSettings,
    pub auth: AuthSettings,
    pub clinical: ClinicalSettings,
    pub dispatch: DispatchSettings,
    pub webhooks: WebhookSettings,
    pub photos: PhotoSettings,
    pub push: PushSettings,
    pub app: AppSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

/// Where `/metrics` is served. Neither set: nowhere (the main port answers 404).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// host:port of a second listener serving only `/metrics`, without authentication (keep it
    /// on loopback or a private network).
    pub bind: Option<String>,
    /// When set, `/metrics` on the main port answers requests bearing `Authorization: Bearer
    /// <token>` (at least 16 bytes).
    pub token: Option<SecretString>,
}

/// The patient app, for the files that let emailed links open in it (universal links on iOS,
/// app links on Android). Each file is served only when its settings are set (404 otherwise).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppSettings {
    /// iOS app ids (`TEAMID.bundle.id`), comma-separated: `/.well-known/apple-app-site-association`.
    pub ios_app_ids: Option<String>,
    /// The Android app's package name: `/.well-known/assetlinks.json`, with the fingerprints.
    pub android_package: Option<String>,
    /// SHA-256 fingerprints of the Android app's signing certificates, comma-separated.
    pub android_sha256_fingerprints: Option<String>,
}

impl AppSettings {
    /// The comma-separated values of a list setting, trimmed, without empty ones.
    pub fn list(value: &Option<String>) -> Vec<String> {
        value.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
    }
}

/// Push notifications to the app. Each platform is on only when its credentials are set.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// A Firebase service-account JSON key (project_id, client_email, private_key, token_uri):
    /// Android devices get pushes through FCM HTTP v1 when set.
    pub fcm_service_account_file: Option<PathBuf>,
    /// FCM's base URL (a loopback fake in tests).
    pub fcm_base_url: String,
    /// An APNs token-auth key (`AuthKey_<key id>.p8`, ES256): iOS devices get pushes when set
    /// with the key id, team id and topic.
    pub apns_key_file: Option<PathBuf>,
    pub apns_key_id: Option<String>,
    pub apns_team_id: Option<String>,
    /// The app's bundle id (`apns-topic`).
    pub apns_topic: Option<String>,
    /// APNs' base URL: `https://api.push.apple.com`, or `https://api.sandbox.push.apple.com` for
    /// development builds of the app.
    pub apns_base_url: String,
    /// Seconds one push exchange may take in all (connect, token, send, answer).
    pub timeout_secs: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            fcm_service_account_file: None,
            fcm_base_url: "https://fcm.googleapis.com".into(),
            apns_key_file: None,
            apns_key_id: None,
            apns_team_id: None,
            apns_topic: None,
            apns_base_url: "https://api.push.apple.com".into(),
            timeout_secs: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotoSettings {
    /// Largest accepted upload, in bytes (413 beyond).
    pub max_upload_bytes: usize,
    /// Largest decoded image, in pixels (422 beyond; guards against decompression bombs).
    pub max_pixels: u64,
    /// Bytes one image may hold while it is decoded (422 `image_too_large` beyond): the upload
    /// plus about 3 per pixel (8-bit RGB), more for a progressive JPEG or a grey PNG. With
    /// `max_concurrent` this bounds the memory photos take: see scripts/photo_memory.py.
    pub max_decode_bytes: u64,
    /// Images processed at once (each holds a decoded image in memory).
    pub max_concurrent: usize,
    /// `local` (under `<data_dir>/photos`) or `s3`.
    pub storage: String,
    pub s3_bucket: Option<String>,
    /// e.g. `http://127.0.0.1:9000` for an S3-compatible server.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<SecretString>,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 15 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_decode_bytes: 64 * 1024 * 1024,
            max_concurrent: 2,
            storage: "local".into(),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchSettings {
    /// Run the dispatcher inside `serve` (every replica may).
    pub enabled: bool,
    /// Seconds between dispatcher ticks.
    pub tick_secs: u32,
    /// Reminders claimed at once; a pass claims again at once while batches come back full.
    pub batch_size: i64,
    /// Longest a pass keeps claiming full batches before it yields to the next tick.
    pub pass_budget_secs: u64,
    /// Emails sent at once within a batch.
    pub concurrency: usize,
    /// Seconds a claim holds a reminder before another dispatcher may take it. A live
    /// dispatcher renews its claims every third of this while they are in flight, so it is how
    /// soon the claims of a dispatcher that died come back.
    pub lease_secs: i64,
    /// Attempts before a reminder is marked failed.
    pub max_attempts: i32,
    /// First retry delay in seconds; doubles per attempt (with jitter), capped at one hour.
    pub backoff_base_secs: i64,
    /// At most this many reminders are emailed to one patient in 24 hours: a flood guard set
    /// above what any sane protocol sends (the default protocol peaks at 9 in 24 h, when quiet hours bunch an evening session's reminders).
    pub daily_cap: i64,
    /// Hours after a check-in reminder before it counts as missed.
    pub checkin_grace_hours: i64,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_secs: 5,
            batch_size: 50,
            pass_budget_secs: 30,
            concurrency: 8,
            lease_secs: 30,
            max_attempts: 8,
            backoff_base_secs: 60,
            daily_cap: 12,
            checkin_grace_hours: 12,
        }
    }
}

/// Webhook deliveries to clinic systems (sent by the same scheduler as reminders).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Seconds between delivery ticks (how soon a clinic system hears of an event).
    pub tick_secs: u32,
    /// Seconds to wait for a receiver's answer; the claim lease is four times this.
    pub timeout_secs: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i32,
    /// First retry delay in seconds; doubles per attempt (with jitter), capped at one hour.
    pub backoff_base_secs: i64,
    /// Whether endpoints may be loopback, private or other internal addresses (tests, on-premise
    /// installs whose clinic systems share the network). Off by default: see `security::ssrf`.
    pub allow_private_targets: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { tick_secs: 2, timeout_secs: 10, max_attempts: 10, backoff_base_secs: 10, allow_private_targets: false }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClinicalSettings {
    /// How long a screening allows sessions, in days.
    pub screening_valid_days: i64,
}

impl Default for ClinicalSettings {
    fn default() -> Self {
        Self { screening_valid_days: 30 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// host:port to listen on.
    pub bind: String,
    /// Base URL used in links inside emails.
    pub public_url: String,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
    /// Largest accepted JSON body, in bytes.
    pub json_limit_bytes: usize,
    /// Seconds a request's whole body may take to arrive after its head (408 beyond): a slow or
    /// truncated body cannot hold a worker, a buffer and a socket for longer.
    pub body_timeout_secs: u64,
    /// The staff web app's base URL: the link of an urgent alert email (`/app/alerts/{id}`)
    /// redirects to `{staff_app_url}/alerts/{id}` when set, else shows a page saying to sign in.
    pub staff_app_url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH`, a plain path, or `postgres://…`; `DATABASE_URL` sets it too.
    pub url: Option<String>,
    /// Connections in the pool; default two per CPU core. Queries are CPU work here (SQLite in
    /// the process, PostgreSQL on the same or a near machine): more connections than that only
    /// add threads waiting, caches and memory.
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// `smtp://host:port` or `smtps://user:pass@host`; when unset, mail is written as `.eml`
    /// files under `<data_dir>/mail/`.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    /// Seconds before an SMTP attempt is abandoned (and retried later).
    pub timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 key, at least 32 bytes. Unset: generated once and kept in `<data_dir>/jwt_secret`.
    pub jwt_secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    pub invitation_ttl_hours: i64,
    /// Login attempts allowed per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// Login attempts allowed per account (email) per minute.
    pub login_per_account_per_minute: u32,
    /// Password hashes computed at once; further logins wait (bounded memory: 19 MiB each).
    /// Default: one per CPU core, since hashing is CPU-bound and more at once only adds memory.
    pub max_concurrent_hashes: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `aftercare=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            environment: Environment::Development,
            data_dir: PathBuf::from("./data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            mail: MailSettings::default(),
            auth: AuthSettings::default(),
            clinical: ClinicalSettings::default(),
            dispatch: DispatchSettings::default(),
            webhooks: WebhookSettings::default(),
            photos: PhotoSettings::default(),
            push: PushSettings::default(),
            app: AppSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            workers: 0,
            json_limit_bytes: 64 * 1024,
            body_timeout_secs: 30,
            staff_app_url: None,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { url: None, pool_size: u32::try_from(2 * cores).unwrap_or(u32::MAX), connect_timeout_secs: 5 }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self { smtp_url: None, from: "Aftercare <no-reply@aftercare.localhost>".into(), timeout_secs: 10 }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "aftercare".into(),
            audience: "aftercare-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            invitation_ttl_hours: 72,
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 10,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: "pretty".into(), level: "info".into() }
    }
}

impl Settings {
    /// Loads the layers from the process environment and the optional config file.
    ///
    /// `aftercare.toml` is optional; a file named by `AFTERCARE_CONFIG` must exist (a typo in
    /// the name would otherwise run with defaults). A file that is not valid TOML is named with
    /// the line and column of the mistake.
    pub fn load() -> anyhow::Result<Self> {
        let named = std::env::var_os("AFTERCARE_CONFIG");
        Self::load_from(named.as_deref().map(Path::new))
    }

    fn load_from(named: Option<&Path>) -> anyhow::Result<Self> {
        let file = match named {
            Some(file) => {
                anyhow::ensure!(
                    file.is_file(),
                    "AFTERCARE_CONFIG names the file {}, which does not exist (or is not a file)",
                    file.display()
                );
                file
            }
            None => Path::new("aftercare.toml"),
        };
        Self::figment(file).extract::<Settings>().map_err(describe)?.validated()
    }

    fn figment(file: &Path) -> Figment {
        Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("AFTERCARE__").split("__"))
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()))
    }

    /// Checks the values that cannot be typed by serde alone.
    pub fn validated(self) -> anyhow::Result<Self> {
        let resolves = std::net::ToSocketAddrs::to_socket_addrs(&self.server.bind)
            .map(|mut addrs| addrs.next().is_some())
            .unwrap_or(false);
        anyhow::ensure!(resolves, "AFTERCARE__SERVER__BIND `{}` is not host:port", self.server.bind);
        if let Some(bind) = &self.metrics.bind {
            let resolves =
                std::net::ToSocketAddrs::to_socket_addrs(bind).map(|mut addrs| addrs.next().is_some()).unwrap_or(false);
            anyhow::ensure!(resolves, "AFTERCARE__METRICS__BIND `{bind}` is not host:port");
        }
        if let Some(token) = &self.metrics.token {
            anyhow::ensure!(token.expose_secret().len() >= 16, "AFTERCARE__METRICS__TOKEN is shorter than 16 bytes");
        }
        url::Url::parse(&self.server.public_url)
            .with_context(|| format!("AFTERCARE__SERVER__PUBLIC_URL `{}` is not a URL", self.server.public_url))?;
        if let Some(staff) = &self.server.staff_app_url {
            let parsed = url::Url::parse(staff)
                .with_context(|| format!("AFTERCARE__SERVER__STAFF_APP_URL `{staff}` is not a URL"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "AFTERCARE__SERVER__STAFF_APP_URL `{staff}` is not an http(s) URL"
            );
        }
        self.database_url()?;
        anyhow::ensure!(
            (1..=3600).contains(&self.server.body_timeout_secs),
            "AFTERCARE__SERVER__BODY_TIMEOUT_SECS must be 1 to 3600"
        );
        if let Some(secret) = &self.auth.jwt_secret {
            anyhow::ensure!(secret.expose_secret().len() >= 32, "AFTERCARE__AUTH__JWT_SECRET is shorter than 32 bytes");
        } else if self.environment == Environment::Production {
            anyhow::bail!("AFTERCARE__AUTH__JWT_SECRET must be set in production");
        }
        if let Some(smtp) = &self.mail.smtp_url {
            let parsed = url::Url::parse(smtp.expose_secret())
                .map_err(|_| anyhow::anyhow!("AFTERCARE__MAIL__SMTP_URL is not a URL"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "smtp" | "smtps"),
                "AFTERCARE__MAIL__SMTP_URL must start with smtp:// or smtps://"
            );
        }
        anyhow::ensure!(
            self.mail.from.parse::<lettre::message::Mailbox>().is_ok(),
            "AFTERCARE__MAIL__FROM `{}` is not a mailbox",
            self.mail.from
        );
        anyhow::ensure!(
            matches!(self.log.format.as_str(), "pretty" | "json"),
            "AFTERCARE__LOG__FORMAT must be `pretty` or `json`"
        );
        anyhow::ensure!(self.auth.access_token_ttl_secs > 0, "AFTERCARE__AUTH__ACCESS_TOKEN_TTL_SECS must be positive");
        anyhow::ensure!(
            self.auth.refresh_token_ttl_days > 0,
            "AFTERCARE__AUTH__REFRESH_TOKEN_TTL_DAYS must be positive"
        );
        anyhow::ensure!(self.auth.invitation_ttl_hours > 0, "AFTERCARE__AUTH__INVITATION_TTL_HOURS must be positive");
        anyhow::ensure!(
            (1..=365).contains(&self.clinical.screening_valid_days),
            "AFTERCARE__CLINICAL__SCREENING_VALID_DAYS must be 1 to 365"
        );
        let d = &self.dispatch;
        anyhow::ensure!((1..=3600).contains(&d.tick_secs), "AFTERCARE__DISPATCH__TICK_SECS must be 1 to 3600");
        anyhow::ensure!((1..=10_000).contains(&d.batch_size), "AFTERCARE__DISPATCH__BATCH_SIZE must be 1 to 10000");
        anyhow::ensure!(
            (1..=3600).contains(&d.pass_budget_secs),
            "AFTERCARE__DISPATCH__PASS_BUDGET_SECS must be 1 to 3600"
        );
        anyhow::ensure!((1..=256).contains(&d.concurrency), "AFTERCARE__DISPATCH__CONCURRENCY must be 1 to 256");
        anyhow::ensure!(d.lease_secs >= 10, "AFTERCARE__DISPATCH__LEASE_SECS must be at least 10");
        anyhow::ensure!(d.max_attempts >= 1, "AFTERCARE__DISPATCH__MAX_ATTEMPTS must be at least 1");
        anyhow::ensure!(d.backoff_base_secs >= 1, "AFTERCARE__DISPATCH__BACKOFF_BASE_SECS must be at least 1");
        anyhow::ensure!(d.daily_cap >= 1, "AFTERCARE__DISPATCH__DAILY_CAP must be at least 1");
        anyhow::ensure!(d.checkin_grace_hours >= 1, "AFTERCARE__DISPATCH__CHECKIN_GRACE_HOURS must be at least 1");
        let p = &self.push;
        anyhow::ensure!((1..=120).contains(&p.timeout_secs), "AFTERCARE__PUSH__TIMEOUT_SECS must be 1 to 120");
        for (name, base) in [("FCM_BASE_URL", &p.fcm_base_url), ("APNS_BASE_URL", &p.apns_base_url)] {
            let ok = url::Url::parse(base).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            anyhow::ensure!(ok, "AFTERCARE__PUSH__{name} `{base}` is not an http(s) URL");
        }
        if p.apns_key_file.is_some() {
            for (name, value) in
                [("APNS_KEY_ID", &p.apns_key_id), ("APNS_TEAM_ID", &p.apns_team_id), ("APNS_TOPIC", &p.apns_topic)]
            {
                anyhow::ensure!(
                    value.as_deref().is_some_and(|v| !v.trim().is_empty()),
                    "AFTERCARE__PUSH__{name} must be set with AFTERCARE__PUSH__APNS_KEY_FILE"
                );
            }
        }
        let w = &self.webhooks;
        anyhow::ensure!((1..=3600).contains(&w.tick_secs), "AFTERCARE__WEBHOOKS__TICK_SECS must be 1 to 3600");
        anyhow::ensure!((1..=120).contains(&w.timeout_secs), "AFTERCARE__WEBHOOKS__TIMEOUT_SECS must be 1 to 120");
        anyhow::ensure!(w.max_attempts >= 1, "AFTERCARE__WEBHOOKS__MAX_ATTEMPTS must be at least 1");
        anyhow::ensure!(w.backoff_base_secs >= 1, "AFTERCARE__WEBHOOKS__BACKOFF_BASE_SECS must be at least 1");
        let p = &self.photos;
        anyhow::ensure!(p.max_upload_bytes >= 1024, "AFTERCARE__PHOTOS__MAX_UPLOAD_BYTES must be at least 1024");
        anyhow::ensure!(p.max_pixels >= 1, "AFTERCARE__PHOTOS__MAX_PIXELS must be positive");
        anyhow::ensure!(p.max_decode_bytes >= 1 << 20, "AFTERCARE__PHOTOS__MAX_DECODE_BYTES must be at least 1048576");
        anyhow::ensure!(p.max_concurrent >= 1, "AFTERCARE__PHOTOS__MAX_CONCURRENT must be positive");
        match p.storage.as_str() {
            "local" => {}
            "s3" => anyhow::ensure!(p.s3_bucket.is_some(), "AFTERCARE__PHOTOS__S3_BUCKET is required with storage s3"),
            other => anyhow::bail!("AFTERCARE__PHOTOS__STORAGE must be `local` or `s3`, not `{other}`"),
        }
        anyhow::ensure!(self.auth.max_concurrent_hashes > 0, "AFTERCARE__AUTH__MAX_CONCURRENT_HASHES must be positive");
        Ok(self)
    }

    /// The database to use: the configured URL, or the SQLite file under the data dir.
    pub fn database_url(&self) -> anyhow::Result<DatabaseUrl> {
        match &self.database.url {
            Some(url) => DatabaseUrl::parse(url),
            None => DatabaseUrl::parse(&format!("sqlite://{}", self.data_dir.join("aftercare.db").display())),
        }
    }

    /// The JWT key: configured, or read from (first made in) `<data_dir>/jwt_secret`.
    pub fn jwt_secret(&self) -> anyhow::Result<SecretString> {
        if let Some(secret) = &self.auth.jwt_secret {
            return Ok(secret.clone());
        }
        let path = self.data_dir.join("jwt_secret");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let existing = existing.trim().to_owned();
            anyhow::ensure!(existing.len() >= 32, "{} holds a secret shorter than 32 bytes", path.display());
            return Ok(SecretString::from(existing));
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
        let secret = crate::security::random_token(48);
        write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a JWT secret");
        Ok(SecretString::from(secret))
    }
}

/// A figment error in the words of the environment: which `AFTERCARE__…` name is wrong, and how.
fn describe(err: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            if let Some(figment::Source::File(file)) = e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                let key = if e.path.is_empty() { String::new() } else { format!(" `{}`", e.path.join(".")) };
                return format!("{}{key}: {}", file.display(), toml_message(&e.kind.to_string()));
            }
            let name = match e.path.as_slice() {
                [] => "a setting".to_owned(),
                [one] if one.eq_ignore_ascii_case("database") => "DATABASE_URL".to_owned(),
                path => format!("AFTERCARE__{}", path.join("__").to_uppercase()),
            };
            format!("{name}: {}", e.kind)
        })
        .collect();
    anyhow::anyhow!("invalid setting {}", lines.join("; "))
}

/// toml's message without its source excerpt: "TOML parse error at line 2, column 8: invalid
/// table header" (the excerpt's lines hold `|`, and the whole would be folded onto one line).
fn toml_message(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains('|') && *l != "^");
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() { first } else { format!("{first}: {}", rest.join(" ")) }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment's Jail API returns its own large error")]
mod tests {
    use super::*;

    #[test]
    fn the_default_daily_cap_is_a_flood_guard_above_what_the_default_protocol_plans() {
        let peak = crate::domain::protocol::DEFAULT_PROTOCOL_PEAK_PER_DAY;
        assert!(DispatchSettings::default().daily_cap > i64::try_from(peak).unwrap_or(i64::MAX));
    }

    #[test]
    fn defaults_are_valid_and_local() {
        let s = Settings::default().validated().unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert!(s.database_url().unwrap().sqlite_path().unwrap().ends_with("aftercare.db"));
    }

    #[test]
    fn layers_apply_in_order_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[server]\nbind = \"127.0.0.1:9000\"\n[auth]\nissuer = \"file\"\n")?;
            jail.set_env("AFTERCARE__AUTH__ISSUER", "env");
            jail.set_env("DATABASE_URL", "postgres://localhost/x");
            let s: Settings = Settings::figment(Path::new("a.toml")).extract()?;
            assert_eq!(s.server.bind, "127.0.0.1:9000");
            assert_eq!(s.auth.issuer, "env");
            assert_eq!(s.database.url.as_deref(), Some("postgres://localhost/x"));
            Ok(())
        });
    }

    #[test]
    fn every_documented_environment_name_is_a_real_setting() {
        figment::Jail::expect_with(|jail| {
            for (name, value) in ENV_SETTINGS {
                jail.set_env(name, value);
            }
            // deny_unknown_fields: a misspelt name would fail here.
            let s: Settings = Settings::figment(Path::new("none.toml")).extract()?;
            assert_eq!(s.database.url.as_deref(), Some("sqlite://./data/aftercare.db"));
            assert_eq!(s.auth.max_concurrent_hashes, 4);
            assert!(s.validated().is_ok());
            Ok(())
        });
    }

    #[test]
    fn short_secrets_and_bad_values_are_refused_by_name() {
        let mut s = Settings::default();
        s.auth.jwt_secret = Some(SecretString::from("short"));
        assert!(s.validated().unwrap_err().to_string().contains("AFTERCARE__AUTH__JWT_SECRET"));
        let mut s = Settings::default();
        s.server.bind = "nonsense".into();
        assert!(s.validated().unwrap_err().to_string().contains("AFTERCARE__SERVER__BIND"));
        let s = Settings { environment: Environment::Production, ..Default::default() };
        assert!(s.validated().unwrap_err().to_string().contains("production"));
        let mut s = Settings::default();
        s.mail.smtp_url = Some(SecretString::from("http://x"));
        assert!(s.validated().unwrap_err().to_string().contains("SMTP_URL"));
        let mut s = Settings::default();
        s.metrics.token = Some(SecretString::from("short"));
        assert!(s.validated().unwrap_err().to_string().contains("AFTERCARE__METRICS__TOKEN"));
        let mut s = Settings::default();
        s.metrics.bind = Some("nonsense".into());
        assert!(s.validated().unwrap_err().to_string().contains("AFTERCARE__METRICS__BIND"));
    }

    #[test]
    fn a_missing_config_file_is_named() {
        figment::Jail::expect_with(|_| {
            let err = Settings::load_from(Some(Path::new("no-such-aftercare.toml"))).unwrap_err().to_string();
            assert!(err.contains("AFTERCARE_CONFIG") && err.contains("no-such-aftercare.toml"), "{err}");
            // Without AFTERCARE_CONFIG, aftercare.toml is optional.
            assert!(Settings::load_from(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn a_broken_config_file_is_named_with_its_line() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("broken.toml", "[server]\nbind = \"127.0.0.1:9000\"\n[auth\nissuer = \"x\"\n")?;
            let err = Settings::load_from(Some(Path::new("broken.toml"))).unwrap_err().to_string();
            assert!(err.contains("broken.toml") && err.contains("line 3"), "{err}");
            assert!(!err.contains('|'), "the excerpt is left out: {err}");
            jail.create_file("unknown.toml", "[server]\nbnd = \"127.0.0.1:9000\"\n")?;
            let err = Settings::load_from(Some(Path::new("unknown.toml"))).unwrap_err().to_string();
            assert!(err.contains("unknown.toml") && err.contains("bnd"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_generated_secret_survives_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let a = s.jwt_secret().unwrap();
        let b = s.jwt_secret().unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().len() >= 32);
    }
}
