//! Push notifications to the patient's app: FCM HTTP v1 for Android, APNs (HTTP/2, token auth)
//! for iOS. Each platform is on only when its credentials are configured. Every exchange (the
//! OAuth token, the connection, the send and its answer) is bounded by `push.timeout_secs`.
//!
//! Written on reqwest and jsonwebtoken rather than a push crate: the maintained ones (`a2` for
//! APNs, the FCM v1 clients) connect only to Apple's and Google's fixed hosts, so they cannot be
//! tested against loopback fakes that check each request, and they would bring a second HTTP and
//! TLS stack beside reqwest's.

mod apns;
mod fcm;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::PushSettings;

/// One notification for one device.
#[derive(Debug, Clone)]
pub struct Notification {
    pub title: String,
    pub body: String,
    /// Replaces an earlier notification with the same id on the device (a resend after a crash
    /// shows once): the reminder's id.
    pub collapse_id: String,
    /// Custom data for the app: which reminder, and its kind.
    pub reminder_id: String,
    pub kind: String,
    /// The push service drops it if the device stays unreachable until then.
    pub expires_at: DateTime<Utc>,
}

/// Why a push was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The service says the token is no longer (or never was) valid: the device goes.
    #[error("device token refused: {0}")]
    InvalidToken(String),
    /// Worth retrying later (timeouts, 429, 5xx, an expired auth token).
    #[error("transient push failure: {0}")]
    Transient(String),
    /// Retrying will not help (a malformed request, a wrong topic).
    #[error("push refused: {0}")]
    Permanent(String),
}

/// The configured push services.
#[derive(Clone, Default)]
pub struct Push {
    fcm: Option<Arc<fcm::Fcm>>,
    apns: Option<Arc<apns::Apns>>,
    timeout: std::time::Duration,
}

impl Push {
    /// Builds the clients whose credentials are set; reads the key files (a bad one stops the
    /// service at start, naming the setting).
    pub fn from_settings(s: &PushSettings) -> anyhow::Result<Self> {
        let timeout = std::time::Duration::from_secs(s.timeout_secs.max(1));
        let fcm = match &s.fcm_service_account_file {
            Some(path) => Some(Arc::new(fcm::Fcm::new(path, &s.fcm_base_url, timeout)?)),
            None => None,
        };
        let apns = match &s.apns_key_file {
            Some(path) => Some(Arc::new(apns::Apns::new(path, s, timeout)?)),
            None => None,
        };
        Ok(Self { fcm, apns, timeout })
    }

    /// Whether devices of `platform` (`ios`, `android`) can be reached.
    pub fn serves(&self, platform: &str) -> bool {
        match platform {
            "android" => self.fcm.is_some(),
            "ios" => self.apns.is_some(),
            _ => false,
        }
    }

    /// Whether any platform is configured.
    pub fn enabled(&self) -> bool {
        self.fcm.is_some() || self.apns.is_some()
    }

    /// Sends one notification to one device, within the configured timeout.
    pub async fn send(&self, platform: &str, token: &str, n: &Notification) -> Result<(), PushError> {
        let sent = async {
            match (platform, &self.fcm, &self.apns) {
                ("android", Some(fcm), _) => fcm.send(token, n).await,
                ("ios", _, Some(apns)) => apns.send(token, n).await,
                _ => Err(PushError::Permanent(format!("no push service for {platform}"))),
            }
        };
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(result) => result,
            Err(_) => Err(PushError::Transient(format!("no answer within {} s", self.timeout.as_secs()))),
        }
    }
}

/// The text of a reminder's push: its title, and the first sentence of its message as the body
/// (a lock screen shows about two lines). Title and message come already in the device's
/// language (`i18n::push_reminder`).
pub fn reminder_text(title: &str, message: &str) -> (String, String) {
    const MAX: usize = 160;
    let first = message.split_inclusive(['.', '!', '?']).next().unwrap_or(message).trim();
    let body = if first.chars().count() > MAX {
        let cut: String = first.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        first.to_owned()
    };
    (title.to_owned(), body)
}

/// A reqwest client for one push service: bounded in time, no redirects, no proxies.
fn client(timeout: std::time::Duration, http2_only: bool) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Aftercare/", env!("CARGO_PKG_VERSION")));
    let builder = if http2_only { builder.http2_prior_knowledge() } else { builder };
    Ok(builder.build()?)
}

/// Transient or permanent by HTTP status: 429 and 5xx are worth a retry.
fn by_status(status: reqwest::StatusCode, what: String) -> PushError {
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        PushError::Transient(what)
    } else {
        PushError::Permanent(what)
    }
}

/// A transport error (connect, timeout, broken answer) as a transient failure, without the URL.
fn transport(e: reqwest::Error) -> PushError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    PushError::Transient(kind.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_text_is_the_title_and_the_first_sentence() {
        let (title, body) = reminder_text("Serum time", "Apply the HA serum. Then wait five minutes.");
        assert_eq!((title.as_str(), body.as_str()), ("Serum time", "Apply the HA serum."));
        let long = "a".repeat(400);
        let (_, body) = reminder_text("t", &long);
        assert_eq!(body.chars().count(), 160);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn without_settings_no_platform_is_served() {
        let push = Push::from_settings(&PushSettings::default()).unwrap();
        assert!(!push.enabled());
        assert!(!push.serves("ios") && !push.serves("android"));
    }
}
