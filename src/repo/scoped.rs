//! Hand-written statements over a caller's [`Scope`], for hot reads that diesel's DSL cannot write
//! as one statement: two limited selections in one `UNION ALL` (the reminder lists), or two
//! tables in one read (progress: scores and sessions). One statement is one round trip on
//! PostgreSQL and one execution on SQLite instead of two.
//!
//! Unlike `sql_query`, which diesel never keeps prepared, a [`ScopedQuery`] is cached by its SQL
//! like any other statement, and its rows are read by position (`Queryable` with the row's SQL
//! types declared), not looked up by name for every column of every row (`QueryableByName`).

use std::marker::PhantomData;

use diesel::{
    QueryResult, RunQueryDsl,
    backend::Backend,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{BigInt, Text},
};

use crate::repo::patients::Scope;

/// A statement whose SQL has a `?` where each value goes: in each part filtered by the scope,
/// the scope's values in order, then the limit when there is one. `ST` is the row's SQL types.
pub struct ScopedQuery<'a, ST> {
    sql: String,
    scope_values: Vec<&'a str>,
    limit: Option<i64>,
    row: PhantomData<ST>,
}

impl<'a, ST> ScopedQuery<'a, ST> {
    /// The statement `write` makes from the scope's filter (a condition on a table's
    /// `patient_id` and `clinic_id` columns, for a `WHERE`); `write` may use it more than once,
    /// each time followed by a `LIMIT ?` when `limit` is given.
    pub fn new(scope: Scope<'a>, limit: Option<i64>, write: impl FnOnce(&str) -> String) -> Self {
        let (filter, scope_values) = match scope {
            Scope::Own { account_id, clinic_id } => (
                "patient_id = (SELECT id FROM patients WHERE account_id = ? AND clinic_id = ?)",
                vec![account_id, clinic_id],
            ),
            Scope::InClinic { patient_id, clinic_id } => {
                ("patient_id = ? AND clinic_id = ?", vec![patient_id, clinic_id])
            }
        };
        Self { sql: write(filter), scope_values, limit, row: PhantomData }
    }
}

impl<ST> QueryId for ScopedQuery<'_, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for ScopedQuery<'_, ST> {
    type SqlType = ST;
}

impl<DB, ST> QueryFragment<DB> for ScopedQuery<'_, ST>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    /// The SQL with each backend's placeholder (`?` or `$n`) for each value.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let per_part = self.scope_values.len() + usize::from(self.limit.is_some());
        for (i, sql) in self.sql.split('?').enumerate() {
            if i > 0 {
                match (self.scope_values.get((i - 1) % per_part), &self.limit) {
                    (Some(value), _) => out.push_bind_param::<Text, str>(value)?,
                    (None, Some(limit)) => out.push_bind_param::<BigInt, i64>(limit)?,
                    (None, None) => {
                        return Err(diesel::result::Error::QueryBuilderError("more `?` than values".into()));
                    }
                }
            }
            out.push_sql(sql);
        }
        Ok(())
    }
}

impl<C, ST> RunQueryDsl<C> for ScopedQuery<'_, ST> {}
