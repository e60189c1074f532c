//! Login, access tokens, refresh rotation with reuse detection, logout, rate limits.

use crate::helpers::{PASSWORD, TestApp, access, assert_problem, refresh};
use chrono::Duration;
use serde_json::{Value, json};

#[tokio::test]
async fn login_returns_a_bearer_pair_and_me_shows_the_account() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow Skin Clinic", "Admin@Glow.example").await;
    let tokens = app.login(&email.to_lowercase(), PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(access(&tokens).split('.').count(), 3);
    assert!(refresh(&tokens).len() >= 40);

    let me: Value = app.get("/api/v1/me", Some(&access(&tokens))).await.json().await.unwrap();
    assert_eq!(me["email"], "admin@glow.example");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["clinic"]["name"], "Glow Skin Clinic");
    assert!(uuid::Uuid::parse_str(me["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn emails_are_matched_case_insensitively_at_login() {
    let app = TestApp::spawn().await;
    app.create_admin("Glow", "admin@glow.example").await;
    app.login("  ADMIN@glow.EXAMPLE ", PASSWORD).await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow", "admin@glow.example").await;
    let wrong = app.post("/api/v1/auth/login", &json!({"email": email, "password": "not the password"}), None).await;
    let wrong = assert_problem(wrong, 401, "invalid_credentials").await;
    let unknown = app
        .post("/api/v1/auth/login", &json!({"email": "nobody@glow.example", "password": "not the password"}), None)
        .await;
    let unknown = assert_problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    let garbage = app.post("/api/v1/auth/login", &json!({"email": "", "password": ""}), None).await;
    assert_eq!(assert_problem(garbage, 401, "invalid_credentials").await, wrong);
}

#[tokio::test]
async fn protected_routes_need_a_valid_unexpired_token() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_problem(app.get("/api/v1/me", None).await, 401, "unauthenticated").await;
    let tampered = format!("{}x", token);
    assert_problem(app.get("/api/v1/me", Some(&tampered)).await, 401, "invalid_token").await;
    let res = app.get("/api/v1/me", None).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");

    app.clock.advance(Duration::seconds(899));
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status(), 200);
    app.clock.advance(Duration::seconds(1));
    assert_problem(app.get("/api/v1/me", Some(&token)).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow", "admin@glow.example").await;
    let other = TestApp::spawn_with(|s| {
        s.auth.jwt_secret = Some(secrecy::SecretString::from("another-secret-another-secret-12345"))
    })
    .await;
    other.create_admin("Glow", &email).await;
    let foreign = access(&other.login(&email, PASSWORD).await);
    assert_problem(app.get("/api/v1/me", Some(&foreign)).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow", "admin@glow.example").await;
    let first = app.login(&email, PASSWORD).await;
    let other_login = app.login(&email, PASSWORD).await;

    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&first)}), None).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_ne!(refresh(&second), refresh(&first));
    assert_eq!(app.get("/api/v1/me", Some(&access(&second))).await.status(), 200);

    // The first token again: someone replayed it. The whole family dies, the new one too.
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&first)}), None).await;
    assert_problem(res, 401, "refresh_token_reused").await;
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&second)}), None).await;
    assert_problem(res, 401, "refresh_token_reused").await;

    // Another login (another family) is untouched.
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&other_login)}), None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unknown_and_expired_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow", "admin@glow.example").await;
    let tokens = app.login(&email, PASSWORD).await;
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": "made-up"}), None).await;
    assert_problem(res, 401, "invalid_refresh_token").await;
    app.clock.advance(Duration::days(30));
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&tokens)}), None).await;
    assert_problem(res, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let email = app.create_admin("Glow", "admin@glow.example").await;
    let tokens = app.login(&email, PASSWORD).await;
    let res = app.post("/api/v1/auth/logout", &json!({"refresh_token": refresh(&tokens)}), None).await;
    assert_eq!(res.status(), 204);
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&tokens)}), None).await;
    assert_eq!(res.status(), 401);
    // Logging out twice, or with an unknown token, is fine and reveals nothing.
    let res = app.post("/api/v1/auth/logout", &json!({"refresh_token": "unknown"}), None).await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn login_attempts_are_limited_per_account_with_retry_after() {
    let app = TestApp::spawn_with(|s| s.auth.login_per_account_per_minute = 3).await;
    let email = app.create_admin("Glow", "admin@glow.example").await;
    for _ in 0..3 {
        let res = app.post("/api/v1/auth/login", &json!({"email": email, "password": "wrong password"}), None).await;
        assert_eq!(res.status(), 401);
    }
    let res = app.post("/api/v1/auth/login", &json!({"email": email, "password": PASSWORD}), None).await;
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(res, 429, "too_many_requests").await;
    // Other accounts are not locked out by it.
    app.create_admin("Other", "other@glow.example").await;
    app.login("other@glow.example", PASSWORD).await;
    // A minute later the account may try again.
    app.clock.advance(Duration::seconds(60));
    app.login(&email, PASSWORD).await;
}

#[tokio::test]
async fn login_attempts_are_limited_per_client_ip() {
    let app = TestApp::spawn_with(|s| s.auth.login_per_ip_per_minute = 4).await;
    for i in 0..4 {
        let res = app
            .post("/api/v1/auth/login", &json!({"email": format!("u{i}@glow.example"), "password": "whatever12"}), None)
            .await;
        assert_eq!(res.status(), 401);
    }
    let res =
        app.post("/api/v1/auth/login", &json!({"email": "u9@glow.example", "password": "whatever12"}), None).await;
    assert_problem(res, 429, "too_many_requests").await;
}
