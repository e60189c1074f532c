//! Access tokens: HS256 JWTs, algorithm pinned; `exp`, `iat`, `iss` and `aud` validated.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
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
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(&self, account_id: &str, clinic_id: &str, role: Role, now: DateTime<Utc>) -> anyhow::Result<String> {
        let claims = Claims {
            sub: account_id.to_owned(),
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
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
        (claims.exp > now.timestamp() && claims.iat <= now.timestamp() + 60).then_some(claims)
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
        let t = keys().issue("a1", "c1", Role::Admin, now).unwrap();
        let claims = keys().verify(&t, now).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("a1", Role::Admin));
        assert!(keys().verify(&t, now + chrono::Duration::seconds(899)).is_some());
        assert!(keys().verify(&t, now + chrono::Duration::seconds(900)).is_none());
    }

    #[test]
    fn other_keys_issuers_audiences_and_algorithms_are_refused() {
        let now = Utc::now();
        let t = keys().issue("a1", "c1", Role::Admin, now).unwrap();
        let other = JwtKeys::new(&SecretString::from("x".repeat(32)), "aftercare", "aftercare-api", 900);
        assert!(other.verify(&t, now).is_none());
        let iss = JwtKeys::new(&SecretString::from("k".repeat(32)), "evil", "aftercare-api", 900);
        assert!(keys().verify(&iss.issue("a1", "c1", Role::Admin, now).unwrap(), now).is_none());
        let aud = JwtKeys::new(&SecretString::from("k".repeat(32)), "aftercare", "other", 900);
        assert!(keys().verify(&aud.issue("a1", "c1", Role::Admin, now).unwrap(), now).is_none());
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
