//! A patient's record as a FHIR R4 `Bundle` (type `collection`), following the mapping in
//! DOMAIN.md. Every entry's `fullUrl` is `urn:uuid:<id>` and references point at those URNs, so
//! the bundle stands alone. Our ids are UUIDs; resources we derive (the Device of a session, the
//! Communication of a sent reminder, the Appointment of a course's next session) get name-based
//! UUIDs, stable across exports. Photos are linked by URL (the authorized image endpoint), never
//! inlined. Standard terminologies where a published code exists for the concept: SNOMED CT
//! for body sites and the check-in's findings (erythema, swelling, itching), LOINC for pain
//! (72514-3) and consent, UCUM for units (`mm`, `{score}`, `1`). Codes we own use
//! `urn:aftercare:*` systems: the procedure (we know of no SNOMED CT concept for microneedling /
//! collagen induction therapy, and do not guess one), the validated scales, the grades of the
//! check-in's answers and the red flags. Every CodeableConcept has a readable `text`.
//!
//! The check-in is published as a `Questionnaire` ([`checkin_questionnaire`]) with a canonical
//! URL on the public URL; each `QuestionnaireResponse` names it, and its coded answers use the
//! Questionnaire's answer options.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::{
    db::from_db,
    repo::{photos::Photo, reminders::Reminder, sessions::Session},
    services::{courses, record::Record},
};

/// The namespace of the name-based ids of derived resources.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1f_2c3e_9b4d_4e8a_a1c2_7d5e_3f60_b9a4);

fn instant(t: NaiveDateTime) -> String {
    from_db(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn derived_id(kind: &str, id: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, format!("{kind}:{id}").as_bytes()).to_string()
}

fn reference(id: &str) -> Value {
    json!({ "reference": format!("urn:uuid:{id}") })
}

fn local(system: &str, code: &str, text: &str) -> Value {
    json!({ "coding": [{ "system": format!("urn:aftercare:{system}"), "code": code }], "text": text })
}

fn human(code: &str) -> String {
    code.replace('_', " ")
}

const SNOMED: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";

/// The SNOMED CT body structure of a treatment area, where one matches it (code, display).
/// Areas with no single structure (under-eye, perioral lines, jawline, a scar, stretch marks,
/// "body") keep their local code only.
fn area_snomed(area: &str) -> Option<(&'static str, &'static str)> {
    Some(match area {
        "full_face" => ("89545001", "Face structure"),
        "forehead" => ("52795006", "Forehead structure"),
        "nose" => ("45206002", "Nasal structure"),
        "cheeks" => ("60819002", "Buccal region of face"),
        "chin" => ("30291003", "Chin structure"),
        "neck" => ("45048000", "Neck structure"),
        "chest" => ("51185008", "Thoracic structure"),
        "scalp" => ("41695006", "Scalp structure"),
        "hands" => ("85562004", "Hand structure"),
        _ => return None,
    })
}

/// A treatment area: SNOMED CT where it has a code, always our own code, and the words.
fn body_site(area: &str) -> Value {
    let mut coding = Vec::new();
    if let Some((code, display)) = area_snomed(area) {
        coding.push(json!({ "system": SNOMED, "code": code, "display": display }));
    }
    coding.push(json!({ "system": "urn:aftercare:area", "code": area }));
    json!({ "coding": coding, "text": human(area) })
}

/// The procedure: a local code (no published SNOMED CT concept for microneedling is known to us).
fn microneedling(text: &str) -> Value {
    json!({ "coding": [{ "system": "urn:aftercare:procedure", "code": "microneedling",
                         "display": "Microneedling (collagen induction therapy)" }], "text": text })
}

/// The id of the check-in Questionnaire; its version changes when its items do.
pub const CHECKIN_QUESTIONNAIRE_ID: &str = "aftercare-checkin";
const CHECKIN_QUESTIONNAIRE_VERSION: &str = "1";

/// The canonical URL of the check-in Questionnaire (where it is served).
pub fn checkin_questionnaire_url(public_url: &str) -> String {
    format!("{}/api/v1/fhir/Questionnaire/{CHECKIN_QUESTIONNAIRE_ID}", public_url.trim_end_matches('/'))
}

/// The graded answers of a check-in item: its code system and the label of each grade.
fn grades(link_id: &str) -> (&'static str, &'static [&'static str]) {
    match link_id {
        "redness" => ("urn:aftercare:checkin-redness", &["None", "Faint", "Mild", "Moderate", "Severe"]),
        "swelling" => ("urn:aftercare:checkin-swelling", &["None", "Mild", "Moderate", "Severe"]),
        _ => ("urn:aftercare:checkin-itch", &["None", "Mild", "Moderate", "Severe"]),
    }
}

fn grade_coding(link_id: &str, grade: i32) -> Value {
    let (system, labels) = grades(link_id);
    let display = usize::try_from(grade).ok().and_then(|g| labels.get(g)).copied().unwrap_or("Unknown");
    json!({ "system": system, "code": grade.to_string(), "display": display })
}

/// The check-in items: link id, text (with the API's range), and the finding's standard code.
const CHECKIN_ITEMS: [(&str, &str, &str, &str, &str); 4] = [
    ("redness", "Redness (0-4: none, faint, mild, moderate, severe)", SNOMED, "247441003", "Erythema"),
    ("swelling", "Swelling (0-3: none, mild, moderate, severe)", SNOMED, "65124004", "Swelling"),
    ("pain", "Pain (0-10)", LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    ("itch", "Itch (0-3: none, mild, moderate, severe)", SNOMED, "418290006", "Itching"),
];

fn item_text(link_id: &str) -> &'static str {
    CHECKIN_ITEMS.iter().find(|i| i.0 == link_id).map_or("", |i| i.1)
}

/// What a patient may report as a red flag, with the words the app shows.
const RED_FLAGS: [(&str, &str); 6] = [
    ("warmth", "Warmth"),
    ("pus", "Pus or yellow crust"),
    ("fever", "Fever"),
    ("blisters", "Blisters or cold sores"),
    ("new_bumps", "New bumps after day 3"),
    ("dark_patches", "Dark patches"),
];

fn red_flag_coding(code: &str) -> Value {
    let display = RED_FLAGS.iter().find(|f| f.0 == code).map_or_else(|| human(code), |f| f.1.to_owned());
    json!({ "system": "urn:aftercare:red-flag", "code": code, "display": display })
}

/// The check-in as a FHIR R4 `Questionnaire`: graded items are `choice` with coded answer
/// options (each with its `ordinalValue`), pain is an integer 0–10, red flags a repeating choice.
pub fn checkin_questionnaire(public_url: &str) -> Value {
    let ordinal =
        |v: usize| json!([{ "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": v }]);
    let mut items: Vec<Value> = CHECKIN_ITEMS
        .iter()
        .map(|(link_id, text, system, code, display)| {
            let mut item = json!({
                "linkId": link_id,
                "code": [{ "system": system, "code": code, "display": display }],
                "text": text,
                "required": true,
            });
            if *link_id == "pain" {
                item["type"] = json!("integer");
                item["extension"] = json!([
                    { "url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0 },
                    { "url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 10 },
                ]);
            } else {
                let (_, labels) = grades(link_id);
                item["type"] = json!("choice");
                item["answerOption"] = labels
                    .iter()
                    .enumerate()
                    .map(|(g, _)| {
                        let grade = i32::try_from(g).unwrap_or_default();
                        let mut coding = grade_coding(link_id, grade);
                        coding["extension"] = ordinal(g);
                        json!({ "valueCoding": coding })
                    })
                    .collect();
            }
            item
        })
        .collect();
    items.push(json!({
        "linkId": "red_flags",
        "text": "Warning signs (any that apply)",
        "type": "choice",
        "repeats": true,
        "required": false,
        "answerOption": RED_FLAGS.iter().map(|(code, _)| json!({ "valueCoding": red_flag_coding(code) })).collect::<Vec<_>>(),
    }));
    items.push(json!({ "linkId": "note", "text": "Note", "type": "text", "required": false, "maxLength": 2000 }));
    json!({
        "resourceType": "Questionnaire",
        "id": CHECKIN_QUESTIONNAIRE_ID,
        "url": checkin_questionnaire_url(public_url),
        "version": CHECKIN_QUESTIONNAIRE_VERSION,
        "name": "AftercareCheckin",
        "title": "Aftercare check-in after microneedling",
        "status": "active",
        "subjectType": ["Patient"],
        "date": "2026-12-04",
        "publisher": "Aftercare",
        "description": "How the skin is doing after a microneedling session, as the patient reports it in the app: \
            redness 0-4, swelling 0-3, pain 0-10, itch 0-3, warning signs, and a note. Any warning sign, or \
            redness rising between check-ins, raises an urgent alert for the clinic.",
        "item": items,
    })
}

/// What this server offers as FHIR R4: the read-only operations, as a `CapabilityStatement`.
pub fn capability_statement(public_url: &str, software_version: &str, now: DateTime<Utc>) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": utc(now),
        "publisher": "Aftercare",
        "kind": "instance",
        "software": { "name": "Aftercare", "version": software_version },
        "implementation": {
            "description": "Aftercare: follow-up after microneedling. Not a general FHIR server: a patient's record \
                is exported as one Bundle (type collection) at GET /api/v1/patients/{id}/fhir (staff of the \
                patient's clinic) and GET /api/v1/me/fhir (the patient), with a bearer token from \
                POST /api/v1/auth/login. Search, history and writes are not offered.",
            "url": format!("{base}/api/v1/fhir"),
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": "The Bundle endpoints require `Authorization: Bearer <access token>`; this statement and \
                the check-in Questionnaire are public. The full API is described at /openapi.json.",
            "security": {
                "cors": false,
                "description": "OAuth-style bearer tokens (JWT) from POST /api/v1/auth/login; a patient reads only \
                    their own record, staff only their clinic's patients.",
            },
            "resource": [
                {
                    "type": "Questionnaire",
                    "interaction": [{ "code": "read" }],
                    "documentation": format!("The check-in: {}", checkin_questionnaire_url(base)),
                },
                {
                    "type": "Bundle",
                    "documentation": "A patient's record (type collection): Patient, Organization, CarePlan, Appointment, \
                        Procedure, Device, Observation, Media, CommunicationRequest, Communication, \
                        QuestionnaireResponse, Consent, Flag. Read through the two export operations only.",
                },
            ],
            "operation": [
                { "name": "patient-record", "definition": format!("{base}/api/v1/patients/{{id}}/fhir"),
                  "documentation": "GET: the Bundle of one patient's record (staff)." },
                { "name": "my-record", "definition": format!("{base}/api/v1/me/fhir"),
                  "documentation": "GET: the Bundle of the caller's own record (patients; staff notes left out)." },
            ],
        }],
    })
}

struct Bundle {
    entries: Vec<Value>,
}

impl Bundle {
    fn add(&mut self, id: &str, mut resource: Value) {
        resource["id"] = Value::String(id.to_owned());
        self.entries.push(json!({ "fullUrl": format!("urn:uuid:{id}"), "resource": resource }));
    }
}

/// Options of an export: staff see their own notes; a patient's copy leaves them out.
pub struct Audience {
    pub staff: bool,
    /// Where photo URLs point, e.g. `https://api.clinic.example`.
    pub public_url: String,
}

/// The bundle of one patient's record.
pub fn bundle(record: &Record, audience: &Audience, now: DateTime<Utc>) -> Value {
    let mut b = Bundle { entries: Vec::new() };
    let scales = crate::domain::scales::builtin();
    let p = &record.patient;
    let pid = p.id.as_str();
    if let Some(clinic) = &record.clinic {
        b.add(&clinic.id, json!({ "resourceType": "Organization", "active": true, "name": clinic.name }));
    }
    b.add(pid, patient(record));
    for course in &record.courses {
        let sessions = record.sessions_of(&course.id);
        b.add(&course.id, care_plan(course, &sessions, pid, audience.staff));
        if let Ok(view) = courses::view(course.clone(), &sessions, now, audience.staff)
            && course.status == "active"
            && let Some(due) = view.next_session_due_at
        {
            b.add(
                &derived_id("appointment", &course.id),
                json!({
                    "resourceType": "Appointment",
                    "status": "proposed",
                    "description": "Next microneedling session due",
                    "requestedPeriod": [{ "start": utc(due) }],
                    "supportingInformation": [reference(&course.id)],
                    "participant": [{ "actor": reference(pid), "required": "required", "status": "needs-action" }],
                }),
            );
        }
    }
    for session in &record.sessions {
        let device_id = derived_id("device", &session.id);
        let mut device = json!({
            "resourceType": "Device",
            "status": "active",
            "deviceName": [{ "name": session.device_model, "type": "model-name" }],
            "type": local("device-kind", &session.device_kind, &human(&session.device_kind)),
        });
        if let Some(lot) = &session.cartridge_lot {
            device["lotNumber"] = json!(lot);
        }
        b.add(&device_id, device);
        b.add(&session.id, procedure(record, session, &device_id, audience.staff));
        for area in record.areas_of(&session.id) {
            b.add(
                &area.id,
                json!({
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "procedure", "display": "Procedure" }] }],
                    "code": local("observation", "needle-depth", &format!("Needle penetration depth, {}", human(&area.area))),
                    "subject": reference(pid),
                    "partOf": [reference(&session.id)],
                    "effectiveDateTime": instant(session.performed_at),
                    "bodySite": body_site(&area.area),
                    "valueQuantity": { "value": area.depth_mm, "unit": "mm", "system": UCUM, "code": "mm" },
                    "component": [{ "code": local("observation", "passes", "Passes of the needles over the area"),
                                    "valueInteger": area.passes }],
                }),
            );
        }
    }
    for photo in &record.photos {
        b.add(&photo.id, media(photo, pid, &audience.public_url));
    }
    for score in &record.scores {
        let derived: Vec<Value> = serde_json::from_str::<Vec<String>>(&score.photo_ids)
            .unwrap_or_default()
            .iter()
            .filter(|id| record.photos.iter().any(|p| &p.id == *id))
            .map(|id| reference(id))
            .collect();
        let (category, category_display) = match score.rater.as_str() {
            "patient" => ("survey", "Survey"),
            "automatic" => ("imaging", "Imaging"),
            _ => ("exam", "Exam"),
        };
        let def = scales.iter().find(|d| d.code == score.scale_code && d.version == score.scale_version);
        let name = def.map_or_else(|| human(&score.scale_code), |d| d.name.clone());
        let mut text = format!("{name} (version {})", score.scale_version);
        if let Some(d) = def {
            text.push_str(&format!(", {} to {}", d.min, d.max));
        }
        // A*: the CIELAB red-green coordinate, a pure number (UCUM `1`); the rest are scores.
        let (unit, ucum) = if score.scale_code.starts_with("erythema") { ("1", "1") } else { ("score", "{score}") };
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category,
                "display": category_display }] }],
            "code": { "coding": [{ "system": "urn:aftercare:scale", "code": score.scale_code, "version": score.scale_version.to_string(),
                                   "display": name }], "text": text },
            "subject": reference(pid),
            "effectiveDateTime": instant(score.recorded_at),
            "valueQuantity": { "value": score.value, "unit": unit, "system": UCUM, "code": ucum },
            "method": local("rater", &score.rater, &format!("Rated by the {}", human(&score.rater))),
        });
        if let Some(d) = def {
            obs["referenceRange"] = json!([{ "low": { "value": d.min, "unit": unit, "system": UCUM, "code": ucum },
                                             "high": { "value": d.max, "unit": unit, "system": UCUM, "code": ucum },
                                             "text": "The scale's range" }]);
        }
        if !derived.is_empty() {
            obs["derivedFrom"] = Value::Array(derived);
        }
        if let Some(s) = score.session_id.as_deref().filter(|s| record.sessions.iter().any(|x| x.id == *s)) {
            obs["partOf"] = json!([reference(s)]);
        }
        b.add(&score.id, obs);
    }
    for r in &record.reminders {
        communications(&mut b, record, r, pid);
    }
    for c in &record.checkins {
        b.add(&c.id, questionnaire_response(c, pid, &audience.public_url));
    }
    for (i, consent) in record.consents.iter().enumerate() {
        let latest = !record.consents[i + 1..].iter().any(|later| later.kind == consent.kind);
        let scope = if consent.kind == "treatment" { "treatment" } else { "patient-privacy" };
        let mut resource = json!({
            "resourceType": "Consent",
            "status": if latest { "active" } else { "inactive" },
            "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": scope }] },
            "category": [
                { "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] },
                local("consent-kind", &consent.kind, &human(&consent.kind)),
            ],
            "patient": reference(pid),
            "dateTime": instant(consent.created_at),
            "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                         "code": if consent.granted { "OPTIN" } else { "OPTOUT" } }] },
            "provision": { "type": if consent.granted { "permit" } else { "deny" } },
        });
        if let Some(clinic) = &record.clinic {
            resource["organization"] = json!([reference(&clinic.id)]);
        }
        b.add(&consent.id, resource);
    }
    for alert in &record.alerts {
        let mut period = json!({ "start": instant(alert.created_at) });
        if let Some(end) = alert.resolved_at {
            period["end"] = json!(instant(end));
        }
        b.add(
            &alert.id,
            json!({
                "resourceType": "Flag",
                "status": if alert.status == "open" { "active" } else { "inactive" },
                "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                            "code": "clinical", "display": "Clinical" }] }],
                "code": { "coding": [{ "system": "urn:aftercare:alert-reason", "code": alert.reason }],
                          "text": format!("{} ({}): {}", human(&alert.reason), alert.severity, alert.details) },
                "subject": reference(pid),
                "period": period,
            }),
        );
    }
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::now_v7().to_string(),
        "meta": { "lastUpdated": utc(now) },
        "type": "collection",
        "timestamp": utc(now),
        "entry": b.entries,
    })
}

fn patient(record: &Record) -> Value {
    let p = &record.patient;
    let mut telecom = Vec::new();
    if let Some(email) = &p.email {
        telecom.push(json!({ "system": "email", "value": email }));
    }
    if let Some(phone) = &p.phone {
        telecom.push(json!({ "system": "phone", "value": phone }));
    }
    let mut resource = json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:aftercare:patient", "value": p.id }],
        "active": p.archived_at.is_none(),
        "name": [{ "text": p.name }],
        "communication": [{ "language": { "coding": [{ "system": "urn:ietf:bcp:47", "code": p.language }] },
                            "preferred": true }],
    });
    if !telecom.is_empty() {
        resource["telecom"] = Value::Array(telecom);
    }
    if let Some(dob) = p.date_of_birth {
        resource["birthDate"] = json!(dob.format("%Y-%m-%d").to_string());
    }
    if let Some(clinic) = &record.clinic {
        resource["managingOrganization"] = reference(&clinic.id);
    }
    resource
}

fn care_plan(course: &crate::repo::courses::Course, sessions: &[Session], pid: &str, staff: bool) -> Value {
    let status = match course.status.as_str() {
        "completed" => "completed",
        "cancelled" => "revoked",
        _ => "active",
    };
    let concerns: Vec<String> = serde_json::from_str::<Vec<String>>(&course.concerns).unwrap_or_default();
    let done = sessions.iter().filter(|s| s.status == "completed").count();
    let activity_status = match status {
        "completed" => "completed",
        "revoked" => "cancelled",
        _ if done == 0 => "scheduled",
        _ => "in-progress",
    };
    let outcomes: Vec<Value> = sessions.iter().map(|s| reference(&s.id)).collect();
    let mut activity = json!({
        "detail": {
            "kind": "Appointment",
            "code": microneedling("Microneedling session"),
            "status": activity_status,
            "scheduledTiming": { "repeat": { "count": course.planned_sessions,
                                             "period": course.interval_days, "periodUnit": "d" } },
            "description": format!("{} sessions, {} days apart ({} done)", course.planned_sessions, course.interval_days, done),
        }
    });
    if !outcomes.is_empty() {
        activity["outcomeReference"] = Value::Array(outcomes);
    }
    let mut resource = json!({
        "resourceType": "CarePlan",
        "status": status,
        "intent": "plan",
        "title": "Microneedling course",
        "description": format!("Concerns: {}", concerns.iter().map(|c| human(c)).collect::<Vec<_>>().join(", ")),
        "subject": reference(pid),
        "created": instant(course.created_at),
        "activity": [activity],
    });
    if let (true, Some(notes)) = (staff, &course.notes) {
        resource["note"] = json!([{ "text": notes }]);
    }
    resource
}

fn procedure(record: &Record, s: &Session, device_id: &str, staff: bool) -> Value {
    let sites: Vec<Value> = record.areas_of(&s.id).iter().map(|a| body_site(&a.area)).collect();
    let mut resource = json!({
        "resourceType": "Procedure",
        "status": if s.status == "cancelled" { "not-done" } else { "completed" },
        "code": microneedling("Microneedling (collagen induction therapy)"),
        "subject": reference(&s.patient_id),
        "basedOn": [reference(&s.course_id)],
        "performedDateTime": instant(s.performed_at),
        "performer": [{ "actor": { "identifier": { "system": "urn:aftercare:account", "value": s.clinician_id } } }],
        "usedReference": [reference(device_id)],
    });
    if !sites.is_empty() {
        resource["bodySite"] = Value::Array(sites);
    }
    if let Some(reason) = &s.cancel_reason {
        resource["statusReason"] = json!({ "text": reason });
    }
    let products: Vec<String> = serde_json::from_str(&s.products_applied).unwrap_or_default();
    if !products.is_empty() {
        resource["usedCode"] = Value::Array(products.iter().map(|p| json!({ "text": p })).collect());
    }
    if let (true, Some(notes)) = (staff, &s.notes) {
        resource["note"] = json!([{ "text": notes }]);
    }
    resource
}

fn media(photo: &Photo, pid: &str, public_url: &str) -> Value {
    let mut resource = json!({
        "resourceType": "Media",
        "status": "completed",
        "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/media-type",
                               "code": "image", "display": "Image" }] },
        "view": local("photo-view", &photo.view, &human(&photo.view)),
        "subject": reference(pid),
        "createdDateTime": instant(photo.taken_at),
        "height": photo.height,
        "width": photo.width,
        "content": {
            "contentType": "image/jpeg",
            "url": format!("{}/api/v1/photos/{}/image", public_url.trim_end_matches('/'), photo.id),
            "size": photo.full_bytes,
            "title": format!("{} photo, {}", human(&photo.view), human(&photo.time_point)),
        },
    });
    if let Some(s) = &photo.session_id {
        resource["partOf"] = json!([reference(s)]);
    }
    if let Some(area) = &photo.area {
        resource["bodySite"] = body_site(area);
    }
    resource
}

fn communications(b: &mut Bundle, record: &Record, r: &Reminder, pid: &str) {
    let status = match r.status.as_str() {
        "scheduled" | "sending" => "active",
        "sent" => "completed",
        _ => "revoked",
    };
    let title = record.step_title(r);
    let medium = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
                                       "code": "EMAILWRIT", "display": "email" }] }]);
    let category = json!([local("reminder-kind", &r.kind, &human(&r.kind))]);
    let mut request = json!({
        "resourceType": "CommunicationRequest",
        "status": status,
        "category": category,
        "medium": medium,
        "subject": reference(pid),
        "about": [reference(&r.session_id)],
        "payload": [{ "contentString": title }],
        "occurrenceDateTime": instant(r.due_at),
        "authoredOn": instant(r.created_at),
    });
    if let Some(reason) = r.status_reason.as_deref().or((r.status == "failed").then_some("failed")) {
        request["statusReason"] = json!({ "text": human(reason) });
    }
    b.add(&r.id, request);
    if let Some(sent) = r.sent_at {
        b.add(
            &derived_id("communication", &r.id),
            json!({
                "resourceType": "Communication",
                "status": "completed",
                "basedOn": [reference(&r.id)],
                "category": category,
                "medium": medium,
                "subject": reference(pid),
                "about": [reference(&r.session_id)],
                "sent": instant(sent),
                "payload": [{ "contentString": title }],
            }),
        );
    }
}

fn questionnaire_response(c: &crate::repo::checkins::Checkin, pid: &str, public_url: &str) -> Value {
    let graded = |link_id: &str, grade: i32| json!({ "linkId": link_id, "text": item_text(link_id), "answer": [{ "valueCoding": grade_coding(link_id, grade) }] });
    let mut items = vec![
        graded("redness", c.redness),
        graded("swelling", c.swelling),
        json!({ "linkId": "pain", "text": item_text("pain"), "answer": [{ "valueInteger": c.pain }] }),
        graded("itch", c.itch),
    ];
    let flags: Vec<String> = serde_json::from_str(&c.red_flags).unwrap_or_default();
    if !flags.is_empty() {
        items.push(json!({
            "linkId": "red_flags", "text": "Warning signs (any that apply)",
            "answer": flags.iter().map(|f| json!({ "valueCoding": red_flag_coding(f) })).collect::<Vec<_>>(),
        }));
    }
    if let Some(note) = &c.note {
        items.push(json!({ "linkId": "note", "text": "Note", "answer": [{ "valueString": note }] }));
    }
    let mut resource = json!({
        "resourceType": "QuestionnaireResponse",
        "questionnaire": format!("{}|{CHECKIN_QUESTIONNAIRE_VERSION}", checkin_questionnaire_url(public_url)),
        "status": "completed",
        "subject": reference(pid),
        "authored": instant(c.reported_at),
        "item": items,
    });
    if let Some(s) = &c.session_id {
        resource["partOf"] = json!([reference(s)]);
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_questionnaire_offers_the_apis_ranges_as_coded_options() {
        let q = checkin_questionnaire("https://api.clinic.example/");
        assert_eq!(q["url"], "https://api.clinic.example/api/v1/fhir/Questionnaire/aftercare-checkin");
        let item = |id: &str| q["item"].as_array().unwrap().iter().find(|i| i["linkId"] == id).unwrap().clone();
        // The API's ranges (services::checkins): redness 0-4, swelling 0-3, itch 0-3, pain 0-10.
        for (id, options) in [("redness", 5), ("swelling", 4), ("itch", 4)] {
            let item = item(id);
            assert_eq!(item["type"], "choice");
            let codes: Vec<&str> = item["answerOption"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["valueCoding"]["code"].as_str().unwrap())
                .collect();
            assert_eq!(codes.len(), options, "{id}");
            assert_eq!(codes.last().copied(), Some((options - 1).to_string().as_str()));
            assert!(item["text"].as_str().unwrap().contains(&format!("0-{}", options - 1)), "{id}: {}", item["text"]);
            assert_eq!(item["code"][0]["system"], SNOMED);
        }
        assert_eq!(item("redness")["answerOption"][3]["valueCoding"]["display"], "Moderate");
        let pain = item("pain");
        assert_eq!((pain["type"].as_str(), pain["code"][0]["code"].as_str()), (Some("integer"), Some("72514-3")));
        assert_eq!(pain["extension"][1]["valueInteger"], 10);
        assert_eq!(item("red_flags")["answerOption"].as_array().unwrap().len(), RED_FLAGS.len());
    }

    #[test]
    fn every_red_flag_has_words_for_people() {
        use crate::domain::escalation::RedFlag;
        for flag in
            [RedFlag::Warmth, RedFlag::Pus, RedFlag::Fever, RedFlag::Blisters, RedFlag::NewBumps, RedFlag::DarkPatches]
        {
            let code = crate::domain::wire_name(flag);
            assert!(RED_FLAGS.iter().any(|(c, _)| *c == code), "{code} has a display");
        }
    }

    #[test]
    fn body_sites_use_snomed_where_it_has_the_structure_and_local_codes_always() {
        let cheeks = body_site("cheeks");
        assert_eq!(
            cheeks["coding"][0],
            json!({"system": SNOMED, "code": "60819002", "display": "Buccal region of face"})
        );
        assert_eq!(cheeks["coding"][1]["system"], "urn:aftercare:area");
        let scar = body_site("scar");
        assert_eq!(scar["coding"].as_array().unwrap().len(), 1, "no guessed SNOMED code");
        assert_eq!(scar["text"], "scar");
    }
}
