//! What this replica remembers of login sessions: the answer to "is this session live?" kept
//! briefly per session, since the check runs on every authenticated request. The check itself is
//! `services::login_sessions::is_live`.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// How long a replica trusts its last answer for a session. The replica that ends a session
/// forgets it at once ([`SessionCache::forget`]); every other replica may go on accepting that
/// session's access tokens for at most this long (plus one database read) after the end commits.
pub const SESSION_CHECK_TTL: Duration = Duration::from_secs(2);

/// Sessions remembered at once; past this the least used go first.
const CAPACITY: u64 = 100_000;

/// Recent answers to "is this session live?", keyed by session id: at most one database read
/// per session per [`SESSION_CHECK_TTL`] on each replica.
#[derive(Clone)]
pub struct SessionCache {
    live: moka::sync::Cache<String, bool>,
    /// Bumped by every [`SessionCache::forget`]: an answer read from the database while a forget
    /// ran may predate the end it forgot, so it is not kept (see [`SessionCache::remember`]).
    generation: std::sync::Arc<AtomicU64>,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new(SESSION_CHECK_TTL)
    }
}

impl SessionCache {
    /// A cache keeping each answer for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            live: moka::sync::Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            generation: std::sync::Arc::default(),
        }
    }

    pub(crate) fn get(&self, session_id: &str) -> Option<bool> {
        self.live.get(session_id)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps an answer read from the database after `generation` was taken, unless a forget ran
    /// meanwhile (checked after the insert, so a forget racing with it removes it either way).
    pub(crate) fn remember(&self, session_id: &str, live: bool, generation: u64) {
        self.live.insert(session_id.to_owned(), live);
        if self.generation() != generation {
            self.live.invalidate(session_id);
        }
    }

    /// Drops what this replica remembers of sessions that were just ended (after the commit).
    pub fn forget<S: AsRef<str>>(&self, session_ids: &[S]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for id in session_ids {
            self.live.invalidate(id.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_session_is_read_again() {
        let cache = SessionCache::new(Duration::from_secs(60));
        cache.remember("s1", true, cache.generation());
        cache.remember("s2", true, cache.generation());
        assert_eq!((cache.get("s1"), cache.get("s2")), (Some(true), Some(true)));
        cache.forget(&["s1"]);
        assert_eq!((cache.get("s1"), cache.get("s2")), (None, Some(true)));
    }

    #[test]
    fn an_answer_read_while_a_session_was_ended_is_not_kept() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let before = cache.generation();
        // The database said "live", then the session ended and was forgotten before the answer
        // came back: keeping it would accept the session's tokens for a whole TTL.
        cache.forget(&["s1"]);
        cache.remember("s1", true, before);
        assert_eq!(cache.get("s1"), None);
    }

    #[test]
    fn answers_expire() {
        let cache = SessionCache::new(Duration::from_millis(50));
        cache.remember("s1", true, cache.generation());
        assert_eq!(cache.get("s1"), Some(true));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get("s1"), None);
    }
}
