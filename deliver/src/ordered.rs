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

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;
use warren_shared::{
    amqp::Outgoing,
    envelope::{DeliverV1, Envelope},
    live::SubscriptionUpdated,
};

use crate::{
    decision::Decision,
    handler::{Context, Outcome, handle_delivery, handle_in_line},
    store::Skip,
};

/// One lock per FIFO line this worker is handling, so a line runs one delivery at a time
/// while the other lines of the shard keep moving.
#[derive(Default)]
pub struct Lines {
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// The head each line is attempting right now (from its start until it is recorded).
    attempting: Mutex<HashMap<Uuid, Uuid>>,
}

/// A head being attempted; dropping it (once the attempt is recorded) clears the mark.
pub struct Attempting<'a> {
    lines: &'a Lines,
    subscription_id: Uuid,
}

impl Drop for Attempting<'_> {
    fn drop(&mut self) {
        self.lines.attempts().remove(&self.subscription_id);
    }
}

/// A held line; dropping it lets the line's next doorbell in.
pub struct LineGuard<'a> {
    lines: &'a Lines,
    subscription_id: Uuid,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Lines {
    /// Waits for the subscription's line and holds it.
    pub async fn hold(&self, subscription_id: Uuid) -> LineGuard<'_> {
        let lock = self.map().entry(subscription_id).or_default().clone();
        LineGuard {
            lines: self,
            subscription_id,
            guard: Some(lock.lock_owned().await),
        }
    }

    /// Marks `delivery_id` as the head of the subscription's line being attempted now.
    pub fn attempt(&self, subscription_id: Uuid, delivery_id: Uuid) -> Attempting<'_> {
        self.attempts().insert(subscription_id, delivery_id);
        Attempting {
            lines: self,
            subscription_id,
        }
    }

    /// The head of the subscription's line being attempted now, if any.
    pub fn attempting(&self, subscription_id: Uuid) -> Option<Uuid> {
        self.attempts().get(&subscription_id).copied()
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Uuid>> {
        self.attempting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many lines have a lock right now (held or waited for).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no line is held or waited for.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for LineGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.lines.map();
        // Every waiter cloned the lock under the map's mutex, so a count of one (the map's
        // own) means nobody holds or waits for this line: forget it.
        if map
            .get(&self.subscription_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.subscription_id);
        }
    }
}

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
) -> anyhow::Result<Outcome> {
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

/// What the handler needs to know of the line its delivery heads.
#[derive(Debug, Clone, Copy)]
pub struct InLine {
    /// Whether a dead head stops the line (`on_dead: pause`) rather than letting the next go.
    pub pause_on_dead: bool,
}

impl InLine {
    /// Called once the head's fate is decided, before it is recorded: rings for the delivery
    /// behind it when the line moves on. Ringing first means no crash can leave the line
    /// without a doorbell: the ring waits for this line's lock, and finds the head already
    /// recorded; had the record not happened, the head's own envelope comes back and it is
    /// attempted (and rings) again.
    pub async fn decided(
        self,
        ctx: &Context,
        envelope: &DeliverV1,
        decision: Decision,
    ) -> anyhow::Result<()> {
        let moves_on = match decision {
            Decision::Succeeded => true,
            Decision::Dead => !self.pause_on_dead,
            Decision::Retry { .. } => false,
        };
        if moves_on {
            ring_next(ctx, envelope).await?;
        }
        Ok(())
    }
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
async fn waits_behind(
    pool: &Pool,
    envelope: &DeliverV1,
    attempting: Option<Uuid>,
) -> anyhow::Result<bool> {
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

async fn load_line(pool: &Pool, envelope: &DeliverV1) -> anyhow::Result<Option<Line>> {
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

/// Publishes a doorbell naming the first waiting delivery behind `envelope`'s in its line,
/// and that delivery's next attempt (held in a wait queue until that attempt is due). If the
/// broker does not take it, even after waiting for a link, this is an error (see
/// [`publish_ring`]).
pub async fn ring_next(ctx: &Context, envelope: &DeliverV1) -> anyhow::Result<()> {
    let subscription_id = envelope.subscription_id;
    let client = ctx.pool.get().await?;
    let Some(row) = client
        .query_opt(
            &client
                .prepare_cached(
                    "SELECT id, event_id, user_id, attempt_count, next_attempt_at FROM deliveries
                     WHERE subscription_id = $1 AND status IN ('pending', 'retrying')
                       AND fifo_seq > (SELECT fifo_seq FROM deliveries WHERE id = $2)
                     ORDER BY fifo_seq LIMIT 1",
                )
                .await?,
            &[&subscription_id, &envelope.delivery_id],
        )
        .await?
    else {
        return Ok(());
    };
    let head: Uuid = row.get("id");
    let envelope = Envelope::DeliverV1(DeliverV1 {
        delivery_id: head,
        event_id: row.get("event_id"),
        subscription_id,
        user_id: row.get("user_id"),
        attempt: u32::try_from(row.get::<_, i32>("attempt_count"))? + 1,
        ordered: true,
    });
    let topology = ctx.publisher.topology();
    let wait = row
        .get::<_, Option<OffsetDateTime>>("next_attempt_at")
        .and_then(|at| std::time::Duration::try_from(at - OffsetDateTime::now_utc()).ok())
        .filter(|wait| !wait.is_zero());
    let message = match wait {
        Some(wait) => Outgoing::deliver_exactly_after(topology, &envelope, wait),
        None => Outgoing::deliver_now(topology, &envelope),
    };
    drop(client);
    publish_ring(ctx, message).await
}

/// How many times a ring is published before the head's outcome is given up for now.
const RING_TRIES: usize = 3;

/// How long a ring waits for a broker link between tries (a worker starting, a reconnect).
const RING_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes a ring, waiting out a short loss of the broker link. A ring that still cannot be
/// published is an error: the head is then not recorded, its envelope comes back and its
/// attempt (and ring) is made again. It is never left to the outbox relay through the
/// `enqueued` flag: ingest's mark for the next delivery's first doorbell may land after it
/// and set the flag again, though that doorbell is gone (answered as one behind the head),
/// which left the line without a doorbell at all.
async fn publish_ring(ctx: &Context, message: Outgoing) -> anyhow::Result<()> {
    let mut tries = 1;
    loop {
        match ctx.publisher.publish(message.clone()).await {
            Ok(()) => return Ok(()),
            Err(error) if tries < RING_TRIES => {
                tracing::warn!(error = %error, tries, "ring for the next head not published; trying again");
                ctx.publisher.wait_connected(RING_PATIENCE).await;
                tries += 1;
            }
            Err(error) => {
                return Err(anyhow::Error::new(error)
                    .context("the ring for the next head was not published"));
            }
        }
    }
}

/// Stops a line whose head went dead under `on_dead: pause`, and tells the owner.
async fn pause(ctx: &Context, envelope: &DeliverV1, line: &Line) -> anyhow::Result<()> {
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

    #[tokio::test]
    async fn a_line_runs_one_at_a_time_and_is_forgotten_once_free() {
        let lines = Lines::default();
        let id = Uuid::now_v7();
        let held = lines.hold(id).await;
        let other = lines.hold(Uuid::now_v7()).await;
        assert_eq!(lines.len(), 2);
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), lines.hold(id)).await;
        assert!(blocked.is_err(), "a second holder of the same line waits");
        drop(other);
        drop(held);
        assert!(lines.is_empty(), "free lines are forgotten");
        let _again = lines.hold(id).await;
        assert_eq!(lines.len(), 1);
    }

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
