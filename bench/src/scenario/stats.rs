//! The `stats` scenario: an attempt history written for the subscription, then its 7-day
//! stats call timed.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::context::{Run, Setup};
use crate::{phase::Percentiles, report::StatsFigures, seed};

/// The longest the stats calls are timed for, however many `--stats-calls` asks for.
const STATS_TIME_CAP: Duration = Duration::from_secs(60);

impl Run<'_> {
    /// Writes the attempt history, then times the 7-day stats call, one call at a time.
    pub(super) async fn stats(&self, setup: &Setup) -> anyhow::Result<StatsFigures> {
        let client = self.database("stats").await?;
        let plan = self.plan;
        eprintln!("warren-bench: writing {} attempts", plan.stats_attempts);
        let started = Instant::now();
        let attempts = seed::history(
            &client,
            &setup.owner,
            plan.stats_attempts,
            plan.stats_attempts_per_delivery,
        )
        .await?;
        let seed_seconds = started.elapsed().as_secs_f64();
        let id = setup.owner.subscription_id;
        let started = Instant::now();
        let reported_total = setup.api.stats(id, "7d").await?;
        let first_call_ms = started.elapsed().as_secs_f64() * 1_000.0;
        let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let deadline = Instant::now() + STATS_TIME_CAP;
        for _ in 0..plan.stats_calls {
            if self.cancel.is_cancelled() || Instant::now() > deadline {
                break;
            }
            let started = Instant::now();
            setup.api.stats(id, "7d").await?;
            latency.record(started.elapsed().as_micros().max(1) as u64)?;
        }
        Ok(StatsFigures {
            attempts,
            seed_seconds,
            reported_total,
            first_call_ms,
            latency_ms: Percentiles::of(&latency),
        })
    }
}
