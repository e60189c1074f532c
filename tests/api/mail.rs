//! Mail through real transports: SMTP on loopback and `.eml` files.

use crate::{
    helpers::{PASSWORD, TestApp, assert_problem, test_settings, token_from_text},
    smtp_sink::SmtpSink,
};
use aftercare::startup::{Application, Overrides};
use serde_json::json;

#[tokio::test]
async fn invitations_travel_over_real_smtp_with_text_and_html_parts() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let admin = app.admin_token().await;
    let res = app
        .post("/api/v1/staff/invitations", &json!({"email": "dr.lee@glow.example", "role": "clinician"}), Some(&admin))
        .await;
    assert_eq!(res.status(), 201);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let raw = &received[0];
    assert!(raw.contains("To: dr.lee@glow.example"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("text/plain") && raw.contains("text/html"), "{raw}");
    // The token in the message works.
    let decoded = raw.replace("=\r\n", "").replace("=3D", "="); // quoted-printable
    let token = token_from_text(&decoded);
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn when_smtp_refuses_the_invitation_is_not_kept() {
    let sink = SmtpSink::start().await;
    *sink.rcpt_reply.lock().unwrap() = Some("550 5.1.1 no such user".into());
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let admin = app.admin_token().await;
    let body = json!({"email": "dr.lee@glow.example", "role": "clinician"});
    assert_problem(app.post("/api/v1/staff/invitations", &body, Some(&admin)).await, 503, "mail_unavailable").await;

    // Once mail works again the same invitation can be sent, and only it exists.
    *sink.rcpt_reply.lock().unwrap() = None;
    assert_eq!(app.post("/api/v1/staff/invitations", &body, Some(&admin)).await.status(), 201);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn when_the_smtp_server_is_down_the_answer_is_a_clean_503() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.mail.timeout_secs = 2;
    })
    .await;
    let admin = app.admin_token().await;
    let body = json!({"email": "dr.lee@glow.example", "role": "clinician"});
    let problem =
        assert_problem(app.post("/api/v1/staff/invitations", &body, Some(&admin)).await, 503, "mail_unavailable").await;
    assert!(!problem.to_string().contains(&port.to_string()), "no internals in the answer: {problem}");
}

#[tokio::test]
async fn a_server_that_never_finishes_answering_costs_at_most_the_mail_timeout() {
    let port = crate::smtp_sink::start_dripping().await;
    let app = TestApp::spawn_with(|s| {
        s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.mail.timeout_secs = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let body = json!({"email": "dr.lee@glow.example", "role": "clinician"});
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        app.post("/api/v1/staff/invitations", &body, Some(&admin)),
    )
    .await
    .expect("the request ends although the server keeps talking");
    assert_problem(res, 503, "mail_unavailable").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_default_mailer_writes_eml_files_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    // This test is about the mail directory; SQLite in the temp dir keeps it self-contained.
    settings.database.url = None;
    let app = Application::build(settings, Overrides::default()).await.unwrap();
    let state = app.state().clone();
    let mail = aftercare::email::templates::render(
        "invitation",
        aftercare::i18n::Lang::En,
        "someone@glow.example",
        aftercare::email::templates::InvitationContext {
            clinic_name: "Glow",
            role: "clinician",
            accept_url: "http://x/invite?token=t",
            token: "t",
            expires_at: "soon",
        },
    )
    .unwrap();
    state.mailer.send(&mail).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: someone@glow.example") && raw.contains("Subject: You're invited to Glow"), "{raw}");
}

#[tokio::test]
async fn every_email_names_itself_on_the_public_domain_and_invites_a_reply_only_when_one_reaches_the_clinic() {
    use aftercare::{
        clock::Clock, jobs::alert_mail::deliver_alert_notifications, jobs::dispatch::deliver_due_reminders,
    };
    let app = TestApp::spawn().await;
    let fx = crate::helpers::treated_patient(&app, &["email_reminders"]).await;
    let staff_invite = json!({"email": "dr.lee@glow.example", "role": "clinician"});
    crate::helpers::ok(app.post("/api/v1/staff/invitations", &staff_invite, Some(&fx.staff)).await, 201).await;
    // No reply-to address: the first reminder (11:00) asks the patient to call, not to reply.
    app.clock.set(chrono::DateTime::parse_from_rfc3339("2026-03-16T11:00:00Z").unwrap().to_utc());
    let staff = crate::helpers::access(&app.login("admin@glow.example", PASSWORD).await);
    assert_eq!(deliver_due_reminders(&app.state, app.clock.now()).await.unwrap().sent, 1);
    let first = app.outbox().into_iter().rfind(|m| m.subject.starts_with("Your first")).expect("first reminder");
    assert!(first.reply_to.is_none() && !first.text.contains("Reply to this email"), "{}", first.text);
    assert!(first.text.contains("Call your clinic"), "{}", first.text);
    // With the clinic's address set, the next one says replies reach it, and they do.
    let desk = json!({"reply_to": "desk@glow.example"});
    crate::helpers::ok(
        app.client.patch(app.url("/api/v1/clinic")).bearer_auth(&staff).json(&desk).send().await.unwrap(),
        200,
    )
    .await;
    app.clock.advance(chrono::Duration::hours(12));
    assert!(deliver_due_reminders(&app.state, app.clock.now()).await.unwrap().sent >= 1);
    let later = app.outbox().into_iter().last().expect("a later reminder");
    assert_eq!(later.reply_to.as_deref(), Some("desk@glow.example"));
    assert!(later.text.contains("Reply to this email"), "{}", later.text);
    let staff = crate::helpers::access(&app.login("admin@glow.example", PASSWORD).await);
    let invite = json!({"email": "dr.park@glow.example", "role": "clinician"});
    crate::helpers::ok(app.post("/api/v1/staff/invitations", &invite, Some(&staff)).await, 201).await;
    let invitation = app.outbox().into_iter().last().expect("the invitation");
    assert_eq!(
        (invitation.to.as_str(), invitation.reply_to.as_deref()),
        ("dr.park@glow.example", Some("desk@glow.example"))
    );
    // A red flag's staff email.
    let patient = crate::helpers::access(&app.login("jane@x.example", PASSWORD).await);
    let body = json!({"redness": 1, "swelling": 0, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    crate::helpers::ok(app.post("/api/v1/me/checkins", &body, Some(&patient)).await, 201).await;
    assert!(deliver_alert_notifications(&app.state, app.clock.now()).await.unwrap().sent >= 1);

    let mails = app.outbox();
    let kinds = ["invitation-", "reminder-", "alert-"];
    for kind in kinds {
        assert!(mails.iter().any(|m| m.message_id.as_deref().is_some_and(|id| id.starts_with(kind))), "a {kind} email");
    }
    for m in &mails {
        let id = m.message_id.as_deref().unwrap_or_else(|| panic!("no Message-ID on {:?}", m.subject));
        assert!(id.ends_with("@127.0.0.1"), "{id} is on the public URL's domain");
    }
}
