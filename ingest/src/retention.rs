//! Maintenance of the history tables (`events`, `deliveries`, `delivery_attempts`), which
//! are partitioned by time (`warren_shared::partitions`): every tick, the partitions ahead
//! are created, a new index's piece the legacy partition lacks is built, and the partitions
//! that changed by a tenth are analysed (`warren_shared::statistics`); every
//! `WARREN_RETENTION_INTERVAL_SECS`, retention runs.
//!
//! Retention drops whole partitions past the window (keeping what is in flight or held,
//! see [`partitions::drop_older_than`]), then removes the rows past it that live outside
//! range partitions (the `_kept` and `_legacy` partitions) row by row: finished events with
//! their deliveries, attempts (the `events_deleted` and `deliveries_deleted` triggers) and
//! idempotency keys, in bounded batches claimed with `SKIP LOCKED`, so several ingest
//! processes may sweep at once and no lock is held for long. An event with a delivery still
//! pending, retrying or held stays until it ends.
//!
//! The statistics' rollups go by their own rule (they are small, and the stats read them
//! back only so far): minute rows after [`MINUTE_ROLLUPS_KEPT`], hour rows after the
//! retention window or [`HOUR_ROLLUPS_KEPT`], whichever is longer.

use std::time::{Duration, Instant};

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_shared::{
    partitions::{self, first_id_at},
    statistics,
};

use crate::state::AppState;

/// Events removed per statement; rounds repeat at once while they come back full.
pub const BATCH: i64 = 1_000;

/// How long minute rollups are kept: the stats read them for windows up to a day.
pub const MINUTE_ROLLUPS_KEPT: time::Duration = time::Duration::days(2);

/// The least time hour rollups are kept: the stats read them for windows up to a week.
pub const HOUR_ROLLUPS_KEPT: time::Duration = time::Duration::days(8);

/// How often the partitions ahead are checked: every minute, or four times per partition
/// width when that is shorter.
pub fn tick(width: Duration) -> Duration {
    (width / 4).clamp(Duration::from_millis(250), Duration::from_secs(60))
}

/// Maintains the history tables until `cancel` trips: every [`tick`] (or every retention
/// interval when that is shorter), with retention at most once per retention interval.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let width = state.settings.database.partition_width();
    let every = Duration::from_secs(state.settings.retention_interval_secs.max(1));
    let mut tick = tokio::time::interval(tick(width).min(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_retention: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        maintain_partitions(&state, width).await;
        let Some(keep) = state.settings.retention() else {
            continue;
        };
        if last_retention.is_some_and(|at| at.elapsed() < every) {
            continue;
        }
        last_retention = Some(Instant::now());
        let cutoff = OffsetDateTime::now_utc() - keep;
        match sweep(&state, cutoff, &cancel).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention removed old events"),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "retention sweep failed")
            }
        }
    }
}

/// Creates the partitions ahead, completes the indexes partitions lack and analyses the
/// partitions that changed: three steps, each tried whatever became of the others (a window
/// not created while its table is busy must not leave today's partition unanalysed), each
/// failure logged.
async fn maintain_partitions(state: &AppState, width: Duration) {
    let mut client = match state.pool.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(error = %error, "partition maintenance has no connection");
            return;
        }
    };
    let now = OffsetDateTime::now_utc();
    if let Err(error) = partitions::ensure_ahead(&mut client, width, now, partitions::AHEAD).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "creating the partitions ahead failed"
        );
    }
    if let Err(error) = partitions::complete_indexes(&client).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "completing the partitions' indexes failed"
        );
    }
    match statistics::analyze_changed(&client).await {
        Ok(analysed) if !analysed.is_empty() => {
            tracing::debug!(?analysed, "analysed the partitions that changed")
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "analysing the partitions failed"
            )
        }
    }
}

/// Removes everything received before `cutoff` that nothing still needs: whole partitions
/// first, then row by row what lies outside them. Returns how many events went row by row.
pub async fn sweep(
    state: &AppState,
    cutoff: OffsetDateTime,
    cancel: &CancellationToken,
) -> anyhow::Result<u64> {
    let mut client = state.pool.get().await?;
    let bound = first_id_at(cutoff);
    let dropped = partitions::drop_older_than(&mut client, bound).await?;
    state
        .metrics
        .retention_partitions_dropped
        .inc_by(dropped.len() as u64);
    prune_rollups(&client, cutoff, OffsetDateTime::now_utc()).await?;
    let mut total = 0;
    loop {
        let deleted = delete_batch(&client, bound).await?;
        total += deleted;
        state.metrics.retention_deleted.inc_by(deleted);
        if (deleted as i64) < BATCH || cancel.is_cancelled() {
            return Ok(total);
        }
    }
}

/// Deletes the rollup rows the stats no longer read and retention no longer keeps. Rows of
/// past buckets only: the worker upserts the current ones, so the two never wait on each
/// other's rows.
pub async fn prune_rollups(
    client: &impl GenericClient,
    cutoff: OffsetDateTime,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    client
        .execute(
            "DELETE FROM subscription_rollups_minute WHERE bucket < $1",
            &[&(now - MINUTE_ROLLUPS_KEPT)],
        )
        .await?;
    client
        .execute(
            "DELETE FROM subscription_rollups_hour WHERE bucket < $1",
            &[&cutoff.min(now - HOUR_ROLLUPS_KEPT)],
        )
        .await?;
    Ok(())
}

/// One batch of the row-by-row sweep: after the drops, the events below `bound` are those
/// of the `_kept` and `_legacy` partitions.
async fn delete_batch(client: &impl GenericClient, bound: Uuid) -> anyhow::Result<u64> {
    let deleted = client
        .execute(
            "DELETE FROM events WHERE id IN (
                 SELECT e.id FROM events e
                 WHERE e.id < $1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                                   AND d.status IN ('pending', 'retrying', 'held'))
                 ORDER BY e.id LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
            &[&bound, &BATCH],
        )
        .await?;
    Ok(deleted)
}
