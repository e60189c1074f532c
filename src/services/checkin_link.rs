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
    pub patient: Patient,
    pub lang: Lang,
    pub clinic_name: String,
    /// Whom to call when a check-in needs the clinic now.
    pub clinic_phone: Option<String>,
}

/// The patient behind a check-in token: 404 for a forged or expired token, or a reminder or
/// patient that is gone (erased or archived).
pub async fn open(state: &AppState, token: &str) -> ApiResult<Linked> {
    let reminder_id = state.links.verify_checkin(token, state.now().timestamp()).ok_or_else(ApiError::not_found)?;
    state
        .db
        .write(move |c| -> ApiResult<Linked> {
            let reminder = reminders::find_reminder(c, &reminder_id)?.ok_or_else(ApiError::not_found)?;
            let patient = crate::repo::patients::find_by_id(c, &reminder.patient_id)?
                .filter(|p| p.archived_at.is_none())
                .ok_or_else(ApiError::not_found)?;
            let clinic = clinics::find_clinic(c, &patient.clinic_id)?.ok_or_else(ApiError::not_found)?;
            Ok(Linked {
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
    let (_, urgent) = checkins::record(state, p, body, |id| AuditEvent {
        id: new_id(),
        clinic_id: p.clinic_id.clone(),
        actor_account_id: p.account_id.clone(),
        actor_role: Some("patient".to_owned()),
        action: "create".to_owned(),
        resource_type: "checkin".to_owned(),
        resource_id: Some(id.to_owned()),
        patient_id: Some(p.id.clone()),
        request_id: None,
        created_at: to_db(now),
    })
    .await?;
    Ok((linked, urgent))
}
