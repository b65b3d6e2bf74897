//! One envelope, start to finish: load, pass the subscription's protections, attempt,
//! record, and route what follows (a wait queue, the graveyard). Callable without the
//! consume loop, so tests can step a worker.

use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    amqp::Outgoing,
    envelope::{DeliverV1, Envelope},
    live,
    model::ErrorKind,
};

use crate::{
    context::Context,
    decision::{Decision, decide},
    error::Result,
    http::AttemptResult,
    notices, outbound,
    protection::{self, Admission, Park},
    records::Attempt,
    rings::InLine,
    store::{self, Job, Skip},
};

/// How handling an envelope ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do for this envelope.
    Skipped(Skip),
    /// Held back (circuit, rate limit, bulkhead) in a wait queue, no attempt spent.
    Parked(Park),
    /// The receiver took it.
    Succeeded,
    /// It failed and another attempt is scheduled.
    Retrying(Decision),
    /// It failed for the last time.
    Dead,
    /// Its subscription is not active: kept as `held`, not attempted.
    Held,
}

impl Outcome {
    /// The outcome's word, for metrics.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Skipped(_) => "skipped",
            Outcome::Parked(_) => "parked",
            Outcome::Succeeded => "succeeded",
            Outcome::Retrying(_) => "retrying",
            Outcome::Dead => "dead",
            Outcome::Held => "held",
        }
    }
}

/// Handles one envelope: attempts the delivery unless it is finished, stale or gone, or its
/// subscription's protections hold it back; records the attempt and its consequence in one
/// statement, then publishes the follow-up (the next attempt to its wait queue, or a
/// graveyard copy). An `Err` means nothing was recorded (the database is unavailable): the
/// caller parks the envelope and tries again later.
pub async fn handle_delivery(ctx: &Context, envelope: &DeliverV1) -> Result<Outcome> {
    handle_in_line(ctx, envelope, None).await
}

/// [`handle_delivery`] for a delivery that may head a FIFO line (`in_line`), which is told
/// the delivery's fate before it is recorded, so it can ring for the next.
pub async fn handle_in_line(
    ctx: &Context,
    envelope: &DeliverV1,
    in_line: Option<InLine>,
) -> Result<Outcome> {
    match prepare(ctx, envelope).await? {
        Prepared::Done(outcome) => Ok(outcome),
        Prepared::Ready(job) => attempt_job(ctx, envelope, &job, in_line).await,
    }
}

/// Attempts a delivery [`prepare`] found ready, alone (not in a FIFO line).
pub async fn attempt_prepared(ctx: &Context, envelope: &DeliverV1, job: &Job) -> Result<Outcome> {
    attempt_job(ctx, envelope, job, None).await
}

/// What an envelope comes to before any protection or attempt.
pub enum Prepared {
    /// Nothing to attempt: skipped, or held while its subscription is not active.
    Done(Outcome),
    /// The delivery, loaded and waiting for exactly this envelope's attempt.
    Ready(Box<Job>),
}

/// Loads the envelope's delivery and settles what needs no attempt: gone, finished, stale,
/// or held because its subscription is not active.
pub async fn prepare(ctx: &Context, envelope: &DeliverV1) -> Result<Prepared> {
    let Some(job) = ctx
        .loader
        .load(envelope.delivery_id, envelope.event_id)
        .await?
    else {
        return Ok(Prepared::Done(Outcome::Skipped(Skip::Gone)));
    };
    if let Some(skip) = job.skip_reason(envelope.attempt) {
        return Ok(Prepared::Done(Outcome::Skipped(skip)));
    }
    if !job.subscription.is_active {
        // Held, not dropped: a FIFO line stops here too (nothing rings the next), and the
        // release that follows enabling the subscription restarts it in order.
        return Ok(Prepared::Done(hold(ctx, &job).await?));
    }
    Ok(Prepared::Ready(Box::new(job)))
}

/// Holds a delivery of a subscription that is not active, and tells the owner.
async fn hold(ctx: &Context, job: &Job) -> Result<Outcome> {
    if !store::hold(&ctx.pool, job).await? {
        return Ok(Outcome::Skipped(Skip::Stale));
    }
    let line = live::DeliveryHeld {
        delivery_id: job.delivery_id,
        event_id: job.event_id,
        event_type: job.event.event_type.clone(),
        subscription_id: job.subscription_id,
        at: OffsetDateTime::now_utc(),
    };
    ctx.publisher.tell(job.user_id, "delivery.held", &line);
    Ok(Outcome::Held)
}

/// Passes the subscription's protections, attempts, records, and moves the delivery on.
async fn attempt_job(
    ctx: &Context,
    envelope: &DeliverV1,
    job: &Job,
    in_line: Option<InLine>,
) -> Result<Outcome> {
    let slot = match protection::admit(ctx, envelope, job).await? {
        Admission::Go(slot) => slot,
        Admission::Park(park) => {
            protection::park(ctx, envelope, park).await?;
            return Ok(Outcome::Parked(park));
        }
    };
    let attempt_id = Uuid::now_v7();
    let result = attempt(ctx, job, envelope.attempt, attempt_id).await;
    // The target has answered: the bulkhead guards against slow targets, not against the
    // bookkeeping every subscription shares (holding the slot through it parked a busy
    // subscription's deliveries in the 1 s tier whenever the database slowed).
    drop(slot);
    ctx.metrics
        .attempt_duration
        .observe(result.duration.as_secs_f64());
    let decision = decide_for(ctx, envelope, job, &result);
    if let Some(line) = in_line {
        line.decided(ctx, envelope, decision).await?;
    }
    let recorded = Attempt {
        id: attempt_id,
        number: envelope.attempt,
        result: &result,
        batch_id: None,
    };
    if !ctx.recorder.record(job, &recorded, decision).await? {
        return Ok(Outcome::Skipped(Skip::Stale));
    }
    tracing::info!(
        status_code = result.status_code,
        error_kind = result.error_kind.map(|k| k.as_str()),
        duration_ms = result.duration.as_millis() as u64,
        decision = ?decision,
        "attempt recorded"
    );
    protection::after_attempt(ctx, envelope, job, &result).await;
    conclude(ctx, job, envelope, &result, decision).await;
    Ok(Outcome::from(decision))
}

/// What follows an attempt of `envelope` that ended in `result`: success, another attempt
/// (when, by the subscription's schedule), or dead.
pub fn decide_for(
    ctx: &Context,
    envelope: &DeliverV1,
    job: &Job,
    result: &AttemptResult,
) -> Decision {
    decide(
        result.succeeded(),
        envelope.attempt - job.round_start,
        job.subscription.max_attempts,
        ctx.schedule(),
        result.retry_after,
    )
}

/// Once an attempt is recorded: the owner told if the delivery went dead, the live log
/// line, and the follow-up (a wait queue, the graveyard).
pub async fn conclude(
    ctx: &Context,
    job: &Job,
    envelope: &DeliverV1,
    result: &AttemptResult,
    decision: Decision,
) {
    if decision == Decision::Dead {
        notices::delivery_dead(
            &ctx.pool,
            ctx.notify_min_interval,
            job,
            envelope.attempt,
            result,
        )
        .await;
    }
    publish_line(ctx, job, envelope, result, decision);
    follow_up(ctx, envelope, decision).await;
}

impl From<Decision> for Outcome {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Succeeded => Outcome::Succeeded,
            Decision::Dead => Outcome::Dead,
            retry @ Decision::Retry { .. } => Outcome::Retrying(retry),
        }
    }
}

/// Tells the owner's browsers about the attempt (through `warren.logs`), off the delivery's
/// path: nobody listening, or a slow listener, costs the delivery nothing.
fn publish_line(
    ctx: &Context,
    job: &Job,
    envelope: &DeliverV1,
    result: &AttemptResult,
    decision: Decision,
) {
    let line = live::DeliveryAttempt {
        delivery_id: envelope.delivery_id,
        event_id: envelope.event_id,
        event_type: job.event.event_type.clone(),
        subscription_id: envelope.subscription_id,
        attempt: envelope.attempt,
        status_code: result.status_code,
        duration_ms: result.duration.as_millis() as u64,
        outcome: decision.outcome(),
        error_kind: result.error_kind.map(|k| k.as_str()),
        next_attempt_at: decision.next_attempt_at(result.ended_at()),
        at: result.ended_at(),
    };
    ctx.publisher.tell(job.user_id, "delivery.attempt", &line);
}

/// Builds and sends the request; a template that cannot render is a failed attempt too.
async fn attempt(ctx: &Context, job: &Job, number: u32, attempt_id: Uuid) -> AttemptResult {
    match outbound::build(job, number, attempt_id, OffsetDateTime::now_utc()) {
        Ok(request) => ctx.http.send(request).await,
        Err(error) => AttemptResult {
            started_at: OffsetDateTime::now_utc(),
            duration: std::time::Duration::ZERO,
            status_code: None,
            error_kind: Some(ErrorKind::Template),
            excerpt: Some(error.to_string()),
            retry_after: None,
        },
    }
}

/// After the outcome is recorded: a retry goes to its wait queue (and is marked enqueued once
/// confirmed; if not, the outbox relay publishes it), a dead delivery leaves a copy in the
/// graveyard for operators.
async fn follow_up(ctx: &Context, envelope: &DeliverV1, decision: Decision) {
    let topology = ctx.publisher.topology();
    match decision {
        Decision::Succeeded => {}
        Decision::Retry { wait, exact } => {
            let next = Envelope::DeliverV1(DeliverV1 {
                attempt: envelope.attempt + 1,
                ..envelope.clone()
            });
            let message = if exact {
                Outgoing::deliver_exactly_after(topology, &next, wait)
            } else {
                Outgoing::deliver_after(topology, &next, wait, &mut rand::rng())
            };
            match ctx.publisher.publish(message).await {
                Ok(()) => {
                    let marked =
                        store::mark_enqueued(&ctx.pool, envelope.delivery_id, envelope.attempt + 1)
                            .await;
                    if let Err(error) = marked {
                        tracing::warn!(
                            error = error.chain(),
                            "retry published but not marked; the outbox may publish it again"
                        );
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "retry not published; the outbox relay will")
                }
            }
        }
        Decision::Dead => {
            let copy = Outgoing::graveyard(topology, &Envelope::DeliverV1(envelope.clone()));
            if let Err(error) = ctx.publisher.publish(copy).await {
                tracing::warn!(error = %error, "graveyard copy not published; the delivery is dead in the database");
            }
        }
    }
}
