//! `batch`: a subscription's JSON events delivered in groups (docs/API.md, "Batches"). Its
//! two numbers are stored as `subscriptions.batch_max_events` and `batch_max_wait_ms`; the
//! deliver worker does the grouping.

use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use warren_shared::{model::Ordering, ssrf::SsrfGuard};

use crate::error::{ApiError, Result};

/// The fewest events a batch may be set to carry (one is no batch).
pub const MIN_EVENTS: i32 = 2;
/// The most events one request carries.
pub const MAX_EVENTS: i32 = 500;
/// The longest a group may wait to fill, in ms.
pub const MAX_WAIT_MS: i32 = 60_000;

/// How a subscription's events are grouped: up to `max_events` per request, waiting at
/// most `max_wait_ms` after the first for the group to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The most events one request carries.
    #[schema(minimum = 2, maximum = 500, example = 100)]
    pub max_events: i32,
    /// The longest the first event of a group waits for others, in ms (0: send what is
    /// there at once).
    #[schema(minimum = 0, maximum = 60000, example = 1000)]
    pub max_wait_ms: i32,
}

impl Batch {
    /// The `batch` of a row of the subscription's columns: `None` when it has none.
    pub fn from_row(row: &Row) -> Option<Self> {
        let max_events: Option<i32> = row.get("batch_max_events");
        let max_wait_ms: Option<i32> = row.get("batch_max_wait_ms");
        Some(Self {
            max_events: max_events?,
            max_wait_ms: max_wait_ms?,
        })
    }
}

/// garde's rule for `batch`: each number within its range, said with its name (the error
/// names the field `batch`, the message which of its numbers is wrong).
pub(super) fn rule(batch: &Option<Batch>, _: &SsrfGuard) -> garde::Result {
    let Some(batch) = batch else {
        return Ok(());
    };
    if !(MIN_EVENTS..=MAX_EVENTS).contains(&batch.max_events) {
        return Err(garde::Error::new(format!(
            "`max_events` must be from {MIN_EVENTS} to {MAX_EVENTS}"
        )));
    }
    if !(0..=MAX_WAIT_MS).contains(&batch.max_wait_ms) {
        return Err(garde::Error::new(format!(
            "`max_wait_ms` must be from 0 to {MAX_WAIT_MS}"
        )));
    }
    Ok(())
}

/// What `batch` cannot be combined with: a FIFO line sends one delivery at a time, and a
/// template renders one event's body (a batch's body is Warren's own).
pub(super) fn check_combination(
    batch: Option<Batch>,
    ordering: Ordering,
    payload_template: Option<&str>,
) -> Result<()> {
    if batch.is_none() {
        return Ok(());
    }
    if ordering == Ordering::Fifo {
        return Err(ApiError::field(
            "batch",
            "cannot be combined with `ordering: fifo`, which sends one delivery at a time",
        ));
    }
    if payload_template.is_some() {
        return Err(ApiError::field(
            "batch",
            "cannot be combined with `payload_template`: a batch's body is the list of events",
        ));
    }
    Ok(())
}

/// The two columns a `batch` is stored in.
pub(super) fn columns(batch: Option<Batch>) -> (Option<i32>, Option<i32>) {
    (batch.map(|b| b.max_events), batch.map(|b| b.max_wait_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(max_events: i32, max_wait_ms: i32) -> Option<Batch> {
        Some(Batch {
            max_events,
            max_wait_ms,
        })
    }

    #[test]
    fn each_number_is_checked_against_its_range() {
        let guard = SsrfGuard::default();
        assert!(rule(&None, &guard).is_ok());
        assert!(rule(&batch(2, 0), &guard).is_ok());
        assert!(rule(&batch(500, 60_000), &guard).is_ok());
        for (events, wait, named) in [
            (1, 0, "max_events"),
            (501, 0, "max_events"),
            (100, -1, "max_wait_ms"),
            (100, 60_001, "max_wait_ms"),
        ] {
            let error = rule(&batch(events, wait), &guard).expect_err("out of range");
            assert!(error.message().contains(named), "{events}, {wait}");
        }
    }

    #[test]
    fn batch_goes_with_neither_a_fifo_line_nor_a_template() {
        let some = batch(10, 100);
        assert!(check_combination(some, Ordering::None, None).is_ok());
        assert!(check_combination(None, Ordering::Fifo, Some("{{ payload }}")).is_ok());
        assert!(check_combination(some, Ordering::Fifo, None).is_err());
        assert!(check_combination(some, Ordering::None, Some("{{ payload }}")).is_err());
    }
}
