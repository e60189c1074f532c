//! Clinics: the tenants.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::clinics};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clinics)]
pub struct Clinic {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    /// Where patients' replies to reminder emails go.
    pub reply_to: Option<String>,
    /// What a patient who must call the clinic now is told.
    pub phone: Option<String>,
}

pub fn insert_clinic(conn: &mut DbConnection, clinic: &Clinic) -> QueryResult<()> {
    diesel::insert_into(clinics::table).values(clinic).execute(conn).map(|_| ())
}

pub fn find_clinic(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Clinic>> {
    clinics::table.find(id).select(Clinic::as_select()).first(conn).optional()
}

pub fn update_clinic(
    conn: &mut DbConnection,
    id: &str,
    name: Option<String>,
    reply_to: Option<Option<String>>,
    phone: Option<Option<String>>,
) -> QueryResult<Clinic> {
    if let Some(name) = name {
        diesel::update(clinics::table.find(id)).set(clinics::name.eq(name)).execute(conn)?;
    }
    if let Some(reply_to) = reply_to {
        diesel::update(clinics::table.find(id)).set(clinics::reply_to.eq(reply_to)).execute(conn)?;
    }
    if let Some(phone) = phone {
        diesel::update(clinics::table.find(id)).set(clinics::phone.eq(phone)).execute(conn)?;
    }
    clinics::table.find(id).select(Clinic::as_select()).first(conn)
}
