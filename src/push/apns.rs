//! APNs over HTTP/2 with token authentication: `POST {base}/3/device/{token}` carrying an ES256
//! JWT (`kid` = key id, `iss` = team id, `iat`), renewed every 40 minutes (Apple refuses tokens
//! older than an hour and throttles renewals more often than every 20 minutes).

use std::{path::Path, time::Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Notification, PushError, by_status, transport};
use crate::config::PushSettings;

const RENEW_AFTER: std::time::Duration = std::time::Duration::from_secs(40 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

struct ProviderToken {
    value: String,
    made: Instant,
}

pub struct Apns {
    client: reqwest::Client,
    base: String,
    key: EncodingKey,
    key_id: String,
    team_id: String,
    topic: String,
    token: std::sync::Mutex<Option<ProviderToken>>,
}

impl Apns {
    pub fn new(path: &Path, s: &PushSettings, timeout: std::time::Duration) -> anyhow::Result<Self> {
        let setting = "AFTERCARE__PUSH__APNS_KEY_FILE";
        let pem = std::fs::read(path).with_context(|| format!("{setting}: cannot read the file"))?;
        let key = EncodingKey::from_ec_pem(&pem).with_context(|| format!("{setting}: not a P-256 key in PEM (.p8)"))?;
        let required = |name: &str, v: &Option<String>| {
            v.clone().filter(|v| !v.trim().is_empty()).with_context(|| format!("AFTERCARE__PUSH__{name} is not set"))
        };
        Ok(Self {
            client: super::client(timeout, true)?,
            base: s.apns_base_url.trim_end_matches('/').to_owned(),
            key,
            key_id: required("APNS_KEY_ID", &s.apns_key_id)?,
            team_id: required("APNS_TEAM_ID", &s.apns_team_id)?,
            topic: required("APNS_TOPIC", &s.apns_topic)?,
            token: std::sync::Mutex::new(None),
        })
    }

    /// The provider token: the cached one while younger than [`RENEW_AFTER`], else a new one.
    fn provider_token(&self) -> Result<String, PushError> {
        let mut cached = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cached.as_ref()
            && t.made.elapsed() < RENEW_AFTER
        {
            return Ok(t.value.clone());
        }
        let header = Header { kid: Some(self.key_id.clone()), ..Header::new(Algorithm::ES256) };
        let claims = Claims { iss: &self.team_id, iat: chrono::Utc::now().timestamp() };
        let value = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| PushError::Permanent(format!("signing the APNs token: {e}")))?;
        *cached = Some(ProviderToken { value: value.clone(), made: Instant::now() });
        Ok(value)
    }

    pub async fn send(&self, token: &str, n: &Notification) -> Result<(), PushError> {
        let provider = self.provider_token()?;
        let body = json!({
            "aps": {"alert": {"title": n.title, "body": n.body}, "sound": "default"},
            "reminder_id": n.reminder_id,
            "kind": n.kind,
        });
        let res = self
            .client
            .post(format!("{}/3/device/{token}", self.base))
            .header(reqwest::header::AUTHORIZATION, format!("bearer {provider}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-expiration", n.expires_at.timestamp().to_string())
            .header("apns-collapse-id", &n.collapse_id)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let answer: Value = res.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let reason = answer.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned();
        match (status.as_u16(), reason.as_str()) {
            (410, _) | (400, "BadDeviceToken") => Err(PushError::InvalidToken(format!("APNs {reason}"))),
            (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Err(PushError::Transient(format!("APNs {reason}")))
            }
            _ => Err(by_status(status, format!("APNs answered {} {reason}", status.as_u16()))),
        }
    }
}
