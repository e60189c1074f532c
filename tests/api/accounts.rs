//! Accounts people can keep (issue 25): password reset by email, password change, staff
//! deactivation and reactivation, and patients deleting their own account. Mail goes through the
//! real SMTP sink on loopback.

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{Value, json};

use crate::{
    clinical::{answers, session_body},
    helpers::{PASSWORD, TestApp, access, assert_problem, ok, refresh, token_from_text},
    smtp_sink::SmtpSink,
};

const NEW_PASSWORD: &str = "purple elephant riding a bicycle";

async fn with_sink() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    (app, sink)
}

/// The messages received for `to`, quoted-printable undone (enough for links and words).
fn mails_to(sink: &SmtpSink, to: &str) -> Vec<String> {
    sink.received()
        .into_iter()
        .filter(|m| m.contains(&format!("To: {to}")))
        .map(|m| m.replace("=\r\n", "").replace("=3D", "="))
        .collect()
}

/// Waits (up to 10 s) until `n` messages for `to` have arrived; returns them.
async fn wait_for_mails(sink: &SmtpSink, to: &str, n: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let got = mails_to(sink, to);
        if got.len() >= n {
            return got;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{n} emails to {to} expected, got {}", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn subject_of(mail: &str) -> &str {
    mail.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("")
}

async fn ask_reset(app: &TestApp, email: &str) -> Response {
    app.post("/api/v1/auth/password-reset", &json!({"email": email}), None).await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> Response {
    app.post("/api/v1/auth/password-reset/confirm", &json!({"token": token, "password": password}), None).await
}

/// The reset token of the newest reset email to `to` (waiting for the `n`th).
async fn reset_token(sink: &SmtpSink, to: &str, n: usize) -> String {
    let mails = wait_for_mails(sink, to, n).await;
    let mail = mails.iter().rev().find(|m| subject_of(m) == "Reset your Aftercare password").expect("a reset email");
    assert!(mail.contains("/reset-password?token="), "{mail}");
    token_from_text(mail)
}

async fn me_status(app: &TestApp, access: &str) -> u16 {
    app.get("/api/v1/me", Some(access)).await.status().as_u16()
}

async fn refresh_status(app: &TestApp, tokens: &Value) -> u16 {
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(tokens)}), None).await.status().as_u16()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.post("/api/v1/auth/login", &json!({"email": email, "password": password}), None).await.status().as_u16()
}

#[tokio::test]
async fn a_reset_is_mailed_only_to_a_known_address_and_both_get_the_same_answer() {
    let (app, sink) = with_sink().await;
    let admin = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;

    let unknown = ask_reset(&app, "nobody@glow.example").await;
    assert_eq!(unknown.status(), 202);
    let unknown = unknown.text().await.unwrap();
    let known = ask_reset(&app, "Admin@Glow.example ").await;
    assert_eq!(known.status(), 202);
    assert_eq!(known.text().await.unwrap(), unknown, "one answer for both");

    let token = reset_token(&sink, &admin, 1).await;
    assert_eq!(token.len(), 43);
    // The unknown address's task did less work than the known one's, which has finished.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 1, "nothing for the unknown address");
    let mail = &mails_to(&sink, &admin)[0];
    assert!(
        mail.contains("Glow Skin Clinic") && mail.contains("16 March 2026, 10:00 (UTC)"),
        "expires in an hour: {mail}"
    );
    // Only the token's hash is stored.
    let stored: Vec<String> = app
        .state
        .db
        .run(|c| {
            use aftercare::db::schema::password_resets::dsl::*;
            use diesel::prelude::*;
            password_resets.select(token_hash).load(c)
        })
        .await
        .unwrap();
    assert_eq!(stored, vec![aftercare::security::token_hash(&token)]);

    assert_problem(ask_reset(&app, "not an email").await, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_reset_link_works_once_ends_every_session_and_tells_the_owner() {
    let (app, sink) = with_sink().await;
    let admin = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    let phone = app.login(&admin, PASSWORD).await;
    let laptop = app.login(&admin, PASSWORD).await;
    assert_eq!(me_status(&app, &access(&phone)).await, 200);

    assert_eq!(ask_reset(&app, &admin).await.status(), 202);
    let token = reset_token(&sink, &admin, 1).await;
    // The password rule holds as for any new password; the token is not spent by a refusal.
    let weak = assert_problem(confirm(&app, &token, "glowskinclinic").await, 422, "validation_failed").await;
    assert_eq!(weak["errors"][0]["field"], "password");
    ok(confirm(&app, &token, NEW_PASSWORD).await, 204).await;

    // Every login ended at once: access tokens refused, refresh tokens too.
    for tokens in [&phone, &laptop] {
        assert_eq!(me_status(&app, &access(tokens)).await, 401);
        assert_eq!(refresh_status(&app, tokens).await, 401);
    }
    assert_eq!(login_status(&app, &admin, PASSWORD).await, 401);
    assert_eq!(login_status(&app, &admin, NEW_PASSWORD).await, 200);

    // Single use: the same token again is the one answer for every bad token.
    let used =
        assert_problem(confirm(&app, &token, "another long passphrase here").await, 400, "invalid_reset_token").await;
    let unknown =
        assert_problem(confirm(&app, "made-up", "another long passphrase here").await, 400, "invalid_reset_token")
            .await;
    assert_eq!(used, unknown);

    let mails = wait_for_mails(&sink, &admin, 2).await;
    let notice = mails.iter().find(|m| subject_of(m) == "Your Aftercare password was changed").expect("a notice");
    assert!(notice.contains("reset link sent to this address") && notice.contains("If it was not you"), "{notice}");
    assert!(notice.contains("/reset-password") && !notice.contains("token="), "{notice}");
}

#[tokio::test]
async fn a_reset_link_expires_after_an_hour_and_a_newer_password_closes_it() {
    let (app, sink) = with_sink().await;
    let admin = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    ask_reset(&app, &admin).await;
    let first = reset_token(&sink, &admin, 1).await;
    app.clock.advance(chrono::Duration::minutes(61));
    assert_problem(confirm(&app, &first, NEW_PASSWORD).await, 400, "invalid_reset_token").await;

    // A link still open when the password is set another way (here: a second link) closes.
    ask_reset(&app, &admin).await;
    let second = reset_token(&sink, &admin, 2).await;
    ask_reset(&app, &admin).await;
    let third = reset_token(&sink, &admin, 3).await;
    assert_ne!(second, third);
    ok(confirm(&app, &third, NEW_PASSWORD).await, 204).await;
    assert_problem(confirm(&app, &second, "another long passphrase here").await, 400, "invalid_reset_token").await;
    assert_eq!(login_status(&app, &admin, NEW_PASSWORD).await, 200);
}

#[tokio::test]
async fn reset_requests_answer_before_a_slow_mail_server_in_the_same_time_for_any_address() {
    let port = crate::smtp_sink::start_dripping().await;
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.mail.timeout_secs = 10;
        s.auth.login_per_ip_per_minute = 1000;
    })
    .await;
    let admin = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    // The mail server takes 10 s to fail; the answer does not wait for it.
    let started = Instant::now();
    assert_eq!(ask_reset(&app, &admin).await.status(), 202);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    // The same work either way: median answer times within a few milliseconds.
    let mut times = (Vec::new(), Vec::new());
    for i in 0..20 {
        let t = Instant::now();
        assert_eq!(ask_reset(&app, &format!("nobody{i}@glow.example")).await.status(), 202);
        times.0.push(t.elapsed());
        app.clock.advance(chrono::Duration::minutes(1)); // the per-address limit
        let t = Instant::now();
        assert_eq!(ask_reset(&app, &admin).await.status(), 202);
        times.1.push(t.elapsed());
    }
    times.0.sort();
    times.1.sort();
    let (unknown, known) = (times.0[10], times.1[10]);
    eprintln!("median answer: unknown {unknown:?}, known {known:?}");
    assert!(known.abs_diff(unknown) < Duration::from_millis(20), "unknown {unknown:?} vs known {known:?}");
}

#[tokio::test]
async fn reset_requests_are_rate_limited_per_address_and_per_client() {
    let app = TestApp::spawn_with(|s| {
        s.auth.login_per_account_per_minute = 2;
        s.auth.login_per_ip_per_minute = 5;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(ask_reset(&app, "jane@glow.example").await.status(), 202);
    }
    let res = ask_reset(&app, "jane@glow.example").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, 429, "too_many_requests").await;
    // Refused attempts count against the client's address too (3 so far).
    assert_eq!(ask_reset(&app, "ann@glow.example").await.status(), 202);
    assert_eq!(ask_reset(&app, "bob@glow.example").await.status(), 202);
    assert_problem(ask_reset(&app, "carl@glow.example").await, 429, "too_many_requests").await;
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(ask_reset(&app, "jane@glow.example").await.status(), 202);
}

#[tokio::test]
async fn changing_the_password_ends_every_login_and_hands_the_caller_a_new_one() {
    let (app, sink) = with_sink().await;
    let admin = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;
    let phone = app.login(&admin, PASSWORD).await;
    let laptop = app.login(&admin, PASSWORD).await;
    let change = |current: &str, new: &str| json!({"current": current, "new": new});

    let res = app
        .post("/api/v1/me/password", &change("wrong horse battery staple", NEW_PASSWORD), Some(&access(&phone)))
        .await;
    assert_problem(res, 403, "wrong_password").await;
    let res = app.post("/api/v1/me/password", &change(PASSWORD, "Glow Skin Clinic 2026"), Some(&access(&phone))).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "new");
    let res = app.post("/api/v1/me/password", &change(PASSWORD, PASSWORD), Some(&access(&phone))).await;
    assert_problem(res, 422, "validation_failed").await;
    assert_eq!(me_status(&app, &access(&laptop)).await, 200, "refusals change nothing");

    let fresh =
        ok(app.post("/api/v1/me/password", &change(PASSWORD, NEW_PASSWORD), Some(&access(&phone))).await, 200).await;
    // Both old logins (the caller's too) ended at once; the new one works.
    for tokens in [&phone, &laptop] {
        assert_eq!(me_status(&app, &access(tokens)).await, 401);
        assert_eq!(refresh_status(&app, tokens).await, 401);
    }
    assert_eq!(me_status(&app, &access(&fresh)).await, 200);
    assert_eq!(refresh_status(&app, &fresh).await, 200);
    assert_eq!(login_status(&app, &admin, PASSWORD).await, 401);
    assert_eq!(login_status(&app, &admin, NEW_PASSWORD).await, 200);

    let mails = wait_for_mails(&sink, &admin, 1).await;
    assert_eq!(subject_of(&mails[0]), "Your Aftercare password was changed");
    assert!(mails[0].contains("changed from a signed-in app") && mails[0].contains("If it was not you"));
}

#[tokio::test]
async fn wrong_current_passwords_are_rate_limited() {
    let app = TestApp::spawn_with(|s| s.auth.login_per_account_per_minute = 3).await;
    let admin = app.admin_token().await;
    let body = json!({"current": "wrong horse battery staple", "new": NEW_PASSWORD});
    for _ in 0..3 {
        assert_problem(app.post("/api/v1/me/password", &body, Some(&admin)).await, 403, "wrong_password").await;
    }
    assert_problem(app.post("/api/v1/me/password", &body, Some(&admin)).await, 429, "too_many_requests").await;
}

async fn patch_staff(app: &TestApp, token: &str, id: &str, active: bool) -> Response {
    app.client
        .patch(app.url(&format!("/api/v1/staff/{id}")))
        .bearer_auth(token)
        .json(&json!({"active": active}))
        .send()
        .await
        .unwrap()
}

async fn staff_list(app: &TestApp, token: &str) -> Vec<Value> {
    ok(app.get("/api/v1/staff", Some(token)).await, 200).await["items"].as_array().unwrap().clone()
}

async fn account_id(app: &TestApp, tokens: &Value) -> String {
    ok(app.get("/api/v1/me", Some(&access(tokens))).await, 200).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_deactivated_clinician_cannot_log_in_and_their_tokens_stop_at_once() {
    let (app, sink) = with_sink().await;
    let admin = app.admin_token().await;
    let res = app
        .post("/api/v1/staff/invitations", &json!({"email": "dr.lee@glow.example", "role": "clinician"}), Some(&admin))
        .await;
    ok(res, 201).await;
    let token = token_from_text(&wait_for_mails(&sink, "dr.lee@glow.example", 1).await[0]);
    let lee =
        ok(app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await, 200)
            .await;
    let lee_id = account_id(&app, &lee).await;
    // A reset link asked for before the deactivation.
    ask_reset(&app, "dr.lee@glow.example").await;
    let reset = reset_token(&sink, "dr.lee@glow.example", 2).await;

    // Only admins change staff.
    assert_problem(patch_staff(&app, &access(&lee), &lee_id, false).await, 403, "forbidden").await;
    let member = ok(patch_staff(&app, &admin, &lee_id, false).await, 200).await;
    assert_eq!((member["id"].as_str(), member["active"].as_bool()), (Some(lee_id.as_str()), Some(false)));
    assert_eq!(me_status(&app, &access(&lee)).await, 401, "the access token stops at once");
    assert_eq!(refresh_status(&app, &lee).await, 401);
    // The same answer as a wrong password: nothing says the account exists but is deactivated.
    let refused = assert_problem(
        app.post("/api/v1/auth/login", &json!({"email": "dr.lee@glow.example", "password": PASSWORD}), None).await,
        401,
        "invalid_credentials",
    )
    .await;
    let wrong = assert_problem(
        app.post(
            "/api/v1/auth/login",
            &json!({"email": "dr.lee@glow.example", "password": "wrong horse battery"}),
            None,
        )
        .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(refused, wrong);
    // A reset neither mails nor reactivates: the old link closed, a new request sends nothing.
    assert_problem(confirm(&app, &reset, NEW_PASSWORD).await, 400, "invalid_reset_token").await;
    assert_eq!(ask_reset(&app, "dr.lee@glow.example").await.status(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails_to(&sink, "dr.lee@glow.example").len(), 2);
    assert_eq!(login_status(&app, "dr.lee@glow.example", PASSWORD).await, 401);

    let listed = staff_list(&app, &admin).await;
    let row = listed.iter().find(|m| m["id"] == lee_id.as_str()).unwrap();
    assert_eq!(row["active"], false);
    assert!(listed.iter().any(|m| m["role"] == "admin" && m["active"] == true));
    // Idempotent, and reactivation works.
    assert_eq!(ok(patch_staff(&app, &admin, &lee_id, false).await, 200).await["active"], false);
    assert_eq!(ok(patch_staff(&app, &admin, &lee_id, true).await, 200).await["active"], true);
    assert_eq!(login_status(&app, "dr.lee@glow.example", PASSWORD).await, 200);
}

#[tokio::test]
async fn the_last_active_admin_stays_and_other_clinics_and_patients_are_not_found() {
    let app = TestApp::spawn().await;
    let first = app.admin_token().await;
    let first_tokens = app.login("admin@glow.example", PASSWORD).await;
    let first_id = account_id(&app, &first_tokens).await;
    assert_problem(patch_staff(&app, &first, &first_id, false).await, 409, "last_admin").await;

    let second = app.invite_and_accept(&first, "boss@glow.example", "admin").await;
    let second_id = account_id(&app, &second).await;
    // With two, one may go (here the first deactivates themselves) and then the other must stay.
    assert_eq!(ok(patch_staff(&app, &first, &first_id, false).await, 200).await["active"], false);
    assert_eq!(me_status(&app, &first).await, 401);
    assert_problem(patch_staff(&app, &access(&second), &second_id, false).await, 409, "last_admin").await;
    // A deactivated admin may be reactivated by the remaining one.
    ok(patch_staff(&app, &access(&second), &first_id, true).await, 200).await;

    // Another clinic's admin sees neither; a patient's account is no staff member.
    app.create_admin("Other Clinic", "admin@other.example").await;
    let other = access(&app.login("admin@other.example", PASSWORD).await);
    assert_problem(patch_staff(&app, &other, &second_id, false).await, 404, "not_found").await;
    let body = json!({"name": "Jane Doe", "email": "jane@x.example", "time_zone": "Europe/London"});
    ok(app.post("/api/v1/patients", &body, Some(&access(&second))).await, 201).await;
    let accept = json!({"token": app.invitation_token("jane@x.example"), "password": PASSWORD});
    let jane = ok(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await;
    let patient_account = account_id(&app, &jane).await;
    assert_problem(patch_staff(&app, &access(&second), &patient_account, false).await, 404, "not_found").await;
    assert_problem(patch_staff(&app, &access(&second), "no-such-id", false).await, 404, "not_found").await;
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/staff/{second_id}")))
        .bearer_auth(access(&second))
        .json(&json!({"active": "no"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
}

async fn delete_me(app: &TestApp, token: &str, password: &str) -> Response {
    app.client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(token)
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_patient_deletes_their_own_account_and_everything_it_held() {
    let (app, sink) = with_sink().await;
    let staff = app.admin_token().await;
    let body = json!({"name": "Jane Doe", "email": "jane@x.example", "time_zone": "Europe/London"});
    let pid = ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await["id"].as_str().unwrap().to_owned();
    let token = token_from_text(&wait_for_mails(&sink, "jane@x.example", 1).await[0]);
    let accepted =
        ok(app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await, 200)
            .await;
    let patient = access(&accepted);
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let plan = json!({"concerns": ["acne_scars"], "planned_sessions": 3});
    let course = ok(app.post(&format!("/api/v1/patients/{pid}/courses"), &plan, Some(&staff)).await, 201).await;
    let session = session_body("2026-03-16T09:00:00Z", "cheeks", 1.0);
    ok(
        app.post(&format!("/api/v1/courses/{}/sessions", course["id"].as_str().unwrap()), &session, Some(&staff)).await,
        201,
    )
    .await;

    // Staff cannot delete themselves this way; a wrong password changes nothing.
    assert_problem(delete_me(&app, &staff, PASSWORD).await, 403, "forbidden").await;
    assert_problem(delete_me(&app, &patient, "wrong horse battery staple").await, 403, "wrong_password").await;
    assert_eq!(me_status(&app, &patient).await, 200);

    let report = ok(delete_me(&app, &patient, PASSWORD).await, 200).await;
    assert_eq!(report["patient_id"], pid.as_str());
    let deleted = &report["deleted"];
    assert_eq!(
        (deleted["accounts"].as_u64(), deleted["courses"].as_u64(), deleted["sessions"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert!(deleted["reminders"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(deleted["screenings"], 1);

    // The login is gone at once, the record too.
    assert_eq!(me_status(&app, &patient).await, 401);
    assert_eq!(refresh_status(&app, &accepted).await, 401);
    assert_problem(
        app.post("/api/v1/auth/login", &json!({"email": "jane@x.example", "password": PASSWORD}), None).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(app.get(&format!("/api/v1/patients/{pid}"), Some(&staff)).await, 404, "not_found").await;
    // The audit trail keeps that a patient erased a record, not whose.
    let events = ok(app.get("/api/v1/audit-events", Some(&staff)).await, 200).await;
    let erase =
        events["items"].as_array().unwrap().iter().find(|e| e["action"] == "erase").expect("an erase event").clone();
    assert_eq!((erase["actor_role"].as_str(), erase["patient_id"].as_str()), (Some("patient"), None), "{erase}");
    assert!(erase["actor_account_id"].is_null(), "{erase}");

    let mails = wait_for_mails(&sink, "jane@x.example", 2).await;
    let confirmation =
        mails.iter().find(|m| subject_of(m) == "Your Aftercare account was deleted").expect("a confirmation");
    assert!(confirmation.contains("Glow Skin Clinic") && confirmation.contains("cannot be undone"), "{confirmation}");
}
