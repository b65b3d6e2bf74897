//! Delivery stats over a window, read from the rollups the worker keeps as it records
//! attempts ([`rollups`]), so a call costs the same at ten attempts as at ten million:
//! attempt totals, success and timeout rates, latency average and percentiles (from the
//! rollups' histograms, [`histogram`]), deliveries that went dead or were discarded (and
//! those held now, counted from `deliveries` by index), and a time series for charts. One
//! subscription's (`/subscriptions/{id}/stats`), or all of a user's at once
//! ([`dashboard`], `/stats`).

pub mod dashboard;
pub mod histogram;
pub mod rollups;

use std::{collections::HashMap, time::Duration};

use axum::{Json, extract::State};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::AuthUser,
    error::{Problem, Result},
    extract::{ApiPath, ApiQuery},
    owned,
    state::AppState,
};
use rollups::Totals;

/// The stats routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(dashboard::all_stats))
}

/// A stats window and its chart resolution.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub enum Window {
    /// The last hour, by minute.
    #[default]
    #[serde(rename = "1h")]
    Hour,
    /// The last day, by quarter hour.
    #[serde(rename = "24h")]
    Day,
    /// The last week, by hour.
    #[serde(rename = "7d")]
    Week,
}

impl Window {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    /// How far back it reaches and how wide each point of the series is.
    fn span_and_bucket(self) -> (Duration, Duration) {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        match self {
            Window::Hour => (minutes(60), minutes(1)),
            Window::Day => (minutes(24 * 60), minutes(15)),
            Window::Week => (minutes(7 * 24 * 60), minutes(60)),
        }
    }
}

/// The `window` query parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// `1h` (default), `24h` or `7d`.
    #[param(inline)]
    pub window: Option<Window>,
}

/// Latency of attempts in the window, in milliseconds: `avg` exact, the percentiles within
/// 5 % (exact up to 10 ms; see docs/API.md).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Latency {
    avg: f64,
    p50: f64,
    p95: f64,
    p99: f64,
}

/// One point of the series.
#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    /// The start of the bucket.
    #[serde(with = "time::serde::rfc3339")]
    t: OffsetDateTime,
    succeeded: i64,
    failed: i64,
}

/// A subscription's stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    window: &'static str,
    /// Attempts made in the window.
    total: i64,
    /// Attempts that got a 2xx.
    succeeded: i64,
    /// Attempts that did not.
    failed: i64,
    /// Attempts that timed out (counted in `failed`).
    timeouts: i64,
    /// Deliveries that went dead in the window.
    dead: i64,
    /// Deliveries held now (the subscription is not active, or releases them).
    held: i64,
    /// Deliveries discarded in the window (held, then discarded when it was enabled).
    discarded: i64,
    /// `succeeded / total`, from 0 to 1 (0 when there were no attempts).
    success_rate: f64,
    /// `timeouts / total`, from 0 to 1 (0 when there were no attempts).
    timeout_rate: f64,
    latency_ms: Latency,
    series: Vec<Point>,
}

/// Stats of one of the user's subscriptions.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/stats", tag = "subscriptions",
    params(("id" = Uuid, Path), WindowQuery),
    responses((status = 200, body = Stats), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<Json<Stats>> {
    let window = query.window.unwrap_or_default();
    let client = state.pool.get().await?;
    owned::check(&client, "subscriptions", user.user_id, id).await?;
    Ok(Json(
        compute(&client, id, window, OffsetDateTime::now_utc()).await?,
    ))
}

/// Computes the stats of a subscription for the window ending at `now`.
pub async fn compute(
    client: &impl GenericClient,
    id: Uuid,
    window: Window,
    now: OffsetDateTime,
) -> Result<Stats> {
    let mut all = compute_all(client, &[id], window, now).await?;
    Ok(all.remove(&id).unwrap_or_else(|| Stats::empty(window)))
}

/// Computes the stats of each of `ids` for the window ending at `now`: four statements
/// however many subscriptions.
pub async fn compute_all(
    client: &impl GenericClient,
    ids: &[Uuid],
    window: Window,
    now: OffsetDateTime,
) -> Result<HashMap<Uuid, Stats>> {
    let (span, bucket) = window.span_and_bucket();
    // Buckets are aligned to whole minutes, quarters or hours since the epoch.
    let start = align(now - span, bucket) + bucket;
    let mut totals = rollups::totals(client, ids, start).await?;
    let hourly = matches!(window, Window::Week);
    let mut counted = rollups::series(client, ids, start, bucket.as_secs_f64(), hourly).await?;
    let mut statuses = deliveries(client, ids, start).await?;
    Ok(ids
        .iter()
        .map(|id| {
            let totals = totals.remove(id).unwrap_or_default();
            let counted = counted.remove(id).unwrap_or_default();
            let statuses = statuses.remove(id).unwrap_or_default();
            let mut stats = Stats::of(window, totals, statuses);
            stats.series = series(start, now, bucket, &counted);
            (*id, stats)
        })
        .collect())
}

/// A subscription's deliveries that went dead or were discarded in the window, and those
/// held now.
#[derive(Debug, Default)]
struct Statuses {
    dead: i64,
    held: i64,
    discarded: i64,
}

/// Each subscription's [`Statuses`], from the partial indexes on `deliveries`.
async fn deliveries(
    client: &impl GenericClient,
    ids: &[Uuid],
    start: OffsetDateTime,
) -> Result<HashMap<Uuid, Statuses>> {
    let rows = client
        .query(
            "SELECT s.id,
                    (SELECT count(*) FROM deliveries
                     WHERE subscription_id = s.id AND status = 'dead' AND dead_at >= $2) AS dead,
                    (SELECT count(*) FROM deliveries
                     WHERE subscription_id = s.id AND status = 'held') AS held,
                    (SELECT count(*) FROM deliveries
                     WHERE subscription_id = s.id AND status = 'discarded'
                       AND discarded_at >= $2) AS discarded
             FROM unnest($1::uuid[]) AS s(id)",
            &[&ids, &start],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let statuses = Statuses {
                dead: r.get("dead"),
                held: r.get("held"),
                discarded: r.get("discarded"),
            };
            (r.get("id"), statuses)
        })
        .collect())
}

impl Stats {
    /// Nothing in the window.
    fn empty(window: Window) -> Self {
        Self::of(window, Totals::default(), Statuses::default())
    }

    /// The stats of `totals` and `statuses`, without their series.
    fn of(window: Window, totals: Totals, statuses: Statuses) -> Self {
        let per_attempt = |n: i64| {
            if totals.total == 0 {
                0.0
            } else {
                n as f64 / totals.total as f64
            }
        };
        Self {
            window: window.as_str(),
            total: totals.total,
            succeeded: totals.succeeded,
            failed: totals.total - totals.succeeded,
            timeouts: totals.timeouts,
            dead: statuses.dead,
            held: statuses.held,
            discarded: statuses.discarded,
            success_rate: per_attempt(totals.succeeded),
            timeout_rate: per_attempt(totals.timeouts),
            latency_ms: Latency {
                avg: per_attempt(totals.duration_ms_sum),
                p50: histogram::percentile(&totals.latency, 0.5),
                p95: histogram::percentile(&totals.latency, 0.95),
                p99: histogram::percentile(&totals.latency, 0.99),
            },
            series: Vec::new(),
        }
    }
}

/// `at` rounded down to a whole `bucket` since the epoch.
fn align(at: OffsetDateTime, bucket: Duration) -> OffsetDateTime {
    let secs = bucket.as_secs() as i64;
    let aligned = at.unix_timestamp().div_euclid(secs) * secs;
    OffsetDateTime::from_unix_timestamp(aligned).unwrap_or(at)
}

/// Every bucket from `start` to `now`, with zeros where nothing was attempted, so a chart
/// shows quiet minutes as quiet.
fn series(
    start: OffsetDateTime,
    now: OffsetDateTime,
    bucket: Duration,
    counted: &[(OffsetDateTime, i64, i64)],
) -> Vec<Point> {
    let mut points = Vec::new();
    let mut t = start;
    while t <= now {
        let (succeeded, failed) = counted
            .iter()
            .find(|(at, ..)| *at == t)
            .map(|&(_, s, f)| (s, f))
            .unwrap_or((0, 0));
        points.push(Point {
            t,
            succeeded,
            failed,
        });
        t += bucket;
    }
    points
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn buckets_align_to_whole_units_since_the_epoch() {
        let at = datetime!(2026-11-22 10:07:31 UTC);
        assert_eq!(
            align(at, Duration::from_secs(60)),
            datetime!(2026-11-22 10:07:00 UTC)
        );
        assert_eq!(
            align(at, Duration::from_secs(900)),
            datetime!(2026-11-22 10:00:00 UTC)
        );
    }

    #[test]
    fn the_series_has_every_bucket_and_zeros_where_nothing_happened() {
        let start = datetime!(2026-11-22 10:00:00 UTC);
        let now = datetime!(2026-11-22 10:03:10 UTC);
        let counted = [(datetime!(2026-11-22 10:02:00 UTC), 5, 1)];
        let points = series(start, now, Duration::from_secs(60), &counted);
        let shape: Vec<(i64, i64)> = points.iter().map(|p| (p.succeeded, p.failed)).collect();
        assert_eq!(shape, [(0, 0), (0, 0), (5, 1), (0, 0)]);
    }

    #[test]
    fn each_window_has_its_resolution() {
        assert_eq!(Window::Hour.span_and_bucket().1, Duration::from_secs(60));
        let (span, bucket) = Window::Day.span_and_bucket();
        assert_eq!(span.as_secs() / bucket.as_secs(), 96);
        assert_eq!(Window::Week.span_and_bucket().1, Duration::from_secs(3600));
    }
}
