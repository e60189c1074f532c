//! Accounts against attackers and careless clients (issue 23, items 4, 7 and 12): an invitation
//! belongs to an address and can be revoked; new passwords must be hard to guess; inviting
//! another clinic's user tells nothing about them.

use aftercare::{
    clock::Clock,
    services::bootstrap::{self, BootstrapError},
};
use chrono::Duration;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, access, assert_problem, ok, token_from_text};

async fn patch(app: &TestApp, path: &str, body: &Value, token: &str) -> Response {
    app.client.patch(app.url(path)).bearer_auth(token).json(body).send().await.unwrap()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    app.client.delete(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn accept(app: &TestApp, token: &str, password: &str) -> Response {
    app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": password}), None).await
}

async fn invite_staff(app: &TestApp, admin: &str, email: &str) -> Value {
    ok(app.post("/api/v1/staff/invitations", &json!({"email": email, "role": "clinician"}), Some(admin)).await, 201)
        .await
}

async fn create_patient(app: &TestApp, staff: &str, name: &str, email: &str) -> Value {
    let body = json!({"name": name, "email": email, "time_zone": "Europe/London"});
    ok(app.post("/api/v1/patients", &body, Some(staff)).await, 201).await
}

/// The emails of the open invitations the caller sees, newest first.
async fn listed(app: &TestApp, token: &str) -> Vec<String> {
    let page = ok(app.get("/api/v1/invitations", Some(token)).await, 200).await;
    page["items"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap().to_owned()).collect()
}

fn mails_to(app: &TestApp, to: &str) -> Vec<aftercare::email::Email> {
    app.outbox().into_iter().filter(|m| m.to == to).collect()
}

// ---- Item 4: an invitation belongs to an address --------------------------------------------

#[tokio::test]
async fn a_patient_invitation_stops_working_when_the_patient_s_email_changes() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let p = create_patient(&app, &staff, "Jane Doe", "jane@x.example").await;
    let pid = p["id"].as_str().unwrap();
    let old_token = app.invitation_token("jane@x.example");

    ok(patch(&app, &format!("/api/v1/patients/{pid}"), &json!({"email": "jane.new@x.example"}), &staff).await, 200)
        .await;

    assert_problem(accept(&app, &old_token, PASSWORD).await, 404, "invitation_not_found").await;
    assert!(listed(&app, &staff).await.is_empty(), "the old address's invitation is revoked");
    // The invitation to the new address works.
    let resent = ok(app.post(&format!("/api/v1/patients/{pid}/invitation"), &json!({}), Some(&staff)).await, 200).await;
    assert_eq!(resent["app_invitation"], "sent");
    let tokens = ok(accept(&app, &app.invitation_token("jane.new@x.example"), PASSWORD).await, 200).await;
    let me = ok(app.get("/api/v1/me", Some(&access(&tokens))).await, 200).await;
    assert_eq!(me["role"], "patient");
}

#[tokio::test]
async fn a_patient_edit_that_keeps_the_email_keeps_the_invitation() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let p = create_patient(&app, &staff, "Jane Doe", "jane@x.example").await;
    let pid = p["id"].as_str().unwrap();
    let body = json!({"name": "Jane Q. Doe", "email": "jane@x.example"});
    ok(patch(&app, &format!("/api/v1/patients/{pid}"), &body, &staff).await, 200).await;
    ok(accept(&app, &app.invitation_token("jane@x.example"), PASSWORD).await, 200).await;
}

#[tokio::test]
async fn a_revoked_invitation_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let view = invite_staff(&app, &admin, "dr.lee@glow.example").await;
    let id = view["id"].as_str().unwrap();
    let token = app.invitation_token("dr.lee@glow.example");

    assert_eq!(delete(&app, &format!("/api/v1/invitations/{id}"), &admin).await.status(), 204);
    assert_eq!(delete(&app, &format!("/api/v1/invitations/{id}"), &admin).await.status(), 204, "idempotent");

    // Revoked looks exactly like unknown.
    let revoked = assert_problem(accept(&app, &token, PASSWORD).await, 404, "invitation_not_found").await;
    let unknown = assert_problem(accept(&app, "no-such-token", PASSWORD).await, 404, "invitation_not_found").await;
    assert_eq!(revoked, unknown);
    assert!(listed(&app, &admin).await.is_empty());
}

#[tokio::test]
async fn the_invitation_list_shows_the_clinic_s_open_invitations_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    invite_staff(&app, &admin, "expired@glow.example").await;
    app.clock.advance(Duration::hours(73));
    let admin = access(&app.login("admin@glow.example", PASSWORD).await);
    app.invite_and_accept(&admin, "accepted@glow.example", "clinician").await;
    let revoked = invite_staff(&app, &admin, "revoked@glow.example").await;
    ok(delete(&app, &format!("/api/v1/invitations/{}", revoked["id"].as_str().unwrap()), &admin).await, 204).await;
    let open = invite_staff(&app, &admin, "open@glow.example").await;
    let p = create_patient(&app, &admin, "Jane Doe", "jane@x.example").await;
    app.create_admin("Other Clinic", "boss@other.example").await;
    let other = access(&app.login("boss@other.example", PASSWORD).await);
    invite_staff(&app, &other, "theirs@other.example").await;

    assert_eq!(listed(&app, &admin).await, ["jane@x.example", "open@glow.example"]);
    assert_eq!(listed(&app, &other).await, ["theirs@other.example"]);
    let page = ok(app.get("/api/v1/invitations?limit=1", Some(&admin)).await, 200).await;
    let item = &page["items"][0];
    assert_eq!(item["role"], "patient");
    assert_eq!(item["patient_id"], p["id"]);
    assert!(item["invited_by"].is_string() && item["expires_at"].is_string() && item.get("token").is_none());
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = ok(app.get(&format!("/api/v1/invitations?limit=1&cursor={cursor}"), Some(&admin)).await, 200).await;
    assert_eq!(next["items"][0], open);
    assert!(next["next_cursor"].is_null());
}

#[tokio::test]
async fn clinicians_see_and_revoke_patient_invitations_only_and_patients_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let clinician = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let staff_invitation = invite_staff(&app, &admin, "new@glow.example").await;
    let p = create_patient(&app, &clinician, "Jane Doe", "jane@x.example").await;
    let patient_invitation = ok(app.get("/api/v1/invitations", Some(&admin)).await, 200).await["items"][0].clone();
    assert_eq!(patient_invitation["patient_id"], p["id"]);

    assert_eq!(listed(&app, &clinician).await, ["jane@x.example"]);
    let staff_path = format!("/api/v1/invitations/{}", staff_invitation["id"].as_str().unwrap());
    assert_problem(delete(&app, &staff_path, &clinician).await, 404, "not_found").await;
    let patient_path = format!("/api/v1/invitations/{}", patient_invitation["id"].as_str().unwrap());
    ok(delete(&app, &patient_path, &clinician).await, 204).await;
    assert_problem(accept(&app, &app.invitation_token("jane@x.example"), PASSWORD).await, 404, "invitation_not_found")
        .await;

    // A patient has no invitations to manage.
    let p2 = create_patient(&app, &admin, "Bea Brummell", "bea@x.example").await;
    let patient = access(&ok(accept(&app, &app.invitation_token("bea@x.example"), PASSWORD).await, 200).await);
    assert_eq!(p2["app_invitation"], "sent");
    assert_problem(app.get("/api/v1/invitations", Some(&patient)).await, 403, "forbidden").await;
    assert_problem(delete(&app, &staff_path, &patient).await, 404, "not_found").await;
    assert_problem(app.get("/api/v1/invitations", None).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn revoking_answers_404_outside_the_clinic_and_409_once_accepted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let view = invite_staff(&app, &admin, "dr.lee@glow.example").await;
    let path = format!("/api/v1/invitations/{}", view["id"].as_str().unwrap());
    app.create_admin("Other Clinic", "boss@other.example").await;
    let other = access(&app.login("boss@other.example", PASSWORD).await);

    assert_problem(delete(&app, &path, &other).await, 404, "not_found").await;
    assert_problem(delete(&app, "/api/v1/invitations/not-an-id", &admin).await, 404, "not_found").await;
    let unknown = format!("/api/v1/invitations/{}", uuid::Uuid::now_v7());
    assert_problem(delete(&app, &unknown, &admin).await, 404, "not_found").await;

    ok(accept(&app, &app.invitation_token("dr.lee@glow.example"), PASSWORD).await, 200).await;
    assert_problem(delete(&app, &path, &admin).await, 409, "invitation_already_used").await;
}

// ---- Item 7: passwords that are hard to guess ----------------------------------------------

#[tokio::test]
async fn guessable_passwords_are_refused_naming_the_rule() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    invite_staff(&app, &admin, "dr.lee@glow.example").await;
    let token = app.invitation_token("dr.lee@glow.example");

    let short = assert_problem(accept(&app, &token, "password1").await, 422, "validation_failed").await;
    assert_eq!(short["errors"], json!([{"field": "password", "message": "must be at least 10 characters"}]));
    for weak in ["password123", "dr.lee@glow.example", "Glow Skin Clinic 2026", "GlowSkinClinic2026"] {
        let body = assert_problem(accept(&app, &token, weak).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "password", "{weak}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("is too easy to guess (strength "), "{weak}: {message}");
        assert!(message.contains(" of 4, needs 3)"), "{weak}: {message}");
    }
    // The refusals used nothing up.
    ok(accept(&app, &token, PASSWORD).await, 200).await;
}

#[tokio::test]
async fn a_patient_s_own_name_is_a_guessable_password() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    create_patient(&app, &staff, "Jane Doe", "jane@x.example").await;
    let token = app.invitation_token("jane@x.example");
    let body = assert_problem(accept(&app, &token, "JaneDoe2026!").await, 422, "validation_failed").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("is too easy to guess"), "{body}");
    ok(accept(&app, &token, PASSWORD).await, 200).await;
}

#[tokio::test]
async fn create_admin_refuses_a_guessable_password() {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let now = app.clock.now();
    let made = tokio::task::spawn_blocking(move || {
        let weak = bootstrap::create_admin(&db, "Glow Skin Clinic", "owner@glow.example", "Glow Skin Clinic 2026", now);
        let strong = bootstrap::create_admin(&db, "Glow Skin Clinic", "owner@glow.example", PASSWORD, now);
        (weak, strong)
    })
    .await
    .unwrap();
    match made.0 {
        Err(BootstrapError::BadPassword(m)) => assert!(m.starts_with("is too easy to guess (strength"), "{m}"),
        other => panic!("expected a refused password, got {other:?}"),
    }
    made.1.unwrap();
}

// ---- Item 12: no account enumeration across clinics ------------------------------------------

/// The keys of a JSON object, sorted.
fn shape(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn inviting_another_clinic_s_user_as_staff_answers_like_a_new_invitation() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_admin("Other Clinic", "boss@other.example").await;

    let new = json!({"email": "new@x.example", "role": "clinician"});
    let fresh = app.post("/api/v1/staff/invitations", &new, Some(&admin)).await;
    let existing = json!({"email": "boss@other.example", "role": "clinician"});
    let taken = app.post("/api/v1/staff/invitations", &existing, Some(&admin)).await;
    assert_eq!(fresh.status(), taken.status());
    let (fresh, taken) = (ok(fresh, 201).await, ok(taken, 201).await);
    assert_eq!(shape(&fresh), shape(&taken));
    assert_eq!(taken["email"], "boss@other.example");
    assert_eq!(fresh["expires_at"], taken["expires_at"]);

    // The owner is told, and gets no token.
    let mails = mails_to(&app, "boss@other.example");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Glow Skin Clinic tried to invite you to Aftercare");
    assert!(mails[0].text.contains("already have an Aftercare account"));
    assert!(!mails[0].text.contains("token") && !mails[0].html.contains("token"));
    // Listed like any other, so the list tells nothing either; the other clinic's account is untouched.
    assert_eq!(listed(&app, &admin).await, ["boss@other.example", "new@x.example"]);
    app.login("boss@other.example", PASSWORD).await;
}

#[tokio::test]
async fn a_patient_with_another_clinic_s_user_s_email_gets_the_notice_instead_of_a_token() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    app.create_admin("Other Clinic", "boss@other.example").await;

    let fresh = create_patient(&app, &staff, "Ada Lovelace", "ada@x.example").await;
    let taken = create_patient(&app, &staff, "Bea Boss", "boss@other.example").await;
    assert_eq!(shape(&fresh), shape(&taken));
    assert_eq!(taken["app_invitation"], "sent");
    let pid = taken["id"].as_str().unwrap();
    let resent = ok(app.post(&format!("/api/v1/patients/{pid}/invitation"), &json!({}), Some(&staff)).await, 200).await;
    assert_eq!(resent["app_invitation"], "sent");

    let mails = mails_to(&app, "boss@other.example");
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        assert!(mail.text.contains("Someone at Glow Skin Clinic tried to invite"), "{}", mail.text);
        assert!(!mail.text.contains("token="), "no token is ever sent");
    }
    token_from_text(&mails_to(&app, "ada@x.example")[0].text);
}

#[tokio::test]
async fn inviting_an_account_of_the_same_clinic_is_still_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = app
        .post("/api/v1/staff/invitations", &json!({"email": "admin@glow.example", "role": "clinician"}), Some(&admin))
        .await;
    assert_problem(res, 409, "account_exists").await;
    assert!(mails_to(&app, "admin@glow.example").is_empty());
}
