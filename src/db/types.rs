//! Typed text columns: values the database stores as text and the code handles as types. Each
//! is written as its text and read back through one mapping; a stored text that is not a value
//! fails the read with an error naming the type (never a silent default).

use diesel::{
    backend::Backend,
    deserialize::{self, FromSql, Queryable},
    expression::AsExpression,
    sql_types::{Nullable, Text},
};

use crate::domain::clinical::TimeZone;

/// The mapping of a type stored as text: its text is `&'static str` (a name from a fixed set), so
/// writing binds that text as any string is bound.
pub trait StaticText: Sized {
    /// What the value is, for the error of a text that is not one.
    const WHAT: &'static str;
    fn text(&self) -> &'static str;
    fn parse_text(text: &str) -> Option<Self>;
}

impl StaticText for TimeZone {
    const WHAT: &'static str = "IANA time zone";

    fn text(&self) -> &'static str {
        self.name()
    }

    fn parse_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// Reads the stored text of a [`StaticText`] type, refusing what is not one.
pub fn read_text<T: StaticText>(text: &str) -> deserialize::Result<T> {
    T::parse_text(text).ok_or_else(|| format!("a stored {} that is not one: {text:?}", T::WHAT).into())
}

/// `Queryable` and `AsExpression` (by value and by reference, not null and nullable) for types
/// implementing [`StaticText`].
macro_rules! static_text_column {
    ($($t:ty),* $(,)?) => {$(
        impl<DB: Backend> Queryable<Text, DB> for $t
        where
            String: FromSql<Text, DB>,
        {
            type Row = String;

            fn build(row: String) -> deserialize::Result<Self> {
                read_text(&row)
            }
        }

        impl AsExpression<Text> for $t {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.text())
            }
        }

        impl AsExpression<Text> for &$t {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.text())
            }
        }

        impl AsExpression<Nullable<Text>> for $t {
            type Expression = <&'static str as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.text())
            }
        }

        impl AsExpression<Nullable<Text>> for &$t {
            type Expression = <&'static str as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.text())
            }
        }
    )*};
}

static_text_column!(TimeZone);

#[cfg(test)]
mod tests {
    use diesel::{prelude::*, sql_types::Text};

    use super::*;

    #[test]
    fn a_time_zone_round_trips_and_a_stored_non_zone_fails_loudly() {
        let mut c = diesel::sqlite::SqliteConnection::establish(":memory:").unwrap();
        let london: TimeZone = "Europe/London".parse().unwrap();
        let back: TimeZone =
            diesel::select(<TimeZone as AsExpression<Text>>::as_expression(london)).get_result(&mut c).unwrap();
        assert_eq!(back, london);
        let stored: Result<TimeZone, _> = diesel::select("Mars/Olympus".into_sql::<Text>()).get_result(&mut c);
        let error = stored.unwrap_err().to_string();
        assert!(error.contains("IANA time zone") && error.contains("Mars/Olympus"), "{error}");
    }
}
