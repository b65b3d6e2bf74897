//! The consume loop: a connection of its own to RabbitMQ, manual acks, bounded prefetch,
//! one task per delivery, reconnection with backoff, and a graceful stop.
//!
//! On shutdown the consumer is cancelled first (no new deliveries), in-flight deliveries get
//! the grace period to finish and be acked, and only then is the channel closed; messages
//! that were prefetched but not started go back to the queue untouched. Batches still
//! gathering (see [`crate::batch`]) are sent at once, within the grace period.
//!
//! The main queue's consumer has a channel of its own, whose acks go in groups (see
//! [`crate::acks`]); the ordered shards' consumers share another and ack one by one.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures_util::StreamExt;
use lapin::{
    Channel, Connection, Consumer,
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions},
    types::FieldTable,
};
use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;
use warren_shared::{
    amqp::{self, Outgoing},
    config::BrokerSettings,
    envelope::{DeliverV1, Envelope},
    shutdown,
};

use crate::{
    acks::Acks,
    batch::{Batcher, Pending},
    context::Context,
    error::{Error, Result},
    handler::{self, Prepared},
    messages::{Message, settle},
    ordered::handle_doorbell,
};

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How many times the main queue's prefetch each ordered shard's consumer takes.
const SHARD_PREFETCH_FACTOR: u16 = 4;

/// Consumes until `cancel` trips, reconnecting whenever the link breaks.
pub async fn consume(
    ctx: Arc<Context>,
    broker: BrokerSettings,
    prefetch: u16,
    grace: Duration,
    cancel: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let batcher = Batcher::new(
        ctx.clone(),
        Batcher::room_for(prefetch),
        tracker.clone(),
        cancel.clone(),
    );
    let mut backoff = Duration::from_millis(100);
    let mut attached_before = false;
    while !cancel.is_cancelled() {
        // Moving a delivery on takes publishing (a retry, a ring, a park): a worker takes
        // none before its publisher has a link, or a moment has passed.
        ctx.publisher.wait_connected(MAX_BACKOFF).await;
        match amqp::set_up(attach(&broker, prefetch)).await {
            Ok((connection, feeds, acking)) => {
                backoff = Duration::from_millis(100);
                if attached_before {
                    ctx.metrics.consumer_reconnects.inc();
                }
                attached_before = true;
                ctx.consuming.store(true, Ordering::Relaxed);
                tracing::info!(
                    queue = %broker.topology().deliver_queue(),
                    ordered_shards = feeds.len() - 1,
                    "consuming"
                );
                let tags: Vec<_> = feeds
                    .iter()
                    .map(|f| (f.channel.clone(), f.consumer.tag()))
                    .collect();
                let stopping = pump(&ctx, &batcher, feeds, &tracker, &cancel).await;
                ctx.consuming.store(false, Ordering::Relaxed);
                if stopping {
                    drain(&tags, &tracker, grace).await;
                    // Every delivery that finished is acked before the link goes; acks not
                    // sent by then are redeliveries, which their recorded attempts answer.
                    shutdown::join_within("the main queue's acker", MAX_BACKOFF, acking).await;
                    amqp::close(&connection, "shutting down").await;
                    // Only now do the channels' last handles go (see `amqp::close`).
                    drop(tags);
                    return;
                }
                // A link that is still up (a consumer the broker cancelled) is closed, or its
                // other consumers would go on taking messages nobody reads; what was in
                // flight on it goes back to the queues.
                amqp::close(&connection, "reconnecting").await;
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
    wait_for_in_flight(&tracker, grace).await;
}

/// Where a message was consumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The main queue: unordered deliveries, and FIFO retries back from a wait queue.
    Main,
    /// An ordered shard: doorbells of FIFO lines.
    Shard,
}

/// A consumer, the channel it is on, and the channel's acker if its acks go in groups.
struct Feed {
    source: Source,
    channel: Channel,
    consumer: Consumer,
    acks: Option<Acks>,
}

/// Connects, declares the topology and starts consuming the main queue (on a channel of its
/// own, whose acks go in groups) and every ordered shard (on another, where the broker makes
/// one worker at a time the active consumer). Returns the main channel's acker too, which
/// ends once every delivery it was handed has settled.
async fn attach(
    broker: &BrokerSettings,
    prefetch: u16,
) -> Result<(Connection, Vec<Feed>, JoinHandle<()>)> {
    let topology = broker.topology();
    let connection =
        amqp::connect(broker, "warren-deliver consumer", broker.confirm_timeout()).await?;
    let main = connection.create_channel().await?;
    topology.declare(&main).await.map_err(Error::Declare)?;
    // Prefetch bounds each consumer's unacknowledged messages, hence the deliveries running
    // at once.
    main.basic_qos(prefetch, BasicQosOptions { global: false })
        .await?;
    // Only a channel with a single consumer hands its messages over in tag order.
    let (acks, acking) = Acks::start(main.clone());
    let mut feeds =
        vec![consume_from(&main, Source::Main, topology.deliver_queue(), Some(acks)).await?];
    let shards = connection.create_channel().await?;
    // A shard's doorbells mostly wait a moment for their line's lock (held through the head's
    // attempt) and then go without one; a deeper prefetch keeps a busy line's waiting
    // doorbells from taking every slot from the shard's other lines.
    shards
        .basic_qos(
            prefetch.saturating_mul(SHARD_PREFETCH_FACTOR),
            BasicQosOptions { global: false },
        )
        .await?;
    for k in topology.ordered_shards() {
        feeds.push(consume_from(&shards, Source::Shard, topology.ordered_queue(k), None).await?);
    }
    Ok((connection, feeds, acking))
}

/// Starts consuming `queue` on `channel`.
async fn consume_from(
    channel: &Channel,
    source: Source,
    queue: String,
    acks: Option<Acks>,
) -> Result<Feed> {
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
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
    Ok(Feed {
        source,
        channel: channel.clone(),
        consumer,
        acks,
    })
}

/// Spawns a task per delivery until shutdown (`true`) or a broken link (`false`).
async fn pump(
    ctx: &Arc<Context>,
    batcher: &Arc<Batcher>,
    feeds: Vec<Feed>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> bool {
    // Each consumer's end is an item of its own: merged streams drop a stream that ends, so
    // a shard consumer the broker cancelled would otherwise leave its FIFO lines without a
    // reader while the main queue kept the worker looking healthy.
    let mut merged = futures_util::stream::select_all(feeds.into_iter().map(|feed| {
        let Feed {
            source,
            consumer,
            acks,
            ..
        } = feed;
        consumer
            .map(move |next| Some((source, acks.clone(), next)))
            .chain(futures_util::stream::iter([None]))
    }));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return true,
            next = merged.next() => match next.flatten() {
                Some((source, acks, Ok(delivery))) => {
                    if let Some(acks) = &acks {
                        acks.opened(delivery.delivery_tag);
                    }
                    let message = Message { delivery, acks };
                    tracker.spawn(process(ctx.clone(), batcher.clone(), source, message));
                }
                Some((_, _, Err(error))) => {
                    tracing::warn!(error = %error, "consumer failed");
                    return false;
                }
                None => {
                    tracing::warn!("a consumer was cancelled by the broker");
                    return false;
                }
            },
        }
    }
}

/// Stops new deliveries, then gives those in flight the grace period to finish.
async fn drain(
    consumers: &[(Channel, lapin::types::ShortString)],
    tracker: &TaskTracker,
    grace: Duration,
) {
    // A link that died without a word never answers a cancel: the wait is bounded like a
    // close, and the deliveries in flight get their grace either way.
    let cancels = async {
        for (channel, tag) in consumers {
            let cancelled = channel
                .basic_cancel(tag.clone(), BasicCancelOptions { nowait: false })
                .await;
            if let Err(error) = cancelled {
                // The channel is gone, and its consumer with it.
                tracing::warn!(%error, "a consumer's cancel failed");
            }
        }
    };
    if amqp::answered(cancels).await.is_none() {
        tracing::warn!("RabbitMQ did not answer the consumers' cancel; stopping anyway");
    }
    tracker.close();
    let in_flight = tracker.len();
    tracing::info!(
        in_flight,
        grace_secs = grace.as_secs(),
        "draining in-flight deliveries"
    );
    wait_for_in_flight(tracker, grace).await;
}

/// Gives the deliveries in flight (and batches gathering) the grace period to finish.
async fn wait_for_in_flight(tracker: &TaskTracker, grace: Duration) {
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            unfinished = tracker.len(),
            "grace period over; unfinished deliveries return to the queue"
        );
    }
}

/// One message: parse, handle, then ack. Poison is rejected to the graveyard; a message whose
/// outcome could not be recorded is parked in the shortest wait queue (never requeued in a
/// tight loop). A FIFO line's envelope in the main queue (a retry back from its wait queue)
/// is forwarded to its shard; in a shard, it is a doorbell for its line. A delivery of a
/// batch subscription joins its subscription's group, its message still un-acked.
async fn process(ctx: Arc<Context>, batcher: Arc<Batcher>, source: Source, message: Message) {
    let delivery = &message.delivery;
    let Some(Envelope::DeliverV1(envelope)) = Envelope::from_bytes(&delivery.data) else {
        tracing::warn!(
            bytes = delivery.data.len(),
            "poison message rejected to the graveyard"
        );
        message.reject().await;
        return;
    };
    let span = tracing::info_span!(
        "delivery",
        delivery_id = %envelope.delivery_id,
        event_id = %envelope.event_id,
        subscription_id = %envelope.subscription_id,
        attempt = envelope.attempt,
    );
    if envelope.ordered && source == Source::Main {
        forward(&ctx, &envelope, &message).instrument(span).await;
        return;
    }
    ctx.metrics.in_flight.inc();
    let batched = async {
        let handled = if envelope.ordered {
            handle_doorbell(&ctx, &envelope, delivery.redelivered).await
        } else {
            match handler::prepare(&ctx, &envelope).await {
                Ok(Prepared::Ready(job)) => match Batcher::settings_of(&job) {
                    Some(settings) => return Some((job, settings)),
                    None => handler::attempt_prepared(&ctx, &envelope, &job).await,
                },
                Ok(Prepared::Done(outcome)) => Ok(outcome),
                Err(error) => Err(error),
            }
        };
        settle(&ctx, &envelope, &message, handled).await;
        None
    }
    .instrument(span.clone())
    .await;
    ctx.metrics.in_flight.dec();
    if let Some((job, settings)) = batched {
        let pending = Pending {
            envelope,
            job,
            message,
        };
        batcher.offer(pending, settings).instrument(span).await;
    }
}

/// Moves a FIFO line's envelope from the main queue to its line's shard: published with a
/// confirm, then acked; if the broker does not take it, the message goes back to the main
/// queue after a moment.
async fn forward(ctx: &Context, envelope: &DeliverV1, message: &Message) {
    let topology = ctx.publisher.topology();
    let outgoing = Outgoing::deliver_now(topology, &Envelope::DeliverV1(envelope.clone()));
    if ctx.publisher.publish(outgoing).await.is_ok() {
        ctx.metrics.count("forwarded");
        message.ack().await;
    } else {
        tracing::warn!("could not forward the envelope to its ordered shard");
        message.hand_back_later().await;
    }
}
