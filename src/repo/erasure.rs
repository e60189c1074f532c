//! Erasure of one patient: every row holding their personal data goes, children first, in one
//! transaction; audit events stay, with the patient and their account taken out of them. Stored
//! idempotent answers about them go too, and their login's sessions with its refresh tokens.

use diesel::{
    prelude::*,
    sql_types::{Nullable, Text},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, schema::*},
    repo::idempotency,
};

diesel::define_sql_function! {
    /// `NULLIF(a, b)`: NULL where `a` equals `b`, else `a` (also where `b` is NULL).
    fn nullif(a: Nullable<Text>, b: Nullable<Text>) -> Nullable<Text>;
}

/// What an erasure removed.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct ErasedCounts {
    /// Reminders that were still to be sent (cancelled by the erasure).
    pub reminders_cancelled: usize,
    pub reminders: usize,
    pub sessions: usize,
    pub courses: usize,
    pub screenings: usize,
    pub checkins: usize,
    pub serum_applications: usize,
    pub photos: usize,
    pub scores: usize,
    pub alerts: usize,
    pub consents: usize,
    /// Push devices of the patient's app.
    pub devices: usize,
    pub webhook_deliveries: usize,
    pub calendar_feeds: usize,
    /// Stored `Idempotency-Key` answers about the patient (anyone's) or made by their login.
    pub idempotency_responses: usize,
    /// The app login (with its refresh tokens), if the patient had one.
    pub accounts: usize,
    /// Audit events kept with the patient and their account removed from them.
    pub audit_events_deidentified: usize,
}

/// Deletes the patient `patient_id` (whose login is `account_id`) and everything about them.
/// Returns the counts and the storage keys of the deleted photos (full and thumbnail).
pub fn erase_patient(
    conn: &mut DbConnection,
    patient_id: &str,
    account_id: Option<&str>,
) -> QueryResult<(ErasedCounts, Vec<String>)> {
    let mut n = ErasedCounts::default();
    let deliveries =
        webhook_deliveries::table.filter(webhook_deliveries::patient_id.eq(patient_id)).select(webhook_deliveries::id);
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries))).execute(conn)?;
    n.webhook_deliveries =
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::patient_id.eq(patient_id)))
            .execute(conn)?;
    n.calendar_feeds =
        diesel::delete(calendar_feeds::table.filter(calendar_feeds::patient_id.eq(patient_id))).execute(conn)?;
    n.reminders_cancelled = reminders::table
        .filter(reminders::patient_id.eq(patient_id))
        .filter(reminders::status.eq_any(["scheduled", "sending"]))
        .count()
        .get_result::<i64>(conn)
        .map(|c| usize::try_from(c).unwrap_or(0))?;
    let reminder_ids = reminders::table.filter(reminders::patient_id.eq(patient_id)).select(reminders::id);
    diesel::delete(reminder_deliveries::table.filter(reminder_deliveries::reminder_id.eq_any(reminder_ids)))
        .execute(conn)?;
    n.reminders = diesel::delete(reminders::table.filter(reminders::patient_id.eq(patient_id))).execute(conn)?;
    n.devices = diesel::delete(devices::table.filter(devices::patient_id.eq(patient_id))).execute(conn)?;
    n.scores = diesel::delete(scores::table.filter(scores::patient_id.eq(patient_id))).execute(conn)?;
    n.checkins = diesel::delete(checkins::table.filter(checkins::patient_id.eq(patient_id))).execute(conn)?;
    n.serum_applications =
        diesel::delete(serum_applications::table.filter(serum_applications::patient_id.eq(patient_id)))
            .execute(conn)?;
    n.alerts = diesel::delete(alerts::table.filter(alerts::patient_id.eq(patient_id))).execute(conn)?;
    let keys: Vec<(String, String)> = photos::table
        .filter(photos::patient_id.eq(patient_id))
        .select((photos::full_key, photos::thumb_key))
        .load(conn)?;
    n.photos = diesel::delete(photos::table.filter(photos::patient_id.eq(patient_id))).execute(conn)?;
    let session_ids = sessions::table.filter(sessions::patient_id.eq(patient_id)).select(sessions::id);
    diesel::delete(session_areas::table.filter(session_areas::session_id.eq_any(session_ids))).execute(conn)?;
    n.sessions = diesel::delete(sessions::table.filter(sessions::patient_id.eq(patient_id))).execute(conn)?;
    n.screenings = diesel::delete(screenings::table.filter(screenings::patient_id.eq(patient_id))).execute(conn)?;
    n.courses = diesel::delete(courses::table.filter(courses::patient_id.eq(patient_id))).execute(conn)?;
    n.consents = diesel::delete(consents::table.filter(consents::patient_id.eq(patient_id))).execute(conn)?;
    diesel::delete(invitations::table.filter(invitations::patient_id.eq(patient_id))).execute(conn)?;
    // The patient's own actions are among these: a patient account acts only on its own record,
    // and every event it causes names the patient (an API test holds this), so the account is
    // taken out here too, found through the patient index. Looked up by the actor instead, the
    // account's events would be read from every event ever stored (no index on the actor: one
    // would be written by every read, for an operation run once per erased patient).
    n.audit_events_deidentified = diesel::update(audit_events::table.filter(audit_events::patient_id.eq(patient_id)))
        .set((
            audit_events::patient_id.eq(None::<String>),
            audit_events::resource_id.eq(None::<String>),
            audit_events::actor_account_id.eq(nullif(audit_events::actor_account_id, account_id)),
        ))
        .execute(conn)?;
    let scope = account_id.map(idempotency::account_scope);
    let ids: Vec<&str> = std::iter::once(patient_id).chain(account_id).collect();
    n.idempotency_responses = idempotency::delete_mentioning(conn, scope.as_deref(), &ids)?;
    diesel::delete(patients::table.filter(patients::id.eq(patient_id))).execute(conn)?;
    if let Some(account) = account_id {
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::account_id.eq(account))).execute(conn)?;
        diesel::delete(invitations::table.filter(invitations::invited_by.eq(account))).execute(conn)?;
        n.accounts = diesel::delete(accounts::table.filter(accounts::id.eq(account))).execute(conn)?;
    }
    Ok((n, keys.into_iter().flat_map(|(full, thumb)| [full, thumb]).collect()))
}
