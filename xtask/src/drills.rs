//! Fault drills (issues 7 and 24) against real `aftercare serve` replicas on one database, each
//! sending to its own port of a loopback SMTP sink ([`crate::sink`]), with the default settings
//! unless a drill says otherwise:
//!
//! - `drain`: N due reminders (default 2,500) appear at once before `--replicas` replicas (3) on
//!   PostgreSQL; all must be sent within the drain target (20 s), each once.
//! - `kill`: the same, and one replica gets `kill -9` mid-batch. The rows it held come back when
//!   their lease ends and the others send them (within lease + a tick); a reminder may be sent a
//!   second time (same Message-ID, same push collapse key) only if the killed replica held it
//!   without an outcome.
//! - `smtp-outage`: one replica; the sink answers 421 while a patient reports a red flag and
//!   reminders are due. The check-in answers at once; the staff alert email must go out within one
//!   tick of the sink accepting mail again; every reminder is sent once.
//! - `smtp-hang`: one replica; the sink accepts connections and never answers. The check-in
//!   answers at once (nothing is sent inside a request); each send is abandoned after
//!   `mail.timeout_secs` and retried; once the sink answers again everything goes out once.
//! - `push-outage`: one replica, every patient with a device; FCM answers 503 UNAVAILABLE while
//!   reminders are due. The emails go out at once, each once; the pushes are retried with the
//!   backoff and each sent once when FCM is back, without a second email.
//! - `pg-restart` (in `all`): three replicas; PostgreSQL restarts mid-drain
//!   (`pg_ctlcluster 15 main restart`, or `DRILLS_PG_RESTART`). Nothing lost or sent twice.
//! - `photos` (in `all`, needs root): see [`crate::photos`].
//!
//! In `drain`, `kill`, `push-outage` and `pg-restart` every patient has also consented to push and has an
//! Android device (patient 0 registers it through `POST /api/v1/me/devices`, the others are
//! seeded), so each reminder goes by email and by push; the replicas send to a loopback FCM
//! ([`crate::fcm`]), each to its own port.
//!
//! Default: `drain kill smtp-outage smtp-hang push-outage`. Counts: planned = the rows the drill created
//! (reminders; alert emails, one per staff member; pushes, one per reminder); sent = distinct
//! Message-IDs the sink accepted (pushes: distinct reminder ids the FCM fake accepted); lost =
//! planned rows neither accepted nor deliberately not sent (skipped, cancelled) at the end;
//! duplicated = ids accepted more than once.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use aftercare::{
    config::Settings,
    db::{Backend, DbConnection, new_id, to_db},
    email::Mailer,
    repo::{
        accounts::{self, Account},
        devices::{self, Device},
    },
    security::password,
    startup::{Overrides, build_state},
    state::AppState,
};
use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::{
    Connection, QueryableByName, RunQueryDsl,
    connection::SimpleConnection,
    pg::{Pg, PgConnection},
    sql_types::{BigInt, Integer, Nullable, Text},
    sqlite::{Sqlite, SqliteConnection},
};
use secrecy::SecretString;
use serde_json::json;
use tokio::runtime::Runtime;

use crate::{
    common::{Fixture, FixtureSpec, Target, insert_due, seed_fixture},
    fcm::FcmFake,
    replica::{JWT_SECRET, Replica},
    report::{DrillReport, Tally, secs},
    sink::{Mode, Received, Sink},
};

pub const PASSWORD: &str = "correct horse battery staple";
pub const ADMIN_EMAIL: &str = "admin@drills.example";
const PATIENT_EMAIL: &str = "patient0@drills.example";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Reminders in the SMTP drills (the drain drills take `--reminders`).
const SMTP_DRILL_REMINDERS: u32 = 300;

#[derive(clap::Args)]
pub struct Args {
    /// Drills to run: drain, kill, smtp-outage, smtp-hang, push-outage, pg-restart, photos, or
    /// all (default: drain kill smtp-outage smtp-hang push-outage).
    drills: Vec<String>,
    /// PostgreSQL server the drills create their databases on (each drill a fresh one, dropped
    /// at the end).
    #[arg(long, env = "DRILLS_DATABASE_URL", default_value = DEFAULT_PG)]
    database_url: String,
    /// Replicas in the drain, kill and pg-restart drills.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Due reminders in the drain, kill and pg-restart drills.
    #[arg(long, default_value_t = 2_500)]
    reminders: u32,
    /// The drain target: every reminder sent within this many seconds of becoming due.
    #[arg(long, default_value_t = 20)]
    target_secs: u64,
    /// How long the SMTP sink refuses (421) or hangs in the SMTP drills, and FCM answers 503 in
    /// push-outage.
    #[arg(long, default_value_t = 20)]
    outage_secs: u64,
    /// The server binary; by default it is built (`cargo build --release`) first.
    #[arg(long, env = "DRILLS_BIN")]
    bin: Option<PathBuf>,
    /// Build and run the debug binary instead of the release one.
    #[arg(long)]
    debug: bool,
    /// Longest a drill waits for every row to have an outcome.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// The defaults the replicas run with (they set none of these).
struct Defaults {
    tick: Duration,
    lease: Duration,
    mail_timeout: Duration,
}

fn defaults() -> Defaults {
    let s = Settings::default();
    Defaults {
        tick: Duration::from_secs(u64::from(s.dispatch.tick_secs)),
        lease: Duration::from_secs(u64::try_from(s.dispatch.lease_secs).unwrap_or(30)),
        mail_timeout: Duration::from_secs(s.mail.timeout_secs),
    }
}

/// Runs the drills and prints their tables; whether all passed.
pub fn run(args: Args) -> anyhow::Result<bool> {
    const KNOWN: [&str; 7] = ["drain", "kill", "smtp-outage", "smtp-hang", "push-outage", "pg-restart", "photos"];
    let mut drills: Vec<String> = Vec::new();
    let asked = if args.drills.is_empty() { vec!["default".to_owned()] } else { args.drills.clone() };
    for d in asked {
        match d.as_str() {
            "default" => drills.extend(KNOWN[..5].iter().map(|s| (*s).to_owned())),
            "all" => drills.extend(KNOWN.iter().map(|s| (*s).to_owned())),
            one if KNOWN.contains(&one) => drills.push(one.to_owned()),
            other => bail!(
                "unknown drill `{other}` (drain, kill, smtp-outage, smtp-hang, push-outage, pg-restart, photos, all)"
            ),
        }
    }
    anyhow::ensure!(args.replicas >= 2, "--replicas must be at least 2");
    let bin = match &args.bin {
        Some(bin) => {
            anyhow::ensure!(bin.is_file(), "{} is not a file", bin.display());
            // Absolute: the replicas run in their own directories.
            std::fs::canonicalize(bin)?
        }
        None => crate::build_server(args.debug)?,
    };
    println!("drills: {} with {}", drills.join(", "), bin.display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut reports = Vec::new();
    for drill in &drills {
        println!("\n=== drill: {drill} ===");
        let t = Instant::now();
        let result = match drill.as_str() {
            "drain" => drain_drill(&rt, &args, &bin, false),
            "kill" => drain_drill(&rt, &args, &bin, true),
            "smtp-outage" => smtp_drill(&rt, &args, &bin, Mode::Refuse),
            "smtp-hang" => smtp_drill(&rt, &args, &bin, Mode::Hang),
            "push-outage" => push_outage_drill(&rt, &args, &bin),
            "pg-restart" => pg_restart_drill(&rt, &args, &bin),
            "photos" => crate::photos::drill(&rt, &bin),
            other => bail!("unknown drill {other}"),
        };
        match result {
            Ok(report) => {
                println!("=== {drill} finished in {:.0?}", t.elapsed());
                reports.push(report);
            }
            Err(e) => {
                println!("=== {drill} could not complete: {e:#}");
                let mut failed = DrillReport::new(drill, "did not complete".into());
                failed.check("completes", format!("{e:#}"), false);
                reports.push(failed);
            }
        }
    }
    drop(rt);
    println!("\n================ drill results ================");
    for r in &reports {
        r.print();
    }
    let passed = reports.iter().all(DrillReport::passed);
    println!("\n{}", if passed { "all drills passed" } else { "some drills FAILED" });
    Ok(passed)
}

// ---------------------------------------------------------------------------------------------
// The test bed: a database seeded through the library, the sink, the replicas.

struct Bed {
    target: Target,
    monitor: Monitor,
    sink: Sink,
    /// The loopback FCM, when the drill exercises push.
    fcm: Option<FcmFake>,
    replicas: Vec<Replica>,
    client: reqwest::Client,
    fx: Fixture,
    patients: usize,
}

/// Whether a drill's patients also get their reminders by push.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Channels {
    Email,
    EmailAndPush,
}

/// Settings for seeding in this process (the replicas get theirs from the environment).
pub fn seeding_state(rt: &Runtime, target: &Target) -> anyhow::Result<AppState> {
    let mut s = target.base_settings();
    s.server.bind = "127.0.0.1:0".into();
    s.database.pool_size = 4;
    s.dispatch.enabled = false;
    s.auth.jwt_secret = Some(SecretString::from(JWT_SECRET));
    let mailer = Mailer::null(&Settings::default().mail.from)?;
    rt.block_on(build_state(s, Overrides { mailer: Some(mailer), clock: None }))
}

/// The drills' clinic: an admin, `patients` patients (`drill-p-K`, one completed session each)
/// with these consents.
pub fn seed_clinic(
    state: &AppState,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    patients: usize,
    consent_kinds: &[&str],
) -> anyhow::Result<Fixture> {
    let spec = FixtureSpec { prefix: "drill", admin_email: ADMIN_EMAIL, password: PASSWORD, patients, consent_kinds };
    seed_fixture(state, conn, now, &spec)
}

impl Bed {
    /// A fresh database (PostgreSQL unless `sqlite`), `patients` patients, patient 0 with an
    /// account, a sink with a port per replica and `replicas` replicas serving (dispatch on).
    /// With [`Channels::EmailAndPush`] every patient has also consented to push and has an
    /// Android device (patient 0 registers it through the API), and the replicas send to a
    /// loopback FCM with a port per replica.
    fn new(
        rt: &Runtime,
        args: &Args,
        bin: &Path,
        replicas: usize,
        patients: usize,
        channels: Channels,
    ) -> anyhow::Result<Self> {
        let push = channels == Channels::EmailAndPush;
        let consents: &[&str] = if push { &["email_reminders", "push_reminders"] } else { &["email_reminders"] };
        let target = Target::create(Some(args.database_url.as_str()), "drill", "--database-url")?;
        let now = Utc::now().trunc_subsecs(0);
        let mut monitor = Monitor::new(&target)?;
        let fx = {
            let _entered = rt.enter();
            let state = seeding_state(rt, &target)?;
            let fx = seed_clinic(&state, monitor.conn()?, now, patients, consents)?;
            drop(state);
            fx
        };
        // Patient 0 can log in (the SMTP drills report a check-in as that patient).
        let password_hash = password::hash_blocking(PASSWORD)?;
        let account = Account {
            id: new_id(),
            clinic_id: fx.clinic_id.clone(),
            email: PATIENT_EMAIL.into(),
            password_hash: password_hash.clone(),
            role: "patient".into(),
            created_at: to_db(now),
            updated_at: to_db(now),
            deactivated_at: None,
        };
        accounts::insert_account(monitor.conn()?, &account)?;
        monitor.execute(&format!("UPDATE patients SET account_id = '{}' WHERE id = 'drill-p-0'", account.id))?;
        if push {
            seed_devices(monitor.conn()?, &fx, patients, &password_hash, now)?;
        }
        println!(
            "[bed] {} database seeded: {patients} patients{}",
            target.label(),
            if push { ", each with an Android device and push consent" } else { "" }
        );

        let sink = rt.block_on(Sink::start(replicas))?;
        let fcm = if push { Some(rt.block_on(FcmFake::start(replicas, target.dir.path()))?) } else { None };
        let mut started = Vec::new();
        for k in 0..replicas {
            let dir = target.dir.path().join(format!("replica-{k}"));
            let name = format!("replica-{k}");
            let extra = match &fcm {
                Some(fcm) => fcm.settings(k, &dir)?,
                None => Vec::new(),
            };
            started.push(Replica::spawn(bin, &name, &dir, &target.url, Some(sink.ports[k]), &extra)?);
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        for r in &mut started {
            r.wait_ready(rt, &client, Duration::from_secs(90))?;
        }
        println!("[bed] {replicas} replica(s) ready, dispatch on, default settings");
        let bed = Self { target, monitor, sink, fcm, replicas: started, client, fx, patients };
        if push {
            bed.register_device(rt)?;
        }
        Ok(bed)
    }

    /// Patient 0 registers its phone through the API (`POST /api/v1/me/devices`).
    fn register_device(&self, rt: &Runtime) -> anyhow::Result<()> {
        let token = self.patient_token(rt)?;
        let base = self.replicas.first().context("no replica")?.base_url();
        let body = json!({"platform": "android", "token": device_token(0), "app_id": APP_ID, "language": "en-GB"});
        let (status, answer) = rt.block_on(async {
            let res =
                self.client.post(format!("{base}/api/v1/me/devices")).bearer_auth(&token).json(&body).send().await?;
            let status = res.status().as_u16();
            anyhow::Ok((status, res.text().await.unwrap_or_default()))
        })?;
        anyhow::ensure!(status == 201, "registering patient 0's device answered {status}: {answer}");
        Ok(())
    }

    /// `count` reminders due now (60 s and more ago), spread over the patients.
    fn add_due(&mut self, count: u32) -> anyhow::Result<Instant> {
        let now = Utc::now().trunc_subsecs(0);
        insert_due(self.monitor.conn()?, &self.fx, "drill", "drill-", self.patients, count, now)?;
        Ok(Instant::now())
    }

    /// Waits until every drill reminder (and alert email) has an outcome.
    fn wait_settled(&mut self, since: Instant, timeout: Duration) -> anyhow::Result<Duration> {
        loop {
            let pending = self.monitor.count("reminders", "id LIKE 'drill-%' AND status IN ('scheduled', 'sending')");
            let alerts = self.monitor.count("alert_notifications", "status IN ('pending', 'sending')");
            if matches!((&pending, &alerts), (Ok(0), Ok(0))) {
                return Ok(since.elapsed());
            }
            if since.elapsed() > timeout {
                bail!("still pending after {timeout:?}: reminders {pending:?}, alert emails {alerts:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Logs in as patient 0.
    fn patient_token(&self, rt: &Runtime) -> anyhow::Result<String> {
        let base = self.replicas.first().context("no replica")?.base_url();
        rt.block_on(async {
            let res = self
                .client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": PATIENT_EMAIL, "password": PASSWORD}))
                .send()
                .await?;
            let status = res.status();
            let body: serde_json::Value = res.json().await?;
            anyhow::ensure!(status.as_u16() == 200, "login answered {status}: {body}");
            body["access_token"].as_str().map(str::to_owned).context("no access_token in the login answer")
        })
    }

    /// Reports a check-in with a red flag (an urgent alert); its status, alerts raised and how
    /// long the request took.
    fn urgent_checkin(&self, rt: &Runtime, token: &str) -> anyhow::Result<(u16, i64, Duration)> {
        let base = self.replicas.first().context("no replica")?.base_url();
        let body = json!({"redness": 3, "swelling": 2, "pain": 6, "itch": 1, "red_flags": ["pus"]});
        let t = Instant::now();
        let (status, body) = rt.block_on(async {
            let res =
                self.client.post(format!("{base}/api/v1/me/checkins")).bearer_auth(token).json(&body).send().await?;
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
            anyhow::Ok((status, body))
        })?;
        Ok((status, body["alerts_raised"].as_i64().unwrap_or(0), t.elapsed()))
    }

    /// The reminder, alert-email and push tallies, from the database's rows, the sink and the
    /// FCM fake (pushes: one per reminder, every patient having one device).
    fn tallies(&mut self) -> anyhow::Result<(Tally, Tally, Tally, BTreeMap<String, usize>)> {
        let rows = self.monitor.rows(
            "SELECT id, status, attempts, COALESCE(last_error, status_reason) AS reason FROM reminders \
             WHERE id LIKE 'drill-%'",
        )?;
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        for r in &rows {
            *by_status.entry(r.status.clone()).or_default() += 1;
        }
        let planned: HashMap<String, String> = rows.into_iter().map(|r| (r.id, r.status)).collect();
        let reminders = Tally::count(&planned, &self.sink.received_with("reminder-"));
        let pushes = match &self.fcm {
            Some(fcm) => Tally::count(&planned, &fcm.received()),
            None => Tally::NotApplicable("not part of this drill"),
        };
        let alert_rows = self.monitor.rows(
            "SELECT alert_id || '-' || account_id AS id, status, attempts, last_error AS reason \
             FROM alert_notifications",
        )?;
        let planned: HashMap<String, String> = alert_rows.into_iter().map(|r| (r.id, r.status)).collect();
        let alerts = Tally::count(&planned, &self.sink.received_with("alert-"));
        Ok((reminders, alerts, pushes, by_status))
    }

    /// Whether the database's `sent` reminders are exactly the ones the sink accepted.
    fn cross_check(&mut self, report: &mut DrillReport) -> anyhow::Result<()> {
        let sent: HashSet<String> = self
            .monitor
            .rows("SELECT id, status, attempts, last_error AS reason FROM reminders WHERE id LIKE 'drill-%' AND status = 'sent'")?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let received: HashSet<String> = self.sink.received_with("reminder-").into_keys().collect();
        let unrecorded = received.difference(&sent).count();
        let unreceived = sent.difference(&received).count();
        report.check(
            "database `sent` rows = reminders the sink accepted",
            format!(
                "{} sent rows; {unrecorded} accepted but not `sent`, {unreceived} `sent` but never accepted",
                sent.len()
            ),
            unrecorded == 0 && unreceived == 0,
        );
        let Some(fcm) = &self.fcm else { return Ok(()) };
        let pushed: HashSet<String> = self
            .monitor
            .rows(
                "SELECT reminder_id AS id, status, attempts, last_error AS reason FROM reminder_deliveries \
                 WHERE reminder_id LIKE 'drill-%' AND channel = 'push' AND status = 'sent'",
            )?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let received: HashSet<String> = fcm.received().into_keys().collect();
        let unrecorded = received.difference(&pushed).count();
        let unreceived = pushed.difference(&received).count();
        report.check(
            "database `sent` push deliveries = pushes the FCM fake accepted",
            format!(
                "{} sent push rows; {unrecorded} accepted but not `sent`, {unreceived} `sent` but never accepted",
                pushed.len()
            ),
            unrecorded == 0 && unreceived == 0,
        );
        let violations = fcm.violations();
        report.check(
            "every FCM request well formed (signed grant, bearer token, message shape, collapse key = reminder)",
            match violations.first() {
                None => "0 malformed".to_owned(),
                Some(first) => format!("{} malformed, e.g. {first}", violations.len()),
            },
            violations.is_empty(),
        );
        let per_replica: Vec<String> = (0..self.replicas.len()).map(|k| fcm.port_count(k).to_string()).collect();
        report.notes.push(format!(
            "pushes accepted per replica: {}; {} FCM access token(s) issued",
            per_replica.join(" / "),
            fcm.tokens_issued()
        ));
        Ok(())
    }

    fn finish(mut self, rt: &Runtime, report: &mut DrillReport) {
        let client = self.client.clone();
        for r in self.replicas.iter_mut() {
            if !r.alive() {
                continue;
            }
            let url = format!("{}/readyz", r.base_url());
            let ready = rt.block_on(async { client.get(url).send().await.map(|res| res.status().as_u16()) });
            if !matches!(ready, Ok(200)) {
                report.check(format!("{} ready at the end", r.name), format!("{ready:?}"), false);
            }
        }
        let logs: Vec<String> = self.replicas.iter().map(Replica::log_summary).collect();
        report.notes.push(format!("replica logs: {}", logs.join("; ")));
        if !report.passed() {
            for r in &self.replicas {
                r.print_log_tail(30);
            }
        }
        for r in &mut self.replicas {
            r.stop();
        }
        drop(self.monitor);
        drop(self.sink);
        if let Some(fcm) = self.fcm.take() {
            rt.block_on(fcm.stop());
        }
        drop(self.target);
    }
}

const APP_ID: &str = "com.example.aftercare";

/// Patient K's FCM registration token.
fn device_token(k: usize) -> String {
    format!("fcm:drill-device-{k:06}")
}

/// Patients 1.. get an account (the same password as patient 0) and an Android device, as the
/// app registers it; patient 0 registers its own through the API once the replicas serve.
fn seed_devices(
    conn: &mut DbConnection,
    fx: &Fixture,
    patients: usize,
    password_hash: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let at = to_db(now);
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        for k in 1..patients {
            let account_id = format!("drill-a-{k}");
            accounts::insert_account(
                c,
                &Account {
                    id: account_id.clone(),
                    clinic_id: fx.clinic_id.clone(),
                    email: format!("patient{k}@app.drill.example"),
                    password_hash: password_hash.to_owned(),
                    role: "patient".into(),
                    created_at: at,
                    updated_at: at,
                    deactivated_at: None,
                },
            )?;
            let patient_id = format!("drill-p-{k}");
            diesel::sql_query(format!("UPDATE patients SET account_id = '{account_id}' WHERE id = '{patient_id}'"))
                .execute(c)?;
            devices::insert_device(
                c,
                &Device {
                    id: format!("drill-d-{k}"),
                    clinic_id: fx.clinic_id.clone(),
                    patient_id,
                    account_id,
                    platform: "android".into(),
                    token: device_token(k),
                    app_id: APP_ID.into(),
                    language: "en-GB".into(),
                    created_at: at,
                    updated_at: at,
                    last_seen_at: at,
                },
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Receipts of the same id more than once that the killed replica (port 0) explains: its first
/// receipt came from it, the row was among its claims without an outcome (`orphaned`), and it
/// came at most twice. (duplicated ids, unexplained ones).
fn duplicates(received: &HashMap<String, Vec<Received>>, orphaned: &HashSet<&str>) -> (usize, usize) {
    let twice: Vec<(usize, bool)> = received
        .iter()
        .filter(|(_, got)| got.len() > 1)
        .map(|(id, got)| (got.len(), got.first().is_some_and(|r| r.port == 0) && orphaned.contains(id.as_str())))
        .collect();
    let unexplained = twice.iter().filter(|(times, from_victim)| *times > 2 || !from_victim).count();
    (twice.len(), unexplained)
}

/// Enough patients that no one is sent more than the default daily cap (12) of the reminders.
fn patients_for(reminders: u32) -> usize {
    (reminders as usize).div_ceil(8).max(300)
}

// ---------------------------------------------------------------------------------------------
// drain and kill.

fn drain_drill(rt: &Runtime, args: &Args, bin: &Path, kill: bool) -> anyhow::Result<DrillReport> {
    let d = defaults();
    let n = args.reminders.max(100);
    let name = if kill { "kill" } else { "drain" };
    let mut bed = Bed::new(rt, args, bin, args.replicas, patients_for(n), Channels::EmailAndPush)?;
    let setup = format!(
        "{n} reminders due at once, by email and push (one Android device each), {} replicas on {}, default settings (tick {} s, lease {} s)",
        args.replicas,
        bed.target.label(),
        d.tick.as_secs(),
        d.lease.as_secs()
    );
    let mut report = DrillReport::new(name, setup);
    let timeout = Duration::from_secs(args.timeout_secs);
    let t0 = bed.add_due(n)?;
    println!("[{name}] {n} due reminders inserted");

    let mut victim = None;
    if kill {
        // Kill replica 0 while it sends: right after its port accepted a message, a third in.
        while bed.sink.total() < n as usize / 3 {
            anyhow::ensure!(t0.elapsed() < timeout, "only {} sent after {timeout:?}", bed.sink.total());
            std::thread::sleep(Duration::from_millis(5));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let last = bed.sink.port_count(0);
        while bed.sink.port_count(0) == last && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        bed.replicas[0].kill()?;
        let killed_at = Instant::now();
        // Rows `sending` now: the dead replica's claims and the live ones' in-flight batches.
        let sending = bed.monitor.rows(
            "SELECT id, status, attempts, last_error AS reason FROM reminders WHERE id LIKE 'drill-%' AND status = 'sending'",
        )?;
        println!(
            "[kill] kill -9 replica-0 (pid {}) {} after the reminders became due, having sent {}; {} rows `sending`",
            bed.replicas[0].pid(),
            secs(t0.elapsed()),
            bed.sink.port_count(0),
            sending.len()
        );
        victim = Some((killed_at, sending, bed.sink.port_count(0)));
    }

    bed.wait_settled(t0, timeout)?;
    // Stragglers: a row has its outcome only after its send, so there should be none.
    std::thread::sleep(Duration::from_secs(1));
    let received = bed.sink.received_with("reminder-");
    let last_first = received.values().filter_map(|got| got.first().map(|r| r.at)).max();
    let drain = last_first.map_or(Duration::ZERO, |at| at.saturating_duration_since(t0));
    let first = received.values().filter_map(|got| got.first().map(|r| r.at)).min();
    if let (Some(first), Some(last)) = (first, last_first) {
        // The wait for the replicas' next tick, then the sending itself.
        report.notes.push(format!(
            "first reminder accepted {} after they became due (the next tick), the last {} after the first",
            secs(first.saturating_duration_since(t0)),
            secs(last.saturating_duration_since(first))
        ));
    }
    let pushed = bed.fcm.as_ref().map(FcmFake::received).unwrap_or_default();
    let push_drain = pushed
        .values()
        .filter_map(|got| got.first().map(|r| r.at))
        .max()
        .map_or(Duration::ZERO, |at| at.saturating_duration_since(t0));
    let (reminders, alerts, pushes, by_status) = bed.tallies()?;
    report.notes.push(format!("reminder rows at the end: {by_status:?}"));
    let per_replica: Vec<String> = (0..bed.replicas.len()).map(|k| bed.sink.port_count(k).to_string()).collect();
    report.notes.push(format!("emails accepted per replica: {}", per_replica.join(" / ")));
    let target = Duration::from_secs(args.target_secs);

    match victim {
        None => {
            report.check(
                format!("drain target: all {n} sent by email and push within {} s of becoming due", args.target_secs),
                format!(
                    "emails {} ({:.0} reminders/s), pushes {}",
                    secs(drain),
                    f64::from(n) / drain.as_secs_f64().max(0.001),
                    secs(push_drain)
                ),
                drain < target && push_drain < target,
            );
            report.check(
                "no reminder email or push sent twice",
                format!("{} / {} duplicated", reminders.duplicated(), pushes.duplicated()),
                reminders.duplicated() == 0 && pushes.duplicated() == 0,
            );
        }
        Some((killed_at, sending, at_kill)) => {
            report.notes.push(format!(
                "drain time, including the killed replica's claims: emails {}, pushes {}",
                secs(drain),
                secs(push_drain)
            ));
            // The killed replica's claims: `sending` at the kill and claimed again afterwards.
            let rows = bed
                .monitor
                .rows("SELECT id, status, attempts, last_error AS reason FROM reminders WHERE id LIKE 'drill-%'")?;
            let attempts: HashMap<&str, i32> = rows.iter().map(|r| (r.id.as_str(), r.attempts)).collect();
            let orphaned: HashSet<&str> = sending
                .iter()
                .filter(|r| attempts.get(r.id.as_str()).is_some_and(|a| *a > r.attempts))
                .map(|r| r.id.as_str())
                .collect();
            // Retaken rows go out by email and push; the later of the two counts.
            let recovered = orphaned
                .iter()
                .flat_map(|id| [received.get(*id), pushed.get(*id)])
                .flatten()
                .filter_map(|got| got.iter().map(|r| r.at).filter(|at| *at >= killed_at).max())
                .max()
                .map(|at| at.saturating_duration_since(killed_at));
            let bound = d.lease + d.tick + Duration::from_secs(5);
            report.check(
                format!(
                    "the killed replica's {} claims sent by the others within lease + tick + 5 s ({} s)",
                    orphaned.len(),
                    bound.as_secs()
                ),
                recovered.map_or_else(|| "nothing to retake".to_owned(), |r| format!("{} after the kill", secs(r))),
                recovered.is_none_or(|r| r <= bound),
            );
            let (twice, unexplained) = duplicates(&received, &orphaned);
            report.check(
                "email duplicates only from the killed replica's in-flight batch, each at most once more (same Message-ID)",
                format!(
                    "{twice} duplicated, {} rows held without an outcome at the kill (replica-0 had sent {at_kill}); {unexplained} unexplained",
                    orphaned.len()
                ),
                unexplained == 0 && twice <= orphaned.len(),
            );
            let (twice, unexplained) = duplicates(&pushed, &orphaned);
            report.check(
                "push duplicates only from the killed replica's in-flight batch, each at most once more (same collapse key)",
                format!(
                    "{twice} duplicated (replica-0 had pushed {}); {unexplained} unexplained",
                    bed.fcm.as_ref().map_or(0, |f| f.port_count(0))
                ),
                unexplained == 0 && twice <= orphaned.len(),
            );
        }
    }
    bed.cross_check(&mut report)?;
    report.reminders = reminders;
    report.alerts = alerts;
    report.pushes = pushes;
    bed.finish(rt, &mut report);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// smtp-outage and smtp-hang.

fn smtp_drill(rt: &Runtime, args: &Args, bin: &Path, fault: Mode) -> anyhow::Result<DrillReport> {
    let d = defaults();
    let name = if fault == Mode::Refuse { "smtp-outage" } else { "smtp-hang" };
    let what = if fault == Mode::Refuse { "answers 421" } else { "accepts connections and never answers" };
    let n = SMTP_DRILL_REMINDERS;
    let mut bed = Bed::new(rt, args, bin, 1, patients_for(n), Channels::Email)?;
    // A hang lasts past the first abandoned sends: the alert email's and then a reminder's, each
    // after the mail timeout.
    let outage = match fault {
        Mode::Hang => Duration::from_secs(args.outage_secs).max(2 * d.mail_timeout + d.tick + Duration::from_secs(15)),
        _ => Duration::from_secs(args.outage_secs),
    };
    let setup = format!(
        "1 replica on {}, default settings (tick {} s, mail timeout {} s); the sink {what} for {} s while a red flag is reported and {n} reminders are due",
        bed.target.label(),
        d.tick.as_secs(),
        d.mail_timeout.as_secs(),
        outage.as_secs()
    );
    let mut report = DrillReport::new(name, setup);
    let token = bed.patient_token(rt)?;

    bed.sink.set_mode(fault);
    let down_at = Instant::now();
    println!("[{name}] the sink {what}");
    let (status, raised, took) = bed.urgent_checkin(rt, &token)?;
    println!("[{name}] urgent check-in answered {status} in {took:.2?}; {raised} alert(s) raised");
    report.check(
        format!("the check-in answers at once (well under the mail timeout, {} s)", d.mail_timeout.as_secs()),
        format!("{status} in {:.0} ms, {raised} alert raised", took.as_secs_f64() * 1000.0),
        status == 201 && raised == 1 && took < Duration::from_secs(2),
    );
    bed.add_due(n)?;

    // Sends during the fault fail as transient errors (a refusal at once, a hang after the
    // timeout) and are rescheduled.
    let mut first_retry = None;
    while down_at.elapsed() < outage {
        if first_retry.is_none()
            && bed
                .monitor
                .count("reminders", "id LIKE 'drill-%' AND status = 'scheduled' AND attempts > 0")
                .unwrap_or(0)
                > 0
        {
            first_retry = Some(down_at.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = bed.sink.total();
    let errors = bed.monitor.rows(
        "SELECT id, status, attempts, last_error AS reason FROM reminders WHERE id LIKE 'drill-%' AND attempts > 0 \
         AND last_error IS NOT NULL",
    )?;
    let example = errors.first().and_then(|r| r.reason.clone()).unwrap_or_else(|| "-".into());
    report.notes.push(format!(
        "during the fault: {during} messages accepted, {} reminders rescheduled, e.g. \"{example}\"",
        errors.len()
    ));
    if fault == Mode::Hang {
        // One exchange costs at most the timeout; the alert email goes first in a tick.
        let bound = 2 * d.mail_timeout + d.tick + Duration::from_secs(2);
        report.check(
            format!("a hung send is abandoned after the mail timeout and rescheduled (first within 2 × timeout + tick = {} s)", bound.as_secs()),
            first_retry.map_or_else(|| "none rescheduled during the fault".to_owned(), |t| format!("first rescheduled {} after the hang began", secs(t))),
            first_retry.is_some_and(|t| t <= bound) && example.contains("longer than"),
        );
        // A request during the hang, after the dispatcher is stuck in it, still answers at once.
        let (status, _, took) = bed.urgent_checkin(rt, &token)?;
        report.check(
            "a second check-in during the hang answers at once",
            format!("{status} in {:.0} ms", took.as_secs_f64() * 1000.0),
            status == 201 && took < Duration::from_secs(2),
        );
    }
    report.check("nothing accepted while the sink was failing", format!("{during} accepted"), during == 0);

    bed.sink.set_mode(Mode::Up);
    let back_at = Instant::now();
    println!("[{name}] the sink accepts mail again");
    let alert_after = loop {
        let got = bed.sink.received_with("alert-");
        if let Some(at) = got.values().filter_map(|g| g.first().map(|r| r.at)).min() {
            break Some(at.saturating_duration_since(back_at));
        }
        if back_at.elapsed() > Duration::from_secs(args.timeout_secs) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let delay = alert_after.map_or_else(|| "never".to_owned(), |t| format!("{} after", secs(t)));
    if fault == Mode::Refuse {
        // One tick of the scheduler, plus the pass that sends it.
        let bound = d.tick + Duration::from_secs(1);
        report.check(
            format!("the staff alert email goes out within one tick ({} s) of SMTP coming back", d.tick.as_secs()),
            delay,
            alert_after.is_some_and(|t| t <= bound),
        );
    } else {
        // A tick waits for the pass before it: one stuck in hung sends lasts (batch / concurrency)
        // × the mail timeout.
        report.notes.push(format!("the staff alert email went out {delay} the sink answered again"));
    }
    let settled = bed.wait_settled(back_at, Duration::from_secs(args.timeout_secs))?;
    std::thread::sleep(Duration::from_secs(1));
    report.notes.push(format!(
        "every reminder had its outcome {} after SMTP came back (backoff from the default 60 s)",
        secs(settled)
    ));
    let (reminders, alerts, _, by_status) = bed.tallies()?;
    report.notes.push(format!("reminder rows at the end: {by_status:?}"));
    report.check(
        "no reminder or alert email sent twice",
        format!("{} / {} duplicated", reminders.duplicated(), alerts.duplicated()),
        reminders.duplicated() == 0 && alerts.duplicated() == 0,
    );
    bed.cross_check(&mut report)?;
    report.reminders = reminders;
    report.alerts = alerts;
    bed.finish(rt, &mut report);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// push-outage.

fn push_outage_drill(rt: &Runtime, args: &Args, bin: &Path) -> anyhow::Result<DrillReport> {
    let d = defaults();
    let n = SMTP_DRILL_REMINDERS;
    let outage = Duration::from_secs(args.outage_secs);
    let mut bed = Bed::new(rt, args, bin, 1, patients_for(n), Channels::EmailAndPush)?;
    let setup = format!(
        "1 replica on {}, default settings (tick {} s); FCM answers 503 UNAVAILABLE for {} s while {n} reminders are due by email and push",
        bed.target.label(),
        d.tick.as_secs(),
        outage.as_secs()
    );
    let mut report = DrillReport::new("push-outage", setup);
    let fcm = bed.fcm.as_ref().context("no FCM fake")?;
    fcm.set_unavailable(true);
    println!("[push-outage] FCM answers 503");
    let t0 = bed.add_due(n)?;
    let mut emails_done = None;
    while t0.elapsed() < outage {
        if emails_done.is_none() && bed.sink.total() >= n as usize {
            emails_done = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let fcm = bed.fcm.as_ref().context("no FCM fake")?;
    let (pushed_during, refused) = (fcm.received().len(), fcm.refused());
    let retrying = bed.monitor.rows(
        "SELECT id, status, attempts, last_error AS reason FROM reminders WHERE id LIKE 'drill-%' \
         AND status = 'scheduled' AND attempts > 0",
    )?;
    let example = retrying.first().and_then(|r| r.reason.clone()).unwrap_or_else(|| "-".into());
    report.check(
        format!("the emails go out during the push outage (all {n} within it)"),
        emails_done.map_or_else(
            || format!("{} of {n} by the end of the outage", bed.sink.total()),
            |t| format!("all {n} {} after they became due", secs(t)),
        ),
        emails_done.is_some(),
    );
    report.check(
        "nothing pushed while FCM was unavailable; the pushes are rescheduled",
        format!(
            "{pushed_during} accepted, {refused} answered 503, {} reminders rescheduled, e.g. \"{example}\"",
            retrying.len()
        ),
        pushed_during == 0 && refused > 0 && !retrying.is_empty(),
    );
    fcm.set_unavailable(false);
    let back_at = Instant::now();
    println!("[push-outage] FCM accepts pushes again");
    let settled = bed.wait_settled(back_at, Duration::from_secs(args.timeout_secs))?;
    std::thread::sleep(Duration::from_secs(1));
    report.notes.push(format!(
        "every reminder had its outcome {} after FCM came back (backoff from the default 60 s)",
        secs(settled)
    ));
    let (reminders, alerts, pushes, by_status) = bed.tallies()?;
    report.notes.push(format!("reminder rows at the end: {by_status:?}"));
    report.check(
        "no email sent again for a push retry, no push sent twice",
        format!("{} / {} duplicated", reminders.duplicated(), pushes.duplicated()),
        reminders.duplicated() == 0 && pushes.duplicated() == 0,
    );
    bed.cross_check(&mut report)?;
    report.reminders = reminders;
    report.alerts = alerts;
    report.pushes = pushes;
    bed.finish(rt, &mut report);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// pg-restart.

fn pg_restart_drill(rt: &Runtime, args: &Args, bin: &Path) -> anyhow::Result<DrillReport> {
    let n = args.reminders.max(100);
    let mut bed = Bed::new(rt, args, bin, args.replicas, patients_for(n), Channels::EmailAndPush)?;
    let setup = format!(
        "{n} reminders due at once, by email and push, {} replicas on PostgreSQL, restarted mid-drain",
        args.replicas
    );
    let mut report = DrillReport::new("pg-restart", setup);
    let timeout = Duration::from_secs(args.timeout_secs);
    let t0 = bed.add_due(n)?;
    while bed.sink.total() < n as usize / 3 {
        anyhow::ensure!(t0.elapsed() < timeout, "only {} sent after {timeout:?}", bed.sink.total());
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = bed.sink.total();
    let cmd = std::env::var("DRILLS_PG_RESTART").unwrap_or_else(|_| "pg_ctlcluster 15 main restart".into());
    println!("[pg-restart] {before} accepted; running `{cmd}`");
    let t = Instant::now();
    let status = Command::new("sh").arg("-c").arg(&cmd).status().context("cannot run the restart command")?;
    let restart = t.elapsed();
    anyhow::ensure!(status.success(), "`{cmd}` failed: {status}");
    anyhow::ensure!(
        pg_ready(Duration::from_secs(60)),
        "PostgreSQL is not accepting connections 60 s after the restart"
    );
    report.notes.push(format!("`{cmd}` took {}; {before} accepted before it", secs(restart)));
    let settled = bed.wait_settled(t0, timeout)?;
    std::thread::sleep(Duration::from_secs(1));
    report.notes.push(format!("every reminder had its outcome {} after becoming due", secs(settled)));
    let (reminders, alerts, pushes, by_status) = bed.tallies()?;
    report.notes.push(format!("reminder rows at the end: {by_status:?}"));
    report.check(
        "no reminder email or push sent twice",
        format!("{} / {} duplicated", reminders.duplicated(), pushes.duplicated()),
        reminders.duplicated() == 0 && pushes.duplicated() == 0,
    );
    bed.cross_check(&mut report)?;
    report.reminders = reminders;
    report.alerts = alerts;
    report.pushes = pushes;
    bed.finish(rt, &mut report);
    Ok(report)
}

fn pg_ready(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let ok = Command::new("pg_isready").args(["-h", "127.0.0.1", "-q"]).status().is_ok_and(|s| s.success());
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

// ---------------------------------------------------------------------------------------------
// The drill's own connection, reconnecting after errors (PostgreSQL restarts).

pub struct Monitor {
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
pub struct RowState {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
}

impl Monitor {
    pub fn new(target: &Target) -> anyhow::Result<Self> {
        let mut m = Self { url: target.url.clone(), pg: target.backend == Backend::Postgres, conn: None };
        m.conn()?;
        Ok(m)
    }

    pub fn conn(&mut self) -> anyhow::Result<&mut DbConnection> {
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

    fn execute(&mut self, sql: &str) -> anyhow::Result<usize> {
        let result = match self.conn()? {
            DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c),
            DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c),
        };
        if result.is_err() {
            self.conn = None;
        }
        Ok(result?)
    }

    fn count(&mut self, table: &str, condition: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}");
        Ok(self.load::<Count>(&sql)?.first().map_or(0, |c| c.n))
    }

    pub fn count_photos(&mut self) -> anyhow::Result<i64> {
        self.count("photos", "1 = 1")
    }

    fn rows(&mut self, sql: &str) -> anyhow::Result<Vec<RowState>> {
        self.load(sql)
    }
}
