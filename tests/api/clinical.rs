//! The clinical record end to end: patients, invitations to the app, consents, screening,
//! courses and sessions, idempotent POSTs and the audit trail.

use crate::helpers::{PASSWORD, TestApp, access, assert_problem, ok as body};
use aftercare::repo::audit::{AuditEvent, insert_events};
use chrono::Duration;
use reqwest::Response;
use serde_json::{Value, json};

/// A screening with every answer `false` except the named ones.
pub fn answers(yes: &[&str]) -> Value {
    let mut a = json!({
        "active_acne_or_infection": false, "cold_sore_history": false, "keloid_tendency": false,
        "isotretinoin_last_6_months": false, "pregnant_or_breastfeeding": false,
        "blood_thinners_or_bleeding_disorder": false, "uncontrolled_diabetes": false,
        "immunosuppressed": false, "eczema_psoriasis_rosacea_in_area": false,
        "metal_or_lidocaine_allergy": false, "peel_last_30_days": false,
        "neuromodulator_last_3_months": false, "filler_last_12_months": false
    });
    for key in yes {
        a[*key] = json!(true);
    }
    json!({ "answers": a })
}

pub fn session_body(at: &str, area: &str, depth: f64) -> Value {
    json!({
        "performed_at": at,
        "device": {"kind": "pen", "model": "SkinPen Precision", "cartridge_lot": "LOT-2026-03"},
        "areas": [{"area": area, "depth_mm": depth, "passes": 3}],
        "numbing": "lidocaine 4% topical",
        "products_applied": ["hyaluronic acid serum"],
        "immediate_response": {"erythema_grade": 2, "pinpoint_bleeding": true},
        "notes": "tolerated well; patient anxious about downtime"
    })
}

async fn patch(app: &TestApp, path: &str, payload: &Value, token: &str) -> Response {
    app.client.patch(app.url(path)).bearer_auth(token).json(payload).send().await.unwrap()
}

/// Staff token, a patient id (without app account) and a clear screening.
async fn clinic_with_patient(app: &TestApp) -> (String, String) {
    let admin = app.admin_token().await;
    let staff = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let p = body(
        app.post("/api/v1/patients", &json!({"name": "Jane Doe", "time_zone": "Europe/London"}), Some(&staff)).await,
        201,
    )
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    body(app.post(&format!("/api/v1/patients/{id}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    (staff, id)
}

async fn course(app: &TestApp, staff: &str, patient: &str) -> String {
    let c = body(
        app.post(
            &format!("/api/v1/patients/{patient}/courses"),
            &json!({"concerns": ["acne_scars", "texture"], "planned_sessions": 3}),
            Some(staff),
        )
        .await,
        201,
    )
    .await;
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_clinic_runs_a_patient_from_invitation_to_a_recorded_session() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let staff = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);

    let created = app
        .post(
            "/api/v1/patients",
            &json!({
                "name": "Jane Doe", "email": "Jane@Example.com", "phone": "+44 20 7946 0000",
                "date_of_birth": "1990-05-17", "time_zone": "Europe/London", "fitzpatrick": 2,
                "clinical_notes": "mild rolling scars"
            }),
            Some(&staff),
        )
        .await;
    let patient = body(created, 201).await;
    assert_eq!(patient["app_invitation"], "sent");
    assert_eq!(patient["email"], "jane@example.com");
    assert_eq!(patient["quiet_hours"], json!({"start": "21:00", "end": "08:00"}));
    assert_eq!(patient["language"], "en");
    assert_eq!(patient["has_app_account"], false);
    let pid = patient["id"].as_str().unwrap().to_owned();

    let mail = app.outbox().into_iter().rev().find(|m| m.to == "jane@example.com").unwrap();
    assert!(mail.subject.contains("Glow Skin Clinic"), "{}", mail.subject);
    let token = app.invitation_token("jane@example.com");
    let tokens = body(
        app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await,
        200,
    )
    .await;
    let jane = access(&tokens);
    let me = body(app.get("/api/v1/me", Some(&jane)).await, 200).await;
    assert_eq!(me["role"], "patient");
    let profile = body(app.get("/api/v1/me/profile", Some(&jane)).await, 200).await;
    assert_eq!(profile["id"], pid.as_str());
    assert!(profile.get("clinical_notes").is_none() && profile.get("fitzpatrick").is_none(), "{profile}");
    let seen = body(app.get(&format!("/api/v1/patients/{pid}"), Some(&staff)).await, 200).await;
    assert_eq!(seen["has_app_account"], true);

    body(app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&[]), Some(&staff)).await, 201).await;
    let course_id = course(&app, &staff, &pid).await;
    let s = body(
        app.post(
            &format!("/api/v1/courses/{course_id}/sessions"),
            &session_body("2026-03-16T09:00:00Z", "cheeks", 1.0),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(s["warnings"], json!([]));
    assert_eq!(s["areas"], json!([{"area": "cheeks", "depth_mm": 1.0, "passes": 3}]));
    assert_eq!(s["device"]["cartridge_lot"], "LOT-2026-03");
    assert_eq!(s["status"], "completed");

    let c = body(app.get(&format!("/api/v1/courses/{course_id}"), Some(&staff)).await, 200).await;
    assert_eq!(c["sessions_done"], 1);
    assert_eq!(c["next_session_due_at"], "2026-04-13T09:00:00Z");
    assert_eq!(c["next_session_too_soon"], true);
    app.clock.advance(Duration::days(28));
    let staff = access(&app.login("dr.lee@glow.example", PASSWORD).await);
    let jane = access(&app.login("jane@example.com", PASSWORD).await);
    let c = body(app.get(&format!("/api/v1/courses/{course_id}"), Some(&staff)).await, 200).await;
    assert_eq!(c["next_session_too_soon"], false);

    // The patient sees their own record on the app's endpoints, without clinician notes.
    let mine = body(app.get("/api/v1/me/sessions", Some(&jane)).await, 200).await["items"].clone();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert!(mine[0].get("notes").is_none() && mine[0].get("warnings").is_none(), "{mine}");
    assert!(!mine.to_string().contains("anxious"));
    let courses = body(app.get("/api/v1/me/courses", Some(&jane)).await, 200).await["items"].clone();
    assert_eq!(courses[0]["sessions_done"], 1);
    let one = body(app.get(&format!("/api/v1/sessions/{}", s["id"].as_str().unwrap()), Some(&jane)).await, 200).await;
    assert!(one.get("notes").is_none());
}

#[tokio::test]
async fn patient_fields_are_validated_together() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let res = app
        .post(
            "/api/v1/patients",
            &json!({
                "name": " ", "email": "nope", "time_zone": "Mars/Olympus", "fitzpatrick": 7,
                "quiet_hours": {"start": "25:00", "end": "08:00"}, "language": "english!", "phone": "call me",
                "date_of_birth": "2099-01-01"
            }),
            Some(&staff),
        )
        .await;
    let p = assert_problem(res, 422, "validation_failed").await;
    let mut fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["date_of_birth", "email", "fitzpatrick", "language", "name", "phone", "quiet_hours.start", "time_zone"]
    );
    let list = body(app.get("/api/v1/patients", Some(&staff)).await, 200).await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn patients_are_listed_newest_first_in_pages_and_searchable() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let mut ids = Vec::new();
    for (name, email) in
        [("Ann Avery", "ann@x.example"), ("Bob Brown", "bob@x.example"), ("Cara Cole", "cara@y.example")]
    {
        let p = body(
            app.post(
                "/api/v1/patients",
                &json!({"name": name, "email": email, "time_zone": "Europe/Paris", "invite": false}),
                Some(&staff),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(p["app_invitation"], "not_requested");
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let first = body(app.get("/api/v1/patients?limit=2", Some(&staff)).await, 200).await;
    let names: Vec<&str> = first["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Cara Cole", "Bob Brown"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = body(app.get(&format!("/api/v1/patients?limit=2&cursor={cursor}"), Some(&staff)).await, 200).await;
    assert_eq!(second["items"][0]["name"], "Ann Avery");
    assert_eq!(second["next_cursor"], Value::Null);

    let found = body(app.get("/api/v1/patients?q=BROWN", Some(&staff)).await, 200).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let found = body(app.get("/api/v1/patients?q=y.example", Some(&staff)).await, 200).await;
    assert_eq!(found["items"][0]["name"], "Cara Cole");
    let none = body(app.get("/api/v1/patients?q=%25", Some(&staff)).await, 200).await;
    assert_eq!(none["items"], json!([]), "a % is searched literally");

    body(app.post(&format!("/api/v1/patients/{}/archive", ids[1]), &json!({}), Some(&staff)).await, 200).await;
    let active = body(app.get("/api/v1/patients", Some(&staff)).await, 200).await;
    assert_eq!(active["items"].as_array().unwrap().len(), 2);
    let all = body(app.get("/api/v1/patients?include_archived=true", Some(&staff)).await, 200).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    // Every combination of search, archived and cursor (each is a statement of its own).
    let names = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
    };
    let list = |query: String| {
        let (app, staff) = (&app, &staff);
        async move { body(app.get(&format!("/api/v1/patients?{query}"), Some(staff)).await, 200).await }
    };
    let first = list("include_archived=true&limit=2".into()).await;
    assert_eq!(names(&first), ["Cara Cole", "Bob Brown"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(names(&list(format!("include_archived=true&limit=2&cursor={cursor}")).await), ["Ann Avery"]);
    let first = list("q=x.example&limit=1".into()).await;
    assert_eq!(names(&first), ["Ann Avery"], "Bob (x.example) is archived");
    assert_eq!(first["next_cursor"], Value::Null);
    let first = list("q=x.example&include_archived=true&limit=1".into()).await;
    assert_eq!(names(&first), ["Bob Brown"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let next = list(format!("q=x.example&include_archived=true&limit=1&cursor={cursor}")).await;
    assert_eq!(names(&next), ["Ann Avery"]);
    let first = list("q=a&limit=1".into()).await;
    assert_eq!(names(&first), ["Cara Cole"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(names(&list(format!("q=a&limit=1&cursor={cursor}")).await), ["Ann Avery"]);

    assert_problem(app.get("/api/v1/patients?limit=500", Some(&staff)).await, 400, "invalid_query").await;
    assert_problem(app.get("/api/v1/patients?cursor=zzz", Some(&staff)).await, 400, "invalid_query").await;
    assert_problem(app.get("/api/v1/patients?limit=abc", Some(&staff)).await, 400, "invalid_query").await;
    assert_problem(app.get("/api/v1/patients?bogus=1", Some(&staff)).await, 400, "invalid_query").await;
}

/// The staff page writes each row's JSON straight from the database row: every item is, byte
/// for byte, the body `GET /patients/{id}` answers for that patient (serde_json's), whatever the
/// texts hold (quotes, backslashes, controls, non-ASCII), with nulls, an app account and an
/// archived patient.
#[tokio::test]
async fn the_staff_page_shows_each_patient_as_their_own_record_does() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let patients = [
        json!({"name": "Ann \"Quote\" O'Hara \\ back\\slash", "time_zone": "Europe/Paris", "invite": false}),
        json!({
            "name": "Zoë 😀 Ünïcode → ترجمة", "email": "zoe@x.example", "phone": "+44 (20) 7946-0000",
            "date_of_birth": "1988-02-29", "fitzpatrick": 4, "time_zone": "America/New_York", "language": "pt-BR",
            "clinical_notes": "line one\nline two\ttab \u{1} control \u{1f} \u{7f} del </script>",
            "quiet_hours": {"start": "22:30", "end": "07:15"}, "invite": true,
        }),
        json!({"name": "Plain Patient", "email": "plain@x.example", "time_zone": "UTC", "invite": false}),
    ];
    let mut ids = Vec::new();
    for p in &patients {
        let created = body(app.post("/api/v1/patients", p, Some(&staff)).await, 201).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let accept = json!({"token": app.invitation_token("zoe@x.example"), "password": PASSWORD});
    body(app.post("/api/v1/auth/accept-invitation", &accept, None).await, 200).await;
    body(app.post(&format!("/api/v1/patients/{}/archive", ids[2]), &json!({}), Some(&staff)).await, 200).await;

    let res = app.get("/api/v1/patients?include_archived=true", Some(&staff)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let page = res.text().await.unwrap();
    let listed: Value = serde_json::from_str(&page).unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{page}");
    for (id, item) in ids.iter().rev().zip(items) {
        assert_eq!(item["id"].as_str(), Some(id.as_str()), "newest first");
        let one = app.get(&format!("/api/v1/patients/{id}"), Some(&staff)).await.text().await.unwrap();
        assert!(page.contains(&one), "the page's item differs from\n{one}\nin\n{page}");
    }
    let flags: Vec<(bool, bool)> =
        items.iter().map(|p| (p["has_app_account"] == true, p["archived"] == true)).collect();
    assert_eq!(flags, [(false, true), (true, false), (false, false)]);
    assert!(items[0]["archived_at"].is_string() && items[1]["archived_at"].is_null());
    assert_eq!(items[1]["clinical_notes"], patients[1]["clinical_notes"]);
    assert_eq!(items[1]["date_of_birth"], "1988-02-29");
    assert_eq!(items[2]["name"], patients[0]["name"]);
}

#[tokio::test]
async fn staff_edit_patients_and_null_clears_a_field() {
    let app = TestApp::spawn().await;
    let (staff, pid) = clinic_with_patient(&app).await;
    let res =
        patch(&app, &format!("/api/v1/patients/{pid}"), &json!({"name": "Jane Smith", "phone": "+1 555 0100"}), &staff)
            .await;
    let p = body(res, 200).await;
    assert_eq!((p["name"].as_str(), p["phone"].as_str()), (Some("Jane Smith"), Some("+1 555 0100")));
    let p = body(patch(&app, &format!("/api/v1/patients/{pid}"), &json!({"phone": null}), &staff).await, 200).await;
    assert_eq!(p["phone"], Value::Null);
    assert_eq!(p["name"], "Jane Smith");
    let found = body(app.get("/api/v1/patients?q=smith", Some(&staff)).await, 200).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "search follows the new name");

    body(
        app.post(
            "/api/v1/patients",
            &json!({"name": "Other", "email": "o@x.example", "time_zone": "UTC", "invite": false}),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    let res = patch(&app, &format!("/api/v1/patients/{pid}"), &json!({"email": "O@x.example"}), &staff).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "email");
    let res = patch(&app, "/api/v1/patients/not-a-real-id", &json!({"name": "x"}), &staff).await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn a_patient_edits_their_profile_but_never_clinical_fields() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    body(
        app.post(
            "/api/v1/patients",
            &json!({"name": "Jane", "email": "jane@x.example", "time_zone": "Europe/London"}),
            Some(&admin),
        )
        .await,
        201,
    )
    .await;
    let token = app.invitation_token("jane@x.example");
    let jane = access(
        &body(
            app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await,
            200,
        )
        .await,
    );

    let changed = json!({"time_zone": "America/New_York", "quiet_hours": {"start": "22:30", "end": "07:00"}, "language": "pt-BR"});
    let p = body(patch(&app, "/api/v1/me/profile", &changed, &jane).await, 200).await;
    assert_eq!(p["time_zone"], "America/New_York");
    assert_eq!(p["quiet_hours"]["start"], "22:30");
    let res = patch(&app, "/api/v1/me/profile", &json!({"clinical_notes": "hacked"}), &jane).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "clinical_notes");
    let res = patch(&app, "/api/v1/me/profile", &json!({"fitzpatrick": 6}), &jane).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = patch(&app, "/api/v1/me/profile", &json!({"time_zone": "Nowhere/Land"}), &jane).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "time_zone");
    // Staff have no profile of their own.
    assert_problem(app.get("/api/v1/me/profile", Some(&admin)).await, 404, "not_found").await;
}

#[tokio::test]
async fn consents_are_an_append_only_history_with_a_current_state() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let p = body(
        app.post(
            "/api/v1/patients",
            &json!({"name": "Jane", "email": "jane@x.example", "time_zone": "UTC"}),
            Some(&admin),
        )
        .await,
        201,
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    let token = app.invitation_token("jane@x.example");
    let jane = access(
        &body(
            app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await,
            200,
        )
        .await,
    );

    let path = format!("/api/v1/patients/{pid}/consents");
    body(
        app.post(&path, &json!({"kind": "email_reminders", "granted": true, "note": "signed form"}), Some(&admin))
            .await,
        201,
    )
    .await;
    body(app.post(&path, &json!({"kind": "photos", "granted": true}), Some(&admin)).await, 201).await;
    app.clock.advance(Duration::minutes(10));
    let after = body(
        app.post("/api/v1/me/consents", &json!({"kind": "email_reminders", "granted": false}), Some(&jane)).await,
        201,
    )
    .await;
    let current =
        |v: &Value, kind: &str| v["current"].as_array().unwrap().iter().find(|c| c["kind"] == kind).unwrap().clone();
    assert_eq!(current(&after, "email_reminders")["granted"], false);
    assert_eq!(current(&after, "photos")["granted"], true);
    assert_eq!(current(&after, "marketing_photos")["granted"], false);
    assert_eq!(current(&after, "marketing_photos")["updated_at"], Value::Null);

    let staff_view = body(app.get(&path, Some(&admin)).await, 200).await;
    let history = staff_view["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["actor_role"], "admin");
    assert_eq!(history[0]["note"], "signed form");
    assert_eq!(history[2]["actor_role"], "patient");
    assert_eq!(history[2]["recorded_at"], "2026-03-16T09:10:00Z");

    let res = app.post(&path, &json!({"kind": "everything", "granted": true}), Some(&admin)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "kind");
}

#[tokio::test]
async fn a_session_needs_a_recent_clear_or_overridden_screening() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let clinician = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let p =
        body(app.post("/api/v1/patients", &json!({"name": "Jane", "time_zone": "UTC"}), Some(&clinician)).await, 201)
            .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let course_id = course(&app, &clinician, &pid).await;
    let sessions = format!("/api/v1/courses/{course_id}/sessions");
    let at = "2026-03-16T09:00:00Z";

    assert_problem(
        app.post(&sessions, &session_body(at, "cheeks", 1.0), Some(&clinician)).await,
        409,
        "screening_required",
    )
    .await;

    let s = body(
        app.post(&format!("/api/v1/patients/{pid}/screenings"), &answers(&["cold_sore_history"]), Some(&clinician))
            .await,
        201,
    )
    .await;
    assert_eq!(s["outcome"], "needs_override");
    assert_eq!(s["allows_treatment"], false);
    assert_eq!(s["findings"][0]["item"], "cold_sore_history");
    assert_problem(
        app.post(&sessions, &session_body(at, "cheeks", 1.0), Some(&clinician)).await,
        409,
        "screening_required",
    )
    .await;

    let override_path = format!("/api/v1/screenings/{}/override", s["id"].as_str().unwrap());
    let res = app.post(&override_path, &json!({"reason": "valaciclovir prescribed"}), Some(&admin)).await;
    assert_problem(res, 403, "forbidden").await;
    let res = app.post(&override_path, &json!({"reason": "  "}), Some(&clinician)).await;
    assert_problem(res, 422, "validation_failed").await;
    let o = body(app.post(&override_path, &json!({"reason": "valaciclovir prescribed"}), Some(&clinician)).await, 200)
        .await;
    assert_eq!(o["override"]["reason"], "valaciclovir prescribed");
    assert_eq!(o["allows_treatment"], true);
    assert_problem(app.post(&override_path, &json!({"reason": "again"}), Some(&clinician)).await, 409, "conflict")
        .await;
    body(app.post(&sessions, &session_body(at, "cheeks", 1.0), Some(&clinician)).await, 201).await;

    // Thirty-one days on, the screening no longer covers a session.
    app.clock.advance(Duration::days(31));
    let clinician = access(&app.login("dr.lee@glow.example", PASSWORD).await);
    let later = "2026-04-16T09:00:00Z";
    assert_problem(
        app.post(&sessions, &session_body(later, "cheeks", 1.0), Some(&clinician)).await,
        409,
        "screening_required",
    )
    .await;

    let hard = body(
        app.post(
            &format!("/api/v1/patients/{pid}/screenings"),
            &answers(&["pregnant_or_breastfeeding", "keloid_tendency"]),
            Some(&clinician),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(hard["outcome"], "contraindicated");
    assert_problem(
        app.post(&sessions, &session_body(later, "cheeks", 1.0), Some(&clinician)).await,
        409,
        "screening_contraindicated",
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/screenings/{}/override", hard["id"].as_str().unwrap()),
            &json!({"reason": "no"}),
            Some(&clinician),
        )
        .await;
    assert_problem(res, 409, "screening_contraindicated").await;
}

#[tokio::test]
async fn depths_are_checked_and_unusual_sessions_come_back_with_warnings() {
    let app = TestApp::spawn().await;
    let (staff, pid) = clinic_with_patient(&app).await;
    let course_id = course(&app, &staff, &pid).await;
    let sessions = format!("/api/v1/courses/{course_id}/sessions");

    let res = app.post(&sessions, &session_body("2026-03-16T09:00:00Z", "cheeks", 3.5), Some(&staff)).await;
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "areas[0].depth_mm");
    let mut no_areas = session_body("2026-03-16T09:00:00Z", "cheeks", 1.0);
    no_areas["areas"] = json!([]);
    assert_problem(app.post(&sessions, &no_areas, Some(&staff)).await, 422, "validation_failed").await;
    let mut bad_grade = session_body("2026-03-16T09:00:00Z", "cheeks", 1.0);
    bad_grade["immediate_response"]["erythema_grade"] = json!(9);
    let p = assert_problem(app.post(&sessions, &bad_grade, Some(&staff)).await, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "immediate_response.erythema_grade");
    let res = app.post(&sessions, &session_body("2026-03-20T09:00:00Z", "cheeks", 1.0), Some(&staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "performed_at");

    let first =
        body(app.post(&sessions, &session_body("2026-03-16T09:00:00Z", "under_eye", 1.0), Some(&staff)).await, 201)
            .await;
    assert_eq!(first["warnings"][0]["code"], "depth_outside_usual_range");
    assert_eq!(first["warnings"][0]["field"], "areas[0].depth_mm");

    app.clock.advance(Duration::days(10));
    let staff = access(&app.login("dr.lee@glow.example", PASSWORD).await);
    let second =
        body(app.post(&sessions, &session_body("2026-03-26T09:00:00Z", "cheeks", 1.0), Some(&staff)).await, 201).await;
    let codes: Vec<&str> = second["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["too_soon"]);

    // Moving the first session's time or areas recomputes its warnings.
    let fid = first["id"].as_str().unwrap();
    let fixed = body(
        patch(
            &app,
            &format!("/api/v1/sessions/{fid}"),
            &json!({"areas": [{"area": "under_eye", "depth_mm": 0.5, "passes": 2}]}),
            &staff,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(fixed["warnings"], json!([]));
    assert_eq!(fixed["areas"][0]["depth_mm"], 0.5);
}

#[tokio::test]
async fn cancelled_sessions_and_courses_and_archived_patients_refuse_changes() {
    let app = TestApp::spawn().await;
    let (staff, pid) = clinic_with_patient(&app).await;
    let course_id = course(&app, &staff, &pid).await;
    let s = body(
        app.post(
            &format!("/api/v1/courses/{course_id}/sessions"),
            &session_body("2026-03-16T09:00:00Z", "cheeks", 1.0),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    let sid = s["id"].as_str().unwrap();

    let res = app.post(&format!("/api/v1/sessions/{sid}/cancel"), &json!({}), Some(&staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "reason");
    let c = body(
        app.post(&format!("/api/v1/sessions/{sid}/cancel"), &json!({"reason": "patient unwell"}), Some(&staff)).await,
        200,
    )
    .await;
    assert_eq!((c["status"].as_str(), c["cancel_reason"].as_str()), (Some("cancelled"), Some("patient unwell")));
    assert_problem(
        app.post(&format!("/api/v1/sessions/{sid}/cancel"), &json!({"reason": "x"}), Some(&staff)).await,
        409,
        "session_cancelled",
    )
    .await;
    assert_problem(
        patch(&app, &format!("/api/v1/sessions/{sid}"), &json!({"notes": "x"}), &staff).await,
        409,
        "session_cancelled",
    )
    .await;
    let course_view = body(app.get(&format!("/api/v1/courses/{course_id}"), Some(&staff)).await, 200).await;
    assert_eq!(course_view["sessions_done"], 0, "a cancelled session does not count");

    body(patch(&app, &format!("/api/v1/courses/{course_id}"), &json!({"status": "cancelled"}), &staff).await, 200)
        .await;
    let res = app
        .post(
            &format!("/api/v1/courses/{course_id}/sessions"),
            &session_body("2026-03-16T09:00:00Z", "cheeks", 1.0),
            Some(&staff),
        )
        .await;
    assert_problem(res, 409, "course_not_active").await;

    body(app.post(&format!("/api/v1/patients/{pid}/archive"), &json!({}), Some(&staff)).await, 200).await;
    let res = app
        .post(
            &format!("/api/v1/patients/{pid}/courses"),
            &json!({"concerns": ["pores"], "planned_sessions": 2}),
            Some(&staff),
        )
        .await;
    assert_problem(res, 409, "patient_archived").await;
}

#[tokio::test]
async fn course_plans_are_validated() {
    let app = TestApp::spawn().await;
    let (staff, pid) = clinic_with_patient(&app).await;
    let path = format!("/api/v1/patients/{pid}/courses");
    let res = app.post(&path, &json!({"concerns": [], "planned_sessions": 13, "interval_days": 0}), Some(&staff)).await;
    let p = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["concerns", "planned_sessions", "interval_days"]);
    let res = app.post(&path, &json!({"concerns": ["freckles"], "planned_sessions": 3}), Some(&staff)).await;
    assert_problem(res, 422, "validation_failed").await;
    let c = body(
        app.post(
            &path,
            &json!({"concerns": ["stretch_marks", "texture", "stretch_marks"], "planned_sessions": 6, "interval_days": 42}),
            Some(&staff),
        )
        .await,
        201,
    )
    .await;
    assert_eq!((c["interval_days"].as_i64(), c["status"].as_str()), (Some(42), Some("active")));
    assert_eq!(c["concerns"], json!(["stretch_marks", "texture"]), "each concern once, in the order given");
    assert_eq!(c["next_session_due_at"], Value::Null);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let new_patient = json!({"name": "Jane", "time_zone": "UTC"});
    let send = |key: &'static str, payload: Value| {
        let req = app
            .client
            .post(app.url("/api/v1/patients"))
            .bearer_auth(&staff)
            .header("Idempotency-Key", key)
            .json(&payload);
        async move { req.send().await.unwrap() }
    };
    let first = send("abc-1", new_patient.clone()).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send("abc-1", new_patient.clone()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let list = body(app.get("/api/v1/patients", Some(&staff)).await, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "the retry created nothing");

    let res = send("abc-1", json!({"name": "Someone Else", "time_zone": "UTC"})).await;
    assert_problem(res, 422, "idempotency_key_reused").await;
    let res = send("  ", new_patient.clone()).await;
    assert_problem(res, 400, "bad_request").await;

    // A failed request is replayed too (the client sees a consistent answer)...
    let bad = json!({"name": "", "time_zone": "UTC"});
    assert_problem(send("bad-1", bad.clone()).await, 422, "validation_failed").await;
    assert_problem(send("bad-1", bad).await, 422, "validation_failed").await;
    // ...and keys expire after 24 hours.
    app.clock.advance(Duration::hours(24));
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let send = |key: &'static str, payload: Value| {
        let req = app
            .client
            .post(app.url("/api/v1/patients"))
            .bearer_auth(&staff)
            .header("Idempotency-Key", key)
            .json(&payload);
        async move { req.send().await.unwrap() }
    };
    let res = send("abc-1", json!({"name": "Someone Else", "time_zone": "UTC"})).await;
    assert_eq!(res.status(), 201);

    // Another caller's identical key is independent.
    let other = access(&app.invite_and_accept(&staff, "dr.lee@glow.example", "clinician").await);
    let res = app
        .client
        .post(app.url("/api/v1/patients"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "abc-1")
        .json(&new_patient)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotency-replayed").is_none());
}

/// More reads than one multi-row INSERT holds (32): every event stored once, with its request.
#[tokio::test]
async fn a_burst_of_reads_is_audited_event_by_event() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let p =
        body(app.post("/api/v1/patients", &json!({"name": "Ann", "time_zone": "UTC"}), Some(&admin)).await, 201).await;
    let pid = p["id"].as_str().unwrap();
    let mut request_ids = Vec::new();
    for _ in 0..70 {
        let read = app.get(&format!("/api/v1/patients/{pid}"), Some(&admin)).await;
        assert_eq!(read.status(), 200);
        request_ids.push(read.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    let events =
        body(app.get(&format!("/api/v1/audit-events?patient_id={pid}&limit=200"), Some(&admin)).await, 200).await;
    let mut stored: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read")
        .map(|e| {
            assert_eq!(e["resource_id"], pid);
            assert_eq!(e["actor_role"], "admin");
            e["request_id"].as_str().unwrap().to_owned()
        })
        .collect();
    stored.sort();
    request_ids.sort();
    assert_eq!(stored, request_ids);

    // And one batch of 70 as the writer stores it: two full statements and six rows alone.
    let pid_owned = pid.to_owned();
    let stored = app
        .state
        .db
        .write(move |c| -> Result<usize, aftercare::db::DbError> {
            let clinic_id =
                aftercare::repo::patients::find_by_id(c, &pid_owned)?.map(|p| p.clinic_id).unwrap_or_default();
            let batch: Vec<AuditEvent> = (0..70)
                .map(|i| AuditEvent {
                    id: aftercare::db::new_id(),
                    clinic_id: clinic_id.clone(),
                    actor_account_id: None,
                    actor_role: Some("admin".into()),
                    action: "export".into(),
                    resource_type: "patient".into(),
                    resource_id: (i % 2 == 0).then(|| pid_owned.clone()),
                    patient_id: Some(pid_owned.clone()),
                    request_id: Some(format!("batch-{i:02}")),
                    created_at: aftercare::db::to_db(chrono::Utc::now()),
                })
                .collect();
            Ok(insert_events(c, &batch)?)
        })
        .await;
    assert_eq!(stored.unwrap(), 70);
    let events =
        body(app.get(&format!("/api/v1/audit-events?patient_id={pid}&limit=200"), Some(&admin)).await, 200).await;
    let mut exported: Vec<(String, bool)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export")
        .map(|e| (e["request_id"].as_str().unwrap().to_owned(), e["resource_id"].is_null()))
        .collect();
    exported.sort();
    let expected: Vec<(String, bool)> = (0..70).map(|i| (format!("batch-{i:02}"), i % 2 == 1)).collect();
    assert_eq!(exported, expected);
}

#[tokio::test]
async fn every_read_and_write_of_patient_data_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let clinician = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let p =
        body(app.post("/api/v1/patients", &json!({"name": "Jane", "time_zone": "UTC"}), Some(&clinician)).await, 201)
            .await;
    let pid = p["id"].as_str().unwrap();
    let read = app.get(&format!("/api/v1/patients/{pid}"), Some(&clinician)).await;
    let request_id = read.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(read.status(), 200);
    body(patch(&app, &format!("/api/v1/patients/{pid}"), &json!({"name": "Jane D"}), &clinician).await, 200).await;
    let page = app.get("/api/v1/patients", Some(&clinician)).await;
    assert_eq!(page.headers()["content-type"], "application/json", "the hand-written page is JSON");
    assert_eq!(body(page, 200).await["items"][0]["name"], "Jane D");

    let events = body(app.get(&format!("/api/v1/audit-events?patient_id={pid}"), Some(&admin)).await, 200).await;
    let actions: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["update", "read", "create"], "newest first");
    let read_event = &events["items"][1];
    assert_eq!(read_event["request_id"], request_id.as_str());
    assert_eq!(read_event["actor_role"], "clinician");
    assert_eq!(read_event["resource_type"], "patient");
    let all = body(app.get("/api/v1/audit-events?limit=1", Some(&admin)).await, 200).await;
    assert_eq!(all["items"][0]["action"], "list");
    // Stored in the same batch as the read above, with NULL where the event has no value.
    assert!(all["items"][0]["resource_id"].is_null() && all["items"][0]["patient_id"].is_null(), "{all}");
    assert!(all["next_cursor"].is_string());
    assert_problem(app.get("/api/v1/audit-events", Some(&clinician)).await, 403, "forbidden").await;
}
