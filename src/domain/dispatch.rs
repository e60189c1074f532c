//! The dispatcher's send decision for one due reminder, without IO: whether to send it, and on
//! which channels, or why not. The dispatcher reads the facts for a whole batch, asks this for
//! each reminder, then sends and records.

use chrono::{DateTime, Duration, Utc};

use crate::domain::protocol::Goal;

/// What is known about one channel (email or push) for one reminder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelFacts {
    /// The patient's latest consent of this channel's kind grants it.
    pub consented: bool,
    /// There is somewhere left to send to that this reminder has not reached yet: the email
    /// address; for push, a registered device of a configured platform.
    pub reachable: bool,
    /// An earlier attempt of this reminder already delivered on this channel.
    pub delivered: bool,
}

impl ChannelFacts {
    fn go(&self) -> bool {
        self.consented && self.reachable
    }
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The patient, clinic and session were found.
    pub record_found: bool,
    pub archived: bool,
    /// The protocol still has the reminder's step.
    pub step_found: bool,
    /// The patient marked the reminder done.
    pub done: bool,
    /// The patient already did what it asks (serum logged, check-in sent).
    pub goal_met: bool,
    /// Reminders sent to the patient in the last 24 hours.
    pub sent_today: i64,
    pub daily_cap: i64,
    pub email: ChannelFacts,
    pub push: ChannelFacts,
}

/// Why a reminder is not sent (its `status_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    RecordMissing,
    PatientArchived,
    StepMissing,
    Done,
    GoalMet,
    /// Neither channel is consented.
    NoConsent,
    /// Email is consented but the patient has no address (and push is not an option).
    NoEmail,
    /// Push is consented but no device can take it (and email is not an option).
    NoDevice,
    /// Each consented channel is out of reach.
    NoChannel,
    /// Everything consented and reachable was delivered by an earlier attempt.
    NothingLeft,
    DailyCap,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecordMissing => "record_missing",
            Self::PatientArchived => "patient_archived",
            Self::StepMissing => "step_missing",
            Self::Done => "done",
            Self::GoalMet => "goal_met",
            Self::NoConsent => "no_consent",
            Self::NoEmail => "no_email",
            Self::NoDevice => "no_device",
            Self::NoChannel => "no_channel",
            Self::NothingLeft => "nothing_left",
            Self::DailyCap => "daily_cap",
        }
    }
}

/// The decision: send on these channels, or skip with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send { email: bool, push: bool },
    Skip(SkipReason),
}

/// Decides for one due reminder. The checks run from the record to the channels; the daily
/// cap applies only to a reminder that reached no channel yet (a retry of one that did is the
/// same reminder, not one more).
pub fn decide(f: &Facts) -> Decision {
    use SkipReason::*;
    let skip = if !f.record_found {
        Some(RecordMissing)
    } else if f.archived {
        Some(PatientArchived)
    } else if !f.step_found {
        Some(StepMissing)
    } else if f.done {
        Some(Done)
    } else if f.goal_met {
        Some(GoalMet)
    } else {
        None
    };
    if let Some(reason) = skip {
        return Decision::Skip(reason);
    }
    let (email, push) = (f.email.go(), f.push.go());
    if !email && !push {
        return Decision::Skip(match (f.email, f.push) {
            (e, p) if !e.consented && !p.consented => NoConsent,
            (e, p) if e.delivered || p.delivered => NothingLeft,
            (e, p) if e.consented && !p.consented => NoEmail,
            (e, p) if p.consented && !e.consented => NoDevice,
            _ => NoChannel,
        });
    }
    let delivered_before = f.email.delivered || f.push.delivered;
    if !delivered_before && f.sent_today >= f.daily_cap {
        return Decision::Skip(DailyCap);
    }
    Decision::Send { email, push }
}

/// Whether the patient already did what a reminder planned at `planned` asks, from their serum
/// applications and check-ins (each list may hold others' times of the batch's window; only
/// the window of this reminder counts): a serum logged within 3 hours either side (or since, if
/// later), a check-in in the 12 hours before it or since.
pub fn goal_met(
    goal: Goal,
    planned: DateTime<Utc>,
    now: DateTime<Utc>,
    serum: &[DateTime<Utc>],
    checkins: &[DateTime<Utc>],
) -> bool {
    match goal {
        Goal::SerumLogged => {
            let (from, to) = (planned - Duration::hours(3), now.max(planned + Duration::hours(3)));
            serum.iter().any(|t| (from..=to).contains(t))
        }
        Goal::CheckinDone => {
            let from = planned - Duration::hours(12);
            checkins.iter().any(|t| (from..=now).contains(t))
        }
    }
}

/// The window of goal events a batch of reminders planned between `first` and `last` needs.
pub fn goal_window(first: DateTime<Utc>, last: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (first - Duration::hours(12), now.max(last + Duration::hours(3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: ChannelFacts = ChannelFacts { consented: true, reachable: true, delivered: false };
    const OFF: ChannelFacts = ChannelFacts { consented: false, reachable: true, delivered: false };

    fn facts() -> Facts {
        Facts {
            record_found: true,
            archived: false,
            step_found: true,
            done: false,
            goal_met: false,
            sent_today: 0,
            daily_cap: 12,
            email: OPEN,
            push: OPEN,
        }
    }

    #[test]
    fn both_consented_channels_are_sent() {
        assert_eq!(decide(&facts()), Decision::Send { email: true, push: true });
    }

    #[test]
    fn each_channel_follows_its_own_consent() {
        let f = Facts { email: OFF, ..facts() };
        assert_eq!(decide(&f), Decision::Send { email: false, push: true });
        let f = Facts { push: OFF, ..facts() };
        assert_eq!(decide(&f), Decision::Send { email: true, push: false });
        let f = Facts { email: OFF, push: OFF, ..facts() };
        assert_eq!(decide(&f), Decision::Skip(SkipReason::NoConsent));
    }

    #[test]
    fn a_consented_channel_out_of_reach_is_named() {
        let no_address = ChannelFacts { reachable: false, ..OPEN };
        assert_eq!(decide(&Facts { email: no_address, push: OFF, ..facts() }), Decision::Skip(SkipReason::NoEmail));
        let no_device = ChannelFacts { reachable: false, ..OPEN };
        assert_eq!(decide(&Facts { email: OFF, push: no_device, ..facts() }), Decision::Skip(SkipReason::NoDevice));
        assert_eq!(
            decide(&Facts { email: no_address, push: no_device, ..facts() }),
            Decision::Skip(SkipReason::NoChannel)
        );
        assert_eq!(
            decide(&Facts { email: no_address, ..facts() }),
            Decision::Send { email: false, push: true },
            "push alone is enough"
        );
    }

    #[test]
    fn the_record_comes_before_the_channels() {
        let cases = [
            (Facts { record_found: false, ..facts() }, SkipReason::RecordMissing),
            (Facts { archived: true, ..facts() }, SkipReason::PatientArchived),
            (Facts { step_found: false, ..facts() }, SkipReason::StepMissing),
            (Facts { done: true, ..facts() }, SkipReason::Done),
            (Facts { goal_met: true, ..facts() }, SkipReason::GoalMet),
            (Facts { goal_met: true, email: OFF, push: OFF, ..facts() }, SkipReason::GoalMet),
        ];
        for (f, reason) in cases {
            assert_eq!(decide(&f), Decision::Skip(reason), "{f:?}");
        }
    }

    #[test]
    fn the_daily_cap_stops_new_reminders_but_not_a_retry_of_one_that_reached_a_channel() {
        let capped = Facts { sent_today: 12, ..facts() };
        assert_eq!(decide(&capped), Decision::Skip(SkipReason::DailyCap));
        let emailed = ChannelFacts { reachable: false, delivered: true, ..OPEN };
        assert_eq!(decide(&Facts { email: emailed, ..capped }), Decision::Send { email: false, push: true });
        assert_eq!(decide(&Facts { sent_today: 11, ..facts() }), Decision::Send { email: true, push: true });
    }

    #[test]
    fn a_channel_delivered_earlier_is_not_sent_again() {
        let emailed = ChannelFacts { reachable: false, delivered: true, ..OPEN };
        assert_eq!(decide(&Facts { email: emailed, ..facts() }), Decision::Send { email: false, push: true });
        let pushed = ChannelFacts { reachable: false, delivered: true, ..OPEN };
        assert_eq!(decide(&Facts { email: emailed, push: pushed, ..facts() }), Decision::Skip(SkipReason::NothingLeft));
    }

    #[test]
    fn reasons_have_stable_wire_names() {
        assert_eq!(SkipReason::NoConsent.as_str(), "no_consent");
        assert_eq!(SkipReason::DailyCap.as_str(), "daily_cap");
        assert_eq!(SkipReason::GoalMet.as_str(), "goal_met");
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn goals_count_only_near_their_reminder() {
        let planned = t("2026-03-16T20:00:00Z");
        let now = t("2026-03-16T20:05:00Z");
        assert!(goal_met(Goal::SerumLogged, planned, now, &[t("2026-03-16T19:40:00Z")], &[]));
        assert!(!goal_met(Goal::SerumLogged, planned, now, &[t("2026-03-16T16:00:00Z")], &[]), "too early");
        assert!(
            !goal_met(Goal::SerumLogged, planned, now, &[], &[t("2026-03-16T19:40:00Z")]),
            "a check-in is no serum"
        );
        assert!(goal_met(Goal::CheckinDone, planned, now, &[], &[t("2026-03-16T09:00:00Z")]));
        assert!(!goal_met(Goal::CheckinDone, planned, now, &[], &[t("2026-03-15T20:00:00Z")]));
        let (from, to) = goal_window(planned, planned + Duration::hours(1), now);
        assert_eq!((from, to), (t("2026-03-16T08:00:00Z"), t("2026-03-17T00:00:00Z")));
    }
}
