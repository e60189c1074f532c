//! Audit trail for patient data. Writes record their event inside their own transaction, so a
//! change and its audit entry stand or fall together. Reads hand their event to a buffered
//! writer that stores batches in one transaction: reads stay reads, not one write each.
//! A crash may lose the last quarter of a second of read events, never a write's.

use chrono::{DateTime, Utc};

pub use crate::repo::audit_sink::AuditSink;
use crate::{
    db::{new_id, to_db},
    domain::Role,
    repo::audit::AuditEvent,
    security::caller::AuthUser,
};

/// What happened to patient data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    List,
    Create,
    Update,
    Archive,
    Cancel,
    Override,
    Invite,
    Export,
    Erase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::List => "list",
            Action::Create => "create",
            Action::Update => "update",
            Action::Archive => "archive",
            Action::Cancel => "cancel",
            Action::Override => "override",
            Action::Invite => "invite",
            Action::Export => "export",
            Action::Erase => "erase",
        }
    }
}

/// An event by `user` on a resource of a patient.
pub fn event(
    user: &AuthUser,
    action: Action,
    resource_type: &str,
    resource_id: Option<&str>,
    patient_id: Option<&str>,
    now: DateTime<Utc>,
) -> AuditEvent {
    // A patient acts only on their own record; erasure finds the account's events by it.
    debug_assert!(user.role != Role::Patient || patient_id.is_some(), "a patient's event names the patient");
    AuditEvent {
        id: new_id(),
        clinic_id: user.clinic_id.clone(),
        actor_account_id: Some(user.account_id.clone()),
        actor_role: Some(user.role.as_str().to_owned()),
        action: action.as_str().to_owned(),
        resource_type: resource_type.to_owned(),
        resource_id: resource_id.map(str::to_owned),
        patient_id: patient_id.map(str::to_owned),
        request_id: Some(user.request_id.clone()),
        created_at: to_db(now),
    }
}
