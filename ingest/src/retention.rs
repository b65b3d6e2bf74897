//! Retention: events older than the configured window are removed with their deliveries
//! and attempts (by the foreign keys' cascade), in bounded batches so no lock is held for
//! long, and never while one of their deliveries is still pending or retrying. An event's
//! idempotency key goes with it.
//!
//! Event ids are UUIDv7, ordered by the time ingest took them, so "older than the window"
//! is a range of the primary key: no index of its own, nothing extra on the ingest path.
//! Several ingest processes may sweep at once: rows are claimed with `SKIP LOCKED`.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::state::AppState;

/// Events removed per statement; rounds repeat at once while they come back full.
pub const BATCH: i64 = 1_000;

/// Sweeps until `cancel` trips, every `WARREN_RETENTION_INTERVAL_SECS`; does nothing when
/// `WARREN_RETENTION_DAYS` is 0.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let days = state.settings.retention_days;
    if days == 0 {
        return;
    }
    let interval = Duration::from_secs(state.settings.retention_interval_secs.max(1));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let cutoff = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
        match sweep(&state, cutoff, &cancel).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention removed old events"),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "retention sweep failed")
            }
        }
    }
}

/// Removes every finished event received before `cutoff`, batch by batch; returns how many.
pub async fn sweep(
    state: &AppState,
    cutoff: OffsetDateTime,
    cancel: &CancellationToken,
) -> anyhow::Result<u64> {
    let client = state.pool.get().await?;
    let bound = first_id_at(cutoff);
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

async fn delete_batch(client: &impl GenericClient, bound: Uuid) -> anyhow::Result<u64> {
    let deleted = client
        .execute(
            "DELETE FROM events WHERE id IN (
                 SELECT e.id FROM events e
                 WHERE e.id < $1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d
                                   WHERE d.event_id = e.id AND d.status IN ('pending', 'retrying'))
                 ORDER BY e.id LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
            &[&bound, &BATCH],
        )
        .await?;
    Ok(deleted)
}

/// The smallest UUIDv7 of the millisecond `at`: every id taken before `at` sorts below it.
pub fn first_id_at(at: OffsetDateTime) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_sorts_between_ids_taken_before_and_after_it() {
        let at = OffsetDateTime::now_utc() - time::Duration::days(30);
        let bound = first_id_at(at);
        assert_eq!(bound.get_version_num(), 7);
        let secs = |t: OffsetDateTime| u64::try_from(t.unix_timestamp()).expect("after 1970");
        let before = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            secs(at) - 1,
            999_999_999,
        ));
        let after = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs(at) + 1, 0));
        assert!(before < bound, "{before} < {bound}");
        assert!(bound < after, "{bound} < {after}");
        assert!(bound < Uuid::now_v7());
    }
}
