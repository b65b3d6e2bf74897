//! What a worker shares between the deliveries it handles: the database pool, the publisher,
//! the HTTP client and each protection's state. It sits at the bottom of the crate and
//! imports none of the modules that handle deliveries, so those import it, never each other
//! for it.

use std::sync::{Arc, atomic::AtomicBool};

use deadpool_postgres::Pool;
use warren_shared::{publisher::Publisher, retry::RetrySchedule};

use crate::{
    breakers::Breakers,
    circuit::Thresholds,
    http::HttpClient,
    limits::{Bulkhead, RateLimiter},
    lines::Lines,
    metrics::DeliverMetrics,
    records::Recorder,
    store::Loader,
};

/// What a worker needs to handle deliveries.
pub struct Context {
    /// PostgreSQL.
    pub pool: Pool,
    /// Publishes retries and graveyard copies.
    pub publisher: Publisher,
    /// The guarded HTTP client.
    pub http: HttpClient,
    /// Whether the consumer is attached to the main queue right now (for `/readyz`).
    pub consuming: Arc<AtomicBool>,
    /// What the worker counts.
    pub metrics: Arc<DeliverMetrics>,
    /// The circuit breaker's thresholds.
    pub thresholds: Thresholds,
    /// Rate limits per subscription (tokens leased from buckets every worker shares).
    pub limiter: RateLimiter,
    /// The cap of deliveries in flight per subscription.
    pub bulkhead: Bulkhead,
    /// Loads deliveries, in groups.
    pub loader: Loader,
    /// Records attempts, in groups.
    pub recorder: Recorder,
    /// Moves circuit breakers, in groups.
    pub breakers: Breakers,
    /// The FIFO lines being handled, one delivery at a time each.
    pub lines: Lines,
    /// The least time between two notifications of one type about one subscription.
    pub notify_min_interval: std::time::Duration,
}

impl Context {
    /// The retry schedule of the topology this worker publishes to.
    pub fn schedule(&self) -> &RetrySchedule {
        self.publisher.topology().schedule()
    }
}
