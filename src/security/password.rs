//! argon2id password hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1), run on the blocking
//! pool behind a semaphore so a flood of logins waits instead of exhausting memory; and the one
//! rule for a new password (length, then strength estimated by zxcvbn against common passwords,
//! patterns and the person's own email, name and clinic).

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

/// The lowest zxcvbn score (0–4) a new password may have: 3 is "safely unguessable: moderate
/// protection from an offline slow-hash scenario" (about 10^10 guesses).
pub const MIN_STRENGTH: u8 = 3;

/// Who a new password belongs to: words an attacker tries first, so they count as guessable.
#[derive(Clone, Copy, Debug, Default)]
pub struct PasswordOwner<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub clinic_name: Option<&'a str>,
}

impl PasswordOwner<'_> {
    /// The email, its local part, the name and the clinic name: each as given, word by word and
    /// with its words run together (`glowskinclinic`), the forms people make passwords of.
    fn user_inputs(&self) -> Vec<String> {
        let local = self.email.split_once('@').map_or(self.email, |(l, _)| l);
        let mut inputs = vec![self.email.to_owned()];
        for text in [Some(local), self.name, self.clinic_name].into_iter().flatten() {
            let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            inputs.push(text.to_owned());
            inputs.push(words.concat());
            inputs.extend(words.iter().filter(|w| w.chars().count() >= 3).map(|w| (*w).to_owned()));
        }
        inputs.retain(|s| !s.is_empty());
        inputs.dedup();
        inputs
    }
}

/// Checks a password someone is about to set: the length policy, then a strength of at least
/// [`MIN_STRENGTH`] of 4 as zxcvbn estimates it with the owner's details as known words. The
/// message names the rule, for a 422 on `password`. Every place that sets a password calls this.
pub fn check_new_password(password: &str, owner: &PasswordOwner<'_>) -> Result<(), String> {
    check_policy(password)?;
    let estimate = weakest_reading(password, &owner.user_inputs());
    let score = u8::from(estimate.score());
    if score >= MIN_STRENGTH {
        return Ok(());
    }
    let mut message = format!("is too easy to guess (strength {score} of 4, needs {MIN_STRENGTH})");
    if let Some(feedback) = estimate.feedback() {
        let advice: Vec<String> = feedback
            .warning()
            .map(|w| w.to_string())
            .into_iter()
            .chain(feedback.suggestions().iter().map(ToString::to_string))
            .collect();
        if !advice.is_empty() {
            message = format!("{message}: {}", advice.join(" "));
        }
    }
    Err(message)
}

/// zxcvbn's estimate of the password as typed and with only its letters and digits, whichever
/// is weaker. zxcvbn prices every separator as a piece of its own, which lifts "Glow Skin Clinic
/// 2026" (or "Glow-Skin-Clinic-2026") to a 3 though it is the clinic's name and a year; run
/// together it is priced as what it is.
fn weakest_reading(password: &str, user_inputs: &[String]) -> zxcvbn::Entropy {
    let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
    let typed = zxcvbn::zxcvbn(password, &inputs);
    let joined: String = password.chars().filter(|c| c.is_alphanumeric()).collect();
    if joined.len() == password.len() || joined.is_empty() {
        return typed;
    }
    let joined = zxcvbn::zxcvbn(&joined, &inputs);
    if joined.guesses() < typed.guesses() { joined } else { typed }
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

    fn owner() -> PasswordOwner<'static> {
        PasswordOwner { email: "jane.doe@glow.example", name: Some("Jane Doe"), clinic_name: Some("Glow Skin Clinic") }
    }

    #[test]
    fn common_and_personal_passwords_are_too_easy_to_guess() {
        let weak = ["password123", "jane.doe@glow.example", "Glow Skin Clinic 2026", "GlowSkinClinic2026"];
        for weak in weak.into_iter().chain(["Glow-Skin-Clinic-2026", "JaneDoe2026!", "qwertyuiop"]) {
            let message = check_new_password(weak, &owner()).unwrap_err();
            assert!(message.starts_with("is too easy to guess (strength "), "{weak}: {message}");
            assert!(message.contains("of 4, needs 3)"), "{weak}: {message}");
        }
    }

    #[test]
    fn the_owner_s_details_count_against_the_password() {
        // Strong for a stranger, weak for the person it names.
        let pw = "Glowskinclinicjanedoe";
        assert!(check_new_password(pw, &PasswordOwner { email: "x@y.example", ..Default::default() }).is_ok());
        assert!(check_new_password(pw, &owner()).is_err());
    }

    #[test]
    fn a_long_passphrase_passes_and_length_rules_come_first() {
        assert_eq!(check_new_password("correct horse battery staple", &owner()), Ok(()));
        assert_eq!(check_new_password("correct-horse-battery-staple", &owner()), Ok(()));
        assert_eq!(check_new_password("Xk9#vQ2m!Lp7@Rz4", &owner()), Ok(()));
        assert_eq!(check_new_password("password1", &owner()), Err("must be at least 10 characters".to_owned()));
        assert!(check_new_password(&"Xk9#vQ2m!".repeat(29), &owner()).unwrap_err().starts_with("must be at most"));
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let hasher = Hasher::new(1).unwrap();
        let dummy = hasher.dummy_hash.to_string();
        assert!(!hasher.verify(SecretString::from("whatever123"), None).await.unwrap());
        assert!(!hasher.verify(SecretString::from("whatever123"), Some(dummy)).await.unwrap());
    }
}
