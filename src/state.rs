//! Everything a request or a job needs, in one value that tests build with their own parts.

use std::sync::Arc;

use crate::{
    clock::SharedClock,
    config::Settings,
    db::Db,
    email::Mailer,
    repo::{audit_sink::AuditSink, protocols::StepCache, scores::ScaleCache},
    security::{jwt::JwtKeys, links::LinkSigner, password::Hasher, rate_limit::RateLimiter, sessions::SessionCache},
    telemetry::metrics::Metrics,
};

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub mailer: Mailer,
    /// Push services (FCM, APNs); a platform without settings is off.
    pub push: crate::push::Push,
    pub clock: SharedClock,
    pub jwt: JwtKeys,
    pub links: LinkSigner,
    pub hasher: Hasher,
    pub login_limiter: Arc<RateLimiter>,
    /// Recent answers to "is this login session live?" (access tokens stop when it ends).
    pub login_sessions: SessionCache,
    pub metrics: Arc<Metrics>,
    /// Buffered writer for read audit events.
    pub audit: AuditSink,
    /// Photo bytes (local directory or S3).
    pub photos: crate::media::store::PhotoStore,
    /// Bounds CPU- and memory-heavy work (image processing) running at once.
    pub heavy: Arc<tokio::sync::Semaphore>,
    /// HTTP client for webhook deliveries (timeouts set, redirects not followed).
    pub webhook_client: reqwest::Client,
    /// Parsed protocol steps (immutable rows), for reminder views.
    pub step_cache: StepCache,
    /// Scale definitions (immutable rows), for progress reads.
    pub scale_cache: ScaleCache,
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
