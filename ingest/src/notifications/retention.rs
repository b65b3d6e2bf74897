//! Notifications go after `WARREN_RETENTION_DAYS`, like events (0 keeps them), with their
//! sends; every `WARREN_RETENTION_INTERVAL_SECS`, in batches. Ids are UUIDv7, so "older than"
//! is an id range of the primary key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use uuid::{NoContext, Timestamp, Uuid};

use crate::state::AppState;

/// Notifications deleted in one statement.
const BATCH: i64 = 1_000;

/// Prunes until `cancel` trips.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let days = state.settings.retention_days;
    if days == 0 {
        return;
    }
    let every = Duration::from_secs(state.settings.retention_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let keep = Duration::from_secs(u64::from(days) * 86_400);
        if let Err(error) = prune(&state, keep).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "pruning old notifications failed"
            );
        }
    }
}

/// Deletes every notification older than `keep`; returns how many.
pub async fn prune(state: &AppState, keep: Duration) -> anyhow::Result<u64> {
    let cutoff = SystemTime::now()
        .checked_sub(keep)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)?;
    let before = Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        cutoff.as_secs(),
        cutoff.subsec_nanos(),
    ));
    let client = state.pool.get().await?;
    let mut deleted = 0;
    loop {
        let batch = client
            .execute(
                "DELETE FROM notifications WHERE id IN (
                     SELECT id FROM notifications WHERE id < $1 ORDER BY id LIMIT $2)",
                &[&before, &BATCH],
            )
            .await?;
        deleted += batch;
        if batch < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
