//! A patient's whole record, read in one go: the source of the FHIR bundle, the calendar feed
//! and the data export.

use std::collections::HashMap;

use diesel::QueryResult;

use crate::{
    db::DbConnection,
    domain::protocol::Step,
    repo::{
        alerts::{self, Alert},
        checkins::{self, Checkin, SerumApplication},
        clinics::{self, Clinic},
        consents::{self, Consent},
        courses::{self, Course},
        patients::Patient,
        photos::{self, Photo},
        protocols,
        reminders::{self, Reminder},
        scores::{self, Score},
        screenings::{self, Screening},
        sessions::{self, Session, SessionArea},
    },
};

pub struct Record {
    pub clinic: Option<Clinic>,
    pub patient: Patient,
    pub consents: Vec<Consent>,
    pub courses: Vec<Course>,
    pub screenings: Vec<Screening>,
    pub sessions: Vec<Session>,
    pub areas: Vec<SessionArea>,
    pub reminders: Vec<Reminder>,
    pub checkins: Vec<Checkin>,
    pub serum: Vec<SerumApplication>,
    pub photos: Vec<Photo>,
    pub scores: Vec<Score>,
    pub alerts: Vec<Alert>,
    /// The protocol steps reminders were planned from, by (protocol id, step key).
    pub steps: HashMap<(String, String), Step>,
}

impl Record {
    pub fn sessions_of(&self, course_id: &str) -> Vec<Session> {
        self.sessions.iter().filter(|s| s.course_id == course_id).cloned().collect()
    }

    pub fn step(&self, r: &Reminder) -> Option<&Step> {
        self.steps.get(&(r.protocol_id.clone(), r.step_key.clone()))
    }

    pub fn step_title(&self, r: &Reminder) -> String {
        self.step(r).map_or_else(|| r.kind.replace('_', " "), |s| s.title.clone())
    }

    pub fn areas_of(&self, session_id: &str) -> Vec<SessionArea> {
        self.areas.iter().filter(|a| a.session_id == session_id).cloned().collect()
    }
}

/// Reads everything held about `patient` (call inside one read so the parts agree).
pub fn load(conn: &mut DbConnection, patient: Patient) -> QueryResult<Record> {
    let id = patient.id.clone();
    let sessions = sessions::find_for_patient(conn, &id)?;
    let session_ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
    let mut areas = sessions::find_areas(conn, &session_ids)?;
    areas.sort_by(|a, b| (a.session_id.as_str(), a.position).cmp(&(b.session_id.as_str(), b.position)));
    let mut checkins = checkins::find_checkins(conn, &id, i64::MAX)?;
    checkins.reverse();
    let mut serum = checkins::find_serum(conn, &id, i64::MAX)?;
    serum.reverse();
    let reminders = reminders::find_all_for_patient(conn, &id)?;
    let mut protocol_ids: Vec<&str> = reminders.iter().map(|r| r.protocol_id.as_str()).collect();
    protocol_ids.sort_unstable();
    protocol_ids.dedup();
    let mut steps = HashMap::new();
    for pid in protocol_ids {
        if let Some(p) = protocols::find_protocol(conn, pid)? {
            let parsed: Vec<Step> = serde_json::from_str(&p.steps).unwrap_or_default();
            for step in parsed {
                steps.insert((p.id.clone(), step.key.clone()), step);
            }
        }
    }
    Ok(Record {
        clinic: clinics::find_clinic(conn, &patient.clinic_id)?,
        consents: consents::find_history(conn, &id)?,
        courses: courses::find_for_patient(conn, &id)?,
        screenings: screenings::find_for_patient(conn, &id)?,
        reminders,
        steps,
        photos: photos::find_for_patient(conn, &id, None, None)?,
        scores: scores::find_for_patient(conn, &id)?,
        alerts: alerts::find_for_patient(conn, &id)?,
        sessions,
        areas,
        checkins,
        serum,
        patient,
    })
}
