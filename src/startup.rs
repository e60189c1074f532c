//! Building the application: database (migrated), mailer, keys, and an HTTP server bound to its
//! own listener, so tests can ask for port 0 and learn the port.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;

use crate::{
    clock::{SharedClock, SystemClock},
    config::Settings,
    db::Db,
    email::Mailer,
    http,
    security::{jwt::JwtKeys, password::Hasher, rate_limit::RateLimiter},
    state::AppState,
    telemetry::metrics::Metrics,
};

/// Parts a caller (a test) may supply instead of the ones built from settings.
#[derive(Default)]
pub struct Overrides {
    pub mailer: Option<Mailer>,
    pub clock: Option<SharedClock>,
}

pub struct Application {
    server: Server,
    port: u16,
    /// The `/metrics` listener of `metrics.bind`, when set.
    metrics: Option<(Server, u16)>,
    state: AppState,
}

/// Opens and migrates the database named by the settings (blocking work, off the runtime).
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = settings.database_url()?;
    let pool_size = settings.database.pool_size;
    let timeout = Duration::from_secs(settings.database.connect_timeout_secs.max(1));
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, pool_size, timeout)?;
        db.migrate()?;
        crate::services::scales::seed(&db)?;
        Ok::<_, anyhow::Error>(db)
    })
    .await
    .context("database start-up task failed")?
}

/// The shared state, from settings and overrides.
pub async fn build_state(settings: Settings, overrides: Overrides) -> anyhow::Result<AppState> {
    let db = open_database(&settings).await?;
    let metrics = Metrics::start();
    let mailer = match overrides.mailer {
        Some(m) => m,
        None => Mailer::from_settings(&settings)?,
    }
    .observed(metrics.clone());
    let secret = settings.jwt_secret()?;
    let auth = &settings.auth;
    let jwt = JwtKeys::new(&secret, &auth.issuer, &auth.audience, auth.access_token_ttl_secs);
    let max_hashes = auth.max_concurrent_hashes;
    let hasher = tokio::task::spawn_blocking(move || Hasher::new(max_hashes)).await??;
    let photos = crate::media::store::PhotoStore::from_settings(&settings)?;
    let heavy = Arc::new(tokio::sync::Semaphore::new(settings.photos.max_concurrent));
    let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let login_limiter =
        Arc::new(RateLimiter::new(auth.login_per_ip_per_minute, auth.login_per_account_per_minute, clock.clone()));
    let webhook_client = crate::jobs::webhooks::client(&settings.webhooks)?;
    let push = crate::push::Push::from_settings(&settings.push)?;
    Ok(AppState {
        photos,
        webhook_client,
        step_cache: Default::default(),
        scale_cache: Default::default(),
        heavy,
        settings: Arc::new(settings),
        audit: crate::repo::audit_sink::AuditSink::start(db.clone()),
        db,
        mailer,
        push,
        clock,
        jwt,
        links: crate::security::links::LinkSigner::new(&secret),
        hasher,
        login_limiter,
        login_sessions: Default::default(),
        metrics,
    })
}

impl Application {
    pub async fn build(settings: Settings, overrides: Overrides) -> anyhow::Result<Self> {
        let bind = settings.server.bind.clone();
        let listener = TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = match &settings.metrics.bind {
            Some(bind) => {
                Some(TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind} for metrics"))?)
            }
            None => None,
        };
        let state = build_state(settings, overrides).await?;
        let server = serve(state.clone(), listener)?;
        let metrics = match metrics_listener {
            Some(listener) => {
                let port = listener.local_addr()?.port();
                Some((serve_metrics(state.clone(), listener)?, port))
            }
            None => None,
        };
        Ok(Self { server, port, metrics, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, when `metrics.bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests; the scheduler (when
    /// enabled) runs alongside and stops with the server.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut scheduler = if self.state.settings.dispatch.enabled {
            Some(crate::jobs::start_scheduler(self.state.clone()).await?)
        } else {
            None
        };
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let served = self.server.await;
        if let Some((task, handle)) = metrics {
            handle.stop(false).await;
            let _ = task.await;
        }
        if let Some(s) = scheduler.as_mut() {
            let _ = s.shutdown().await;
        }
        // Read events still gathering in the audit writer are stored before the process ends.
        self.state.audit.flush().await;
        Ok(served?)
    }
}

fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    let workers = match state.settings.server.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let body_limit = state.settings.server.json_limit_bytes;
    tracing::info!(
        server.address = %listener.local_addr()?,
        database = ?state.db.backend(),
        mail = %state.mailer.describe(),
        "serving"
    );
    let blocking_threads = usize::try_from(state.settings.database.pool_size).unwrap_or(10)
        + state.settings.auth.max_concurrent_hashes
        + state.settings.photos.max_concurrent
        + 2;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .configure(http::extractor_configs)
            .configure(http::configure)
            .default_service(web::to(http::route_not_found))
            .wrap(from_fn(http::idempotency::idempotency))
            .wrap(from_fn(http::representation::validators))
            .wrap(from_fn(http::body_deadline::body_deadline))
            .wrap(from_fn(http::nul_guard::refuse_nul))
            .wrap(from_fn(http::middleware::observe))
            .wrap(from_fn(http::security_headers::security_headers))
    })
    .workers(workers)
    // Blocking work waits for a database connection (or a hashing or image permit) anyway: more
    // threads than that only hold memory (tokio's default is 512 per worker).
    .worker_max_blocking_threads(blocking_threads)
    // The head has 5 s to arrive (the body has `server.body_timeout_secs`, see body_deadline), and
    // a client has 1 s to take the last response before its connection is dropped.
    .client_request_timeout(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_secs(1))
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}

/// The listener of `metrics.bind`: `/metrics` without authentication, nothing else (404).
fn serve_metrics(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    tracing::info!(server.address = %listener.local_addr()?, "serving /metrics");
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(web::resource("/metrics").route(web::get().to(http::ops::get_metrics_open)))
            .default_service(web::to(http::route_not_found))
    })
    .workers(1)
    .client_request_timeout(Duration::from_secs(5))
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}
