//! Reading the rollups (`subscription_rollups_minute` and `_hour`, migration V16) for a set
//! of subscriptions: a window's totals and latency histogram, and its series, each one
//! statement whatever the number of subscriptions or of attempts. A window starts on a
//! whole minute: its first minutes up to the next whole hour come from minute rows, the rest
//! from hour rows (at most 59 + 168 rows per subscription).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// A subscription's attempts in a window, summed.
#[derive(Debug, Default)]
pub struct Totals {
    /// Attempts.
    pub total: i64,
    /// Attempts that got a 2xx.
    pub succeeded: i64,
    /// Attempts that timed out.
    pub timeouts: i64,
    /// Their durations added up, in ms.
    pub duration_ms_sum: i64,
    /// How many fell in each latency bucket (see [`super::histogram`]).
    pub latency: Vec<i64>,
}

/// Totals and latency histograms of `ids` over the minutes `[start, hour)` and the hours
/// from `hour` on (`hour`: `start` rounded up to a whole hour); also what the EXPLAIN test
/// checks.
pub const TOTALS: &str = "WITH r AS (
         SELECT subscription_id, attempts, succeeded, timeouts, duration_ms_sum, latency
         FROM subscription_rollups_minute
         WHERE subscription_id = ANY($1) AND bucket >= $2 AND bucket < $3
         UNION ALL
         SELECT subscription_id, attempts, succeeded, timeouts, duration_ms_sum, latency
         FROM subscription_rollups_hour WHERE subscription_id = ANY($1) AND bucket >= $3),
     sums AS (
         SELECT subscription_id, sum(attempts)::int8 AS total, sum(succeeded)::int8 AS succeeded,
             sum(timeouts)::int8 AS timeouts, sum(duration_ms_sum)::int8 AS duration_ms_sum
         FROM r GROUP BY 1),
     buckets AS (
         SELECT subscription_id, i, sum(n)::int8 AS n
         FROM r, unnest(r.latency) WITH ORDINALITY AS u(n, i) GROUP BY 1, 2),
     histograms AS (
         SELECT subscription_id, array_agg(n ORDER BY i) AS latency FROM buckets GROUP BY 1)
     SELECT s.*, coalesce(h.latency, '{}') AS latency
     FROM sums AS s LEFT JOIN histograms AS h USING (subscription_id)";

/// Each subscription's totals over the window starting at `start`; subscriptions with no
/// attempts in it are absent.
pub async fn totals(
    client: &impl GenericClient,
    ids: &[Uuid],
    start: OffsetDateTime,
) -> Result<HashMap<Uuid, Totals>> {
    let hour = ceil_hour(start);
    let rows = client.query(TOTALS, &[&ids, &start, &hour]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let totals = Totals {
                total: r.get("total"),
                succeeded: r.get("succeeded"),
                timeouts: r.get("timeouts"),
                duration_ms_sum: r.get("duration_ms_sum"),
                latency: r.get("latency"),
            };
            (r.get("subscription_id"), totals)
        })
        .collect())
}

/// One point of a subscription's series: its start, attempts succeeded and failed.
pub type Counted = (OffsetDateTime, i64, i64);

/// Each subscription's attempts from `start` on, per `width` seconds, read from the minute
/// rows (`hourly` false) or the hour rows; only the points that had attempts, in order.
pub async fn series(
    client: &impl GenericClient,
    ids: &[Uuid],
    start: OffsetDateTime,
    width: f64,
    hourly: bool,
) -> Result<HashMap<Uuid, Vec<Counted>>> {
    let table = if hourly {
        "subscription_rollups_hour"
    } else {
        "subscription_rollups_minute"
    };
    let rows = client
        .query(
            &format!(
                "SELECT subscription_id,
                        date_bin(make_interval(secs => $3), bucket, TIMESTAMPTZ 'epoch') AS t,
                        sum(succeeded)::int8 AS succeeded,
                        sum(attempts - succeeded)::int8 AS failed
                 FROM {table} WHERE subscription_id = ANY($1) AND bucket >= $2
                 GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            &[&ids, &start, &width],
        )
        .await?;
    let mut series: HashMap<Uuid, Vec<Counted>> = HashMap::new();
    for r in &rows {
        series.entry(r.get("subscription_id")).or_default().push((
            r.get("t"),
            r.get("succeeded"),
            r.get("failed"),
        ));
    }
    Ok(series)
}

/// `at` rounded up to a whole hour.
fn ceil_hour(at: OffsetDateTime) -> OffsetDateTime {
    let secs = at.unix_timestamp();
    let hour = secs.div_euclid(3_600) * 3_600;
    let hour = if hour == secs { hour } else { hour + 3_600 };
    OffsetDateTime::from_unix_timestamp(hour).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_window_reads_minute_rows_up_to_the_next_whole_hour() {
        assert_eq!(
            ceil_hour(datetime!(2026-11-22 10:15:00 UTC)),
            datetime!(2026-11-22 11:00:00 UTC)
        );
        assert_eq!(
            ceil_hour(datetime!(2026-11-22 10:00:00 UTC)),
            datetime!(2026-11-22 10:00:00 UTC)
        );
    }
}
