//! argon2id password hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1), run on the blocking
//! pool behind a semaphore so a flood of logins waits instead of exhausting memory.

use std::{sync::Arc, time::Duration};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ErrorCode};

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// How long a login may wait for a hashing slot before the server says it is busy.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(15);

fn argon2() -> Argon2<'static> {
    // 19456 KiB, 2 iterations, 1 lane: constant, valid parameters.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the length policy; the message is for a 422.
pub fn check_policy(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

/// Hashes a password in PHC string form (blocking; call through [`Hasher`] on request paths).
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Verifies a password against a PHC string; false for any mismatch or malformed hash.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Bounded, off-runtime hashing shared by every request.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: unknown emails are verified against it so that they
    /// cost the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl Hasher {
    pub fn new(max_concurrent: usize) -> anyhow::Result<Self> {
        let dummy = hash_blocking(&crate::security::random_token(24))?;
        Ok(Self { permits: Arc::new(Semaphore::new(max_concurrent.max(1))), dummy_hash: dummy.into() })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let _permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::code(ErrorCode::ServerBusy))?
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, ApiError> {
        self.run(move || hash_blocking(password.expose_secret())).await?.map_err(ApiError::internal)
    }

    /// Verifies against `phc`, or against the dummy hash when there is no account.
    pub async fn verify(&self, password: SecretString, phc: Option<String>) -> Result<bool, ApiError> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self.run(move || verify_blocking(password.expose_secret(), &phc)).await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let h = hash_blocking("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking("correct horse battery", &h));
        assert!(!verify_blocking("wrong horse battery", &h));
        assert!(!verify_blocking("anything", "not a hash"));
    }

    #[test]
    fn the_policy_bounds_length_in_characters() {
        assert!(check_policy("123456789").is_err());
        assert!(check_policy("1234567890").is_ok());
        assert!(check_policy(&"é".repeat(256)).is_ok());
        assert!(check_policy(&"x".repeat(257)).is_err());
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let hasher = Hasher::new(1).unwrap();
        let dummy = hasher.dummy_hash.to_string();
        assert!(!hasher.verify(SecretString::from("whatever123"), None).await.unwrap());
        assert!(!hasher.verify(SecretString::from("whatever123"), Some(dummy)).await.unwrap());
    }
}
