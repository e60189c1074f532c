//! Writing large list responses cheaply, with the same bytes serde's defaults would write:
//! instants formatted directly instead of through chrono's `Display` (one `write_char` per
//! character), texts escaped once and kept as JSON
//! instead of being copied and escaped again for every row that shows them, and the list views
//! served most written by hand ([`WriteJson`], served as [`Fast`]): serde_json escapes every key
//! and every text a byte at a time (the figures: docs/performance.md, items 10 and 16). Each
//! hand-written view keeps its derived `Serialize` (the API document's shape), and a test checks
//! that both write the same bytes: for arbitrary values here; for the staff page and the reminder
//! lists, whose rows are written straight from the database row
//! (`services::patients::ListedPatientJson`, `http::reminders::ListedReminder`), API tests on both
//! backends against each record's own serde-written view (and, for reminders, a property test on
//! SQLite rows of arbitrary values).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError, body::BoxBody, http::header::ContentType};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::{
    db::{from_db, raw::RawInstant},
    error::ApiError,
};

/// A view that writes itself as JSON, byte for byte as serde_json writes its `Serialize`.
pub trait WriteJson {
    fn write_json(&self, out: &mut JsonWriter);

    /// About how many bytes it writes (the buffer is reserved once).
    fn size_hint(&self) -> usize;
}

/// A response body written with [`WriteJson`] (`application/json`, as `web::Json` sends).
pub struct Fast<T>(pub T);

impl<T: WriteJson> Responder for Fast<T> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        let mut out = JsonWriter::with_capacity(self.0.size_hint());
        self.0.write_json(&mut out);
        match out.finish() {
            Ok(body) => HttpResponse::Ok().insert_header(ContentType::json()).body(body),
            Err(e) => ApiError::internal(e).error_response(),
        }
    }
}

/// JSON written into a buffer, piece by piece; the caller writes the punctuation and keys.
pub struct JsonWriter {
    buf: Vec<u8>,
    failed: Option<serde_json::Error>,
}

impl JsonWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        Self { buf: Vec::with_capacity(bytes), failed: None }
    }

    /// The bytes written, or the first error of a value written through serde_json.
    pub fn finish(self) -> Result<Vec<u8>, serde_json::Error> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }

    /// What was written, kept whole to be written again inside a larger document.
    pub fn finish_written(self) -> Result<Written, serde_json::Error> {
        self.finish().map(Written)
    }

    /// JSON another writer wrote.
    pub fn written(&mut self, json: &Written) {
        self.buf.extend_from_slice(&json.0);
    }

    /// Part of JSON another writer wrote: `json[range]`, cut where that writer's
    /// [`position`](Self::position) was taken.
    pub fn written_part(&mut self, json: &Written, range: std::ops::Range<usize>) {
        self.buf.extend_from_slice(&json.0[range]);
    }

    /// How many bytes have been written.
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// JSON written by the caller (keys with their quotes, punctuation, a [`RawJson`]).
    pub fn raw(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// A text as a JSON string. serde_json escapes only `"`, `\` and controls below U+0020; a
    /// text with none of them ([`is_plain`]) is written as is, any other through serde_json.
    pub fn str(&mut self, text: &str) {
        if is_plain(text.as_bytes()) {
            self.quoted(text.as_bytes());
        } else {
            self.value(text);
        }
    }

    /// `"bytes"`: text that needs no escaping.
    fn quoted(&mut self, bytes: &[u8]) {
        self.buf.reserve(bytes.len() + 2);
        self.buf.push(b'"');
        self.buf.extend_from_slice(bytes);
        self.buf.push(b'"');
    }

    pub fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(t) => self.str(t),
            None => self.raw("null"),
        }
    }

    /// An instant as [`instant`] writes it.
    pub fn instant(&mut self, t: &DateTime<Utc>) {
        let mut buf = [0u8; 30];
        match write_instant(t, &mut buf) {
            Some(len) => self.quoted(&buf[..len]),
            None => self.str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }

    /// An instant given as microseconds since 1970-01-01 UTC, as [`instant`] writes it.
    pub fn unix_micros(&mut self, micros: i64) {
        let (secs, sub) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
        let mut buf = [0u8; 30];
        match u32::try_from(sub * 1_000).ok().and_then(|nanos| write_unix(secs, nanos, &mut buf)) {
            Some(len) => self.quoted(&buf[..len]),
            None => match DateTime::from_timestamp_micros(micros) {
                Some(t) => self.str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                None => {
                    self.failed.get_or_insert(serde::ser::Error::custom("an instant outside chrono's range"));
                }
            },
        }
    }

    /// An instant as read from the database's row, as [`instant`] writes it.
    pub fn raw_instant(&mut self, at: RawInstant) {
        match at {
            RawInstant::UnixMicros(micros) => self.unix_micros(micros),
            RawInstant::Naive(t) => self.instant(&from_db(t)),
        }
    }

    pub fn opt_instant(&mut self, t: Option<&DateTime<Utc>>) {
        match t {
            Some(t) => self.instant(t),
            None => self.raw("null"),
        }
    }

    pub fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    /// `[a,b,…]`.
    pub fn list<T: WriteJson>(&mut self, items: &[T]) {
        self.buf.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            item.write_json(self);
        }
        self.buf.push(b']');
    }

    /// Any other value, through serde_json (numbers, dates, texts that need escaping).
    pub fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Err(e) = serde_json::to_writer(&mut self.buf, value) {
            self.failed.get_or_insert(e);
        }
    }
}

/// Whether no byte of `text` needs escaping in a JSON string (`"`, `\`, below 0x20). The check
/// has no early exit, so it runs over whole words.
fn is_plain(text: &[u8]) -> bool {
    !text.iter().fold(false, |bad, &b| bad | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// A JSON value a [`JsonWriter`] wrote ([`JsonWriter::finish_written`]).
#[derive(Debug, Clone)]
pub struct Written(Vec<u8>);

impl Written {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
/// 0–9999 and leap seconds, which chrono writes. The date comes from the day number by integer
/// arithmetic (chrono's `month()` and `day()` each decode its packed date again), two digits at a
/// time.
fn format_instant<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; 30]) -> Option<&'a str> {
    let len = write_instant(t, buf)?;
    std::str::from_utf8(&buf[..len]).ok()
}

/// [`format_instant`]'s bytes; their length.
fn write_instant(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    write_unix(t.timestamp(), t.timestamp_subsec_nanos(), buf)
}

/// [`write_instant`] for the instant `secs` seconds and `nanos` after 1970-01-01 UTC.
fn write_unix(secs: i64, nanos: u32, buf: &mut [u8; 30]) -> Option<usize> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    let of_day = u32::try_from(secs.rem_euclid(86_400)).ok()?;
    put2(buf, 0, year / 100);
    put2(buf, 2, year % 100);
    put2(buf, 5, month);
    put2(buf, 8, day);
    put2(buf, 11, of_day / 3600);
    put2(buf, 14, of_day / 60 % 60);
    put2(buf, 17, of_day % 60);
    let end = match nanos {
        0 => 19,
        n if n % 1_000_000 == 0 => {
            let ms = n / 1_000_000;
            buf[20] = b'0' + (ms / 100) as u8;
            put2(buf, 21, ms % 100);
            23
        }
        n if n % 1_000 == 0 => {
            let us = n / 1_000;
            put2(buf, 20, us / 10_000);
            put2(buf, 22, us / 100 % 100);
            put2(buf, 24, us % 100);
            26
        }
        n => {
            buf[20] = b'0' + (n / 100_000_000) as u8;
            put2(buf, 21, n / 1_000_000 % 100);
            put2(buf, 23, n / 10_000 % 100);
            put2(buf, 25, n / 100 % 100);
            put2(buf, 27, n % 100);
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
    Some(end + 1)
}

/// The two digits of `v` (0–99) at `at`.
fn put2(buf: &mut [u8; 30], at: usize, v: u32) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let i = (v as usize % 100) * 2;
    buf[at] = PAIRS[i];
    buf[at + 1] = PAIRS[i + 1];
}

/// (year, month, day) of a day counted from 1970-01-01 in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`: eras of 400 years, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(0), u32::try_from(day).unwrap_or(0))
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

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Values for the property tests of views written by hand.
#[cfg(test)]
pub(crate) mod arbitrary {
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    /// Texts: mostly plain, often with quotes, backslashes, controls and non-ASCII.
    pub fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9 @.:_-]{1,24}", any::<String>(), r#"["\\\x00-\x1f\x7fé→😀a]{0,12}"#]
    }

    /// An instant as we store them: years 0–9999, whole microseconds (often whole seconds or ms).
    pub fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (
            -62_167_219_200i64..253_402_300_800,
            prop_oneof![Just(0u32), (0..1000u32).prop_map(|ms| ms * 1000), 0..1_000_000u32],
        )
            .prop_map(|(secs, micros)| DateTime::from_timestamp(secs, micros * 1000).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SubsecRound, TimeZone};
    use proptest::prelude::*;

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

    /// Instants from year -300 to 12000, with any fraction (0, ms, µs or ns) and now and then
    /// a leap second: the ranges chrono writes differently.
    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        (-71_000_000_000i64..316_000_000_000, prop_oneof![Just(0u32), 0..1000u32, 0..1_000_000u32, 0..2_000_000_000u32])
            .prop_map(|(secs, n)| {
                let nanos = match n {
                    0..1000 => n * 1_000_000,
                    1000..1_000_000 => n * 1_000,
                    _ => n,
                };
                DateTime::from_timestamp(secs, nanos)
                    .or_else(|| DateTime::from_timestamp(secs, nanos % 1_000_000_000))
                    .unwrap_or_default()
            })
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_chrono_writes_it(at in any_instant()) {
            let fast = serde_json::to_string(&Fast { at, maybe: None }).unwrap();
            let chrono = serde_json::to_string(&Chrono { at, maybe: None }).unwrap();
            prop_assert_eq!(fast, chrono);
        }

        #[test]
        fn an_instant_in_microseconds_is_written_as_chrono_writes_it(at in any_instant()) {
            // A count of microseconds has no leap second (nor has a stored instant).
            prop_assume!(at.timestamp_subsec_nanos() < 1_000_000_000);
            let at = at.trunc_subsecs(6);
            let mut out = JsonWriter::with_capacity(32);
            out.unix_micros(at.timestamp_micros());
            let written = String::from_utf8(out.finish().unwrap()).unwrap();
            prop_assert_eq!(written, serde_json::to_string(&at).unwrap());
        }
    }

    proptest! {
        /// Texts of up to 40 bytes with the bytes that need escaping (and their neighbours, and
        /// UTF-8 sequences) anywhere.
        #[test]
        fn a_text_is_written_as_serde_json_writes_it(text in r#"[a-z "\\\x00-\x1f\x21\x23\x5b\x5d\x7f\u{80}é→😀]{0,40}"#) {
            let mut out = JsonWriter::with_capacity(64);
            out.str(&text);
            let written = String::from_utf8(out.finish().unwrap()).unwrap();
            prop_assert_eq!(written, serde_json::to_string(&text).unwrap());
        }
    }

    #[test]
    fn each_byte_that_needs_escaping_is_found_wherever_it_is() {
        for special in ['\u{0}', '\u{1f}', '"', '\\'] {
            for at in 0..17 {
                let mut text: String = "a".repeat(17);
                text.replace_range(at..=at, &special.to_string());
                assert!(!is_plain(text.as_bytes()), "{text:?}");
            }
        }
        for plain in ["", " ", "!#[]~\u{7f}", "aaaaaaaaaaaaaaaaa", "é→😀 plain text of some length"] {
            assert!(is_plain(plain.as_bytes()), "{plain:?}");
        }
    }

    #[test]
    fn an_instant_chrono_cannot_hold_is_an_error() {
        let mut out = JsonWriter::with_capacity(32);
        out.unix_micros(i64::MAX);
        assert!(out.finish().is_err());
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

    mod hand_written {
        use proptest::{option, prelude::*};

        use crate::wire::{
            json::{JsonWriter, WriteJson},
            pagination::Page,
        };

        fn written<T: WriteJson>(view: &T) -> String {
            let mut out = JsonWriter { buf: Vec::new(), failed: None };
            view.write_json(&mut out);
            String::from_utf8(out.finish().unwrap()).unwrap()
        }

        /// An item of a page, written by hand.
        #[derive(serde::Serialize)]
        struct Item {
            name: String,
        }

        impl WriteJson for Item {
            fn write_json(&self, out: &mut JsonWriter) {
                out.raw("{\"name\":");
                out.str(&self.name);
                out.raw("}");
            }

            fn size_hint(&self) -> usize {
                self.name.len() + 16
            }
        }

        proptest! {
            #[test]
            fn a_page_is_written_as_serde_json_writes_it(
                names in prop::collection::vec(crate::wire::json::arbitrary::text(), 0..4),
                next_cursor in option::of(crate::wire::json::arbitrary::text()),
            ) {
                let page = Page { items: names.into_iter().map(|name| Item { name }).collect(), next_cursor };
                prop_assert_eq!(written(&page), serde_json::to_string(&page).unwrap());
            }
        }

        #[test]
        fn a_value_serde_json_cannot_write_is_an_error_not_a_body() {
            let mut out = JsonWriter { buf: Vec::new(), failed: None };
            out.value(&f64::NAN); // written as null by serde_json: not an error
            out.value(&std::collections::HashMap::from([((1, 2), 3)]));
            assert!(out.finish().is_err());
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
