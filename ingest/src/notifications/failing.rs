//! The periodic check that raises `subscription.failing`: a subscription with at least 10
//! attempts in the last 15 minutes, under half of them successful. It is raised when a
//! subscription starts failing (the subscriptions found failing are remembered until a check
//! finds them well again), not on every check while it goes on.
//!
//! Kept cheap: only subscriptions whose row changed in the window are looked at (the breaker
//! writes the row on every failure, so a subscription with no write in 15 minutes had no
//! failure in them), their attempts counted from the minute rollups the worker keeps as it
//! records them (the window's first minute whole: up to a minute more than the window). One ingest
//! process checks per round: the others find the advisory lock taken and skip it. A
//! subscription that is not active is left out: its owner was told it was disabled.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_shared::{
    model::NotificationType,
    notify::{self, Occurrence},
};

use crate::state::AppState;

/// The advisory lock one check holds (`pg_try_advisory_xact_lock`); any constant no other
/// part of Warren uses.
const LOCK: i64 = 0x7761_7272_656e_0011;

/// The window looked at.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The fewest attempts in the window for a subscription to count as failing.
pub const MIN_ATTEMPTS: i64 = 10;

/// Checks every `WARREN_NOTIFY_FAILING_CHECK_SECS` until `cancel` trips.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let every = Duration::from_secs(state.settings.notify_failing_check_secs.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(error) = check(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "the failing-subscriptions check failed"
            );
        }
    }
}

/// One check, in one transaction; returns the subscriptions it found newly failing (none
/// when another process holds the check).
pub async fn check(state: &AppState) -> anyhow::Result<Vec<Uuid>> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(Vec::new());
    }
    let window = WINDOW.as_secs_f64();
    let started = tx
        .query(
            "WITH failing AS (
                 SELECT s.id, a.attempts, a.succeeded
                 FROM subscriptions s
                 CROSS JOIN LATERAL (
                     SELECT coalesce(sum(attempts), 0) AS attempts,
                            coalesce(sum(succeeded), 0) AS succeeded
                     FROM subscription_rollups_minute
                     WHERE subscription_id = s.id
                       AND bucket >= date_bin('1 minute', now() - make_interval(secs => $1),
                                              TIMESTAMPTZ 'epoch')
                 ) a
                 WHERE s.updated_at > now() - make_interval(secs => $1) AND s.is_active
                   AND a.attempts >= $2 AND a.succeeded * 2 < a.attempts
             ), well_again AS (
                 DELETE FROM notification_failing f
                 WHERE NOT EXISTS (SELECT 1 FROM failing WHERE failing.id = f.subscription_id)
             ), started AS (
                 INSERT INTO notification_failing (subscription_id)
                 SELECT id FROM failing
                 ON CONFLICT (subscription_id) DO NOTHING
                 RETURNING subscription_id
             )
             SELECT f.id, f.attempts, f.succeeded
             FROM failing f JOIN started ON started.subscription_id = f.id",
            &[&window, &MIN_ATTEMPTS],
        )
        .await?;
    let mut occurrences: Vec<Occurrence> = started
        .iter()
        .map(|row| {
            let (attempts, succeeded): (i64, i64) = (row.get("attempts"), row.get("succeeded"));
            let data = json!({
                "attempts": attempts,
                "succeeded": succeeded,
                "window_secs": WINDOW.as_secs(),
            });
            Occurrence::new(row.get("id"), NotificationType::SubscriptionFailing, data)
        })
        .collect();
    let min_interval = state.settings.notify_min_interval();
    notify::raise_all(&tx, &mut occurrences, min_interval).await?;
    tx.commit().await?;
    Ok(occurrences.iter().map(|o| o.subscription_id).collect())
}
