//! Reminders: one row per planned occurrence, unique on (session, step, occurrence). The
//! dispatcher claims due rows with a lease by setting `status = 'sending'` and moving `due_at`
//! to the lease's end, so one index on (status, due_at) finds both due rows and rows whose lease
//! expired (a crashed dispatcher's batch).

use chrono::NaiveDateTime;
use diesel::{
    deserialize::FromSqlRow,
    expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate},
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    sql_types::{Bool, Nullable, Text, Timestamp},
    sqlite::Sqlite,
};

use crate::{
    db::{
        DbConnection, DbTime, DbTimeOpt,
        schema::{patients, reminders},
    },
    repo::{
        lease::{self, Queue},
        patients::Scope,
    },
    wire::pagination::After,
};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = reminders)]
pub struct Reminder {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub session_id: String,
    pub protocol_id: String,
    pub step_key: String,
    pub occurrence: i32,
    pub kind: String,
    /// When the protocol put it (in UTC); `due_at` moves with snoozes, retries and leases.
    #[diesel(deserialize_as = DbTime)]
    pub planned_at: NaiveDateTime,
    #[diesel(deserialize_as = DbTime)]
    pub due_at: NaiveDateTime,
    pub status: String,
    pub attempts: i32,
    pub status_reason: Option<String>,
    pub last_error: Option<String>,
    #[diesel(deserialize_as = DbTimeOpt)]
    pub sent_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = DbTimeOpt)]
    pub done_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = DbTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = DbTime)]
    pub updated_at: NaiveDateTime,
}

pub fn insert_reminder(conn: &mut DbConnection, r: &Reminder) -> QueryResult<()> {
    diesel::insert_into(reminders::table).values(r).execute(conn).map(|_| ())
}

pub fn find_reminder(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Reminder>> {
    reminders::table.find(id).select(Reminder::as_select()).first(conn).optional()
}

pub fn find_for_session(conn: &mut DbConnection, session_id: &str) -> QueryResult<Vec<Reminder>> {
    reminders::table
        .filter(reminders::session_id.eq(session_id))
        .order((reminders::planned_at.asc(), reminders::id.asc()))
        .select(Reminder::as_select())
        .load(conn)
}

/// The SQL types of the columns a reminder list reads: id, patient_id, session_id, protocol_id,
/// step_key, kind, planned_at, due_at, status, status_reason, sent_at, done_at.
pub type ListedSql = (
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Timestamp,
    Timestamp,
    Text,
    Nullable<Text>,
    Nullable<Timestamp>,
    Nullable<Timestamp>,
);

/// A patient's reminders as the caller may see them (`scope`), each row as [`ListedSql`] read by
/// `R`: up to `limit` upcoming ones (scheduled or sending) and up to `limit` past ones, in no
/// promised order (the caller sorts: soonest upcoming first, latest past first).
///
/// On the backend's own connection, one statement type for each scope: diesel keeps a statement
/// of a fixed type prepared under its type, where one built at run time has its SQL written out
/// again on every execution to be looked up. On PostgreSQL one round trip (`UNION ALL` of the two
/// limited selections); on SQLite, where a round trip costs nothing, two plain statements in one
/// read transaction, which cost less than the union's co-routines copying each value again. The
/// `(patient_id, status, due_at)` index gives the upcoming half its rows without reading the past
/// ones; the past half takes its order from `(patient_id, planned_at, id)`, so it needs no sort and
/// its LIMIT stops the scan.
///
/// `page` narrows both halves to the rows changed since an instant and starts the past half after
/// a cursor; its predicates are always in the statement (with bounds that pass every row when
/// unset), so each scope keeps one statement type.
pub fn find_lists<R>(conn: &mut DbConnection, scope: Scope<'_>, page: &ListPage) -> QueryResult<Vec<R>>
where
    R: FromSqlRow<ListedSql, Pg> + FromSqlRow<ListedSql, Sqlite> + 'static,
{
    use reminders::{due_at, id, planned_at, updated_at};
    let since = page.since.unwrap_or(chrono::DateTime::UNIX_EPOCH.naive_utc());
    let (past_before, past_id) = match &page.past_after {
        Some(a) => (a.key, a.id.clone()),
        // Past every stored plan: every row is before it.
        None => (FAR_FUTURE, String::new()),
    };
    let columns = (
        id,
        reminders::patient_id,
        reminders::session_id,
        reminders::protocol_id,
        reminders::step_key,
        reminders::kind,
        planned_at,
        due_at,
        reminders::status,
        reminders::status_reason,
        reminders::sent_at,
        reminders::done_at,
    );
    macro_rules! lists {
        ($of_patient:expr) => {{
            let upcoming = reminders::table
                .filter($of_patient)
                .filter(PendingStatus::<true>)
                .filter(updated_at.ge(since))
                .order((due_at.asc(), id.asc()))
                .limit(page.upcoming_limit)
                .select(columns);
            let past = reminders::table
                .filter($of_patient)
                .filter(PendingStatus::<false>)
                .filter(updated_at.ge(since))
                .filter(planned_at.lt(past_before).or(planned_at.eq(past_before).and(id.lt(past_id.clone()))))
                .order((planned_at.desc(), id.desc()))
                .limit(page.past_limit)
                .select(columns);
            match conn {
                DbConnection::Postgres(c) => upcoming.union_all(past).load::<R>(c),
                // One read transaction: both halves from one snapshot, as the union's (a reminder
                // sent between two bare statements would be listed twice).
                DbConnection::Sqlite(c) => c.transaction(|c| {
                    let mut rows = upcoming.load::<R>(c)?;
                    rows.extend(past.load::<R>(c)?);
                    Ok(rows)
                }),
            }
        }};
    }
    match scope {
        Scope::Own { account_id, clinic_id } => lists!(
            reminders::patient_id.nullable().eq(patients::table
                .filter(patients::account_id.eq(account_id))
                .filter(patients::clinic_id.eq(clinic_id))
                .select(patients::id)
                .single_value())
        ),
        Scope::InClinic { patient_id, clinic_id } => {
            lists!(reminders::patient_id.eq(patient_id).and(reminders::clinic_id.eq(clinic_id)))
        }
    }
}

/// What part of a reminder list [`find_lists`] reads.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub upcoming_limit: i64,
    pub past_limit: i64,
    /// Only reminders changed at or after this instant (`updated_at`).
    pub since: Option<NaiveDateTime>,
    /// Where the previous page of the past half ended (its `planned_at` and id).
    pub past_after: Option<After<NaiveDateTime>>,
}

/// Later than any plan: the past half's bound when no cursor is given.
const FAR_FUTURE: NaiveDateTime = match chrono::NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d.and_time(chrono::NaiveTime::MIN),
    None => NaiveDateTime::MAX,
};

/// `status IN ('scheduled', 'sending')` (`PENDING`) or `status NOT IN (…)`, the values written
/// into the SQL: PostgreSQL's generic plan of a prepared statement then still finds the upcoming
/// rows through the `(patient_id, status, due_at)` index, where bound values leave it a filter
/// over all of the patient's rows. diesel's `eq_any` binds its values and its `sql` literal is
/// not kept prepared by type, hence this expression.
#[derive(Debug, Clone, Copy)]
struct PendingStatus<const PENDING: bool>;

impl<const PENDING: bool> QueryId for PendingStatus<PENDING> {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const PENDING: bool> Expression for PendingStatus<PENDING> {
    type SqlType = Bool;
}

impl<QS, const PENDING: bool> AppearsOnTable<QS> for PendingStatus<PENDING> where reminders::status: AppearsOnTable<QS> {}

impl<GB, const PENDING: bool> ValidGrouping<GB> for PendingStatus<PENDING> {
    type IsAggregate = is_aggregate::Never;
}

impl<DB, const PENDING: bool> QueryFragment<DB> for PendingStatus<PENDING>
where
    DB: diesel::backend::Backend,
    reminders::status: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        reminders::status.walk_ast(out.reborrow())?;
        out.push_sql(if PENDING { " IN ('scheduled', 'sending')" } else { " NOT IN ('scheduled', 'sending')" });
        Ok(())
    }
}

/// Deletes a session's reminders that have not been sent (for re-planning).
pub fn delete_scheduled_for_session(conn: &mut DbConnection, session_id: &str) -> QueryResult<usize> {
    diesel::delete(
        reminders::table.filter(reminders::session_id.eq(session_id)).filter(reminders::status.eq("scheduled")),
    )
    .execute(conn)
}

/// Cancels the scheduled reminders of the given sessions with a reason.
pub fn cancel_scheduled(
    conn: &mut DbConnection,
    session_ids: &[String],
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        reminders::table.filter(reminders::session_id.eq_any(session_ids)).filter(reminders::status.eq("scheduled")),
    )
    .set((reminders::status.eq("cancelled"), reminders::status_reason.eq(reason), reminders::updated_at.eq(now)))
    .execute(conn)
}

/// The reminders queue for [`lease::claim_due`].
pub const REMINDERS: Queue = Queue { table: "reminders", waiting: "scheduled", due_index: "reminders_due_idx" };

/// Reminders due at `now` (waiting, or claimed by a dispatcher whose lease ran out), and the
/// instant the oldest of them fell due: the gauges on `/metrics`.
pub fn due_summary(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let due = || {
        reminders::table.filter(reminders::status.eq_any(["scheduled", "sending"])).filter(reminders::due_at.le(now))
    };
    let count = due().count().get_result(conn)?;
    let oldest = due().select(reminders::due_at).order(reminders::due_at.asc()).first::<DbTime>(conn).optional()?;
    Ok((count, oldest.map(Into::into)))
}

/// Claims up to `limit` due reminders for one sender: they become `sending` until `lease_until`
/// (see [`lease`]).
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Reminder>> {
    lease::claim_due(conn, &REMINDERS, now, lease_until, limit)
}

/// Renews one dispatcher's claims: rows of `ids` still `sending` under the lease it set
/// (`held_until`) are held until `until`. Rows it finished, or that another dispatcher took
/// over after the lease ran out, are left alone.
pub fn renew_claims(
    conn: &mut DbConnection,
    ids: &[String],
    held_until: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        reminders::table
            .filter(reminders::id.eq_any(ids))
            .filter(reminders::status.eq("sending"))
            .filter(reminders::due_at.eq(held_until)),
    )
    .set(reminders::due_at.eq(until))
    .execute(conn)
}

/// Ends a claim: sets the outcome if this dispatcher still holds the row (same attempt).
pub fn finish_claim(
    conn: &mut DbConnection,
    r: &Reminder,
    status: &str,
    reason: Option<&str>,
    error: Option<&str>,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let sent_at = (status == "sent").then_some(now);
    diesel::update(
        reminders::table
            .filter(reminders::id.eq(&r.id))
            .filter(reminders::status.eq("sending"))
            .filter(reminders::attempts.eq(r.attempts)),
    )
    .set((
        reminders::status.eq(status),
        reminders::status_reason.eq(reason),
        reminders::last_error.eq(error),
        reminders::due_at.eq(due_at),
        reminders::sent_at.eq(sent_at),
        reminders::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Reminders sent to a patient after `since` (for the daily cap: one sent exactly 24 h ago no
/// longer counts).
pub fn count_sent_since(conn: &mut DbConnection, patient_id: &str, since: NaiveDateTime) -> QueryResult<i64> {
    reminders::table
        .filter(reminders::patient_id.eq(patient_id))
        .filter(reminders::sent_at.gt(since))
        .count()
        .get_result(conn)
}

/// [`count_sent_since`] for several patients at once: (patient, count) for those with any.
pub fn count_sent_since_by_patient(
    conn: &mut DbConnection,
    patient_ids: &[String],
    since: NaiveDateTime,
) -> QueryResult<Vec<(String, i64)>> {
    reminders::table
        .filter(reminders::patient_id.eq_any(patient_ids))
        .filter(reminders::sent_at.gt(since))
        .group_by(reminders::patient_id)
        .select((reminders::patient_id, diesel::dsl::count_star()))
        .load(conn)
}

/// Snoozes an upcoming reminder to `until`.
pub fn snooze(conn: &mut DbConnection, id: &str, until: NaiveDateTime, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(reminders::table.filter(reminders::id.eq(id)).filter(reminders::status.eq("scheduled")))
        .set((reminders::due_at.eq(until), reminders::updated_at.eq(now)))
        .execute(conn)
        .map(|n| n == 1)
}

/// Marks a reminder done by the patient; an unsent one will be skipped.
pub fn mark_done(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(reminders::table.filter(reminders::id.eq(id)).filter(reminders::done_at.is_null()))
        .set((reminders::done_at.eq(now), reminders::updated_at.eq(now)))
        .execute(conn)
        .map(|n| n == 1)
}

/// Sessions with check-in reminders planned in a window: (session, patient, clinic).
pub fn sessions_with_checkins_between(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<(String, String, String)>> {
    reminders::table
        .filter(reminders::kind.eq("checkin"))
        .filter(reminders::planned_at.between(from, to))
        .select((reminders::session_id, reminders::patient_id, reminders::clinic_id))
        .distinct()
        .load(conn)
}

/// Every reminder of a patient, in planned order (export).
pub fn find_all_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Reminder>> {
    reminders::table
        .filter(reminders::patient_id.eq(patient_id))
        .order((reminders::planned_at.asc(), reminders::id.asc()))
        .select(Reminder::as_select())
        .load(conn)
}
