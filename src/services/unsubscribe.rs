//! Reminder emails' one-click unsubscribe (RFC 8058) and its undo, without a login: the signed
//! link names the patient, [`withdraw`] records the withdrawal of their `email_reminders`
//! consent and [`regrant`] (the page's "turn them back on") records a new grant, each audited
//! like any other consent change, by the patient. Either is a no-op when the consent is already
//! in that state. It concerns reminder emails only: the reminders stay in the app's list and go
//! on by push when the patient consents to that.

use crate::{
    db::{new_id, to_db},
    error::{ApiError, ApiResult},
    i18n::Lang,
    repo::{
        audit::{self as audit_repo, AuditEvent},
        consents::{self, Consent},
        patients,
    },
    state::AppState,
};

const KIND: &str = "email_reminders";

/// The language of the patient a link token names (their pages are written in it); 404 for an
/// unknown or forged token, or a patient who is no longer there.
pub async fn language(state: &AppState, token: &str) -> ApiResult<Lang> {
    let patient_id = state.links.verify(token).ok_or_else(ApiError::not_found)?;
    let patient = state.db.run(move |c| patients::find_by_id(c, &patient_id)).await?;
    patient.map(|p| Lang::from_tag(&p.language)).ok_or_else(ApiError::not_found)
}

/// Withdraws `email_reminders` for the patient `token` names; their language.
pub async fn withdraw(state: &AppState, token: &str) -> ApiResult<Lang> {
    set(state, token, false, "one-click unsubscribe from a reminder email").await
}

/// Grants `email_reminders` again for the patient `token` names (the unsubscribe page's undo);
/// their language.
pub async fn regrant(state: &AppState, token: &str) -> ApiResult<Lang> {
    set(state, token, true, "reminder emails turned back on from the unsubscribe page").await
}

async fn set(state: &AppState, token: &str, granted: bool, note: &'static str) -> ApiResult<Lang> {
    let patient_id = state.links.verify(token).ok_or_else(ApiError::not_found)?;
    let now = state.now();
    state
        .db
        .write(move |c| -> ApiResult<Lang> {
            let patient = patients::find_by_id(c, &patient_id)?.ok_or_else(ApiError::not_found)?;
            if consents::is_granted(c, &patient.id, KIND)? != granted {
                let row = Consent {
                    id: new_id(),
                    clinic_id: patient.clinic_id.clone(),
                    patient_id: patient.id.clone(),
                    kind: KIND.into(),
                    granted,
                    actor_account_id: None,
                    actor_role: "patient".into(),
                    note: Some(note.into()),
                    created_at: to_db(now),
                };
                consents::insert_consent(c, &row)?;
                audit_repo::insert_events(
                    c,
                    &[AuditEvent {
                        id: new_id(),
                        clinic_id: patient.clinic_id.clone(),
                        actor_account_id: None,
                        actor_role: Some("patient".into()),
                        action: "update".into(),
                        resource_type: "consent".into(),
                        resource_id: Some(row.id.clone()),
                        patient_id: Some(patient.id.clone()),
                        request_id: None,
                        created_at: to_db(now),
                    }],
                )?;
            }
            Ok(Lang::from_tag(&patient.language))
        })
        .await
}
