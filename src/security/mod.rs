//! Credentials and the things that protect them: password hashing, access and refresh tokens,
//! one-time tokens, login rate limits, masking of personal data in logs, and the guard that keeps
//! webhook deliveries out of the service's own network.

pub mod caller;
pub mod jwt;
pub mod links;
pub mod password;
pub mod rate_limit;
pub mod sessions;
pub mod ssrf;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `n` random bytes from the OS generator, URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token as hex: what is stored for refresh and invitation tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a presented secret equals the expected one, in time independent of where they differ
/// and of their lengths (both are hashed first).
pub fn same_secret(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())))
}

/// An email address fit for logs: first letter of the local part, then the domain.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Free text (an SMTP reply, a driver error) with every email-like token masked, for logs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.contains('@') {
            out.push_str(&mask_email(token));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || "<>()[]{},;:\"'=".contains(c) {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Lower-cases and trims an email; checks it has the form `local@domain.tld`.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 || email.chars().any(char::is_whitespace) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.parse::<lettre::Address>().is_ok();
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_equal_only_when_identical() {
        assert!(same_secret("metrics-token-for-tests", "metrics-token-for-tests"));
        assert!(!same_secret("metrics-token-for-test", "metrics-token-for-tests"));
        assert!(!same_secret("", "metrics-token-for-tests"));
        assert!(!same_secret("Metrics-token-for-tests", "metrics-token-for-tests"));
    }

    #[test]
    fn emails_are_masked_in_logs() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }

    #[test]
    fn free_text_is_redacted_for_logs() {
        assert_eq!(
            redact("550 5.1.1 <jane.doe@example.com>: no such user (jane.doe@example.com)"),
            "550 5.1.1 <j***@example.com>: no such user (j***@example.com)"
        );
        assert_eq!(redact("connection refused"), "connection refused");
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email(" Jane@Example.COM ").as_deref(), Some("jane@example.com"));
        for bad in ["", "jane", "jane@", "@example.com", "jane@example", "ja ne@example.com", "a@b@c.com"] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token(32);
        assert_ne!(a, random_token(32));
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
