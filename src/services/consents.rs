//! Consents: append-only grants and withdrawals by staff or by the patient; the current state
//! of each kind is its latest entry (never a flag that something else flips back).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{from_db, new_id, to_db},
    domain::{Role, clinical::ConsentKind, from_wire, wire_name},
    error::{ApiError, ApiResult},
    repo::{
        audit as audit_repo,
        consents::{self, Consent},
        patients::Patient,
    },
    security::caller::AuthUser,
    services::audit::{self, Action},
    services::validation::{Checks, text},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub kind: ConsentKind,
    /// `true` grants, `false` withdraws.
    pub granted: bool,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentEntry {
    pub id: String,
    pub kind: ConsentKind,
    pub granted: bool,
    pub actor_role: Role,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentStateItem {
    pub kind: ConsentKind,
    /// False when never granted or last withdrawn.
    pub granted: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentsView {
    /// Every kind with its current state.
    pub current: Vec<ConsentStateItem>,
    /// Every grant and withdrawal, oldest first.
    pub history: Vec<ConsentEntry>,
}

pub fn view(history: Vec<Consent>) -> ConsentsView {
    let entries: Vec<ConsentEntry> = history
        .into_iter()
        .filter_map(|c| {
            Some(ConsentEntry {
                kind: from_wire(&c.kind)?,
                actor_role: Role::parse(&c.actor_role)?,
                id: c.id,
                granted: c.granted,
                note: c.note,
                recorded_at: from_db(c.created_at),
            })
        })
        .collect();
    let current = ConsentKind::ALL
        .iter()
        .map(|kind| {
            let last = entries.iter().rev().find(|e| e.kind == *kind);
            ConsentStateItem {
                kind: *kind,
                granted: last.is_some_and(|e| e.granted),
                updated_at: last.map(|e| e.recorded_at),
            }
        })
        .collect();
    ConsentsView { current, history: entries }
}

/// The consents of a patient already in the caller's scope.
pub async fn read(state: &AppState, user: &AuthUser, patient: &Patient) -> ApiResult<ConsentsView> {
    let id = patient.id.clone();
    let history = state.db.run(move |c| consents::find_history(c, &id)).await?;
    state.audit.record(audit::event(user, Action::Read, "consent", None, Some(&patient.id), state.now())).await;
    Ok(view(history))
}

/// Appends a grant or withdrawal for a patient already in the caller's scope.
pub async fn change(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    body: ConsentChange,
) -> ApiResult<ConsentsView> {
    if patient.archived_at.is_some() {
        return Err(ApiError::code(crate::error::ErrorCode::PatientArchived));
    }
    let mut c = Checks::default();
    let note = body.note.as_deref().and_then(|n| c.check("note", text(n, 2_000)));
    c.finish()?;
    let now = state.now();
    let row = Consent {
        id: new_id(),
        clinic_id: patient.clinic_id.clone(),
        patient_id: patient.id.clone(),
        kind: wire_name(body.kind),
        granted: body.granted,
        actor_account_id: Some(user.account_id.clone()),
        actor_role: user.role.as_str().to_owned(),
        note,
        created_at: to_db(now),
    };
    let event = audit::event(user, Action::Update, "consent", Some(&row.id), Some(&patient.id), now);
    let history = state
        .db
        .write(move |c| -> ApiResult<Vec<Consent>> {
            // Reminders do not follow channel consents: they stay planned (and in the app's list),
            // and the dispatcher checks each channel's consent when one is due.
            consents::insert_consent(c, &row)?;
            audit_repo::insert_events(c, &[event])?;
            Ok(consents::find_history(c, &row.patient_id)?)
        })
        .await?;
    Ok(view(history))
}
