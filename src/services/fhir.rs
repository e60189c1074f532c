//! A patient's record as a FHIR R4 `Bundle` (type `collection`), following the mapping in
//! DOMAIN.md. Every entry's `fullUrl` is `urn:uuid:<id>` and references point at those URNs, so
//! the bundle stands alone. Our ids are UUIDs; resources we derive (the Device of a session, the
//! Communication of a sent reminder, the Appointment of a course's next session) get name-based
//! UUIDs, stable across exports. Photos are linked by URL (the authorized image endpoint), never
//! inlined. Codes we own use `urn:aftercare:*` systems; standard ones use their HL7/UCUM/LOINC
//! systems.

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
                    "code": local("observation", "needle-depth", "Needle penetration depth"),
                    "subject": reference(pid),
                    "partOf": [reference(&session.id)],
                    "effectiveDateTime": instant(session.performed_at),
                    "bodySite": local("area", &area.area, &human(&area.area)),
                    "valueQuantity": { "value": area.depth_mm, "unit": "mm",
                                       "system": "http://unitsofmeasure.org", "code": "mm" },
                    "component": [{ "code": local("observation", "passes", "Passes"), "valueInteger": area.passes }],
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
        let category = if score.rater == "patient" { "survey" } else { "exam" };
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category }] }],
            "code": local("scale", &score.scale_code, &format!("{} (version {})", human(&score.scale_code), score.scale_version)),
            "subject": reference(pid),
            "effectiveDateTime": instant(score.recorded_at),
            "valueQuantity": { "value": score.value },
            "method": local("rater", &score.rater, &human(&score.rater)),
        });
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
        b.add(&c.id, questionnaire_response(c, pid));
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
            "code": local("procedure", "microneedling", "Microneedling session"),
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
    let sites: Vec<Value> = record.areas_of(&s.id).iter().map(|a| local("area", &a.area, &human(&a.area))).collect();
    let mut resource = json!({
        "resourceType": "Procedure",
        "status": if s.status == "cancelled" { "not-done" } else { "completed" },
        "code": local("procedure", "microneedling", "Microneedling (collagen induction therapy)"),
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
        resource["bodySite"] = local("area", area, &human(area));
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

fn questionnaire_response(c: &crate::repo::checkins::Checkin, pid: &str) -> Value {
    let mut items = vec![
        json!({ "linkId": "redness", "text": "Redness (0-10)", "answer": [{ "valueInteger": c.redness }] }),
        json!({ "linkId": "swelling", "text": "Swelling (0-10)", "answer": [{ "valueInteger": c.swelling }] }),
        json!({ "linkId": "pain", "text": "Pain (0-10)", "answer": [{ "valueInteger": c.pain }] }),
        json!({ "linkId": "itch", "text": "Itch (0-10)", "answer": [{ "valueInteger": c.itch }] }),
    ];
    let flags: Vec<String> = serde_json::from_str(&c.red_flags).unwrap_or_default();
    if !flags.is_empty() {
        items.push(json!({
            "linkId": "red_flags", "text": "Warning signs",
            "answer": flags.iter().map(|f| json!({ "valueCoding": { "system": "urn:aftercare:red-flag", "code": f } }))
                .collect::<Vec<_>>(),
        }));
    }
    if let Some(note) = &c.note {
        items.push(json!({ "linkId": "note", "text": "Note", "answer": [{ "valueString": note }] }));
    }
    let mut resource = json!({
        "resourceType": "QuestionnaireResponse",
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
