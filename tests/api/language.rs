//! Patients read their emails in their own language (English when the catalogue lacks it);
//! staff read English. The language is a BCP 47 tag that staff and the patient can set.

use crate::{
    clinical::{answers, session_body},
    helpers::{PASSWORD, TestApp, access, assert_problem, ok, token_from_text, treated_patient},
    smtp_sink::SmtpSink,
};
use aftercare::{
    clock::Clock,
    jobs::{dispatch::deliver_due_reminders, missed_checkins::check_missed_checkins},
};
use chrono::DateTime;
use mailparse::MailHeaderMap;
use serde_json::json;

/// A message as the sink received it, decoded: subject, plain text, HTML, and the raw headers.
struct Received {
    subject: String,
    text: String,
    html: String,
    headers: String,
}

fn decode(raw: &str) -> Received {
    let mail = mailparse::parse_mail(raw.as_bytes()).unwrap();
    let part = |mime: &str| {
        mail.subparts.iter().find(|p| p.ctype.mimetype == mime).map(|p| p.get_body().unwrap()).unwrap_or_default()
    };
    Received {
        subject: mail.headers.get_first_value("Subject").unwrap_or_default(),
        text: part("text/plain").replace("\r\n", "\n"),
        html: part("text/html"),
        headers: raw.split("\r\n\r\n").next().unwrap_or_default().to_owned(),
    }
}

fn newest_to(sink: &SmtpSink, to: &str) -> Received {
    let raw = sink.received().into_iter().rev().find(|m| m.contains(&format!("To: {to}"))).expect("a message");
    decode(&raw)
}

#[tokio::test]
async fn a_spanish_speaking_patient_gets_the_invitation_and_reminders_in_spanish_over_real_smtp() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|s| s.mail.smtp_url = Some(url.into())).await;
    let staff = app.admin_token().await;
    let body =
        json!({"name": "Lucía Pérez", "email": "lucia@x.example", "time_zone": "Europe/Madrid", "language": "es-mx"});
    let p = ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await;
    assert_eq!(p["language"], "es-MX", "stored in canonical case");
    let pid = p["id"].as_str().unwrap();

    // The invitation: Spanish, the expiry in her zone (the clock starts on 2026-03-16).
    let invitation = newest_to(&sink, "lucia@x.example");
    assert_eq!(invitation.subject, "Glow Skin Clinic le invita a la app Aftercare");
    assert!(invitation.html.contains(r#"<html lang="es">"#), "{}", invitation.html);
    assert!(invitation.text.starts_with("Hola:\n") && invitation.text.contains("Cree su cuenta aquí:"));
    assert!(invitation.text.contains("caduca el ") && invitation.text.contains(" de 2026, "), "{}", invitation.text);
    assert!(invitation.text.contains("(Europe/Madrid)"), "{}", invitation.text);
    let accept = json!({"token": token_from_text(&invitation.text), "password": PASSWORD});
    ok(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await;

    let grant = json!({"kind": "email_reminders", "granted": true});
    ok(app.post(&format!("/api/v1/patients/{pid}/consents"), &grant, Some(&staff)).await, 201).await;
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let plan = json!({"concerns": ["acne_scars"], "planned_sessions": 3});
    let c = ok(app.post(&format!("/api/v1/patients/{pid}/courses"), &plan, Some(&staff)).await, 201).await;
    let session = session_body("2026-03-16T09:00:00Z", "cheeks", 1.0);
    let path = format!("/api/v1/courses/{}/sessions", c["id"].as_str().unwrap());
    ok(app.post(&path, &session, Some(&staff)).await, 201).await;

    // The first reminder, two hours after the session (12:00 in Madrid): the built-in step's
    // words, the greeting, the date and the footer in Spanish; identity headers as ever.
    app.clock.set(DateTime::parse_from_rfc3339("2026-03-16T11:00:00Z").unwrap().to_utc());
    assert_eq!(deliver_due_reminders(&app.state, app.clock.now()).await.unwrap().sent, 1);
    let mail = newest_to(&sink, "lucia@x.example");
    assert_eq!(mail.subject, "Sus primeras 24 horas");
    assert!(mail.html.contains(r#"<html lang="es">"#), "{}", mail.html);
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("Hola, Lucía:"), "{part}");
        assert!(part.contains("Use solo el sérum de ácido hialurónico"), "{part}");
        assert!(part.contains("Evite:") && part.contains("el maquillaje"), "{part}");
        assert!(part.contains("lunes 16 de marzo, 12:00"), "{part}");
        assert!(part.contains("el día de su tratamiento."), "{part}");
        assert!(part.contains("Llame a su clínica."), "{part}");
        for english in ["Hello", "Please avoid", "Your first", "Monday", "Stop aftercare"] {
            assert!(!part.contains(english), "no {english:?} in {part}");
        }
    }
    assert!(
        mail.headers.contains("Message-ID: <reminder-") && mail.headers.contains("@127.0.0.1>"),
        "{}",
        mail.headers
    );
    assert!(mail.headers.contains("List-Unsubscribe: <http://127.0.0.1"), "{}", mail.headers);
    assert!(mail.headers.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{}", mail.headers);
}

#[tokio::test]
async fn a_language_the_catalogue_lacks_gets_english_and_staff_mail_stays_english() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let body =
        json!({"name": "Joana Silva", "email": "joana@x.example", "time_zone": "Europe/Lisbon", "language": "pt-BR"});
    let p = ok(app.post("/api/v1/patients", &body, Some(&staff)).await, 201).await;
    let pid = p["id"].as_str().unwrap();
    let invitation = app.outbox().into_iter().rfind(|m| m.to == "joana@x.example").unwrap();
    assert_eq!(invitation.subject, "Glow Skin Clinic invites you to the Aftercare app");
    assert!(invitation.html.contains(r#"<html lang="en">"#));
    let grant = json!({"kind": "email_reminders", "granted": true});
    ok(app.post(&format!("/api/v1/patients/{pid}/consents"), &grant, Some(&staff)).await, 201).await;
    ok(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let plan = json!({"concerns": ["acne_scars"], "planned_sessions": 3});
    let c = ok(app.post(&format!("/api/v1/patients/{pid}/courses"), &plan, Some(&staff)).await, 201).await;
    let path = format!("/api/v1/courses/{}/sessions", c["id"].as_str().unwrap());
    ok(app.post(&path, &session_body("2026-03-16T09:00:00Z", "cheeks", 1.0), Some(&staff)).await, 201).await;
    app.clock.set(DateTime::parse_from_rfc3339("2026-03-16T11:00:00Z").unwrap().to_utc());
    assert_eq!(deliver_due_reminders(&app.state, app.clock.now()).await.unwrap().sent, 1);
    let mail = app.outbox().into_iter().rfind(|m| m.to == "joana@x.example").unwrap();
    assert_eq!(mail.subject, "Your first 24 hours");
    assert!(mail.html.contains(r#"<html lang="en">"#), "{}", mail.html);
    assert!(mail.text.starts_with("Hello Joana,") && mail.text.contains("Monday 16 March, 11:00 (Europe/Lisbon)"));

    // A staff invitation is English (clinics have no language setting).
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let invite = json!({"email": "dr.lee@glow.example", "role": "admin"});
    ok(app.post("/api/v1/staff/invitations", &invite, Some(&staff)).await, 201).await;
    let staff_mail = app.outbox().into_iter().rfind(|m| m.to == "dr.lee@glow.example").unwrap();
    assert_eq!(staff_mail.subject, "You're invited to Glow Skin Clinic on Aftercare");
    assert!(
        staff_mail.text.contains("as an administrator") && staff_mail.text.contains("(UTC)"),
        "{}",
        staff_mail.text
    );
    assert!(staff_mail.html.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn the_patient_sets_their_language_in_their_profile_and_the_check_in_nudge_follows_it() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["email_reminders"]).await;
    let patch = |token: String, path: String, body: serde_json::Value| {
        let req = app.client.patch(app.url(&path)).bearer_auth(token).json(&body);
        async move { req.send().await.unwrap() }
    };
    let me = ok(patch(fx.patient.clone(), "/api/v1/me/profile".into(), json!({"language": "ES-419"})).await, 200).await;
    assert_eq!(me["language"], "es-419");
    app.clock.set(DateTime::parse_from_rfc3339("2026-03-18T21:00:00Z").unwrap().to_utc());
    let report = check_missed_checkins(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report.nudges_sent, 1, "{report:?}");
    let nudge = app.outbox().into_iter().rfind(|m| m.to == "jane@x.example").unwrap();
    assert_eq!(nudge.subject, "No hemos sabido de usted: ¿cómo está su piel?");
    assert!(nudge.html.contains(r#"<html lang="es">"#) && nudge.text.starts_with("Hola, Jane:"), "{}", nudge.text);
    assert!(nudge.text.contains("contacte ahora con su clínica"), "{}", nudge.text);

    // Staff change it back; neither accepts what is not a language tag.
    let path = format!("/api/v1/patients/{}", fx.pid);
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let patient = access(&app.login("jane@x.example", PASSWORD).await);
    let p = ok(patch(staff.clone(), path.clone(), json!({"language": "en-GB"})).await, 200).await;
    assert_eq!(p["language"], "en-GB");
    for bad in ["", "e", "123", "english!", "es-", "x-klingon"] {
        let body = json!({"language": bad});
        let res =
            assert_problem(patch(staff.clone(), path.clone(), body.clone()).await, 422, "validation_failed").await;
        assert_eq!(res["errors"][0]["field"], "language", "{bad:?}");
        assert_problem(patch(patient.clone(), "/api/v1/me/profile".into(), body).await, 422, "validation_failed").await;
    }
}
