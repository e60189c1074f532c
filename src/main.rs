//! The `aftercare` command: serve (default), migrate, create-admin, dispatch-once, openapi,
//! healthcheck.

use std::{
    io::{BufRead, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    process::ExitCode,
    time::{Duration, Instant},
};

use aftercare::{
    clock::{Clock, SystemClock},
    config::Settings,
    http::openapi,
    services::bootstrap,
    startup::{self, Application, Overrides},
    telemetry,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "aftercare", version, about = "Aftercare backend for microneedling clinics")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a clinic and its first admin. The password comes from AFTERCARE_ADMIN_PASSWORD or
    /// the first line of standard input, never from an argument.
    CreateAdmin {
        /// The clinic's name as patients see it in emails and the app, e.g. "Glow Skin Clinic".
        #[arg(long, value_name = "NAME")]
        clinic: String,
        /// The admin's email address: their login, and where invitations and alerts go.
        #[arg(long, value_name = "ADDRESS")]
        email: String,
    },
    /// Run one dispatcher pass (staff alert emails, due reminders, then missed check-ins) and print what it did.
    DispatchOnce,
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        /// Write the document to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Check that a running server is ready (GET /readyz): exit status 0 when it answers 200,
    /// 1 otherwise. For container health checks; needs no shell or curl.
    Healthcheck {
        /// The readiness URL (http only). Default: /readyz on the configured
        /// AFTERCARE__SERVER__BIND, with 0.0.0.0 or [::] replaced by the loopback address.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Give up after this many seconds (connecting, sending and reading together).
        #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout: u64,
    },
}

/// mimalloc rather than glibc malloc: a login hashes with 19 MiB (argon2id), and glibc kept those
/// blocks in per-thread arenas after a burst of logins (the memory figures: docs/performance.md);
/// mimalloc gives them back. Cargo features: `override` (SQLite's and libpq's C
/// allocations go to mimalloc too, not to glibc's locked arenas) and `no_thp` (no transparent huge
/// pages for its arenas: each touched 2 MiB would count in full).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi { output }) = &cli.command {
        return finish(write_openapi(output.as_deref()));
    }
    if let Some(Command::Healthcheck { url, timeout }) = &cli.command {
        let url = match url {
            Some(url) => url.clone(),
            None => match Settings::load() {
                Ok(s) => readiness_url(&s.server.bind),
                Err(e) => return finish(Err(e)),
            },
        };
        return finish(healthcheck(&url, Duration::from_secs(*timeout)));
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return finish(Err(e)),
    };
    telemetry::init(&settings.log);
    // Jobs' blocking work (the audit writer, dispatch) waits for database connections anyway.
    let blocking = usize::try_from(settings.database.pool_size).unwrap_or(10) + 8;
    let runtime = match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(blocking).enable_all().build()
    {
        Ok(rt) => rt,
        Err(e) => return finish(Err(e.into())),
    };
    finish(runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)))
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings, Overrides::default()).await?;
            app.run_until_stopped().await?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Migrate => {
            startup::open_database(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::CreateAdmin { clinic, email } => {
            let password = match std::env::var("AFTERCARE_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("admin password (one line on standard input):");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let db = startup::open_database(&settings).await?;
            let created = tokio::task::spawn_blocking(move || {
                bootstrap::create_admin(&db, &clinic, &email, &password, SystemClock.now())
            })
            .await??;
            println!("created clinic {} and admin account {}", created.clinic_id, created.account_id);
            Ok(())
        }
        Command::DispatchOnce => {
            let state = startup::build_state(settings, Overrides::default()).await?;
            let now = state.now();
            let alerts = aftercare::jobs::alert_mail::deliver_alert_notifications(&state, now).await?;
            let sent = aftercare::jobs::dispatch::deliver_due_reminders(&state, now).await?;
            let missed = aftercare::jobs::missed_checkins::check_missed_checkins(&state, now).await?;
            println!("{}", serde_json::json!({ "alert_emails": alerts, "reminders": sent, "missed_checkins": missed }));
            Ok(())
        }
        Command::Openapi { .. } | Command::Healthcheck { .. } => Ok(()),
    }
}

fn write_openapi(output: Option<&std::path::Path>) -> anyhow::Result<()> {
    let json = openapi::document_json();
    match output {
        Some(path) => std::fs::write(path, json)?,
        None => print!("{json}"),
    }
    Ok(())
}

/// `/readyz` on the bind; a wildcard address is reached on loopback.
fn readiness_url(bind: &str) -> String {
    let local = match bind.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => bind.to_owned(),
    };
    format!("http://{local}/readyz")
}

/// One HTTP/1.1 GET over a plain TCP stream, all of it within `timeout`: Ok when the status is
/// 200. No HTTP client and no TLS: the check runs next to the server, on its bind.
fn healthcheck(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--url `{url}` is not a URL: {e}"))?;
    anyhow::ensure!(parsed.scheme() == "http", "--url `{url}`: only http:// is supported");
    let host = parsed.host_str().ok_or_else(|| anyhow::anyhow!("--url `{url}` has no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let path = match parsed.path() {
        "" | "/" => "/readyz",
        p => p,
    };
    let mut last = None;
    let mut stream = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, left()) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| {
        anyhow::anyhow!("cannot connect to {host}:{port}: {}", last.map_or("no address".into(), |e| e.to_string()))
    })?;
    stream.set_write_timeout(Some(left()))?;
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    // One write: `write!` on the stream would send each formatted piece in its own segment.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: aftercare-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 128];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        stream.set_read_timeout(Some(left()))?;
        let n = stream.read(&mut buf).map_err(|e| anyhow::anyhow!("no answer from {authority}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    anyhow::ensure!(
        status_line.starts_with("HTTP/1.") && status == "200",
        "{url} answered `{}`, not 200",
        status_line.trim()
    );
    println!("ready: {url}");
    Ok(())
}

/// One clear line and a non-zero exit on failure.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}
