//! Hand-written statements over a caller's scope (`repo::patients::Scope`), for hot reads that
//! diesel's DSL cannot write as one statement: two tables in one read (progress: scores and
//! sessions). One statement is one round trip on PostgreSQL and one execution on SQLite instead
//! of two.
//!
//! Unlike `sql_query`, which diesel never keeps prepared, a [`ScopedQuery`] is prepared once and
//! found again by its type like any DSL statement, and its rows are read by position (`Queryable`
//! with the row's SQL types declared), not looked up by name for every column of every row
//! (`QueryableByName`).

use std::{marker::PhantomData, sync::OnceLock};

use diesel::{
    QueryResult, RunQueryDsl,
    backend::Backend,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::Text,
};

/// A statement whose SQL has a `?` where each of the scope's two values goes, in order, in each
/// part filtered by the scope. `ST` is the row's SQL types; `Id` names the statement's SQL, under
/// which diesel keeps it prepared, so one `Id` goes with one SQL text only: [`ScopedSql`] makes
/// one for each kind of scope.
pub struct ScopedQuery<'a, ST, Id> {
    sql: &'static str,
    scope_values: [&'a str; 2],
    row: PhantomData<fn() -> (ST, Id)>,
}

/// The [`ScopedQuery`] `Id` of a statement's SQL for a patient reading their own record.
pub struct OwnRecord<Id>(PhantomData<Id>);

/// The [`ScopedQuery`] `Id` of a statement's SQL for staff reading a patient of their clinic.
pub struct InClinic<Id>(PhantomData<Id>);

/// A statement's SQL for each kind of scope, written once by `write` from the scope's filter (a
/// condition on a table's `patient_id` and `clinic_id` columns, for a `WHERE`, which `write` may
/// use more than once). Its statements are prepared once and looked up by type, where SQL built
/// for every execution would be written out and hashed again each time to be looked up.
pub struct ScopedSql {
    write: fn(&str) -> String,
    own: OnceLock<String>,
    in_clinic: OnceLock<String>,
}

impl ScopedSql {
    pub const fn new(write: fn(&str) -> String) -> Self {
        Self { write, own: OnceLock::new(), in_clinic: OnceLock::new() }
    }

    /// The statement for a patient reading their own record (`Id` names this `ScopedSql`).
    pub fn own<'a, ST, Id>(
        &'static self,
        account_id: &'a str,
        clinic_id: &'a str,
    ) -> ScopedQuery<'a, ST, OwnRecord<Id>> {
        let sql = self.own.get_or_init(|| {
            (self.write)("patient_id = (SELECT id FROM patients WHERE account_id = ? AND clinic_id = ?)")
        });
        ScopedQuery { sql, scope_values: [account_id, clinic_id], row: PhantomData }
    }

    /// The statement for staff reading a patient of their clinic (`Id` names this `ScopedSql`).
    pub fn in_clinic<'a, ST, Id>(
        &'static self,
        patient_id: &'a str,
        clinic_id: &'a str,
    ) -> ScopedQuery<'a, ST, InClinic<Id>> {
        let sql = self.in_clinic.get_or_init(|| (self.write)("patient_id = ? AND clinic_id = ?"));
        ScopedQuery { sql, scope_values: [patient_id, clinic_id], row: PhantomData }
    }
}

impl<ST, Id: 'static> QueryId for ScopedQuery<'_, ST, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<ST, Id> Query for ScopedQuery<'_, ST, Id> {
    type SqlType = ST;
}

impl<DB, ST, Id> QueryFragment<DB> for ScopedQuery<'_, ST, Id>
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    /// The SQL with each backend's placeholder (`?` or `$n`) for each value.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for (i, sql) in self.sql.split('?').enumerate() {
            if i > 0 {
                out.push_bind_param::<Text, str>(self.scope_values[(i - 1) % 2])?;
            }
            out.push_sql(sql);
        }
        Ok(())
    }
}

impl<C, ST, Id> RunQueryDsl<C> for ScopedQuery<'_, ST, Id> {}
