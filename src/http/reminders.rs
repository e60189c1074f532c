//! Reminders over HTTP: the patient's list (upcoming and past) and the staff's under a patient;
//! snooze and done.

use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Utc};
use diesel::{
    deserialize::{self, FromSqlRow},
    pg::Pg,
    row::Row,
    sqlite::Sqlite,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    db::{
        DbConnection, from_db,
        raw::{self, LendValues, RawInstant},
        to_db,
    },
    domain::protocol::Step,
    error::{ApiError, ApiResult, ErrorCode},
    http::extract::{AuthUser, Json},
    repo::{
        protocols::{self, StepCache, StepTexts},
        reminders::{self, Reminder},
    },
    services::{
        access,
        audit::{self, Action},
        patients,
    },
    state::AppState,
    wire::{
        json::{self, Fast, JsonWriter, RawJson, WriteJson, Written},
        pagination::{self, PageParams},
    },
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
    /// Pass as `cursor` for the next page of `past` (whose `upcoming` is then empty: the
    /// scheduled ones all came on the first page); absent when `past` is complete.
    pub next_cursor: Option<String>,
}

impl ReminderView {
    /// A reminder with its protocol step's texts (`None`: a step its protocol no longer has).
    fn new(r: Reminder, step: Option<&StepTexts>) -> Self {
        Self {
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
    }
}

/// One row of a reminder list, read straight from the driver's row (as the staff page's
/// `ListedPatientJson`): its own values already written as [`ReminderView`]'s JSON, in two parts
/// around the protocol step's texts (which come from the step cache once the rows are read), and
/// what the list needs to sort the rows and find their steps.
pub struct ListedReminder {
    /// `{"id":…,"kind":…` up to `tail`, then `,"planned_at":…}`.
    json: Written,
    tail: usize,
    /// The id, protocol_id, step_key and patient_id, one after another, each ending at `ends`.
    keys: String,
    ends: [usize; 4],
    upcoming: bool,
    planned_at: i64,
    due_at: i64,
}

impl ListedReminder {
    fn id(&self) -> &str {
        &self.keys[..self.ends[0]]
    }

    fn protocol_id(&self) -> &str {
        &self.keys[self.ends[0]..self.ends[1]]
    }

    fn step_key(&self) -> &str {
        &self.keys[self.ends[1]..self.ends[2]]
    }

    fn patient_id(&self) -> &str {
        &self.keys[self.ends[2]..self.ends[3]]
    }
}

impl FromSqlRow<reminders::ListedSql, Pg> for ListedReminder {
    fn build_from_row<'a>(row: &impl Row<'a, Pg>) -> deserialize::Result<Self> {
        listed_reminder(row)
    }
}

impl FromSqlRow<reminders::ListedSql, Sqlite> for ListedReminder {
    fn build_from_row<'a>(row: &impl Row<'a, Sqlite>) -> deserialize::Result<Self> {
        listed_reminder(row)
    }
}

/// One row of `reminders::ListedSql`, column by column in [`ReminderView`]'s key order.
fn listed_reminder<'a, DB: LendValues>(row: &impl Row<'a, DB>) -> deserialize::Result<ListedReminder> {
    let mut keys = String::with_capacity(96);
    let mut ends = [0; 4];
    for (end, column) in ends.iter_mut().zip([0, 3, 4, 1]) {
        raw::with_text(row, column, |t| t.map(|t| keys.push_str(t)))?.ok_or("a reminder without a key column")?;
        *end = keys.len();
    }
    let instant = |i: usize| -> deserialize::Result<RawInstant> {
        Ok(raw::instant(row, i)?.ok_or("a reminder without a plan or due time")?)
    };
    let (planned_at, due_at) = (instant(6)?, instant(7)?);
    // Room for a typical reminder's own values (about 300 bytes).
    let mut out = JsonWriter::with_capacity(384);
    let text = |out: &mut JsonWriter, i: usize| raw::with_text(row, i, |t| out.opt_str(t));
    out.raw("{\"id\":");
    out.str(&keys[..ends[0]]);
    out.raw(",\"session_id\":");
    text(&mut out, 2)?;
    out.raw(",\"step_key\":");
    out.str(&keys[ends[1]..ends[2]]);
    out.raw(",\"kind\":");
    text(&mut out, 5)?;
    let tail = out.position();
    out.raw(",\"planned_at\":");
    out.raw_instant(planned_at);
    out.raw(",\"due_at\":");
    out.raw_instant(due_at);
    out.raw(",\"status\":");
    let upcoming = raw::with_text(row, 8, |t| {
        out.opt_str(t);
        matches!(t, Some("scheduled" | "sending"))
    })?;
    out.raw(",\"status_reason\":");
    text(&mut out, 9)?;
    for (key, column) in [(",\"sent_at\":", 10), (",\"done_at\":", 11)] {
        out.raw(key);
        match raw::instant(row, column)? {
            Some(at) => out.raw_instant(at),
            None => out.raw("null"),
        }
    }
    out.raw("}");
    Ok(ListedReminder {
        json: out.finish_written()?,
        tail,
        keys,
        ends,
        upcoming,
        planned_at: planned_at.unix_micros(),
        due_at: due_at.unix_micros(),
    })
}

/// A reminder list written from its rows: [`RemindersView`]'s JSON.
pub struct ListedReminders {
    upcoming: Vec<ListedReminder>,
    past: Vec<ListedReminder>,
    /// The steps of the rows' protocols (a patient's reminders come from one or a few).
    steps: Vec<(String, Arc<Vec<StepTexts>>)>,
    next_cursor: Option<String>,
}

impl ListedReminders {
    /// The rows in their lists and order; `steps` finds a protocol's steps.
    fn new(rows: Vec<ListedReminder>, mut steps: impl FnMut(&str) -> Option<Arc<Vec<StepTexts>>>) -> Self {
        let (mut upcoming, mut past): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.upcoming);
        // A union's order is its halves' in practice, but SQL does not promise it.
        upcoming.sort_by(|a, b| (a.due_at, a.id()).cmp(&(b.due_at, b.id())));
        past.sort_by(|a, b| (b.planned_at, b.id()).cmp(&(a.planned_at, a.id())));
        let mut found: Vec<(String, Arc<Vec<StepTexts>>)> = Vec::new();
        for r in upcoming.iter().chain(&past) {
            if !found.iter().any(|(id, _)| id == r.protocol_id())
                && let Some(s) = steps(r.protocol_id())
            {
                found.push((r.protocol_id().to_owned(), s));
            }
        }
        Self { upcoming, past, steps: found, next_cursor: None }
    }

    /// Keeps `limit` past ones (read with one more) and names where the next page starts.
    fn page_past(mut self, limit: i64) -> Self {
        let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
        if self.past.len() > page_size {
            self.past.truncate(page_size);
            self.next_cursor = self.past.last().and_then(|r| {
                let at = DateTime::from_timestamp_micros(r.planned_at)?.naive_utc();
                Some(pagination::encode_keyed(&at, r.id()))
            });
        }
        self
    }

    fn write_list(&self, rows: &[ListedReminder], out: &mut JsonWriter) {
        out.raw("[");
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            let steps = self.steps.iter().find(|(id, _)| id == r.protocol_id());
            let step = steps.and_then(|(_, s)| s.iter().find(|s| s.key == r.step_key()));
            out.written_part(&r.json, 0..r.tail);
            out.raw(",\"title\":");
            out.raw(step.map_or("\"\"", |s| s.title.get()));
            out.raw(",\"message\":");
            out.raw(step.map_or("\"\"", |s| s.message.get()));
            out.raw(",\"avoid\":");
            out.raw(step.map_or("[]", |s| s.avoid.get()));
            out.raw(",\"action\":");
            out.raw(step.and_then(|s| s.action.as_ref()).map_or("null", RawJson::get));
            out.written_part(&r.json, r.tail..r.json.len());
        }
        out.raw("]");
    }
}

impl WriteJson for ListedReminders {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"upcoming\":");
        self.write_list(&self.upcoming, out);
        out.raw(",\"past\":");
        self.write_list(&self.past, out);
        out.raw(",\"next_cursor\":");
        out.opt_str(self.next_cursor.as_deref());
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        let texts: usize = self.steps.iter().flat_map(|(_, s)| s.iter()).map(StepTexts::json_len).max().unwrap_or(0);
        self.upcoming.iter().chain(&self.past).map(|r| r.json.len() + 48 + texts).sum::<usize>() + 32
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReminderParams {
    /// How many of each (upcoming, past), 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page: the next page of `past`.
    pub cursor: Option<String>,
    /// Only reminders created or changed at or after this instant (RFC 3339): sent, snoozed,
    /// done, skipped, cancelled or rescheduled.
    #[param(format = DateTime)]
    pub updated_since: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeReminder {
    /// 5 to 1440 minutes from now.
    #[schema(minimum = 5, maximum = 1440)]
    pub minutes: u32,
}

/// Reads the protocols (each named once) that the cache does not hold yet (on the caller's
/// connection).
fn cache_protocols<'a>(
    c: &mut DbConnection,
    cache: &StepCache,
    protocol_ids: impl Iterator<Item = &'a str>,
) -> diesel::QueryResult<()> {
    for id in protocol_ids.filter(|id| cache.get(id).is_none()) {
        if let Some(p) = protocols::find_protocol(c, id)? {
            cache.insert(p.id.clone(), &serde_json::from_str::<Vec<Step>>(&p.steps).unwrap_or_default());
        }
    }
    Ok(())
}

/// One reminder's view (after a snooze or done).
async fn reminder_view(state: &AppState, r: Reminder) -> ApiResult<ReminderView> {
    let (cache, protocol_id) = (state.step_cache.clone(), r.protocol_id.clone());
    state.db.run(move |c| cache_protocols(c, &cache, std::iter::once(protocol_id.as_str()))).await?;
    let steps = state.step_cache.get(&r.protocol_id);
    let step = steps.as_deref().and_then(|s| s.iter().find(|s| s.key == r.step_key));
    Ok(ReminderView::new(r, step))
}

/// A patient's reminders, read with one connection: both lists, each filtered by the caller's
/// scope (their own record, or a patient of the staff member's clinic), and any protocol not
/// cached yet.
async fn reminders_of(
    state: &AppState,
    user: &AuthUser,
    staff_patient: Option<&str>,
    q: &ReminderParams,
) -> ApiResult<ListedReminders> {
    let (limit, past_after) = PageParams { limit: q.limit, cursor: q.cursor.clone() }.resolve_keyed()?;
    let page = reminders::ListPage {
        // A cursor continues the past half only.
        upcoming_limit: if past_after.is_some() { 0 } else { limit },
        past_limit: pagination::fetch_limit(limit),
        since: pagination::parse_since(q.updated_since.as_deref())?,
        past_after,
    };
    let (u, staff_patient, cache) = (user.clone(), staff_patient.map(str::to_owned), state.step_cache.clone());
    let (patient_id, rows) = state
        .db
        .run(move |c| {
            let Some(scope) = access::scope(&u, staff_patient.as_deref()) else { return Ok(None) };
            let rows: Vec<ListedReminder> = reminders::find_lists(c, scope, &page)?;
            let named = rows.first().map(ListedReminder::patient_id);
            let Some(patient_id) = access::scoped_patient_id(c, &u, staff_patient.as_deref(), named)? else {
                return Ok(None);
            };
            let mut protocols: Vec<&str> = rows.iter().map(ListedReminder::protocol_id).collect();
            protocols.sort_unstable();
            protocols.dedup();
            cache_protocols(c, &cache, protocols.into_iter())?;
            Ok(Some((patient_id, rows)))
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.audit.record(audit::event(user, Action::List, "reminder", None, Some(&patient_id), state.now())).await;
    Ok(ListedReminders::new(rows, |protocol_id| state.step_cache.get(protocol_id)).page_past(limit))
}

/// The patient's reminders: upcoming and past, with their status.
#[utoipa::path(get, path = "/api/v1/me/reminders", tag = "me", security(("bearer" = [])), params(ReminderParams),
    responses((status = 200, body = RemindersView),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Not a patient account", body = Problem, content_type = "application/problem+json")))]
pub async fn list_my_reminders(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ReminderParams>,
) -> ApiResult<Fast<ListedReminders>> {
    Ok(Fast(reminders_of(&state, &user, None, &q).await?))
}

/// A patient's reminders (staff).
#[utoipa::path(get, path = "/api/v1/patients/{id}/reminders", tag = "aftercare", security(("bearer" = [])),
    params(("id" = String, Path), ReminderParams), responses((status = 200, body = RemindersView),
    (status = 400, description = "Malformed limit, cursor or updated_since", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such patient in your clinic", body = Problem, content_type = "application/problem+json")))]
pub async fn list_patient_reminders(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<ReminderParams>,
) -> ApiResult<Fast<ListedReminders>> {
    Ok(Fast(reminders_of(&state, &user, Some(&id), &q).await?))
}

async fn own_reminder(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<Reminder> {
    let patient = patients::own(state, user).await?;
    let id = id.to_owned();
    let r = state.db.run(move |c| reminders::find_reminder(c, &id)).await?;
    r.filter(|r| r.patient_id == patient.id).ok_or_else(ApiError::not_found)
}

/// Snoozes a scheduled reminder by 5 minutes to 24 hours from now; a reminder due later than
/// that stays where it was (a snooze never brings one on).
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
    let until = crate::domain::protocol::snoozed_until(from_db(r.due_at), now, body.minutes);
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDateTime, TimeZone, Utc};
    use diesel::{
        Connection, IntoSql, RunQueryDsl,
        dsl::sql,
        sql_types::{Nullable, Text, Timestamp},
        sqlite::SqliteConnection,
    };
    use proptest::{option, prelude::*};

    use super::*;

    use crate::wire::json::arbitrary::{instant, text};

    fn reminder() -> impl Strategy<Value = Reminder> {
        (
            (
                text(),
                text(),
                prop_oneof![Just("p-1".to_owned()), text()],
                prop_oneof![Just("known".to_owned()), text()],
            ),
            (
                text(),
                instant(),
                instant(),
                prop_oneof![Just("scheduled"), Just("sending"), Just("sent"), Just("skipped")],
            ),
            (option::of(text()), option::of(instant()), option::of(instant())),
        )
            .prop_map(
                |(
                    (id, session_id, protocol_id, step_key),
                    (kind, planned_at, due_at, status),
                    (reason, sent, done),
                )| {
                    let at = crate::db::to_db(Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap());
                    Reminder {
                        id,
                        clinic_id: "c-1".into(),
                        patient_id: "pat-1".into(),
                        session_id,
                        protocol_id,
                        step_key,
                        occurrence: 0,
                        kind,
                        planned_at: to_db(planned_at),
                        due_at: to_db(due_at),
                        status: status.into(),
                        attempts: 0,
                        status_reason: reason,
                        last_error: None,
                        sent_at: sent.map(to_db),
                        done_at: done.map(to_db),
                        created_at: at,
                        updated_at: at,
                    }
                },
            )
    }

    /// `r` as a row of the list's statement, read from SQLite.
    fn listed(c: &mut SqliteConnection, r: &Reminder) -> ListedReminder {
        diesel::select((
            r.id.as_str().into_sql::<Text>(),
            r.patient_id.as_str().into_sql::<Text>(),
            r.session_id.as_str().into_sql::<Text>(),
            r.protocol_id.as_str().into_sql::<Text>(),
            r.step_key.as_str().into_sql::<Text>(),
            r.kind.as_str().into_sql::<Text>(),
            r.planned_at.into_sql::<Timestamp>(),
            r.due_at.into_sql::<Timestamp>(),
            r.status.as_str().into_sql::<Text>(),
            r.status_reason.as_deref().into_sql::<Nullable<Text>>(),
            r.sent_at.into_sql::<Nullable<Timestamp>>(),
            r.done_at.into_sql::<Nullable<Timestamp>>(),
        ))
        .get_result::<ListedReminder>(c)
        .unwrap()
    }

    fn written(view: &impl WriteJson) -> String {
        let mut out = JsonWriter::with_capacity(view.size_hint());
        view.write_json(&mut out);
        String::from_utf8(out.finish().unwrap()).unwrap()
    }

    fn steps() -> Arc<Vec<StepTexts>> {
        let step = |key: &str, action: Option<&str>| StepTexts {
            key: key.into(),
            title: RawJson::of("Apply \"HA\" serum\n"),
            message: RawJson::of("Gently — twice\\day"),
            avoid: RawJson::of(&["retinol", "acids </b>"]),
            action: action.map(RawJson::of),
        };
        Arc::new(vec![step("other", None), step("known", Some("log_serum"))])
    }

    /// The list as serde writes the views of `reminders`, in the list's order.
    fn expected(reminders: &[Reminder], steps: Option<&[StepTexts]>) -> String {
        let view = |r: &Reminder| {
            let step = steps.filter(|_| r.protocol_id == "p-1").and_then(|s| s.iter().find(|s| s.key == r.step_key));
            ReminderView::new(r.clone(), step)
        };
        let (mut upcoming, mut past): (Vec<_>, Vec<_>) =
            reminders.iter().partition(|r| r.status == "scheduled" || r.status == "sending");
        upcoming.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        past.sort_by(|a, b| (b.planned_at, &b.id).cmp(&(a.planned_at, &a.id)));
        let view = RemindersView {
            upcoming: upcoming.into_iter().map(view).collect(),
            past: past.into_iter().map(view).collect(),
            next_cursor: None,
        };
        serde_json::to_string(&view).unwrap()
    }

    proptest! {
        /// Each row's JSON is written from the driver's row; the list must be the bytes serde
        /// writes for the views of the same reminders, in the same order.
        #[test]
        fn a_listed_reminder_is_written_as_serde_writes_its_view(
            reminders in prop::collection::vec(reminder(), 0..5),
            cached in any::<bool>(),
        ) {
            let mut c = SqliteConnection::establish(":memory:").unwrap();
            let rows = reminders.iter().map(|r| listed(&mut c, r)).collect();
            let steps = steps();
            let list = ListedReminders::new(rows, |id| (cached && id == "p-1").then(|| steps.clone()));
            prop_assert_eq!(written(&list), expected(&reminders, cached.then_some(&steps[..])));
        }
    }

    /// A stored instant in another layout (a Julian day number here) is read as diesel reads it.
    #[test]
    fn an_instant_stored_otherwise_is_written_too() {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        let row: ListedReminder = diesel::select((
            "r-1".into_sql::<Text>(),
            "pat-1".into_sql::<Text>(),
            "s-1".into_sql::<Text>(),
            "p-1".into_sql::<Text>(),
            "known".into_sql::<Text>(),
            "serum".into_sql::<Text>(),
            sql::<Timestamp>("julianday('2026-11-29 12:00:00')"),
            sql::<Timestamp>("'2026-11-29T13:00:00.250'"),
            "sent".into_sql::<Text>(),
            None::<&str>.into_sql::<Nullable<Text>>(),
            sql::<Nullable<Timestamp>>("'2026-11-29 14:00:00.123456789'"),
            None::<NaiveDateTime>.into_sql::<Nullable<Timestamp>>(),
        ))
        .get_result(&mut c)
        .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&written(&ListedReminders::new(vec![row], |_| None))).unwrap();
        let r = &json["past"][0];
        assert_eq!(
            (&r["planned_at"], &r["due_at"], &r["sent_at"], &r["done_at"]),
            (
                &"2026-11-29T12:00:00Z".into(),
                &"2026-11-29T13:00:00.250Z".into(),
                &"2026-11-29T14:00:00.123456789Z".into(),
                &serde_json::Value::Null
            ),
            "{json}"
        );
        assert_eq!(
            (&r["title"], &r["avoid"], &r["action"]),
            (&"".into(), &serde_json::json!([]), &serde_json::Value::Null)
        );
    }
}
