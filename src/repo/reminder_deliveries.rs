//! What each channel of a reminder did, one row per (reminder, channel, target): the target is
//! the device for push and '' for email. The reminder row is the outbox and its claim covers
//! every channel; these rows are written in the transaction that ends the claim, so a channel
//! delivered on an earlier attempt is not sent again when another one is retried.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::reminder_deliveries};

/// The target of the email channel (one address per patient).
pub const EMAIL_TARGET: &str = "";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reminder_deliveries)]
pub struct Delivery {
    pub reminder_id: String,
    /// `email` or `push`.
    pub channel: String,
    /// The device id for push, [`EMAIL_TARGET`] for email.
    pub target: String,
    /// `sent`, `retrying` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The deliveries of these reminders (the dispatcher's batch; empty on a first attempt).
pub fn find_for_reminders(conn: &mut DbConnection, reminder_ids: &[String]) -> QueryResult<Vec<Delivery>> {
    reminder_deliveries::table
        .filter(reminder_deliveries::reminder_id.eq_any(reminder_ids))
        .select(Delivery::as_select())
        .load(conn)
}

/// The deliveries of one reminder, email first.
pub fn find_for_reminder(conn: &mut DbConnection, reminder_id: &str) -> QueryResult<Vec<Delivery>> {
    reminder_deliveries::table
        .filter(reminder_deliveries::reminder_id.eq(reminder_id))
        .order((reminder_deliveries::channel.asc(), reminder_deliveries::target.asc()))
        .select(Delivery::as_select())
        .load(conn)
}

/// Writes one outcome: updates the row of (reminder, channel, target) or inserts it. Called by
/// the holder of the reminder's claim only (inside the transaction that ends it), so no one
/// else writes the same row meanwhile.
pub fn record(conn: &mut DbConnection, d: &Delivery) -> QueryResult<()> {
    let updated = diesel::update(
        reminder_deliveries::table
            .filter(reminder_deliveries::reminder_id.eq(&d.reminder_id))
            .filter(reminder_deliveries::channel.eq(&d.channel))
            .filter(reminder_deliveries::target.eq(&d.target)),
    )
    .set((
        reminder_deliveries::status.eq(&d.status),
        reminder_deliveries::attempts.eq(reminder_deliveries::attempts + 1),
        reminder_deliveries::last_error.eq(&d.last_error),
        reminder_deliveries::sent_at.eq(d.sent_at),
        reminder_deliveries::updated_at.eq(d.updated_at),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(reminder_deliveries::table).values(d).execute(conn)?;
    }
    Ok(())
}
