//! Reading `Timestamp` columns quickly on SQLite. SQLite stores them as text; diesel parses that
//! text with chrono's format parser, trying its formats in turn, for every value (six instants
//! a reminder row; the cost is in docs/performance.md, item 5). The models read on hot paths take their instants through [`DbTime`] and
//! [`DbTimeOpt`] (`#[diesel(deserialize_as = …)]`), which read the layout we store
//! (`YYYY-MM-DD HH:MM:SS[.ffffff]`, see `to_db`) directly and hand anything else to diesel.
//! PostgreSQL sends instants in binary, which diesel already reads directly.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::{
    backend::Backend,
    deserialize::{self, FromSql, FromSqlRow},
    pg::Pg,
    sql_types::{Nullable, Timestamp},
    sqlite::{Sqlite, SqliteType},
};

use super::{MultiBackend, MultiRawValue};

/// An instant from a `Timestamp` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct DbTime(pub NaiveDateTime);

/// An instant from a nullable `Timestamp` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct DbTimeOpt(pub Option<NaiveDateTime>);

impl From<DbTime> for NaiveDateTime {
    fn from(t: DbTime) -> Self {
        t.0
    }
}

impl From<DbTimeOpt> for Option<NaiveDateTime> {
    fn from(t: DbTimeOpt) -> Self {
        t.0
    }
}

impl FromSql<Timestamp, MultiBackend> for DbTime {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

impl FromSql<Timestamp, Pg> for DbTime {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(DbTime)
    }
}

impl FromSql<Timestamp, Sqlite> for DbTime {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(SqliteType::Text)
            && let Some(t) = parse_stored(value.read_text())
        {
            return Ok(DbTime(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(DbTime)
    }
}

impl<DB: Backend> FromSql<Nullable<Timestamp>, DB> for DbTimeOpt
where
    DbTime: FromSql<Timestamp, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        <DbTime as FromSql<Timestamp, DB>>::from_sql(value).map(|t| DbTimeOpt(Some(t.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(v) => Self::from_sql(v),
            None => Ok(DbTimeOpt(None)),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1–9 digits, as `to_db` values are stored;
/// `None` for anything else (diesel then tries its formats).
fn parse_stored(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_nano_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, nanos)?;
    Some(date.and_time(time))
}

/// An instant stored as [`parse_stored`] reads it, as microseconds since 1970-01-01 UTC, without
/// building chrono values (a list writes them straight into its JSON); `None` for anything
/// `parse_stored` rejects and for fractions of more than six digits (`to_db` stores none).
pub(super) fn stored_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, &d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let micros = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=6).contains(&digits.len()) => {
            num(20, b.len())? * 10i64.pow(6 - digits.len() as u32)
        }
        _ => return None,
    };
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    let y = if month <= 2 { year - 1 } else { year };
    let (era, of_era) = (y.div_euclid(400), y.rem_euclid(400));
    let of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + of_era * 365 + of_era / 4 - of_era / 100 + of_year - 719_468;
    Some(((days * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(text: &str) -> Option<NaiveDateTime> {
        ["%F %T%.f", "%F %T"].iter().find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    }

    #[test]
    fn reads_what_we_store_as_chrono_does() {
        for text in [
            "2026-11-29 23:41:07",
            "2026-11-29 23:41:07.5",
            "2026-11-29 23:41:07.123456",
            "2026-11-29 23:41:07.000001",
            "2026-11-29 23:41:07.123456789",
            "1999-01-01 00:00:00.000000",
            "2024-02-29 12:00:00",
        ] {
            assert_eq!(parse_stored(text), chrono(text), "{text}");
            assert!(parse_stored(text).is_some(), "{text}");
        }
    }

    /// Any text of the stored layout, valid or not (days past a month's end, hour 24, …).
    fn stored_layout() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (0u32..=9999, 0u32..=13, 0u32..=32, 0u32..=24, 0u32..=60, 0u32..=60, prop::option::of("[0-9]{1,9}")).prop_map(
            |(y, mo, d, h, mi, s, fraction)| {
                let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{fraction}")
            },
        )
    }

    proptest::proptest! {
        #[test]
        fn stored_micros_are_chronos_instant(text in stored_layout()) {
            let digits = text.split_once('.').map_or(0, |(_, f)| f.len());
            let expected = parse_stored(&text).filter(|_| digits <= 6).map(|t| t.and_utc().timestamp_micros());
            proptest::prop_assert_eq!(stored_micros(&text), expected, "{}", text);
        }
    }

    #[test]
    fn stored_micros_of_what_we_store() {
        for (text, micros) in [
            ("1970-01-01 00:00:00", 0),
            ("1969-12-31 23:59:59.999999", -1),
            ("2000-02-29 12:00:00.5", 951_825_600_500_000),
            ("0000-03-01 00:00:00", -62_162_035_200_000_000),
        ] {
            assert_eq!(stored_micros(text), Some(micros), "{text}");
        }
        for text in ["2026-11-29 23:41:07.1234567", "1900-02-29 00:00:00", "2026-11-29T23:41:07", ""] {
            assert_eq!(stored_micros(text), None, "{text}");
        }
    }

    #[test]
    fn leaves_other_layouts_to_diesel() {
        for text in [
            "2026-11-29T23:41:07",
            "2026-11-29 23:41:07Z",
            "2026-11-29 23:41:07+01:00",
            "2026-11-29 23:41:07.",
            "2026-11-29 23:41:07.1234567890",
            "2026-11-29 23:41",
            "2026-02-30 10:00:00",
            "2026-11-29 24:00:00",
            "2026-1a-29 10:00:00",
            "",
        ] {
            assert_eq!(parse_stored(text), None, "{text}");
        }
    }

    #[test]
    fn an_instant_round_trips_through_sqlite_and_julian_days_still_parse() {
        use diesel::{Connection, RunQueryDsl, sql_query, sqlite::SqliteConnection};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Timestamp, deserialize_as = DbTime)]
            at: NaiveDateTime,
        }
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        let stored = crate::db::to_db(chrono::Utc::now());
        let rows: Vec<Row> = sql_query("SELECT ? AS at").bind::<Timestamp, _>(stored).load(&mut c).unwrap();
        assert_eq!(rows[0].at, stored);
        // A Julian day number (what `julianday()` gives) still goes through diesel.
        let rows: Vec<Row> = sql_query("SELECT julianday('2026-11-29 12:00:00') AS at").load(&mut c).unwrap();
        assert_eq!(rows[0].at, chrono("2026-11-29 12:00:00").unwrap());
    }
}
