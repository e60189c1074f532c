//! Fixed-window counters for login attempts, keyed by client IP and by account, on the app
//! clock. Memory is bounded: expired windows are pruned when the map grows.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Utc};

const WINDOW_SECS: i64 = 60;
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one attempt for `key`; `Err(retry_after_secs)` when over `limit` this minute.
    pub fn check(&self, key: &str, limit: u32, now: DateTime<Utc>) -> Result<(), u64> {
        let now_s = now.timestamp();
        let window = now_s - now_s.rem_euclid(WINDOW_SECS);
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT {
            map.retain(|_, (start, _)| *start == window);
        }
        let entry = map.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return Err(u64::try_from(window + WINDOW_SECS - now_s).unwrap_or(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_a_window_and_resets_after() {
        let rl = RateLimiter::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z").unwrap().to_utc();
        for _ in 0..3 {
            assert!(rl.check("ip:1", 3, t0).is_ok());
        }
        assert_eq!(rl.check("ip:1", 3, t0), Err(55));
        assert!(rl.check("ip:2", 3, t0).is_ok());
        assert!(rl.check("ip:1", 3, t0 + chrono::Duration::seconds(55)).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let rl = RateLimiter::default();
        let t0 = Utc::now();
        for i in 0..PRUNE_AT {
            let _ = rl.check(&format!("k{i}"), 5, t0);
        }
        let _ = rl.check("late", 5, t0 + chrono::Duration::seconds(120));
        assert_eq!(rl.windows.lock().unwrap().len(), 1);
    }
}
