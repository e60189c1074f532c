//! The `aftercare` command: serve (default), migrate, create-admin, openapi.

use std::{io::BufRead, process::ExitCode};

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
        #[arg(long)]
        clinic: String,
        #[arg(long)]
        email: String,
    },
    /// Run one dispatcher pass (staff alert emails, due reminders, then missed check-ins) and print what it did.
    DispatchOnce,
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        #[arg(long)]
        output: Option<std::path::PathBuf>,
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
        Command::Openapi { .. } => Ok(()),
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
