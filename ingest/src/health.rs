//! `/healthz` (the process runs) and `/readyz` (PostgreSQL and RabbitMQ answer).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::state::AppState;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when both dependencies answer; otherwise 503 problem+json naming what is down.
async fn readyz(State(state): State<AppState>) -> Response {
    let database = database_up(&state).await;
    let broker = state.publisher.is_connected();
    readiness(database, broker)
}

async fn database_up(state: &AppState) -> bool {
    let check = async {
        let client = state.pool.get().await.ok()?;
        client.query_one("SELECT 1", &[]).await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Some(_))
    )
}

/// Turns the two checks into the response.
pub fn readiness(database: bool, broker: bool) -> Response {
    let (status, content_type, body) = warren_shared::health::readiness(database, broker);
    let status = StatusCode::from_u16(status).expect("a valid status");
    (status, [(header::CONTENT_TYPE, content_type)], Json(body)).into_response()
}
