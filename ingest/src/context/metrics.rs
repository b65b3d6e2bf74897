//! What `warren-ingest` counts: every metric the server's state holds, registered in one
//! place (served at `GET /metrics` by `metrics`).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use warren_shared::metrics::PublisherMetrics;

/// A label holding an HTTP status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// The status code.
    pub status: u16,
}

/// What `warren-ingest` counts.
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    /// Ingest requests by answer status.
    pub ingest_requests: Family<StatusLabel, Counter>,
    /// Events stored (ingest and the publish API).
    pub events_accepted: Counter,
    /// Transactions that stored events (group commit: fewer than the events under load).
    pub event_commits: Counter,
    /// Deliveries durable but not confirmed by the broker, as of the relay's last round.
    pub outbox_backlog: Gauge,
    /// Deliveries the outbox relay published.
    pub outbox_relayed: Counter,
    /// Waiting deliveries found long overdue (their envelope lost) and published again.
    pub outbox_swept: Counter,
    /// Events removed by the retention sweep (their deliveries and attempts with them).
    pub retention_deleted: Counter,
    /// Time partitions (windows of the three history tables) retention dropped whole.
    pub retention_partitions_dropped: Counter,
    /// Alerts firing now, by alert (see `alerts`).
    pub alerts_firing: Family<AlertLabel, Gauge>,
    /// The publisher's own counts.
    pub publisher: PublisherMetrics,
    /// The live log gateway's counts.
    pub gateway: GatewayMetrics,
}

impl IngestMetrics {
    /// The metrics, registered in a new registry.
    pub fn registered() -> (Self, Registry) {
        let metrics = Self::default();
        let mut registry = Registry::default();
        registry.register(
            "warren_ingest_requests",
            "Requests to /ingest/{token}, by status",
            metrics.ingest_requests.clone(),
        );
        registry.register(
            "warren_events_accepted",
            "Events stored",
            metrics.events_accepted.clone(),
        );
        registry.register(
            "warren_event_commits",
            "Transactions that stored events (several events each under load)",
            metrics.event_commits.clone(),
        );
        registry.register(
            "warren_outbox_backlog",
            "Deliveries not yet confirmed by RabbitMQ",
            metrics.outbox_backlog.clone(),
        );
        registry.register(
            "warren_outbox_relayed",
            "Deliveries the outbox relay published",
            metrics.outbox_relayed.clone(),
        );
        registry.register(
            "warren_outbox_swept",
            "Long-overdue waiting deliveries published again",
            metrics.outbox_swept.clone(),
        );
        registry.register(
            "warren_retention_deleted_events",
            "Events past the retention window removed, with their deliveries and attempts",
            metrics.retention_deleted.clone(),
        );
        registry.register(
            "warren_retention_partitions_dropped",
            "Time partitions past the retention window dropped whole (the events, deliveries and attempts of one window)",
            metrics.retention_partitions_dropped.clone(),
        );
        registry.register(
            "warren_alerts_firing",
            "Alerts firing now, by alert (one per subject)",
            metrics.alerts_firing.clone(),
        );
        metrics.publisher.register(&mut registry);
        metrics.gateway.register(&mut registry);
        (metrics, registry)
    }
}

/// The label of `warren_alerts_firing`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabel {
    /// The alert's name.
    pub alert: String,
}

/// What the gateway counts.
#[derive(Debug, Clone, Default)]
pub struct GatewayMetrics {
    /// Lines emitted to a socket.
    pub emitted: Counter,
    /// Lines dropped for a socket that could not keep up.
    pub dropped: Counter,
    /// Sockets connected to this instance.
    pub sockets: Gauge,
    /// Sockets ended because their credential ended (logout, key deleted, session expired).
    pub revoked: Counter,
}

impl GatewayMetrics {
    /// Registers the gateway's metrics.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "warren_gateway_lines_emitted",
            "Live lines emitted to sockets",
            self.emitted.clone(),
        );
        registry.register(
            "warren_gateway_lines_dropped",
            "Live lines dropped for sockets that could not keep up",
            self.dropped.clone(),
        );
        registry.register(
            "warren_gateway_sockets",
            "Sockets connected",
            self.sockets.clone(),
        );
        registry.register(
            "warren_gateway_sockets_revoked",
            "Sockets ended because their credential ended",
            self.revoked.clone(),
        );
    }
}
