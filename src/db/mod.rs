//! Storage: one `MultiConnection` over SQLite and PostgreSQL, an r2d2 pool whose backend is
//! chosen from the URL scheme (never by trial), PRAGMAs on every SQLite connection, embedded
//! migrations per backend, and the blocking-pool bridge the async code uses.
//!
//! SQLite allows one writer at a time. Rather than letting concurrent write transactions fail
//! with `SQLITE_BUSY` when a deferred transaction tries to upgrade its lock, [`Db::write`] takes a
//! process-wide lock for SQLite only; PostgreSQL writers run concurrently.

pub mod raw;
pub mod schema;
mod time;
pub mod types;

pub use time::{DbTime, DbTimeOpt};

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::{
    connection::SimpleConnection,
    pg::PgConnection,
    prelude::*,
    r2d2::{self, ManageConnection},
    sqlite::SqliteConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Runs `$body` with `$c` bound to the backend's own connection (`PgConnection` or
/// `SqliteConnection`); the body is compiled once for each backend. For hot reads: a statement
/// run through the multi-backend connection has its SQL written out again on every execution
/// (diesel's `MultiConnection` wraps each query in one that serializes the inner query for
/// every pass over it), and its rows are read through one more layer.
macro_rules! natively {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use natively;

/// A connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database the URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database location parsed from `DATABASE_URL`.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the driver receives: a file path for SQLite, the URL for PostgreSQL.
    target: String,
}

impl DatabaseUrl {
    /// `postgres://` / `postgresql://` → PostgreSQL; `sqlite://path`, `sqlite:path` or a plain
    /// path → SQLite. Any other scheme is refused rather than taken as a file name.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        anyhow::ensure!(!raw.is_empty(), "DATABASE_URL is empty");
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let mut target = raw.to_owned();
            if !target.contains("connect_timeout=") {
                target.push(if target.contains('?') { '&' } else { '?' });
                target.push_str("connect_timeout=5");
            }
            return Ok(Self { backend: Backend::Postgres, target });
        }
        if let Some(rest) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            anyhow::ensure!(!rest.is_empty(), "DATABASE_URL names no SQLite file");
            return Ok(Self { backend: Backend::Sqlite, target: rest.to_owned() });
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            anyhow::bail!("DATABASE_URL has the unsupported scheme `{scheme}://` (use sqlite://PATH or postgres://…)");
        }
        Ok(Self { backend: Backend::Sqlite, target: raw.to_owned() })
    }

    /// The location with any password hidden, for messages and logs.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => match url::Url::parse(&self.target) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.set_query(None);
                    url.to_string()
                }
                Err(_) => "postgres://(unparsable)".to_owned(),
            },
        }
    }

    /// The SQLite file path, when this is SQLite.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then_some(self.target.as_str())
    }
}

/// r2d2 manager that opens the backend the URL names and sets SQLite PRAGMAs.
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match self.url.backend {
            Backend::Postgres => PgConnection::establish(&self.url.target)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target).map_err(r2d2::Error::ConnectionError)?;
                // A checkpoint (copying the WAL's pages into the database file, then an fsync)
                // every 10,000 pages (~40 MB of WAL) rather than SQLite's 1,000: the read audit
                // writer's batches dirty many of the same index pages again and again, and a
                // checkpoint after nearly every batch copied them each time (a visible share of
                // the server's CPU under a read load: docs/performance.md, item 29).
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = 10000;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    /// Checked on every checkout: a PostgreSQL connection may have been cut (a server restart),
    /// and a stale one is replaced before a request sees it. A SQLite connection is a file handle
    /// in this process; there is nothing to ask.
    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        match conn {
            DbConnection::Postgres(c) => c.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError),
            DbConnection::Sqlite(_) => Ok(()),
        }
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Errors from running a database closure off the async threads.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("database task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The pool plus what the app needs to use it well on each backend.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    write_lock: Arc<std::sync::Mutex<()>>,
    checkouts: Arc<Checkouts>,
}

/// Checkouts waiting now, and those that gave up waiting (for `/metrics`).
#[derive(Default)]
struct Checkouts {
    waiting: AtomicU64,
    timeouts: AtomicU64,
}

impl Db {
    /// Opens the database: one direct connection first so that a bad URL or an unreachable
    /// server is reported with the driver's own words, then the pool.
    pub fn connect(url: &DatabaseUrl, pool_size: u32, timeout: Duration) -> anyhow::Result<Self> {
        if let Some(path) = url.sqlite_path()
            && let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory for {}", url.redacted()))?;
        }
        let manager = Manager { url: url.clone() };
        manager.connect().map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", url.redacted()))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(timeout)
            .build(manager)
            .with_context(|| format!("cannot open the database {}", url.redacted()))?;
        Ok(Self { pool, backend: url.backend, write_lock: Arc::default(), checkouts: Arc::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection, for blocking code (CLI commands, jobs already off the runtime).
    pub fn get(&self) -> Result<PooledConn, DbError> {
        self.checkouts.waiting.fetch_add(1, Ordering::Relaxed);
        let conn = self.pool.get();
        self.checkouts.waiting.fetch_sub(1, Ordering::Relaxed);
        if conn.is_err() {
            self.checkouts.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(conn?)
    }

    /// The pool now: connections open and idle, checkouts waiting, and those that timed out.
    pub fn pool_stats(&self) -> crate::telemetry::metrics::PoolStats {
        let state = self.pool.state();
        crate::telemetry::metrics::PoolStats {
            connections: state.connections,
            idle: state.idle_connections,
            waiting: self.checkouts.waiting.load(Ordering::Relaxed),
            timeouts: self.checkouts.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Applies pending migrations for this backend.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        }
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
        tracing::info!(migrations.applied = applied, "database schema up to date");
        Ok(())
    }

    /// Runs a read (or a single self-contained statement) on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = this.get()?;
            Ok(f(&mut conn)?)
        })
        .await?
    }

    /// Runs `f` in one transaction on the blocking pool; on SQLite, writers take turns.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.write_blocking(f)).await.map_err(|e| E::from(DbError::Join(e)))?
    }

    /// [`Db::write`] for code that is already off the async threads.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
    {
        let mut conn = self.get().map_err(E::from)?;
        let _guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres => None,
        };
        (*conn).transaction(f)
    }

    /// One self-contained write statement on the blocking pool, without a transaction around it
    /// (a single statement is atomic: one round trip instead of three); on SQLite it still takes
    /// its turn among writers.
    pub async fn execute<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = this.get()?;
            let _guard = match this.backend {
                Backend::Sqlite => Some(this.write_lock.lock().unwrap_or_else(|p| p.into_inner())),
                Backend::Postgres => None,
            };
            Ok(f(&mut conn)?)
        })
        .await?
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.run(|c| c.batch_execute("SELECT 1")).await.is_ok()
    }
}

/// An instant as stored: UTC, truncated to microseconds (PostgreSQL's precision).
pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

/// A stored instant back as UTC.
pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A new time-ordered id (UUIDv7) as stored text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether a diesel error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend_by_scheme() {
        let pg = DatabaseUrl::parse("postgres://u:secret@localhost/db").unwrap();
        assert_eq!(pg.backend, Backend::Postgres);
        assert!(!pg.redacted().contains("secret"), "{}", pg.redacted());
        assert_eq!(DatabaseUrl::parse("sqlite://data/a.db").unwrap().sqlite_path(), Some("data/a.db"));
        assert_eq!(DatabaseUrl::parse("sqlite:a.db").unwrap().sqlite_path(), Some("a.db"));
        assert_eq!(DatabaseUrl::parse("./data/a.db").unwrap().backend, Backend::Sqlite);
        let err = DatabaseUrl::parse("mysql://localhost/db").err().unwrap().to_string();
        assert!(err.contains("mysql://"), "{err}");
        assert!(DatabaseUrl::parse("  ").is_err());
    }

    /// `.cargo/config.toml` sets `LIBSQLITE3_FLAGS`; a build without it would re-plan statements
    /// on every execution (see there).
    #[test]
    fn bundled_sqlite_is_built_with_our_options() {
        use diesel::{Connection, RunQueryDsl, sql_types::Integer};
        #[derive(diesel::QueryableByName)]
        struct Used {
            #[diesel(sql_type = Integer)]
            qpsg: i32,
            #[diesel(sql_type = Integer)]
            stat4: i32,
            #[diesel(sql_type = Integer)]
            memstatus_off: i32,
            #[diesel(sql_type = Integer)]
            multi_thread: i32,
        }
        let mut c = diesel::SqliteConnection::establish(":memory:").unwrap();
        let used: Used = diesel::sql_query(
            "SELECT sqlite_compileoption_used('ENABLE_QPSG') AS qpsg, \
             sqlite_compileoption_used('ENABLE_STAT4') AS stat4, \
             sqlite_compileoption_used('DEFAULT_MEMSTATUS=0') AS memstatus_off, \
             sqlite_compileoption_used('THREADSAFE=2') AS multi_thread",
        )
        .get_result(&mut c)
        .unwrap();
        assert_eq!((used.qpsg, used.stat4, used.memstatus_off, used.multi_thread), (1, 0, 1, 1));
    }

    /// Every pooled SQLite connection gets the settings `Manager::connect` gives it (a pool may
    /// open a connection at any time, so none may miss one).
    #[test]
    fn pooled_sqlite_connections_have_our_settings() {
        use diesel::{RunQueryDsl, sql_types::Text};
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Text)]
            value: String,
        }
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("a.db").display())).unwrap();
        let db = Db::connect(&url, 2, Duration::from_secs(5)).unwrap();
        let (mut first, mut second) = (db.get().unwrap(), db.get().unwrap());
        for conn in [&mut first, &mut second] {
            let DbConnection::Sqlite(c) = &mut **conn else { panic!("a SQLite connection") };
            // (pragma, its column); `wal_autocheckpoint` has no table-valued function
            let mut settings: Vec<String> = [
                ("foreign_keys", "foreign_keys"),
                ("busy_timeout", "timeout"),
                ("journal_mode", "journal_mode"),
                ("synchronous", "synchronous"),
            ]
            .map(|(name, column)| {
                diesel::sql_query(format!("SELECT CAST({column} AS TEXT) AS value FROM pragma_{name}"))
                    .get_result::<Setting>(c)
                    .unwrap()
                    .value
            })
            .into();
            #[derive(diesel::QueryableByName)]
            struct Checkpoint {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                wal_autocheckpoint: i32,
            }
            let pages = diesel::sql_query("PRAGMA wal_autocheckpoint").get_result::<Checkpoint>(c).unwrap();
            settings.push(pages.wal_autocheckpoint.to_string());
            // synchronous 1 = NORMAL
            assert_eq!(settings, ["1", "10000", "wal", "1", "10000"]);
        }
    }

    #[test]
    fn stored_instants_keep_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-03-29T01:02:03.123456789Z").unwrap().to_utc();
        assert_eq!(from_db(to_db(t)).to_rfc3339(), "2026-03-29T01:02:03.123456+00:00");
    }
}
