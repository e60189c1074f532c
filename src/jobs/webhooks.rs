//! `deliver_due_webhooks`: one pass of webhook deliveries, through the same lease-and-retry
//! shape as reminders. Each request is signed the Standard Webhooks way: headers `webhook-id`
//! (the event id, the same on every attempt), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, with a second `v1,`
//! signature by the previous secret during a rotation's grace period. A 2xx answer delivers;
//! anything else retries with exponential backoff until the last attempt fails the delivery.
//! A target inside the network (`security::ssrf`) is never contacted: the delivery fails at once
//! with one fixed reason, and logs say only "target refused".

use std::{collections::HashMap, time::Instant};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;

use crate::{
    config::WebhookSettings,
    db::{DbError, from_db, new_id, to_db},
    jobs::dispatch::backoff,
    repo::webhooks::{self, Attempt, Delivery, Endpoint},
    security::ssrf,
    state::AppState,
    telemetry::metrics,
};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    /// Of the failed, those whose target was inside the network (never contacted).
    pub refused: usize,
    /// Outcomes not recorded because the lease ran out and another sender took the row.
    pub lost_lease: usize,
}

const BATCH: i64 = 50;
const CONCURRENCY: usize = 8;

/// The HTTP client deliveries go through: the receiver must answer within the timeout,
/// redirects are not followed (a signed body goes only where the admin registered), no proxy is
/// used (it would resolve names itself), and names resolve to public addresses only unless
/// private targets are allowed.
pub fn client(settings: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(settings.timeout_secs))
        .connect_timeout(std::time::Duration::from_secs(settings.timeout_secs.min(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Aftercare-Webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if settings.allow_private_targets { builder } else { builder.dns_resolver(ssrf::PublicOnly) };
    Ok(builder.build()?)
}

/// The Standard Webhooks signature of `body` with `secret` (`whsec_<base64 key>`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key =
        secret.strip_prefix("whsec_").and_then(|k| b64.decode(k).ok()).unwrap_or_else(|| secret.as_bytes().to_vec());
    let mac = crate::security::links::hmac(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", b64.encode(mac))
}

/// The `webhook-signature` header: the current secret, plus the previous one while it is valid.
pub fn signature_header(endpoint: &Endpoint, id: &str, timestamp: i64, body: &str, now: DateTime<Utc>) -> String {
    let mut header = sign(&endpoint.secret, id, timestamp, body);
    if let (Some(prev), Some(until)) = (&endpoint.previous_secret, endpoint.previous_expires_at)
        && from_db(until) > now
    {
        header.push(' ');
        header.push_str(&sign(prev, id, timestamp, body));
    }
    header
}

enum Outcome {
    Delivered,
    Retried,
    Failed,
    Refused,
    LostLease,
}

impl Outcome {
    /// What `/metrics` counts of it (a refused target is a failure; a lost row is not counted).
    fn counted(&self) -> Option<metrics::Outcome> {
        match self {
            Self::Delivered => Some(metrics::Outcome::Sent),
            Self::Retried => Some(metrics::Outcome::Retried),
            Self::Failed | Self::Refused => Some(metrics::Outcome::Failed),
            Self::LostLease => None,
        }
    }
}

/// Runs one pass at `now`.
pub async fn deliver_due_webhooks(state: &AppState, now: DateTime<Utc>) -> Result<WebhookReport, DbError> {
    let lease_secs = i64::try_from(state.settings.webhooks.timeout_secs).unwrap_or(60).saturating_mul(4).max(10);
    let lease_until = now + Duration::seconds(lease_secs);
    let claimed = state
        .db
        .write(move |c| -> Result<Vec<Delivery>, DbError> {
            Ok(webhooks::claim_due(c, to_db(now), to_db(lease_until), BATCH)?)
        })
        .await?;
    let mut report = WebhookReport { claimed: claimed.len(), ..Default::default() };
    if claimed.is_empty() {
        return Ok(report);
    }
    let mut ids: Vec<String> = claimed.iter().map(|d| d.endpoint_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let endpoints: HashMap<String, Endpoint> = state
        .db
        .run(move |c| {
            let mut out = HashMap::new();
            for id in ids {
                if let Some(e) = webhooks::find_endpoint_by_id(c, &id)? {
                    out.insert(id, e);
                }
            }
            Ok(out)
        })
        .await?;
    let endpoints = &endpoints;
    let outcomes: Vec<Result<Outcome, DbError>> = stream::iter(claimed)
        .map(|d| async move { deliver_one(state, endpoints.get(&d.endpoint_id), d, now, lease_until).await })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for outcome in outcomes {
        let outcome = outcome?;
        if let Some(counted) = outcome.counted() {
            state.metrics.webhook_delivery(counted);
        }
        match outcome {
            Outcome::Delivered => report.delivered += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Refused => {
                report.failed += 1;
                report.refused += 1;
            }
            Outcome::LostLease => report.lost_lease += 1,
        }
    }
    tracing::info!(
        webhooks.claimed = report.claimed,
        webhooks.delivered = report.delivered,
        webhooks.retried = report.retried,
        webhooks.failed = report.failed,
        webhooks.refused = report.refused,
        "webhook pass"
    );
    Ok(report)
}

async fn deliver_one(
    state: &AppState,
    endpoint: Option<&Endpoint>,
    d: Delivery,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Outcome, DbError> {
    let Some(endpoint) = endpoint.filter(|e| e.active) else {
        return record(state, d, None, Some("the endpoint is disabled".into()), 0, now, true).await;
    };
    if literal_refused(state, &endpoint.url) {
        return refuse(state, d, endpoint, now).await;
    }
    let timestamp = now.timestamp();
    let signature = signature_header(endpoint, &d.event_id, timestamp, &d.payload, now);
    let started = Instant::now();
    let sent = state
        .webhook_client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    let took = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    if state.now() >= lease_until {
        // Past the lease another sender may hold the row: do not record over it.
        return Ok(Outcome::LostLease);
    }
    if let Err(e) = &sent
        && ssrf::was_refused(e)
    {
        return refuse(state, d, endpoint, now).await;
    }
    let (code, error) = match sent {
        Ok(resp) if resp.status().is_success() => (Some(i32::from(resp.status().as_u16())), None),
        Ok(resp) => (Some(i32::from(resp.status().as_u16())), Some(format!("the receiver answered {}", resp.status()))),
        Err(e) if e.is_timeout() => (None, Some("the receiver did not answer in time".to_owned())),
        Err(e) if e.is_connect() => (None, Some("could not connect to the receiver".to_owned())),
        Err(e) => (None, Some(format!("request failed: {}", without_url(&e)))),
    };
    let last = d.attempts >= state.settings.webhooks.max_attempts;
    record(state, d, code, error, took, now, last).await
}

/// Whether the endpoint's host is an IP literal inside the network: the client connects to a
/// literal without asking the resolver, so it is checked here.
fn literal_refused(state: &AppState, url: &str) -> bool {
    !state.settings.webhooks.allow_private_targets
        && !url::Url::parse(url).is_ok_and(|u| ssrf::check_literal(&u).is_ok())
}

/// Fails a delivery whose target is inside the network, with the one fixed reason: nothing that
/// would tell an open port from a closed one reaches the log view, the logs or the report.
async fn refuse(state: &AppState, d: Delivery, endpoint: &Endpoint, now: DateTime<Utc>) -> Result<Outcome, DbError> {
    tracing::warn!(webhook.id = %endpoint.id, delivery.id = %d.id, "webhook target refused");
    let outcome = record(state, d, None, Some(ssrf::REFUSED.to_owned()), 0, now, true).await?;
    Ok(if matches!(outcome, Outcome::Failed) { Outcome::Refused } else { outcome })
}

fn without_url(e: &reqwest::Error) -> String {
    // The URL may carry a clinic's token in its query: keep it out of logs and the log view.
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}

/// Records an attempt and the delivery's new state, if this sender still holds it.
async fn record(
    state: &AppState,
    d: Delivery,
    code: Option<i32>,
    error: Option<String>,
    took_ms: i32,
    now: DateTime<Utc>,
    give_up: bool,
) -> Result<Outcome, DbError> {
    let (status, due, outcome) = match (&error, give_up) {
        (None, _) => ("delivered", now, Outcome::Delivered),
        (Some(_), true) => ("failed", now, Outcome::Failed),
        (Some(_), false) => {
            ("pending", now + backoff(state.settings.webhooks.backoff_base_secs, d.attempts), Outcome::Retried)
        }
    };
    let attempt = Attempt {
        id: new_id(),
        delivery_id: d.id.clone(),
        attempted_at: to_db(now),
        status_code: code,
        error: error.clone(),
        duration_ms: took_ms,
    };
    let held = state
        .db
        .write(move |c| -> Result<bool, DbError> {
            if !webhooks::finish_claim(c, &d, status, code, error.as_deref(), to_db(due), to_db(now))? {
                return Ok(false);
            }
            webhooks::insert_attempt(c, &attempt)?;
            Ok(true)
        })
        .await?;
    Ok(if held { outcome } else { Outcome::LostLease })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
