//! Writing large list responses cheaply, with the same bytes serde's defaults would write:
//! instants formatted directly instead of through chrono's `Display` (one `write_char` per
//! character, about a seventh of a reminder list's CPU), and texts escaped once and kept as JSON
//! instead of being copied and escaped again for every row that shows them.

use std::sync::Arc;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// `serialize_with` for an instant: RFC 3339 in UTC as chrono writes it (`Z`; no fraction, or
/// 3, 6 or 9 digits, whichever shows it exactly).
pub fn instant<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match format_instant(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// [`instant`] for an optional instant (`null` when absent).
pub fn instant_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => instant(t, s),
        None => s.serialize_none(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z` into `buf`; `None` for years outside
/// 0–9999 and leap seconds, which chrono writes.
fn format_instant<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; 30]) -> Option<&'a str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let end = match nanos {
        0 => 19,
        n if n % 1_000_000 == 0 => {
            put(20, n / 1_000_000, 3);
            23
        }
        n if n % 1_000 == 0 => {
            put(20, n / 1_000, 6);
            26
        }
        n => {
            put(20, n, 9);
            29
        }
    };
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// A value already written as JSON (a text, a list of texts), shared by every response that
/// shows it and written out as is.
#[derive(Debug, Clone)]
pub struct RawJson(Arc<RawValue>);

impl RawJson {
    /// `value` as JSON; `null` if it cannot be written (texts and lists of texts always can).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        Self(Arc::from(serde_json::value::to_raw_value(value).unwrap_or_default()))
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Serialize)]
    struct Fast {
        #[serde(serialize_with = "instant")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "instant_opt")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        let base = Utc.with_ymd_and_hms(2026, 11, 30, 9, 5, 7).unwrap();
        let cases = [
            base,
            base + chrono::Duration::milliseconds(120),
            base + chrono::Duration::microseconds(123_456),
            base + chrono::Duration::microseconds(5),
            base + chrono::Duration::nanoseconds(1),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
        ];
        for at in cases {
            for maybe in [None, Some(at + chrono::Duration::days(400))] {
                let fast = serde_json::to_string(&Fast { at, maybe }).unwrap();
                let chrono = serde_json::to_string(&Chrono { at, maybe }).unwrap();
                assert_eq!(fast, chrono, "{at:?}");
            }
        }
    }

    #[test]
    fn raw_json_is_written_as_the_value_itself() {
        #[derive(Serialize)]
        struct View {
            title: RawJson,
            avoid: RawJson,
        }
        #[derive(Serialize)]
        struct Plain<'a> {
            title: &'a str,
            avoid: &'a [String],
        }
        let title = "Retinol \"A\" — <b>not</b>\n yet";
        let avoid = vec!["sauna".to_owned(), "ä\u{1}".to_owned()];
        let view = View { title: RawJson::of(title), avoid: RawJson::of(&avoid) };
        let expected = Plain { title, avoid: &avoid };
        assert_eq!(serde_json::to_string(&view).unwrap(), serde_json::to_string(&expected).unwrap());
    }
}
