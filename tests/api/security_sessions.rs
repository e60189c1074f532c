//! Idempotency never crosses identities nor keeps secrets; erasure leaves no stored answer about
//! the patient; access tokens stop when their login stops (logout, reuse, erasure, ending every
//! session of an account).

use aftercare::{
    db::schema::idempotency_keys,
    repo::idempotency::IdempotencyKey,
    services::login_sessions,
    startup::{Application, Overrides},
};
use diesel::prelude::*;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, access, assert_problem, ok, refresh, treated_patient};

/// Every stored idempotency row.
async fn stored_keys(app: &TestApp) -> Vec<IdempotencyKey> {
    app.state.db.run(|c| idempotency_keys::table.select(IdempotencyKey::as_select()).load(c)).await.unwrap()
}

/// POST with an `Idempotency-Key` and, if given, the whole `Authorization` header value.
async fn post_keyed(app: &TestApp, path: &str, key: &str, authorization: Option<&str>, body: &Value) -> Response {
    let mut req = app.client.post(app.url(path)).header("Idempotency-Key", key).json(body);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().await.unwrap()
}

fn replayed(res: &Response) -> bool {
    res.headers().get("idempotency-replayed").is_some()
}

#[tokio::test]
async fn a_key_used_with_a_lower_case_bearer_is_never_replayed_to_an_anonymous_caller() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let lower = format!("bearer {}", fx.patient);
    let res = post_keyed(&app, "/api/v1/me/calendar-feed", "feed-1", Some(&lower), &json!({})).await;
    let created = ok(res, 201).await;
    let token = created["url"].as_str().unwrap().split("token=").nth(1).unwrap().to_owned();

    // The same key without a login: the request runs as what it is (unauthenticated).
    let res = post_keyed(&app, "/api/v1/me/calendar-feed", "feed-1", None, &json!({})).await;
    assert!(!replayed(&res));
    let text = assert_problem(res, 401, "unauthenticated").await.to_string();
    assert!(!text.contains(&token), "{text}");
    // With a token that does not verify: the same.
    let res = post_keyed(&app, "/api/v1/me/calendar-feed", "feed-1", Some("bearer forged.token.x"), &json!({})).await;
    assert!(!replayed(&res));
    assert_problem(res, 401, "invalid_token").await;

    // The key was filed under the patient's account, whichever case the scheme was written in.
    let keys = stored_keys(&app).await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].scope.starts_with("account:"), "{}", keys[0].scope);
    let res =
        post_keyed(&app, "/api/v1/me/calendar-feed", "feed-1", Some(&format!("BEARER {}", fx.patient)), &json!({}))
            .await;
    assert!(replayed(&res));
    assert_problem(res, 409, "idempotency_secret_withheld").await;
}

#[tokio::test]
async fn an_anonymous_post_with_a_key_runs_and_is_not_stored() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let patient = json!({"name": "Ann", "time_zone": "UTC"});
    for auth in [None, Some("Bearer not-a-token".to_owned()), Some(format!("Basic {staff}"))] {
        let res = post_keyed(&app, "/api/v1/patients", "anon-1", auth.as_deref(), &patient).await;
        assert_eq!(res.status(), 401, "{auth:?}");
        assert!(!replayed(&res));
    }
    // A malformed key from nobody is not even looked at: the request is refused for the login.
    let res = post_keyed(&app, "/api/v1/patients", "  ", None, &patient).await;
    assert_problem(res, 401, "unauthenticated").await;
    assert!(stored_keys(&app).await.is_empty(), "nothing stored for anonymous callers");

    // The same key from a caller who logs in runs afresh.
    let res = post_keyed(&app, "/api/v1/patients", "anon-1", Some(&format!("Bearer {staff}")), &patient).await;
    assert!(!replayed(&res));
    ok(res, 201).await;
    assert_eq!(stored_keys(&app).await.len(), 1);
}

#[tokio::test]
async fn calendar_feed_and_webhook_secret_replays_never_show_the_secret() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let (patient, staff) = (format!("Bearer {}", fx.patient), format!("Bearer {}", fx.staff));

    let first = ok(post_keyed(&app, "/api/v1/me/calendar-feed", "feed-1", Some(&patient), &json!({})).await, 201).await;
    let feed_token = first["url"].as_str().unwrap().split("token=").nth(1).unwrap().to_owned();
    let res = post_keyed(&app, "/api/v1/me/calendar-feed", "feed-1", Some(&patient), &json!({})).await;
    assert!(replayed(&res));
    let problem = assert_problem(res, 409, "idempotency_secret_withheld").await;
    assert!(problem["detail"].as_str().unwrap().contains("201"), "{problem}");
    // The first answer is still the one that works: the replay did not rotate the URL.
    let ics = app.get(&format!("/api/v1/me/calendar.ics?token={feed_token}"), None).await;
    assert_eq!(ics.status(), 200);

    let hook = json!({"url": "https://hooks.example.com/aftercare", "events": ["checkin.created"]});
    let created = ok(post_keyed(&app, "/api/v1/webhooks", "hook-1", Some(&staff), &hook).await, 201).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let res = post_keyed(&app, "/api/v1/webhooks", "hook-1", Some(&staff), &hook).await;
    assert!(replayed(&res));
    assert_problem(res, 409, "idempotency_secret_withheld").await;
    let listed = ok(app.get("/api/v1/webhooks", Some(&fx.staff)).await, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "the replay created nothing");

    let rotate = format!("/api/v1/webhooks/{}/rotate-secret", created["id"].as_str().unwrap());
    let rotated = ok(post_keyed(&app, &rotate, "rotate-1", Some(&staff), &json!({})).await, 200).await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let res = post_keyed(&app, &rotate, "rotate-1", Some(&staff), &json!({})).await;
    assert!(replayed(&res));
    let text = assert_problem(res, 409, "idempotency_secret_withheld").await.to_string();
    assert!(!text.contains("whsec_"), "{text}");

    let keys = stored_keys(&app).await;
    assert_eq!(keys.len(), 3);
    for row in keys {
        let body = row.response_body.unwrap_or_default();
        assert_eq!(row.status_code, Some(409), "{body}");
        for secret in [&feed_token, &secret, &new_secret] {
            assert!(!body.contains(secret.as_str()), "a secret is stored in clear: {body}");
        }
        assert!(!body.contains("whsec_") && !body.contains("token="), "{body}");
    }
}

#[tokio::test]
async fn after_erasure_no_stored_answer_mentions_the_patient_and_their_access_token_stops_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let staff = format!("Bearer {admin}");
    // Staff answers about her: her creation (names her id), her consent (names nothing but the
    // path), and her own answer (her login's scope); another patient's answer stays.
    let jane = json!({"name": "Jane Doe", "email": "jane@x.example", "time_zone": "Europe/London"});
    let created = ok(post_keyed(&app, "/api/v1/patients", "new-jane", Some(&staff), &jane).await, 201).await;
    let pid = created["id"].as_str().unwrap().to_owned();
    let other = json!({"name": "Ann Other", "time_zone": "UTC"});
    ok(post_keyed(&app, "/api/v1/patients", "new-ann", Some(&staff), &other).await, 201).await;
    let grant = json!({"kind": "email_reminders", "granted": true, "note": "asked at the desk"});
    let consents = format!("/api/v1/patients/{pid}/consents");
    let res = post_keyed(&app, &consents, "consent-1", Some(&staff), &grant).await;
    let consent = ok(res, 201).await;
    assert!(!consent.to_string().contains(&pid), "the consent answer does not name her: {consent}");
    let accept = json!({"token": app.invitation_token("jane@x.example"), "password": PASSWORD});
    let tokens = ok(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await;
    let patient = access(&tokens);
    let me = ok(app.get("/api/v1/me", Some(&patient)).await, 200).await;
    let account = me["id"].as_str().unwrap().to_owned();
    let mine = json!({"kind": "photos", "granted": true});
    let res = post_keyed(&app, "/api/v1/me/consents", "mine-1", Some(&format!("Bearer {patient}")), &mine).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(stored_keys(&app).await.len(), 4);

    let erase = app.client.delete(app.url(&format!("/api/v1/patients/{pid}"))).bearer_auth(&admin);
    let report = ok(erase.json(&json!({"confirm_patient_id": pid})).send().await.unwrap(), 200).await;
    assert_eq!(report["deleted"]["idempotency_responses"], 3, "{report}");

    // Her access token was just used (so remembered as live): it stops now, not at expiry, on
    // every route (not only where a handler happens to look her account up).
    for path in ["/api/v1/me/profile", "/api/v1/me/reminders", "/api/v1/me"] {
        assert_problem(app.get(path, Some(&patient)).await, 401, "invalid_token").await;
    }
    let res = app.post("/api/v1/auth/refresh", &json!({"refresh_token": refresh(&tokens)}), None).await;
    assert_problem(res, 401, "invalid_refresh_token").await;
    let keys = stored_keys(&app).await;
    assert_eq!(keys.len(), 1, "only Ann's creation is left");
    for row in &keys {
        let text = format!("{} {} {}", row.scope, row.request_path, row.response_body.clone().unwrap_or_default());
        assert!(!text.contains(&pid) && !text.contains(&account), "{text}");
        assert!(!text.contains("Jane") && !text.contains("jane@"), "{text}");
    }
    // The staff member's retry of her creation runs again instead of replaying her record.
    let res = post_keyed(&app, "/api/v1/patients", "new-jane", Some(&staff), &jane).await;
    assert!(!replayed(&res));
    let again = ok(res, 201).await;
    assert_ne!(again["id"], pid.as_str());
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
