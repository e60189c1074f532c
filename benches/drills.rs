//! Fault drills (issue 7, part 3): the dispatcher and the photo store under faults, run against
//! real `aftercare serve` processes. For each dispatch drill the table gives the reminders
//! planned, sent (distinct Message-IDs at the SMTP sink), lost and sent twice; the photo drill
//! gives the answer to each upload and what it left behind.
//!
//! ```sh
//! scripts/drills.sh all                       # builds the binary, then runs every drill
//! cargo bench --bench drills -- smtp          # or kill, pg-restart, photos, all
//! ```
//!
//! The drills:
//! - `smtp`: one replica on SQLite; the SMTP sink closes its listener and drops its sessions for
//!   30 s in the middle of the run, then listens again on the same port. Every reminder must still
//!   be sent exactly once (transient failures retry with backoff).
//! - `kill`: three replicas on one PostgreSQL database; one is killed with SIGKILL while it sends.
//!   Its claimed rows are retaken when their lease ends; reminders sent twice may not exceed the
//!   rows it held without an outcome (its in-flight batch: `sending` right after the kill and
//!   claimed again later), which the drill reports.
//! - `pg-restart`: three replicas on PostgreSQL; the server is restarted mid-run
//!   (`pg_ctlcluster 15 main restart`, or `DRILLS_PG_RESTART` as a shell command). Nothing may be
//!   lost or sent twice, and every replica must answer `/readyz` and send again afterwards.
//! - `photos`: one server on SQLite whose `<data_dir>/photos` is a 512 KiB tmpfs (needs root).
//!   Uploads to a nearly full, a full and a read-only store, and to a photos path that is a regular
//!   file, must answer 507 `storage_full` or 503 `storage_unavailable` as problem+json, and leave
//!   no photo row and no file behind; an upload after the fault is repaired must succeed.
//!
//! Each replica sends to its own port of the sink, so every message is attributed to a replica.
//! Sent twice = a Message-ID received more than once. The database is the cross-check: rows
//! `sent` must equal the distinct Message-IDs received; lost = planned rows neither sent, skipped
//! nor cancelled at the end.
//!
//! Settings (environment): `DRILLS_BIN` (default `target/release/aftercare`, else
//! `target/debug/aftercare`), `DRILLS_DATABASE_URL` (PostgreSQL server for `kill` and
//! `pg-restart`; default `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database is made
//! per drill and dropped), `DRILLS_SMTP_BACKEND` (`sqlite`, default, or `postgres`), `DRILLS_N`
//! (reminders per dispatch drill; default 3,000 for `smtp`, 6,000 otherwise), `DRILLS_OUTAGE_SECS`
//! (30), `DRILLS_TIMEOUT_SECS` (300, per drill), `DRILLS_LOG_LEVEL` (the replicas' log level;
//! `warn`). Replica logs are kept in a temp directory and their tail is printed when a drill
//! fails.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration as StdDuration, Instant},
};

use aftercare::{
    config::Settings,
    db::{Backend, DbConnection, to_db},
    email::Mailer,
    startup::{Overrides, build_state},
    state::AppState,
};
use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use common::{Fixture, FixtureSpec, Target, seed_fixture};
use diesel::{
    Connection, QueryableByName, RunQueryDsl,
    connection::SimpleConnection,
    pg::{Pg, PgConnection},
    sql_types::{BigInt, Integer, Text},
    sqlite::{Sqlite, SqliteConnection},
};
use rand::Rng;
use secrecy::SecretString;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpSocket, TcpStream},
    runtime::Runtime,
    sync::watch,
};

const PASSWORD: &str = "correct horse battery staple";
const ADMIN_EMAIL: &str = "admin@drills.example";
const JWT_SECRET: &str = "drills-secret-drills-secret-drills-secret!";
/// Patients the reminders are spread over.
const PATIENTS: usize = 300;
const BATCH_SIZE: i64 = 100;
const CONCURRENCY: usize = 8;
/// Pool per replica: `CONCURRENCY` sends, the claim, the audit writer, HTTP.
const POOL_SIZE: u32 = 12;
const LEASE_SECS: i64 = 15;
const TICK_SECS: u32 = 1;
const BACKOFF_BASE_SECS: i64 = 2;
const MAX_ATTEMPTS: i32 = 20;
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> anyhow::Result<()> {
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("DRILLS").ok())
        .unwrap_or_else(|| "all".into());
    let drills: Vec<&str> = match which.as_str() {
        "all" => vec!["smtp", "kill", "pg-restart", "photos"],
        one @ ("smtp" | "kill" | "pg-restart" | "photos") => vec![one],
        other => bail!("unknown drill `{other}` (smtp, kill, pg-restart, photos, all)"),
    };
    let bin = binary()?;
    println!("drills: {} with {}", drills.join(", "), bin.display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut dispatch_rows: Vec<DispatchOutcome> = Vec::new();
    let mut photo_rows: Vec<PhotoCase> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for drill in drills {
        println!("\n=== drill: {drill} ===");
        let t = Instant::now();
        let result = match drill {
            "photos" => photo_drill(&rt, &bin).map(|cases| {
                photo_rows.extend(cases);
            }),
            kind => dispatch_drill(&rt, &bin, kind).map(|row| dispatch_rows.push(row)),
        };
        match result {
            Ok(()) => println!("=== {drill} finished in {:.0?}", t.elapsed()),
            Err(e) => {
                println!("=== {drill} could not complete: {e:#}");
                failures.push(format!("{drill}: {e:#}"));
            }
        }
    }
    drop(rt);

    if !dispatch_rows.is_empty() {
        println!();
        println!(
            "{:<12} {:<10} {:>8} {:>8} {:>6} {:>11} {:>9} {:>8}  verdict",
            "drill", "database", "planned", "sent", "lost", "sent twice", "in-flight", "db sent"
        );
        for r in &dispatch_rows {
            println!(
                "{:<12} {:<10} {:>8} {:>8} {:>6} {:>11} {:>9} {:>8}  {}",
                r.drill,
                r.backend,
                r.planned,
                r.sent,
                r.lost,
                r.sent_twice,
                r.in_flight.map_or("-".to_owned(), |n| n.to_string()),
                r.db_sent,
                if r.problems.is_empty() { "PASS".to_owned() } else { format!("FAIL: {}", r.problems.join("; ")) }
            );
            for note in &r.notes {
                println!("{:<12} note: {note}", "");
            }
            if !r.problems.is_empty() {
                failures.push(format!("{}: {}", r.drill, r.problems.join("; ")));
            }
        }
    }
    if !photo_rows.is_empty() {
        println!();
        println!(
            "{:<48} {:>6} {:<22} {:>9} {:>10}  verdict",
            "photo upload", "status", "code", "new rows", "new files"
        );
        for c in &photo_rows {
            println!(
                "{:<48} {:>6} {:<22} {:>9} {:>10}  {}",
                c.case,
                c.status,
                c.code,
                c.new_rows,
                c.new_files,
                if c.problems.is_empty() { "PASS".to_owned() } else { format!("FAIL: {}", c.problems.join("; ")) }
            );
            if !c.problems.is_empty() {
                failures.push(format!("photos, {}: {}", c.case, c.problems.join("; ")));
            }
        }
    }
    if failures.is_empty() {
        println!("\nall drills passed");
        Ok(())
    } else {
        println!("\nfailed:");
        for f in &failures {
            println!("  - {f}");
        }
        // A plain exit code (no error backtrace after the table).
        std::process::exit(1)
    }
}

/// The `aftercare` binary the replicas run.
fn binary() -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("DRILLS_BIN") {
        let bin = PathBuf::from(bin);
        anyhow::ensure!(bin.is_file(), "DRILLS_BIN {} is not a file", bin.display());
        return Ok(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for profile in ["release", "debug"] {
        let bin = root.join("target").join(profile).join("aftercare");
        if bin.is_file() {
            return Ok(bin);
        }
    }
    bail!("no aftercare binary: run `cargo build --release --bin aftercare` or set DRILLS_BIN")
}

fn env_u32(name: &str, default: u32) -> anyhow::Result<u32> {
    match std::env::var(name) {
        Ok(v) => v.trim().replace('_', "").parse().with_context(|| format!("{name} is not a number")),
        Err(_) => Ok(default),
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch drills.

struct DispatchOutcome {
    drill: String,
    backend: &'static str,
    planned: usize,
    /// Distinct reminder Message-IDs the sink received.
    sent: usize,
    lost: usize,
    /// Message-IDs received more than once.
    sent_twice: usize,
    /// Rows the killed replica held when it died (kill drill).
    in_flight: Option<usize>,
    db_sent: usize,
    notes: Vec<String>,
    problems: Vec<String>,
}

fn dispatch_drill(rt: &Runtime, bin: &Path, kind: &str) -> anyhow::Result<DispatchOutcome> {
    let pg_wanted = match kind {
        "smtp" => std::env::var("DRILLS_SMTP_BACKEND").is_ok_and(|b| b.eq_ignore_ascii_case("postgres")),
        _ => true,
    };
    let admin = std::env::var("DRILLS_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into());
    let target = Target::create(pg_wanted.then_some(admin.as_str()), "drill", "DRILLS_DATABASE_URL")?;
    let n = env_u32("DRILLS_N", if kind == "smtp" { 3_000 } else { 6_000 })?.max(100);
    let replicas_wanted = if kind == "smtp" { 1 } else { 3 };

    // Seed through the library: clinic, patients with a session, then `n` due reminders in bulk.
    let now = Utc::now().trunc_subsecs(0);
    let mut monitor = Monitor::new(&target)?;
    {
        let _entered = rt.enter();
        let state =
            rt.block_on(build_state(target.settings(), Overrides { mailer: Some(null_mailer()?), clock: None }))?;
        let fx = seed_drill_fixture(&state, monitor.conn()?, now, PATIENTS, &["email_reminders"])?;
        insert_due(monitor.conn()?, &fx, n, now)?;
        drop(state);
    }
    println!("[{kind}] {} database seeded: {PATIENTS} patients, {n} due reminders", target.label());

    let sink = rt.block_on(Sink::start(replicas_wanted))?;
    let mut replicas = Vec::new();
    for k in 0..replicas_wanted {
        let dir = target.dir.path().join(format!("replica-{k}"));
        replicas.push(Replica::spawn(bin, &format!("replica-{k}"), &dir, &target.url, Some(sink.ports[k]), true)?);
    }
    let client = reqwest::Client::builder().timeout(StdDuration::from_secs(5)).build()?;
    for r in &mut replicas {
        r.wait_ready(rt, &client, StdDuration::from_secs(90))?;
    }
    let started = Instant::now();
    println!("[{kind}] {} replica(s) serving with the scheduler on; dispatch running", replicas.len());

    let timeout = StdDuration::from_secs(u64::from(env_u32("DRILLS_TIMEOUT_SECS", 300)?));
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let mut in_flight = None;
    let mut killed_snapshot: Vec<(String, i32)> = Vec::new();
    let mut killed = None;
    match kind {
        "smtp" => {
            let outage = u64::from(env_u32("DRILLS_OUTAGE_SECS", 30)?);
            wait_for_sends(&sink, n as usize / 4, started, timeout)?;
            sink.set_down(true);
            let down_at = Instant::now();
            // A message whose DATA had begun is finished (and answered) before its session closes.
            std::thread::sleep(StdDuration::from_millis(500));
            let before = sink.total();
            println!("[smtp] {before} received; SMTP sink down (listener closed, sessions dropped) for {outage} s");
            std::thread::sleep(StdDuration::from_secs(outage).saturating_sub(StdDuration::from_millis(500)));
            let during = sink.total() - before;
            sink.set_down(false);
            println!(
                "[smtp] sink back on port {} after {:.1?}; {during} received while down",
                sink.ports[0],
                down_at.elapsed()
            );
            let retried = monitor.count_where("status = 'scheduled' AND attempts > 0")?;
            notes.push(format!(
                "{before} received before the {outage} s outage; {during} during it; {retried} reminders were waiting to retry when it ended"
            ));
            if during > 0 {
                problems.push(format!("{during} messages arrived while the sink was down"));
            }
        }
        "kill" => {
            wait_for_sends(&sink, n as usize / 3, started, timeout)?;
            // Kill replica 0 while it is sending: right after its port received a message.
            let victim = 0;
            let deadline = Instant::now() + StdDuration::from_secs(20);
            let mut last = sink.port_count(victim);
            loop {
                std::thread::sleep(StdDuration::from_millis(5));
                let now_count = sink.port_count(victim);
                if now_count > last || Instant::now() > deadline {
                    break;
                }
                last = now_count;
            }
            replicas[victim].kill()?;
            let at_kill = sink.port_count(victim);
            // The killed replica's claims stay `sending` until their lease ends; the live
            // replicas' claims at this moment finish within a pass.
            killed_snapshot = monitor.sending()?;
            println!(
                "[kill] SIGKILL to replica-{victim} (pid {}) after it sent {at_kill}; {} rows `sending` right after",
                replicas[victim].pid(),
                killed_snapshot.len()
            );
            killed = Some((victim, at_kill));
        }
        "pg-restart" => {
            wait_for_sends(&sink, n as usize / 3, started, timeout)?;
            let before = sink.total();
            let cmd = std::env::var("DRILLS_PG_RESTART").unwrap_or_else(|_| "pg_ctlcluster 15 main restart".into());
            println!("[pg-restart] {before} received; running `{cmd}`");
            let t = Instant::now();
            let status = Command::new("sh").arg("-c").arg(&cmd).status().context("cannot run the restart command")?;
            let restart = t.elapsed();
            let ready = pg_ready(StdDuration::from_secs(60));
            println!("[pg-restart] `{cmd}` exited {status} in {restart:.1?}; PostgreSQL ready again: {ready}");
            anyhow::ensure!(status.success(), "`{cmd}` failed: {status}");
            anyhow::ensure!(ready, "PostgreSQL is not accepting connections 60 s after the restart");
            // Recovery: every replica must send again once the server is back, by itself.
            let back = Instant::now();
            let at_ready: Vec<usize> = (0..replicas.len()).map(|k| sink.port_count(k)).collect();
            notes.push(format!(
                "`{cmd}` took {restart:.1?}; {before} received before it, {} while it ran",
                at_ready.iter().sum::<usize>() - before
            ));
            let mut resumed: Vec<Option<StdDuration>> = vec![None; replicas.len()];
            let deadline = back + StdDuration::from_secs(60);
            loop {
                for (k, slot) in resumed.iter_mut().enumerate() {
                    if slot.is_none() && sink.port_count(k) > at_ready[k] {
                        *slot = Some(back.elapsed());
                    }
                }
                if resumed.iter().all(Option::is_some) {
                    let after: Vec<String> = resumed.iter().flatten().map(|d| format!("{d:.1?}")).collect();
                    notes.push(format!("each replica sent again {} after PostgreSQL was back", after.join(" / ")));
                    break;
                }
                if monitor.count_where("status IN ('scheduled', 'sending')").is_ok_and(|n| n == 0) {
                    notes.push(format!("all sent before every replica resumed ({resumed:?})"));
                    break;
                }
                if Instant::now() > deadline {
                    problems.push(format!("replicas that sent nothing in 60 s after the restart: {resumed:?}"));
                    break;
                }
                std::thread::sleep(StdDuration::from_millis(20));
            }
        }
        other => bail!("unknown dispatch drill {other}"),
    }

    // Until every planned row has an outcome (the killed replica's rows wait for their lease).
    let deadline = started + timeout;
    loop {
        match monitor.count_where("status IN ('scheduled', 'sending')") {
            Ok(0) => break,
            Ok(_) | Err(_) if Instant::now() > deadline => {
                problems.push(format!("rows still pending after {timeout:?}"));
                break;
            }
            _ => std::thread::sleep(StdDuration::from_millis(500)),
        }
    }
    let elapsed = started.elapsed();
    // Stragglers (there should be none: a row has its outcome only after its send).
    std::thread::sleep(StdDuration::from_secs(2));

    // Replicas still alive must be ready (the database answers them).
    for r in replicas.iter_mut() {
        if !r.alive() {
            continue;
        }
        let ready = rt.block_on(async {
            client.get(format!("http://127.0.0.1:{}/readyz", r.port)).send().await.map(|res| res.status().as_u16())
        });
        match ready {
            Ok(200) => {}
            other => problems.push(format!("{} /readyz answered {other:?} at the end", r.name)),
        }
    }

    // Counts: the sink, then the database.
    let received = sink.received();
    let rows = monitor.rows()?;
    let planned = rows.len();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *by_status.entry(r.status.clone()).or_default() += 1;
    }
    let planned_ids: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let sent_ids: BTreeSet<&str> = received.keys().map(String::as_str).filter(|id| planned_ids.contains(id)).collect();
    let twice: Vec<(&String, &Vec<usize>)> = received.iter().filter(|(_, ports)| ports.len() > 1).collect();
    let db_sent_ids: BTreeSet<&str> = rows.iter().filter(|r| r.status == "sent").map(|r| r.id.as_str()).collect();
    let get = |s: &str| by_status.get(s).copied().unwrap_or(0);
    let lost = planned - get("sent") - get("skipped") - get("cancelled");
    let mut notes_db = format!("database: {by_status:?}; dispatch took {elapsed:.1?}");
    let others = sink.others();
    if others > 0 {
        notes_db.push_str(&format!("; {others} other messages (alerts) received"));
    }
    notes.push(notes_db);
    let unrecorded: Vec<&&str> = sent_ids.difference(&db_sent_ids).collect();
    let unreceived: Vec<&&str> = db_sent_ids.difference(&sent_ids).collect();
    if !unrecorded.is_empty() {
        problems.push(format!(
            "{} received but not `sent` in the database (e.g. {})",
            unrecorded.len(),
            unrecorded.iter().take(3).map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !unreceived.is_empty() {
        problems.push(format!(
            "{} `sent` in the database but never received (e.g. {})",
            unreceived.len(),
            unreceived.iter().take(3).map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    if lost > 0 {
        let examples: Vec<String> = rows
            .iter()
            .filter(|r| !matches!(r.status.as_str(), "sent" | "skipped" | "cancelled"))
            .take(3)
            .map(|r| {
                format!("{} {} after {} attempts ({})", r.id, r.status, r.attempts, r.reason.as_deref().unwrap_or("-"))
            })
            .collect();
        problems.push(format!("{lost} lost, e.g. {}", examples.join(", ")));
    }
    if !twice.is_empty() {
        let described: Vec<String> = twice
            .iter()
            .take(5)
            .map(|(id, ports)| {
                let via: Vec<String> = ports.iter().map(|p| format!("replica-{p}")).collect();
                format!("{id} via {}", via.join(" then "))
            })
            .collect();
        notes.push(format!("sent twice: {}", described.join(", ")));
    }
    if let Some((victim, at_kill)) = killed {
        // The victim's in-flight batch: rows `sending` when it died that were claimed again.
        let final_attempts: HashMap<&str, i32> = rows.iter().map(|r| (r.id.as_str(), r.attempts)).collect();
        let orphaned: Vec<&String> = killed_snapshot
            .iter()
            .filter(|(id, attempts)| final_attempts.get(id.as_str()).is_some_and(|a| a > attempts))
            .map(|(id, _)| id)
            .collect();
        let orphaned_set: BTreeSet<&str> = orphaned.iter().map(|s| s.as_str()).collect();
        let twice_from_victim = twice
            .iter()
            .filter(|(id, ports)| ports.first() == Some(&victim) && orphaned_set.contains(id.as_str()))
            .count();
        in_flight = Some(orphaned.len());
        notes.push(format!(
            "killed replica-{victim} had sent {at_kill}; it held {} claimed rows (batch size {BATCH_SIZE}), retaken after the {LEASE_SECS} s lease; {} of the duplicates were first sent by it from that batch",
            orphaned.len(),
            twice_from_victim
        ));
        if twice.len() > orphaned.len() {
            problems.push(format!(
                "{} sent twice, more than the killed replica's {} in-flight rows",
                twice.len(),
                orphaned.len()
            ));
        }
        if twice_from_victim != twice.len() {
            problems.push(format!("{} duplicates not explained by the killed batch", twice.len() - twice_from_victim));
        }
    } else if !twice.is_empty() {
        problems.push(format!("{} reminders sent twice", twice.len()));
    }
    let logged: Vec<String> = replicas.iter().map(|r| r.log_summary()).collect();
    notes.push(format!("replica logs: {}", logged.join("; ")));
    let outcome = DispatchOutcome {
        drill: kind.to_owned(),
        backend: target.label(),
        planned,
        sent: sent_ids.len(),
        lost,
        sent_twice: twice.len(),
        in_flight,
        db_sent: db_sent_ids.len(),
        notes,
        problems,
    };
    if !outcome.problems.is_empty() {
        for r in &replicas {
            r.print_log_tail(30);
        }
    }
    for r in &mut replicas {
        r.stop();
    }
    drop(monitor);
    drop(sink);
    drop(target);
    Ok(outcome)
}

/// Waits until the sink received `count` messages (the drill's fault comes mid-run).
fn wait_for_sends(sink: &Sink, count: usize, started: Instant, timeout: StdDuration) -> anyhow::Result<()> {
    while sink.total() < count {
        anyhow::ensure!(started.elapsed() < timeout, "only {} of {count} sent after {timeout:?}", sink.total());
        std::thread::sleep(StdDuration::from_millis(20));
    }
    Ok(())
}

fn pg_ready(timeout: StdDuration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let ok =
            Command::new("pg_isready").args(["-h", "127.0.0.1", "-q"]).status().map(|s| s.success()).unwrap_or(false);
        if ok {
            return true;
        }
        std::thread::sleep(StdDuration::from_millis(250));
    }
    false
}

// ---------------------------------------------------------------------------------------------
// The photo store drill.

struct PhotoCase {
    case: String,
    status: u16,
    code: String,
    new_rows: i64,
    new_files: usize,
    problems: Vec<String>,
}

fn photo_drill(rt: &Runtime, bin: &Path) -> anyhow::Result<Vec<PhotoCase>> {
    let target = Target::create(None, "drill", "DRILLS_DATABASE_URL")?;
    let data = target.dir.path().to_path_buf();
    let photos_dir = data.join("photos");
    let now = Utc::now().trunc_subsecs(0);
    let mut monitor = Monitor::new(&target)?;
    let patient_id = {
        let _entered = rt.enter();
        let state =
            rt.block_on(build_state(target.settings(), Overrides { mailer: Some(null_mailer()?), clock: None }))?;
        seed_drill_fixture(&state, monitor.conn()?, now, 1, &["email_reminders", "photos"])?;
        drop(state);
        "drill-p-0".to_owned()
    };
    std::fs::create_dir_all(&photos_dir)?;
    let mut mount = Tmpfs::mount(&photos_dir, "512k")?;
    println!("[photos] {} is a 512 KiB tmpfs", photos_dir.display());

    let mut server = Replica::spawn(bin, "server", &data, &target.url, None, false)?;
    let client = reqwest::Client::builder().timeout(StdDuration::from_secs(30)).build()?;
    server.wait_ready(rt, &client, StdDuration::from_secs(90))?;
    let base = format!("http://127.0.0.1:{}", server.port);
    let token = rt.block_on(async {
        let res = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        anyhow::ensure!(status.as_u16() == 200, "login answered {status}: {body}");
        body["access_token"].as_str().map(str::to_owned).context("no access_token in the login answer")
    })?;
    let url = format!("{base}/api/v1/patients/{patient_id}/photos");
    let upload = |image: Vec<u8>| -> anyhow::Result<(u16, String, String)> {
        rt.block_on(async {
            let meta = serde_json::json!({"view": "frontal", "time_point": "follow_up", "colour_card": true});
            let form = reqwest::multipart::Form::new()
                .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?)
                .part("image", reqwest::multipart::Part::bytes(image).file_name("photo.jpg").mime_str("image/jpeg")?);
            let res = client.post(&url).bearer_auth(&token).multipart(form).send().await?;
            let status = res.status().as_u16();
            let ct =
                res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
            let code = body["code"].as_str().unwrap_or("").to_owned();
            Ok((status, ct, code))
        })
    };
    let mut cases = Vec::new();
    let mut check = |case: &str,
                     expected: &[(u16, &str)],
                     image: Vec<u8>,
                     monitor: &mut Monitor,
                     files_root: &Path|
     -> anyhow::Result<()> {
        let rows_before = monitor.count_photos()?;
        let files_before = photo_files(files_root);
        let (status, ct, code) = upload(image)?;
        let rows_after = monitor.count_photos()?;
        let files_after = photo_files(files_root);
        let new_files: Vec<&PathBuf> = files_after.difference(&files_before).collect();
        let mut problems = Vec::new();
        if !expected.iter().any(|(s, c)| *s == status && (c.is_empty() || *c == code)) {
            problems.push(format!("expected {expected:?}, got {status} {code}"));
        }
        let success = (200..300).contains(&status);
        if !success {
            if !ct.starts_with("application/problem+json") {
                problems.push(format!("content-type `{ct}`"));
            }
            if rows_after != rows_before {
                problems.push(format!("{} photo row(s) written", rows_after - rows_before));
            }
            if !new_files.is_empty() {
                problems.push(format!("files left: {new_files:?}"));
            }
        } else if rows_after != rows_before + 1 || new_files.len() != 2 {
            problems.push(format!(
                "{} rows and {} files for a stored photo",
                rows_after - rows_before,
                new_files.len()
            ));
        }
        println!(
            "[photos] {case}: {status} {code} ({} new rows, {} new files)",
            rows_after - rows_before,
            new_files.len()
        );
        cases.push(PhotoCase {
            case: case.to_owned(),
            status,
            code,
            new_rows: rows_after - rows_before,
            new_files: new_files.len(),
            problems,
        });
        Ok(())
    };

    let result = (|| -> anyhow::Result<()> {
        check("tmpfs with room (control)", &[(201, "")], noise_jpeg(64, 64)?, &mut monitor, &photos_dir)?;
        // Nearly full: room for a thumbnail, not for the full image (the thumbnail must go again).
        let free = available_bytes(&photos_dir)?;
        fill(&photos_dir.join("filler-1"), free.saturating_sub(96 * 1024))?;
        println!("[photos] filled to {} bytes free", available_bytes(&photos_dir)?);
        check(
            "disk nearly full (thumbnail fits, image not)",
            &[(507, "storage_full")],
            noise_jpeg(900, 900)?,
            &mut monitor,
            &photos_dir,
        )?;
        fill(&photos_dir.join("filler-2"), u64::MAX)?;
        println!("[photos] filled to {} bytes free", available_bytes(&photos_dir)?);
        check("disk full", &[(507, "storage_full")], noise_jpeg(200, 200)?, &mut monitor, &photos_dir)?;
        std::fs::remove_file(photos_dir.join("filler-1"))?;
        std::fs::remove_file(photos_dir.join("filler-2"))?;
        mount.remount("ro")?;
        check(
            "read-only store (tmpfs remounted ro)",
            &[(503, "storage_unavailable")],
            noise_jpeg(200, 200)?,
            &mut monitor,
            &photos_dir,
        )?;
        mount.remount("rw")?;
        mount.unmount()?;
        // The photos path a regular file: nothing can be created under it.
        let moved = data.join("photos.moved");
        std::fs::rename(&photos_dir, &moved)?;
        std::fs::write(&photos_dir, b"")?;
        let outcome = check(
            "photos path is a regular file",
            &[(503, "storage_unavailable")],
            noise_jpeg(200, 200)?,
            &mut monitor,
            &moved,
        );
        let size = std::fs::metadata(&photos_dir).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&photos_dir)?;
        std::fs::rename(&moved, &photos_dir)?;
        outcome?;
        if size != 0 {
            println!("[photos] the regular file grew to {size} bytes");
        }
        check("after repair (plain directory)", &[(201, "")], noise_jpeg(64, 64)?, &mut monitor, &photos_dir)?;
        Ok(())
    })();
    server.stop();
    if result.is_err() || cases.iter().any(|c| !c.problems.is_empty()) {
        server.print_log_tail(30);
    }
    mount.unmount()?;
    result?;
    Ok(cases)
}

/// Every regular file under the photo store, fillers aside.
fn photo_files(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("filler-")) => {
                    out.insert(path);
                }
                _ => {}
            }
        }
    }
    out
}

/// A JPEG of random pixels (they compress badly, so the stored image is large).
fn noise_jpeg(w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let mut rng = rand::thread_rng();
    let img = image::RgbImage::from_fn(w, h, |_, _| image::Rgb([rng.r#gen(), rng.r#gen(), rng.r#gen()]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)?;
    Ok(out)
}

fn available_bytes(dir: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().context("cannot run df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1).and_then(|l| l.trim().parse().ok()).context("df printed no available size")
}

/// Writes up to `bytes` of zeroes, stopping quietly when the disk is full.
fn fill(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0_u8; 4096];
    let mut written = 0_u64;
    while written < bytes {
        let n = usize::try_from((bytes - written).min(chunk.len() as u64)).unwrap_or(chunk.len());
        match f.write(&chunk[..n]) {
            Ok(0) | Err(_) => break,
            Ok(k) => written += k as u64,
        }
        if f.flush().is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    Ok(())
}

/// A tmpfs mounted for the drill, unmounted when dropped (even on failure).
struct Tmpfs {
    at: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> anyhow::Result<Self> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .context("cannot run mount")?;
        anyhow::ensure!(
            status.success(),
            "mount -t tmpfs on {} failed ({status}); the photo drill needs root",
            at.display()
        );
        Ok(Self { at: at.to_path_buf(), mounted: true })
    }

    fn remount(&self, mode: &str) -> anyhow::Result<()> {
        let status = Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.at).status()?;
        anyhow::ensure!(status.success(), "remount,{mode} of {} failed", self.at.display());
        Ok(())
    }

    fn unmount(&mut self) -> anyhow::Result<()> {
        if self.mounted {
            let status = Command::new("umount").arg(&self.at).status()?;
            if !status.success() {
                let lazy = Command::new("umount").arg("-l").arg(&self.at).status()?;
                anyhow::ensure!(lazy.success(), "cannot unmount {}", self.at.display());
            }
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            eprintln!("{e:#}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replicas: `aftercare serve` processes.

struct Replica {
    name: String,
    child: Child,
    port: u16,
    log: PathBuf,
    exited: bool,
}

impl Replica {
    fn spawn(
        bin: &Path,
        name: &str,
        dir: &Path,
        db_url: &str,
        smtp: Option<u16>,
        dispatch: bool,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve").current_dir(dir).stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        for (key, _) in std::env::vars() {
            if key.starts_with("AFTERCARE") || key == "DATABASE_URL" || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        let level = std::env::var("DRILLS_LOG_LEVEL").unwrap_or_else(|_| "warn".into());
        let settings: Vec<(&str, String)> = vec![
            ("DATABASE_URL", db_url.to_owned()),
            ("AFTERCARE__DATA_DIR", dir.display().to_string()),
            ("AFTERCARE__SERVER__BIND", format!("127.0.0.1:{port}")),
            ("AFTERCARE__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            ("AFTERCARE__SERVER__WORKERS", "2".into()),
            ("AFTERCARE__DATABASE__POOL_SIZE", POOL_SIZE.to_string()),
            ("AFTERCARE__DATABASE__CONNECT_TIMEOUT_SECS", "2".into()),
            ("AFTERCARE__AUTH__JWT_SECRET", JWT_SECRET.into()),
            ("AFTERCARE__MAIL__TIMEOUT_SECS", "5".into()),
            ("AFTERCARE__DISPATCH__ENABLED", dispatch.to_string()),
            ("AFTERCARE__DISPATCH__TICK_SECS", TICK_SECS.to_string()),
            ("AFTERCARE__DISPATCH__BATCH_SIZE", BATCH_SIZE.to_string()),
            ("AFTERCARE__DISPATCH__CONCURRENCY", CONCURRENCY.to_string()),
            ("AFTERCARE__DISPATCH__LEASE_SECS", LEASE_SECS.to_string()),
            ("AFTERCARE__DISPATCH__MAX_ATTEMPTS", MAX_ATTEMPTS.to_string()),
            ("AFTERCARE__DISPATCH__BACKOFF_BASE_SECS", BACKOFF_BASE_SECS.to_string()),
            ("AFTERCARE__DISPATCH__DAILY_CAP", "1000000000".into()),
            ("AFTERCARE__LOG__LEVEL", level),
        ];
        cmd.envs(settings);
        if let Some(p) = smtp {
            cmd.env("AFTERCARE__MAIL__SMTP_URL", format!("smtp://127.0.0.1:{p}"));
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self { name: name.to_owned(), child, port, log, exited: false })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        !self.exited && matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_ready(&mut self, rt: &Runtime, client: &reqwest::Client, timeout: StdDuration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = true;
                self.print_log_tail(20);
                bail!("{} exited during start-up: {status}", self.name);
            }
            let ok = rt.block_on(async { client.get(&url).send().await.map(|r| r.status().is_success()) });
            if matches!(ok, Ok(true)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.print_log_tail(20);
                bail!("{} not serving after {timeout:?}", self.name);
            }
            std::thread::sleep(StdDuration::from_millis(100));
        }
    }

    /// SIGKILL (std's `Child::kill` on Unix).
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.exited = true;
        Ok(())
    }

    fn stop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.exited = true;
        }
    }

    /// How many errors and failed dispatch passes the replica logged.
    fn log_summary(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let errors = text.lines().filter(|l| l.contains("ERROR")).count();
        let failed = text.lines().filter(|l| l.contains("dispatch pass failed")).count();
        format!("{} {errors} errors ({failed} failed passes)", self.name)
    }

    fn print_log_tail(&self, lines: usize) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        println!("--- last {lines} log lines of {} ({}):", self.name, self.log.display());
        for l in &all[all.len().saturating_sub(lines)..] {
            println!("    {l}");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// The database: a temp SQLite file, or a fresh PostgreSQL database dropped at the end.

impl Target {
    /// Settings for seeding in this process (the replicas get theirs from the environment).
    fn settings(&self) -> Settings {
        let mut s = self.base_settings();
        s.server.bind = "127.0.0.1:0".into();
        s.database.pool_size = 4;
        s.dispatch.enabled = false;
        s.auth.jwt_secret = Some(SecretString::from(JWT_SECRET));
        s
    }
}

fn null_mailer() -> anyhow::Result<Mailer> {
    Mailer::null(&Settings::default().mail.from)
}

/// A connection of the drill's own that reconnects after errors (PostgreSQL restarts).
struct Monitor {
    url: String,
    pg: bool,
    conn: Option<DbConnection>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct RowState {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    reason: Option<String>,
}

impl Monitor {
    fn new(target: &Target) -> anyhow::Result<Self> {
        let mut m = Self { url: target.url.clone(), pg: target.backend == Backend::Postgres, conn: None };
        m.conn()?;
        Ok(m)
    }

    fn conn(&mut self) -> anyhow::Result<&mut DbConnection> {
        if self.conn.is_none() {
            let conn = if self.pg {
                DbConnection::Postgres(PgConnection::establish(&self.url)?)
            } else {
                let path = self.url.trim_start_matches("sqlite://");
                let mut c = SqliteConnection::establish(path)?;
                c.batch_execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")?;
                DbConnection::Sqlite(c)
            };
            self.conn = Some(conn);
        }
        self.conn.as_mut().context("no monitor connection")
    }

    fn load<T>(&mut self, sql: &str) -> anyhow::Result<Vec<T>>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
    {
        let result = match self.conn()? {
            DbConnection::Postgres(c) => diesel::sql_query(sql).load::<T>(c),
            DbConnection::Sqlite(c) => diesel::sql_query(sql).load::<T>(c),
        };
        if result.is_err() {
            self.conn = None;
        }
        Ok(result?)
    }

    fn count_where(&mut self, condition: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM reminders WHERE id LIKE 'drill-%' AND {condition}");
        Ok(self.load::<Count>(&sql)?.first().map_or(0, |c| c.n))
    }

    fn count_photos(&mut self) -> anyhow::Result<i64> {
        Ok(self.load::<Count>("SELECT COUNT(*) AS n FROM photos")?.first().map_or(0, |c| c.n))
    }

    fn sending(&mut self) -> anyhow::Result<Vec<(String, i32)>> {
        let rows: Vec<RowState> = self.load(
            "SELECT id, status, attempts, status_reason AS reason FROM reminders \
             WHERE id LIKE 'drill-%' AND status = 'sending'",
        )?;
        Ok(rows.into_iter().map(|r| (r.id, r.attempts)).collect())
    }

    fn rows(&mut self) -> anyhow::Result<Vec<RowState>> {
        self.load("SELECT id, status, attempts, status_reason AS reason FROM reminders WHERE id LIKE 'drill-%'")
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding (as in benches/dispatch.rs).

/// The drills' clinic: `count` patients (`drill-p-K`, one session each) with these consents.
fn seed_drill_fixture(
    state: &AppState,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    count: usize,
    consent_kinds: &[&str],
) -> anyhow::Result<Fixture> {
    let spec =
        FixtureSpec { prefix: "drill", admin_email: ADMIN_EMAIL, password: PASSWORD, patients: count, consent_kinds };
    seed_fixture(state, conn, now, &spec)
}

/// `count` scheduled reminders, due 60 s + i s before `now` (ids `drill-NNNNNNNNNN`), on patient
/// `i % PATIENTS`, in one statement.
fn insert_due(conn: &mut DbConnection, fx: &Fixture, count: u32, now: DateTime<Utc>) -> anyhow::Result<()> {
    let pg = matches!(conn, DbConnection::Postgres(_));
    let base = to_db(now).format("%Y-%m-%d %H:%M:%S").to_string();
    let (instant, generator, source, id, now_lit) = if pg {
        (
            format!("(TIMESTAMP '{base}' - (60 + i) * INTERVAL '1 second')"),
            String::new(),
            format!("generate_series(1, {count}) AS g(i)"),
            "'drill-' || lpad(CAST(i AS TEXT), 10, '0')".to_owned(),
            format!("TIMESTAMP '{base}'"),
        )
    } else {
        (
            format!("strftime('%Y-%m-%d %H:%M:%S', '{base}', CAST(-(60 + i) AS TEXT) || ' seconds')"),
            format!("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {count}) "),
            "g".to_owned(),
            "'drill-' || printf('%010d', i)".to_owned(),
            format!("'{base}'"),
        )
    };
    let sql = format!(
        "{generator}INSERT INTO reminders (id, clinic_id, patient_id, session_id, protocol_id, step_key, occurrence, \
         kind, planned_at, due_at, status, attempts, status_reason, last_error, sent_at, done_at, created_at, \
         updated_at) \
         SELECT {id}, '{clinic}', 'drill-p-' || CAST(i % {PATIENTS} AS TEXT), \
         'drill-s-' || CAST(i % {PATIENTS} AS TEXT), '{protocol}', 'first_day_care', i, 'avoid', {instant}, \
         {instant}, 'scheduled', 0, NULL, NULL, NULL, NULL, {now_lit}, {now_lit} FROM {source}",
        clinic = fx.clinic_id,
        protocol = fx.protocol_id,
    );
    let inserted = match conn {
        DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c)?,
    };
    anyhow::ensure!(inserted == count as usize, "inserted {inserted} of {count} reminders");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The SMTP sink: one port per replica, each able to go down (listener closed, sessions dropped
// between commands) and come back on the same port. It records every reminder Message-ID with
// the ports it arrived on.

struct Sink {
    ports: Vec<u16>,
    inner: Arc<SinkInner>,
    down: Arc<watch::Sender<bool>>,
}

#[derive(Default)]
struct SinkInner {
    /// Reminder id → the ports (replica indexes) it was received on, in order.
    ids: Mutex<HashMap<String, Vec<usize>>>,
    per_port: Vec<AtomicUsize>,
    total: AtomicUsize,
    others: AtomicUsize,
}

fn bind_reuse(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(256)
}

impl Sink {
    async fn start(ports: usize) -> anyhow::Result<Self> {
        let inner =
            Arc::new(SinkInner { per_port: (0..ports).map(|_| AtomicUsize::new(0)).collect(), ..Default::default() });
        let (down, _) = watch::channel(false);
        let down = Arc::new(down);
        let mut bound = Vec::new();
        for idx in 0..ports {
            let listener = bind_reuse(0)?;
            let port = listener.local_addr()?.port();
            bound.push(port);
            tokio::spawn(run_port(inner.clone(), idx, port, listener, down.subscribe()));
        }
        Ok(Self { ports: bound, inner, down })
    }

    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    fn total(&self) -> usize {
        self.inner.total.load(Ordering::SeqCst)
    }

    fn others(&self) -> usize {
        self.inner.others.load(Ordering::SeqCst)
    }

    fn port_count(&self, idx: usize) -> usize {
        self.inner.per_port.get(idx).map_or(0, |c| c.load(Ordering::SeqCst))
    }

    fn received(&self) -> HashMap<String, Vec<usize>> {
        self.inner.ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn run_port(inner: Arc<SinkInner>, idx: usize, port: u16, first: TcpListener, mut down: watch::Receiver<bool>) {
    let mut listener = Some(first);
    loop {
        if let Some(l) = listener.take() {
            loop {
                tokio::select! {
                    accepted = l.accept() => {
                        if let Ok((socket, _)) = accepted {
                            tokio::spawn(session(inner.clone(), idx, socket, down.clone()));
                        }
                    }
                    changed = down.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if *down.borrow_and_update() {
                            break;
                        }
                    }
                }
            }
            // The listener is dropped here: connections are refused until the sink is back.
        }
        if down.wait_for(|d| !*d).await.is_err() {
            return;
        }
        loop {
            match bind_reuse(port) {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(StdDuration::from_millis(50)).await,
            }
        }
    }
}

async fn session(inner: Arc<SinkInner>, idx: usize, socket: TcpStream, mut down: watch::Receiver<bool>) {
    if *down.borrow() {
        return;
    }
    let _ = socket.set_nodelay(true);
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 sink.drills ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = tokio::select! {
            read = lines.read_until(b'\n', &mut line) => read.unwrap_or(0),
            _ = down.wait_for(|d| *d) => 0,
        };
        if n == 0 {
            return;
        }
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
        let reply: &[u8] = match verb.as_slice() {
            b"EHLO" | b"HELO" => b"250-sink.drills\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            b"DATA" => {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                let mut id = None;
                let mut in_headers = true;
                loop {
                    line.clear();
                    if lines.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    if in_headers {
                        if line == b"\r\n" {
                            in_headers = false;
                        } else if line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
                            let value = String::from_utf8_lossy(&line[11..]);
                            id = Some(value.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
                        }
                    }
                }
                inner.total.fetch_add(1, Ordering::SeqCst);
                if let Some(c) = inner.per_port.get(idx) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                match id.as_deref().and_then(|i| i.strip_prefix("reminder-")).and_then(|i| i.split('@').next()) {
                    Some(reminder) => {
                        let mut ids = inner.ids.lock().unwrap_or_else(|p| p.into_inner());
                        ids.entry(reminder.to_owned()).or_default().push(idx);
                    }
                    None => {
                        inner.others.fetch_add(1, Ordering::SeqCst);
                    }
                }
                b"250 2.0.0 queued\r\n"
            }
            b"QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
