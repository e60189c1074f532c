//! The authorization matrix: every clinical-record endpoint against six callers (an admin and a
//! clinician of the clinic, the patient, another patient of the clinic, another clinic's admin,
//! nobody) answers the expected status, and no response carries a record its caller may not see.

use std::collections::BTreeMap;

use chrono::Duration;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, access, assert_problem};

const P1_NAME: &str = "Ada Lovelace";
const P1_EMAIL: &str = "ada@patients.example";
const P2_NAME: &str = "Bea Brummell";
const P2_EMAIL: &str = "bea@patients.example";
const COURSE_NOTE: &str = "staff-only course note";
const SESSION_NOTE: &str = "staff-only session note";
/// When the fixture's session is performed: the clear screening is a minute old by then.
const FIXTURE_SESSION_AT: &str = "2026-03-16T09:01:00Z";
/// When sessions recorded by the matrix are performed (within the 24 h the API accepts ahead).
const LATER: &str = "2026-03-16T09:30:00Z";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// Admin of clinic A.
    Admin,
    /// Clinician of clinic A.
    Clinician,
    /// P1, whose record the matrix is about.
    Patient,
    /// P2, another patient of clinic A.
    OtherPatient,
    /// Admin of clinic B.
    OtherClinicAdmin,
    Anonymous,
}

/// Who may use an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// `/patients` itself: staff of any clinic, inside their own clinic; patients are refused.
    Collection,
    /// Staff of P1's clinic only; anyone else gets 404.
    Staff,
    /// Staff of P1's clinic and P1.
    OwnRead,
    /// A clinician of P1's clinic; an admin is refused.
    Override,
    /// `/me/*`: a patient's own record; staff have none.
    Me,
    /// Admins, each of their own clinic.
    Audit,
}

/// One endpoint of the matrix; `ok` is the status when the caller may use it.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    rule: Rule,
    ok: u16,
}

impl Row {
    fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn row(method: Method, path: impl Into<String>, body: Option<Value>, rule: Rule, ok: u16) -> Row {
    Row { method, path: path.into(), body, rule, ok }
}

/// The status `caller` must get from `row`.
fn expect(caller: Caller, row: &Row) -> u16 {
    use Caller::{Admin, Anonymous, Clinician, OtherClinicAdmin, OtherPatient, Patient};
    match (row.rule, caller) {
        (_, Anonymous) => 401,
        (Rule::Collection, Admin | Clinician | OtherClinicAdmin) => row.ok,
        // The collection is not a record: patients get the documented 403 "Patients cannot".
        (Rule::Collection, Patient | OtherPatient) => 403,
        (Rule::Staff, Admin | Clinician) => row.ok,
        (Rule::Staff, Patient | OtherPatient | OtherClinicAdmin) => 404,
        (Rule::OwnRead, Admin | Clinician | Patient) => row.ok,
        (Rule::OwnRead, OtherPatient | OtherClinicAdmin) => 404,
        (Rule::Override, Clinician) => row.ok,
        (Rule::Override, Admin) => 403,
        (Rule::Override, Patient | OtherPatient) => 404,
        // Scope before role: another clinic's screening is "not found" for any role.
        (Rule::Override, OtherClinicAdmin) => 404,
        (Rule::Me, Patient | OtherPatient) => row.ok,
        (Rule::Me, Admin | Clinician | OtherClinicAdmin) => 404,
        (Rule::Audit, Admin | OtherClinicAdmin) => row.ok,
        (Rule::Audit, Clinician | Patient | OtherPatient) => 403,
    }
}

/// Clinic A with its staff and two patients who use the app, P1's screenings, course and
/// session, a course for P2; clinic B with its admin and a patient of its own.
struct Fixture {
    admin: String,
    clinician: String,
    patient: String,
    other_patient: String,
    other_clinic_admin: String,
    p1_id: String,
    p2_id: String,
    clear_screening_id: String,
    override_screening_id: String,
    course_id: String,
    session_id: String,
    p2_course_id: String,
}

impl Fixture {
    fn token(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::Admin => Some(&self.admin),
            Caller::Clinician => Some(&self.clinician),
            Caller::Patient => Some(&self.patient),
            Caller::OtherPatient => Some(&self.other_patient),
            Caller::OtherClinicAdmin => Some(&self.other_clinic_admin),
            Caller::Anonymous => None,
        }
    }

    /// What only clinic A's staff may see of P1's record.
    fn p1_secrets(&self) -> Vec<&str> {
        vec![
            &self.p1_id,
            P1_NAME,
            P1_EMAIL,
            &self.course_id,
            &self.session_id,
            &self.clear_screening_id,
            &self.override_screening_id,
            COURSE_NOTE,
            SESSION_NOTE,
        ]
    }

    /// What only clinic A's staff and P2 may see of P2's record.
    fn p2_secrets(&self) -> Vec<&str> {
        vec![&self.p2_id, P2_NAME, P2_EMAIL, &self.p2_course_id]
    }
}

fn answers(cold_sore_history: bool) -> Value {
    json!({
        "active_acne_or_infection": false,
        "cold_sore_history": cold_sore_history,
        "keloid_tendency": false,
        "isotretinoin_last_6_months": false,
        "pregnant_or_breastfeeding": false,
        "blood_thinners_or_bleeding_disorder": false,
        "uncontrolled_diabetes": false,
        "immunosuppressed": false,
        "eczema_psoriasis_rosacea_in_area": false,
        "metal_or_lidocaine_allergy": false,
        "peel_last_30_days": false,
        "neuromodulator_last_3_months": false,
        "filler_last_12_months": false,
    })
}

fn session_body(performed_at: &str, notes: &str) -> Value {
    json!({
        "performed_at": performed_at,
        "device": {"kind": "pen", "model": "SkinPen"},
        "areas": [{"area": "cheeks", "depth_mm": 1.0, "passes": 2}],
        "notes": notes,
    })
}

/// The body of a 201, or a failure naming what was being made.
async fn created(res: Response, what: &str) -> Value {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "creating {what}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A patient created by `staff`, who accepts the app invitation: (patient id, access token).
async fn patient_with_account(app: &TestApp, staff: &str, name: &str, email: &str) -> (String, String) {
    let body = json!({"name": name, "email": email, "time_zone": "Europe/London"});
    let patient = created(app.post("/api/v1/patients", &body, Some(staff)).await, name).await;
    assert_eq!(patient["app_invitation"], "sent");
    let token = app.invitation_token(email);
    let res = app.post("/api/v1/auth/accept-invitation", &json!({"token": token, "password": PASSWORD}), None).await;
    assert_eq!(res.status(), 200, "{email} accepts the invitation");
    let token = access(&res.json().await.unwrap());
    let me: Value = app.get("/api/v1/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["role"], "patient");
    (id(&patient), token)
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let clinician = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let (p1_id, patient) = patient_with_account(app, &admin, P1_NAME, P1_EMAIL).await;
    let (p2_id, other_patient) = patient_with_account(app, &admin, P2_NAME, P2_EMAIL).await;

    // The needs_override screening first; the clear one a minute later is the latest, so
    // sessions may be recorded whether or not the override has been given.
    let screenings = format!("/api/v1/patients/{p1_id}/screenings");
    let needs = json!({"answers": answers(true)});
    let needs = created(app.post(&screenings, &needs, Some(&clinician)).await, "a needs_override screening").await;
    assert_eq!(needs["outcome"], "needs_override");
    app.clock.advance(Duration::minutes(1));
    let clear = json!({"answers": answers(false)});
    let clear = created(app.post(&screenings, &clear, Some(&clinician)).await, "a clear screening").await;
    assert_eq!(clear["outcome"], "clear");

    let course = json!({"concerns": ["acne_scars"], "planned_sessions": 3, "notes": COURSE_NOTE});
    let course =
        created(app.post(&format!("/api/v1/patients/{p1_id}/courses"), &course, Some(&clinician)).await, "P1's course")
            .await;
    let sessions = format!("/api/v1/courses/{}/sessions", id(&course));
    let session = session_body(FIXTURE_SESSION_AT, SESSION_NOTE);
    let session = created(app.post(&sessions, &session, Some(&clinician)).await, "P1's session").await;
    assert_eq!(session["screening_id"], clear["id"]);
    let p2_course = json!({"concerns": ["wrinkles"], "planned_sessions": 2});
    let p2_course =
        created(app.post(&format!("/api/v1/patients/{p2_id}/courses"), &p2_course, Some(&admin)).await, "P2's course")
            .await;

    let boss = app.create_admin("Other Clinic", "boss@other.example").await;
    let other_clinic_admin = access(&app.login(&boss, PASSWORD).await);
    let cleo = json!({"name": "Cleo Other", "time_zone": "Europe/Paris"});
    created(app.post("/api/v1/patients", &cleo, Some(&other_clinic_admin)).await, "clinic B's patient").await;

    Fixture {
        admin,
        clinician,
        patient,
        other_patient,
        other_clinic_admin,
        p1_id,
        p2_id,
        clear_screening_id: id(&clear),
        override_screening_id: id(&needs),
        course_id: id(&course),
        session_id: id(&session),
        p2_course_id: id(&p2_course),
    }
}

/// Every clinical-record endpoint, aimed at P1's record where it names one; the state-changing
/// ones (cancel, archive) come last.
fn rows(fx: &Fixture) -> Vec<Row> {
    let mut rows = rows_keeping_the_record(fx);
    rows.extend(state_changing_rows(&fx.p1_id, &fx.session_id));
    rows
}

/// Every endpoint but cancel and archive.
fn rows_keeping_the_record(fx: &Fixture) -> Vec<Row> {
    let (p, c, s) = (&fx.p1_id, &fx.course_id, &fx.session_id);
    let consent = json!({"kind": "photos", "granted": true});
    vec![
        row(Method::GET, "/api/v1/patients", None, Rule::Collection, 200),
        row(
            Method::POST,
            "/api/v1/patients",
            Some(json!({"name": "Walk In", "time_zone": "Europe/London"})),
            Rule::Collection,
            201,
        ),
        row(Method::GET, format!("/api/v1/patients/{p}"), None, Rule::Staff, 200),
        row(Method::PATCH, format!("/api/v1/patients/{p}"), Some(json!({"name": "Renamed"})), Rule::Staff, 200),
        // P1 already has an app account: staff get past the scope check to 409 `account_exists`.
        row(Method::POST, format!("/api/v1/patients/{p}/invitation"), None, Rule::Staff, 409),
        row(Method::GET, format!("/api/v1/patients/{p}/consents"), None, Rule::Staff, 200),
        row(Method::POST, format!("/api/v1/patients/{p}/consents"), Some(consent.clone()), Rule::Staff, 201),
        row(Method::GET, format!("/api/v1/patients/{p}/courses"), None, Rule::Staff, 200),
        row(
            Method::POST,
            format!("/api/v1/patients/{p}/courses"),
            Some(json!({"concerns": ["pores"], "planned_sessions": 1})),
            Rule::Staff,
            201,
        ),
        row(Method::GET, format!("/api/v1/patients/{p}/sessions"), None, Rule::Staff, 200),
        row(Method::GET, format!("/api/v1/patients/{p}/reminders"), None, Rule::Staff, 200),
        row(Method::GET, format!("/api/v1/patients/{p}/progress"), None, Rule::Staff, 200),
        row(Method::GET, format!("/api/v1/patients/{p}/screenings"), None, Rule::Staff, 200),
        row(
            Method::POST,
            format!("/api/v1/patients/{p}/screenings"),
            Some(json!({"answers": answers(false)})),
            Rule::Staff,
            201,
        ),
        row(Method::GET, format!("/api/v1/courses/{c}"), None, Rule::OwnRead, 200),
        row(Method::GET, format!("/api/v1/courses/{c}/sessions"), None, Rule::OwnRead, 200),
        row(Method::GET, format!("/api/v1/sessions/{s}"), None, Rule::OwnRead, 200),
        row(Method::PATCH, format!("/api/v1/courses/{c}"), Some(json!({"interval_days": 21})), Rule::Staff, 200),
        row(
            Method::POST,
            format!("/api/v1/courses/{c}/sessions"),
            Some(session_body(LATER, "another session")),
            Rule::Staff,
            201,
        ),
        row(
            Method::PATCH,
            format!("/api/v1/sessions/{s}"),
            Some(json!({"numbing": "topical lidocaine"})),
            Rule::Staff,
            200,
        ),
        row(
            Method::POST,
            format!("/api/v1/screenings/{}/override", fx.override_screening_id),
            Some(json!({"reason": "antiviral cover prescribed"})),
            Rule::Override,
            200,
        ),
        row(Method::GET, "/api/v1/me/profile", None, Rule::Me, 200),
        row(Method::PATCH, "/api/v1/me/profile", Some(json!({"language": "fr"})), Rule::Me, 200),
        row(Method::GET, "/api/v1/me/consents", None, Rule::Me, 200),
        row(Method::POST, "/api/v1/me/consents", Some(consent), Rule::Me, 201),
        row(Method::GET, "/api/v1/me/courses", None, Rule::Me, 200),
        row(Method::GET, "/api/v1/me/sessions", None, Rule::Me, 200),
        row(Method::GET, "/api/v1/me/reminders", None, Rule::Me, 200),
        row(Method::GET, "/api/v1/me/progress", None, Rule::Me, 200),
        row(Method::GET, "/api/v1/audit-events", None, Rule::Audit, 200),
    ]
}

/// Cancel and archive: a refused call must leave the record as it was.
fn state_changing_rows(patient_id: &str, session_id: &str) -> Vec<Row> {
    vec![
        row(
            Method::POST,
            format!("/api/v1/sessions/{session_id}/cancel"),
            Some(json!({"reason": "patient unwell"})),
            Rule::Staff,
            200,
        ),
        row(Method::POST, format!("/api/v1/patients/{patient_id}/archive"), None, Rule::Staff, 200),
    ]
}

/// The problem code a refusal with `status` carries.
fn refusal_code(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("unauthenticated"),
        403 => Some("forbidden"),
        404 => Some("not_found"),
        _ => None,
    }
}

/// Sends every row as `caller`; checks the status, the problem code of a refusal, and that no
/// body contains any of `secrets`. All mismatches are reported together. Returns the bodies of
/// the successful calls by "METHOD path".
async fn check(app: &TestApp, fx: &Fixture, caller: Caller, rows: &[Row], secrets: &[&str]) -> BTreeMap<String, Value> {
    let mut failures = Vec::new();
    let mut ok = BTreeMap::new();
    for row in rows {
        let mut req = app.client.request(row.method.clone(), app.url(&row.path));
        if let Some(body) = &row.body {
            req = req.json(body);
        }
        if let Some(token) = fx.token(caller) {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let problem = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("application/problem+json"));
        let text = res.text().await.unwrap();
        let what = format!("{caller:?} {}", row.key());
        let expected = expect(caller, row);
        if status != expected {
            failures.push(format!("{what}: expected {expected}, got {status}: {text}"));
        }
        if let Some(code) = refusal_code(status) {
            let body: Value = serde_json::from_str(&text).unwrap_or_default();
            if !problem || body["code"] != code {
                failures.push(format!("{what}: expected a problem+json `{code}`, got {text}"));
            }
        }
        for secret in secrets.iter().filter(|s| text.contains(**s)) {
            failures.push(format!("{what}: the body shows `{secret}`: {text}"));
        }
        if (200..300).contains(&status) {
            ok.insert(row.key(), serde_json::from_str(&text).unwrap());
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
    ok
}

/// P1's record as clinic A's admin sees it.
async fn snapshot(app: &TestApp, fx: &Fixture) -> Vec<(String, Value)> {
    let (p, c, s) = (&fx.p1_id, &fx.course_id, &fx.session_id);
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/patients/{p}"),
        format!("/api/v1/patients/{p}/consents"),
        format!("/api/v1/patients/{p}/courses"),
        format!("/api/v1/patients/{p}/sessions"),
        format!("/api/v1/patients/{p}/screenings"),
        format!("/api/v1/courses/{c}"),
        format!("/api/v1/sessions/{s}"),
    ] {
        let res = app.get(&path, Some(&fx.admin)).await;
        assert_eq!(res.status(), 200, "{path}");
        out.push((path, res.json().await.unwrap()));
    }
    out
}

/// The items of a list body, or the body itself.
/// The items of a page, the elements of an array, or the one resource.
fn items(body: &Value) -> Vec<&Value> {
    let list = body.get("items").filter(|_| body.get("next_cursor").is_some()).unwrap_or(body);
    list.as_array().map(|a| a.iter().collect()).unwrap_or_else(|| vec![body])
}

fn assert_no_staff_fields(what: &str, body: &Value) {
    for item in items(body) {
        for key in ["notes", "warnings", "screening_id"] {
            assert!(item.get(key).is_none(), "{what} shows `{key}` to the patient: {item}");
        }
    }
}

fn ids(body: &Value) -> Vec<&str> {
    items(body).into_iter().filter_map(|i| i["id"].as_str()).collect()
}

#[tokio::test]
async fn clinic_staff_reach_every_record_of_their_clinic_and_only_a_clinician_overrides() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let rows = rows_keeping_the_record(&fx);
    // The admin goes first: their 403 leaves the override for the clinician's 200.
    for caller in [Caller::Admin, Caller::Clinician] {
        let seen = check(&app, &fx, caller, &rows, &[]).await;
        let session = &seen[&format!("GET /api/v1/sessions/{}", fx.session_id)];
        assert_eq!(session["notes"], SESSION_NOTE, "{caller:?}");
        assert!(session["warnings"].is_array() && session["screening_id"] == fx.clear_screening_id.as_str());
        assert_eq!(seen[&format!("GET /api/v1/courses/{}", fx.course_id)]["notes"], COURSE_NOTE);
        if caller == Caller::Admin {
            let audit = seen["GET /api/v1/audit-events"].to_string();
            assert!(audit.contains(&fx.p1_id) && audit.contains(&fx.p2_id), "{audit}");
        }

        // Cancel and archive, on records made for the purpose.
        let token = fx.token(caller);
        let body = json!({"name": "Archive Me", "time_zone": "Europe/London"});
        let patient = created(app.post("/api/v1/patients", &body, token).await, "a patient to archive").await;
        let sessions = format!("/api/v1/courses/{}/sessions", fx.course_id);
        let session = created(app.post(&sessions, &session_body(LATER, "to cancel"), token).await, "a session").await;
        let seen = check(&app, &fx, caller, &state_changing_rows(&id(&patient), &id(&session)), &[]).await;
        assert_eq!(seen[&format!("POST /api/v1/patients/{}/archive", id(&patient))]["archived"], true);
        assert_eq!(seen[&format!("POST /api/v1/sessions/{}/cancel", id(&session))]["status"], "cancelled");
    }
}

#[tokio::test]
async fn a_patient_reads_their_own_course_and_sessions_without_staff_fields_and_nothing_else() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let mut secrets = fx.p2_secrets();
    secrets.extend([COURSE_NOTE, SESSION_NOTE, &fx.clear_screening_id, &fx.override_screening_id]);

    let seen = check(&app, &fx, Caller::Patient, &rows(&fx), &secrets).await;

    let course = &seen[&format!("GET /api/v1/courses/{}", fx.course_id)];
    assert_eq!(course["id"], fx.course_id.as_str());
    assert!(course.get("notes").is_none(), "{course}");
    for key in [
        format!("GET /api/v1/courses/{}/sessions", fx.course_id),
        format!("GET /api/v1/sessions/{}", fx.session_id),
        "GET /api/v1/me/sessions".to_owned(),
    ] {
        assert_eq!(ids(&seen[&key]), [fx.session_id.as_str()], "{key}");
        assert_no_staff_fields(&key, &seen[&key]);
    }
    let profile = &seen["GET /api/v1/me/profile"];
    assert_eq!((profile["id"].as_str(), profile["name"].as_str()), (Some(fx.p1_id.as_str()), Some(P1_NAME)));
    // Reminders and progress are read in one statement each, filtered by the caller's scope.
    let reminders = &seen["GET /api/v1/me/reminders"];
    let all: Vec<&Value> = ["upcoming", "past"].iter().flat_map(|k| items(&reminders[k])).collect();
    assert!(!all.is_empty(), "{reminders}");
    assert!(all.iter().all(|r| r["session_id"] == fx.session_id.as_str()), "{reminders}");
    assert_eq!(seen["GET /api/v1/me/progress"]["patient_id"], fx.p1_id.as_str());
    let courses = &seen["GET /api/v1/me/courses"];
    assert_eq!(ids(courses), [fx.course_id.as_str()]);
    assert!(items(courses).iter().all(|c| c["patient_id"] == fx.p1_id.as_str() && c.get("notes").is_none()));

    // The refused writes changed nothing; the profile and consent edits were the patient's own.
    let after = snapshot(&app, &fx).await;
    let clinical = |s: &[(String, Value)]| -> Vec<(String, Value)> {
        s.iter().filter(|(path, _)| !path.ends_with(&fx.p1_id) && !path.ends_with("/consents")).cloned().collect()
    };
    assert_eq!(clinical(&after), clinical(&before));
    let patient = &after[0].1;
    assert_eq!((patient["name"].as_str(), patient["archived"].as_bool()), (Some(P1_NAME), Some(false)));
    assert_eq!(patient["language"], "fr");
    let consents = &after[1].1["history"];
    assert_eq!(consents.as_array().map(Vec::len), Some(1), "only the patient's own grant: {consents}");
    assert_eq!(consents[0]["actor_role"], "patient");
}

#[tokio::test]
async fn another_patient_of_the_clinic_gets_404_for_the_first_and_sees_only_their_own() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    let seen = check(&app, &fx, Caller::OtherPatient, &rows(&fx), &fx.p1_secrets()).await;

    assert_eq!(seen["GET /api/v1/me/profile"]["id"], fx.p2_id.as_str());
    assert_eq!(ids(&seen["GET /api/v1/me/courses"]), [fx.p2_course_id.as_str()]);
    assert_eq!(ids(&seen["GET /api/v1/me/sessions"]), Vec::<&str>::new());
    // No session, so no reminders and no scores: empty answers about P2, not 404 and not P1's.
    assert_eq!(seen["GET /api/v1/me/reminders"], json!({"upcoming": [], "past": [], "next_cursor": null}));
    let progress = &seen["GET /api/v1/me/progress"];
    assert_eq!((progress["patient_id"].as_str(), &progress["scales"]), (Some(fx.p2_id.as_str()), &json!([])));
    assert_eq!(snapshot(&app, &fx).await, before, "refused calls change nothing");
}

#[tokio::test]
async fn another_clinics_admin_gets_404_for_every_record_and_finds_none_in_lists() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let mut secrets = fx.p1_secrets();
    secrets.extend(fx.p2_secrets());

    let seen = check(&app, &fx, Caller::OtherClinicAdmin, &rows(&fx), &secrets).await;

    let names: Vec<&str> =
        seen["GET /api/v1/patients"]["items"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["Cleo Other"], "only clinic B's own patient");
    let audit = &seen["GET /api/v1/audit-events"]["items"];
    assert!(audit.as_array().is_some_and(|a| !a.is_empty()), "clinic B's own events: {audit}");
    // Past the role check, the override is scoped too: clinic B's clinician gets 404.
    let nurse = access(&app.invite_and_accept(&fx.other_clinic_admin, "nurse@other.example", "clinician").await);
    let path = format!("/api/v1/screenings/{}/override", fx.override_screening_id);
    let res = app.post(&path, &json!({"reason": "antiviral cover prescribed"}), Some(&nurse)).await;
    assert_problem(res, 404, "not_found").await;

    let after = snapshot(&app, &fx).await;
    assert_eq!(after[0].1["name"], P1_NAME, "the refused PATCH renamed nobody");
    assert_eq!(after, before, "refused calls change nothing");
}

#[tokio::test]
async fn an_anonymous_caller_gets_401_unauthenticated_from_every_endpoint() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let mut secrets = fx.p1_secrets();
    secrets.extend(fx.p2_secrets());

    let seen = check(&app, &fx, Caller::Anonymous, &rows(&fx), &secrets).await;

    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(snapshot(&app, &fx).await, before, "refused calls change nothing");
}
