//! Webhooks for clinic systems: admins register endpoints and pick events; an event becomes one
//! delivery row per subscribed endpoint, written in the same transaction as the change it
//! reports (so an event is never announced for a change that rolled back, nor lost for one that
//! committed). `jobs::webhooks` sends them.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, from_db, new_id, to_db},
    error::{ApiError, ApiResult},
    repo::webhooks::{self, Attempt, Delivery, Endpoint, EndpointChanges},
    security::caller::AuthUser,
    security::{random_token, ssrf},
    services::validation::{Checks, double_option, each_once, text},
    state::AppState,
    wire::pagination::{Page, PageParams, fetch_limit},
};

/// How long the previous secret keeps signing (beside the new one) after a rotation.
pub const ROTATION_GRACE_HOURS: i64 = 24;

/// What a clinic system can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// An alert was raised for a clinician (escalation, photo redness, missed check-ins, failed reminder).
    #[serde(rename = "alert.created")]
    AlertCreated,
    /// A patient sent a check-in.
    #[serde(rename = "checkin.created")]
    CheckinCreated,
    /// A treatment session was recorded.
    #[serde(rename = "session.created")]
    SessionCreated,
    /// A reminder could not be emailed after its last attempt.
    #[serde(rename = "reminder.failed")]
    ReminderFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AlertCreated => "alert.created",
            EventType::CheckinCreated => "checkin.created",
            EventType::SessionCreated => "session.created",
            EventType::ReminderFailed => "reminder.failed",
        }
    }
}

/// A webhook endpoint. `secret` appears only when it is created or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<EventType>,
    pub active: bool,
    /// The signing secret (`whsec_…`, Standard Webhooks format): shown once, on create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// After a rotation, deliveries carry a second signature with the previous secret until then.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://…` (or `http://`). It must be a public address: loopback, private, link-local and
    /// other internal addresses (or names resolving to them) are refused unless the install allows
    /// private targets.
    #[schema(
        example = "https://crm.example-clinic.com/hooks/aftercare",
        max_length = 2000,
        pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?([/?#][!-~]*)?$"
    )]
    pub url: String,
    /// At least one event.
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub description: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// Changes to an endpoint; `null` clears the description.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(max_length = 2000, pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?([/?#][!-~]*)?$")]
    pub url: Option<String>,
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 500, pattern = r"\S")]
    pub description: Option<Option<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// Why the attempt failed (connection refused, timeout, non-2xx, or a target inside the
    /// network, which is never contacted).
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// One event sent to one endpoint, with every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` header: the same on every attempt and re-send, for de-duplication.
    pub event_id: String,
    pub event_type: EventType,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The JSON body sent.
    pub payload: serde_json::Value,
    pub attempt_log: Vec<AttemptView>,
}

fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn events_of(e: &Endpoint) -> Vec<EventType> {
    serde_json::from_str(&e.events).unwrap_or_default()
}

pub fn view(e: &Endpoint, secret: Option<String>) -> WebhookView {
    WebhookView {
        id: e.id.clone(),
        url: e.url.clone(),
        description: e.description.clone(),
        events: events_of(e),
        active: e.active,
        secret,
        previous_secret_expires_at: e.previous_expires_at.map(from_db),
        created_at: from_db(e.created_at),
        updated_at: from_db(e.updated_at),
    }
}

pub fn delivery_view(d: Delivery, attempts: Vec<Attempt>) -> ApiResult<DeliveryView> {
    Ok(DeliveryView {
        event_type: serde_json::from_value(serde_json::Value::String(d.event_type.clone()))
            .map_err(ApiError::internal)?,
        payload: serde_json::from_str(&d.payload).map_err(ApiError::internal)?,
        next_attempt_at: (d.status == "pending").then(|| from_db(d.due_at)),
        delivered_at: d.delivered_at.map(from_db),
        created_at: from_db(d.created_at),
        attempt_log: attempts
            .into_iter()
            .map(|a| AttemptView {
                attempted_at: from_db(a.attempted_at),
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect(),
        id: d.id,
        endpoint_id: d.endpoint_id,
        event_id: d.event_id,
        status: d.status,
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
    })
}

fn check_url(raw: &str) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.len() > 2000 {
        return Err("is longer than 2000 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("must be an http or https URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; authenticate the signature instead".into());
    }
    Ok(url)
}

/// The URL checked for form, then for where it points (unless private targets are allowed).
async fn checked_url(state: &AppState, c: &mut Checks, raw: &str) -> Option<String> {
    let url = c.check("url", check_url(raw))?;
    if !state.settings.webhooks.allow_private_targets && ssrf::check_registration(&url).await.is_err() {
        c.fail("url", "must be a public address: loopback, private and other internal addresses are refused");
        return None;
    }
    Some(url.to_string())
}

fn check_events(events: &[EventType]) -> Result<String, String> {
    if events.is_empty() {
        return Err("must name at least one event".into());
    }
    serde_json::to_string(&each_once(events)).map_err(|e| e.to_string())
}

pub async fn create(state: &AppState, user: &AuthUser, body: CreateWebhook) -> ApiResult<WebhookView> {
    user.require_admin()?;
    let mut c = Checks::default();
    let url = checked_url(state, &mut c, &body.url).await;
    let events = c.check("events", check_events(&body.events));
    let description = body.description.as_deref().and_then(|d| c.check("description", text(d, 500)));
    c.finish()?;
    let (Some(url), Some(events)) = (url, events) else { return Err(ApiError::invalid("url", "is required")) };
    let now = to_db(state.now());
    let secret = new_secret();
    let endpoint = Endpoint {
        id: new_id(),
        clinic_id: user.clinic_id.clone(),
        url,
        description,
        events,
        active: body.active.unwrap_or(true),
        secret: secret.clone(),
        previous_secret: None,
        previous_expires_at: None,
        created_by: Some(user.account_id.clone()),
        created_at: now,
        updated_at: now,
    };
    let e2 = endpoint.clone();
    state.db.write(move |c| -> ApiResult<()> { Ok(webhooks::insert_endpoint(c, &e2)?) }).await?;
    tracing::info!(webhook.id = %endpoint.id, "webhook endpoint registered");
    Ok(view(&endpoint, Some(secret)))
}

pub async fn load(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Endpoint> {
    user.require_admin()?;
    let (clinic, id) = (user.clinic_id.clone(), id.to_owned());
    state.db.run(move |c| webhooks::find_endpoint(c, &clinic, &id)).await?.ok_or_else(ApiError::not_found)
}

pub async fn list(state: &AppState, user: &AuthUser, q: &PageParams) -> ApiResult<Page<WebhookView>> {
    user.require_admin()?;
    let (limit, after) = q.resolve()?;
    let clinic = user.clinic_id.clone();
    let rows =
        state.db.run(move |c| webhooks::page_endpoints(c, &clinic, after.as_deref(), fetch_limit(limit))).await?;
    Ok(Page::from_rows(rows, limit, |e| e.id.as_str(), |e| view(&e, None)))
}

pub async fn update(state: &AppState, user: &AuthUser, id: &str, body: UpdateWebhook) -> ApiResult<WebhookView> {
    let endpoint = load(state, user, id).await?;
    let mut c = Checks::default();
    let url = match body.url.as_deref() {
        Some(u) => checked_url(state, &mut c, u).await,
        None => None,
    };
    let events = body.events.as_deref().and_then(|e| c.check("events", check_events(e)));
    let description = match &body.description {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => c.check("description", text(d, 500)).map(Some),
    };
    c.finish()?;
    let changes = EndpointChanges {
        url,
        description,
        events,
        active: body.active,
        updated_at: Some(to_db(state.now())),
        ..Default::default()
    };
    let updated = state
        .db
        .write(move |c| -> ApiResult<Endpoint> { Ok(webhooks::update_endpoint(c, &endpoint.id, &changes)?) })
        .await?;
    Ok(view(&updated, None))
}

pub async fn delete(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<()> {
    let endpoint = load(state, user, id).await?;
    state.db.write(move |c| -> ApiResult<usize> { Ok(webhooks::delete_endpoint(c, &endpoint.id)?) }).await?;
    Ok(())
}

/// A new secret; the previous one keeps signing beside it for [`ROTATION_GRACE_HOURS`].
pub async fn rotate_secret(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<WebhookView> {
    let endpoint = load(state, user, id).await?;
    let now = state.now();
    let secret = new_secret();
    let changes = EndpointChanges {
        secret: Some(secret.clone()),
        previous_secret: Some(Some(endpoint.secret.clone())),
        previous_expires_at: Some(Some(to_db(now + Duration::hours(ROTATION_GRACE_HOURS)))),
        updated_at: Some(to_db(now)),
        ..Default::default()
    };
    let updated = state
        .db
        .write(move |c| -> ApiResult<Endpoint> { Ok(webhooks::update_endpoint(c, &endpoint.id, &changes)?) })
        .await?;
    tracing::info!(webhook.id = %updated.id, "webhook secret rotated");
    Ok(view(&updated, Some(secret)))
}

/// A page of an endpoint's delivery log, newest first, each delivery with its attempts.
pub async fn deliveries(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    cursor: Option<String>,
    limit: i64,
) -> ApiResult<Page<DeliveryView>> {
    let endpoint = load(state, user, id).await?;
    let (rows, attempts) = state
        .db
        .run(move |c| {
            let rows = webhooks::find_deliveries(c, &endpoint.id, cursor.as_deref(), fetch_limit(limit))?;
            let ids: Vec<String> = rows.iter().map(|d| d.id.clone()).collect();
            Ok((rows, webhooks::find_attempts(c, &ids)?))
        })
        .await?;
    let mut by_delivery: std::collections::HashMap<String, Vec<Attempt>> = std::collections::HashMap::new();
    for a in attempts {
        by_delivery.entry(a.delivery_id.clone()).or_default().push(a);
    }
    let views = rows
        .into_iter()
        .map(|d| {
            let a = by_delivery.remove(&d.id).unwrap_or_default();
            delivery_view(d, a)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(views, limit, |v| &v.id, |v| v))
}

/// Sends a delivery's event again, now, as a new delivery (same event id and body).
pub async fn resend(state: &AppState, user: &AuthUser, delivery_id: &str) -> ApiResult<DeliveryView> {
    user.require_admin()?;
    let (clinic, id, now) = (user.clinic_id.clone(), delivery_id.to_owned(), to_db(state.now()));
    let copy = state
        .db
        .write(move |c| -> ApiResult<Delivery> {
            let original = webhooks::find_delivery(c, &clinic, &id)?.ok_or_else(ApiError::not_found)?;
            let endpoint =
                webhooks::find_endpoint(c, &clinic, &original.endpoint_id)?.ok_or_else(ApiError::not_found)?;
            if !endpoint.active {
                return Err(ApiError::new(crate::error::ErrorCode::Conflict, "the endpoint is disabled"));
            }
            let copy = Delivery {
                id: new_id(),
                status: "pending".into(),
                attempts: 0,
                due_at: now,
                last_status_code: None,
                last_error: None,
                delivered_at: None,
                created_at: now,
                updated_at: now,
                ..original
            };
            webhooks::insert_delivery(c, &copy)?;
            Ok(copy)
        })
        .await?;
    delivery_view(copy, Vec::new())
}

/// Records `event` for every active endpoint of the clinic subscribed to it, inside the caller's
/// transaction. The body is `{id, type, timestamp, clinic_id, data}`; `data` holds ids and
/// clinical facts, never names or contact details.
pub fn enqueue(
    conn: &mut DbConnection,
    clinic_id: &str,
    event: EventType,
    patient_id: Option<&str>,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    let endpoints: Vec<Endpoint> = webhooks::find_endpoints(conn, clinic_id)?
        .into_iter()
        .filter(|e| e.active && events_of(e).contains(&event))
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let event_id = format!("evt_{}", random_token(16));
    let payload = serde_json::json!({
        "id": event_id,
        "type": event.as_str(),
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "clinic_id": clinic_id,
        "data": data,
    })
    .to_string();
    for e in &endpoints {
        webhooks::insert_delivery(
            conn,
            &Delivery {
                id: new_id(),
                clinic_id: clinic_id.to_owned(),
                endpoint_id: e.id.clone(),
                event_id: event_id.clone(),
                event_type: event.as_str().to_owned(),
                patient_id: patient_id.map(str::to_owned),
                payload: payload.clone(),
                status: "pending".into(),
                attempts: 0,
                due_at: to_db(now),
                last_status_code: None,
                last_error: None,
                delivered_at: None,
                created_at: to_db(now),
                updated_at: to_db(now),
            },
        )?;
    }
    Ok(endpoints.len())
}
