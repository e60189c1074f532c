//! A check-in from a reminder email's link, for patients who read email but have no app: the
//! link's signed token names the reminder and when it stops working (`security::links`), and is
//! the only authority the page has. What it records is exactly what the app records
//! ([`checkins::record`]): the same checks, the session it follows, webhooks and escalation; the
//! audit event names the patient (and their account, if they have one) as the actor.

use crate::{
    db::{new_id, to_db},
    error::{ApiError, ApiResult},
    i18n::Lang,
    repo::{audit::AuditEvent, clinics, patients::Patient, reminders},
    services::checkins::{self, CreateCheckin},
    state::AppState,
};

/// The patient a check-in link is for, and what their page shows.
pub struct Linked {
    /// The reminder whose link it is.
    pub reminder: reminders::Reminder,
    pub patient: Patient,
    pub lang: Lang,
    pub clinic_name: String,
    /// Whom to call when a check-in needs the clinic now.
    pub clinic_phone: Option<String>,
}

/// The patient behind a check-in token: 404 for a forged or expired token, or a reminder or
/// patient that is gone (erased or archived).
pub async fn open(state: &AppState, token: &str) -> ApiResult<Linked> {
    open_for(state, "checkin", token).await
}

/// The patient behind a reminder link's token for `action`.
pub async fn open_for(state: &AppState, action: &str, token: &str) -> ApiResult<Linked> {
    let reminder_id =
        state.links.verify_action(action, token, state.now().timestamp()).ok_or_else(ApiError::not_found)?;
    state
        .db
        .write(move |c| -> ApiResult<Linked> {
            let reminder = reminders::find_reminder(c, &reminder_id)?.ok_or_else(ApiError::not_found)?;
            let patient = crate::repo::patients::find_by_id(c, &reminder.patient_id)?
                .filter(|p| p.archived_at.is_none())
                .ok_or_else(ApiError::not_found)?;
            let clinic = clinics::find_clinic(c, &patient.clinic_id)?.ok_or_else(ApiError::not_found)?;
            Ok(Linked {
                reminder,
                lang: Lang::from_tag(&patient.language),
                clinic_name: clinic.name,
                clinic_phone: clinic.phone,
                patient,
            })
        })
        .await
}

/// Records the check-in the link's page sent; answers the patient it was for and whether an
/// alert it raised is urgent.
pub async fn submit(state: &AppState, token: &str, body: CreateCheckin) -> ApiResult<(Linked, bool)> {
    let linked = open(state, token).await?;
    let now = state.now();
    let p = &linked.patient;
    let (_, urgent) = checkins::record(state, p, body, |id| link_event(p, "checkin", id, now)).await?;
    Ok((linked, urgent))
}

/// Logs a serum application now, from a serum reminder's link: the product is the first one the
/// clinic applied at the reminder's session (else "serum").
pub async fn log_serum(state: &AppState, token: &str) -> ApiResult<Linked> {
    let linked = open_for(state, "log_serum", token).await?;
    let session_id = linked.reminder.session_id.clone();
    let product = state
        .db
        .run(move |c| -> diesel::QueryResult<Option<String>> {
            let session = crate::repo::sessions::find_session(c, &session_id)?;
            Ok(session.and_then(|s| serde_json::from_str::<Vec<String>>(&s.products_applied).ok()?.into_iter().next()))
        })
        .await?
        .unwrap_or_else(|| "serum".to_owned());
    let now = state.now();
    let p = &linked.patient;
    let body = checkins::CreateSerumApplication { product, applied_at: now };
    checkins::record_serum(state, p, body, |id| link_event(p, "serum_application", id, now)).await?;
    Ok(linked)
}

/// The audit event of something a patient did through a reminder link.
fn link_event(p: &Patient, resource_type: &str, id: &str, now: chrono::DateTime<chrono::Utc>) -> AuditEvent {
    AuditEvent {
        id: new_id(),
        clinic_id: p.clinic_id.clone(),
        actor_account_id: p.account_id.clone(),
        actor_role: Some("patient".to_owned()),
        action: "create".to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: Some(id.to_owned()),
        patient_id: Some(p.id.clone()),
        request_id: None,
        created_at: to_db(now),
    }
}
