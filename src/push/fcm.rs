//! FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with an OAuth2 access token
//! obtained from the service account's token URI by a signed JWT grant (RS256), cached until a
//! minute before it expires.

use std::{path::Path, time::Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Notification, PushError, by_status, transport};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: String,
}

#[derive(Serialize)]
struct Grant<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

struct AccessToken {
    value: String,
    renew_at: Instant,
}

pub struct Fcm {
    client: reqwest::Client,
    send_url: String,
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: EncodingKey,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

impl Fcm {
    pub fn new(path: &Path, base_url: &str, timeout: std::time::Duration) -> anyhow::Result<Self> {
        let setting = "AFTERCARE__PUSH__FCM_SERVICE_ACCOUNT_FILE";
        let text = std::fs::read_to_string(path).with_context(|| format!("{setting}: cannot read the file"))?;
        let account: ServiceAccount =
            serde_json::from_str(&text).with_context(|| format!("{setting}: not a service-account JSON key"))?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .with_context(|| format!("{setting}: private_key is not an RSA key in PEM"))?;
        url::Url::parse(&account.token_uri).with_context(|| format!("{setting}: token_uri is not a URL"))?;
        Ok(Self {
            client: super::client(timeout, false)?,
            send_url: format!("{}/v1/projects/{}/messages:send", base_url.trim_end_matches('/'), account.project_id),
            client_email: account.client_email,
            key_id: account.private_key_id,
            token_uri: account.token_uri,
            key,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// A valid access token: the cached one, or a new one from the token URI (one request at a
    /// time; the others wait for it).
    async fn access_token(&self) -> Result<String, PushError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.renew_at > Instant::now()
        {
            return Ok(t.value.clone());
        }
        let iat = chrono::Utc::now().timestamp();
        let grant = Grant { iss: &self.client_email, scope: SCOPE, aud: &self.token_uri, iat, exp: iat + 3600 };
        let header = Header { kid: self.key_id.clone(), ..Header::new(Algorithm::RS256) };
        let assertion = jsonwebtoken::encode(&header, &grant, &self.key)
            .map_err(|e| PushError::Permanent(format!("signing the FCM grant: {e}")))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let res = self
            .client
            .post(&self.token_uri)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        if !status.is_success() {
            // A refused grant (wrong key, revoked account) is retried like an outage: the
            // reminders' push channel fails only after the attempts run out, and a fixed key
            // takes effect at the next attempt.
            return Err(PushError::Transient(format!("FCM token endpoint answered {}", status.as_u16())));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: u64,
        }
        let bytes = res.bytes().await.map_err(transport)?;
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|_| PushError::Transient("FCM token endpoint answered no token".into()))?;
        let lifetime = std::time::Duration::from_secs(answer.expires_in.saturating_sub(60));
        *cached = Some(AccessToken { value: answer.access_token.clone(), renew_at: Instant::now() + lifetime });
        Ok(answer.access_token)
    }

    pub async fn send(&self, token: &str, n: &Notification) -> Result<(), PushError> {
        let access = self.access_token().await?;
        let body = json!({
            "message": {
                "token": token,
                "notification": {"title": n.title, "body": n.body},
                "data": {"reminder_id": n.reminder_id, "kind": n.kind},
                "android": {
                    "collapse_key": n.collapse_id,
                    "priority": "HIGH",
                    "ttl": format!("{}s", (n.expires_at - chrono::Utc::now()).num_seconds().clamp(0, 2_419_200)),
                },
            }
        });
        let res = self
            .client
            .post(&self.send_url)
            .bearer_auth(access)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let answer: Value = res.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let code = error_code(&answer);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            *self.token.lock().await = None;
            return Err(PushError::Transient("FCM refused the access token".into()));
        }
        let refused_token = code.as_deref() == Some("UNREGISTERED")
            || (code.as_deref() == Some("INVALID_ARGUMENT") && names_token(&answer));
        if refused_token {
            return Err(PushError::InvalidToken(format!("FCM {}", code.unwrap_or_default())));
        }
        Err(by_status(status, format!("FCM answered {} {}", status.as_u16(), code.unwrap_or_default())))
    }
}

/// The FCM error code of an answer: `details[].errorCode` of the FcmError, else `error.status`.
fn error_code(answer: &Value) -> Option<String> {
    let error = answer.get("error")?;
    let detail = error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|details| details.iter().find_map(|d| d.get("errorCode").and_then(Value::as_str).map(str::to_owned)));
    detail.or_else(|| error.get("status").and_then(Value::as_str).map(str::to_owned))
}

/// Whether an INVALID_ARGUMENT answer is about the token (a field violation on `message.token`,
/// or FCM's message saying so) rather than about the payload.
fn names_token(answer: &Value) -> bool {
    let Some(error) = answer.get("error") else { return false };
    let on_token = error.get("details").and_then(Value::as_array).is_some_and(|details| {
        details.iter().any(|d| {
            d.get("fieldViolations").and_then(Value::as_array).is_some_and(|violations| {
                violations.iter().any(|v| v.get("field").and_then(Value::as_str) == Some("message.token"))
            })
        })
    });
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
    on_token || message.contains("registration token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_fcm_error_detail() {
        let unregistered = json!({"error": {"code": 404, "status": "NOT_FOUND", "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}});
        assert_eq!(error_code(&unregistered).as_deref(), Some("UNREGISTERED"));
        let bad_token = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token", "details": [
            {"@type": "type.googleapis.com/google.rpc.BadRequest",
             "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]}]}});
        assert_eq!(error_code(&bad_token).as_deref(), Some("INVALID_ARGUMENT"));
        assert!(names_token(&bad_token));
        let bad_payload =
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload"}});
        assert!(!names_token(&bad_payload));
        assert_eq!(error_code(&json!({})), None);
    }
}
