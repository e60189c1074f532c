//! HTTP load benchmark (issue 7): the release server (`target/release/aftercare serve`, a child
//! process on loopback) driven by `wrk`, against a seeded clinic at two sizes, next to two
//! ceilings measured the same way on the same machine.
//!
//! ```sh
//! scripts/bench/http.sh                                  # builds the server, installs wrk, SQLite
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench/http.sh
//! ```
//!
//! (`cargo bench --bench load` alone expects `target/release/aftercare` to be built already.)
//!
//! Sizes: `large` = 10,000 patients, 30,000 sessions, 300,000 reminders, 50,000 check-ins (and
//! 30,000 scores, one per session, for the progress read); `small` = a tenth of each. Every patient
//! has an account (one shared argon2id hash, so logins are real), a course and a screening.
//!
//! Scenarios, each `BENCH_RUNS` (3) times for `BENCH_DURATION` (10) seconds after a
//! `BENCH_WARMUP` (2) second warm-up, interleaved, median reported; wrk with `BENCH_THREADS` (2)
//! threads and `BENCH_CONNECTIONS` (32) connections for every scenario:
//! - `login`: `POST /api/v1/auth/login`, 1,000 patients in rotation (argon2id by design);
//! - `me/reminders`: `GET /api/v1/me/reminders`, 64 patients' access tokens in rotation;
//! - `me/checkins POST`: `POST /api/v1/me/checkins`, the same tokens;
//! - `patients list`: `GET /api/v1/patients` as the admin (first page, 50);
//! - `patient progress`: `GET /api/v1/patients/{id}/progress` as the admin, 1,000 patients;
//! - ceiling (a) `bare`: an actix-web handler returning a fixed JSON body;
//! - ceiling (b) `1 query`: a handler reading one patient by primary key through
//!   `aftercare::db::Db::run` (`repo::patients::find_by_id`), 1,000 ids in rotation.
//!
//! The ceilings are served by one small actix-web server hosted in this bench process (on its
//! own thread, with the same worker count and the same pool size as the real server, over the
//! same database); it is idle while the real server is measured, and the real server is idle
//! while the ceilings are. The real server runs with its defaults except: the dispatcher off
//! (no background work in the measurement), login rate limits raised, log level `BENCH_LOG`
//! (`info`, as in production) in JSON to a file, workers `BENCH_WORKERS` (default: the cores);
//! its environment is cleared but for those settings (and `MALLOC_ARENA_MAX`,
//! `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` when set).
//! Its RSS (VmRSS sampled every 100 ms under load, VmHWM at the end) is read from /proc.
//!
//! On SQLite the database is a temp file; with `BENCH_DATABASE_URL` a fresh PostgreSQL database
//! per size is created on that server and dropped at the end. `BENCH_SIZES=small` or `large`
//! runs one size only; `BENCH_SCENARIOS=reminders,patients` (names: login, reminders, checkins,
//! patients, progress) runs only those next to the two ceilings. `BENCH_KEEP_DB=dir` keeps a copy
//! of each seeded SQLite database as `dir/small.db` and `dir/large.db`.

mod common;

use std::{
    fs,
    io::Write,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration as StdDuration, Instant},
};

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use aftercare::{
    db::{Backend, Db, DbConnection, to_db},
    repo::patients,
    security::password,
    services::{bootstrap, reminders::current_protocol},
    startup::open_database,
};
use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use common::Target;
use diesel::{Connection, RunQueryDsl, connection::SimpleConnection};
use serde::Deserialize;
use tokio::runtime::Runtime;

const PASSWORD: &str = "correct horse battery staple";
const ADMIN_EMAIL: &str = "admin@bench.example";
const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret!";
/// Patients whose access tokens the patient scenarios rotate through.
const TOKENS: u32 = 64;
/// Patients (emails / ids) the login, progress and single-query scenarios rotate through.
const ROTATION: u32 = 1_000;
/// Targets from issue 7.
const READ_TARGET: f64 = 0.50;
const SCALE_TARGET: f64 = 1.3;
const RSS_TARGET_MB: f64 = 150.0;

#[derive(Clone, Copy)]
struct Size {
    label: &'static str,
    patients: u32,
    sessions: u32,
    reminders: u32,
    checkins: u32,
}

const SIZES: [Size; 2] = [
    Size { label: "small", patients: 1_000, sessions: 3_000, reminders: 30_000, checkins: 5_000 },
    Size { label: "large", patients: 10_000, sessions: 30_000, reminders: 300_000, checkins: 50_000 },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Login,
    Reminders,
    Checkin,
    PatientList,
    Progress,
    Bare,
    OneQuery,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Scenario::Bare,
        Scenario::OneQuery,
        Scenario::Reminders,
        Scenario::Checkin,
        Scenario::PatientList,
        Scenario::Progress,
        Scenario::Login,
    ];

    fn label(self) -> &'static str {
        match self {
            Scenario::Login => "login (POST /auth/login)",
            Scenario::Reminders => "GET /me/reminders (patient)",
            Scenario::Checkin => "POST /me/checkins (patient)",
            Scenario::PatientList => "GET /patients (admin)",
            Scenario::Progress => "GET /patients/{id}/progress (admin)",
            Scenario::Bare => "ceiling (a): bare handler",
            Scenario::OneQuery => "ceiling (b): 1 indexed query",
        }
    }

    fn is_ceiling(self) -> bool {
        matches!(self, Scenario::Bare | Scenario::OneQuery)
    }

    /// Authenticated reads, held to the 50 % target.
    fn is_read(self) -> bool {
        matches!(self, Scenario::Reminders | Scenario::PatientList | Scenario::Progress)
    }

    /// The scenario's short name (`BENCH_SCENARIOS`), also its request file's stem.
    fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::Reminders => "reminders",
            Scenario::Checkin => "checkins",
            Scenario::PatientList => "patients",
            Scenario::Progress => "progress",
            Scenario::Bare => "bare",
            Scenario::OneQuery => "query",
        }
    }
}

struct Config {
    admin_url: Option<String>,
    runs: u32,
    duration: u32,
    warmup: u32,
    connections: u32,
    threads: u32,
    workers: usize,
    log: String,
    sizes: Vec<Size>,
    /// The scenarios to run (`BENCH_SCENARIOS`, by file stem: `reminders,patients`); the two
    /// ceilings always run.
    scenarios: Vec<Scenario>,
    server_bin: PathBuf,
    lua: PathBuf,
    /// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/<pid>/stat` CPU times.
    clock_ticks: f64,
}

impl Config {
    fn from_env() -> anyhow::Result<Self> {
        let num = |name: &str, default: u32| -> anyhow::Result<u32> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    v.trim().replace('_', "").parse().with_context(|| format!("{name} is not a number"))
                }
                _ => Ok(default),
            }
        };
        let cores = thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let server_bin = match std::env::var("BENCH_SERVER_BIN") {
            Ok(p) if !p.is_empty() => PathBuf::from(p),
            _ => root.join("target/release/aftercare"),
        };
        anyhow::ensure!(
            server_bin.exists(),
            "{} is missing: run scripts/bench/http.sh (or cargo build --release --locked) first",
            server_bin.display()
        );
        let sizes = match std::env::var("BENCH_SIZES").ok().filter(|s| !s.trim().is_empty()) {
            None => SIZES.to_vec(),
            Some(list) => {
                let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
                let sizes: Vec<Size> = SIZES.iter().copied().filter(|s| wanted.contains(&s.label)).collect();
                anyhow::ensure!(!sizes.is_empty(), "BENCH_SIZES `{list}` names no size (small, large)");
                sizes
            }
        };
        let scenarios = match std::env::var("BENCH_SCENARIOS").ok().filter(|s| !s.trim().is_empty()) {
            None => Scenario::ALL.to_vec(),
            Some(list) => {
                let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
                let known = Scenario::ALL.map(Scenario::name).join(", ");
                for w in &wanted {
                    anyhow::ensure!(
                        Scenario::ALL.iter().any(|s| s.name() == *w),
                        "BENCH_SCENARIOS: `{w}` is not one of {known}"
                    );
                }
                Scenario::ALL.into_iter().filter(|s| s.is_ceiling() || wanted.contains(&s.name())).collect()
            }
        };
        let connections = num("BENCH_CONNECTIONS", 32)?.max(1);
        let clock_ticks = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .context("getconf CLK_TCK gave no number")?;
        Ok(Self {
            admin_url: std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()),
            runs: num("BENCH_RUNS", 3)?.max(1),
            duration: num("BENCH_DURATION", 10)?.max(1),
            warmup: num("BENCH_WARMUP", 2)?,
            connections,
            threads: num("BENCH_THREADS", 2)?.clamp(1, connections),
            workers: usize::try_from(num("BENCH_WORKERS", u32::try_from(cores).unwrap_or(2))?)?.max(1),
            log: std::env::var("BENCH_LOG").ok().filter(|l| !l.is_empty()).unwrap_or_else(|| "info".into()),
            sizes,
            scenarios,
            server_bin,
            lua: root.join("scripts/bench/rotate.lua"),
            clock_ticks,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let wrk_version = Command::new("wrk").arg("--version").output();
    anyhow::ensure!(wrk_version.is_ok(), "wrk is not installed (apt-get install wrk, or run scripts/bench/http.sh)");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let label = if cfg.admin_url.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "HTTP load benchmark, {label}: wrk -t{} -c{}, {} s per measurement (+{} s warm-up), median of {}, \
         {} server workers",
        cfg.threads, cfg.connections, cfg.duration, cfg.warmup, cfg.runs, cfg.workers
    );
    let t = Instant::now();
    let hash = password::hash_blocking(PASSWORD)?;
    let mut reports = Vec::new();
    for size in &cfg.sizes {
        reports.push(bench_size(&cfg, &rt, *size, &hash)?);
    }
    drop(rt);
    print_summary(&cfg, label, &reports);
    println!("\n[{label}] whole run: {:.1?}", t.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One size: a database, seeded; the ceilings and the real server over it; the measurements.

struct SizeReport {
    size: Size,
    /// Per scenario: the median of the runs (and the runs' req/s, for the log).
    results: Vec<(Scenario, Measure)>,
    /// Largest VmRSS sampled while each scenario ran (MiB).
    rss_under_load: Vec<(Scenario, f64)>,
    /// VmHWM after the reads and check-ins (and 65 one-at-a-time logins for tokens), before the
    /// login scenario.
    vm_hwm_without_login_mb: f64,
    vm_hwm_mb: f64,
    vm_rss_end_mb: f64,
    problems: Vec<String>,
}

fn bench_size(cfg: &Config, rt: &Runtime, size: Size, hash: &str) -> anyhow::Result<SizeReport> {
    let target = Target::create(cfg.admin_url.as_deref(), "load", "BENCH_DATABASE_URL")?;
    let tag = format!("{} {}", target.label(), size.label);
    let now = Utc::now().trunc_subsecs(0);
    let t = Instant::now();
    let settings = target.base_settings();
    let db = rt.block_on(open_database(&settings))?;
    seed(&db, &target, size, hash, now)?;
    println!(
        "[{tag}] seeded {} patients (with accounts), {} sessions, {} reminders, {} check-ins, {} scores in {:.1?}",
        size.patients,
        size.sessions,
        size.reminders,
        size.checkins,
        size.sessions,
        t.elapsed()
    );

    let ceiling = CeilingServer::start(db.clone(), cfg.workers)?;
    let mut server = ServerProcess::start(cfg, &target)?;
    let outcome = measure_size(cfg, rt, &tag, size, &target, &ceiling, &mut server);
    let stopped = server.stop();
    rt.block_on(ceiling.stop());
    drop(db);
    let report = outcome?;
    stopped?;
    // The PostgreSQL database is dropped with the target, after everything using it has stopped.
    drop(target);
    Ok(report)
}

fn measure_size(
    cfg: &Config,
    rt: &Runtime,
    tag: &str,
    size: Size,
    target: &Target,
    ceiling: &CeilingServer,
    server: &mut ServerProcess,
) -> anyhow::Result<SizeReport> {
    let client = reqwest::Client::builder().timeout(StdDuration::from_secs(30)).build()?;
    rt.block_on(server.wait_ready(&client))?;
    // Access tokens are valid for 15 minutes: taken now, for this size's measurements.
    let t = Instant::now();
    let admin_token = rt.block_on(login(&client, server.port, ADMIN_EMAIL))?;
    let mut patient_tokens = Vec::new();
    for k in 0..TOKENS.min(size.patients) {
        let p = spread(k, TOKENS, size.patients);
        patient_tokens.push(rt.block_on(login(&client, server.port, &patient_email(p)))?);
    }
    println!("[{tag}] logged in the admin and {} patients in {:.1?}", patient_tokens.len(), t.elapsed());

    let files = write_request_files(target.dir.path(), size, &admin_token, &patient_tokens)?;
    for &scenario in &cfg.scenarios {
        let port = if scenario.is_ceiling() { ceiling.port } else { server.port };
        let bytes = rt
            .block_on(check_first(&client, port, &files.path(scenario)))
            .with_context(|| format!("the first request of `{}` failed", scenario.label()))?;
        println!("[{tag}] {}: first response {bytes} bytes", scenario.label());
    }

    let mut runs: Vec<(Scenario, Vec<Measure>)> = cfg.scenarios.iter().map(|s| (*s, Vec::new())).collect();
    let mut rss: Vec<(Scenario, f64)> = cfg.scenarios.iter().map(|s| (*s, 0.0)).collect();
    let mut problems = Vec::new();
    // Two phases: everything but login (runs interleaved), then login. argon2id's memory stays
    // with the allocator after a burst of logins, so the first phase's VmHWM is the server's
    // peak without a login burst, the second's the peak with one.
    let mut hwm_without_login = 0.0;
    for phase in [false, true] {
        let in_phase = |s: Scenario| (s == Scenario::Login) == phase;
        for &scenario in cfg.scenarios.iter().filter(|s| in_phase(**s)) {
            let port = if scenario.is_ceiling() { ceiling.port } else { server.port };
            if cfg.warmup > 0 {
                let pid = if scenario.is_ceiling() { std::process::id() } else { server.pid() };
                run_wrk(cfg, port, pid, &files.path(scenario), cfg.warmup)?;
            }
        }
        for run in 1..=cfg.runs {
            for (scenario, measures) in runs.iter_mut().filter(|(s, _)| in_phase(*s)) {
                let (port, pid) =
                    if scenario.is_ceiling() { (ceiling.port, None) } else { (server.port, Some(server.pid())) };
                let sampler = pid.map(RssSampler::start);
                let m = run_wrk(cfg, port, pid.unwrap_or_else(std::process::id), &files.path(*scenario), cfg.duration)?;
                if let Some(sampler) = sampler {
                    let peak = sampler.stop();
                    if let Some(slot) = rss.iter_mut().find(|(s, _)| s == scenario) {
                        slot.1 = slot.1.max(peak);
                    }
                }
                println!(
                    "[{tag}] run {run}: {:<38} {:>9.0} req/s  p50 {:>8}  p99 {:>8}  CPU {:>4.0} µs/req{}",
                    scenario.label(),
                    m.rps,
                    fmt_us(m.p50_us),
                    fmt_us(m.p99_us),
                    m.cpu_us,
                    m.problems()
                );
                if !m.problems().is_empty() {
                    problems.push(format!("{} run {run}:{}", scenario.label(), m.problems()));
                }
                measures.push(m);
            }
        }
        if !phase {
            hwm_without_login = proc_status(server.pid())?.hwm_mb;
        }
    }
    let status = proc_status(server.pid())?;
    let results = runs.into_iter().map(|(s, mut ms)| (s, Measure::median(&mut ms))).collect();
    Ok(SizeReport {
        size,
        results,
        rss_under_load: rss,
        vm_hwm_without_login_mb: hwm_without_login,
        vm_hwm_mb: status.hwm_mb,
        vm_rss_end_mb: status.rss_mb,
        problems,
    })
}

/// The `k`-th of `count` patient numbers spread evenly over `1..=patients`.
fn spread(k: u32, count: u32, patients: u32) -> u32 {
    let count = count.clamp(1, patients.max(1));
    1 + (u64::from(k % count) * u64::from(patients) / u64::from(count)) as u32
}

fn patient_email(p: u32) -> String {
    format!("patient{p}@bench.example")
}

fn patient_id(p: u32) -> String {
    format!("p-{p:08}")
}

async fn login(client: &reqwest::Client, port: u16, email: &str) -> anyhow::Result<String> {
    let res = client
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await?;
    anyhow::ensure!(status.is_success(), "login of {email}: {status} {body}");
    body.get("access_token")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login of {email}: no access_token in {body}"))
}

// ---------------------------------------------------------------------------------------------
// Request files for wrk (scripts/bench/rotate.lua): METHOD \t PATH \t TOKEN \t BODY per line.

struct RequestFiles {
    dir: PathBuf,
}

impl RequestFiles {
    fn path(&self, scenario: Scenario) -> PathBuf {
        self.dir.join(format!("{}.tsv", scenario.name()))
    }
}

fn write_request_files(
    dir: &Path,
    size: Size,
    admin_token: &str,
    patient_tokens: &[String],
) -> anyhow::Result<RequestFiles> {
    let rotation = ROTATION.min(size.patients);
    let mut lines: Vec<(Scenario, Vec<String>)> = Vec::new();
    lines.push((
        Scenario::Login,
        (0..rotation)
            .map(|k| {
                let email = patient_email(spread(k, rotation, size.patients));
                let body = serde_json::json!({ "email": email, "password": PASSWORD });
                format!("POST\t/api/v1/auth/login\t\t{body}")
            })
            .collect(),
    ));
    lines.push((
        Scenario::Reminders,
        patient_tokens.iter().map(|t| format!("GET\t/api/v1/me/reminders\t{t}\t")).collect(),
    ));
    lines.push((
        Scenario::Checkin,
        patient_tokens
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let body = serde_json::json!({ "redness": 2, "swelling": 1, "pain": 1 + k % 3, "itch": 0 });
                format!("POST\t/api/v1/me/checkins\t{t}\t{body}")
            })
            .collect(),
    ));
    lines.push((Scenario::PatientList, vec![format!("GET\t/api/v1/patients\t{admin_token}\t")]));
    lines.push((
        Scenario::Progress,
        (0..rotation)
            .map(|k| {
                let id = patient_id(spread(k, rotation, size.patients));
                format!("GET\t/api/v1/patients/{id}/progress\t{admin_token}\t")
            })
            .collect(),
    ));
    lines.push((Scenario::Bare, vec!["GET\t/bare\t\t".to_owned()]));
    lines.push((
        Scenario::OneQuery,
        (0..rotation)
            .map(|k| format!("GET\t/patient/{}\t\t", patient_id(spread(k, rotation, size.patients))))
            .collect(),
    ));
    let files = RequestFiles { dir: dir.join("requests") };
    fs::create_dir_all(&files.dir)?;
    for (scenario, lines) in lines {
        let mut f = fs::File::create(files.path(scenario))?;
        for line in lines {
            writeln!(f, "{line}")?;
        }
    }
    Ok(files)
}

/// Sends the first request of a file once, and insists on a 2xx (a wrong token or body would
/// otherwise be measured as a fast error); the response body's size in bytes.
async fn check_first(client: &reqwest::Client, port: u16, file: &Path) -> anyhow::Result<usize> {
    let text = fs::read_to_string(file)?;
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.splitn(4, '\t');
    let (method, path, token, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut req = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if !body.is_empty() {
        req = req.header("Content-Type", "application/json").body(body.to_owned());
    }
    let res = req.send().await?;
    let status = res.status();
    let body = res.bytes().await?;
    if !status.is_success() {
        bail!("{method} {path}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(body.len())
}

// ---------------------------------------------------------------------------------------------
// wrk.

#[derive(Deserialize, Clone, Copy, Default)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    non2xx: u64,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    timeouts: u64,
}

#[derive(Clone, Copy, Default)]
struct Measure {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// CPU time (user + system) of the serving process per request: steadier than req/s on a
    /// shared machine, since it leaves out the time the server waited for a core.
    cpu_us: f64,
    non2xx: u64,
    socket_errors: u64,
}

impl Measure {
    fn problems(&self) -> String {
        let mut s = String::new();
        if self.non2xx > 0 {
            s.push_str(&format!("  ({} non-2xx)", self.non2xx));
        }
        if self.socket_errors > 0 {
            s.push_str(&format!("  ({} socket errors/timeouts)", self.socket_errors));
        }
        s
    }

    /// Each figure's median over the runs (req/s, p50 and p99 separately).
    fn median(runs: &mut [Measure]) -> Measure {
        let pick = |f: fn(&Measure) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            median(&mut v)
        };
        Measure {
            rps: pick(|m| m.rps),
            p50_us: pick(|m| m.p50_us),
            p99_us: pick(|m| m.p99_us),
            cpu_us: pick(|m| m.cpu_us),
            non2xx: runs.iter().map(|m| m.non2xx).sum(),
            socket_errors: runs.iter().map(|m| m.socket_errors).sum(),
        }
    }
}

/// wrk against `port`, and the CPU time process `pid` (the one serving `port`) used meanwhile.
fn run_wrk(cfg: &Config, port: u16, pid: u32, file: &Path, seconds: u32) -> anyhow::Result<Measure> {
    let cpu_before = cpu_ticks(pid)?;
    let out = Command::new("wrk")
        .args(["-t", &cfg.threads.to_string(), "-c", &cfg.connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
        .arg(&cfg.lua)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(json) = stdout.lines().find_map(|l| l.strip_prefix("BENCH_RESULT ")) else {
        bail!("wrk printed no result ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    };
    let r: WrkResult = serde_json::from_str(json).with_context(|| format!("wrk result `{json}`"))?;
    let cpu_ticks = cpu_ticks(pid)? - cpu_before;
    anyhow::ensure!(r.duration_us > 0, "wrk ran for no time");
    Ok(Measure {
        rps: r.requests as f64 / (r.duration_us as f64 / 1e6),
        p50_us: r.p50_us as f64,
        p99_us: r.p99_us as f64,
        cpu_us: cpu_ticks as f64 * 1e6 / cfg.clock_ticks / r.requests.max(1) as f64,
        non2xx: r.non2xx,
        socket_errors: r.connect_errors + r.read_errors + r.write_errors + r.timeouts,
    })
}

/// User + system CPU time of process `pid` so far, in clock ticks (`/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces, hence the last ')'): state is the
    // 3rd field of the line, utime the 14th, stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    match (field(14), field(15)) {
        (Some(u), Some(s)) => Ok(u + s),
        _ => bail!("cannot read the CPU time of process {pid}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The real server: `aftercare serve` as a child process.

struct ServerProcess {
    child: Child,
    port: u16,
    log: PathBuf,
    stopped: bool,
}

impl ServerProcess {
    fn start(cfg: &Config, target: &Target) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = target.dir.path().join("server.log");
        let log_file = fs::File::create(&log)?;
        let child = Command::new(&cfg.server_bin)
            .arg("serve")
            .env_clear()
            .current_dir(target.dir.path())
            .env("DATABASE_URL", &target.url)
            .env("AFTERCARE__DATA_DIR", target.dir.path())
            .env("AFTERCARE__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("AFTERCARE__SERVER__WORKERS", cfg.workers.to_string())
            .env("AFTERCARE__AUTH__JWT_SECRET", JWT_SECRET)
            .env("AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE", "1000000000")
            .env("AFTERCARE__AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE", "1000000000")
            .env("AFTERCARE__DISPATCH__ENABLED", "false")
            .env("AFTERCARE__LOG__FORMAT", "json")
            .env("AFTERCARE__LOG__LEVEL", &cfg.log)
            .envs(MALLOC_ENV.iter().filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", cfg.server_bin.display()))?;
        Ok(Self { child, port, log, stopped: false })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + StdDuration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}); its log:\n{}", self.log_tail());
            }
            if let Ok(res) = client.get(format!("http://127.0.0.1:{}/readyz", self.port)).send().await
                && res.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server was not ready within 60 s; its log:\n{}", self.log_tail());
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM (a graceful drain), then SIGKILL after 35 s.
    fn stop(&mut self) -> anyhow::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let deadline = Instant::now() + StdDuration::from_secs(35);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(StdDuration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the server did not stop within 35 s of SIGTERM")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// glibc allocator settings passed on to the server when set (the server's environment is
/// otherwise cleared), e.g. `MALLOC_ARENA_MAX=2` to see what the login burst's memory is.
const MALLOC_ENV: [&str; 3] = ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"];

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct ProcStatus {
    rss_mb: f64,
    hwm_mb: f64,
}

fn proc_status(pid: u32) -> anyhow::Result<ProcStatus> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    Ok(ProcStatus { rss_mb: kb("VmRSS:") / 1024.0, hwm_mb: kb("VmHWM:") / 1024.0 })
}

/// Samples the server's VmRSS every 100 ms until stopped; the largest sample, in MiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak_kb: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak_kb.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(status) = proc_status(pid)
                    && status.rss_mb.is_finite()
                {
                    p.fetch_max((status.rss_mb * 1024.0) as u64, Ordering::Relaxed);
                }
                thread::sleep(StdDuration::from_millis(100));
            }
        });
        Self { stop, peak_kb, thread: Some(thread) }
    }

    fn stop(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kb.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

// ---------------------------------------------------------------------------------------------
// The ceilings: one small actix-web server in this process, same worker count as the real one.

struct CeilingServer {
    port: u16,
    handle: ServerHandle,
    thread: Option<thread::JoinHandle<()>>,
}

const BARE_BODY: &str = r#"{"status":"ok","service":"aftercare","version":"0.1.0"}"#;

async fn bare() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(BARE_BODY)
}

async fn one_patient(db: web::Data<Db>, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    match db.run(move |c| patients::find_by_id(c, &id)).await {
        Ok(Some(p)) => HttpResponse::Ok().json(serde_json::json!({
            "id": p.id,
            "name": p.name,
            "email": p.email,
            "time_zone": p.time_zone.name(),
            "created_at": p.created_at,
        })),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

impl CeilingServer {
    fn start(db: Db, workers: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || {
            let system = actix_web::rt::System::new();
            let served = system.block_on(async move {
                let data = web::Data::new(db);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/bare", web::get().to(bare))
                        .route("/patient/{id}", web::get().to(one_patient))
                })
                .workers(workers)
                .disable_signals()
                .listen(listener)?
                .run();
                let _ = tx.send(server.handle());
                server.await
            });
            if let Err(e) = served {
                eprintln!("ceiling server: {e}");
            }
        });
        let handle = rx.recv_timeout(StdDuration::from_secs(30)).context("the ceiling server did not start")?;
        Ok(Self { port, handle, thread: Some(thread) })
    }

    async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding: the clinic and admin through `bootstrap::create_admin`, the default protocol through
// `current_protocol`, everything else in bulk, one INSERT … SELECT per table over a number
// series (`generate_series` on PostgreSQL, a recursive CTE on SQLite).
//
// Row i (1-based) of each table; N patients, S sessions, rounds = S / N sessions per patient:
// - patient/account/course/screening p = i;
// - session i: patient (i - 1) % N + 1, round (i - 1) / N, performed 28 days apart, the last
//   1–20 days ago;
// - reminder i: session (i - 1) / (R / S) + 1, its j-th (j = (i - 1) % (R / S)): a session's
//   reminders side by side, as planning stores them; those of a patient's last session from the
//   8th on are scheduled (up to 4 days ahead), the rest sent;
// - check-in i: patient (i - 1) % N + 1, on the last session, one a day going back;
// - score i: a clinician's CEA (0–4) at session i.

struct Sql {
    pg: bool,
    base: String,
}

impl Sql {
    /// A zero-padded text id: `prefix` and the number `expr`.
    fn id(&self, prefix: &str, expr: &str) -> String {
        if self.pg {
            format!("('{prefix}' || lpad(CAST(({expr}) AS TEXT), 8, '0'))")
        } else {
            format!("('{prefix}' || printf('%08d', {expr}))")
        }
    }

    /// The seeding instant plus `secs` (an SQL integer expression) seconds.
    fn at(&self, secs: &str) -> String {
        if self.pg {
            format!("(TIMESTAMP '{}' + ({secs}) * INTERVAL '1 second')", self.base)
        } else {
            format!("strftime('%Y-%m-%d %H:%M:%S', '{}', CAST(({secs}) AS TEXT) || ' seconds')", self.base)
        }
    }

    fn now(&self) -> String {
        if self.pg { format!("TIMESTAMP '{}'", self.base) } else { format!("'{}'", self.base) }
    }

    /// `INSERT INTO table (columns) SELECT values FROM 1..=count AS i`.
    fn insert(&self, table: &str, columns: &str, count: u32, values: &[String]) -> String {
        let values = values.join(", ");
        if self.pg {
            format!("INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series(1, {count}) AS g(i)")
        } else {
            format!(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {count}) \
                 INSERT INTO {table} ({columns}) SELECT {values} FROM g"
            )
        }
    }
}

fn seed(db: &Db, target: &Target, size: Size, hash: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let admin = bootstrap::create_admin(db, "Bench Clinic", ADMIN_EMAIL, PASSWORD, now)?;
    let (clinic, admin_id) = (admin.clinic_id, admin.account_id);
    let mut conn = target.seed_connection()?;
    let protocol = current_protocol(&mut conn, &clinic, now)?.id;
    let sql = Sql { pg: target.backend == Backend::Postgres, base: to_db(now).format("%Y-%m-%d %H:%M:%S").to_string() };
    let (n, s) = (size.patients, size.sessions);
    let rounds = (s / n).max(1);
    let per_session = (size.reminders / s).max(1);
    let now_lit = sql.now();
    let p_of_session = |session0: &str| format!("({session0} % {n} + 1)");
    let performed = |session0: &str| {
        let (k, p) = (format!("({session0} / {n})"), p_of_session(session0));
        sql.at(&format!("-((({rounds} - 1 - {k}) * 28 + 1 + ({p} % 20)) * 86400)"))
    };
    let statements = [
        sql.insert(
            "accounts",
            "id, clinic_id, email, password_hash, role, created_at, updated_at",
            n,
            &[
                sql.id("a-", "i"),
                format!("'{clinic}'"),
                "'patient' || CAST(i AS TEXT) || '@bench.example'".into(),
                format!("'{hash}'"),
                "'patient'".into(),
                now_lit.clone(),
                now_lit.clone(),
            ],
        ),
        sql.insert(
            "patients",
            "id, clinic_id, account_id, name, email, phone, date_of_birth, time_zone, fitzpatrick, quiet_start, \
             quiet_end, language, clinical_notes, search_text, archived_at, created_at, updated_at",
            n,
            &[
                sql.id("p-", "i"),
                format!("'{clinic}'"),
                sql.id("a-", "i"),
                "'Patient ' || CAST(i AS TEXT)".into(),
                "'patient' || CAST(i AS TEXT) || '@bench.example'".into(),
                "NULL".into(),
                "NULL".into(),
                "'Europe/London'".into(),
                "(i % 6) + 1".into(),
                "'21:00'".into(),
                "'08:00'".into(),
                "'en'".into(),
                "NULL".into(),
                "'patient ' || CAST(i AS TEXT) || ' patient' || CAST(i AS TEXT) || '@bench.example'".into(),
                "NULL".into(),
                sql.at("-(i * 600)"),
                now_lit.clone(),
            ],
        ),
        sql.insert(
            "courses",
            "id, clinic_id, patient_id, concerns, planned_sessions, interval_days, status, notes, created_by, \
             created_at, updated_at",
            n,
            &[
                sql.id("c-", "i"),
                format!("'{clinic}'"),
                sql.id("p-", "i"),
                r#"'["acne_scarring"]'"#.into(),
                rounds.min(12).to_string(),
                "28".into(),
                "'active'".into(),
                "NULL".into(),
                format!("'{admin_id}'"),
                now_lit.clone(),
                now_lit.clone(),
            ],
        ),
        sql.insert(
            "screenings",
            "id, clinic_id, patient_id, answers, outcome, findings, screened_by, override_by, override_reason, \
             overridden_at, created_at",
            n,
            &[
                sql.id("q-", "i"),
                format!("'{clinic}'"),
                sql.id("p-", "i"),
                "'{}'".into(),
                "'clear'".into(),
                "'[]'".into(),
                format!("'{admin_id}'"),
                "NULL".into(),
                "NULL".into(),
                "NULL".into(),
                sql.at(&format!("-(({rounds} * 28 + 30) * 86400)")),
            ],
        ),
        sql.insert(
            "sessions",
            "id, clinic_id, patient_id, course_id, screening_id, performed_at, clinician_id, device_kind, \
             device_model, cartridge_lot, numbing, products_applied, erythema_grade, pinpoint_bleeding, notes, \
             warnings, status, cancel_reason, cancelled_at, created_at, updated_at",
            s,
            &[
                sql.id("s-", "i"),
                format!("'{clinic}'"),
                sql.id("p-", &p_of_session("(i - 1)")),
                sql.id("c-", &p_of_session("(i - 1)")),
                sql.id("q-", &p_of_session("(i - 1)")),
                performed("(i - 1)"),
                format!("'{admin_id}'"),
                "'pen'".into(),
                "'Bench Pen'".into(),
                "NULL".into(),
                "NULL".into(),
                "'[]'".into(),
                "i % 3".into(),
                "FALSE".into(),
                "NULL".into(),
                "'[]'".into(),
                "'completed'".into(),
                "NULL".into(),
                "NULL".into(),
                now_lit.clone(),
                now_lit.clone(),
            ],
        ),
        {
            // A session's reminders are planned together, so they are stored together (as the
            // service writes them: one transaction per session).
            let rs0 = format!("((i - 1) / {per_session})");
            let j = format!("((i - 1) % {per_session})");
            let last = format!("({rs0} / {n} = {rounds} - 1)");
            let scheduled = format!("({last} AND {j} >= {})", per_session.saturating_sub(3));
            let offset = format!(
                "(({j} - {}) * 2 * 86400 + (i % 3600) - ({rounds} - 1 - {rs0} / {n}) * 28 * 86400)",
                per_session.saturating_sub(3)
            );
            let planned = sql.at(&offset);
            sql.insert(
                "reminders",
                "id, clinic_id, patient_id, session_id, protocol_id, step_key, occurrence, kind, planned_at, due_at, \
                 status, attempts, status_reason, last_error, sent_at, done_at, created_at, updated_at",
                size.reminders,
                &[
                    sql.id("r-", "i"),
                    format!("'{clinic}'"),
                    sql.id("p-", &p_of_session(&rs0)),
                    sql.id("s-", &format!("{rs0} + 1")),
                    format!("'{protocol}'"),
                    "'first_day_care'".into(),
                    "i".into(),
                    "'avoid'".into(),
                    planned.clone(),
                    planned.clone(),
                    format!("CASE WHEN {scheduled} THEN 'scheduled' ELSE 'sent' END"),
                    format!("CASE WHEN {scheduled} THEN 0 ELSE 1 END"),
                    "NULL".into(),
                    "NULL".into(),
                    format!("CASE WHEN {scheduled} THEN NULL ELSE {planned} END"),
                    "NULL".into(),
                    now_lit.clone(),
                    now_lit.clone(),
                ],
            )
        },
        {
            let p0 = format!("((i - 1) % {n})");
            let reported = sql.at(&format!("-(((i - 1) / {n}) * 86400 + 3600)"));
            sql.insert(
                "checkins",
                "id, clinic_id, patient_id, session_id, redness, swelling, pain, itch, red_flags, note, reported_at, \
                 created_at",
                size.checkins,
                &[
                    sql.id("k-", "i"),
                    format!("'{clinic}'"),
                    sql.id("p-", &format!("{p0} + 1")),
                    sql.id("s-", &format!("({rounds} - 1) * {n} + {p0} + 1")),
                    "i % 3".into(),
                    "i % 2".into(),
                    "i % 5".into(),
                    "i % 2".into(),
                    "'[]'".into(),
                    "NULL".into(),
                    reported.clone(),
                    reported,
                ],
            )
        },
        sql.insert(
            "scores",
            "id, clinic_id, patient_id, scale_code, scale_version, value, item_values, photo_ids, session_id, \
             time_point, rater, rater_account_id, algorithm_version, roi, baseline_delta, recorded_at, created_at",
            s,
            &[
                sql.id("sc-", "i"),
                format!("'{clinic}'"),
                sql.id("p-", &p_of_session("(i - 1)")),
                "'cea'".into(),
                "(SELECT MAX(version) FROM scales WHERE code = 'cea')".into(),
                format!("CAST(4 - ((i - 1) / {n}) % 5 AS DOUBLE PRECISION)"),
                "NULL".into(),
                "'[]'".into(),
                sql.id("s-", "i"),
                "NULL".into(),
                "'clinician'".into(),
                format!("'{admin_id}'"),
                "NULL".into(),
                "NULL".into(),
                "NULL".into(),
                performed("(i - 1)"),
                now_lit.clone(),
            ],
        ),
    ];
    let expected = [n, n, n, n, s, size.reminders, size.checkins, s];
    conn.transaction::<_, anyhow::Error, _>(|c| {
        for (sql, want) in statements.iter().zip(expected) {
            let got = match c {
                DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c)?,
                DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c)?,
            };
            anyhow::ensure!(got == want as usize, "inserted {got} of {want} rows with: {sql}");
        }
        Ok(())
    })?;
    match &mut conn {
        DbConnection::Postgres(c) => c.batch_execute("VACUUM ANALYZE")?,
        DbConnection::Sqlite(c) => c.batch_execute("ANALYZE")?,
    }
    // A copy of the seeded SQLite database for other tools (`scripts/bench/callgrind.sh`).
    if let (Some(dir), DbConnection::Sqlite(c)) = (std::env::var_os("BENCH_KEEP_DB"), &mut conn) {
        fs::create_dir_all(&dir)?;
        let path = Path::new(&dir).join(format!("{}.db", size.label));
        if path.exists() {
            fs::remove_file(&path)?;
        }
        let quoted = path.to_str().context("BENCH_KEEP_DB is not UTF-8")?.replace('\'', "''");
        c.batch_execute(&format!("VACUUM INTO '{quoted}'"))?;
        println!("kept a copy of the seeded database: {}", path.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Output.

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 { format!("{:.1} ms", us / 1000.0) } else { format!("{us:.0} µs") }
}

fn yes(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn print_summary(cfg: &Config, label: &str, reports: &[SizeReport]) {
    for r in reports {
        let ceiling = r.results.iter().find(|(s, _)| *s == Scenario::OneQuery).map(|(_, m)| m.rps).unwrap_or(f64::NAN);
        println!(
            "\n[{label} {}] {} patients, {} sessions, {} reminders, {} check-ins; wrk -t{} -c{}, {} s, median of {}",
            r.size.label,
            r.size.patients,
            r.size.sessions,
            r.size.reminders,
            r.size.checkins,
            cfg.threads,
            cfg.connections,
            cfg.duration,
            cfg.runs
        );
        println!(
            "| {:<38} | {:>9} | {:>9} | {:>9} | {:>10} | {:>11} | {:>13} |",
            "scenario", "req/s", "p50", "p99", "÷ ceil (b)", "CPU/req", "server VmRSS"
        );
        println!("|{:-<40}|{:->11}|{:->11}|{:->11}|{:->12}|{:->13}|{:->15}|", "", "", "", "", "", "", "");
        for (scenario, m) in &r.results {
            let rss = r
                .rss_under_load
                .iter()
                .find(|(s, _)| s == scenario)
                .filter(|_| !scenario.is_ceiling())
                .map(|(_, mb)| format!("{mb:.0} MiB"))
                .unwrap_or_else(|| "(bench)".into());
            println!(
                "| {:<38} | {:>9.0} | {:>9} | {:>9} | {:>9.0} % | {:>8.0} µs | {:>13} |{}",
                scenario.label(),
                m.rps,
                fmt_us(m.p50_us),
                fmt_us(m.p99_us),
                m.rps / ceiling * 100.0,
                m.cpu_us,
                rss,
                m.problems()
            );
        }
        println!(
            "server VmHWM {:.0} MiB before the login scenario, {:.0} MiB after it; VmRSS at the end {:.0} MiB",
            r.vm_hwm_without_login_mb, r.vm_hwm_mb, r.vm_rss_end_mb
        );
        for p in &r.problems {
            println!("  problem: {p}");
        }
    }

    println!("\n[{label}] targets (issue 7)");
    for r in reports {
        let ceiling = r.results.iter().find(|(s, _)| *s == Scenario::OneQuery).map(|(_, m)| m.rps).unwrap_or(f64::NAN);
        for (scenario, m) in r.results.iter().filter(|(s, _)| s.is_read()) {
            let ratio = m.rps / ceiling;
            println!(
                "  {:<6} {:<38} {:>5.0} % of the single-query ceiling (≥ {:.0} %): {}",
                r.size.label,
                scenario.label(),
                ratio * 100.0,
                READ_TARGET * 100.0,
                yes(ratio >= READ_TARGET)
            );
        }
        let limit_mib = RSS_TARGET_MB * 1e6 / 1_048_576.0;
        for (what, mib) in [("without", r.vm_hwm_without_login_mb), ("with", r.vm_hwm_mb)] {
            println!(
                "  {:<6} server VmHWM {what} the login burst {mib:.0} MiB (< {RSS_TARGET_MB:.0} MB = {limit_mib:.0} \
                 MiB): {}",
                r.size.label,
                yes(mib < limit_mib)
            );
        }
    }
    let small = reports.iter().find(|r| r.size.label == "small");
    let large = reports.iter().find(|r| r.size.label == "large");
    if let (Some(small), Some(large)) = (small, large) {
        // The two sizes run minutes apart, and the machine's speed moves between them: each p50 is
        // taken relative to the single-query ceiling's p50 of its own run, as every other figure.
        let ceiling_p50 = |r: &SizeReport| {
            r.results.iter().find(|(s, _)| *s == Scenario::OneQuery).map(|(_, m)| m.p50_us).unwrap_or(f64::NAN)
        };
        let drift = ceiling_p50(large) / ceiling_p50(small);
        println!(
            "  10× data (large ÷ small), latency; the ceiling's own p50 moved ×{drift:.2} between the two runs, \
             and the target is judged on each p50 relative to its run's ceiling:"
        );
        for ((scenario, s), (_, l)) in small.results.iter().zip(&large.results).filter(|((s, _), _)| !s.is_ceiling()) {
            let (p50, p99) = (l.p50_us / s.p50_us, l.p99_us / s.p99_us);
            let relative = p50 / drift;
            println!(
                "    {:<38} p50 ×{p50:.2} (÷ ceiling ×{relative:.2}), p99 ×{p99:.2}, req/s ×{:.2} (p50 ÷ ceiling < \
                 ×{SCALE_TARGET}): {}",
                scenario.label(),
                l.rps / s.rps,
                yes(relative < SCALE_TARGET)
            );
        }
    }
}
