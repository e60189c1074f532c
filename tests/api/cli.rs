//! The `aftercare` binary as a new user meets it: create-admin, serve, log in, stop; and clear
//! one-line failures for bad settings.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{PASSWORD, fresh_postgres};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_aftercare");

/// The binary with a clean environment pointing at `dir` (and PostgreSQL when testing on it).
fn aftercare(dir: &std::path::Path, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AFTERCARE__DATA_DIR", dir)
        // No aftercare.toml there: the defaults and the environment only.
        .current_dir(dir)
        .env("AFTERCARE__LOG__LEVEL", "warn");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_new_user_creates_an_admin_serves_logs_in_and_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let pg = fresh_postgres();
    let db = pg.as_ref().map(|(url, _)| url.as_str());

    let out = aftercare(dir.path(), db)
        .args(["create-admin", "--clinic", "Glow Skin Clinic", "--email", "owner@glow.example"])
        .env("AFTERCARE_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created clinic"));

    let port = free_port();
    let mut server = aftercare(dir.path(), db)
        .env("AFTERCARE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "owner@glow.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string());
    // The generated JWT secret is kept under the data dir.
    assert!(dir.path().join("jwt_secret").exists());

    // The container health check: ready with the server up, on its configured bind or a URL.
    let check = aftercare(dir.path(), db)
        .env("AFTERCARE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
    let check = aftercare(dir.path(), db).args(["healthcheck", "--url", &format!("{base}/readyz")]).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));

    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let stopping = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "graceful stop exits 0, got {status}");
            break;
        }
        assert!(stopping.elapsed() < Duration::from_secs(15), "server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn create_admin_reads_the_password_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = aftercare(dir.path(), None)
        .args(["create-admin", "--clinic", "Glow", "--email", "owner@glow.example"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Twice is refused.
    let out = aftercare(dir.path(), None)
        .args(["create-admin", "--clinic", "Glow", "--email", "owner@glow.example"])
        .env("AFTERCARE_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn create_admin_refuses_a_short_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = aftercare(dir.path(), None)
        .args(["create-admin", "--clinic", "Glow", "--email", "owner@glow.example"])
        .env("AFTERCARE_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
}

/// Runs `serve` with `env` and expects a quick failure with one line naming `needle`.
fn fails_fast_naming(env: &[(&str, &str)], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = aftercare(dir.path(), None);
    cmd.env("AFTERCARE__SERVER__BIND", format!("127.0.0.1:{}", free_port()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{stderr}");
}

#[test]
fn an_unreachable_database_fails_fast_with_one_clear_line() {
    let port = free_port();
    fails_fast_naming(
        &[("DATABASE_URL", &format!("postgres://aftercare:s3cret@127.0.0.1:{port}/aftercare"))],
        "cannot open the database postgres://aftercare:***@127.0.0.1",
    );
}

#[test]
fn bad_settings_fail_fast_naming_the_setting() {
    fails_fast_naming(&[("DATABASE_URL", "mysql://localhost/x")], "mysql://");
    fails_fast_naming(&[("AFTERCARE__AUTH__JWT_SECRET", "too-short")], "AFTERCARE__AUTH__JWT_SECRET");
    fails_fast_naming(&[("AFTERCARE__SERVER__BIND", "nonsense")], "AFTERCARE__SERVER__BIND");
    fails_fast_naming(&[("AFTERCARE__SERVER__WORKERS", "many")], "AFTERCARE__SERVER__WORKERS");
    fails_fast_naming(&[("AFTERCARE__SERVER__NO_SUCH_THING", "1")], "no_such_thing");
    fails_fast_naming(&[("AFTERCARE__MAIL__SMTP_URL", "http://mail")], "AFTERCARE__MAIL__SMTP_URL");
    fails_fast_naming(&[("AFTERCARE__ENVIRONMENT", "production")], "AFTERCARE__AUTH__JWT_SECRET");
}

#[test]
fn migrate_runs_alone_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = aftercare(dir.path(), None).arg("migrate").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(dir.path().join("aftercare.db").exists());
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let out = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "run `cargo run -- openapi --output openapi/openapi.json`"
    );
}

/// `aftercare healthcheck` against `url`: its exit code, stderr and how long it took.
fn healthcheck(url: &str) -> (Option<i32>, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = aftercare(dir.path(), None).args(["healthcheck", "--url", url]).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), started.elapsed())
}

#[test]
fn the_healthcheck_fails_on_a_closed_port_a_silent_server_and_a_non_200() {
    let (code, stderr, _) = healthcheck(&format!("http://127.0.0.1:{}/readyz", free_port()));
    assert_eq!(code, Some(1), "closed port: {stderr}");
    assert!(stderr.starts_with("error: cannot connect"), "{stderr}");

    // Accepts the connection and never answers: the check gives up within its timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", silent.local_addr().unwrap());
    let (code, stderr, took) = healthcheck(&url);
    assert_eq!(code, Some(1), "silent server: {stderr}");
    assert!(took < Duration::from_secs(5), "bounded: took {took:?}");

    // Answers 503 (not ready): unhealthy.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", busy.local_addr().unwrap());
    let answer = std::thread::spawn(move || {
        let (mut conn, _) = busy.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 512];
        while !request.ends_with(b"\r\n\r\n") {
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
            assert!(n > 0, "the request ends with an empty line");
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let (code, stderr, _) = healthcheck(&url);
    let request = answer.join().unwrap();
    assert!(request.starts_with("GET /readyz HTTP/1.1\r\n") && request.contains("\r\nHost: 127.0.0.1:"), "{request}");
    assert_eq!(code, Some(1), "503: {stderr}");
    assert!(stderr.contains("503"), "{stderr}");
}

#[test]
fn create_admin_help_describes_each_flag() {
    let out = Command::new(BIN).args(["create-admin", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, words) in [("--clinic <NAME>", "clinic's name"), ("--email <ADDRESS>", "email address")] {
        let line = help.lines().find(|l| l.trim_start().starts_with(flag)).unwrap_or_else(|| panic!("{flag}: {help}"));
        assert!(line.contains(words), "{flag} is described: {line}");
    }
    assert!(help.contains("AFTERCARE_ADMIN_PASSWORD"), "{help}");
}

#[test]
fn a_missing_or_broken_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("aftercare-typo.toml");
    fails_fast_naming(&[("AFTERCARE_CONFIG", missing.to_str().unwrap())], "aftercare-typo.toml");
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[server]\nbind = \"127.0.0.1:9000\"\nworkers = \n").unwrap();
    fails_fast_naming(&[("AFTERCARE_CONFIG", broken.to_str().unwrap())], "broken.toml");
    fails_fast_naming(&[("AFTERCARE_CONFIG", broken.to_str().unwrap())], "line 3");
}
