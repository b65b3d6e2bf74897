//! `warren-deliver`'s metrics, served at `GET /metrics` beside `/healthz`.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use warren_shared::metrics::PublisherMetrics;

/// A label naming how handling a delivery ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `succeeded`, `retrying`, `dead`, `skipped` or `parked`.
    pub outcome: &'static str,
}

/// What `warren-deliver` counts.
#[derive(Debug, Clone)]
pub struct DeliverMetrics {
    /// Envelopes handled, by outcome.
    pub deliveries: Family<OutcomeLabel, Counter>,
    /// How long each HTTP attempt took, in seconds.
    pub attempt_duration: Histogram,
    /// Deliveries being handled right now.
    pub in_flight: Gauge,
    /// Times the consumer reattached after losing RabbitMQ.
    pub consumer_reconnects: Counter,
    /// The publisher's own counts.
    pub publisher: PublisherMetrics,
}

impl Default for DeliverMetrics {
    fn default() -> Self {
        Self {
            deliveries: Family::default(),
            // 5 ms to about 40 s.
            attempt_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            in_flight: Gauge::default(),
            consumer_reconnects: Counter::default(),
            publisher: PublisherMetrics::default(),
        }
    }
}

impl DeliverMetrics {
    /// The metrics, registered in a new registry.
    pub fn registered() -> (Self, Registry) {
        let metrics = Self::default();
        let mut registry = Registry::default();
        registry.register(
            "warren_deliveries",
            "Envelopes handled, by outcome",
            metrics.deliveries.clone(),
        );
        registry.register(
            "warren_attempt_duration_seconds",
            "Duration of HTTP attempts",
            metrics.attempt_duration.clone(),
        );
        registry.register(
            "warren_deliveries_in_flight",
            "Deliveries being handled now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "warren_consumer_reconnects",
            "Times the consumer reattached to RabbitMQ",
            metrics.consumer_reconnects.clone(),
        );
        metrics.publisher.register(&mut registry);
        (metrics, registry)
    }

    /// Counts one handled envelope.
    pub fn count(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}
