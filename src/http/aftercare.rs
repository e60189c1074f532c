//! The patient's aftercare in the app: reminders (snooze, done), check-ins, serum logs; and the
//! same records for staff under a patient; adherence per session.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    db::{DbConnection, from_db, to_db},
    domain::protocol::Step,
    error::{ApiError, ApiResult, ErrorCode},
    http::{
        extract::{AuthUser, Json},
        json::{self, Fast, JsonWriter, RawJson, WriteJson},
    },
    repo::{
        protocols,
        reminders::{self, Reminder, ReminderItem},
    },
    services::{
        access,
        audit::{self, Action},
        checkins::{self, AdherenceView, CheckinView, CreateCheckin, CreateSerumApplication, SerumApplicationView},
        patients,
        reminders::StepCache,
    },
    state::AppState,
};

type Problem = crate::error::Problem;

#[derive(Debug, Serialize, ToSchema)]
pub struct ReminderView {
    pub id: String,
    pub session_id: String,
    pub step_key: String,
    /// `serum`, `checkin`, `sun_protection`, `avoid`, `activity`, `next_session`.
    pub kind: String,
    #[schema(value_type = String)]
    pub title: RawJson,
    #[schema(value_type = String)]
    pub message: RawJson,
    #[schema(value_type = Vec<String>)]
    pub avoid: RawJson,
    /// App action, e.g. `log_serum`, `checkin`.
    #[schema(value_type = Option<String>)]
    pub action: Option<RawJson>,
    /// When the protocol placed it.
    #[serde(serialize_with = "json::instant")]
    pub planned_at: DateTime<Utc>,
    /// When it will go (after snoozes and retries).
    #[serde(serialize_with = "json::instant")]
    pub due_at: DateTime<Utc>,
    /// `scheduled`, `sending`, `sent`, `skipped`, `cancelled`, `failed`.
    pub status: String,
    /// Why it was skipped or cancelled (`goal_met`, `no_consent`, `done`, …).
    pub status_reason: Option<String>,
    #[serde(serialize_with = "json::instant_opt")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "json::instant_opt")]
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemindersView {
    /// Scheduled ones, soonest first.
    pub upcoming: Vec<ReminderView>,
    /// Sent, skipped, cancelled or failed ones, latest first.
    pub past: Vec<ReminderView>,
}

impl WriteJson for ReminderView {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"id\":");
        out.str(&self.id);
        out.raw(",\"session_id\":");
        out.str(&self.session_id);
        out.raw(",\"step_key\":");
        out.str(&self.step_key);
        out.raw(",\"kind\":");
        out.str(&self.kind);
        out.raw(",\"title\":");
        out.raw(self.title.get());
        out.raw(",\"message\":");
        out.raw(self.message.get());
        out.raw(",\"avoid\":");
        out.raw(self.avoid.get());
        out.raw(",\"action\":");
        out.raw(self.action.as_ref().map_or("null", RawJson::get));
        out.raw(",\"planned_at\":");
        out.instant(&self.planned_at);
        out.raw(",\"due_at\":");
        out.instant(&self.due_at);
        out.raw(",\"status\":");
        out.str(&self.status);
        out.raw(",\"status_reason\":");
        out.opt_str(self.status_reason.as_deref());
        out.raw(",\"sent_at\":");
        out.opt_instant(self.sent_at.as_ref());
        out.raw(",\"done_at\":");
        out.opt_instant(self.done_at.as_ref());
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        448 + self.title.get().len() + self.message.get().len() + self.avoid.get().len()
    }
}

impl WriteJson for RemindersView {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"upcoming\":");
        out.list(&self.upcoming);
        out.raw(",\"past\":");
        out.list(&self.past);
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        self.upcoming.iter().chain(&self.past).map(|r| r.size_hint() + 1).sum::<usize>() + 32
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReminderParams {
    /// How many of each (upcoming, past), 1–200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeReminder {
    /// 5 to 1440 minutes from now.
    #[schema(minimum = 5, maximum = 1440)]
    pub minutes: u32,
}

/// Views of reminders whose protocols are in the cache (see [`cache_protocols`]).
fn reminder_views(state: &AppState, rows: Vec<ReminderItem>) -> Vec<ReminderView> {
    rows.into_iter()
        .map(|r| {
            let steps = state.step_cache.get(&r.protocol_id);
            let step = steps.as_deref().and_then(|s| s.iter().find(|s| s.key == r.step_key));
            ReminderView {
                title: step.map(|s| s.title.clone()).unwrap_or_else(|| RawJson::of("")),
                message: step.map(|s| s.message.clone()).unwrap_or_else(|| RawJson::of("")),
                avoid: step.map(|s| s.avoid.clone()).unwrap_or_else(|| RawJson::of(&[] as &[String])),
                action: step.and_then(|s| s.action.clone()),
                planned_at: from_db(r.planned_at),
                due_at: from_db(r.due_at),
                sent_at: r.sent_at.map(from_db),
                done_at: r.done_at.map(from_db),
                id: r.id,
                session_id: r.session_id,
                step_key: r.step_key,
                kind: r.kind,
                status: r.status,
                status_reason: r.status_reason,
            }
        })
        .collect()
}

/// Reads the protocols of `rows` that the cache does not hold yet (on the caller's connection).
fn cache_protocols<'a>(
    c: &mut DbConnection,
    cache: &StepCache,
    protocol_ids: impl Iterator<Item = &'a str>,
) -> diesel::QueryResult<()> {
    let mut ids: Vec<&str> = protocol_ids.filter(|id| cache.get(id).is_none()).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        if let Some(p) = protocols::find_protocol(c, id)? {
            cache.insert(p.id.clone(), &serde_json::from_str::<Vec<Step>>(&p.steps).unwrap_or_default());
        }
    }
    Ok(())
}

/// One reminder's view (after a snooze or done).
async fn reminder_view(state: &AppState, r: Reminder) -> ApiResult<ReminderView> {
    let cache = state.step_cache.clone();
    let r = state
        .db
        .run(move |c| {
            cache_protocols(c, &cache, std::iter::once(r.protocol_id.as_str()))?;
            Ok(ReminderItem::from(r))
        })
        .await?;
    reminder_views(state, vec![r]).into_iter().next().ok_or_else(ApiError::not_found)
}

/// A patient's reminders, read with one connection: both lists, each filtered by the caller's
/// scope (their own record, or a patient of the staff member's clinic), and any protocol not
/// cached yet.
async fn reminders_of(
    state: &AppState,
    user: &AuthUser,
    staff_patient: Option<&str>,
    limit: Option<u32>,
) -> ApiResult<RemindersView> {
    let limit = i64::from(limit.unwrap_or(50));
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "limit must be between 1 and 200"));
    }
    let (u, staff_patient, cache) = (user.clone(), staff_patient.map(str::to_owned), state.step_cache.clone());
    let (patient_id, up, past) = state
        .db
        .run(move |c| {
            let Some(scope) = access::scope(&u, staff_patient.as_deref()) else { return Ok(None) };
            let (up, past) = reminders::find_lists(c, scope, limit)?;
            let named = up.first().or(past.first()).map(|r| r.patient_id.as_str());
            let Some(patient_id) = access::scoped_patient_id(c, &u, staff_patient.as_deref(), named)? else {
                return Ok(None);
            };
            cache_protocols(c, &cache, up.iter().chain(&past).map(|r| r.protocol_id.as_str()))?;
            Ok(Some((patient_id, up, past)))
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.audit.record(audit::event(user, Action::List, "reminder", None, Some(&patient_id), state.now())).await;
    Ok(RemindersView { upcoming: reminder_views(state, up), past: reminder_views(state, past) })
}

/// The patient's reminders: upcoming and past, with their status.
#[utoipa::path(get, path = "/api/v1/me/reminders", tag = "me", security(("bearer" = [])), params(ReminderParams),
    responses((status = 200, body = RemindersView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_reminders(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ReminderParams>,
) -> ApiResult<Fast<RemindersView>> {
    Ok(Fast(reminders_of(&state, &user, None, q.limit).await?))
}

/// A patient's reminders (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/reminders", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path), ReminderParams), responses((status = 200, body = RemindersView),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_reminders(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<ReminderParams>,
) -> ApiResult<Fast<RemindersView>> {
    Ok(Fast(reminders_of(&state, &user, Some(&id), q.limit).await?))
}

async fn own_reminder(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Reminder> {
    let patient = patients::own(state, user).await?;
    let id = id.to_owned();
    let r = state.db.run(move |c| reminders::find_reminder(c, &id)).await?;
    r.filter(|r| r.patient_id == patient.id).ok_or_else(ApiError::not_found)
}

/// Snoozes a scheduled reminder by 5 minutes to 24 hours.
#[utoipa::path(post, path = "/api/v1/me/reminders/{id}/snooze", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SnoozeReminder, responses((status = 200, body = ReminderView),
    (status = 404, description = "Not your reminder", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Already sent, skipped or cancelled", body = Problem, content_type = "application/problem+json")))]
pub async fn snooze_reminder(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    Json(body): Json<SnoozeReminder>,
) -> ApiResult<web::Json<ReminderView>> {
    if !(5..=1440).contains(&body.minutes) {
        return Err(ApiError::invalid("minutes", "must be 5 to 1440"));
    }
    let r = own_reminder(&state, &user, &id).await?;
    let now = state.now();
    let until = now + Duration::minutes(i64::from(body.minutes));
    let rid = r.id.clone();
    let updated = state
        .db
        .write(move |c| -> ApiResult<Reminder> {
            if !reminders::snooze(c, &rid, to_db(until), to_db(now))? {
                return Err(ApiError::code(ErrorCode::ReminderNotPending));
            }
            reminders::find_reminder(c, &rid)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(web::Json(reminder_view(&state, updated).await?))
}

/// Marks a reminder done: if it has not gone out yet, it will be skipped.
#[utoipa::path(post, path = "/api/v1/me/reminders/{id}/done", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ReminderView),
    (status = 404, description = "Not your reminder", body = Problem, content_type = "application/problem+json")))]
pub async fn complete_reminder(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<ReminderView>> {
    let r = own_reminder(&state, &user, &id).await?;
    let now = state.now();
    let rid = r.id.clone();
    let updated = state
        .db
        .write(move |c| -> ApiResult<Reminder> {
            reminders::mark_done(c, &rid, to_db(now))?;
            reminders::find_reminder(c, &rid)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(web::Json(reminder_view(&state, updated).await?))
}

/// Reports how the skin is recovering; may raise alerts for the clinic.
#[utoipa::path(post, path = "/api/v1/me/checkins", tag = "me", security(("bearer" = [])),
    request_body = CreateCheckin, responses((status = 201, body = CheckinView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_my_checkin(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateCheckin>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(checkins::create_checkin(&state, &user, &patient, body).await?))
}

/// The patient's own check-ins, newest first.
#[utoipa::path(get, path = "/api/v1/me/checkins", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Vec<CheckinView>),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_checkins(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Vec<CheckinView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(checkins::list_checkins(&state, &user, &patient).await?))
}

/// Logs a serum application (this is what makes serum reminders unnecessary).
#[utoipa::path(post, path = "/api/v1/me/serum-applications", tag = "me", security(("bearer" = [])),
    request_body = CreateSerumApplication, responses((status = 201, body = SerumApplicationView),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn create_my_serum_application(
    state: web::Data<AppState>,
    user: AuthUser,
    Json(body): Json<CreateSerumApplication>,
) -> ApiResult<HttpResponse> {
    let patient = patients::own(&state, &user).await?;
    Ok(HttpResponse::Created().json(checkins::create_serum(&state, &user, &patient, body).await?))
}

/// The patient's own serum log, newest first.
#[utoipa::path(get, path = "/api/v1/me/serum-applications", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Vec<SerumApplicationView>),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_serum_applications(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Vec<SerumApplicationView>>> {
    let patient = patients::own(&state, &user).await?;
    Ok(web::Json(checkins::list_serum(&state, &user, &patient).await?))
}

/// A patient's check-ins (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/checkins", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<CheckinView>),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_checkins(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<Vec<CheckinView>>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(checkins::list_checkins(&state, &user, &patient).await?))
}

/// A patient's serum log (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/serum-applications", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<SerumApplicationView>),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_serum_applications(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<Vec<SerumApplicationView>>> {
    let patient = patients::load_for_staff(&state, &user, &id).await?;
    Ok(web::Json(checkins::list_serum(&state, &user, &patient).await?))
}

/// Serum adherence for one session: logged vs planned applications.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/adherence", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AdherenceView),
    (status = 404, description = "Not in your scope", body = Problem, content_type = "application/problem+json")))]
pub async fn get_session_adherence(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<AdherenceView>> {
    Ok(web::Json(checkins::adherence(&state, &user, &id).await?))
}
