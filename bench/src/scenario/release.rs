//! The `release` scenario: a paused subscription's held deliveries released beside the
//! run's subscription, which is measured without and during the release.

use std::time::{Duration, Instant};

use anyhow::bail;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::context::{Measured, Run, Setup};
use crate::{
    api::{Api, NewSubscription},
    phase::{self, Percentiles, PhaseContext},
    receiver::Receiver,
    report::{ReleaseFigures, ReleaseSample},
    rows::Owner,
    seed,
};

impl Run<'_> {
    /// The `release` scenario. Subscription A (a receiver of its own, only `bench.seeded`
    /// events, so the load never reaches it; its rate limit `--release-rate`) is paused and
    /// given `--held` held deliveries straight in the database. B (the run's subscription)
    /// is measured under the load with nothing released; then A is enabled with
    /// `{"held": "deliver"}` and B is measured again while A's deliveries go out, watched
    /// until A's `held_count` is 0 and its receiver has every one.
    pub(super) async fn release(
        &self,
        setup: &Setup,
        ctx: &PhaseContext,
        measured: &mut Measured,
    ) -> anyhow::Result<()> {
        let plan = self.plan;
        let client = self.database("release").await?;
        let released = Receiver::start(0.0)?;
        let target = released.url("/hook");
        let new = NewSubscription {
            event_types: &["bench.seeded"],
            rate_limit_per_sec: Some(plan.release_rate),
            ..NewSubscription::new("bench-released", &target, setup.owner.source_id)
        };
        let id = setup.api.create_subscription(&new).await?;
        setup.api.pause(id).await?;
        let owner = Owner {
            subscription_id: id,
            ..setup.owner
        };
        eprintln!(
            "warren-bench: holding {} deliveries for a paused subscription",
            plan.held
        );
        let started = Instant::now();
        seed::held(&client, &owner, plan.held).await?;
        let seed_seconds = started.elapsed().as_secs_f64();
        let before = setup.api.subscription(id).await?;
        if u64::try_from(before.held_count).ok() != Some(plan.held) {
            bail!(
                "the paused subscription counts {} held deliveries, not {}",
                before.held_count,
                plan.held
            );
        }
        measured
            .phases
            .push(phase::run(ctx, &self.phase("B, nothing released")).await);
        let enabled_at = Instant::now();
        setup.api.enable(id, "deliver").await?;
        let name = format!("B, while {} held are released", plan.held);
        let pace = Duration::from_secs_f64(plan.held as f64 / f64::from(plan.release_rate));
        let watch = Watch {
            api: &setup.api,
            id,
            receiver: &released,
            held: plan.held,
            since: enabled_at,
            timeout: plan.drain_timeout + pace * 5,
            cancel: self.cancel,
        };
        let spec = self.phase(&name);
        let (during, watched) = tokio::join!(phase::run(ctx, &spec), watch.run());
        measured.phases.push(during);
        let watched = watched?;
        let duplicates = released.recorder.with_deliveries(|deliveries| {
            deliveries
                .values()
                .map(|r| u64::from(r.ok_answers.saturating_sub(1)))
                .sum()
        });
        let ratio = |pick: fn(&Percentiles) -> f64| {
            let e2e = |i: usize| measured.phases.get(i).and_then(|p| p.e2e_latency_ms);
            match (e2e(0), e2e(1)) {
                (Some(without), Some(during)) if pick(&without) > 0.0 => {
                    Some(pick(&during) / pick(&without))
                }
                _ => None,
            }
        };
        measured.release = Some(ReleaseFigures {
            held: plan.held,
            rate_limit_per_sec: plan.release_rate,
            seed_seconds,
            held_count_before: before.held_count,
            held_count_zero_seconds: watched.held_count_zero,
            all_delivered_seconds: watched.all_delivered,
            delivered: watched.delivered,
            duplicates,
            delivered_per_sec: watched
                .all_delivered
                .map(|seconds| plan.held as f64 / seconds),
            window_inside_release: watched
                .all_delivered
                .is_none_or(|seconds| seconds >= (plan.warmup + plan.duration).as_secs_f64()),
            p50_ratio: ratio(|p| p.p50),
            p99_ratio: ratio(|p| p.p99),
            timeline: watched.timeline,
        });
        Ok(())
    }
}

/// A release being watched: subscription `id`, enabled at `since`, its `held` deliveries
/// going to `receiver`.
struct Watch<'a> {
    api: &'a Api,
    id: Uuid,
    receiver: &'a Receiver,
    held: u64,
    since: Instant,
    /// The longest wait for the release to finish.
    timeout: Duration,
    cancel: &'a CancellationToken,
}

/// What watching a release saw.
struct Watched {
    /// Seconds from the enable until `held_count` was 0.
    held_count_zero: Option<f64>,
    /// Seconds from the enable until the receiver had every held delivery.
    all_delivered: Option<f64>,
    /// Held deliveries the receiver answered 2xx.
    delivered: u64,
    /// About a look a second.
    timeline: Vec<ReleaseSample>,
}

/// How often the receiver's count is read while a release is watched; `held_count` is read
/// every fifth time.
const WATCH_EVERY: Duration = Duration::from_millis(100);

impl Watch<'_> {
    /// Watches until `held_count` is 0 and the receiver has every held delivery, or the
    /// timeout (then the figures say what did not happen).
    async fn run(self) -> anyhow::Result<Watched> {
        let mut watched = Watched {
            held_count_zero: None,
            all_delivered: None,
            delivered: 0,
            timeline: Vec::new(),
        };
        let succeeded = &self.receiver.recorder.counters.succeeded;
        for tick in 0u64.. {
            let seconds = self.since.elapsed().as_secs_f64();
            watched.delivered = succeeded.load(std::sync::atomic::Ordering::Relaxed);
            if watched.all_delivered.is_none() && watched.delivered >= self.held {
                watched.all_delivered = Some(seconds);
            }
            if tick % 5 == 0 && watched.held_count_zero.is_none() {
                let held_count = self.api.subscription(self.id).await?.held_count;
                if held_count == 0 {
                    watched.held_count_zero = Some(self.since.elapsed().as_secs_f64());
                }
                if tick % 10 == 0 {
                    watched.timeline.push(ReleaseSample {
                        seconds,
                        held_count,
                        delivered: watched.delivered,
                    });
                }
            }
            let done = watched.held_count_zero.is_some() && watched.all_delivered.is_some();
            if done || self.since.elapsed() >= self.timeout || self.cancel.is_cancelled() {
                return Ok(watched);
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
        Ok(watched)
    }
}
