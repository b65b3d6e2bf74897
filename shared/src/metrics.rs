//! Prometheus metrics. Each binary owns a registry (no global state, so tests can start
//! several services in one process); both expose it at `GET /metrics`. Every name starts
//! with `warren_`.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

/// A label naming why something failed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A short word: `disconnected`, `timeout`, `nack`, `unroutable`, `amqp`.
    pub reason: &'static str,
}

/// What the publisher counts.
#[derive(Debug, Clone, Default)]
pub struct PublisherMetrics {
    /// Messages the broker confirmed.
    pub confirms: Counter,
    /// Publishes that failed, by reason.
    pub failures: Family<ReasonLabel, Counter>,
    /// Times the publisher (re)connected.
    pub connects: Counter,
}

impl PublisherMetrics {
    /// Registers the publisher's metrics.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "warren_publish_confirms",
            "Messages RabbitMQ confirmed",
            self.confirms.clone(),
        );
        registry.register(
            "warren_publish_failures",
            "Publishes without a positive confirm, by reason",
            self.failures.clone(),
        );
        registry.register(
            "warren_publisher_connects",
            "Times the publisher connected to RabbitMQ",
            self.connects.clone(),
        );
    }
}

/// The registry in Prometheus' text format.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).expect("writing to a String cannot fail");
    text
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
