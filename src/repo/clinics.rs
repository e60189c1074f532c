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
}

pub fn insert_clinic(conn: &mut DbConnection, clinic: &Clinic) -> QueryResult<()> {
    diesel::insert_into(clinics::table).values(clinic).execute(conn).map(|_| ())
}

pub fn find_clinic(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Clinic>> {
    clinics::table.find(id).select(Clinic::as_select()).first(conn).optional()
}
