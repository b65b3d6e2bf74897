//! The event list's queries, and `?contains=`: a page of the events whose payload contains a
//! JSON object, found the way that costs least whether the object is in most events or in
//! very few.
//!
//! One query ordered by id would leave the choice to the planner, which cannot know how
//! many events match: walking the id index backwards costs the events until the page is full
//! (a rare object: every event of the window), the GIN index costs every matching event of
//! every partition (a common object: most of the table). So the search goes in steps: the
//! newest [`WALK`] events through the id index (a common object fills the page there); then
//! spans of time, newest first, each searched through the GIN index, until the page is full
//! or the user's oldest event is passed. The first span is as long as the walk's matches say
//! the rest of the page needs (the walk's time for each match it found, times the matches
//! missing), each next one [`GROWTH`] times as long, and a span that starts in a quiet
//! stretch starts at the newest event below it instead. The work is a few times what the
//! page needs, and never the whole history.
//!
//! A span is searched in the partitions it overlaps, each named, with its id bounds written
//! so that no id index can serve them: on the newest rows the planner's statistics are
//! always behind (rows added since the last `ANALYZE` lie past its histogram and count as
//! none), so given the choice it walks the id index through a dense minute (50 ms for 50,000
//! events); the GIN index costs the matches, and once per search the pending list of a
//! partition being written.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio_postgres::{Row, types::ToSql};
use uuid::Uuid;
use warren_shared::partitions::{self, Partition, first_id_at};

use super::SUMMARY;
use crate::{error::Result, pagination::Page};

/// Newest events walked through the id index before the search turns to the GIN index.
const WALK: i64 = 2_000;

/// The shortest first span searched through the GIN index.
const MIN_SPAN: Duration = Duration::seconds(1);

/// How many times longer each span is than the one before.
const GROWTH: i32 = 4;

/// What every event query of the list filters on: `$1` the user, `$3`..`$6` the optional
/// filters; `$2` is the exclusive upper bound of the ids.
const FILTERS: &str = "user_id = $1 AND id < $2
       AND ($3::text IS NULL OR event_type = $3)
       AND ($4::uuid IS NULL OR source_id = $4)
       AND ($5::timestamptz IS NULL OR received_at >= $5)
       AND ($6::timestamptz IS NULL OR received_at < $6)";

/// [`FILTERS`] and `id >= $7`, with the id bounds in a form no index can serve
/// (`coalesce` hides the comparisons from the planner's index matching).
const UNINDEXED_FILTERS: &str = "user_id = $1 AND coalesce(id < $2 AND id >= $7, false)
       AND ($3::text IS NULL OR event_type = $3)
       AND ($4::uuid IS NULL OR source_id = $4)
       AND ($5::timestamptz IS NULL OR received_at >= $5)
       AND ($6::timestamptz IS NULL OR received_at < $6)";

/// The list's filters, as the queries bind them.
pub(super) struct Filters {
    /// Whose events.
    pub user_id: Uuid,
    /// Only this type.
    pub event_type: Option<String>,
    /// Only this source.
    pub source_id: Option<Uuid>,
    /// Received at or after.
    pub from: Option<OffsetDateTime>,
    /// Received before.
    pub to: Option<OffsetDateTime>,
}

impl Filters {
    /// `$1`..`$6`, with `below` as `$2`.
    fn params<'a>(&'a self, below: &'a Uuid) -> [&'a (dyn ToSql + Sync); 6] {
        [
            &self.user_id,
            below,
            &self.event_type,
            &self.source_id,
            &self.from,
            &self.to,
        ]
    }
}

/// One page of the user's events (`page.fetch()` rows at most, newest first).
pub(super) async fn page(
    client: &impl GenericClient,
    filters: &Filters,
    page: Page,
    contains: Option<&Value>,
) -> Result<Vec<Row>> {
    let below = page.before_or_max();
    let Some(contains) = contains else {
        let sql = format!("SELECT {SUMMARY} FROM events WHERE {FILTERS} ORDER BY id DESC LIMIT $7");
        let fetch = page.fetch();
        let mut params = filters.params(&below).to_vec();
        params.push(&fetch);
        return Ok(client.query(&sql, &params).await?);
    };
    containing(client, filters, below, page.fetch(), contains).await
}

/// Up to `fetch` events below `below` whose payload contains `contains`, newest first.
async fn containing(
    client: &impl GenericClient,
    filters: &Filters,
    below: Uuid,
    fetch: i64,
    contains: &Value,
) -> Result<Vec<Row>> {
    // The oldest walked, how many, the newest (PostgreSQL has no `min` or `max` of a uuid).
    let walked = format!(
        "SELECT id, count(*) OVER whole, last_value(id) OVER whole FROM (
             SELECT id FROM events WHERE {FILTERS} ORDER BY id DESC LIMIT $7
         ) newest
         WINDOW whole AS (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
         ORDER BY id LIMIT 1"
    );
    let mut params = filters.params(&below).to_vec();
    params.push(&WALK);
    let Some(row) = client.query_opt(&walked, &params).await? else {
        return Ok(Vec::new());
    };
    let (floor, count, newest): (Uuid, i64, Uuid) = (row.get(0), row.get(1), row.get(2));
    // The walked events' matches: the id range is narrow, so the planner reads it by id.
    let mut rows = walked_matches(client, filters, (floor, below), contains, fetch).await?;
    if count < WALK || rows.len() as i64 >= fetch {
        return Ok(rows);
    }
    let oldest = oldest(client, filters).await?;
    let tables = Partitions::of(client).await?;
    let found = rows.len() as i64;
    let mut span = first_span(time_of(newest) - time_of(floor), found, fetch);
    let mut upper = floor;
    while (rows.len() as i64) < fetch && upper > oldest {
        let Some(start) = newest_below(client, filters, upper).await? else {
            break;
        };
        let lower = time_of(start)
            .checked_sub(span)
            .map_or(oldest, first_id_at)
            .max(oldest);
        let wanted = fetch - rows.len() as i64;
        let range = (lower, upper);
        rows.extend(
            tables
                .matches(client, filters, range, contains, wanted)
                .await?,
        );
        (upper, span) = (lower, span.saturating_mul(GROWTH));
    }
    Ok(rows)
}

/// The first span's length: the walk took `walked` for `found` matches (one, if none), and
/// the page lacks `fetch - found`; at least [`MIN_SPAN`].
fn first_span(walked: Duration, found: i64, fetch: i64) -> Duration {
    let missing = i32::try_from(fetch - found).unwrap_or(i32::MAX);
    let per_match = walked / i32::try_from(found.max(1)).unwrap_or(i32::MAX);
    per_match.saturating_mul(missing).max(MIN_SPAN)
}

/// The walked events' matches, through the id index: up to `limit` with ids in
/// `[lower, upper)`, newest first. Read whole and then sorted (`OFFSET 0` keeps the planner
/// from walking the index for the order).
async fn walked_matches(
    client: &impl GenericClient,
    filters: &Filters,
    (lower, upper): (Uuid, Uuid),
    contains: &Value,
    limit: i64,
) -> Result<Vec<Row>> {
    let sql = format!(
        "SELECT * FROM (
             SELECT {SUMMARY} FROM events WHERE {FILTERS} AND id >= $7 AND payload @> $8 OFFSET 0
         ) span ORDER BY id DESC LIMIT $9"
    );
    let mut params = filters.params(&upper).to_vec();
    params.extend([&lower as &(dyn ToSql + Sync), contains, &limit]);
    Ok(client.query(&sql, &params).await?)
}

/// The id of the user's newest event below `upper`, if any: where the next span starts, so
/// that a quiet stretch costs one probe of the id index.
async fn newest_below(
    client: &impl GenericClient,
    filters: &Filters,
    upper: Uuid,
) -> Result<Option<Uuid>> {
    let row = client
        .query_opt(
            "SELECT id FROM events WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT 1",
            &[&filters.user_id, &upper],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// The partitions of `events` that a span is searched in.
struct Partitions(Vec<Partition>);

impl Partitions {
    /// The time partitions (and the legacy one) of `events`, read once for a page.
    async fn of(client: &impl GenericClient) -> Result<Self> {
        let rows = client.query(partitions::LIST, &[&"events"]).await?;
        Ok(Self(partitions::from_rows(&rows)))
    }

    /// Up to `limit` events with ids in `[lower, upper)` whose payload contains `contains`,
    /// newest first, from the partitions overlapping that range and the DEFAULT one (rows
    /// kept past their partition's drop), each through its GIN index.
    async fn matches(
        &self,
        client: &impl GenericClient,
        filters: &Filters,
        (lower, upper): (Uuid, Uuid),
        contains: &Value,
        limit: i64,
    ) -> Result<Vec<Row>> {
        let tables = self
            .0
            .iter()
            .filter(|p| p.lower < upper && p.upper > lower)
            .map(|p| p.name.as_str())
            .chain(["events_kept"]);
        let scans: Vec<String> = tables
            .map(|table| {
                format!(
                    "SELECT {SUMMARY} FROM \"{table}\" WHERE {UNINDEXED_FILTERS} AND payload @> $8"
                )
            })
            .collect();
        // `OFFSET 0`: read whole, then sorted (no partition's id index walked for the order).
        let sql = format!(
            "SELECT * FROM ({} OFFSET 0) span ORDER BY id DESC LIMIT $9",
            scans.join(" UNION ALL ")
        );
        let mut params = filters.params(&upper).to_vec();
        params.extend([&lower as &(dyn ToSql + Sync), contains, &limit]);
        Ok(client.query(&sql, &params).await?)
    }
}

/// The id of the user's oldest event (within `from`, when given): where the search stops.
async fn oldest(client: &impl GenericClient, filters: &Filters) -> Result<Uuid> {
    let row = client
        .query_opt(
            "SELECT id FROM events WHERE user_id = $1 ORDER BY id LIMIT 1",
            &[&filters.user_id],
        )
        .await?;
    let oldest = row.map_or(Uuid::max(), |row| row.get(0));
    Ok(match filters.from {
        Some(from) => oldest.max(first_id_at(from - Duration::minutes(1))),
        None => oldest,
    })
}

/// The time a UUIDv7 was taken (its first 48 bits, in milliseconds).
fn time_of(id: Uuid) -> OffsetDateTime {
    let millis = i128::try_from(id.as_u128() >> 80).unwrap_or(0);
    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_v7_tells_its_millisecond() {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time")
            + Duration::milliseconds(123);
        assert_eq!(time_of(first_id_at(at)), at);
        assert_eq!(
            time_of(Uuid::now_v7()).year(),
            OffsetDateTime::now_utc().year()
        );
    }
}
