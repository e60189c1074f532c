//! Signed links that work without a login: one-click unsubscribe (RFC 8058). The token is the
//! patient id and an HMAC-SHA256 over it with a key derived from the server secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl LinkSigner {
    pub fn new(secret: &SecretString) -> Self {
        // A key of its own, so a link token can never serve as a JWT signature or vice versa.
        let key = hmac(secret.expose_secret().as_bytes(), b"aftercare/unsubscribe/v1");
        Self { key }
    }

    /// A token for `patient_id`.
    pub fn sign(&self, patient_id: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}", b64.encode(patient_id), b64.encode(hmac(&self.key, patient_id.as_bytes())))
    }

    /// The patient id a valid token names.
    pub fn verify(&self, token: &str) -> Option<String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (id, sig) = token.split_once('.')?;
        let id = String::from_utf8(b64.decode(id).ok()?).ok()?;
        let sig = b64.decode(sig).ok()?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(id.as_bytes());
        mac.verify_slice(&sig).ok()?;
        Some(id)
    }
}

/// HMAC-SHA256 (keys of any length are valid for HMAC, so the error arm never runs).
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_unchanged_and_with_the_same_secret() {
        let a = LinkSigner::new(&SecretString::from("a".repeat(32)));
        let t = a.sign("patient-1");
        assert_eq!(a.verify(&t).as_deref(), Some("patient-1"));
        let b = LinkSigner::new(&SecretString::from("b".repeat(32)));
        assert_eq!(b.verify(&t), None);
        let forged = format!(
            "{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("patient-2"),
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(a.verify(&forged), None);
        assert_eq!(a.verify("garbage"), None);
    }
}
