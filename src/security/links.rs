//! Signed links that work without a login: one-click unsubscribe (RFC 8058), whose token is the
//! patient id and an HMAC-SHA256 over it with a key derived from the server secret, and the
//! action links of a reminder email (check in, log the serum), which name the action, the
//! reminder and when they stop working, under a key of their own (a token of one kind never
//! passes as another).

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
    checkin_key: Vec<u8>,
}

impl LinkSigner {
    pub fn new(secret: &SecretString) -> Self {
        // A key of its own, so a link token can never serve as a JWT signature or vice versa.
        let key = hmac(secret.expose_secret().as_bytes(), b"aftercare/unsubscribe/v1");
        let checkin_key = hmac(secret.expose_secret().as_bytes(), b"aftercare/checkin-link/v1");
        Self { key, checkin_key }
    }

    /// A reminder link's token for `action` (`checkin`, `log_serum`) on `reminder_id`, valid until
    /// `expires_at` (Unix seconds).
    pub fn sign_action(&self, action: &str, reminder_id: &str, expires_at: i64) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = format!("{action}.{reminder_id}.{expires_at}");
        format!("{}.{}", b64.encode(&payload), b64.encode(hmac(&self.checkin_key, payload.as_bytes())))
    }

    /// The reminder a token for `action` names, if it is genuine, for that action, and `now`
    /// (Unix seconds) is before its end.
    pub fn verify_action(&self, action: &str, token: &str, now: i64) -> Option<String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, sig) = token.split_once('.')?;
        let payload = String::from_utf8(b64.decode(payload).ok()?).ok()?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.checkin_key).ok()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&b64.decode(sig).ok()?).ok()?;
        let mut parts = payload.splitn(3, '.');
        let (signed_action, reminder_id, expires_at) = (parts.next()?, parts.next()?, parts.next()?);
        (signed_action == action && now < expires_at.parse::<i64>().ok()?).then(|| reminder_id.to_owned())
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

    #[test]
    fn action_tokens_name_their_action_and_reminder_until_they_expire_and_are_no_unsubscribe_tokens() {
        let a = LinkSigner::new(&SecretString::from("a".repeat(32)));
        let t = a.sign_action("checkin", "rem-1", 1_000);
        assert_eq!(a.verify_action("checkin", &t, 999).as_deref(), Some("rem-1"));
        assert_eq!(a.verify_action("checkin", &t, 1_000), None, "expired");
        assert_eq!(a.verify_action("serum", &t, 999), None, "for one action only");
        assert_eq!(a.verify(&t), None, "not an unsubscribe token");
        assert_eq!(a.verify_action("checkin", &a.sign("patient-1"), 0), None, "not a reminder link's token");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let longer = format!("{}.{}", b64.encode("checkin.rem-1.9999"), t.split('.').nth(1).unwrap());
        assert_eq!(a.verify_action("checkin", &longer, 999), None, "the end is signed too");
    }
}
