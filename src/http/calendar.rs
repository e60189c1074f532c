//! The calendar: the patient's `.ics` and its secret subscription URL.

use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::representation::location;
use crate::{
    domain::Role,
    error::ApiResult,
    http::{extract::AuthUser, idempotency::holding_secret, middleware::RequestId},
    repo::calendar as calendar_repo,
    services::{
        audit::{self, Action},
        calendar, patients, record,
    },
    state::AppState,
};

type Problem = crate::error::Problem;

/// A calendar subscription URL: shown once; calendar apps poll it without logging in.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedCreated {
    /// `https://…/api/v1/me/calendar.ics?token=…`
    pub url: String,
    /// The same as `webcal://`, which phones open in their calendar app.
    pub webcal_url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedStatus {
    /// Whether a subscription URL is live (its token is not shown again).
    pub active: bool,
    pub created_at: Option<DateTime<Utc>>,
}

/// Creates the caller's calendar subscription URL, revoking any earlier one (rotation).
///
/// The URL is shown once: a retry with the same `Idempotency-Key` answers 409
/// `idempotency_secret_withheld` rather than repeat it.
#[utoipa::path(post, path = "/api/v1/me/calendar-feed", tag = "me", security(("bearer" = [])), responses(
    (status = 201, body = CalendarFeedCreated),
    (status = 409, description = "A replay of a created URL (`idempotency_secret_withheld`), or the same Idempotency-Key is still running", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_calendar_feed(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    let (token, created_at) = calendar::rotate(&state, &patient).await?;
    let base = state.settings.server.public_url.trim_end_matches('/');
    let url = format!("{base}/api/v1/me/calendar.ics?token={token}");
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    state.audit.record(audit::event(&user, Action::Create, "calendar_feed", None, Some(&patient.id), created_at)).await;
    let created = HttpResponse::Created()
        .insert_header(location("/api/v1/me/calendar-feed".to_owned()))
        .json(CalendarFeedCreated { url, webcal_url, created_at });
    Ok(holding_secret(created))
}

/// Whether the caller has a live calendar subscription URL.
#[utoipa::path(get, path = "/api/v1/me/calendar-feed", tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = CalendarFeedStatus),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_calendar_feed(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<CalendarFeedStatus>> {
    let patient = patients::own(&state, &user).await?;
    let feed = state.db.run(move |c| calendar_repo::find_active_for_patient(c, &patient.id)).await?;
    Ok(web::Json(CalendarFeedStatus {
        active: feed.is_some(),
        created_at: feed.map(|f| crate::db::from_db(f.created_at)),
    }))
}

/// Revokes the caller's calendar subscription URL.
#[utoipa::path(delete, path = "/api/v1/me/calendar-feed", tag = "me", security(("bearer" = [])), responses(
    (status = 204, description = "Revoked (or there was none)"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_calendar_feed(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    let now = crate::db::to_db(state.now());
    state
        .db
        .write(move |c| -> ApiResult<usize> { Ok(calendar_repo::revoke_for_patient(c, &patient.id, now)?) })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CalendarParams {
    /// The secret from the subscription URL; without it, a patient's bearer token is used.
    pub token: Option<String>,
}

/// The patient's calendar (RFC 5545): sessions, the next session due and upcoming reminders
/// with alarms. Calendar apps use the subscription URL (`?token=`); the app may use its login.
#[utoipa::path(get, path = "/api/v1/me/calendar.ics", tag = "me", security((), ("bearer" = [])), params(CalendarParams),
    responses(
    (status = 200, description = "iCalendar", content_type = "text/calendar", body = String),
    (status = 401, description = "No token and no login", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Unknown or revoked token, or not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn get_calendar(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CalendarParams>,
) -> ApiResult<HttpResponse> {
    let (patient, reader) = match &q.token {
        Some(token) => {
            let patient = calendar::patient_for_token(&state, token).await?;
            // The calendar app reads on the patient's behalf.
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            let reader = AuthUser {
                account_id: patient.account_id.clone().unwrap_or_default(),
                clinic_id: patient.clinic_id.clone(),
                role: Role::Patient,
                request_id,
            };
            (patient, reader)
        }
        None => {
            let user = AuthUser::extract(&req).await?;
            (patients::own(&state, &user).await?, user)
        }
    };
    let now = state.now();
    state.audit.record(audit::event(&reader, Action::Read, "calendar", None, Some(&patient.id), now)).await;
    let rec = state.db.run(move |c| record::load(c, patient)).await?;
    let body = calendar::ics(&rec, now);
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
