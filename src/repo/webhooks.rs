//! Webhook endpoints, their deliveries (claimed with a lease like reminders) and the attempts
//! made for each delivery (the delivery log).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::{
    db::{
        DbConnection,
        schema::{webhook_attempts, webhook_deliveries, webhook_endpoints},
    },
    repo::lease::{self, Queue},
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: String,
    pub clinic_id: String,
    pub url: String,
    pub description: Option<String>,
    /// JSON array of event types.
    pub events: String,
    pub active: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub events: Option<String>,
    pub active: Option<bool>,
    pub secret: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_expires_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: String,
    pub clinic_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub patient_id: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub due_at: NaiveDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct Attempt {
    pub id: String,
    pub delivery_id: String,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

pub fn insert_endpoint(conn: &mut DbConnection, e: &Endpoint) -> QueryResult<()> {
    diesel::insert_into(webhook_endpoints::table).values(e).execute(conn).map(|_| ())
}

pub fn find_endpoint(conn: &mut DbConnection, clinic_id: &str, id: &str) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(id))
        .filter(webhook_endpoints::clinic_id.eq(clinic_id))
        .select(Endpoint::as_select())
        .first(conn)
        .optional()
}

pub fn find_endpoint_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table.find(id).select(Endpoint::as_select()).first(conn).optional()
}

pub fn find_endpoints(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Vec<Endpoint>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::clinic_id.eq(clinic_id))
        .order(webhook_endpoints::id.asc())
        .select(Endpoint::as_select())
        .load(conn)
}

pub fn update_endpoint(conn: &mut DbConnection, id: &str, changes: &EndpointChanges) -> QueryResult<Endpoint> {
    diesel::update(webhook_endpoints::table.find(id))
        .set(changes)
        .returning(webhook_endpoints::all_columns)
        .get_result(conn)
}

pub fn delete_endpoint(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    let deliveries =
        webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)).select(webhook_deliveries::id);
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries))).execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id))).execute(conn)?;
    diesel::delete(webhook_endpoints::table.find(id)).execute(conn)
}

pub fn insert_delivery(conn: &mut DbConnection, d: &Delivery) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table).values(d).execute(conn).map(|_| ())
}

pub fn find_delivery(conn: &mut DbConnection, clinic_id: &str, id: &str) -> QueryResult<Option<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(id))
        .filter(webhook_deliveries::clinic_id.eq(clinic_id))
        .select(Delivery::as_select())
        .first(conn)
        .optional()
}

/// An endpoint's deliveries, newest first, before the cursor id.
pub fn find_deliveries(
    conn: &mut DbConnection,
    endpoint_id: &str,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let mut q = webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(endpoint_id)).into_boxed();
    if let Some(before) = before {
        q = q.filter(webhook_deliveries::id.lt(before.to_owned()));
    }
    q.order(webhook_deliveries::id.desc()).limit(limit).select(Delivery::as_select()).load(conn)
}

pub fn find_attempts(conn: &mut DbConnection, delivery_ids: &[String]) -> QueryResult<Vec<Attempt>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order((webhook_attempts::attempted_at.asc(), webhook_attempts::id.asc()))
        .select(Attempt::as_select())
        .load(conn)
}

pub fn insert_attempt(conn: &mut DbConnection, a: &Attempt) -> QueryResult<()> {
    diesel::insert_into(webhook_attempts::table).values(a).execute(conn).map(|_| ())
}

/// The deliveries queue for [`lease::claim_due`].
pub const DELIVERIES: Queue =
    Queue { table: "webhook_deliveries", waiting: "pending", due_index: "webhook_deliveries_due_idx" };

/// Claims up to `limit` due deliveries for one sender: they become `sending` until `lease_until`
/// (see [`lease`]).
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    lease::claim_due(conn, &DELIVERIES, now, lease_until, limit)
}

/// Ends a claim if this sender still holds it (same attempt): `delivered`, `failed`, or back to
/// `pending` at `due_at`.
pub fn finish_claim(
    conn: &mut DbConnection,
    d: &Delivery,
    status: &str,
    status_code: Option<i32>,
    error: Option<&str>,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let delivered_at = (status == "delivered").then_some(now);
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(&d.id))
            .filter(webhook_deliveries::status.eq("sending"))
            .filter(webhook_deliveries::attempts.eq(d.attempts)),
    )
    .set((
        webhook_deliveries::status.eq(status),
        webhook_deliveries::last_status_code.eq(status_code),
        webhook_deliveries::last_error.eq(error),
        webhook_deliveries::due_at.eq(due_at),
        webhook_deliveries::delivered_at.eq(delivered_at),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// A page of a clinic's endpoints in id (creation) order.
pub fn page_endpoints(
    conn: &mut DbConnection,
    clinic_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Endpoint>> {
    let mut q = webhook_endpoints::table.filter(webhook_endpoints::clinic_id.eq(clinic_id)).into_boxed();
    if let Some(after) = after {
        q = q.filter(webhook_endpoints::id.gt(after));
    }
    q.order(webhook_endpoints::id.asc()).limit(limit).select(Endpoint::as_select()).load(conn)
}
