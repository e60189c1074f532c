//! Access tokens: HS256 JWTs, algorithm pinned; `exp`, `iat`, `iss` and `aud` validated. Each
//! names the login session it belongs to (`sid`), so ending that login ends its access tokens
//! (checked per request by `services::sessions`, not here: this module does no IO).

use std::{
    hash::{BuildHasher, RandomState},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::domain::Role;

/// How many checked tokens [`JwtKeys`] remembers (about 5 MB when full).
const VERIFIED_CAPACITY: u64 = 10_000;

/// What an access token says. `sid` is required: a token without one (issued before sessions
/// were checked) does not decode and answers 401 `invalid_token`, as an expired one does, and
/// the app refreshes it as usual.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
    /// The login session (the refresh-token family) the token was issued to.
    pub sid: String,
    /// Clinic id.
    pub clinic: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    verified: Arc<Verified>,
}

/// Tokens whose signature, algorithm, issuer and audience have been checked, with their claims.
/// An app sends the same access token with every request until it expires, and checking the HMAC
/// and decoding the claims again on every request is avoidable work (docs/performance.md, item
/// 12). The time
/// checks (`exp`, `iat`) are made on every use, against the app clock. Entries are found by a
/// keyed hash of the token and confirmed by comparing the whole token in constant time; a token
/// that fails, or has expired, is not remembered. A moka cache bounds them: at most
/// [`VERIFIED_CAPACITY`], each gone when its token expires (counted from when it was checked, in
/// the app clock's seconds) if not evicted before.
struct Verified {
    hasher: RandomState,
    entries: moka::sync::Cache<u64, Arc<Checked>>,
}

/// A checked token, its claims, and how long it may be remembered.
struct Checked {
    token: Box<str>,
    claims: Claims,
    lives: Duration,
}

/// Each entry lives until its token's `exp`.
struct UntilExpiry;

impl moka::Expiry<u64, Arc<Checked>> for UntilExpiry {
    fn expire_after_create(&self, _: &u64, checked: &Arc<Checked>, _: Instant) -> Option<Duration> {
        Some(checked.lives)
    }

    /// Replaced (the same hash for another token, or the same token checked again): lives until
    /// the new token's `exp`, not the old one's.
    fn expire_after_update(
        &self,
        _: &u64,
        checked: &Arc<Checked>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(checked.lives)
    }
}

impl Default for Verified {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            entries: moka::sync::Cache::builder().max_capacity(VERIFIED_CAPACITY).expire_after(UntilExpiry).build(),
        }
    }
}

impl Verified {
    fn get(&self, token: &str) -> Option<Claims> {
        let checked = self.entries.get(&self.hasher.hash_one(token))?;
        bool::from(checked.token.as_bytes().ct_eq(token.as_bytes())).then(|| checked.claims.clone())
    }

    /// Remembers a token until its `exp` (one already expired is not remembered).
    fn insert(&self, token: &str, claims: &Claims, now: i64) {
        let Some(lives) = u64::try_from(claims.exp.saturating_sub(now)).ok().filter(|s| *s > 0) else { return };
        let checked = Checked { token: token.into(), claims: claims.clone(), lives: Duration::from_secs(lives) };
        self.entries.insert(self.hasher.hash_one(token), Arc::new(checked));
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString, issuer: &str, audience: &str, ttl_secs: i64) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        // `exp` is checked against the app clock below, so tests can move time.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs,
            verified: Arc::default(),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs a token for `account_id` in the login session `session_id`.
    pub fn issue(
        &self,
        account_id: &str,
        session_id: &str,
        clinic_id: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: account_id.to_owned(),
            sid: session_id.to_owned(),
            clinic: clinic_id.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.ttl_secs,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let now = now.timestamp();
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
                self.verified.insert(token, &claims, now);
                claims
            }
        };
        (claims.exp > now && claims.iat <= now + 60).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::from("k".repeat(32)), "aftercare", "aftercare-api", 900)
    }

    #[test]
    fn a_token_is_valid_until_it_expires() {
        let now = Utc::now();
        let t = keys().issue("a1", "s1", "c1", Role::Admin, now).unwrap();
        let claims = keys().verify(&t, now).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("a1", Role::Admin));
        assert!(keys().verify(&t, now + chrono::Duration::seconds(899)).is_some());
        assert!(keys().verify(&t, now + chrono::Duration::seconds(900)).is_none());
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_time_and_a_changed_one_is_refused() {
        let keys = keys();
        let now = Utc::now();
        let t = keys.issue("a1", "s1", "c1", Role::Patient, now).unwrap();
        assert_eq!(keys.verify(&t, now).unwrap().sub, "a1");
        assert_eq!(keys.verified.len(), 1, "remembered");
        let again = keys.clone().verify(&t, now + chrono::Duration::seconds(899)).unwrap();
        assert_eq!((again.sub.as_str(), again.clinic.as_str(), again.role), ("a1", "c1", Role::Patient));
        assert!(keys.verify(&t, now + chrono::Duration::seconds(900)).is_none(), "expired");
        assert!(keys.verify(&t, now - chrono::Duration::seconds(61)).is_none(), "issued in the future");
        // One character of the signature changed (not the last, whose low bits are padding).
        let mut changed = t.clone().into_bytes();
        let at = changed.len() - 10;
        changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(keys.verify(&changed, now).is_none());
        assert_eq!(keys.verified.len(), 1, "a refused token is not remembered");
    }

    #[test]
    fn the_memory_of_checked_tokens_is_bounded_and_ends_at_expiry() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let claims = |exp: i64| Claims {
            sub: "a".into(),
            sid: "s".into(),
            clinic: "c".into(),
            role: Role::Admin,
            iss: "aftercare".into(),
            aud: "aftercare-api".into(),
            iat: exp - 900,
            exp,
        };
        keys.verified.insert("expired", &claims(now), now);
        keys.verified.insert("expiring", &claims(now + 1), now);
        keys.verified.insert("live", &claims(now + 600), now);
        assert!(keys.verified.get("expired").is_none(), "an expired token is not remembered");
        assert!(keys.verified.get("expiring").is_some() && keys.verified.get("live").is_some());
        std::thread::sleep(Duration::from_millis(1100));
        assert!(keys.verified.get("expiring").is_none(), "gone when its token expires");
        assert!(keys.verified.get("live").is_some());
        for i in 0..VERIFIED_CAPACITY * 2 {
            keys.verified.insert(&format!("token-{i}"), &claims(now + 600), now);
        }
        assert!(keys.verified.len() <= VERIFIED_CAPACITY, "{}", keys.verified.len());
    }

    #[test]
    fn a_token_without_a_session_is_refused() {
        let now = Utc::now();
        let claims = serde_json::json!({
            "sub": "a1", "clinic": "c1", "role": "admin", "iss": "aftercare", "aud": "aftercare-api",
            "iat": now.timestamp(), "exp": now.timestamp() + 900,
        });
        let key = EncodingKey::from_secret("k".repeat(32).as_bytes());
        let old = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(keys().verify(&old, now).is_none(), "issued before sessions: refused, the app refreshes it");
        let mut with_sid = claims;
        with_sid["sid"] = "s1".into();
        let current = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &with_sid, &key).unwrap();
        assert_eq!(keys().verify(&current, now).unwrap().sid, "s1");
    }

    #[test]
    fn other_keys_issuers_audiences_and_algorithms_are_refused() {
        let now = Utc::now();
        let t = keys().issue("a1", "s1", "c1", Role::Admin, now).unwrap();
        let other = JwtKeys::new(&SecretString::from("x".repeat(32)), "aftercare", "aftercare-api", 900);
        assert!(other.verify(&t, now).is_none());
        let iss = JwtKeys::new(&SecretString::from("k".repeat(32)), "evil", "aftercare-api", 900);
        assert!(keys().verify(&iss.issue("a1", "s1", "c1", Role::Admin, now).unwrap(), now).is_none());
        let aud = JwtKeys::new(&SecretString::from("k".repeat(32)), "aftercare", "other", 900);
        assert!(keys().verify(&aud.issue("a1", "s1", "c1", Role::Admin, now).unwrap(), now).is_none());
        // alg=none with the same claims
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = t.split('.').nth(1).unwrap();
        let none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys().verify(&none, now).is_none());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &keys().verify(&t, now).unwrap(),
            &EncodingKey::from_secret("k".repeat(32).as_bytes()),
        )
        .unwrap();
        assert!(keys().verify(&hs512, now).is_none());
    }
}
