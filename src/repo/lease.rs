//! The one lease claim that reminders and webhook deliveries share: due rows become `sending`
//! with `due_at` moved to the lease's end (so one index on (status, due_at) finds both due rows
//! and rows whose lease expired) and one more attempt counted. PostgreSQL skips rows another
//! claimer holds (`FOR UPDATE SKIP LOCKED`); SQLite has one writer and is told to use the due
//! index, since statistics gathered during a backlog can make its planner choose a full scan,
//! whose cost grows with the table (see docs/performance.md, "Reminder dispatch").

use chrono::NaiveDateTime;
use diesel::{
    QueryResult, QueryableByName, RunQueryDsl,
    pg::Pg,
    sql_types::{BigInt, Timestamp},
    sqlite::Sqlite,
};

use crate::db::DbConnection;

/// A queue table: its name, the status of rows waiting to be sent, and its (status, due_at) index.
pub struct Queue {
    pub table: &'static str,
    pub waiting: &'static str,
    pub due_index: &'static str,
}

/// Claims up to `limit` rows of `queue` due at `now` until `lease_until`.
pub fn claim_due<T>(
    conn: &mut DbConnection,
    queue: &Queue,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
{
    let Queue { table, waiting, due_index } = queue;
    match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(format!(
            "UPDATE {table} SET status = 'sending', due_at = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id IN (SELECT id FROM {table} WHERE status IN ('{waiting}', 'sending') AND due_at <= $2 \
                          ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING *"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<T>(pg),
        DbConnection::Sqlite(lite) => diesel::sql_query(format!(
            "UPDATE {table} SET status = 'sending', due_at = ?, attempts = attempts + 1, updated_at = ? \
             WHERE id IN (SELECT id FROM {table} INDEXED BY {due_index} \
                          WHERE status IN ('{waiting}', 'sending') AND due_at <= ? \
                          ORDER BY due_at LIMIT ?) \
             RETURNING *"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<T>(lite),
    }
}
