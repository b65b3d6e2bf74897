//! `warren-ingest`'s metrics and `GET /metrics`.

use axum::{
    Router,
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use warren_shared::metrics::{CONTENT_TYPE, PublisherMetrics, render};

use crate::{gateway::GatewayMetrics, state::AppState};

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
    pub alerts_firing: Family<crate::alerts::AlertLabel, Gauge>,
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

/// The `/metrics` route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&state.registry),
    )
        .into_response()
}

/// Counts ingest requests by the status they were answered with.
pub async fn count_ingest(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = StatusLabel {
        status: response.status().as_u16(),
    };
    state.metrics.ingest_requests.get_or_create(&status).inc();
    response
}
