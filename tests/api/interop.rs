//! Interoperability and patient rights: the FHIR bundle, the calendar feed, the data export and
//! erasure. When `AFTERCARE_INTEROP_DIR` is set, the bundle and calendar are also written there
//! for the independent validators CI runs (`scripts/validate_interop.py`: `fhir.resources` and
//! `icalendar`).

use std::collections::{BTreeSet, HashSet};
use std::io::Read;

use chrono::{DateTime, Utc};
use image::ImageFormat;
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, TestApp, Treated, access, assert_problem, ok, treated_patient},
    photos::{image_bytes, upload},
};
use aftercare::{clock::Clock, jobs::dispatch::deliver_due_reminders};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Keeps an artifact for the CI validators.
fn keep(name: &str, body: &[u8]) {
    if let Ok(dir) = std::env::var("AFTERCARE_INTEROP_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), body).unwrap();
    }
}

/// A patient with the whole range of records: a session, reminders planned and sent, a
/// check-in with red flags (and so an alert), a photo of the session and a score from it.
async fn full_record(app: &TestApp) -> (Treated, String) {
    let fx = treated_patient(app, &["photos", "email_reminders"]).await;
    app.clock.set(at("2026-03-19T10:00:00Z"));
    deliver_due_reminders(&app.state, app.clock.now()).await.unwrap();
    let patient = access(&app.login("jane@x.example", PASSWORD).await);
    let staff = access(&app.login("admin@glow.example", PASSWORD).await);
    let meta = json!({"view": "frontal", "time_point": "day", "day_number": 3, "session_id": fx.session,
                      "taken_at": "2026-03-19T09:00:00Z", "colour_card": true});
    let photo = ok(
        upload(app, "/api/v1/me/photos", &patient, image_bytes(40, 30, [200, 90, 80], ImageFormat::Png), meta).await,
        201,
    )
    .await;
    let photo_id = photo["id"].as_str().unwrap().to_owned();
    let score =
        json!({"scale": "gais", "value": 2, "rater": "clinician", "photo_ids": [photo_id], "session_id": fx.session});
    ok(app.post(&format!("/api/v1/patients/{}/scores", fx.pid), &score, Some(&staff)).await, 201).await;
    let checkin = json!({"redness": 3, "swelling": 2, "pain": 2, "itch": 1, "red_flags": ["pus"], "note": "warm"});
    ok(app.post("/api/v1/me/checkins", &checkin, Some(&patient)).await, 201).await;
    (Treated { staff, patient, ..fx }, photo_id)
}

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == kind).collect()
}

/// Every `reference` anywhere in `v`.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_record_becomes_a_self_contained_fhir_r4_bundle() {
    let app = TestApp::spawn().await;
    let (fx, photo_id) = full_record(&app).await;
    let res = app.get(&format!("/api/v1/patients/{}/fhir", fx.pid), Some(&fx.staff)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/fhir+json");
    let text = res.text().await.unwrap();
    keep("bundle-staff.json", text.as_bytes());
    let bundle: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");

    let kinds: BTreeSet<&str> =
        bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"]["resourceType"].as_str().unwrap()).collect();
    for kind in [
        "Organization",
        "Patient",
        "CarePlan",
        "Appointment",
        "Procedure",
        "Device",
        "Observation",
        "Media",
        "CommunicationRequest",
        "Communication",
        "QuestionnaireResponse",
        "Consent",
        "Flag",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    // Every reference resolves inside the bundle, and ids are unique.
    let full_urls: HashSet<&str> =
        bundle["entry"].as_array().unwrap().iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
    assert_eq!(full_urls.len(), bundle["entry"].as_array().unwrap().len(), "fullUrls are unique");
    let mut refs = Vec::new();
    references(&bundle, &mut refs);
    assert!(refs.len() > 20);
    for r in &refs {
        assert!(full_urls.contains(r.as_str()), "dangling reference {r}");
    }

    let procedure = resources(&bundle, "Procedure")[0];
    assert_eq!(procedure["id"], fx.session.as_str());
    assert_eq!(procedure["status"], "completed");
    assert_eq!(procedure["performedDateTime"], "2026-03-16T09:00:00Z");
    assert_eq!(procedure["bodySite"][0]["text"], "cheeks");
    assert_eq!(procedure["note"][0]["text"], "tolerated well; patient anxious about downtime", "staff see notes");
    let device_ref = procedure["usedReference"][0]["reference"].as_str().unwrap();
    let device = resources(&bundle, "Device")[0];
    assert_eq!(format!("urn:uuid:{}", device["id"].as_str().unwrap()), device_ref);
    assert_eq!(device["lotNumber"], "LOT-2026-03");

    let observations = resources(&bundle, "Observation");
    let depth = observations.iter().find(|o| o["valueQuantity"]["code"] == "mm").expect("a depth observation");
    assert_eq!(
        depth["valueQuantity"],
        json!({"value": 1.0, "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"})
    );
    assert_eq!(depth["partOf"][0]["reference"], format!("urn:uuid:{}", fx.session));
    let media = resources(&bundle, "Media")[0];
    assert_eq!(media["id"], photo_id.as_str());
    assert!(media["content"]["url"].as_str().unwrap().ends_with(&format!("/api/v1/photos/{photo_id}/image")));
    assert!(media["content"].get("data").is_none(), "photos are linked, not inlined");
    let gais = observations.iter().find(|o| o["code"]["coding"][0]["code"] == "gais").expect("the GAIS score");
    assert_eq!(gais["derivedFrom"][0]["reference"], format!("urn:uuid:{photo_id}"));
    assert_eq!(gais["valueQuantity"]["value"], 2.0);

    let sent: Vec<&Value> = resources(&bundle, "Communication");
    assert!(!sent.is_empty(), "reminders sent by now appear as Communication");
    let requests = resources(&bundle, "CommunicationRequest");
    assert!(requests.iter().any(|r| r["status"] == "active") && requests.iter().any(|r| r["status"] == "completed"));
    // The check-in answers the published Questionnaire, on the API's ranges, with its codes.
    let questionnaire = ok(app.get("/api/v1/fhir/Questionnaire/aftercare-checkin", None).await, 200).await;
    keep("questionnaire-checkin.json", questionnaire.to_string().as_bytes());
    let qr = resources(&bundle, "QuestionnaireResponse")[0];
    assert_eq!(
        qr["questionnaire"],
        format!("{}|{}", questionnaire["url"].as_str().unwrap(), questionnaire["version"].as_str().unwrap())
    );
    assert!(questionnaire["url"].as_str().unwrap().ends_with("/api/v1/fhir/Questionnaire/aftercare-checkin"));
    assert_eq!(
        qr["item"][0],
        json!({"linkId": "redness", "text": "Redness (0-4: none, faint, mild, moderate, severe)",
               "answer": [{"valueCoding": {"system": "urn:aftercare:checkin-redness", "code": "3", "display": "Moderate"}}]})
    );
    let texts: Vec<&str> = qr["item"].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap()).collect();
    assert!(texts.iter().all(|t| !t.contains("0-10") || t.starts_with("Pain")), "{texts:?}");
    for item in qr["item"].as_array().unwrap() {
        let asked = questionnaire["item"].as_array().unwrap().iter().find(|q| q["linkId"] == item["linkId"]).unwrap();
        assert_eq!(item["text"], asked["text"]);
        for answer in item["answer"].as_array().unwrap() {
            if let Some(coding) = answer.get("valueCoding") {
                let offered = asked["answerOption"].as_array().unwrap().iter().any(|o| {
                    o["valueCoding"]["system"] == coding["system"] && o["valueCoding"]["code"] == coding["code"]
                });
                assert!(offered, "{coding} is one of the options of {}", item["linkId"]);
            }
        }
    }
    assert_eq!(qr["item"][4]["answer"][0]["valueCoding"]["display"], "Pus or yellow crust");
    // Standard codes where they exist: SNOMED CT body sites, UCUM scores with readable names.
    assert_eq!(procedure["bodySite"][0]["coding"][0]["system"], "http://snomed.info/sct");
    assert_eq!(procedure["bodySite"][0]["coding"][0]["code"], "60819002");
    assert_eq!(gais["code"]["text"], "Global Aesthetic Improvement Scale (version 1), 1 to 5");
    assert_eq!(gais["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(gais["valueQuantity"]["code"], "{score}");
    assert!(resources(&bundle, "Flag").iter().any(|f| f["status"] == "active"));
    let consents = resources(&bundle, "Consent");
    assert_eq!(consents.len(), 2);
    assert!(consents.iter().all(|c| c["status"] == "active" && c["provision"]["type"] == "permit"));

    // The patient's own copy leaves staff notes out; others cannot read it.
    let own = ok(app.get("/api/v1/me/fhir", Some(&fx.patient)).await, 200).await;
    keep("bundle-patient.json", own.to_string().as_bytes());
    assert!(resources(&own, "Procedure")[0].get("note").is_none());
    assert_eq!(resources(&own, "Patient")[0]["name"][0]["text"], "Jane Doe");
    assert_problem(app.get(&format!("/api/v1/patients/{}/fhir", fx.pid), Some(&fx.patient)).await, 404, "not_found")
        .await;
    app.create_admin("Other Clinic", "admin@other.example").await;
    let other = access(&app.login("admin@other.example", PASSWORD).await);
    assert_problem(app.get(&format!("/api/v1/patients/{}/fhir", fx.pid), Some(&other)).await, 404, "not_found").await;
    assert_problem(app.get("/api/v1/me/fhir", Some(&fx.staff)).await, 404, "not_found").await;
}

fn unfold(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "").split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[tokio::test]
async fn a_calendar_app_subscribes_through_a_secret_url_that_rotates_and_revokes() {
    let app = TestApp::spawn().await;
    let (fx, _) = full_record(&app).await;
    assert_eq!(ok(app.get("/api/v1/me/calendar-feed", Some(&fx.patient)).await, 200).await["active"], false);
    let created = ok(app.post("/api/v1/me/calendar-feed", &json!({}), Some(&fx.patient)).await, 201).await;
    let url = created["url"].as_str().unwrap().to_owned();
    assert!(created["webcal_url"].as_str().unwrap().starts_with("webcal://"));
    let path = &url[url.find("/api/").unwrap()..];
    assert_eq!(ok(app.get("/api/v1/me/calendar-feed", Some(&fx.patient)).await, 200).await["active"], true);

    // No login: the token is the credential.
    let res = app.get(path, None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let ics = res.text().await.unwrap();
    keep("calendar.ics", ics.as_bytes());
    assert!(ics.split("\r\n").all(|l| l.len() <= 75), "lines are folded at 75 octets");
    let lines = unfold(&ics);
    assert_eq!(lines.first().unwrap(), "BEGIN:VCALENDAR");
    assert_eq!(lines.last().unwrap(), "END:VCALENDAR");
    assert!(lines.contains(&"X-WR-TIMEZONE:Europe/London".to_owned()));
    assert!(lines.contains(&format!("UID:session-{}@aftercare", fx.session)));
    assert!(lines.contains(&"DTSTART:20260316T090000Z".to_owned()), "the session at 09:00 London (GMT) = 09:00Z");
    assert!(lines.iter().any(|l| l.starts_with("DTSTART;VALUE=DATE:")), "the next session due, all day");
    let alarms = lines.iter().filter(|l| *l == "BEGIN:VALARM").count();
    let reminders = lines.iter().filter(|l| l.starts_with("UID:reminder-")).count();
    assert!(reminders > 3 && alarms > reminders, "{reminders} reminders, {alarms} alarms");
    // Reminders already sent are not listed; the upcoming ones are, in UTC.
    assert!(lines.iter().filter(|l| l.starts_with("DTSTART:")).all(|l| l.ends_with('Z')));

    // The app may read it with its login too.
    assert_eq!(app.get("/api/v1/me/calendar.ics", Some(&fx.patient)).await.status(), 200);
    assert_problem(app.get("/api/v1/me/calendar.ics", None).await, 401, "unauthenticated").await;
    assert_problem(app.get("/api/v1/me/calendar.ics?token=guess", None).await, 404, "not_found").await;

    // Rotating ends the old URL; revoking ends the new one.
    let rotated = ok(app.post("/api/v1/me/calendar-feed", &json!({}), Some(&fx.patient)).await, 201).await;
    let new_url = rotated["url"].as_str().unwrap();
    let new_path = &new_url[new_url.find("/api/").unwrap()..];
    assert_problem(app.get(path, None).await, 404, "not_found").await;
    assert_eq!(app.get(new_path, None).await.status(), 200);
    let res = app.client.delete(app.url("/api/v1/me/calendar-feed")).bearer_auth(&fx.patient).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(app.get(new_path, None).await, 404, "not_found").await;
    assert_problem(app.post("/api/v1/me/calendar-feed", &json!({}), Some(&fx.staff)).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_patient_takes_all_their_data_as_a_zip_with_their_photos() {
    let app = TestApp::spawn().await;
    let (fx, photo_id) = full_record(&app).await;
    let res = app.get("/api/v1/me/export", Some(&fx.patient)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("aftercare-export-2026-03-19.zip"));
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: BTreeSet<String> = zip.file_names().map(str::to_owned).collect();
    let photo_name = format!("photos/{photo_id}.jpg");
    for name in ["README.txt", "export.json", "fhir.json", photo_name.as_str()] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    let mut read = |name: &str| {
        let mut out = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut out).unwrap();
        out
    };
    let doc: Value = serde_json::from_slice(&read("export.json")).unwrap();
    assert_eq!(doc["patient"]["name"], "Jane Doe");
    assert_eq!(doc["patient"]["email"], "jane@x.example");
    assert_eq!(doc["sessions"][0]["id"], fx.session.as_str());
    assert_eq!(doc["checkins"][0]["note"], "warm");
    assert_eq!(doc["photos"][0]["file"], photo_name.as_str());
    assert!(doc["reminders"].as_array().unwrap().len() > 5);
    assert_eq!(doc["scores"].as_array().unwrap().len(), 2, "the clinician's GAIS and the automatic redness score");
    assert!(!doc["alerts"].as_array().unwrap().is_empty());
    assert_eq!(doc["consents"]["history"].as_array().unwrap().len(), 2);
    assert!(doc["access_log"].as_array().unwrap().iter().any(|e| e["actor_role"] == "admin"), "who saw the record");
    let bundle: Value = serde_json::from_slice(&read("fhir.json")).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    // The photo is the stored image, byte for byte.
    let stored = app.get(&format!("/api/v1/photos/{photo_id}/image"), Some(&fx.patient)).await.bytes().await.unwrap();
    let jpeg = read(&photo_name);
    assert_eq!(jpeg, stored.to_vec());
    assert!(image::load_from_memory(&jpeg).is_ok());

    assert_problem(app.get("/api/v1/me/export", Some(&fx.staff)).await, 404, "not_found").await;
    assert_problem(app.get("/api/v1/me/export", None).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn an_export_lists_a_photo_whose_file_is_lost_instead_of_failing() {
    let app = TestApp::spawn().await;
    let (fx, photo_id) = full_record(&app).await;
    for path in all_files(&app.data_dir().join("photos")) {
        std::fs::remove_file(path).unwrap();
    }
    let res = app.get("/api/v1/me/export", Some(&fx.patient)).await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert!(zip.by_name(&format!("photos/{photo_id}.jpg")).is_err());
    let mut listed = String::new();
    zip.by_name("photos/MISSING.txt").unwrap().read_to_string(&mut listed).unwrap();
    assert!(listed.contains(&photo_id), "{listed}");
    let mut doc = String::new();
    zip.by_name("export.json").unwrap().read_to_string(&mut doc).unwrap();
    assert!(doc.contains("Jane Doe"), "the rest of the record is there");
}

fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.map(|e| e.unwrap().path()).flat_map(|p| if p.is_dir() { all_files(&p) } else { vec![p] }).collect()
}

#[tokio::test]
async fn erasure_removes_the_patient_and_their_photo_files_and_keeps_a_de_identified_audit_trail() {
    let app = TestApp::spawn().await;
    let (fx, _) = full_record(&app).await;
    ok(app.post("/api/v1/me/calendar-feed", &json!({}), Some(&fx.patient)).await, 201).await;
    let photos_dir = app.data_dir().join("photos");
    assert_eq!(all_files(&photos_dir).len(), 2, "full image and thumbnail");
    let path = format!("/api/v1/patients/{}", fx.pid);
    let erase = |body: Value, token: String| {
        let req = app.client.delete(app.url(&path)).bearer_auth(token).json(&body);
        async move { req.send().await.unwrap() }
    };

    // Guarded: the confirmation must repeat the id, and only admins may.
    let res = erase(json!({"confirm_patient_id": "someone-else"}), fx.staff.clone()).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "confirm_patient_id");
    let res = erase(json!({}), fx.staff.clone()).await;
    assert_eq!(res.status(), 422);
    let clinician = access(&app.invite_and_accept(&fx.staff, "dr@glow.example", "clinician").await);
    let res = erase(json!({"confirm_patient_id": fx.pid}), clinician).await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(all_files(&photos_dir).len(), 2, "nothing was touched");
    ok(app.get(&path, Some(&fx.staff)).await, 200).await;

    // The patient's own actions name the patient: erasure finds the account's events by it.
    ok(app.get("/api/v1/me/reminders", Some(&fx.patient)).await, 200).await;
    ok(app.get("/api/v1/me", Some(&fx.patient)).await, 200).await;
    let log = ok(app.get("/api/v1/audit-events?limit=200", Some(&fx.staff)).await, 200).await;
    let by_patient: Vec<&Value> =
        log["items"].as_array().unwrap().iter().filter(|e| e["actor_role"] == "patient").collect();
    assert!(by_patient.len() >= 4, "{log}");
    assert!(by_patient.iter().all(|e| e["patient_id"] == fx.pid.as_str()), "{log}");
    let account = by_patient[0]["actor_account_id"].as_str().unwrap().to_owned();
    let staff_events: Vec<String> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_role"] == "admin")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!staff_events.is_empty(), "{log}");

    let device = json!({"platform": "android", "token": "fcm:erase-me-token", "app_id": "com.example.aftercare"});
    ok(app.post("/api/v1/me/devices", &device, Some(&fx.patient)).await, 201).await;
    let report = ok(erase(json!({"confirm_patient_id": fx.pid}), fx.staff.clone()).await, 200).await;
    assert_eq!(report["patient_id"], fx.pid.as_str());
    assert_eq!(report["deleted"]["devices"], 1, "{report}");
    assert_eq!(report["photo_files_deleted"], 2);
    let deleted = &report["deleted"];
    assert_eq!(deleted["sessions"], 1);
    assert_eq!(deleted["photos"], 1);
    assert_eq!(deleted["checkins"], 1);
    assert_eq!(deleted["accounts"], 1);
    assert!(deleted["reminders_cancelled"].as_u64().unwrap() > 0, "{report}");
    assert!(deleted["audit_events_deidentified"].as_u64().unwrap() > 0);
    assert_eq!(all_files(&photos_dir).len(), 0, "photo files are gone");

    // Gone everywhere: the record, the login, the calendar, the pending reminders.
    assert_problem(app.get(&path, Some(&fx.staff)).await, 404, "not_found").await;
    let res = app.post("/api/v1/auth/login", &json!({"email": "jane@x.example", "password": PASSWORD}), None).await;
    assert_problem(res, 401, "invalid_credentials").await;
    let (pid, of_account) = (fx.pid.clone(), account.clone());
    let (reminders, about_patient, by_account, erase_events) = app
        .state
        .db
        .run(move |c| {
            use aftercare::db::schema::{audit_events, reminders};
            use diesel::prelude::*;
            let r: i64 = reminders::table.filter(reminders::patient_id.eq(&pid)).count().get_result(c)?;
            let a: i64 = audit_events::table.filter(audit_events::patient_id.eq(&pid)).count().get_result(c)?;
            let by: i64 =
                audit_events::table.filter(audit_events::actor_account_id.eq(&of_account)).count().get_result(c)?;
            let e: i64 = audit_events::table.filter(audit_events::action.eq("erase")).count().get_result(c)?;
            Ok((r, a, by, e))
        })
        .await
        .unwrap();
    assert_eq!((reminders, about_patient, by_account, erase_events), (0, 0, 0, 1));
    let sent = deliver_due_reminders(&app.state, at("2026-04-30T12:00:00Z")).await.unwrap();
    assert_eq!(sent.claimed, 0, "nothing is left to send");
    let log = ok(app.get("/api/v1/audit-events?limit=200", Some(&fx.staff)).await, 200).await;
    let items = log["items"].as_array().unwrap();
    assert!(items.len() > 5, "the audit trail stays");
    assert!(items.iter().all(|e| e["patient_id"].is_null()), "de-identified");
    assert!(items.iter().all(|e| e["actor_account_id"] != account.as_str()), "the patient's login is out too");
    assert!(items.iter().filter(|e| e["actor_role"] == "patient").all(|e| e["actor_account_id"].is_null()));
    for id in &staff_events {
        let e = items.iter().find(|e| e["id"] == id.as_str()).unwrap();
        assert!(e["actor_account_id"].is_string(), "the staff's actions keep who did them: {e}");
    }
    assert!(items.iter().any(|e| e["action"] == "erase"));
    let res = erase(json!({"confirm_patient_id": fx.pid}), fx.staff.clone()).await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn the_fhir_capability_statement_and_questionnaire_are_public() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/fhir/metadata", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/fhir+json");
    let text = res.text().await.unwrap();
    keep("capability-statement.json", text.as_bytes());
    let statement: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (statement["resourceType"].as_str(), statement["fhirVersion"].as_str()),
        (Some("CapabilityStatement"), Some("4.0.1"))
    );
    let rest = &statement["rest"][0];
    let offered: Vec<&str> = rest["resource"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(offered, ["Questionnaire", "Bundle"]);
    let operations: Vec<&str> =
        rest["operation"].as_array().unwrap().iter().map(|o| o["definition"].as_str().unwrap()).collect();
    assert!(operations.iter().any(|d| d.ends_with("/api/v1/me/fhir")), "{operations:?}");
    assert!(operations.iter().any(|d| d.ends_with("/api/v1/patients/{id}/fhir")), "{operations:?}");

    let questionnaire = ok(app.get("/api/v1/fhir/Questionnaire/aftercare-checkin", None).await, 200).await;
    assert_eq!(questionnaire["resourceType"], "Questionnaire");
    // Its canonical URL is where it is served.
    let url = questionnaire["url"].as_str().unwrap();
    let path = url.split_once("/api/").map(|(_, p)| format!("/api/{p}")).unwrap();
    assert_eq!(ok(app.get(&path, None).await, 200).await, questionnaire);
    assert_eq!(app.get("/api/v1/fhir/Questionnaire/other", None).await.status(), 404);
}
