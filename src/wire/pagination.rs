//! Cursor pagination: `?limit=&cursor=` → `{items, next_cursor}`. The cursor is opaque to
//! clients. A list in id order carries the last id seen (ids are time-ordered UUIDv7, so pages
//! are stable); a list in another order (a check-in's `reported_at`, a session's `performed_at`)
//! carries that key and the id, and the next page starts strictly after the pair (keyset
//! pagination: no offsets, nothing skipped or repeated when rows are added meanwhile).

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ErrorCode},
    wire::json::{JsonWriter, WriteJson},
};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; absent or empty for the first.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The limit to fetch (one more than asked, to know whether a next page exists) and the
    /// decoded cursor.
    pub fn resolve(&self) -> Result<(i64, Option<String>), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::new(ErrorCode::InvalidQuery, format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let cursor = match &self.cursor {
            // `?cursor=` (a client that fills it from an absent `next_cursor`) is the first page.
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) => Some(decode(c).ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "cursor is not valid"))?),
        };
        Ok((i64::from(limit), cursor))
    }
}

/// Pagination plus `updated_since`, for the lists the app keeps in sync.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; absent or empty for the first.
    pub cursor: Option<String>,
    /// Only items created or changed at or after this instant (RFC 3339, e.g.
    /// `2026-12-05T09:30:00Z`). To sync, note the time before the first page, read every page,
    /// and pass the noted time next time.
    #[param(format = DateTime)]
    pub updated_since: Option<String>,
}

impl SyncParams {
    pub fn page(&self) -> PageParams {
        PageParams { limit: self.limit, cursor: self.cursor.clone() }
    }

    /// `updated_since` as the database stores instants (UTC, microseconds); a 400 naming the
    /// parameter when it is not RFC 3339.
    pub fn since(&self) -> Result<Option<NaiveDateTime>, ApiError> {
        parse_since(self.updated_since.as_deref())
    }
}

/// Parses an `updated_since` value. A `+` left unencoded in a query string arrives as a space, so
/// a space before the offset is read as the `+` it was.
pub fn parse_since(text: Option<&str>) -> Result<Option<NaiveDateTime>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(None) };
    DateTime::parse_from_rfc3339(&text.replace(' ', "+"))
        .map(|t| Some(t.with_timezone(&Utc).trunc_subsecs(6).naive_utc()))
        .map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "updated_since must be an RFC 3339 instant, e.g. 2026-12-05T09:30:00Z",
            )
        })
}

/// A sort key a cursor can carry beside the id.
pub trait SortKey: Sized {
    fn encode_key(&self) -> String;
    fn decode_key(text: &str) -> Option<Self>;
}

impl SortKey for NaiveDateTime {
    fn encode_key(&self) -> String {
        self.and_utc().timestamp_micros().to_string()
    }

    fn decode_key(text: &str) -> Option<Self> {
        DateTime::from_timestamp_micros(text.parse().ok()?).map(|t| t.naive_utc())
    }
}

impl SortKey for String {
    fn encode_key(&self) -> String {
        self.clone()
    }

    fn decode_key(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

/// Where the previous page of a keyed list ended: its last item's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After<K> {
    pub key: K,
    pub id: String,
}

impl PageParams {
    /// [`PageParams::resolve`] for a list ordered by `(key, id)`.
    pub fn resolve_keyed<K: SortKey>(&self) -> Result<(i64, Option<After<K>>), ApiError> {
        let limit = PageParams { limit: self.limit, cursor: None }.resolve()?.0;
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => {
                Some(decode_keyed(c).ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "cursor is not valid"))?)
            }
        };
        Ok((limit, after))
    }
}

/// The cursor of a keyed list: base64 of the key, a tab, and the id.
pub fn encode_keyed<K: SortKey>(key: &K, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\t{id}", key.encode_key()))
}

fn decode_keyed<K: SortKey>(cursor: &str) -> Option<After<K>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (key, id) = text.split_once('\t')?;
    if id.is_empty() || id.len() > 64 || id.contains('\0') {
        return None;
    }
    Some(After { key: K::decode_key(key)?, id: id.to_owned() })
}

fn decode(cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    uuid::Uuid::parse_str(&id).ok().map(|_| id)
}

pub fn encode(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with `limit` (which is one more than the page size
    /// when called through [`fetch_limit`]).
    pub fn from_rows<R>(rows: Vec<R>, limit: i64, id: impl Fn(&R) -> &str, map: impl FnMut(R) -> T) -> Self {
        Self::from_rows_with(rows, limit, |r| encode(id(r)), map)
    }

    /// [`Page::from_rows`] for a list ordered by `(key, id)`.
    pub fn from_keyed_rows<R, K: SortKey>(
        rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> (K, &str),
        map: impl FnMut(R) -> T,
    ) -> Self {
        Self::from_rows_with(
            rows,
            limit,
            |r| {
                let (k, id) = key(r);
                encode_keyed(&k, id)
            },
            map,
        )
    }

    fn from_rows_with<R>(mut rows: Vec<R>, limit: i64, cursor: impl Fn(&R) -> String, map: impl FnMut(R) -> T) -> Self {
        let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > page_size;
        rows.truncate(page_size);
        let next_cursor = if more { rows.last().map(cursor) } else { None };
        Self { items: rows.into_iter().map(map).collect(), next_cursor }
    }

    /// Pages a list already in memory and in `(key, id)` order (ascending, or descending when
    /// `descending`), for the short catalogues that are read whole from a cache.
    pub fn of_sorted<K: SortKey + Ord + Clone>(
        items: Vec<T>,
        after: Option<&After<K>>,
        limit: i64,
        descending: bool,
        key: impl Fn(&T) -> (K, String),
    ) -> Self {
        let rows: Vec<T> = items
            .into_iter()
            .filter(|item| {
                let Some(after) = after else { return true };
                let (k, id) = key(item);
                let position = (k, id).cmp(&(after.key.clone(), after.id.clone()));
                if descending { position.is_lt() } else { position.is_gt() }
            })
            .take(usize::try_from(fetch_limit(limit)).unwrap_or(usize::MAX))
            .collect();
        Self::from_rows_with(
            rows,
            limit,
            |r| {
                let (k, id) = key(r);
                encode_keyed(&k, &id)
            },
            |r| r,
        )
    }
}

impl<T: WriteJson> WriteJson for Page<T> {
    fn write_json(&self, out: &mut JsonWriter) {
        out.raw("{\"items\":");
        out.list(&self.items);
        out.raw(",\"next_cursor\":");
        out.opt_str(self.next_cursor.as_deref());
        out.raw("}");
    }

    fn size_hint(&self) -> usize {
        self.items.iter().map(|i| i.size_hint() + 1).sum::<usize>() + 64
    }
}

/// One more row than the page holds.
pub fn fetch_limit(limit: i64) -> i64 {
    limit + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded_and_cursors_round_trip() {
        let p = PageParams { limit: Some(0), cursor: None };
        assert!(p.resolve().is_err());
        let p = PageParams { limit: Some(201), cursor: None };
        assert!(p.resolve().is_err());
        let id = uuid::Uuid::now_v7().to_string();
        let p = PageParams { limit: None, cursor: Some(encode(&id)) };
        assert_eq!(p.resolve().unwrap(), (50, Some(id)));
        let p = PageParams { limit: None, cursor: Some("garbage!".into()) };
        assert!(p.resolve().is_err());
        let p = PageParams { limit: Some(10), cursor: Some(String::new()) };
        assert_eq!(p.resolve().unwrap(), (10, None), "an empty cursor is the first page");
    }

    #[test]
    fn keyed_cursors_round_trip_and_refuse_what_they_did_not_make() {
        let at = DateTime::from_timestamp_micros(1_773_651_600_123_456).unwrap().naive_utc();
        let id = uuid::Uuid::now_v7().to_string();
        let p = PageParams { limit: Some(5), cursor: Some(encode_keyed(&at, &id)) };
        assert_eq!(p.resolve_keyed().unwrap(), (5, Some(After { key: at, id: id.clone() })));
        for bad in ["", "garbage!", &encode(&id), &encode("notanumber\tid"), &encode("12\t")] {
            let p = PageParams { limit: None, cursor: Some(bad.to_owned()) };
            let resolved = p.resolve_keyed::<NaiveDateTime>();
            assert!(bad.is_empty() == resolved.is_ok(), "{bad:?}: {resolved:?}");
        }
    }

    #[test]
    fn updated_since_is_rfc_3339_and_forgives_an_unencoded_plus() {
        let want = DateTime::parse_from_rfc3339("2026-12-05T08:30:00Z").unwrap().naive_utc();
        assert_eq!(parse_since(Some("2026-12-05T09:30:00+01:00")).unwrap(), Some(want));
        assert_eq!(parse_since(Some("2026-12-05T09:30:00 01:00")).unwrap(), Some(want));
        assert_eq!(parse_since(Some("2026-12-05T08:30:00Z")).unwrap(), Some(want));
        assert_eq!(parse_since(None).unwrap(), None);
        assert!(parse_since(Some("yesterday")).is_err());
    }

    #[test]
    fn a_sorted_catalogue_pages_in_memory_like_the_database_does() {
        let items: Vec<(String, String)> = ["a", "b", "c", "d"].iter().map(|k| (k.to_string(), "1".into())).collect();
        let first = Page::of_sorted(items.clone(), None, 3, false, |i| i.clone());
        assert_eq!(first.items.len(), 3);
        let cursor = first.next_cursor.clone().unwrap();
        let p = PageParams { limit: Some(3), cursor: Some(cursor) };
        let (_, after) = p.resolve_keyed::<String>().unwrap();
        let rest = Page::of_sorted(items, after.as_ref(), 3, false, |i| i.clone());
        assert_eq!(rest.items, [("d".to_string(), "1".to_string())]);
        assert_eq!(rest.next_cursor, None);
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        let rows = vec!["a", "b", "c"];
        let page = Page::from_rows(rows.clone(), 2, |r| r, |r| r.to_uppercase());
        assert_eq!(page.items, ["A", "B"]);
        assert_eq!(page.next_cursor, Some(encode("b")));
        let page = Page::from_rows(rows, 3, |r| r, |r| r.to_owned());
        assert_eq!(page.next_cursor, None);
    }
}
