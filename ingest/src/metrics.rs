//! `GET /metrics` and the ingest request count; what is counted is `context::metrics`.

use axum::{
    Router,
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use warren_shared::metrics::{CONTENT_TYPE, render};

pub use crate::context::metrics::{IngestMetrics, StatusLabel};
use crate::state::AppState;

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
