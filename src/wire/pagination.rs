//! Cursor pagination: `?limit=&cursor=` → `{items, next_cursor}`. The cursor is opaque to
//! clients (base64 of the last id seen); ids are time-ordered UUIDv7, so pages are stable.

use base64::Engine;
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
    pub fn from_rows<R>(mut rows: Vec<R>, limit: i64, id: impl Fn(&R) -> &str, map: impl FnMut(R) -> T) -> Self {
        let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > page_size;
        rows.truncate(page_size);
        let next_cursor = if more { rows.last().map(|r| encode(id(r))) } else { None };
        Self { items: rows.into_iter().map(map).collect(), next_cursor }
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
    fn a_page_knows_whether_more_follow() {
        let rows = vec!["a", "b", "c"];
        let page = Page::from_rows(rows.clone(), 2, |r| r, |r| r.to_uppercase());
        assert_eq!(page.items, ["A", "B"]);
        assert_eq!(page.next_cursor, Some(encode("b")));
        let page = Page::from_rows(rows, 3, |r| r, |r| r.to_owned());
        assert_eq!(page.next_cursor, None);
    }
}
