//! The pages behind emailed links (issue 25): each renders as HTML in the reader's language
//! under the pages' policy, each form does what its API operation does, and a bad link is a
//! friendly 404 page.

use aftercare::clock::Clock;
use reqwest::{Response, header::HeaderMap};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, ok, token_from_text, treated_patient};

const NEW_PASSWORD: &str = "violet kettle mountain drum";

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

/// Asserts an HTML page with `status` in `lang` under the pages' policy; returns its text.
async fn page(res: Response, status: u16, lang: &str) -> String {
    let h = res.headers().clone();
    let got = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert!(header(&h, "content-type").starts_with("text/html"), "{h:?} {body}");
    let csp = header(&h, "content-security-policy");
    for directive in ["default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&h, "cache-control"), "no-store");
    assert_eq!(header(&h, "referrer-policy"), "no-referrer");
    assert!(body.contains(&format!("<html lang=\"{lang}\">")), "{body}");
    assert!(!body.contains("<script") && !body.contains("style=\""), "{body}");
    body
}

async fn get_page(app: &TestApp, path: &str, accept_language: &str) -> Response {
    app.client.get(app.url(path)).header("accept-language", accept_language).send().await.unwrap()
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)], accept_language: &str) -> Response {
    app.client
        .post(app.url(path))
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .header("accept-language", accept_language)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.post("/api/v1/auth/login", &json!({"email": email, "password": password}), None).await.status().as_u16()
}

#[tokio::test]
async fn the_invitation_page_sets_the_password_and_the_new_password_logs_in() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let invite = json!({"email": "nurse@glow.example", "role": "clinician"});
    ok(app.post("/api/v1/staff/invitations", &invite, Some(&admin)).await, 201).await;
    let mail = app.outbox().into_iter().rev().find(|m| m.to == "nurse@glow.example").unwrap();
    assert!(mail.text.contains("/invite?token="), "{}", mail.text);
    let token = token_from_text(&mail.text);

    let form = page(get_page(&app, &format!("/invite?token={token}"), "en").await, 200, "en").await;
    assert!(form.contains("Glow Skin Clinic invited you") && form.contains("nurse@glow.example"), "{form}");
    assert!(form.contains(r#"<form method="post" action="/invite""#), "{form}");
    assert!(form.contains(&format!(r#"name="token" value="{token}""#)), "the capability rides in the form");
    assert!(form.contains(r#"<label for="password">"#) && form.contains("At least 10 characters"), "{form}");

    let weak = post_form(&app, "/invite", &[("token", &token), ("password", "password1")], "en").await;
    let weak = page(weak, 422, "en").await;
    assert!(weak.contains("too short or too easy to guess") && weak.contains(r#"aria-invalid="true""#), "{weak}");
    assert_eq!(login_status(&app, "nurse@glow.example", "password1").await, 401, "no account yet");

    let done = post_form(&app, "/invite", &[("token", &token), ("password", NEW_PASSWORD)], "en").await;
    let done = page(done, 200, "en").await;
    assert!(done.contains("Your account is ready") && done.contains("Sign in to the Aftercare staff app"), "{done}");
    assert_eq!(login_status(&app, "nurse@glow.example", NEW_PASSWORD).await, 200);

    let again = page(get_page(&app, &format!("/invite?token={token}"), "en").await, 409, "en").await;
    assert!(again.contains("This invitation was already used"), "{again}");

    let css = app.get("/assets/pages.css", None).await;
    assert_eq!(css.status(), 200);
    assert!(header(css.headers(), "content-type").starts_with("text/css"));
    assert!(css.text().await.unwrap().contains("focus-visible"), "focus stays visible");
}

#[tokio::test]
async fn the_reset_pages_ask_for_a_link_and_set_a_new_password() {
    let app = TestApp::spawn().await;
    let admin = app.create_admin("Glow Skin Clinic", "admin@glow.example").await;

    let ask = page(get_page(&app, "/reset-password", "en").await, 200, "en").await;
    assert!(ask.contains(r#"<label for="email">"#) && ask.contains(r#"type="email""#), "{ask}");
    let bad = page(post_form(&app, "/reset-password", &[("email", "not an email")], "en").await, 422, "en").await;
    assert!(bad.contains("Enter an email address") && bad.contains("value=\"not an email\""), "{bad}");
    let unknown =
        page(post_form(&app, "/reset-password", &[("email", "nobody@glow.example")], "en").await, 200, "en").await;
    let known = page(post_form(&app, "/reset-password", &[("email", &admin)], "en").await, 200, "en").await;
    assert_eq!(unknown, known, "the same answer whether or not the address has an account");
    assert!(known.contains("Check your email"), "{known}");

    let mut mail = None;
    for _ in 0..100 {
        mail = app.outbox().into_iter().rev().find(|m| m.to == admin && m.text.contains("/reset-password?token="));
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let token = token_from_text(&mail.expect("a reset email").text);

    let form = page(get_page(&app, &format!("/reset-password?token={token}"), "en").await, 200, "en").await;
    assert!(form.contains("Choose a new password") && form.contains(r#"autocomplete="new-password""#), "{form}");
    let weak = post_form(&app, "/reset-password", &[("token", &token), ("password", "aaaaaaaaaa")], "en").await;
    assert!(page(weak, 422, "en").await.contains("too short or too easy to guess"));
    assert_eq!(login_status(&app, &admin, PASSWORD).await, 200, "a refused password changes nothing");

    let done = post_form(&app, "/reset-password", &[("token", &token), ("password", NEW_PASSWORD)], "en").await;
    assert!(page(done, 200, "en").await.contains("Your password is changed"));
    assert_eq!(login_status(&app, &admin, PASSWORD).await, 401, "the old password no longer works");
    assert_eq!(login_status(&app, &admin, NEW_PASSWORD).await, 200);

    let used = page(get_page(&app, &format!("/reset-password?token={token}"), "en").await, 404, "en").await;
    assert!(used.contains("This link does not work") && used.contains("Ask for a new link"), "{used}");
}

#[tokio::test]
async fn bad_links_are_friendly_404_pages_in_the_browsers_language() {
    let app = TestApp::spawn().await;
    let forged = format!("{}x", app.state.links.sign("nobody"));
    for path in [
        "/invite?token=nope".to_owned(),
        "/invite".to_owned(),
        "/reset-password?token=nope".to_owned(),
        format!("/api/v1/unsubscribe?token={forged}"),
        "/api/v1/unsubscribe?token=nope".to_owned(),
    ] {
        let body = page(get_page(&app, &path, "en-GB,en;q=0.9").await, 404, "en").await;
        assert!(body.contains("This link does not work"), "{path}: {body}");
        let body = page(get_page(&app, &path, "es-ES,es;q=0.9,en;q=0.5").await, 404, "es").await;
        assert!(body.contains("Este enlace no funciona"), "{path}: {body}");
    }
    let posts: [(&str, &[(&str, &str)]); 4] = [
        ("/invite", &[("token", "nope"), ("password", NEW_PASSWORD)]),
        ("/invite", &[]),
        ("/reset-password", &[("token", "nope"), ("password", NEW_PASSWORD)]),
        ("/api/v1/unsubscribe?token=nope", &[("List-Unsubscribe", "One-Click")]),
    ];
    for (path, form) in posts {
        let body = page(post_form(&app, path, form, "fr").await, 404, "en").await;
        assert!(body.contains("This link does not work"), "{path}: {body}");
    }
    // API callers still get problem+json.
    let res = app.client.post(app.url("/api/v1/unsubscribe?token=nope")).send().await.unwrap();
    crate::helpers::assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn a_spanish_patient_reads_their_pages_in_spanish() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let body =
        json!({"name": "Lucía Pérez", "email": "lucia@x.example", "time_zone": "Europe/Madrid", "language": "es-MX"});
    let p = ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let token = app.invitation_token("lucia@x.example");

    // The patient's language wins over the browser's.
    let form = page(get_page(&app, &format!("/invite?token={token}"), "en-US,en;q=0.9").await, 200, "es").await;
    assert!(form.contains("Elija su contraseña") && form.contains("Nueva contraseña"), "{form}");
    let done = post_form(&app, "/invite", &[("token", &token), ("password", NEW_PASSWORD)], "en").await;
    let done = page(done, 200, "es").await;
    assert!(done.contains("Su cuenta está lista") && done.contains("Abra la aplicación Aftercare"), "{done}");
    assert_eq!(login_status(&app, "lucia@x.example", NEW_PASSWORD).await, 200);

    let unsubscribe = app.state.links.sign(&pid);
    let confirm =
        page(get_page(&app, &format!("/api/v1/unsubscribe?token={unsubscribe}"), "en").await, 200, "es").await;
    assert!(confirm.contains("Darme de baja"), "{confirm}");

    // Nobody named: the browser's language.
    let ask = page(get_page(&app, "/reset-password", "es-ES,es;q=0.9").await, 200, "es").await;
    assert!(ask.contains("Restablezca su contraseña") && ask.contains("Dirección de correo"), "{ask}");
    let ask = page(get_page(&app, "/reset-password", "de-DE,de;q=0.9").await, 200, "en").await;
    assert!(ask.contains("Reset your password"), "{ask}");
}

async fn email_consent(app: &TestApp, staff: &str, pid: &str) -> (bool, usize) {
    let v: Value = ok(app.get(&format!("/api/v1/patients/{pid}/consents"), Some(staff)).await, 200).await;
    let granted =
        v["current"].as_array().unwrap().iter().find(|c| c["kind"] == "email_reminders").unwrap()["granted"] == true;
    let changes = v["history"].as_array().unwrap().iter().filter(|c| c["kind"] == "email_reminders").count();
    (granted, changes)
}

#[tokio::test]
async fn the_unsubscribe_page_says_it_is_done_and_its_button_turns_the_emails_back_on() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["email_reminders"]).await;
    assert_eq!(email_consent(&app, &fx.staff, &fx.pid).await, (true, 1));
    let token = app.state.links.sign(&fx.pid);
    let path = format!("/api/v1/unsubscribe?token={token}");

    let confirm = page(get_page(&app, &path, "en").await, 200, "en").await;
    assert!(confirm.contains("Stop aftercare reminder emails?"), "{confirm}");
    assert!(
        confirm.contains(&format!(r#"<form method="post" action="/api/v1/unsubscribe?token={token}">"#)),
        "{confirm}"
    );

    let done = page(post_form(&app, &path, &[("List-Unsubscribe", "One-Click")], "en").await, 200, "en").await;
    assert!(done.contains("You are unsubscribed") && done.contains("Turn reminder emails back on"), "{done}");
    assert!(done.contains("resubscribe?token="), "the undo carries the same signed token: {done}");
    assert_eq!(email_consent(&app, &fx.staff, &fx.pid).await, (false, 2));

    let back =
        page(post_form(&app, &format!("/api/v1/unsubscribe/resubscribe?token={token}"), &[], "en").await, 200, "en")
            .await;
    assert!(back.contains("Reminder emails are back on"), "{back}");
    assert_eq!(email_consent(&app, &fx.staff, &fx.pid).await, (true, 3));
    let v: Value = ok(app.get(&format!("/api/v1/patients/{}/consents", fx.pid), Some(&fx.staff)).await, 200).await;
    let last = v["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["granted"].clone(), last["actor_role"].clone()), (json!(true), json!("patient")), "{last}");
    let audit: Value =
        ok(app.get(&format!("/api/v1/audit-events?patient_id={}&limit=200", fx.pid), Some(&fx.staff)).await, 200).await;
    let audited = audit["items"].as_array().map_or(0, |a| a.iter().filter(|e| e["resource_id"] == last["id"]).count());
    assert_eq!(audited, 1, "the resubscribe is audited: {audit}");

    // API callers: JSON, and a repeat changes nothing.
    let res = app.client.post(app.url(&format!("/api/v1/unsubscribe/resubscribe?token={token}"))).send().await.unwrap();
    assert_eq!(ok(res, 200).await["status"], "subscribed");
    assert_eq!(email_consent(&app, &fx.staff, &fx.pid).await, (true, 3));
    let res = app.client.post(app.url(&path)).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(ok(res, 200).await["status"], "unsubscribed");
    assert_eq!(email_consent(&app, &fx.staff, &fx.pid).await, (false, 4));
}

#[tokio::test]
async fn the_staff_alert_link_redirects_to_the_staff_app_or_says_to_sign_in() {
    let app = TestApp::spawn().await;
    let body = page(get_page(&app, "/app/alerts/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "en").await, 200, "en").await;
    assert!(body.contains("Sign in to see this alert") && !body.contains("0193a1b2"), "{body}");
    let body = page(get_page(&app, "/app/checkin?reminder=abc", "es").await, 200, "es").await;
    assert!(body.contains("Abra la aplicación Aftercare"), "{body}");

    let app = TestApp::spawn_with(|s| s.server.staff_app_url = Some("https://staff.glow.example/".into())).await;
    let res = app.get("/app/alerts/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", None).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        header(res.headers(), "location"),
        "https://staff.glow.example/alerts/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    );
    let odd = app.get("/app/alerts/%2F%2Fevil.example", None).await;
    assert_eq!(odd.status(), 200, "an id that is not one is not put in a redirect");
}

#[tokio::test]
async fn the_app_link_files_come_from_the_settings_and_are_404_while_unset() {
    let app = TestApp::spawn().await;
    for path in ["/.well-known/apple-app-site-association", "/.well-known/assetlinks.json"] {
        assert_eq!(app.get(path, None).await.status(), 404, "{path}");
    }
    let app = TestApp::spawn_with(|s| {
        s.app.ios_app_ids = Some("TEAM123456.com.glow.aftercare, TEAM123456.com.glow.beta".into());
        s.app.android_package = Some("com.glow.aftercare".into());
        s.app.android_sha256_fingerprints = Some("AA:BB, CC:DD".into());
    })
    .await;
    let res = app.get("/.well-known/apple-app-site-association", None).await;
    assert_eq!(header(res.headers(), "content-type"), "application/json");
    let aasa = ok(res, 200).await;
    let details = &aasa["applinks"]["details"][0];
    assert_eq!(details["appIDs"], json!(["TEAM123456.com.glow.aftercare", "TEAM123456.com.glow.beta"]));
    let paths: Vec<&str> = details["components"].as_array().unwrap().iter().map(|c| c["/"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/app/*", "/invite", "/reset-password"]);
    let res = app.get("/.well-known/assetlinks.json", None).await;
    assert_eq!(header(res.headers(), "content-type"), "application/json");
    let links = ok(res, 200).await;
    assert_eq!(links[0]["relation"], json!(["delegate_permission/common.handle_all_urls"]));
    assert_eq!(links[0]["target"]["package_name"], "com.glow.aftercare");
    assert_eq!(links[0]["target"]["sha256_cert_fingerprints"], json!(["AA:BB", "CC:DD"]));
}

/// Sends the treated patient's first check-in reminder; the link it carries.
async fn checkin_link(app: &TestApp, fx: &crate::helpers::Treated) -> String {
    action_link(app, fx, "checkin").await
}

/// Sends the treated patient's first reminder with `action`; the link it carries.
async fn action_link(app: &TestApp, fx: &crate::helpers::Treated, action: &str) -> String {
    let list = ok(app.get(&format!("/api/v1/patients/{}/reminders", fx.pid), Some(&fx.staff)).await, 200).await;
    let first = list["upcoming"].as_array().unwrap().iter().find(|r| r["action"] == action).unwrap().clone();
    let due: chrono::DateTime<chrono::Utc> = first["due_at"].as_str().unwrap().parse().unwrap();
    app.clock.set(due);
    aftercare::jobs::dispatch::deliver_due_reminders(&app.state, due).await.unwrap();
    let mail = app
        .outbox()
        .into_iter()
        .find(|m| m.message_id.as_deref() == Some(&format!("reminder-{}@127.0.0.1", first["id"].as_str().unwrap())))
        .unwrap();
    let start = mail.text.find(&format!("http://127.0.0.1:8080/app/{action}?reminder=")).unwrap();
    let link = mail.text[start..].split_whitespace().next().unwrap().to_owned();
    assert!(link.contains("&token="), "{link}");
    link.trim_start_matches("http://127.0.0.1:8080").to_owned()
}

#[tokio::test]
async fn a_serum_reminders_link_logs_the_application_with_one_button() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["email_reminders"]).await;
    let link = action_link(&app, &fx, "log_serum").await;
    let token = link.split("&token=").nth(1).unwrap().to_owned();
    let asked = page(get_page(&app, &link, "en").await, 200, "en").await;
    assert!(asked.contains("Did you apply your serum?") && asked.contains("I applied it"), "{asked}");
    // A serum link's token is for the serum only.
    let as_checkin = link.replacen("/app/log_serum?", "/app/checkin?", 1);
    page(get_page(&app, &as_checkin, "en").await, 404, "en").await;

    let done = page(post_form(&app, "/app/log_serum", &[("token", &token)], "en").await, 200, "en").await;
    assert!(done.contains("Logged"), "{done}");
    let staff = crate::helpers::access(&app.login("admin@glow.example", PASSWORD).await);
    let logged = ok(app.get(&format!("/api/v1/patients/{}/serum-applications", fx.pid), Some(&staff)).await, 200).await
        ["items"]
        .clone();
    assert_eq!(logged.as_array().unwrap().len(), 1, "{logged}");
    assert_eq!(logged[0]["product"], "hyaluronic acid serum");
    assert_eq!(logged[0]["session_id"].as_str(), Some(fx.session.as_str()));
    let applied: chrono::DateTime<chrono::Utc> = logged[0]["applied_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(applied, app.clock.now(), "logged when the button was pressed");
}

#[tokio::test]
async fn a_reminder_emails_check_in_link_records_the_check_in_and_an_urgent_answer_says_to_call_the_clinic() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["email_reminders"]).await;
    let phone = json!({"phone": "+44 20 7946 0958"});
    let res = app.client.patch(app.url("/api/v1/clinic")).bearer_auth(&fx.staff).json(&phone).send().await.unwrap();
    assert_eq!(ok(res, 200).await["phone"], "+44 20 7946 0958");
    let link = checkin_link(&app, &fx).await;
    let token = link.split("&token=").nth(1).unwrap().to_owned();

    let form = page(get_page(&app, &link, "en").await, 200, "en").await;
    assert!(form.contains("How is your skin today?") && form.contains("Mild: pink, like a mild sunburn"), "{form}");
    assert!(form.contains("name=\"redness\"") && form.contains("name=\"fever\""), "{form}");

    // An answer missing is the form again, with what is missing; nothing is recorded.
    let missing =
        page(post_form(&app, "/app/checkin", &[("token", &token), ("redness", "2")], "en").await, 422, "en").await;
    assert!(
        missing.contains("Please answer each question") && missing.contains("value=\"2\" required checked"),
        "{missing}"
    );
    // The clock has moved past the fixture's access tokens: the admin logs in again.
    let staff = crate::helpers::access(&app.login("admin@glow.example", PASSWORD).await);
    let checkins = |app: &TestApp| {
        let app_url = app.url(&format!("/api/v1/patients/{}/checkins", fx.pid));
        let (client, staff) = (app.client.clone(), staff.clone());
        async move {
            client.get(app_url).bearer_auth(staff).send().await.unwrap().json::<Value>().await.unwrap()["items"].clone()
        }
    };
    assert_eq!(checkins(&app).await, json!([]));

    // A calm answer: thanks, and the check-in is there as the app's would be.
    let calm = [("token", token.as_str()), ("redness", "1"), ("swelling", "0"), ("itch", "1"), ("pain", "2")];
    let done = page(post_form(&app, "/app/checkin", &calm, "en").await, 200, "en").await;
    assert!(done.contains("Thank you") && done.contains("Glow Skin Clinic has your answers"), "{done}");
    let list = checkins(&app).await;
    assert_eq!((list[0]["redness"].as_i64(), list[0]["pain"].as_i64()), (Some(1), Some(2)));
    assert_eq!(list[0]["session_id"].as_str(), Some(fx.session.as_str()));

    // A fever: call the clinic now, on its number; the clinic has an urgent alert.
    let fever = [
        ("token", token.as_str()),
        ("redness", "2"),
        ("swelling", "1"),
        ("itch", "0"),
        ("pain", "4"),
        ("fever", "yes"),
    ];
    let urgent = page(post_form(&app, "/app/checkin", &fever, "en").await, 200, "en")
        .await
        .replace(['\u{2068}', '\u{2069}'], "");
    assert!(
        urgent.contains("Call your clinic now")
            && urgent.contains("Call Glow Skin Clinic now on +44 20 7946 0958")
            && urgent.contains("href=\"tel:+442079460958\""),
        "{urgent}"
    );
    let alerts = ok(app.get("/api/v1/alerts?status=open", Some(&staff)).await, 200).await;
    assert!(
        alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["severity"] == "urgent" && a["patient_id"] == fx.pid.as_str()),
        "{alerts}"
    );
    assert_eq!(checkins(&app).await.as_array().unwrap().len(), 2);

    // A forged or expired token is the friendly 404 page, and records nothing.
    let forged = token.replace('A', "B") + "x";
    page(
        post_form(
            &app,
            "/app/checkin",
            &[("token", &forged), ("redness", "0"), ("swelling", "0"), ("itch", "0"), ("pain", "0")],
            "en",
        )
        .await,
        404,
        "en",
    )
    .await;
    assert_eq!(checkins(&app).await.as_array().unwrap().len(), 2);
    app.clock.set(app.clock.now() + chrono::Duration::hours(aftercare::jobs::dispatch::CHECKIN_LINK_HOURS + 1));
    let expired = page(get_page(&app, &link, "en").await, 404, "en").await;
    assert!(expired.contains("This link does not work"), "{expired}");
    // Without a token the address is the app's: a page that says to open it.
    page(get_page(&app, "/app/checkin?reminder=x", "en").await, 200, "en").await;
}

#[tokio::test]
async fn a_spanish_patients_check_in_page_is_in_spanish() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["email_reminders"]).await;
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/patients/{}", fx.pid)))
        .bearer_auth(&fx.staff)
        .json(&json!({"language": "es"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let link = checkin_link(&app, &fx).await;
    let form = page(get_page(&app, &link, "en").await, 200, "es").await;
    assert!(form.contains("¿Cómo está su piel hoy?") && form.contains("Fiebre o escalofríos"), "{form}");
}
