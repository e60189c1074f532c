//! Protocols: versioned per clinic; a new version never touches reminders planned under an old.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::{
    db::{DbConnection, schema::protocols},
    domain::protocol::Step,
    wire::json::RawJson,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = protocols)]
pub struct Protocol {
    pub id: String,
    pub clinic_id: String,
    pub version: i32,
    /// JSON array of steps.
    pub steps: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_protocol(conn: &mut DbConnection, p: &Protocol) -> QueryResult<()> {
    diesel::insert_into(protocols::table).values(p).execute(conn).map(|_| ())
}

pub fn find_latest(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Option<Protocol>> {
    protocols::table
        .filter(protocols::clinic_id.eq(clinic_id))
        .order(protocols::version.desc())
        .select(Protocol::as_select())
        .first(conn)
        .optional()
}

pub fn find_protocol(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Protocol>> {
    protocols::table.find(id).select(Protocol::as_select()).first(conn).optional()
}

pub fn find_versions(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Vec<Protocol>> {
    protocols::table
        .filter(protocols::clinic_id.eq(clinic_id))
        .order(protocols::version.desc())
        .select(Protocol::as_select())
        .load(conn)
}

/// A protocol step's texts as a reminder shows them, written as JSON once per protocol.
#[derive(Debug)]
pub struct StepTexts {
    pub key: String,
    pub title: RawJson,
    pub message: RawJson,
    pub avoid: RawJson,
    pub action: Option<RawJson>,
}

impl StepTexts {
    /// The bytes of its JSON texts.
    pub fn json_len(&self) -> usize {
        self.title.get().len()
            + self.message.get().len()
            + self.avoid.get().len()
            + self.action.as_ref().map_or(0, |a| a.get().len())
    }
}

impl From<&Step> for StepTexts {
    fn from(step: &Step) -> Self {
        Self {
            key: step.key.clone(),
            title: RawJson::of(&step.title),
            message: RawJson::of(&step.message),
            avoid: RawJson::of(&step.avoid),
            action: step.action.as_ref().map(RawJson::of),
        }
    }
}

/// Protocol step texts by protocol id. A protocol row never changes (a new version is a new
/// row), so its steps can be kept for the life of the process.
#[derive(Clone, Default)]
pub struct StepCache(
    std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<Vec<StepTexts>>>>>,
);

impl StepCache {
    pub fn get(&self, protocol_id: &str) -> Option<std::sync::Arc<Vec<StepTexts>>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(protocol_id).cloned()
    }

    pub fn insert(&self, protocol_id: String, steps: &[Step]) {
        let texts = steps.iter().map(StepTexts::from).collect();
        self.0.write().unwrap_or_else(|p| p.into_inner()).insert(protocol_id, std::sync::Arc::new(texts));
    }
}
