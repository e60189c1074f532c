//! When a clinician must look (DOMAIN.md): the escalation rules as a pure function of the
//! session time, the previous check-in and the new one. Thresholds are defaults in
//! [`EscalationRules`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the patient may report as a red flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedFlag {
    Warmth,
    Pus,
    Fever,
    Blisters,
    NewBumps,
    DarkPatches,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Review,
    Urgent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertReason {
    /// Redness moderate or worse at 72 h and not better than before.
    PersistentRedness,
    /// Any redness at day 7.
    RednessDay7,
    /// A red flag was reported.
    RedFlag,
    /// Redness rose between check-ins.
    RednessRising,
    /// The photo redness metric rose between photos after 48 h.
    PhotoRednessRising,
    /// Two check-ins in a row were missed.
    MissedCheckins,
    /// A reminder could not be delivered.
    ReminderFailed,
    /// The email about an urgent alert could not reach a staff member after every attempt.
    StaffUnreachable,
}

impl AlertReason {
    pub fn as_str(self) -> String {
        super::wire_name(self)
    }
}

/// The thresholds (DOMAIN.md defaults).
#[derive(Clone, Debug)]
pub struct EscalationRules {
    /// Redness at or above this (0–4) counts as "moderate or worse".
    pub persistent_redness_min: u8,
    pub persistent_after: Duration,
    pub day7_after: Duration,
}

impl Default for EscalationRules {
    fn default() -> Self {
        Self { persistent_redness_min: 3, persistent_after: Duration::hours(72), day7_after: Duration::days(7) }
    }
}

/// A check-in as the rules see it.
#[derive(Clone, Debug)]
pub struct CheckinPoint {
    pub at: DateTime<Utc>,
    pub redness: u8,
    pub red_flags: Vec<RedFlag>,
}

/// An alert the rules ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raise {
    pub severity: Severity,
    pub reason: AlertReason,
    pub details: String,
}

/// The alerts a new check-in calls for.
pub fn evaluate_checkin(
    session_at: DateTime<Utc>,
    previous: Option<&CheckinPoint>,
    current: &CheckinPoint,
    rules: &EscalationRules,
) -> Vec<Raise> {
    let mut out = Vec::new();
    let since = current.at - session_at;
    if !current.red_flags.is_empty() {
        let names: Vec<String> = current.red_flags.iter().map(super::wire_name).collect();
        out.push(Raise {
            severity: Severity::Urgent,
            reason: AlertReason::RedFlag,
            details: format!("red flags reported: {}", names.join(", ")),
        });
    }
    if let Some(prev) = previous
        && current.redness > prev.redness
    {
        out.push(Raise {
            severity: Severity::Urgent,
            reason: AlertReason::RednessRising,
            details: format!("redness rose from {} to {} of 4", prev.redness, current.redness),
        });
    }
    let not_better = previous.is_none_or(|p| current.redness >= p.redness);
    if since >= rules.persistent_after && current.redness >= rules.persistent_redness_min && not_better {
        out.push(Raise {
            severity: Severity::Review,
            reason: AlertReason::PersistentRedness,
            details: format!("redness {} of 4 at {} h, not better than before", current.redness, since.num_hours()),
        });
    }
    if since >= rules.day7_after && current.redness > 0 {
        out.push(Raise {
            severity: Severity::Review,
            reason: AlertReason::RednessDay7,
            details: format!("redness {} of 4 on day {}", current.redness, since.num_days()),
        });
    }
    out
}

/// Whether the last two of a session's check-in reminders (due before `now - grace`) both went
/// without a check-in near them.
pub fn missed_two_in_a_row(
    checkin_due: &[DateTime<Utc>],
    reported: &[DateTime<Utc>],
    now: DateTime<Utc>,
    grace: Duration,
) -> bool {
    let past: Vec<&DateTime<Utc>> = checkin_due.iter().filter(|d| **d + grace <= now).collect();
    if past.len() < 2 {
        return false;
    }
    past[past.len() - 2..].iter().all(|due| {
        let (from, to) = (**due - Duration::hours(12), **due + grace);
        !reported.iter().any(|r| *r >= from && *r <= to)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-16T09:00:00Z").unwrap().to_utc() + Duration::hours(h)
    }

    fn point(h: i64, redness: u8, flags: &[RedFlag]) -> CheckinPoint {
        CheckinPoint { at: at(h), redness, red_flags: flags.to_vec() }
    }

    fn reasons(r: Vec<Raise>) -> Vec<AlertReason> {
        r.into_iter().map(|r| r.reason).collect()
    }

    #[test]
    fn normal_recovery_raises_nothing() {
        let rules = EscalationRules::default();
        assert!(evaluate_checkin(at(0), None, &point(24, 3, &[]), &rules).is_empty());
        assert!(evaluate_checkin(at(0), Some(&point(24, 3, &[])), &point(48, 2, &[]), &rules).is_empty());
        assert!(evaluate_checkin(at(0), Some(&point(48, 2, &[])), &point(168, 0, &[]), &rules).is_empty());
    }

    #[test]
    fn moderate_redness_at_72_hours_not_improving_needs_review() {
        let rules = EscalationRules::default();
        let r = evaluate_checkin(at(0), Some(&point(48, 3, &[])), &point(72, 3, &[]), &rules);
        assert_eq!(reasons(r), [AlertReason::PersistentRedness]);
        let better = evaluate_checkin(at(0), Some(&point(48, 4, &[])), &point(72, 3, &[]), &rules);
        assert!(better.is_empty(), "improving redness is expected");
        assert!(evaluate_checkin(at(0), Some(&point(24, 3, &[])), &point(71, 3, &[]), &rules).is_empty());
    }

    #[test]
    fn any_redness_at_day_seven_needs_review() {
        let r = evaluate_checkin(at(0), Some(&point(120, 1, &[])), &point(168, 1, &[]), &EscalationRules::default());
        assert_eq!(reasons(r), [AlertReason::RednessDay7]);
    }

    #[test]
    fn red_flags_and_rising_redness_are_urgent() {
        let rules = EscalationRules::default();
        let r = evaluate_checkin(at(0), None, &point(24, 1, &[RedFlag::Pus, RedFlag::Fever]), &rules);
        assert_eq!(r[0].severity, Severity::Urgent);
        assert!(r[0].details.contains("pus, fever"));
        let r = evaluate_checkin(at(0), Some(&point(24, 1, &[])), &point(48, 2, &[]), &rules);
        assert_eq!(reasons(r), [AlertReason::RednessRising]);
        let r = evaluate_checkin(at(0), Some(&point(48, 2, &[])), &point(96, 4, &[RedFlag::Warmth]), &rules);
        assert_eq!(reasons(r), [AlertReason::RedFlag, AlertReason::RednessRising, AlertReason::PersistentRedness]);
    }

    #[test]
    fn two_missed_checkins_in_a_row_are_noticed_after_the_grace() {
        let due = [at(24), at(48), at(72)];
        let grace = Duration::hours(12);
        assert!(!missed_two_in_a_row(&due, &[], at(59), grace), "the second is still within its grace");
        assert!(missed_two_in_a_row(&due, &[], at(60), grace));
        assert!(!missed_two_in_a_row(&due, &[at(50)], at(61), grace));
        assert!(missed_two_in_a_row(&due, &[at(25)], at(84), grace), "the last two (48 h, 72 h) were missed");
    }
}
