//! A consumed message and how it is settled: acked (through its channel's acker, or by
//! itself) once its outcome is recorded, parked in the shortest wait queue when it could not
//! be, rejected to the graveyard when it is poison.

use std::time::Duration;

use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions},
};
use warren_shared::{
    amqp::Outgoing,
    envelope::{DeliverV1, Envelope},
};

use crate::{acks::Acks, context::Context, error::Result, handler::Outcome, store::Skip};

/// A consumed message and how it is settled: through its channel's acker, or by itself.
pub struct Message {
    /// The message as consumed.
    pub delivery: Delivery,
    /// Its channel's acker, if its acks go in groups.
    pub acks: Option<Acks>,
}

impl Message {
    /// Acks it (soon, perhaps with others).
    pub async fn ack(&self) {
        match &self.acks {
            Some(acks) => acks.ack(self.delivery.delivery_tag),
            None => {
                if let Err(error) = self.delivery.ack(BasicAckOptions { multiple: false }).await {
                    // The channel is gone; the broker redelivers the message and the recorded
                    // attempt makes the redelivery a no-op.
                    tracing::warn!(error = %error, "ack failed");
                }
            }
        }
    }

    /// Rejects poison to the graveyard.
    pub async fn reject(&self) {
        let rejected = self
            .delivery
            .reject(BasicRejectOptions { requeue: false })
            .await;
        if let Err(error) = rejected {
            // The channel is gone: the broker redelivers the message, to be rejected again.
            tracing::warn!(%error, "reject failed; the poison message comes back");
        }
        self.settled();
    }

    /// Waits a moment, then hands the message back to the broker (never a tight requeue
    /// loop).
    pub async fn hand_back_later(&self) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let handed_back = self
            .delivery
            .nack(BasicNackOptions {
                multiple: false,
                requeue: true,
            })
            .await;
        if let Err(error) = handed_back {
            // The channel is gone, which hands the message back too.
            tracing::warn!(%error, "nack failed; the broker hands the message back anyway");
        }
        self.settled();
    }

    fn settled(&self) {
        if let Some(acks) = &self.acks {
            acks.settled(self.delivery.delivery_tag);
        }
    }
}

/// Settles a message once its envelope is handled: acked with its outcome counted, or, when
/// the outcome could not be recorded, parked.
pub async fn settle(
    ctx: &Context,
    envelope: &DeliverV1,
    message: &Message,
    handled: Result<Outcome>,
) {
    match handled {
        Ok(outcome) => {
            match &outcome {
                // A FIFO line's doorbells for deliveries behind its head are routine.
                Outcome::Skipped(reason @ (Skip::Behind | Skip::Paused)) => {
                    tracing::debug!(?reason, "doorbell answered without an attempt")
                }
                Outcome::Skipped(reason) => tracing::info!(?reason, "envelope skipped"),
                _ => {}
            }
            ctx.metrics.count(outcome.word());
            message.ack().await;
        }
        Err(error) => {
            // An outage (the database or the broker away, the worker stopping) is a
            // warning: the park retries it. Anything else is a fault to look at.
            if error.is_transient() {
                tracing::warn!(
                    error = error.chain(),
                    "could not handle the delivery; parking it"
                );
            } else {
                tracing::error!(
                    error = error.chain(),
                    "could not handle the delivery; parking it"
                );
            }
            ctx.metrics.count("parked");
            park(ctx, envelope, message).await;
        }
    }
}

/// Sends the same envelope (same attempt, nothing spent) to the shortest wait queue and acks;
/// if even that fails, waits a moment and hands the message back to the broker.
pub async fn park(ctx: &Context, envelope: &DeliverV1, message: &Message) {
    let topology = ctx.publisher.topology();
    let shortest = topology.schedule().delay_before(2);
    let outgoing = Outgoing::deliver_after(
        topology,
        &Envelope::DeliverV1(envelope.clone()),
        shortest,
        &mut rand::rng(),
    );
    if ctx.publisher.publish(outgoing).await.is_ok() {
        message.ack().await;
    } else {
        message.hand_back_later().await;
    }
}
