//! Access tokens stop when their login stops (logout, reuse, erasure, ending every session of an
//! account).

use aftercare::{
    services::login_sessions,
    startup::{Application, Overrides},
};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, access, assert_problem, ok, refresh};

/// POST with an `Idempotency-Key` and, if given, the whole `Authorization` header value.
async fn post_keyed(app: &TestApp, path: &str, key: &str, authorization: Option<&str>, body: &Value) -> Response {
    let mut req = app.client.post(app.url(path)).header("Idempotency-Key", key).json(body);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn after_logout_the_access_token_stops_at_once_and_another_login_keeps_working() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    let (phone, laptop) = (app.login(&email, PASSWORD).await, app.login(&email, PASSWORD).await);
    // Both are remembered as live by now.
    ok(app.get("/api/v1/me", Some(&access(&phone))).await, 200).await;
    ok(app.get("/api/v1/me", Some(&access(&laptop))).await, 200).await;

    let res = app.post("/api/v1/auth/logout", &json!({"refresh_token": refresh(&phone)}), None).await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get("/api/v1/me", Some(&access(&phone))).await, 401, "invalid_token").await;
    let res =
        post_keyed(&app, "/api/v1/patients", "k-1", Some(&format!("Bearer {}", access(&phone))), &json!({})).await;
    assert_problem(res, 401, "invalid_token").await;
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&phone)}), None).await;
    assert_eq!(res.status(), 401);

    ok(app.get("/api/v1/me", Some(&access(&laptop))).await, 200).await;
    // A refreshed token stays in its login: it works, and stops with that login.
    let rotated =
        ok(app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&laptop)}), None).await, 200).await;
    ok(app.get("/api/v1/me", Some(&access(&rotated))).await, 200).await;
    ok(app.get("/api/v1/me", Some(&access(&laptop))).await, 200).await;
    let res = app.post("/api/v1/auth/logout", &json!({"refresh_token": refresh(&rotated)}), None).await;
    assert_eq!(res.status(), 204);
    for token in [access(&laptop), access(&rotated)] {
        assert_problem(app.get("/api/v1/me", Some(&token)).await, 401, "invalid_token").await;
    }
}

#[tokio::test]
async fn a_reused_refresh_token_stops_the_access_tokens_of_its_login() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    let stolen = app.login(&email, PASSWORD).await;
    let other = app.login(&email, PASSWORD).await;
    let rotated =
        ok(app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&stolen)}), None).await, 200).await;
    ok(app.get("/api/v1/me", Some(&access(&rotated))).await, 200).await;
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&stolen)}), None).await;
    assert_problem(res, 401, "refresh_token_reused").await;
    assert_problem(app.get("/api/v1/me", Some(&access(&rotated))).await, 401, "invalid_token").await;
    ok(app.get("/api/v1/me", Some(&access(&other))).await, 200).await;
}

#[tokio::test]
async fn ending_every_session_of_an_account_stops_all_its_access_tokens() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    let (a, b) = (app.login(&email, PASSWORD).await, app.login(&email, PASSWORD).await);
    let me = ok(app.get("/api/v1/me", Some(&access(&a))).await, 200).await;
    ok(app.get("/api/v1/me", Some(&access(&b))).await, 200).await;
    let account = me["id"].as_str().unwrap().to_owned();

    assert_eq!(login_sessions::end_all_sessions(&app.state, &account).await.unwrap(), 2);
    for tokens in [&a, &b] {
        assert_problem(app.get("/api/v1/me", Some(&access(tokens))).await, 401, "invalid_token").await;
        let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(tokens)}), None).await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(login_sessions::end_all_sessions(&app.state, &account).await.unwrap(), 0, "nothing left");
    let fresh = app.login(&email, PASSWORD).await;
    ok(app.get("/api/v1/me", Some(&access(&fresh))).await, 200).await;
}

/// Another replica (a second server on the same database) remembers a session it saw as live
/// for at most `SESSION_CHECK_TTL`; the replica that ended it refuses at once.
#[tokio::test]
async fn another_replica_refuses_an_ended_login_within_the_check_interval() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    let tokens = app.login(&email, PASSWORD).await;
    let settings = (*app.state.settings).clone();
    let clock = Some(std::sync::Arc::new(app.clock.clone()) as aftercare::clock::SharedClock);
    let mailer = Some(app.state.mailer.clone());
    let other = Application::build(settings, Overrides { mailer, clock }).await.unwrap();
    let other_url = format!("http://127.0.0.1:{}/api/v1/me", other.port());
    tokio::spawn(other.run_until_stopped());
    let on_other = || app.client.get(&other_url).bearer_auth(access(&tokens)).send();
    assert_eq!(on_other().await.unwrap().status(), 200);

    let res = app.post("/api/v1/auth/logout", &json!({"refresh_token": refresh(&tokens)}), None).await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get("/api/v1/me", Some(&access(&tokens))).await, 401, "invalid_token").await;
    tokio::time::sleep(login_sessions::SESSION_CHECK_TTL + std::time::Duration::from_millis(200)).await;
    assert_eq!(on_other().await.unwrap().status(), 401);
}
