//! A subscription's protections around each attempt: the bulkhead, the circuit breaker and
//! the rate limit before it, and the breaker's bookkeeping, throttling and auto-disabling
//! after it. Every `subscription.updated` line is published from here.

use std::time::Duration;

use time::OffsetDateTime;
use warren_shared::{
    amqp::Outgoing,
    envelope::{DeliverV1, Envelope},
    live::SubscriptionUpdated,
    model::CircuitState,
};

use crate::{
    circuit::{self, Breaker, Gate, Signal, Transition},
    context::Context,
    error::Result,
    http::AttemptResult,
    limits::Slot,
    store::{self, Job},
};

/// Why a delivery was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Park {
    /// Its subscription already has its share of in-flight deliveries.
    Bulkhead,
    /// Its subscription's circuit is open for this much longer.
    CircuitOpen(Duration),
    /// Its subscription's circuit is half-open and another delivery is the probe.
    ProbeBusy,
    /// Its subscription's token bucket is empty until then.
    RateLimited(Duration),
}

impl Park {
    /// How long the delivery waits before it comes back.
    fn wait(self) -> Duration {
        let short = warren_shared::topology::PARK_TIER;
        match self {
            Park::Bulkhead | Park::ProbeBusy => short,
            Park::CircuitOpen(wait) => wait,
            Park::RateLimited(wait) => wait.min(short),
        }
    }
}

/// How long a delivery over its subscription's bulkhead waits for a slot before it is
/// parked. At saturation on a 2-core machine a fast target's attempts take tens of
/// milliseconds, so its slots turn over many times in this; parking instead (a second in
/// the wait tier, a publish, a second consume and load) made 6 % of `max`'s deliveries a
/// second late and cost throughput.
const SLOT_PATIENCE: Duration = Duration::from_millis(50);

/// Whether a delivery may be attempted now.
pub enum Admission {
    /// Yes, holding a bulkhead slot until the target has answered.
    Go(Slot),
    /// Not now.
    Park(Park),
}

/// Checks the bulkhead, then the circuit (claiming the probe of a half-open one), then the
/// rate limit.
pub async fn admit(ctx: &Context, envelope: &DeliverV1, job: &Job) -> Result<Admission> {
    let subscription = envelope.subscription_id;
    let Some(slot) = ctx.bulkhead.enter_within(subscription, SLOT_PATIENCE).await else {
        return Ok(Admission::Park(Park::Bulkhead));
    };
    match circuit::gate(
        &job.subscription.breaker,
        &ctx.thresholds,
        OffsetDateTime::now_utc(),
    ) {
        Gate::Pass => {}
        Gate::Wait(wait) => return Ok(Admission::Park(Park::CircuitOpen(wait))),
        Gate::Probe => {
            // A probe that never reports back (its worker died) is given up after twice the
            // longest it could take.
            let probe_ttl = Duration::from_millis(u64::from(job.subscription.timeout_ms) * 2);
            let recovery = ctx.thresholds.recovery;
            match store::claim_probe(&ctx.pool, subscription, recovery, probe_ttl).await? {
                None => return Ok(Admission::Park(Park::ProbeBusy)),
                Some(before) if before.state == CircuitState::Open => {
                    announce(
                        ctx,
                        job,
                        CircuitState::HalfOpen,
                        true,
                        Some("probing the target".into()),
                    );
                }
                Some(_) => {}
            }
        }
    }
    if let Err(wait) = ctx
        .limiter
        .take(subscription, job.subscription.rate_limit_per_sec)
        .await?
    {
        return Ok(Admission::Park(Park::RateLimited(wait)));
    }
    Ok(Admission::Go(slot))
}

/// Sends the envelope, attempt unchanged, to the wait queue that holds it for `park`'s wait.
/// A delivery held by an open circuit records when it is due, so the outbox's sweep for
/// lost envelopes does not take a long-open circuit for a loss.
pub async fn park(ctx: &Context, envelope: &DeliverV1, park: Park) -> Result<()> {
    if let Park::CircuitOpen(wait) = park {
        store::postpone(&ctx.pool, envelope.delivery_id, wait).await?;
    }
    let topology = ctx.publisher.topology();
    let message = Outgoing::deliver_exactly_after(
        topology,
        &Envelope::DeliverV1(envelope.clone()),
        park.wait(),
    );
    ctx.publisher.publish(message).await?;
    Ok(())
}

/// What an attempt tells the breaker (and the rate limit): a 2xx is a success, `410 Gone`
/// ends the subscription, anything else is a failure.
fn signal(result: &AttemptResult) -> Signal {
    match (result.succeeded(), result.status_code) {
        (true, _) => Signal::Success,
        (false, Some(410)) => Signal::Gone,
        (false, _) => Signal::Failure,
    }
}

/// Moves the breaker after an attempt, throttles an overloaded target, and tells the owner
/// about every transition. A healthy circuit after a success writes nothing.
pub async fn after_attempt(ctx: &Context, envelope: &DeliverV1, job: &Job, result: &AttemptResult) {
    if matches!(result.status_code, Some(429 | 502 | 504))
        && let Err(error) = ctx.limiter.throttle(envelope.subscription_id).await
    {
        tracing::warn!(
            error = error.chain(),
            "the subscription could not be slowed down"
        );
    }
    let signal = signal(result);
    let loaded = &job.subscription.breaker;
    if signal == Signal::Success && loaded.state == CircuitState::Closed && loaded.failures == 0 {
        return;
    }
    let now = OffsetDateTime::now_utc();
    match ctx
        .breakers
        .apply(envelope.subscription_id, signal, now)
        .await
    {
        Ok(Some((before, transition))) => report(ctx, job, &before, &transition),
        Ok(None) => {}
        Err(error) => tracing::warn!(
            error = error.chain(),
            "the circuit breaker could not be updated"
        ),
    }
}

/// Logs and announces a change of circuit state or a disabling.
fn report(ctx: &Context, job: &Job, before: &Breaker, transition: &Transition) {
    let after = transition.breaker.state;
    if let Some(reason) = &transition.disable {
        tracing::warn!(reason, "subscription disabled");
        announce(ctx, job, after, false, Some(format!("disabled: {reason}")));
    } else if after != before.state {
        tracing::info!(
            from = before.state.as_str(),
            to = after.as_str(),
            "circuit changed"
        );
        let reason = match after {
            CircuitState::Open => format!("{} consecutive failures", transition.breaker.failures),
            CircuitState::HalfOpen => "probing the target".into(),
            CircuitState::Closed => "the target recovered".into(),
        };
        announce(ctx, job, after, true, Some(reason));
    }
}

/// Publishes a `subscription.updated` line to the owner's browsers.
fn announce(
    ctx: &Context,
    job: &Job,
    circuit: CircuitState,
    is_active: bool,
    reason: Option<String>,
) {
    let line = SubscriptionUpdated {
        subscription_id: job.subscription_id,
        is_active,
        circuit_state: circuit.as_str().to_owned(),
        reason,
        at: OffsetDateTime::now_utc(),
    };
    ctx.publisher
        .tell(job.user_id, "subscription.updated", &line);
}
