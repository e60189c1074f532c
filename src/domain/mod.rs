//! Pure rules with no IO: nothing here imports actix or diesel, and time is always a parameter.

pub mod clinical;
pub mod dispatch;
pub mod erythema;
pub mod escalation;
pub mod protocol;
pub mod scales;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

/// The snake_case name a unit enum has on the wire (and in the database's TEXT columns).
pub fn wire_name<T: Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A unit enum from its wire name.
pub fn from_wire<T: DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// What an account may do; every account belongs to exactly one clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Clinic settings, staff and protocols.
    Admin,
    /// Patients, courses, sessions, scores and alerts.
    Clinician,
    /// Their own record only.
    Patient,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Patient => "patient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "clinician" => Some(Role::Clinician),
            "patient" => Some(Role::Patient),
            _ => None,
        }
    }

    /// Admins and clinicians.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Clinician)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in [Role::Admin, Role::Clinician, Role::Patient] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Role::Clinician.is_staff() && !Role::Patient.is_staff());
    }
}
