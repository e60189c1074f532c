//! Replicas: `aftercare serve` processes with the default settings, except where they must
//! differ (the database, their port, the SMTP sink, a JWT secret shared by all) and what a drill
//! overrides.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::bail;
use tokio::runtime::Runtime;

pub const JWT_SECRET: &str = "drills-secret-drills-secret-drills-secret!";

pub struct Replica {
    pub name: String,
    child: Child,
    pub port: u16,
    log: PathBuf,
    exited: bool,
}

impl Replica {
    /// Starts `bin serve` in `dir` (its data directory and log) on a free port, sending mail to
    /// `smtp` (a sink port) when given; `extra` are further `AFTERCARE__…` settings.
    pub fn spawn(
        bin: &Path,
        name: &str,
        dir: &Path,
        db_url: &str,
        smtp: Option<u16>,
        extra: &[(&str, String)],
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
        // An empty config file: the defaults and the environment only (a file named by
        // AFTERCARE_CONFIG must exist).
        let config = dir.join("empty.toml");
        std::fs::write(&config, "")?;
        cmd.env("AFTERCARE_CONFIG", &config)
            .env("DATABASE_URL", db_url)
            .env("AFTERCARE__DATA_DIR", dir)
            .env("AFTERCARE__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("AFTERCARE__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("AFTERCARE__AUTH__JWT_SECRET", JWT_SECRET);
        if let Ok(level) = std::env::var("DRILLS_LOG_LEVEL") {
            cmd.env("AFTERCARE__LOG__LEVEL", level);
        }
        if let Some(p) = smtp {
            cmd.env("AFTERCARE__MAIL__SMTP_URL", format!("smtp://127.0.0.1:{p}"));
        }
        for (key, value) in extra {
            cmd.env(key, value);
        }
        let child = cmd.spawn().map_err(|e| anyhow::anyhow!("cannot start {}: {e}", bin.display()))?;
        Ok(Self { name: name.to_owned(), child, port, log, exited: false })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        !self.exited && matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait_ready(&mut self, rt: &Runtime, client: &reqwest::Client, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/readyz", self.base_url());
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
                bail!("{} not ready after {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kill -9` (std's `Child::kill` sends SIGKILL on Unix).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.exited = true;
        Ok(())
    }

    pub fn stop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.exited = true;
        }
    }

    /// How many errors and failed passes the replica logged.
    pub fn log_summary(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let errors = text.lines().filter(|l| l.contains("ERROR")).count();
        let failed = text.lines().filter(|l| l.contains("pass failed")).count();
        format!("{} {errors} errors ({failed} failed passes)", self.name)
    }

    pub fn print_log_tail(&self, lines: usize) {
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
