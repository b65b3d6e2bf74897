//! Cursor pagination for every list: `?limit=1..200` (default 50) and `?cursor=<opaque>`,
//! answered as `{"data": [...], "next_cursor": "<opaque>" | null}`.
//!
//! Lists run newest first by id. Ids are UUIDv7, so they grow with time: a cursor is the last
//! id seen, and rows created while someone pages can only appear before the first page, never
//! inside later ones (no duplicates, no gaps).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// The `limit` and `cursor` query parameters, as sent.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where the previous page ended: a `next_cursor` this API gave out. Empty: the first
    /// page, as without it.
    #[param(pattern = r"^([A-Za-z0-9_-]{21}[AQgw])?$")]
    pub cursor: Option<String>,
}

/// The `from` and `to` query parameters (RFC 3339), validated so `from` is not after `to`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeRange {
    /// Only rows at or after this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// Only rows before this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
}

impl TimeRange {
    /// The range, or 400 when `from` is after `to`.
    pub fn checked(self) -> Result<Self, ApiError> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ApiError::BadRequest("`from` must not be after `to`".into()));
        }
        Ok(self)
    }
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Rows per page, 1..=200.
    pub limit: i64,
    /// Only rows with a smaller id than this.
    pub before: Option<Uuid>,
}

impl TryFrom<&PageQuery> for Page {
    type Error = ApiError;

    fn try_from(query: &PageQuery) -> Result<Self, Self::Error> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "`limit` must be between 1 and {MAX_LIMIT}"
            )));
        }
        let before = query
            .cursor
            .as_deref()
            .filter(|cursor| !cursor.is_empty())
            .map(decode_cursor)
            .transpose()?;
        Ok(Page { limit, before })
    }
}

impl Page {
    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The cursor bound for SQL: `id < $n`, with the largest id when there is no cursor.
    pub fn before_or_max(&self) -> Uuid {
        self.before.unwrap_or(Uuid::max())
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    /// The rows.
    pub data: Vec<T>,
    /// Where the next page starts, `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Cuts the `page.fetch()` rows a query returned down to one page and its next cursor.
pub fn paginate<T>(mut rows: Vec<T>, page: Page, id_of: impl Fn(&T) -> Uuid) -> Paginated<T> {
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|row| encode_cursor(id_of(row))))
        .flatten();
    Paginated {
        data: rows,
        next_cursor,
    }
}

/// A cursor is the id's 16 bytes in unpadded URL-safe base64: 22 characters, the last one
/// carrying two bits (the pattern of `cursor` above says as much).
fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::BadRequest("`cursor` is not a cursor this API gave out".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<i64>, cursor: Option<&str>) -> Result<Page, ApiError> {
        Page::try_from(&PageQuery {
            limit,
            cursor: cursor.map(str::to_owned),
        })
    }

    #[test]
    fn limits_outside_one_to_two_hundred_are_refused() {
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(201), None).is_err());
        assert_eq!(page(None, None).expect("default").limit, 50);
        assert_eq!(page(Some(200), None).expect("max").limit, 200);
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor(id);
        assert_eq!(page(None, Some(&cursor)).expect("valid").before, Some(id));
        assert!(page(None, Some("not-a-cursor")).is_err());
        assert!(page(None, Some("AAAA")).is_err());
        assert_eq!(page(None, Some("")).expect("the first page").before, None);
    }

    /// Every string the documented pattern admits is a cursor, and every cursor matches it.
    #[test]
    fn the_cursor_pattern_is_exactly_the_cursors() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor(id);
        assert_eq!(cursor.len(), 22);
        assert!(cursor.ends_with(['A', 'Q', 'g', 'w']), "{cursor}");
        for last in ['A', 'Q', 'g', 'w'] {
            let cursor = format!("{}{last}", "_-09azAZ".repeat(3).get(..21).expect("21"));
            assert!(decode_cursor(&cursor).is_ok(), "{cursor}");
        }
        for last in ['B', 'R', 'h', 'x', '-', '_'] {
            let cursor = format!("{}{last}", "A".repeat(21));
            assert!(decode_cursor(&cursor).is_err(), "{cursor}");
        }
    }

    #[test]
    fn a_full_page_has_a_cursor_and_the_last_page_has_none() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page2 = Page {
            limit: 2,
            before: None,
        };
        let first = paginate(ids.clone(), page2, |id| *id);
        assert_eq!(first.data.len(), 2);
        assert_eq!(first.next_cursor, Some(encode_cursor(ids[1])));
        let last = paginate(ids[..2].to_vec(), page2, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
