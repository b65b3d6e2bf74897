//! The consume loop: a connection of its own to RabbitMQ, manual acks, bounded prefetch,
//! one task per delivery, reconnection with backoff, and a graceful stop.
//!
//! On shutdown the consumer is cancelled first (no new deliveries), in-flight deliveries get
//! the grace period to finish and be acked, and only then is the channel closed; messages
//! that were prefetched but not started go back to the queue untouched.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::Context as _;
use futures_util::StreamExt;
use lapin::{
    Channel, Connection, Consumer,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicQosOptions, BasicRejectOptions,
    },
    types::FieldTable,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;
use warren_shared::{
    amqp::{self, Outgoing},
    config::BrokerSettings,
    envelope::{DeliverV1, Envelope},
};

use crate::handler::{Context, Outcome, handle_delivery};

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Consumes until `cancel` trips, reconnecting whenever the link breaks.
pub async fn consume(
    ctx: Arc<Context>,
    broker: BrokerSettings,
    prefetch: u16,
    grace: Duration,
    cancel: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let mut backoff = Duration::from_millis(100);
    let mut attached_before = false;
    while !cancel.is_cancelled() {
        match attach(&broker, prefetch).await {
            Ok((connection, channel, consumer)) => {
                backoff = Duration::from_millis(100);
                if attached_before {
                    ctx.metrics.consumer_reconnects.inc();
                }
                attached_before = true;
                ctx.consuming.store(true, Ordering::Relaxed);
                tracing::info!(queue = %broker.topology().deliver_queue(), "consuming");
                let tag = consumer.tag();
                let stopping = pump(&ctx, consumer, &tracker, &cancel).await;
                ctx.consuming.store(false, Ordering::Relaxed);
                if stopping {
                    drain(&channel, tag, &tracker, grace).await;
                    let _ = connection.close(200, "shutting down".into()).await;
                    return;
                }
                tracing::warn!("lost the consumer's link to RabbitMQ; reconnecting");
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot consume from RabbitMQ")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    tracker.close();
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
}

/// Connects, declares the topology and starts consuming the main queue.
async fn attach(
    broker: &BrokerSettings,
    prefetch: u16,
) -> anyhow::Result<(Connection, Channel, Consumer)> {
    let topology = broker.topology();
    let connection =
        amqp::connect(broker, "warren-deliver consumer", broker.confirm_timeout()).await?;
    let channel = connection.create_channel().await?;
    topology
        .declare(&channel)
        .await
        .context("declaring the topology")?;
    // Prefetch bounds the unacknowledged messages, hence the deliveries running at once.
    channel
        .basic_qos(prefetch, BasicQosOptions { global: false })
        .await?;
    let consumer = channel
        .basic_consume(
            topology.deliver_queue().as_str().into(),
            "".into(),
            // Manual acks (no_ack: false): a message is acked only after its outcome is
            // recorded. Not exclusive: every worker shares the queue.
            BasicConsumeOptions {
                no_local: false,
                no_ack: false,
                exclusive: false,
                nowait: false,
            },
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel, consumer))
}

/// Spawns a task per delivery until shutdown (`true`) or a broken link (`false`).
async fn pump(
    ctx: &Arc<Context>,
    mut consumer: Consumer,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> bool {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return true,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    tracker.spawn(process(ctx.clone(), delivery));
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "consumer failed");
                    return false;
                }
                None => return false,
            },
        }
    }
}

/// Stops new deliveries, then gives those in flight the grace period to finish.
async fn drain(
    channel: &Channel,
    tag: lapin::types::ShortString,
    tracker: &TaskTracker,
    grace: Duration,
) {
    let _ = channel
        .basic_cancel(tag, BasicCancelOptions { nowait: false })
        .await;
    tracker.close();
    let in_flight = tracker.len();
    tracing::info!(
        in_flight,
        grace_secs = grace.as_secs(),
        "draining in-flight deliveries"
    );
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            unfinished = tracker.len(),
            "grace period over; unfinished deliveries return to the queue"
        );
    }
}

/// One message: parse, handle, then ack. Poison is rejected to the graveyard; a message whose
/// outcome could not be recorded is parked in the shortest wait queue (never requeued in a
/// tight loop).
async fn process(ctx: Arc<Context>, delivery: Delivery) {
    let Some(Envelope::DeliverV1(envelope)) = Envelope::from_bytes(&delivery.data) else {
        tracing::warn!(
            bytes = delivery.data.len(),
            "poison message rejected to the graveyard"
        );
        let _ = delivery.reject(BasicRejectOptions { requeue: false }).await;
        return;
    };
    let span = tracing::info_span!(
        "delivery",
        delivery_id = %envelope.delivery_id,
        event_id = %envelope.event_id,
        subscription_id = %envelope.subscription_id,
        attempt = envelope.attempt,
    );
    ctx.metrics.in_flight.inc();
    async {
        match handle_delivery(&ctx, &envelope).await {
            Ok(outcome) => {
                if let Outcome::Skipped(reason) = &outcome {
                    tracing::info!(?reason, "envelope skipped");
                }
                ctx.metrics.count(outcome.word());
                ack(&delivery).await;
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "could not handle the delivery; parking it"
                );
                ctx.metrics.count("parked");
                park(&ctx, &envelope, &delivery).await;
            }
        }
    }
    .instrument(span)
    .await;
    ctx.metrics.in_flight.dec();
}

async fn ack(delivery: &Delivery) {
    if let Err(error) = delivery.ack(BasicAckOptions { multiple: false }).await {
        // The channel is gone; the broker redelivers the message and the recorded attempt
        // makes the redelivery a no-op.
        tracing::warn!(error = %error, "ack failed");
    }
}

/// Sends the same envelope (same attempt, nothing spent) to the shortest wait queue and acks;
/// if even that fails, waits a moment and hands the message back to the broker.
async fn park(ctx: &Context, envelope: &DeliverV1, delivery: &Delivery) {
    let topology = ctx.publisher.topology();
    let shortest = topology.schedule().delay_before(2);
    let message = Outgoing::deliver_after(
        topology,
        &Envelope::DeliverV1(envelope.clone()),
        shortest,
        &mut rand::rng(),
    );
    if ctx.publisher.publish(message).await.is_ok() {
        ack(delivery).await;
        return;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = delivery
        .nack(BasicNackOptions {
            multiple: false,
            requeue: true,
        })
        .await;
}
