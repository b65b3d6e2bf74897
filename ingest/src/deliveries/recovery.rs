//! Putting deliveries back in line: a dead (or succeeded) delivery starts a new round of
//! attempts, keeping its id and its attempt log; a waiting one is attempted now.
//!
//! Every path updates rows with [`RESTART`] or [`ATTEMPT_NOW`] and `RETURNING` the columns of
//! [`envelopes`], then hands the envelopes to [`crate::dispatch::publish_now`]; whatever the
//! broker does not confirm, the outbox relay publishes. A FIFO line paused on a delivery put
//! back in line moves again ([`crate::lines::resume_after`]).

use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::envelope::{DeliverV1, Envelope};

use super::{DeliverySummary, summary};
use crate::{
    auth::AuthUser,
    dispatch,
    error::{ApiError, Result},
    lines,
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

/// Puts one of the user's deliveries back in line with `UPDATE deliveries d SET <set> WHERE
/// d.id = $1 AND d.user_id = $2 AND <condition>`, publishes its next envelope, and returns
/// its summary; 404 when no row matched.
pub async fn requeue_one(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    set: &str,
    condition: &str,
) -> Result<DeliverySummary> {
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!("UPDATE deliveries d SET {set} WHERE d.id = $1 AND d.user_id = $2 AND {condition} {RETURNING}"),
            &[&id, &user.user_id],
        )
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound);
    }
    dispatch::publish_now(&state.marker, &state.publisher, envelopes(&rows)?).await;
    lines::resume_after(state, &client, user.user_id, &[id]).await?;
    summary(&client, id).await
}
