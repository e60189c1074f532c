//! Login attempt limits, keyed by client IP and by account, on the app clock: governor's GCRA
//! limiters, one per limit. A key may make its whole minute's attempts at once; after that one
//! more attempt is allowed each `60 / limit` seconds, and a refusal says how long until the next
//! (`Retry-After`). Memory is bounded: past [`PRUNE_AT`] keys, those whose state is that of a
//! fresh key (no attempt counted against the last minute) are dropped, again when the keys left
//! have doubled or a minute has passed.

use std::{
    num::NonZeroU32,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use chrono::DateTime;
use governor::{Quota, clock::Clock, middleware::NoOpMiddleware, state::keyed::DefaultKeyedStateStore};

use crate::clock::SharedClock;

/// Keys kept before the first pruning.
const PRUNE_AT: usize = 10_000;

/// The app clock as governor reads it: time since 1970 (an app clock set before the limiter was
/// made counts as the moment it was made).
#[derive(Clone)]
pub struct AppClock(SharedClock);

impl Clock for AppClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        (self.0.now() - DateTime::UNIX_EPOCH).to_std().unwrap_or_default()
    }
}

type Keyed = governor::RateLimiter<String, DefaultKeyedStateStore<String>, AppClock, NoOpMiddleware<Duration>>;

/// One limit: `None` when it is 0 (every attempt refused).
struct Limit {
    limiter: Option<Keyed>,
    clock: AppClock,
    prune_at: AtomicUsize,
    /// When keys were last dropped, in seconds of [`AppClock`].
    pruned: AtomicU64,
}

impl Limit {
    fn new(per_minute: u32, clock: AppClock) -> Self {
        let limiter =
            NonZeroU32::new(per_minute).map(|n| Keyed::new(Quota::per_minute(n), Default::default(), clock.clone()));
        Self { limiter, clock, prune_at: AtomicUsize::new(PRUNE_AT), pruned: AtomicU64::new(0) }
    }

    /// Counts one attempt for `key`; `Err(retry_after_secs)` when over the limit.
    fn check(&self, key: &str) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else { return Err(60) };
        let outcome = limiter.check_key(&key.to_owned());
        let keys = limiter.len();
        let now = self.clock.now().as_secs();
        if keys >= self.prune_at.load(Ordering::Relaxed)
            || (keys >= PRUNE_AT && now >= self.pruned.load(Ordering::Relaxed).saturating_add(60))
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            // Not again before the keys left have doubled or a minute has passed: amortised, even
            // when every key is recent.
            self.prune_at.store(PRUNE_AT.max(limiter.len().saturating_mul(2)), Ordering::Relaxed);
            self.pruned.store(now, Ordering::Relaxed);
        }
        outcome.map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Whole seconds, rounded up: retrying at once after `Retry-After` must succeed.
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// The login limits.
pub struct RateLimiter {
    per_ip: Limit,
    per_account: Limit,
}

impl RateLimiter {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32, clock: SharedClock) -> Self {
        let clock = AppClock(clock);
        Self {
            per_ip: Limit::new(per_ip_per_minute, clock.clone()),
            per_account: Limit::new(per_account_per_minute, clock),
        }
    }

    /// Counts one attempt from `ip`; `Err(retry_after_secs)` when over its limit.
    pub fn check_ip(&self, ip: &str) -> Result<(), u64> {
        self.per_ip.check(ip)
    }

    /// Counts one attempt on the account `email`; `Err(retry_after_secs)` when over its limit.
    pub fn check_account(&self, email: &str) -> Result<(), u64> {
        self.per_account.check(email)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::clock::ManualClock;

    fn at(t: &str) -> ManualClock {
        ManualClock::new(DateTime::parse_from_rfc3339(t).unwrap().to_utc())
    }

    #[test]
    fn a_minutes_attempts_then_one_each_sixtieth_of_the_limit() {
        let clock = at("2026-11-22T10:00:05Z");
        let rl = RateLimiter::new(3, 10, Arc::new(clock.clone()));
        for _ in 0..3 {
            assert!(rl.check_ip("1").is_ok());
        }
        assert_eq!(rl.check_ip("1"), Err(20), "one more each 20 s");
        assert!(rl.check_ip("2").is_ok(), "other keys are not limited by it");
        assert!(rl.check_account("1").is_ok(), "nor the other limit");
        clock.advance(chrono::Duration::seconds(19));
        assert_eq!(rl.check_ip("1"), Err(1));
        clock.advance(chrono::Duration::seconds(1));
        assert!(rl.check_ip("1").is_ok());
        assert_eq!(rl.check_ip("1"), Err(20));
        clock.advance(chrono::Duration::seconds(60));
        for _ in 0..3 {
            assert!(rl.check_ip("1").is_ok(), "a minute later, the whole minute's attempts again");
        }
        assert!(rl.check_ip("1").is_err());
    }

    #[test]
    fn a_limit_of_zero_refuses_every_attempt() {
        let rl = RateLimiter::new(0, 1, Arc::new(at("2026-11-22T10:00:05Z")));
        assert_eq!(rl.check_ip("1"), Err(60));
    }

    #[test]
    fn memory_stays_bounded() {
        let clock = ManualClock::new(Utc::now());
        let rl = RateLimiter::new(5, 5, Arc::new(clock.clone()));
        for i in 0..PRUNE_AT - 1 {
            let _ = rl.check_ip(&format!("k{i}"));
        }
        assert_eq!(rl.per_ip.keys(), PRUNE_AT - 1);
        clock.advance(chrono::Duration::seconds(120));
        let _ = rl.check_ip("late");
        assert_eq!(rl.per_ip.keys(), 1, "keys with no attempt in the last minute went");
        // Keys all recent: pruned only once they have doubled, and none lost.
        for i in 0..3 * PRUNE_AT {
            let _ = rl.check_ip(&format!("n{i}"));
        }
        assert_eq!(rl.per_ip.keys(), 3 * PRUNE_AT + 1);
        assert_eq!(rl.check_ip("late"), Ok(()));
        // A minute on, they go at the next attempt, below the doubled mark.
        clock.advance(chrono::Duration::seconds(61));
        let _ = rl.check_ip("later");
        assert_eq!(rl.per_ip.keys(), 1);
    }
}
