//! The outbox of staff emails about urgent alerts: one row per (alert, staff member), claimed
//! with a lease like reminders (see [`lease`](super::lease)).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lease::{self, Queue};
use crate::db::{DbConnection, schema::alert_notifications};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = alert_notifications)]
pub struct AlertNotification {
    pub id: String,
    pub alert_id: String,
    pub clinic_id: String,
    /// The staff member to tell; their address is read when the email goes.
    pub account_id: String,
    /// `pending`, `sending`, `sent`, `skipped` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub due_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts the rows one statement each (a multi-row insert does not go through the
/// two-backend connection); an alert has a handful, one per staff member.
pub fn insert_notifications(conn: &mut DbConnection, rows: &[AlertNotification]) -> QueryResult<usize> {
    let mut n = 0;
    for row in rows {
        n += diesel::insert_into(alert_notifications::table).values(row).execute(conn)?;
    }
    Ok(n)
}

pub const ALERT_NOTIFICATIONS: Queue =
    Queue { table: "alert_notifications", waiting: "pending", due_index: "alert_notifications_due_idx" };

/// Claims up to `limit` due notifications for one sender until `lease_until`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<AlertNotification>> {
    lease::claim_due(conn, &ALERT_NOTIFICATIONS, now, lease_until, limit)
}

/// Ends a claim with its outcome if this sender still holds it (same attempt).
pub fn finish_claim(
    conn: &mut DbConnection,
    n: &AlertNotification,
    status: &str,
    error: Option<&str>,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let sent_at = (status == "sent").then_some(now);
    diesel::update(
        alert_notifications::table
            .filter(alert_notifications::id.eq(&n.id))
            .filter(alert_notifications::status.eq("sending"))
            .filter(alert_notifications::attempts.eq(n.attempts)),
    )
    .set((
        alert_notifications::status.eq(status),
        alert_notifications::last_error.eq(error),
        alert_notifications::due_at.eq(due_at),
        alert_notifications::sent_at.eq(sent_at),
        alert_notifications::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// How many wait out the backoff of a retry at `now`: pending, tried before, due later.
pub fn count_waiting_to_retry(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<i64> {
    alert_notifications::table
        .filter(alert_notifications::status.eq("pending"))
        .filter(alert_notifications::attempts.gt(0))
        .filter(alert_notifications::due_at.gt(now))
        .count()
        .get_result(conn)
}

/// Makes the ones waiting out a backoff due at `now`; how many.
pub fn retry_now(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        alert_notifications::table
            .filter(alert_notifications::status.eq("pending"))
            .filter(alert_notifications::attempts.gt(0))
            .filter(alert_notifications::due_at.gt(now)),
    )
    .set((alert_notifications::due_at.eq(now), alert_notifications::updated_at.eq(now)))
    .execute(conn)
}

/// (alert, status, how many) for the given alerts: what their lists show.
pub fn count_by_alert(conn: &mut DbConnection, alert_ids: &[String]) -> QueryResult<Vec<(String, String, i64)>> {
    alert_notifications::table
        .filter(alert_notifications::alert_id.eq_any(alert_ids))
        .group_by((alert_notifications::alert_id, alert_notifications::status))
        .select((alert_notifications::alert_id, alert_notifications::status, diesel::dsl::count_star()))
        .load(conn)
}

/// (status, how many) over every clinic: the gauge on `/metrics`.
pub fn count_by_status(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    alert_notifications::table
        .group_by(alert_notifications::status)
        .select((alert_notifications::status, diesel::dsl::count_star()))
        .load(conn)
}
