//! Putting deliveries back in line: a dead (or succeeded) delivery starts a new round of
//! attempts, keeping its id and its attempt log; a waiting one is attempted now.
//!
//! Every path updates rows with [`RESTART`] or [`ATTEMPT_NOW`] and `RETURNING` the columns of
//! [`envelopes`], then hands the envelopes to [`crate::dispatch::publish_now`]; whatever the
//! broker does not confirm, the outbox relay publishes. A FIFO line paused on a delivery put
//! back in line moves again ([`resume_after`]).

use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::envelope::{DeliverV1, Envelope};

use deadpool_postgres::GenericClient;

use crate::{
    dispatch,
    error::{ApiError, Result},
    state::AppState,
};

/// `SET` clause that starts a new round: back to `pending`, with the attempts made so far
/// kept (`round_start` moves up, so the subscription's `max_attempts` applies afresh).
pub const RESTART: &str = "status = 'pending', round_start = attempt_count, next_attempt_at = NULL, \
     enqueued = false, succeeded_at = NULL, dead_at = NULL, discarded_at = NULL, updated_at = now()";

/// `SET` clause for a delivery retried by hand: finished ones start a new round, waiting
/// ones are attempted now (the envelope already waiting becomes stale and is skipped).
pub const ATTEMPT_NOW: &str = "round_start = CASE WHEN status IN ('dead', 'succeeded') THEN attempt_count ELSE round_start END, \
     enqueued = CASE WHEN status IN ('dead', 'succeeded') THEN false ELSE enqueued END, \
     status = CASE WHEN status IN ('dead', 'succeeded') THEN 'pending' ELSE status END, \
     next_attempt_at = NULL, succeeded_at = NULL, dead_at = NULL, discarded_at = NULL, updated_at = now()";

/// The `RETURNING` list [`envelopes`] reads.
pub const RETURNING: &str =
    "RETURNING id, event_id, subscription_id, user_id, attempt_count, fifo_seq";

/// The envelope of each returned delivery's next attempt.
pub fn envelopes(rows: &[Row]) -> Result<Vec<Envelope>> {
    rows.iter()
        .map(|row| {
            let attempt_count: i32 = row.get("attempt_count");
            let attempt =
                u32::try_from(attempt_count + 1).map_err(|e| ApiError::Internal(e.into()))?;
            Ok(Envelope::DeliverV1(DeliverV1 {
                delivery_id: row.get("id"),
                event_id: row.get("event_id"),
                subscription_id: row.get("subscription_id"),
                user_id: row.get("user_id"),
                attempt,
                ordered: row.get::<_, Option<i64>>("fifo_seq").is_some(),
            }))
        })
        .collect()
}

/// Restarts the lines that paused on any of these deliveries (now replayed or discarded):
/// clears the pause and rings each line's head.
pub async fn resume_after(
    state: &AppState,
    client: &impl GenericClient,
    user_id: Uuid,
    deliveries: &[Uuid],
) -> Result<()> {
    let rows = client
        .query(
            "UPDATE subscriptions SET fifo_paused_at = NULL, fifo_paused_by = NULL, updated_at = now()
             WHERE user_id = $1 AND fifo_paused_by = ANY($2) RETURNING id",
            &[&user_id, &deliveries],
        )
        .await?;
    let resumed: Vec<Uuid> = rows.iter().map(|row| row.get("id")).collect();
    ring_heads(state, client, &resumed).await
}

/// Publishes a doorbell for the head of each subscription's line. A duplicate of a doorbell
/// already on its way is harmless: only one attempt is made.
pub async fn ring_heads(
    state: &AppState,
    client: &impl GenericClient,
    subscriptions: &[Uuid],
) -> Result<()> {
    if subscriptions.is_empty() {
        return Ok(());
    }
    let heads = client
        .query(
            "SELECT DISTINCT ON (subscription_id) id, event_id, subscription_id, user_id,
                 attempt_count, fifo_seq
             FROM deliveries
             WHERE subscription_id = ANY($1) AND fifo_seq IS NOT NULL
               AND status IN ('pending', 'retrying')
             ORDER BY subscription_id, fifo_seq",
            &[&subscriptions],
        )
        .await?;
    dispatch::publish_now(&state.marker, &state.publisher, envelopes(&heads)?).await;
    Ok(())
}
