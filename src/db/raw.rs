//! Reading a row's columns where they lie, for rows turned into something else at once (the
//! staff patient page writes each row's JSON straight from the driver's buffer): a text column
//! is lent to the caller instead of being copied into a `String` first (an allocation, a copy
//! and a free for each of a page's ~600 texts), and an instant is read as the number of
//! microseconds PostgreSQL sends, or SQLite's stored text turns into (not built into a chrono value,
//! to be taken apart again).

use chrono::NaiveDateTime;
use diesel::{
    backend::Backend,
    deserialize::{self, FromSql},
    pg::Pg,
    row::{Field, Row},
    sql_types::{BigInt, Timestamp},
    sqlite::{Sqlite, SqliteType},
};

use super::{DbTime, time::stored_micros};

/// A backend whose values can be read where they lie: a text lent as `&str`, an instant as the
/// backend has it at hand.
pub trait LendValues: Backend {
    /// The text of a value (`None` for NULL), lent to `f`.
    fn with_text<R>(value: Option<Self::RawValue<'_>>, f: impl FnOnce(Option<&str>) -> R) -> deserialize::Result<R>;

    /// A `Timestamp` value (UTC) as the backend has it at hand (`None` for NULL).
    fn instant(value: Option<Self::RawValue<'_>>) -> deserialize::Result<Option<RawInstant>>;
}

/// An instant (UTC) read from a `Timestamp` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawInstant {
    /// Microseconds since 1970-01-01: what PostgreSQL sends (a count of microseconds), and SQLite's
    /// text as we store it, read straight into one.
    UnixMicros(i64),
    /// Any other value SQLite holds (another text layout, a Julian day number), as diesel parses it.
    Naive(NaiveDateTime),
}

impl RawInstant {
    /// Microseconds since 1970-01-01 (to order by; a finer fraction is cut).
    pub fn unix_micros(self) -> i64 {
        match self {
            RawInstant::UnixMicros(micros) => micros,
            RawInstant::Naive(t) => t.and_utc().timestamp_micros(),
        }
    }
}

/// A row shorter than its statement's selection (a bug, never data).
const MISSING: &str = "the row has fewer columns than the statement selects";

/// 2000-01-01, PostgreSQL's epoch, in microseconds since 1970-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl LendValues for Pg {
    fn with_text<R>(value: Option<Self::RawValue<'_>>, f: impl FnOnce(Option<&str>) -> R) -> deserialize::Result<R> {
        match value {
            None => Ok(f(None)),
            Some(v) => Ok(f(Some(std::str::from_utf8(v.as_bytes())?))),
        }
    }

    /// A timestamp travels as a signed 64-bit count of microseconds since 2000-01-01.
    fn instant(value: Option<Self::RawValue<'_>>) -> deserialize::Result<Option<RawInstant>> {
        let Some(value) = value else { return Ok(None) };
        let micros = <i64 as FromSql<BigInt, Pg>>::from_sql(value)?;
        Ok(Some(RawInstant::UnixMicros(micros.checked_add(PG_EPOCH_MICROS).ok_or("a timestamp out of range")?)))
    }
}

impl LendValues for Sqlite {
    fn with_text<R>(value: Option<Self::RawValue<'_>>, f: impl FnOnce(Option<&str>) -> R) -> deserialize::Result<R> {
        match value {
            None => Ok(f(None)),
            Some(mut v) => Ok(f(Some(v.read_text()))),
        }
    }

    /// What we store (`to_db`'s text) straight into microseconds; anything else as diesel reads it.
    fn instant(value: Option<Self::RawValue<'_>>) -> deserialize::Result<Option<RawInstant>> {
        let Some(mut value) = value else { return Ok(None) };
        if value.value_type() == Some(SqliteType::Text)
            && let Some(micros) = stored_micros(value.read_text())
        {
            return Ok(Some(RawInstant::UnixMicros(micros)));
        }
        let DbTime(t) = <DbTime as FromSql<Timestamp, Sqlite>>::from_sql(value)?;
        Ok(Some(RawInstant::Naive(t)))
    }
}

/// Column `i` of a row, as `T` (`Option<T>` for a nullable column).
pub fn column<'a, DB, ST, T>(row: &impl Row<'a, DB>, i: usize) -> deserialize::Result<T>
where
    DB: Backend,
    T: FromSql<ST, DB>,
{
    let field = row.get(i).ok_or(MISSING)?;
    T::from_nullable_sql(field.value())
}

/// The text of column `i` (`None` for NULL), lent to `f`.
pub fn with_text<'a, DB, R>(
    row: &impl Row<'a, DB>,
    i: usize,
    f: impl FnOnce(Option<&str>) -> R,
) -> deserialize::Result<R>
where
    DB: LendValues,
{
    let field = row.get(i).ok_or(MISSING)?;
    DB::with_text(field.value(), f)
}

/// Column `i`, a `Timestamp` (`None` for NULL).
pub fn instant<'a, DB>(row: &impl Row<'a, DB>, i: usize) -> deserialize::Result<Option<RawInstant>>
where
    DB: LendValues,
{
    let field = row.get(i).ok_or(MISSING)?;
    DB::instant(field.value())
}
