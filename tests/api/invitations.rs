//! Admins invite staff by email; the one-time token sets a password and logs the invitee in.

use crate::helpers::{PASSWORD, TestApp, access, assert_problem};
use chrono::Duration;
use serde_json::{Value, json};

#[tokio::test]
async fn an_invited_clinician_sets_a_password_and_joins_the_clinic() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = app
        .post("/api/v1/staff/invitations", &json!({"email": "Dr.Lee@Glow.example", "role": "clinician"}), Some(&admin))
        .await;
    assert_eq!(res.status(), 201);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["email"], "dr.lee@glow.example");
    assert_eq!(view["role"], "clinician");
    assert_eq!(view["expires_at"], "2026-03-19T09:00:00Z");
    assert!(view.get("token").is_none(), "the token travels only by email");

    let mail = app.outbox().pop().unwrap();
    assert_eq!(mail.to, "dr.lee@glow.example");
    assert!(mail.subject.contains("Glow Skin Clinic"));
    assert!(mail.html.contains("Glow Skin Clinic") && mail.text.contains("/invite?token="));

    let token = app.invitation_token("dr.lee@glow.example");
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let me: Value = app.get("/api/v1/me", Some(&access(&tokens))).await.json().await.unwrap();
    assert_eq!(me["role"], "clinician");
    assert_eq!(me["clinic"]["name"], "Glow Skin Clinic");
    app.login("dr.lee@glow.example", PASSWORD).await;

    let staff: Value = app.get("/api/v1/staff", Some(&admin)).await.json().await.unwrap();
    let emails: Vec<&str> = staff["items"].as_array().unwrap().iter().map(|s| s["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["admin@glow.example", "dr.lee@glow.example"]);
}

#[tokio::test]
async fn an_invitation_works_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await;
    let token = app.invitation_token("dr.lee@glow.example");
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_problem(res, 409, "invitation_already_used").await;
}

#[tokio::test]
async fn an_expired_invitation_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.post("/api/v1/staff/invitations", &json!({"email": "late@glow.example", "role": "admin"}), Some(&admin)).await;
    let token = app.invitation_token("late@glow.example");
    app.clock.advance(Duration::hours(72));
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_problem(res, 409, "invitation_expired").await;
}

#[tokio::test]
async fn unknown_tokens_and_weak_passwords_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": "nope", "password": PASSWORD}), None).await;
    assert_problem(res, 404, "invitation_not_found").await;
    app.post("/api/v1/staff/invitations", &json!({"email": "weak@glow.example", "role": "clinician"}), Some(&admin))
        .await;
    let token = app.invitation_token("weak@glow.example");
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": "short"}), None).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "password");
    let long = "x".repeat(257);
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": long}), None).await;
    assert_problem(res, 422, "validation_failed").await;
    // The invitation is still usable after the refusals.
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn only_admins_invite_and_only_staff_roles() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let clinician = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let body = json!({"email": "x@glow.example", "role": "clinician"});
    assert_problem(app.post("/api/v1/staff/invitations", &body, Some(&clinician)).await, 403, "forbidden").await;
    assert_problem(app.post("/api/v1/staff/invitations", &body, None).await, 401, "unauthenticated").await;
    assert_problem(app.get("/api/v1/staff", Some(&clinician)).await, 403, "forbidden").await;

    let res = app
        .post("/api/v1/staff/invitations", &json!({"email": "p@glow.example", "role": "patient"}), Some(&admin))
        .await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "role");
    let res =
        app.post("/api/v1/staff/invitations", &json!({"email": "p@glow.example", "role": "owner"}), Some(&admin)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "role");
    let res =
        app.post("/api/v1/staff/invitations", &json!({"email": "not-an-email", "role": "admin"}), Some(&admin)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "email");
    let res = app
        .post("/api/v1/staff/invitations", &json!({"email": "dr.lee@glow.example", "role": "admin"}), Some(&admin))
        .await;
    assert_problem(res, 409, "account_exists").await;
}

#[tokio::test]
async fn staff_lists_show_only_the_callers_clinic() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_admin("Other Clinic", "boss@other.example").await;
    let other = access(&app.login("boss@other.example", PASSWORD).await);
    app.invite_and_accept(&other, "doc@other.example", "clinician").await;
    let staff: Value = app.get("/api/v1/staff", Some(&admin)).await.json().await.unwrap();
    let text = staff.to_string();
    assert!(!text.contains("other.example"), "{text}");
    assert_eq!(staff["items"].as_array().unwrap().len(), 1);
}
