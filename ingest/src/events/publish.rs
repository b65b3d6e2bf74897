//! `POST /api/v1/events`: the publish API, for a user's own application. Same durability and
//! idempotency as ingest; idempotency keys are scoped to the user.

use axum::{extract::State, http::HeaderMap, response::Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{
    ToSchema,
    openapi::{Object, ObjectBuilder, Type, schema::SchemaType},
};
use uuid::Uuid;

use super::store::NewEvent;
use crate::{
    auth::AuthUser,
    error::{ApiError, Problem, Result},
    extract::ApiJson,
    ingest::{Accepted, accepted, check_event_type, check_json, idempotency_key},
    state::AppState,
};

/// An event to publish.
#[derive(Deserialize, ToSchema)]
pub struct PublishedEvent {
    /// Its type (1 to 255 characters, no control characters).
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    event_type: String,
    /// The JSON body subscribers receive: any JSON but `null`.
    #[schema(schema_with = any_but_null)]
    payload: Value,
    /// The source it belongs to: subscriptions bound to that source get it too. Absent: only
    /// subscriptions that take every source get it.
    source_id: Option<Uuid>,
}

/// Any JSON value but `null`.
fn any_but_null() -> Object {
    let types = [
        Type::Object,
        Type::Array,
        Type::String,
        Type::Number,
        Type::Boolean,
    ];
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(types.to_vec()))
        .build()
}

/// Publishes an event; `Idempotency-Key` works as at ingest.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = PublishedEvent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key, unique per user",
        max_length = 255, pattern = r"^[!-~]([\t -~]*[!-~])?$")),
    responses((status = 202, body = Accepted), (status = 200, body = Accepted, description = "Idempotent replay"),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(event): ApiJson<PublishedEvent>,
) -> Result<Response> {
    if event.payload.is_null() {
        return Err(ApiError::field("payload", "a JSON payload is required"));
    }
    check_event_type(&event.event_type)?;
    check_json(&event.payload, state.settings.max_json_depth)?;
    if let Some(source_id) = event.source_id {
        let owned = state
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT 1 FROM sources WHERE id = $1 AND user_id = $2",
                &[&source_id, &user.user_id],
            )
            .await?;
        if owned.is_none() {
            return Err(ApiError::field("source_id", "no such source"));
        }
    }
    let raw_body = serde_json::to_vec(&event.payload).map_err(|e| ApiError::Internal(e.into()))?;
    let new = NewEvent {
        user_id: user.user_id,
        source_id: event.source_id,
        idempotency_scope: user.user_id,
        idempotency_key: idempotency_key(&headers)?,
        event_type: event.event_type,
        content_type: Some("application/json".into()),
        raw_body: Bytes::from(raw_body),
        json: true,
        headers: Value::Object(Default::default()),
        verified_by: None,
        candidates: None,
    };
    let stored = state.committer.store(new).await?;
    Ok(accepted(&state, stored).await)
}
