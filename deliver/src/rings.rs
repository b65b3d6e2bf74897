//! Moving a FIFO line on: once its head's fate is decided, a doorbell (a "ring") for the
//! delivery behind it (docs/ordering.md).

use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    amqp::Outgoing,
    envelope::{DeliverV1, Envelope},
};

use crate::{
    context::Context,
    decision::Decision,
    error::{Error, Result},
};

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
    ) -> Result<()> {
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

/// Publishes a doorbell naming the first waiting delivery behind `envelope`'s in its line,
/// and that delivery's next attempt (held in a wait queue until that attempt is due). If the
/// broker does not take it, even after waiting for a link, this is an error (see
/// [`publish_ring`]).
pub async fn ring_next(ctx: &Context, envelope: &DeliverV1) -> Result<()> {
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
async fn publish_ring(ctx: &Context, message: Outgoing) -> Result<()> {
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
                return Err(Error::Ring(error));
            }
        }
    }
}
