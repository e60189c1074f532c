//! The app's devices: one row per push token. Registering a token again updates its row and
//! moves it to the login that registered it (a phone changes hands, a patient logs in again).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::devices};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = devices)]
pub struct Device {
    pub id: String,
    pub clinic_id: String,
    pub patient_id: String,
    pub account_id: String,
    /// `ios` or `android`.
    pub platform: String,
    pub token: String,
    pub app_id: String,
    pub language: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

pub fn insert_device(conn: &mut DbConnection, d: &Device) -> QueryResult<()> {
    diesel::insert_into(devices::table).values(d).execute(conn).map(|_| ())
}

pub fn find_by_token(conn: &mut DbConnection, token: &str) -> QueryResult<Option<Device>> {
    devices::table.filter(devices::token.eq(token)).select(Device::as_select()).first(conn).optional()
}

/// Re-registration: the row of `d.id` takes `d`'s owner and fields (created_at stays).
pub fn update_device(conn: &mut DbConnection, d: &Device) -> QueryResult<usize> {
    diesel::update(devices::table.find(&d.id))
        .set((
            devices::clinic_id.eq(&d.clinic_id),
            devices::patient_id.eq(&d.patient_id),
            devices::account_id.eq(&d.account_id),
            devices::platform.eq(&d.platform),
            devices::app_id.eq(&d.app_id),
            devices::language.eq(&d.language),
            devices::updated_at.eq(d.updated_at),
            devices::last_seen_at.eq(d.last_seen_at),
        ))
        .execute(conn)
}

/// A patient's devices, oldest first.
pub fn find_for_patient(conn: &mut DbConnection, patient_id: &str) -> QueryResult<Vec<Device>> {
    devices::table
        .filter(devices::patient_id.eq(patient_id))
        .order(devices::id.asc())
        .select(Device::as_select())
        .load(conn)
}

/// The devices of several patients at once (the dispatcher's batch).
pub fn find_for_patients(conn: &mut DbConnection, patient_ids: &[String]) -> QueryResult<Vec<Device>> {
    devices::table
        .filter(devices::patient_id.eq_any(patient_ids))
        .order(devices::id.asc())
        .select(Device::as_select())
        .load(conn)
}

/// Deletes one of a patient's devices; false when it is not theirs (or gone).
pub fn delete_for_patient(conn: &mut DbConnection, id: &str, patient_id: &str) -> QueryResult<bool> {
    diesel::delete(devices::table.filter(devices::id.eq(id)).filter(devices::patient_id.eq(patient_id)))
        .execute(conn)
        .map(|n| n == 1)
}

/// Deletes a device whose token the push service said is no longer valid, if the token is still
/// the one that was refused (a re-registration in between keeps the row).
pub fn delete_refused(conn: &mut DbConnection, id: &str, token: &str) -> QueryResult<usize> {
    diesel::delete(devices::table.filter(devices::id.eq(id)).filter(devices::token.eq(token))).execute(conn)
}

/// Keeps a patient's `keep` most recently seen devices and deletes the others (a phone replaced
/// many times leaves no trail of dead tokens to push to).
pub fn prune(conn: &mut DbConnection, patient_id: &str, keep: i64) -> QueryResult<usize> {
    let kept: Vec<String> = devices::table
        .filter(devices::patient_id.eq(patient_id))
        .order((devices::last_seen_at.desc(), devices::id.desc()))
        .limit(keep)
        .select(devices::id)
        .load(conn)?;
    diesel::delete(devices::table.filter(devices::patient_id.eq(patient_id)).filter(devices::id.ne_all(kept)))
        .execute(conn)
}

/// A page of a patient's devices in id (registration) order.
pub fn page(conn: &mut DbConnection, patient_id: &str, after: Option<&str>, limit: i64) -> QueryResult<Vec<Device>> {
    let mut q = devices::table.filter(devices::patient_id.eq(patient_id)).into_boxed();
    if let Some(after) = after {
        q = q.filter(devices::id.gt(after));
    }
    q.order(devices::id.asc()).limit(limit).select(Device::as_select()).load(conn)
}
