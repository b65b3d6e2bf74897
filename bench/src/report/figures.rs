//! The figures the `backlog`, `stats` and `release` scenarios measure besides their phases.

use serde::Serialize;

use crate::phase::Percentiles;

/// What parking the backlog took.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogSetup {
    /// Deliveries parked.
    pub parked: u64,
    /// The wait queues they were parked in.
    pub queues: Vec<String>,
    /// Seconds spent writing their rows to PostgreSQL.
    pub database_seconds: f64,
    /// Seconds spent publishing their envelopes to RabbitMQ.
    pub publish_seconds: f64,
    /// Messages in those queues after parking, as the management API counted them.
    pub messages_in_queues: u64,
}

/// The `stats` scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct StatsFigures {
    /// Attempt rows inserted for the subscription.
    pub attempts: u64,
    /// Seconds spent inserting them (and vacuuming).
    pub seed_seconds: f64,
    /// The `total` the stats answered (should equal `attempts`).
    pub reported_total: u64,
    /// The first call after seeding, in ms.
    pub first_call_ms: f64,
    /// The calls after it, one at a time.
    pub latency_ms: Option<Percentiles>,
}

/// One look at a release under way.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReleaseSample {
    /// Seconds since the subscription was enabled.
    pub seconds: f64,
    /// Its `held_count` then.
    pub held_count: i64,
    /// Deliveries its receiver had answered 2xx by then.
    pub delivered: u64,
}

/// The `release` scenario's figures: the release of subscription A's held deliveries, and
/// what it did to subscription B's end-to-end latency (the run's two phases).
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseFigures {
    /// Held deliveries written for A while it was paused.
    pub held: u64,
    /// A's rate limit, deliveries a second, which paces its release.
    pub rate_limit_per_sec: u32,
    /// Seconds spent writing them (and vacuuming).
    pub seed_seconds: f64,
    /// A's `held_count` before it was enabled.
    pub held_count_before: i64,
    /// Seconds from enabling A until its `held_count` was 0 (all released).
    pub held_count_zero_seconds: Option<f64>,
    /// Seconds from enabling A until its receiver had answered every one 2xx.
    pub all_delivered_seconds: Option<f64>,
    /// Of the held deliveries, those A's receiver answered 2xx.
    pub delivered: u64,
    /// 2xx answers beyond the first for one of them.
    pub duplicates: u64,
    /// `held / all_delivered_seconds`.
    pub delivered_per_sec: Option<f64>,
    /// Whether B's measured window during the release ended before the release did, so all
    /// of it was measured while A's deliveries went out.
    pub window_inside_release: bool,
    /// B's end-to-end p50 during the release over its p50 without one.
    pub p50_ratio: Option<f64>,
    /// B's end-to-end p99 during the release over its p99 without one.
    pub p99_ratio: Option<f64>,
    /// `held_count` and A's deliveries, about every second of the release.
    pub timeline: Vec<ReleaseSample>,
}

impl ReleaseFigures {
    /// Whether B's end-to-end p99 during the release stayed within twice its value without.
    pub fn within_twice(&self) -> Option<bool> {
        self.p99_ratio.map(|r| r <= 2.0)
    }
}
