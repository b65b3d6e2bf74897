//! Batch delivery (docs/architecture.md, "Batch delivery"): a batch subscription's JSON
//! deliveries are gathered per subscription in this worker's memory ([`crate::batching`]),
//! each still an un-acked message, and sent as one signed request once `max_events` are
//! waiting or the first has waited `max_wait`. Every delivery of the request gets an attempt
//! of its own, all with the request's outcome, status, duration and batch id; only then is
//! its message acked. A worker that dies with a group half-full has acked none of it: the
//! broker hands every message to another worker.
//!
//! One request is one use of each protection: one bulkhead slot, one token of the rate
//! limit, one outcome for the circuit breaker (and the probe of a half-open circuit is the
//! whole batch). A group the protections hold back has each of its deliveries parked in a
//! wait queue, as one delivery alone would be.

use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use time::OffsetDateTime;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;
use uuid::Uuid;
use warren_shared::envelope::DeliverV1;

use crate::{
    batching::Buffers,
    context::Context,
    decision::Decision,
    error::{Error, Result},
    handler::{self, Outcome},
    http::AttemptResult,
    messages::{self, Message},
    outbound,
    protection::{self, Admission, Park},
    records::Attempt,
    store::{BatchSettings, Job, Skip},
};

/// A delivery waiting in its subscription's group: its envelope, its loaded job, and the
/// un-acked message that brought it.
pub struct Pending {
    /// The envelope.
    pub envelope: DeliverV1,
    /// The delivery as loaded.
    pub job: Box<Job>,
    /// The message, acked once the delivery's attempt is recorded.
    pub message: Message,
}

/// Gathers batch subscriptions' deliveries and sends each group when it is ready. Its tasks
/// (timers and sends) run on the worker's tracker, so a stopping worker drains them; on
/// `cancel` every timer sends its group at once.
pub struct Batcher {
    ctx: Arc<Context>,
    buffers: Buffers<Pending>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Batcher {
    /// A batcher holding at most `room` un-acked messages in its groups (see
    /// [`Batcher::room_for`]).
    pub fn new(
        ctx: Arc<Context>,
        room: usize,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            buffers: Buffers::new(room),
            tracker,
            cancel,
        })
    }

    /// How many un-acked messages the groups may hold for a consumer with `prefetch`: half
    /// of it, so the deliveries of other subscriptions always have the other half. A batch
    /// larger than that goes with this many (raise the prefetch for batches of 500).
    pub fn room_for(prefetch: u16) -> usize {
        usize::from(prefetch / 2).max(1)
    }

    /// Whether `job` travels in a batch, and how its subscription groups them.
    pub fn settings_of(job: &Job) -> Option<BatchSettings> {
        job.subscription.batch.filter(|_| outbound::batchable(job))
    }

    /// Adds a delivery to its subscription's group; sends the group if that filled it.
    pub async fn offer(self: &Arc<Self>, pending: Pending, settings: BatchSettings) {
        let subscription = pending.envelope.subscription_id;
        let key = pending.envelope.delivery_id;
        match self
            .buffers
            .add(subscription, key, pending, settings.max_events)
        {
            Ok(added) => {
                if let Some(generation) = added.started {
                    self.arm(subscription, generation, settings.max_wait);
                }
                for group in added.ready {
                    self.tracker.spawn(send(self.ctx.clone(), group));
                }
            }
            Err(duplicate) => {
                // The same delivery is already in the group, un-acked: that message is the
                // one that will be recorded (or redelivered, if this worker dies).
                let Pending {
                    envelope, message, ..
                } = duplicate;
                let outcome = Ok(Outcome::Skipped(Skip::Stale));
                messages::settle(&self.ctx, &envelope, &message, outcome).await;
            }
        }
    }

    /// Sends the subscription's group of `generation` once its first item has waited
    /// `wait`, or at once when the worker stops.
    fn arm(self: &Arc<Self>, subscription: Uuid, generation: u64, wait: Duration) {
        let batcher = self.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = batcher.cancel.cancelled() => {}
            }
            if let Some(group) = batcher.buffers.take(subscription, generation) {
                send(batcher.ctx.clone(), group).await;
            }
        });
    }
}

/// Sends one group as a batch and settles each of its messages.
async fn send(ctx: Arc<Context>, group: Vec<Pending>) {
    let batch_id = Uuid::now_v7();
    let Some(newest) = group.last() else {
        return;
    };
    let span = tracing::info_span!(
        "batch",
        %batch_id,
        subscription_id = %newest.envelope.subscription_id,
        size = group.len(),
    );
    async {
        match protection::admit(&ctx, &newest.envelope, &newest.job).await {
            Ok(Admission::Go(slot)) => {
                let jobs: Vec<&Job> = group.iter().map(|p| p.job.as_ref()).collect();
                let Some(request) =
                    outbound::build_batch(&jobs, batch_id, OffsetDateTime::now_utc())
                else {
                    return;
                };
                let result = ctx.http.send(request).await;
                // As for one delivery: the slot guards against slow targets, not bookkeeping.
                drop(slot);
                ctx.metrics
                    .attempt_duration
                    .observe(result.duration.as_secs_f64());
                conclude(&ctx, &group, batch_id, &result).await;
            }
            Ok(Admission::Park(park)) => park_each(&ctx, &group, park).await,
            Err(error) => {
                let error = error.grouped();
                let failed = || Err(Error::Grouped(error.clone()));
                join_all(group.iter().map(|p| settle(&ctx, p, failed()))).await;
            }
        }
    }
    .instrument(span)
    .await;
}

/// Records an attempt for each delivery of the batch, moves the circuit breaker once, then
/// tells, follows up and settles each.
async fn conclude(ctx: &Context, group: &[Pending], batch_id: Uuid, result: &AttemptResult) {
    let recorded = join_all(group.iter().map(|p| record(ctx, p, batch_id, result))).await;
    let moved = recorded.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    tracing::info!(
        status_code = result.status_code,
        error_kind = result.error_kind.map(|k| k.as_str()),
        duration_ms = result.duration.as_millis() as u64,
        recorded = moved,
        "batch attempt recorded"
    );
    if let Some(newest) = group.last()
        && moved > 0
    {
        protection::after_attempt(ctx, &newest.envelope, &newest.job, result).await;
    }
    join_all(
        group
            .iter()
            .zip(recorded)
            .map(|(pending, recorded)| async move {
                let handled = match recorded {
                    Ok(Some(decision)) => {
                        handler::conclude(ctx, &pending.job, &pending.envelope, result, decision)
                            .await;
                        Ok(Outcome::from(decision))
                    }
                    Ok(None) => Ok(Outcome::Skipped(Skip::Stale)),
                    Err(error) => Err(error),
                };
                settle(ctx, pending, handled).await;
            }),
    )
    .await;
}

/// Records one delivery's attempt of the batch; `None` when the delivery had moved on.
async fn record(
    ctx: &Context,
    pending: &Pending,
    batch_id: Uuid,
    result: &AttemptResult,
) -> Result<Option<Decision>> {
    let decision = handler::decide_for(ctx, &pending.envelope, &pending.job, result);
    let attempt = Attempt {
        id: Uuid::now_v7(),
        number: pending.envelope.attempt,
        result,
        batch_id: Some(batch_id),
    };
    let moved = ctx
        .recorder
        .record(&pending.job, &attempt, decision)
        .await?;
    Ok(moved.then_some(decision))
}

/// Holds each delivery of a group back in a wait queue, no attempt spent.
async fn park_each(ctx: &Context, group: &[Pending], park: Park) {
    join_all(group.iter().map(|pending| async move {
        let parked = protection::park(ctx, &pending.envelope, park)
            .await
            .map(|()| Outcome::Parked(park));
        settle(ctx, pending, parked).await;
    }))
    .await;
}

async fn settle(ctx: &Context, pending: &Pending, handled: Result<Outcome>) {
    messages::settle(ctx, &pending.envelope, &pending.message, handled).await;
}
