//! Ordered (FIFO) subscriptions: PostgreSQL holds each line's order, the broker rings the
//! bell (docs/ordering.md).
//!
//! An envelope of a delivery in a FIFO line is a doorbell for its subscription. It reaches a
//! worker through the subscription's ordered shard, which one worker consumes at a time
//! (single-active-consumer), and within that worker one task at a time handles a line (a
//! lock per subscription). The doorbell is answered by reading the line's head from
//! PostgreSQL: only the envelope naming the head and its next attempt makes an attempt;
//! anything else is acknowledged, because the head always has an envelope of its own on the
//! way (its first, its retry, its park, or the ring of the delivery before it). When the head
//! succeeds or goes dead under `skip`, the worker rings for the delivery behind it; dead
//! under `pause`, the line stops until the user replays or discards it.

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{envelope::DeliverV1, live::SubscriptionUpdated};

use crate::{
    context::Context,
    error::Result,
    handler::{Outcome, handle_delivery, handle_in_line},
    rings::{InLine, ring_next},
    store::Skip,
};

/// A FIFO line as a doorbell finds it.
#[derive(Debug)]
struct Line {
    fifo: bool,
    pause_on_dead: bool,
    paused: bool,
    is_active: bool,
    circuit_state: String,
    head: Option<Uuid>,
    /// The status, attempt count and whether it was discarded, of the delivery the
    /// doorbell named, if it still exists.
    named: Option<(String, i32, bool)>,
}

/// Answers a doorbell of a FIFO line: attempts the head when the envelope is the head's own,
/// then moves the line on. `redelivered` says the broker handed the message out before (its
/// consumer went away unacked). An `Err` means the outcome (or the ring for the next head)
/// may not be recorded or sent: the caller parks the envelope and it comes back.
pub async fn handle_doorbell(
    ctx: &Context,
    envelope: &DeliverV1,
    redelivered: bool,
) -> Result<Outcome> {
    let attempting = ctx.lines.attempting(envelope.subscription_id);
    if waits_behind(&ctx.pool, envelope, attempting).await? {
        // Most doorbells are for deliveries queued behind the head: answered without
        // waiting for the line, which the head's attempt may hold for a while.
        return Ok(Outcome::Skipped(Skip::Behind));
    }
    let _held = ctx.lines.hold(envelope.subscription_id).await;
    let Some(line) = load_line(&ctx.pool, envelope).await? else {
        return Ok(Outcome::Skipped(Skip::Gone));
    };
    if !line.fifo {
        // The subscription left FIFO since: its deliveries go as they come.
        return handle_delivery(ctx, envelope).await;
    }
    if line.paused {
        return Ok(Outcome::Skipped(Skip::Paused));
    }
    if line.head != Some(envelope.delivery_id) {
        if line.pause_on_dead && line.died_by(envelope.attempt) {
            // This envelope's attempt killed the head, but the worker that made it stopped
            // before pausing the line.
            pause(ctx, envelope, &line).await?;
        } else if redelivered && line.ended_by(envelope.attempt) {
            // This envelope's attempt ended the head, and the worker that made it went away
            // unacked: its ring may have reached the next worker before the head was recorded
            // there, and been taken for one behind. Ring again (a redelivery happens only
            // after a failure, so rings never multiply in normal running).
            ring_next(ctx, envelope).await?;
        }
        return Ok(Outcome::Skipped(Skip::Behind));
    }
    let in_line = InLine {
        pause_on_dead: line.pause_on_dead && line.is_active,
    };
    let outcome = {
        let _attempt = ctx
            .lines
            .attempt(envelope.subscription_id, envelope.delivery_id);
        handle_in_line(ctx, envelope, Some(in_line)).await?
    };
    if outcome == Outcome::Dead && in_line.pause_on_dead {
        pause(ctx, envelope, &line).await?;
    }
    Ok(outcome)
}

impl Line {
    /// Whether the named delivery succeeded or went dead by `attempt`.
    fn ended_by(&self, attempt: u32) -> bool {
        self.named.as_ref().is_some_and(|(status, attempts, _)| {
            matches!(status.as_str(), "succeeded" | "dead")
                && i64::from(*attempts) == i64::from(attempt)
        })
    }

    /// Whether the named delivery went dead (and stays on the dead-letter list) by `attempt`.
    fn died_by(&self, attempt: u32) -> bool {
        self.named
            .as_ref()
            .is_some_and(|(status, attempts, discarded)| {
                status == "dead" && !discarded && i64::from(*attempts) == i64::from(attempt)
            })
    }
}

/// Whether a delivery earlier in the same line is still waiting, so the named one cannot be
/// the head: the earlier one's own envelope moves the line, and whoever records it rings for
/// the delivery behind it first. Answered without the line's lock, so it must not count the
/// head this worker is attempting (`attempting`, read before the query): that head rings
/// before it is recorded, and its ring must wait for the record, not be taken for one
/// behind. A replay only puts an earlier delivery back in line. A subscription that left
/// FIFO has no line: its doorbells are all answered by attempts.
async fn waits_behind(pool: &Pool, envelope: &DeliverV1, attempting: Option<Uuid>) -> Result<bool> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &client
                .prepare_cached(
                    "SELECT EXISTS (
                         SELECT 1 FROM deliveries me
                         JOIN subscriptions s ON s.id = me.subscription_id AND s.ordering = 'fifo'
                         JOIN deliveries d
                           ON d.subscription_id = me.subscription_id AND d.fifo_seq < me.fifo_seq
                         WHERE me.id = $1 AND d.status IN ('pending', 'retrying')
                           AND d.id IS DISTINCT FROM $2)",
                )
                .await?,
            &[&envelope.delivery_id, &attempting],
        )
        .await?;
    Ok(row.get(0))
}

async fn load_line(pool: &Pool, envelope: &DeliverV1) -> Result<Option<Line>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(
                    "SELECT s.ordering = 'fifo' AS fifo, s.on_dead = 'pause' AS pause_on_dead,
                        s.fifo_paused_at IS NOT NULL AS paused, s.is_active, s.circuit_state,
                        h.id AS head, n.status AS named_status, n.attempt_count AS named_attempts,
                        n.discarded_at IS NOT NULL AS named_discarded
                 FROM subscriptions s
                 LEFT JOIN LATERAL (
                     SELECT id FROM deliveries
                     WHERE subscription_id = s.id AND fifo_seq IS NOT NULL
                       AND status IN ('pending', 'retrying')
                     ORDER BY fifo_seq LIMIT 1) h ON true
                 LEFT JOIN deliveries n ON n.id = $2
                 WHERE s.id = $1",
                )
                .await?,
            &[&envelope.subscription_id, &envelope.delivery_id],
        )
        .await?;
    Ok(row.map(|row| Line {
        fifo: row.get("fifo"),
        pause_on_dead: row.get("pause_on_dead"),
        paused: row.get("paused"),
        is_active: row.get("is_active"),
        circuit_state: row.get("circuit_state"),
        head: row.get("head"),
        named: row.get::<_, Option<String>>("named_status").map(|status| {
            (
                status,
                row.get("named_attempts"),
                row.get("named_discarded"),
            )
        }),
    }))
}

/// Stops a line whose head went dead under `on_dead: pause`, and tells the owner.
async fn pause(ctx: &Context, envelope: &DeliverV1, line: &Line) -> Result<()> {
    let client = ctx.pool.get().await?;
    client
        .execute(
            "UPDATE subscriptions SET fifo_paused_at = now(), fifo_paused_by = $2, updated_at = now()
             WHERE id = $1",
            &[&envelope.subscription_id, &envelope.delivery_id],
        )
        .await?;
    tracing::warn!("FIFO line paused: its head went dead");
    let update = SubscriptionUpdated {
        subscription_id: envelope.subscription_id,
        is_active: line.is_active,
        circuit_state: line.circuit_state.clone(),
        reason: Some(format!(
            "paused: delivery {} went dead; replay or discard it to resume",
            envelope.delivery_id
        )),
        at: OffsetDateTime::now_utc(),
    };
    ctx.publisher
        .tell(envelope.user_id, "subscription.updated", &update);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_attempt_that_killed_the_head_pauses_its_line_late() {
        let line = |named: Option<(&str, i32, bool)>| Line {
            fifo: true,
            pause_on_dead: false,
            paused: false,
            is_active: true,
            circuit_state: "closed".into(),
            head: None,
            named: named.map(|(s, n, d)| (s.to_owned(), n, d)),
        };
        assert!(line(Some(("dead", 2, false))).died_by(2));
        assert!(
            !line(Some(("dead", 3, false))).died_by(2),
            "an older envelope"
        );
        assert!(!line(Some(("dead", 2, true))).died_by(2), "discarded since");
        assert!(!line(Some(("succeeded", 3, false))).died_by(3));
        assert!(!line(Some(("retrying", 3, false))).died_by(3));
        assert!(!line(None).died_by(1));
        assert!(line(Some(("succeeded", 3, false))).ended_by(3));
        assert!(line(Some(("dead", 2, true))).ended_by(2));
        assert!(
            !line(Some(("succeeded", 3, false))).ended_by(2),
            "an older envelope"
        );
        assert!(!line(Some(("retrying", 3, false))).ended_by(3));
    }
}
