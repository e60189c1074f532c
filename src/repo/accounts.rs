//! Accounts: a login (email + argon2id hash) with a role, in one clinic.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, schema::accounts};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub clinic_id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_account(conn: &mut DbConnection, account: &Account) -> QueryResult<()> {
    diesel::insert_into(accounts::table).values(account).execute(conn).map(|_| ())
}

pub fn find_account_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<Account>> {
    accounts::table.filter(accounts::email.eq(email)).select(Account::as_select()).first(conn).optional()
}

pub fn find_account(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Account>> {
    accounts::table.find(id).select(Account::as_select()).first(conn).optional()
}

pub fn email_taken(conn: &mut DbConnection, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(accounts::table.filter(accounts::email.eq(email)))).get_result(conn)
}

/// Staff of one clinic (admins and clinicians), oldest first.
pub fn find_staff(conn: &mut DbConnection, clinic_id: &str) -> QueryResult<Vec<Account>> {
    accounts::table
        .filter(accounts::clinic_id.eq(clinic_id))
        .filter(accounts::role.ne("patient"))
        .order(accounts::id.asc())
        .select(Account::as_select())
        .load(conn)
}
