//! The outbox relay: publishes every delivery that is durable in PostgreSQL but was never
//! confirmed by the broker, so a broker outage or a crash between commit and publish loses
//! nothing. Several ingest processes can run it at once: rows are claimed with
//! `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_shared::{
    amqp::Outgoing,
    envelope::{DeliverV1, Envelope},
    topology::Topology,
};

use crate::state::AppState;

/// Rows claimed per round; rounds repeat at once while they come back full.
const BATCH: i64 = 500;

/// Relays until `cancel` trips, every `interval`.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(state.settings.outbox_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(error) = sweep_overdue(&state).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "outbox sweep for lost envelopes failed"
            );
        }
        loop {
            match relay_once(&state).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "outbox relay round failed");
                    break;
                }
            }
        }
    }
}

/// Marks long-overdue waiting deliveries as not enqueued, so the relay publishes them
/// again: the broker confirmed their envelope once but no longer has it. A duplicate is
/// harmless (workers skip an attempt already made). Of a FIFO line only the head counts:
/// the deliveries behind it wait on purpose, and the head's doorbell moves the line.
/// Returns how many it found.
pub async fn sweep_overdue(state: &AppState) -> anyhow::Result<u64> {
    let client = state.pool.get().await?;
    let overdue = state.settings.redeliver_after_secs as f64;
    let grace = state.settings.outbox_grace().as_secs_f64();
    let found = client
        .execute(
            "UPDATE deliveries SET enqueued = false,
                    -- Eligible for the relay at once (it waits out the grace period).
                    updated_at = now() - make_interval(secs => $2::float8 + 1)
             WHERE id IN (
                 SELECT id FROM deliveries d
                 WHERE enqueued AND status IN ('pending', 'retrying')
                   AND coalesce(next_attempt_at, updated_at) < now() - make_interval(secs => $1)
                   AND (fifo_seq IS NULL OR fifo_seq = (
                       SELECT h.fifo_seq FROM deliveries h
                       WHERE h.subscription_id = d.subscription_id AND h.fifo_seq IS NOT NULL
                         AND h.status IN ('pending', 'retrying')
                       ORDER BY h.fifo_seq LIMIT 1))
                 ORDER BY coalesce(next_attempt_at, updated_at) LIMIT $3)",
            &[&overdue, &grace, &BATCH],
        )
        .await?;
    if found > 0 {
        state.metrics.outbox_swept.inc_by(found);
        tracing::warn!(
            found,
            "waiting deliveries long overdue; publishing their envelopes again"
        );
    }
    Ok(found)
}

/// The envelope for each row's next attempt: to the main queue when it is due, else to the
/// wait queue that holds it until then.
fn next_envelopes(rows: &[tokio_postgres::Row], topology: &Topology) -> (Vec<Uuid>, Vec<Outgoing>) {
    let now = OffsetDateTime::now_utc();
    let mut rng = rand::rng();
    rows.iter()
        .map(|row| {
            let attempt: i32 = row.get("attempt_count");
            let envelope = Envelope::DeliverV1(DeliverV1 {
                delivery_id: row.get("id"),
                event_id: row.get("event_id"),
                subscription_id: row.get("subscription_id"),
                user_id: row.get("user_id"),
                attempt: attempt as u32 + 1,
                ordered: row.get::<_, Option<i64>>("fifo_seq").is_some(),
            });
            let wait = row
                .get::<_, Option<OffsetDateTime>>("next_attempt_at")
                .and_then(|at| Duration::try_from(at - now).ok())
                .unwrap_or(Duration::ZERO);
            let message = if wait.is_zero() {
                Outgoing::deliver_now(topology, &envelope)
            } else {
                Outgoing::deliver_after(topology, &envelope, wait, &mut rng)
            };
            (row.get::<_, Uuid>("id"), message)
        })
        .unzip()
}

/// One round: claims up to [`BATCH`] unconfirmed deliveries older than the grace period,
/// publishes their next envelope (to a wait queue if their next attempt is in the future),
/// and marks them enqueued once confirmed. Returns how many it relayed.
pub async fn relay_once(state: &AppState) -> anyhow::Result<usize> {
    let mut client = state.pool.get().await?;
    let backlog: i64 = client
        .query_one(
            "SELECT count(*) FROM deliveries WHERE NOT enqueued AND status IN ('pending', 'retrying')",
            &[],
        )
        .await?
        .get(0);
    state.metrics.outbox_backlog.set(backlog);
    if backlog == 0 || !state.publisher.is_connected() {
        return Ok(0);
    }
    let tx = client.transaction().await?;
    let grace = state.settings.outbox_grace().as_secs_f64();
    let rows = tx
        .query(
            "SELECT id, user_id, event_id, subscription_id, attempt_count, next_attempt_at, fifo_seq FROM deliveries
             WHERE NOT enqueued AND status IN ('pending', 'retrying')
               AND updated_at < now() - make_interval(secs => $1)
             ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&grace, &BATCH],
        )
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (ids, messages) = next_envelopes(&rows, state.publisher.topology());
    state.publisher.publish_all(&messages).await?;
    tx.execute(
        "UPDATE deliveries SET enqueued = true WHERE id = ANY($1)",
        &[&ids],
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        relayed = ids.len(),
        "outbox relay published unconfirmed deliveries"
    );
    Ok(ids.len())
}
