//! What a drill reports: per channel (reminder emails, alert emails, pushes) the messages
//! planned, sent, lost and duplicated, its timings, and the checks it passed or failed.

use std::{collections::HashMap, time::Duration};

use crate::sink::Received;

/// One channel's count.
pub enum Tally {
    Counted {
        planned: usize,
        sent: usize,
        lost: usize,
        duplicated: usize,
    },
    /// The channel was not part of the drill, with the reason.
    NotApplicable(&'static str),
}

impl Tally {
    /// From the planned ids with their final status (`sent`, `skipped`, … from the database) and
    /// what the receiving end accepted, by the same ids: sent = distinct planned ids received,
    /// lost = planned ids neither received nor deliberately not sent (`skipped`, `cancelled`),
    /// duplicated = ids received more than once.
    pub fn count(planned: &HashMap<String, String>, received: &HashMap<String, Vec<Received>>) -> Self {
        let sent = planned.keys().filter(|id| received.contains_key(*id)).count();
        let lost = planned
            .iter()
            .filter(|(id, status)| !received.contains_key(*id) && !matches!(status.as_str(), "skipped" | "cancelled"))
            .count();
        let duplicated = received.iter().filter(|(id, got)| planned.contains_key(*id) && got.len() > 1).count();
        Self::Counted { planned: planned.len(), sent, lost, duplicated }
    }

    pub fn lost(&self) -> usize {
        match self {
            Self::Counted { lost, .. } => *lost,
            Self::NotApplicable(_) => 0,
        }
    }

    pub fn duplicated(&self) -> usize {
        match self {
            Self::Counted { duplicated, .. } => *duplicated,
            Self::NotApplicable(_) => 0,
        }
    }
}

/// One check: what was required, what was measured, and whether it held.
pub struct Check {
    pub what: String,
    pub measured: String,
    pub ok: bool,
}

pub struct DrillReport {
    pub drill: String,
    pub setup: String,
    pub reminders: Tally,
    pub alerts: Tally,
    /// The push channel, counted from the loopback FCM by each push's reminder id (its collapse
    /// key), in the drills whose patients have devices.
    pub pushes: Tally,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl DrillReport {
    pub fn new(drill: &str, setup: String) -> Self {
        Self {
            drill: drill.to_owned(),
            setup,
            reminders: Tally::NotApplicable("not part of this drill"),
            alerts: Tally::NotApplicable("not part of this drill"),
            pushes: Tally::NotApplicable("not part of this drill"),
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn check(&mut self, what: impl Into<String>, measured: impl Into<String>, ok: bool) {
        self.checks.push(Check { what: what.into(), measured: measured.into(), ok });
    }

    /// Passed: nothing lost on any channel and every check held.
    pub fn passed(&self) -> bool {
        [&self.reminders, &self.alerts, &self.pushes].iter().all(|t| t.lost() == 0) && self.checks.iter().all(|c| c.ok)
    }

    pub fn print(&self) {
        println!();
        println!("drill {}: {}", self.drill, self.setup);
        println!("  {:<10} {:>8} {:>8} {:>6} {:>11}", "", "planned", "sent", "lost", "duplicated");
        for (name, tally) in [("reminders", &self.reminders), ("alerts", &self.alerts), ("pushes", &self.pushes)] {
            match tally {
                Tally::Counted { planned, sent, lost, duplicated } => {
                    println!("  {name:<10} {planned:>8} {sent:>8} {lost:>6} {duplicated:>11}")
                }
                Tally::NotApplicable(why) => println!("  {name:<10} {:>8}   n/a ({why})", "-"),
            }
        }
        for c in &self.checks {
            println!("  [{}] {}: {}", if c.ok { "ok" } else { "FAIL" }, c.what, c.measured);
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
        println!("  verdict: {}", if self.passed() { "PASS" } else { "FAIL" });
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
