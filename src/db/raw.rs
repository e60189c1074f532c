//! Reading a row's columns where they lie, for rows turned into something else at once (the
//! staff patient page writes each row's JSON straight from the driver's buffer): a text column
//! is lent to the caller instead of being copied into a `String` first (an allocation, a copy
//! and a free for each of a page's ~600 texts).

use diesel::{
    backend::Backend,
    deserialize::{self, FromSql},
    pg::Pg,
    row::{Field, Row},
    sqlite::Sqlite,
};

/// A backend whose text values can be lent as `&str`.
pub trait LendText: Backend {
    /// The text of a value (`None` for NULL), lent to `f`.
    fn with_text<R>(value: Option<Self::RawValue<'_>>, f: impl FnOnce(Option<&str>) -> R) -> deserialize::Result<R>;
}

impl LendText for Pg {
    fn with_text<R>(value: Option<Self::RawValue<'_>>, f: impl FnOnce(Option<&str>) -> R) -> deserialize::Result<R> {
        match value {
            None => Ok(f(None)),
            Some(v) => Ok(f(Some(std::str::from_utf8(v.as_bytes())?))),
        }
    }
}

impl LendText for Sqlite {
    fn with_text<R>(value: Option<Self::RawValue<'_>>, f: impl FnOnce(Option<&str>) -> R) -> deserialize::Result<R> {
        match value {
            None => Ok(f(None)),
            Some(mut v) => Ok(f(Some(v.read_text()))),
        }
    }
}

/// Column `i` of a row, as `T` (`Option<T>` for a nullable column).
pub fn column<'a, DB, ST, T>(row: &impl Row<'a, DB>, i: usize) -> deserialize::Result<T>
where
    DB: Backend,
    T: FromSql<ST, DB>,
{
    let field = row.get(i).ok_or("the row has fewer columns than the statement selects")?;
    T::from_nullable_sql(field.value())
}

/// The text of column `i` (`None` for NULL), lent to `f`.
pub fn with_text<'a, DB, R>(
    row: &impl Row<'a, DB>,
    i: usize,
    f: impl FnOnce(Option<&str>) -> R,
) -> deserialize::Result<R>
where
    DB: LendText,
{
    let field = row.get(i).ok_or("the row has fewer columns than the statement selects")?;
    DB::with_text(field.value(), f)
}
