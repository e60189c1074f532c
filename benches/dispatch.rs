//! Dispatch benchmark (issues 4 and 7): reminders/s through `deliver_due_reminders` with the
//! null transport and to a loopback SMTP sink, each as a ratio of a raw claim loop on the same
//! database (the dispatcher's claim statement — `FOR UPDATE SKIP LOCKED` on PostgreSQL — then one
//! UPDATE per row, nothing rendered or sent), and the cost of one dispatcher tick with 10
//! thousand vs 1 million stored reminders, with the claim's query plan; and the drain target of
//! issue 24: 2,500 reminders that become due at once, sent by three dispatchers (three app
//! states with their schedulers, default settings) on the same database to a loopback SMTP sink,
//! timed from the insert until the sink has them all (target: under 20 s).
//!
//! ```sh
//! cargo bench --bench dispatch                                   # SQLite in a temp dir
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench dispatch
//! BENCH_SCENARIO=tick cargo bench --bench dispatch               # or `throughput`, `drain`; default all
//! ```
//!
//! Sizes: `BENCH_N` (due reminders per null-transport run; 5,000 on SQLite, 20,000 on
//! PostgreSQL), `BENCH_SMTP_N` (per SMTP run; 5,000), `BENCH_RUNS` (3), `BENCH_TICK_REPS` (7),
//! `BENCH_BIG` (1,000,000 stored reminders), `BENCH_DRAIN_N` (2,500 due in the drain scenario),
//! `BENCH_DRAIN_REPLICAS` (3).
//!
//! The tick is measured on a new pool (connections that read the statistics of the table as it
//! is) and, on SQLite, also on a pool whose connections read them during a backlog: see
//! `stale_pool`.
//!
//! Fixtures go in through the repo functions; reminders in bulk with one SQL statement
//! (`generate_series` on PostgreSQL, a recursive CTE on SQLite). On PostgreSQL a fresh database
//! is created on the server named by `BENCH_DATABASE_URL` and dropped at the end.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration as StdDuration, Instant},
};

use aftercare::{
    config::Settings,
    db::{Backend, DbConnection, to_db},
    email::Mailer,
    jobs::dispatch::{DispatchReport, deliver_due_reminders},
    repo::reminders,
    startup::{Overrides, build_state},
    state::AppState,
};
use anyhow::{Context, bail};
use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};
use common::{Fixture, FixtureSpec, Target, seed_fixture};
use diesel::{Connection, QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Text};
use secrecy::SecretString;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    runtime::Runtime,
};

/// Patients the reminders are spread over (the dispatcher works on patients in parallel).
const PATIENTS: usize = 200;
/// Due reminders in the tick-cost scenario.
const TICK_DUE: u32 = 50;
/// Occurrence (and id number) of the first tick-cost due reminder, clear of the background rows.
const DUE_BASE: u32 = 2_000_000_000;
const BATCH_SIZE: i64 = 200;
const CONCURRENCY: usize = 16;
/// Enough for `CONCURRENCY` reminders at once, the claim and the audit writer.
const POOL_SIZE: u32 = 18;
/// Due reminders in the backlog the stale pool's statistics are taken from.
const BACKLOG: u32 = 5_000;

fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty());
    let scenario = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("BENCH_SCENARIO").ok())
        .unwrap_or_else(|| "all".into());
    anyhow::ensure!(
        matches!(scenario.as_str(), "all" | "throughput" | "tick" | "drain"),
        "unknown scenario `{scenario}` (all, throughput, tick, drain)"
    );
    let target = Target::create(admin_url.as_deref(), "bench", "BENCH_DATABASE_URL")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let results = run(&rt, &target, &scenario);
    // The pools' connections end with the runtime, before the database is dropped.
    drop(rt);
    let rows = results?;
    println!();
    println!("{:<10} {:<44} {:>16}", "database", "measurement", "median");
    for row in &rows {
        println!("{:<10} {:<44} {:>16}", target.label(), row.0, row.1);
    }
    Ok(())
}

/// A measurement line of the final table: (what, median).
type Row = (String, String);

fn run(rt: &Runtime, target: &Target, scenario: &str) -> anyhow::Result<Vec<Row>> {
    let env_n = |name: &str, default: u32| -> anyhow::Result<u32> {
        match std::env::var(name) {
            Ok(v) => v.trim().replace('_', "").parse().with_context(|| format!("{name} is not a number")),
            Err(_) => Ok(default),
        }
    };
    let n = env_n("BENCH_N", if target.backend == Backend::Postgres { 20_000 } else { 5_000 })?;
    // Through lettre every message waits ~40 ms (see docs/performance.md), so more would only take longer.
    let smtp_n = env_n("BENCH_SMTP_N", 5_000)?;
    let runs = env_n("BENCH_RUNS", 3)?.max(1);
    let reps = env_n("BENCH_TICK_REPS", 7)?.max(1);
    let big = env_n("BENCH_BIG", 1_000_000)?.max(20_000);

    // The seeding instant, in whole seconds (SQLite stores instants as text, and the bulk rows
    // are computed in SQL). Passes run at the clock's now, as the scheduler's do: the dispatcher
    // checks its lease against the clock.
    let now = Utc::now().trunc_subsecs(0);
    let null_state =
        rt.block_on(build_state(target.settings(None), Overrides { mailer: mailer_null()?, clock: None }))?;
    let mut seed = target.seed_connection()?;
    let t = Instant::now();
    let spec = FixtureSpec {
        prefix: "bench",
        admin_email: "admin@bench.example",
        password: "correct horse battery staple",
        patients: PATIENTS,
        consent_kinds: &["email_reminders"],
    };
    let fx = seed_fixture(&null_state, &mut seed, now, &spec)?;
    println!("[{}] fixture: clinic, {PATIENTS} patients with a session, in {:.1?}", target.label(), t.elapsed());

    // State (and its SMTP pool) is dropped inside the runtime.
    let _runtime = rt.enter();
    let mut rows = Vec::new();
    if scenario == "all" || scenario == "throughput" {
        let sink = rt.block_on(SmtpSink::start())?;
        let smtp_state = rt.block_on(build_state(target.settings(Some(sink.url())), Overrides::default()))?;
        // The references, on the same database: the same claim with each row then marked sent
        // (nothing rendered or sent), and a whole batch claimed and marked per statement.
        let mut reference =
            |label: &str, step: fn(&mut DbConnection) -> anyhow::Result<usize>| -> anyhow::Result<f64> {
                let mut rates = Vec::new();
                for i in 1..=runs {
                    clear_reminders(&mut seed)?;
                    insert_reminders(&mut seed, &fx, Batch::Due { prefix: "raw-", from: 1, count: n, now })?;
                    analyze(&mut seed)?;
                    let t = Instant::now();
                    let done = claim_workers(&null_state, target.backend, step)?;
                    let elapsed = t.elapsed();
                    anyhow::ensure!(done == n as usize, "{label}: {done} of {n} marked");
                    let rate = done as f64 / elapsed.as_secs_f64();
                    println!("[{}] {label}, run {i}: {done} in {elapsed:.2?} = {rate:.0}/s", target.label());
                    rates.push(rate);
                }
                Ok(median(&mut rates))
            };
        let ceiling = reference("ceiling, raw claim loop", raw_claim_step)?;
        let limit = reference("limit, batch claim-and-mark", raw_batch_step)?;
        rows.push((format!("ceiling: raw claim loop ({n} due)"), format!("{ceiling:.0} reminders/s")));
        rows.push((format!("limit: batch claim-and-mark ({n} due)"), format!("{limit:.0} reminders/s")));
        for (label, state, n) in [("null transport", &null_state, n), ("loopback SMTP", &smtp_state, smtp_n)] {
            let mut rates = Vec::new();
            for i in 1..=runs {
                clear_reminders(&mut seed)?;
                let t = Instant::now();
                insert_reminders(&mut seed, &fx, Batch::Due { prefix: "tp-", from: 1, count: n, now })?;
                analyze(&mut seed)?;
                let seeded = t.elapsed();
                let (before, before_us) = (sink.count(), sink.data_phase_us());
                let t = Instant::now();
                let total = rt.block_on(drain(state))?;
                let elapsed = t.elapsed();
                if total.sent != n as usize {
                    bail!("{label}: {} of {n} reminders sent ({total:?})", total.sent);
                }
                let mut data_phase = String::new();
                if state.mailer.describe() == "smtp" {
                    let got = sink.count() - before;
                    anyhow::ensure!(got == n as usize, "{label}: the sink received {got} of {n} messages");
                    let mean_ms = (sink.data_phase_us() - before_us) as f64 / got as f64 / 1000.0;
                    data_phase = format!("; mean DATA phase at the sink {mean_ms:.1} ms");
                }
                let rate = total.sent as f64 / elapsed.as_secs_f64();
                println!(
                    "[{}] throughput, {label}, run {i}: seeded {n} in {seeded:.1?}; sent {} in {elapsed:.2?} = \
                     {rate:.0}/s{data_phase}",
                    target.label(),
                    total.sent
                );
                rates.push(rate);
            }
            let rate = median(&mut rates);
            rows.push((format!("throughput, {label} ({n} due)"), format!("{rate:.0} reminders/s")));
            rows.push((format!("throughput, {label} / ceiling"), format!("{:.0} %", rate / ceiling * 100.0)));
            rows.push((format!("throughput, {label} / batch limit"), format!("{:.0} %", rate / limit * 100.0)));
        }
    }

    if scenario == "all" || scenario == "drain" {
        let n = env_n("BENCH_DRAIN_N", 2_500)?.max(1);
        let replicas = env_n("BENCH_DRAIN_REPLICAS", 3)?.max(1);
        rows.extend(drain_target(rt, target, &null_state, &mut seed, n, replicas, runs)?);
    }

    if scenario == "all" || scenario == "tick" {
        let stale = match target.backend {
            Backend::Sqlite => Some(stale_pool(rt, target, &mut seed, &fx, now)?),
            Backend::Postgres => None,
        };
        clear_reminders(&mut seed)?;
        let due_ids: Vec<String> = (DUE_BASE..DUE_BASE + TICK_DUE).map(|i| format!("due-{i:010}")).collect();
        insert_reminders(&mut seed, &fx, Batch::Due { prefix: "due-", from: DUE_BASE, count: TICK_DUE, now })?;
        let mut stored = 0;
        for size in [10_000, big] {
            let t = Instant::now();
            insert_reminders(&mut seed, &fx, Batch::Background { from: stored + 1, count: size - stored, now })?;
            analyze(&mut seed)?;
            println!(
                "[{}] tick: {} background reminders added (80 % sent, 20 % due in 1–366 days) and analysed in {:.1?}",
                target.label(),
                size - stored,
                t.elapsed()
            );
            stored = size;
            let label = format!("{}k", size / 1000);
            // A new pool, as after a restart: its connections read the statistics just gathered.
            let state =
                rt.block_on(build_state(target.settings(None), Overrides { mailer: mailer_null()?, clock: None }))?;
            print_plans(&mut *state.db.get()?, now, "a new pool")?;
            let m = tick_cost(rt, &state, &mut seed, &due_ids, reps)?;
            rows.push((format!("tick, {label} stored, nothing due"), fmt_ms(m.idle)));
            rows.push((format!("tick, {label} stored: claim_due of {TICK_DUE}"), fmt_ms(m.claim)));
            rows.push((format!("tick, {label} stored: full pass of {TICK_DUE} (null)"), fmt_ms(m.pass)));
            drop(state);
            if let Some(stale) = &stale {
                print_plans(&mut *stale.db.get()?, now, "a pool with statistics from a backlog")?;
                let m = tick_cost(rt, stale, &mut seed, &due_ids, reps)?;
                rows.push((format!("tick, {label} stored, nothing due, stale stats"), fmt_ms(m.idle)));
                rows.push((format!("tick, {label} stored: claim_due, stale stats"), fmt_ms(m.claim)));
                rows.push((format!("tick, {label} stored: full pass, stale stats"), fmt_ms(m.pass)));
            }
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The database: a temp SQLite file, or a fresh PostgreSQL database dropped at the end.

impl Target {
    fn settings(&self, smtp_url: Option<String>) -> Settings {
        let mut s = self.base_settings();
        s.server.bind = "127.0.0.1:0".into();
        s.database.pool_size = POOL_SIZE;
        s.dispatch.enabled = false;
        s.dispatch.batch_size = BATCH_SIZE;
        s.dispatch.concurrency = CONCURRENCY;
        s.dispatch.daily_cap = 1_000_000_000;
        s.auth.jwt_secret = Some(SecretString::from("bench-secret-bench-secret-bench-secret!"));
        s.mail.smtp_url = smtp_url.map(SecretString::from);
        s
    }
}

fn mailer_null() -> anyhow::Result<Option<Mailer>> {
    Ok(Some(Mailer::null(&Settings::default().mail.from)?))
}

// ---------------------------------------------------------------------------------------------
// Seeding.

/// Reminder rows for one bulk insert; numbers `from..from + count` become the occurrence and
/// the id (zero-padded, so ids arrive in key order), and patient `i % PATIENTS`.
enum Batch {
    /// Scheduled and due: `due_at` is 60 s + (i − from) s before `now`, so consecutive claims
    /// fall on different patients.
    Due { prefix: &'static str, from: u32, count: u32, now: DateTime<Utc> },
    /// History and future: every fifth row scheduled 1 to 366 days ahead, the rest sent 1 to
    /// 366 days ago.
    Background { from: u32, count: u32, now: DateTime<Utc> },
}

fn insert_reminders(conn: &mut DbConnection, fx: &Fixture, batch: Batch) -> anyhow::Result<usize> {
    let pg = matches!(conn, DbConnection::Postgres(_));
    let (prefix, from, count, now) = match batch {
        Batch::Due { prefix, from, count, now } => (prefix, from, count, now),
        Batch::Background { from, count, now } => ("bg-", from, count, now),
    };
    if count == 0 {
        return Ok(0);
    }
    let to = from + (count - 1);
    let spread = "(86400 + (i % 525600) * 60)";
    let (offset, status, attempts, sent) = match batch {
        Batch::Due { .. } => (format!("-(60 + (i - {from}))"), "'scheduled'".to_owned(), "0".to_owned(), None),
        Batch::Background { .. } => (
            format!("CASE WHEN i % 5 = 0 THEN {spread} ELSE -{spread} END"),
            "CASE WHEN i % 5 = 0 THEN 'scheduled' ELSE 'sent' END".to_owned(),
            "CASE WHEN i % 5 = 0 THEN 0 ELSE 1 END".to_owned(),
            Some("i % 5 = 0"),
        ),
    };
    let base = to_db(now).format("%Y-%m-%d %H:%M:%S").to_string();
    let (instant, generator, source, id) = if pg {
        (
            format!("(TIMESTAMP '{base}' + ({offset}) * INTERVAL '1 second')"),
            String::new(),
            format!("generate_series({from}, {to}) AS g(i)"),
            format!("'{prefix}' || lpad(CAST(i AS TEXT), 10, '0')"),
        )
    } else {
        (
            format!("strftime('%Y-%m-%d %H:%M:%S', '{base}', CAST(({offset}) AS TEXT) || ' seconds')"),
            format!("WITH RECURSIVE g(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM g WHERE i < {to}) "),
            "g".to_owned(),
            format!("'{prefix}' || printf('%010d', i)"),
        )
    };
    let now_lit = if pg { format!("TIMESTAMP '{base}'") } else { format!("'{base}'") };
    let sent_at = match sent {
        Some(unsent) => format!("CASE WHEN {unsent} THEN NULL ELSE {instant} END"),
        None => "NULL".to_owned(),
    };
    let sql = format!(
        "{generator}INSERT INTO reminders (id, clinic_id, patient_id, session_id, protocol_id, step_key, occurrence, \
         kind, planned_at, due_at, status, attempts, status_reason, last_error, sent_at, done_at, created_at, \
         updated_at) \
         SELECT {id}, '{clinic}', 'bench-p-' || CAST(i % {PATIENTS} AS TEXT), \
         'bench-s-' || CAST(i % {PATIENTS} AS TEXT), '{protocol}', 'first_day_care', i, 'avoid', {instant}, \
         {instant}, {status}, {attempts}, NULL, NULL, {sent_at}, NULL, {now_lit}, {now_lit} FROM {source}",
        clinic = fx.clinic_id,
        protocol = fx.protocol_id,
    );
    let inserted = match conn {
        DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c)?,
    };
    anyhow::ensure!(inserted == count as usize, "inserted {inserted} of {count} reminders");
    Ok(inserted)
}

fn clear_reminders(conn: &mut DbConnection) -> anyhow::Result<()> {
    match conn {
        DbConnection::Postgres(c) => c.batch_execute("TRUNCATE reminders")?,
        DbConnection::Sqlite(c) => c.batch_execute("DELETE FROM reminders")?,
    }
    Ok(())
}

fn analyze(conn: &mut DbConnection) -> anyhow::Result<()> {
    match conn {
        DbConnection::Postgres(c) => c.batch_execute("VACUUM ANALYZE reminders")?,
        DbConnection::Sqlite(c) => c.batch_execute("ANALYZE")?,
    }
    Ok(())
}

/// A pool whose connections hold planner statistics from a backlog (SQLite only). SQLite reads
/// `sqlite_stat1`/`sqlite_stat4` when a connection loads the schema, and an ANALYZE on another
/// connection does not make it read them again. Here every connection of the pool loads them
/// while the table holds nothing but `BACKLOG` due reminders (as after an outage); the pool is
/// then used on the tables seeded afterwards.
fn stale_pool(
    rt: &Runtime,
    target: &Target,
    seed: &mut DbConnection,
    fx: &Fixture,
    now: DateTime<Utc>,
) -> anyhow::Result<AppState> {
    clear_reminders(seed)?;
    insert_reminders(seed, fx, Batch::Due { prefix: "backlog-", from: 1, count: BACKLOG, now })?;
    analyze(seed)?;
    let state = rt.block_on(build_state(target.settings(None), Overrides { mailer: mailer_null()?, clock: None }))?;
    let mut held = Vec::new();
    for _ in 0..POOL_SIZE {
        let mut pooled = state.db.get()?;
        let conn: &mut DbConnection = &mut pooled;
        if let DbConnection::Sqlite(c) = conn {
            diesel::sql_query("SELECT id FROM reminders LIMIT 1").execute(c)?;
        }
        held.push(pooled);
    }
    drop(held);
    clear_reminders(seed)?;
    Ok(state)
}

// ---------------------------------------------------------------------------------------------
// Measurements.

/// Runs `step` on claim workers (one on SQLite, its single writer; `CONCURRENCY` on PostgreSQL,
/// where `SKIP LOCKED` lets them work side by side), each with its own connection, until a step
/// marks nothing. Returns the rows marked.
fn claim_workers(
    state: &AppState,
    backend: Backend,
    step: impl Fn(&mut DbConnection) -> anyhow::Result<usize> + Sync,
) -> anyhow::Result<usize> {
    let workers = if backend == Backend::Postgres { CONCURRENCY } else { 1 };
    let total = AtomicUsize::new(0);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    let mut conn = state.db.get()?;
                    loop {
                        match step(&mut conn)? {
                            0 => return Ok(()),
                            n => total.fetch_add(n, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a claim worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(total.load(Ordering::Relaxed))
}

/// The ceiling: the dispatcher's own claim statement, then each row marked sent with one UPDATE.
fn raw_claim_step(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let now = Utc::now();
    let batch = reminders::claim_due(conn, to_db(now), to_db(now + Duration::seconds(120)), BATCH_SIZE)?;
    for r in &batch {
        reminders::finish_claim(conn, r, "sent", None, None, to_db(now), to_db(now))?;
    }
    Ok(batch.len())
}

/// The database's limit for a queue consumer that does no per-row work: one statement claims a
/// batch (`SKIP LOCKED` on PostgreSQL) and marks it sent.
fn raw_batch_step(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let now = to_db(Utc::now());
    Ok(match conn {
        DbConnection::Postgres(c) => diesel::sql_query(
            "UPDATE reminders SET status = 'sent', sent_at = $1, updated_at = $1 \
             WHERE id IN (SELECT id FROM reminders WHERE status = 'scheduled' AND due_at <= $1 \
                          ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(BATCH_SIZE)
        .execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(
            "UPDATE reminders SET status = 'sent', sent_at = ?, updated_at = ? \
             WHERE id IN (SELECT id FROM reminders INDEXED BY reminders_due_idx \
                          WHERE status = 'scheduled' AND due_at <= ? ORDER BY due_at LIMIT ?)",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(BATCH_SIZE)
        .execute(c)?,
    })
}

/// Passes (each at the clock's now, as the scheduler runs them) until one claims nothing; the
/// sum of their reports.
async fn drain(state: &AppState) -> anyhow::Result<DispatchReport> {
    let mut total = DispatchReport::default();
    loop {
        let r = deliver_due_reminders(state, state.now()).await?;
        if r.claimed == 0 {
            return Ok(total);
        }
        total.claimed += r.claimed;
        total.sent += r.sent;
        total.skipped += r.skipped;
        total.retried += r.retried;
        total.failed += r.failed;
        total.lost_lease += r.lost_lease;
    }
}

/// The drain target (issue 24): `n` reminders become due at once (spread over enough patients
/// that none reaches the default daily cap) before `replicas` dispatchers, each an app state
/// with its scheduler and the default settings, sending to one loopback SMTP sink. Timed from the
/// insert until the sink has every message and no row is waiting; median of `runs`.
fn drain_target(
    rt: &Runtime,
    target: &Target,
    null_state: &AppState,
    seed: &mut DbConnection,
    n: u32,
    replicas: u32,
    runs: u32,
) -> anyhow::Result<Vec<Row>> {
    let patients = (n as usize).div_ceil(8).max(300);
    let now = Utc::now().trunc_subsecs(0);
    let spec = FixtureSpec {
        prefix: "drain",
        admin_email: "admin@drain.example",
        password: "correct horse battery staple",
        patients,
        consent_kinds: &["email_reminders"],
    };
    let fx = seed_fixture(null_state, seed, now, &spec)?;
    let sink = rt.block_on(SmtpSink::start())?;
    let mut dispatchers = Vec::new();
    for _ in 0..replicas {
        // The defaults, but for the database, the sink and a JWT secret.
        let mut s = target.base_settings();
        s.server.bind = "127.0.0.1:0".into();
        s.auth.jwt_secret = Some(SecretString::from("bench-secret-bench-secret-bench-secret!"));
        s.mail.smtp_url = Some(SecretString::from(sink.url()));
        let state = rt.block_on(build_state(s, Overrides::default()))?;
        let scheduler = rt.block_on(aftercare::jobs::start_scheduler(state.clone()))?;
        dispatchers.push((state, scheduler));
    }
    let d = &dispatchers.first().context("no dispatcher")?.0.settings.dispatch;
    let settings = format!(
        "tick {} s, batch {}, concurrency {}, lease {} s, pool {}",
        d.tick_secs, d.batch_size, d.concurrency, d.lease_secs, dispatchers[0].0.settings.database.pool_size
    );
    let mut times = Vec::new();
    for i in 1..=runs {
        clear_reminders(seed)?;
        let before = sink.count();
        let now = Utc::now().trunc_subsecs(0);
        common::insert_due(seed, &fx, "drain", "drain-", patients, n, now)?;
        let t = Instant::now();
        loop {
            if sink.count() - before >= n as usize && pending(seed)? == 0 {
                break;
            }
            anyhow::ensure!(
                t.elapsed() < StdDuration::from_secs(300),
                "drain: {} of {n} sent after 300 s",
                sink.count() - before
            );
            std::thread::sleep(StdDuration::from_millis(20));
        }
        let elapsed = t.elapsed();
        let got = sink.count() - before;
        let sent = count_sent(seed)?;
        anyhow::ensure!(
            got == n as usize && sent == i64::from(n),
            "drain: the sink got {got}, {sent} rows sent, of {n}"
        );
        println!(
            "[{}] drain, run {i}: {n} due before {replicas} dispatchers ({settings}): all sent in {elapsed:.2?} = {:.0}/s",
            target.label(),
            f64::from(n) / elapsed.as_secs_f64()
        );
        times.push(elapsed);
    }
    for (state, mut scheduler) in dispatchers {
        rt.block_on(scheduler.shutdown())?;
        drop(state);
    }
    clear_reminders(seed)?;
    let median = median_duration(&mut times);
    let verdict = if median < StdDuration::from_secs(20) { "met" } else { "MISSED" };
    Ok(vec![(
        format!("drain: {n} due, {replicas} dispatchers, defaults"),
        format!("{:.1} s (< 20 s {verdict})", median.as_secs_f64()),
    )])
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count_where(seed: &mut DbConnection, condition: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT COUNT(*) AS n FROM reminders WHERE {condition}");
    let rows: Vec<Count> = match seed {
        DbConnection::Postgres(c) => diesel::sql_query(sql).load(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(sql).load(c)?,
    };
    Ok(rows.first().map_or(0, |c| c.n))
}

fn pending(seed: &mut DbConnection) -> anyhow::Result<i64> {
    count_where(seed, "status IN ('scheduled', 'sending')")
}

fn count_sent(seed: &mut DbConnection) -> anyhow::Result<i64> {
    count_where(seed, "status = 'sent'")
}

struct TickCost {
    idle: StdDuration,
    claim: StdDuration,
    pass: StdDuration,
}

/// Medians over `reps` of: a pass with nothing due; `claim_due` of the due rows alone (rolled
/// back); a full pass over them (claim, decide, render, null send, record). The due rows are
/// put back to `scheduled` between repetitions.
fn tick_cost(
    rt: &Runtime,
    state: &AppState,
    seed: &mut DbConnection,
    due_ids: &[String],
    reps: u32,
) -> anyhow::Result<TickCost> {
    let (mut idle, mut claim, mut pass) = (Vec::new(), Vec::new(), Vec::new());
    let lease = Duration::seconds(state.settings.dispatch.lease_secs);
    let reset = format!(
        "UPDATE reminders SET status = 'scheduled', attempts = 0, sent_at = NULL, status_reason = NULL, \
         due_at = planned_at WHERE id IN ({})",
        due_ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ")
    );
    // One pass to warm the pool and the caches, not counted.
    rt.block_on(deliver_due_reminders(state, state.now()))?;
    for _ in 0..reps {
        reset_due(seed, &reset, due_ids.len())?;
        let mut pooled = state.db.get()?;
        let conn: &mut DbConnection = &mut pooled;
        let now = state.now();
        let t = Instant::now();
        let mut claimed = 0;
        let rolled_back = conn.transaction::<(), diesel::result::Error, _>(|c| {
            claimed = reminders::claim_due(c, to_db(now), to_db(now + lease), BATCH_SIZE)?.len();
            Err(diesel::result::Error::RollbackTransaction)
        });
        claim.push(t.elapsed());
        drop(pooled);
        match rolled_back {
            Err(diesel::result::Error::RollbackTransaction) => {}
            Err(e) => return Err(e.into()),
            Ok(()) => bail!("the claim was not rolled back"),
        }
        anyhow::ensure!(claimed == due_ids.len(), "claim_due took {claimed} of {} due rows", due_ids.len());

        let t = Instant::now();
        let report = rt.block_on(deliver_due_reminders(state, state.now()))?;
        pass.push(t.elapsed());
        anyhow::ensure!(report.sent == due_ids.len(), "a pass sent {} of {} ({report:?})", report.sent, due_ids.len());

        let t = Instant::now();
        let report = rt.block_on(deliver_due_reminders(state, state.now()))?;
        idle.push(t.elapsed());
        anyhow::ensure!(report.claimed == 0, "an idle pass claimed {}", report.claimed);
    }
    for (what, samples) in [("nothing due", &idle), ("claim_due", &claim), ("full pass", &pass)] {
        let ms: Vec<String> = samples.iter().map(|d| format!("{:.2}", d.as_secs_f64() * 1000.0)).collect();
        println!("  {what}, ms: {}", ms.join(" "));
    }
    Ok(TickCost {
        idle: median_duration(&mut idle),
        claim: median_duration(&mut claim),
        pass: median_duration(&mut pass),
    })
}

fn reset_due(seed: &mut DbConnection, sql: &str, expected: usize) -> anyhow::Result<()> {
    let n = match seed {
        DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c)?,
    };
    anyhow::ensure!(n == expected, "reset {n} of {expected} due reminders");
    Ok(())
}

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// The plans of the claim's inner SELECT and of the whole claim statement (not executed).
fn print_plans(conn: &mut DbConnection, now: DateTime<Utc>, whose: &str) -> anyhow::Result<()> {
    let at = to_db(now).format("%Y-%m-%d %H:%M:%S").to_string();
    let lease: NaiveDateTime = to_db(now + Duration::seconds(120));
    let lease = lease.format("%Y-%m-%d %H:%M:%S").to_string();
    let (ts, ts_lease) = match conn {
        DbConnection::Postgres(_) => (format!("TIMESTAMP '{at}'"), format!("TIMESTAMP '{lease}'")),
        DbConnection::Sqlite(_) => (format!("'{at}'"), format!("'{lease}'")),
    };
    // The same text as `repo::reminders::claim_due` (SQLite names the due index explicitly).
    let hint = if matches!(conn, DbConnection::Sqlite(_)) { " INDEXED BY reminders_due_idx" } else { "" };
    let select = format!(
        "SELECT id FROM reminders{hint} WHERE status IN ('scheduled', 'sending') AND due_at <= {ts} ORDER BY due_at \
         LIMIT {BATCH_SIZE}"
    );
    let claim = format!(
        "UPDATE reminders SET status = 'sending', due_at = {ts_lease}, attempts = attempts + 1, updated_at = {ts} \
         WHERE id IN ({select}{}) RETURNING *",
        if matches!(conn, DbConnection::Postgres(_)) { " FOR UPDATE SKIP LOCKED" } else { "" }
    );
    for (what, sql) in [("claim's SELECT", select), ("claim UPDATE", claim)] {
        let lines: Vec<String> = match conn {
            DbConnection::Postgres(c) => {
                diesel::sql_query(format!("EXPLAIN {sql}")).load::<PgPlanLine>(c)?.into_iter().map(|l| l.line).collect()
            }
            DbConnection::Sqlite(c) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<SqlitePlanLine>(c)?
                .into_iter()
                .map(|l| l.detail)
                .collect(),
        };
        println!("  plan of the {what}, on {whose}:");
        for line in lines {
            println!("    {line}");
        }
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn median_duration(values: &mut [StdDuration]) -> StdDuration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn fmt_ms(d: StdDuration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------------
// A loopback SMTP sink: enough of RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
// QUIT), answering each command line as it is read (so pipelined commands work), counting
// messages and keeping none.

#[derive(Clone)]
struct SmtpSink {
    port: u16,
    received: Arc<AtomicUsize>,
    /// Microseconds from the `354` reply to the end-of-data line, summed over messages.
    data_phase_us: Arc<AtomicU64>,
}

impl SmtpSink {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let sink =
            SmtpSink { port: listener.local_addr()?.port(), received: Arc::default(), data_phase_us: Arc::default() };
        let accepting = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let session = accepting.clone();
                tokio::spawn(async move { session.serve(socket).await });
            }
        });
        Ok(sink)
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn count(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    fn data_phase_us(&self) -> u64 {
        self.data_phase_us.load(Ordering::SeqCst)
    }

    async fn serve(&self, socket: tokio::net::TcpStream) {
        let _ = socket.set_nodelay(true);
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        if write.write_all(b"220 sink.bench ESMTP\r\n").await.is_err() {
            return;
        }
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            if lines.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
            let reply: &[u8] = match verb.as_slice() {
                b"EHLO" | b"HELO" => b"250-sink.bench\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
                b"DATA" => {
                    if write.write_all(b"354 go ahead\r\n").await.is_err() {
                        return;
                    }
                    let started = Instant::now();
                    loop {
                        line.clear();
                        if lines.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == b".\r\n" {
                            break;
                        }
                    }
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.data_phase_us.fetch_add(us, Ordering::SeqCst);
                    self.received.fetch_add(1, Ordering::SeqCst);
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
}
