//! What the bench binaries (`dispatch`, `drills`, `load`) share: the database they run against
//! and the clinic they seed. Each binary uses part of it.
#![allow(dead_code, reason = "each bench binary includes this module and uses part of it")]

use aftercare::{
    config::Settings,
    db::{Backend, DbConnection, to_db},
    domain::clinical::TimeZone,
    repo::{
        consents::{self, Consent},
        courses::{self, Course},
        patients::{self, Patient},
        screenings::{self, Screening},
        sessions::{self, Session},
    },
    services::{bootstrap, reminders::current_protocol},
    state::AppState,
};
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use diesel::{Connection, RunQueryDsl, connection::SimpleConnection, pg::PgConnection, sqlite::SqliteConnection};

// ---------------------------------------------------------------------------------------------
// The database: a temp SQLite file, or a fresh PostgreSQL database dropped at the end.

pub struct Target {
    pub backend: Backend,
    pub url: String,
    /// The SQLite file (when SQLite).
    pub sqlite_path: Option<String>,
    /// A temp directory (the SQLite file, photos, logs), removed at the end.
    pub dir: tempfile::TempDir,
    /// Drops the PostgreSQL database when the target goes.
    _pg: Option<PgDatabase>,
}

struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        match PgConnection::establish(&self.admin_url) {
            Ok(mut conn) => {
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
                if let Err(e) = diesel::sql_query(sql).execute(&mut conn) {
                    eprintln!("could not drop the database {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("could not drop the database {}: {e}", self.name),
        }
    }
}

impl Target {
    /// SQLite in a temp directory, or (with `admin_url`) a fresh PostgreSQL database named
    /// `aftercare_<tag>_<uuid>` on that server; `setting` names the variable `admin_url` came
    /// from, for the error message.
    pub fn create(admin_url: Option<&str>, tag: &str, setting: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix(&format!("aftercare-{tag}-")).tempdir()?;
        match admin_url {
            None => {
                let path = dir.path().join("aftercare.db").display().to_string();
                Ok(Self {
                    backend: Backend::Sqlite,
                    url: format!("sqlite://{path}"),
                    sqlite_path: Some(path),
                    dir,
                    _pg: None,
                })
            }
            Some(admin_url) => {
                let mut conn = PgConnection::establish(admin_url)
                    .with_context(|| format!("{setting} is set but PostgreSQL is unreachable"))?;
                let name = format!("aftercare_{tag}_{}", uuid::Uuid::now_v7().simple());
                diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn)?;
                let pg = PgDatabase { admin_url: admin_url.to_owned(), name: name.clone() };
                let mut url = url::Url::parse(admin_url).with_context(|| format!("{setting} is not a URL"))?;
                url.set_path(&name);
                Ok(Self { backend: Backend::Postgres, url: url.to_string(), sqlite_path: None, dir, _pg: Some(pg) })
            }
        }
    }

    pub fn label(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    /// Default settings on this database, with the temp directory as the data directory.
    pub fn base_settings(&self) -> Settings {
        let mut s = Settings { data_dir: self.dir.path().to_path_buf(), ..Default::default() };
        s.database.url = Some(self.url.clone());
        s
    }

    /// A connection of its own for seeding and plans (a large page cache on SQLite, so that a
    /// million-row insert does not thrash; the app's pooled connections keep their settings).
    pub fn seed_connection(&self) -> anyhow::Result<DbConnection> {
        match &self.sqlite_path {
            Some(path) => {
                let mut c = SqliteConnection::establish(path)?;
                c.batch_execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -262144;")?;
                Ok(DbConnection::Sqlite(c))
            }
            None => Ok(DbConnection::Postgres(PgConnection::establish(&self.url)?)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The clinic: an admin, the default protocol, patients with one completed session each.

pub struct Fixture {
    pub clinic_id: String,
    pub protocol_id: String,
}

/// What [`seed_fixture`] creates.
pub struct FixtureSpec<'a> {
    /// Id prefix (`bench` → patients `bench-p-K`, sessions `bench-s-K`), also in the clinic's
    /// name and the patients' email domain (`patientK@<prefix>.example`).
    pub prefix: &'a str,
    pub admin_email: &'a str,
    pub password: &'a str,
    pub patients: usize,
    /// Consents every patient has granted.
    pub consent_kinds: &'a [&'a str],
}

/// A clinic and its admin, the default protocol, and `spec.patients` patients (ids
/// `<prefix>-p-K`) with the given consents and one completed session each (`<prefix>-s-K`,
/// performed a day before `now`), in one transaction. Bulk SQL can then spread rows over the
/// patients with `i % patients`.
pub fn seed_fixture(
    state: &AppState,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    spec: &FixtureSpec<'_>,
) -> anyhow::Result<Fixture> {
    let prefix = spec.prefix;
    let clinic_name = format!("{prefix} clinic");
    let admin = bootstrap::create_admin(&state.db, &clinic_name, spec.admin_email, spec.password, now)?;
    let (clinic_id, admin_id) = (admin.clinic_id, admin.account_id);
    let at = to_db(now);
    let performed = to_db(now - Duration::days(1));
    let zone: TimeZone = "Europe/London".parse().map_err(anyhow::Error::msg)?;
    let protocol_id = conn.transaction::<_, diesel::result::Error, _>(|c| {
        let protocol = current_protocol(c, &clinic_id, now)?;
        for k in 0..spec.patients {
            let (patient_id, session_id) = (format!("{prefix}-p-{k}"), format!("{prefix}-s-{k}"));
            let (course_id, screening_id) = (format!("{prefix}-c-{k}"), format!("{prefix}-q-{k}"));
            let (name, email) = (format!("Patient {k}"), format!("patient{k}@{prefix}.example"));
            patients::insert_patient(
                c,
                &Patient {
                    id: patient_id.clone(),
                    clinic_id: clinic_id.clone(),
                    account_id: None,
                    search_text: patients::search_text(&name, Some(&email)),
                    name,
                    email: Some(email),
                    phone: None,
                    date_of_birth: None,
                    time_zone: zone,
                    fitzpatrick: Some(2),
                    quiet_start: "21:00".into(),
                    quiet_end: "08:00".into(),
                    language: "en".into(),
                    clinical_notes: None,
                    archived_at: None,
                    created_at: at,
                    updated_at: at,
                },
            )?;
            for kind in spec.consent_kinds {
                consents::insert_consent(
                    c,
                    &Consent {
                        id: format!("{prefix}-consent-{kind}-{k}"),
                        clinic_id: clinic_id.clone(),
                        patient_id: patient_id.clone(),
                        kind: (*kind).into(),
                        granted: true,
                        actor_account_id: Some(admin_id.clone()),
                        actor_role: "admin".into(),
                        note: None,
                        created_at: at,
                    },
                )?;
            }
            courses::insert_course(
                c,
                &Course {
                    id: course_id.clone(),
                    clinic_id: clinic_id.clone(),
                    patient_id: patient_id.clone(),
                    concerns: r#"["acne_scarring"]"#.into(),
                    planned_sessions: 3,
                    interval_days: 28,
                    status: "active".into(),
                    notes: None,
                    created_by: admin_id.clone(),
                    created_at: at,
                    updated_at: at,
                },
            )?;
            screenings::insert_screening(
                c,
                &Screening {
                    id: screening_id.clone(),
                    clinic_id: clinic_id.clone(),
                    patient_id: patient_id.clone(),
                    answers: "{}".into(),
                    outcome: "clear".into(),
                    findings: "[]".into(),
                    screened_by: admin_id.clone(),
                    override_by: None,
                    override_reason: None,
                    overridden_at: None,
                    created_at: performed,
                },
            )?;
            sessions::insert_session(
                c,
                &Session {
                    id: session_id,
                    clinic_id: clinic_id.clone(),
                    patient_id,
                    course_id,
                    screening_id,
                    performed_at: performed,
                    clinician_id: admin_id.clone(),
                    device_kind: "pen".into(),
                    device_model: "Bench Pen".into(),
                    cartridge_lot: None,
                    numbing: None,
                    products_applied: "[]".into(),
                    erythema_grade: Some(1),
                    pinpoint_bleeding: Some(false),
                    notes: None,
                    warnings: "[]".into(),
                    status: "completed".into(),
                    cancel_reason: None,
                    cancelled_at: None,
                    created_at: at,
                    updated_at: at,
                },
                &[],
            )?;
        }
        Ok(protocol.id)
    })?;
    Ok(Fixture { clinic_id, protocol_id })
}

// ---------------------------------------------------------------------------------------------
// Due reminders in bulk.

/// `count` scheduled reminders of the fixture `prefix` (ids `<id_prefix>NNNNNNNNNN`, numbers
/// `1..=count`), reminder `i` on patient `<prefix>-p-(i % patients)` and due `60 + i` seconds
/// before `now` (so consecutive claims fall on different patients), in one statement
/// (`generate_series` on PostgreSQL, a recursive CTE on SQLite).
pub fn insert_due(
    conn: &mut DbConnection,
    fx: &Fixture,
    prefix: &str,
    id_prefix: &str,
    patients: usize,
    count: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let pg = matches!(conn, DbConnection::Postgres(_));
    let base = to_db(now).format("%Y-%m-%d %H:%M:%S").to_string();
    let (instant, generator, source, id, now_lit) = if pg {
        (
            format!("(TIMESTAMP '{base}' - (60 + i) * INTERVAL '1 second')"),
            String::new(),
            format!("generate_series(1, {count}) AS g(i)"),
            format!("'{id_prefix}' || lpad(CAST(i AS TEXT), 10, '0')"),
            format!("TIMESTAMP '{base}'"),
        )
    } else {
        (
            format!("strftime('%Y-%m-%d %H:%M:%S', '{base}', CAST(-(60 + i) AS TEXT) || ' seconds')"),
            format!("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {count}) "),
            "g".to_owned(),
            format!("'{id_prefix}' || printf('%010d', i)"),
            format!("'{base}'"),
        )
    };
    let sql = format!(
        "{generator}INSERT INTO reminders (id, clinic_id, patient_id, session_id, protocol_id, step_key, occurrence, \
         kind, planned_at, due_at, status, attempts, status_reason, last_error, sent_at, done_at, created_at, \
         updated_at) \
         SELECT {id}, '{clinic}', '{prefix}-p-' || CAST(i % {patients} AS TEXT), \
         '{prefix}-s-' || CAST(i % {patients} AS TEXT), '{protocol}', 'first_day_care', i, 'avoid', {instant}, \
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
