//! Events: listed and shown with their deliveries, published by a user's own application,
//! and replayed to their subscriptions.

mod backfill;
mod publish;
mod search;

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub use crate::context::{
    event_store as store,
    event_store::{NewEvent, Stored},
    group_commit::{Committer, commit_group},
};

use crate::{
    auth::AuthUser,
    deliveries::{DeliverySummary, SUMMARY_COLUMNS},
    dispatch,
    error::{ApiError, Problem, Result},
    extract::{ApiPath, ApiQuery, OptionalJson},
    ingest::Accepted,
    pagination::{Page, PageQuery, Paginated, TimeRange, paginate},
    state::AppState,
    validation,
};

/// The event routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, publish::publish))
        .routes(routes!(read))
        .routes(routes!(replay))
        .routes(routes!(backfill::replay_range))
}

/// An event in a list (its body is in the event's own page).
#[derive(Serialize, ToSchema)]
pub struct EventSummary {
    id: Uuid,
    source_id: Option<Uuid>,
    event_type: String,
    content_type: Option<String>,
    /// The body's size in bytes.
    size: i32,
    idempotency_key: Option<String>,
    /// The provider whose signature was verified, if any.
    verified_by: Option<String>,
    /// Deliveries created when the event arrived.
    delivery_count: i32,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
}

const SUMMARY: &str = "id, source_id, event_type, content_type, octet_length(raw_body) AS size, \
     idempotency_key, verified_by, initial_deliveries, received_at";

impl EventSummary {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            source_id: row.get("source_id"),
            event_type: row.get("event_type"),
            content_type: row.get("content_type"),
            size: row.get("size"),
            idempotency_key: row.get("idempotency_key"),
            verified_by: row.get("verified_by"),
            delivery_count: row.get("initial_deliveries"),
            received_at: row.get("received_at"),
        }
    }
}

/// An event with its body and every delivery made of it.
#[derive(Serialize, ToSchema)]
pub struct EventBody {
    #[serde(flatten)]
    summary: EventSummary,
    /// The parsed body when it was JSON, else `null`.
    payload: Option<Value>,
    /// The body as received, decoded as UTF-8 (invalid bytes replaced).
    raw_body: String,
    /// The request headers kept (credentials dropped).
    headers: Value,
    deliveries: Vec<DeliverySummary>,
}

/// Filters of the event list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilters {
    /// Only events of exactly this type.
    event_type: Option<String>,
    /// Only events from this source.
    source_id: Option<Uuid>,
    /// Only events whose JSON payload contains this JSON object (PostgreSQL's `@>`:
    /// `{"customer": {"id": "cus_1"}}` finds every event for that customer), URL-encoded; at
    /// most 4 KiB.
    #[param(max_length = 4096, example = r#"{"customer": {"id": "cus_1"}}"#)]
    contains: Option<String>,
}

/// The user's events, newest first; `from` and `to` bound when they were received.
#[utoipa::path(get, path = "/api/v1/events", operation_id = "list_events", tag = "events", params(PageQuery, EventFilters, TimeRange),
    responses((status = 200, body = Paginated<EventSummary>), (status = 400, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(filters): ApiQuery<EventFilters>,
    ApiQuery(range): ApiQuery<TimeRange>,
) -> Result<Json<Paginated<EventSummary>>> {
    let page = Page::try_from(&page)?;
    let range = range.checked()?;
    let contains = filters.contains.as_deref().map(contained).transpose()?;
    let client = state.pool.get().await?;
    let filters = search::Filters {
        user_id: user.user_id,
        event_type: filters.event_type,
        source_id: filters.source_id,
        from: range.from,
        to: range.to,
    };
    let rows = search::page(&client, &filters, page, contains.as_ref()).await?;
    let events = rows.iter().map(EventSummary::from_row).collect();
    Ok(Json(paginate(events, page, |e| e.id)))
}

/// Most bytes of a `contains` search.
const MAX_CONTAINS_BYTES: usize = 4096;

/// A `contains` search as the JSON object it must be: 400 naming `contains` otherwise.
fn contained(text: &str) -> Result<Value> {
    let refuse = |why: &str| ApiError::BadRequest(format!("`contains` {why}"));
    if text.len() > MAX_CONTAINS_BYTES {
        return Err(refuse(&format!(
            "must be at most {MAX_CONTAINS_BYTES} bytes"
        )));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| refuse(&format!("is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(refuse("must be a JSON object"));
    }
    if validation::field_with_nul(&value).is_some() {
        return Err(refuse("must not contain a \\u0000 character"));
    }
    Ok(value)
}

/// One event with its body and deliveries.
#[utoipa::path(get, path = "/api/v1/events/{id}", operation_id = "read_event", tag = "events", params(("id" = Uuid, Path)),
    responses((status = 200, body = EventBody), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EventBody>> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {SUMMARY}, payload, raw_body, headers FROM events WHERE id = $1 AND user_id = $2"),
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let deliveries = client
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.event_id = $1 ORDER BY d.id"
            ),
            &[&id],
        )
        .await?;
    let raw_body: Vec<u8> = row.get("raw_body");
    Ok(Json(EventBody {
        summary: EventSummary::from_row(&row),
        payload: row.get("payload"),
        raw_body: String::from_utf8_lossy(&raw_body).into_owned(),
        headers: row.get("headers"),
        deliveries: DeliverySummary::from_rows(&deliveries)?,
    }))
}

/// Which subscriptions a replay goes to.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReplayTarget {
    /// Only this subscription (even if its filter would not match); absent: every active
    /// subscription that matches the event now.
    subscription_id: Option<Uuid>,
}

/// Delivers an event again, as new deliveries (new ids, fresh attempts), to every matching
/// subscription or to one.
#[utoipa::path(post, path = "/api/v1/events/{id}/replay", tag = "events", params(("id" = Uuid, Path)),
    request_body(content = Option<ReplayTarget>),
    responses((status = 202, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn replay(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    // The body is optional: none (or `{}`) replays to every matching subscription.
    OptionalJson(target): OptionalJson<ReplayTarget>,
) -> Result<(StatusCode, Json<Accepted>)> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    // Locked as a foreign key would lock it: retention cannot delete the event while its
    // new deliveries are being made (nothing checks a delivery's event otherwise).
    let event = tx
        .query_opt(
            "SELECT source_id, event_type, payload::text AS payload FROM events
             WHERE id = $1 AND user_id = $2 FOR KEY SHARE",
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let subscriptions = match target.subscription_id {
        Some(subscription_id) => vec![replay_target(&tx, &user, subscription_id).await?],
        None => {
            store::matching_subscriptions(
                &tx,
                user.user_id,
                event.get("source_id"),
                event.get("event_type"),
                event.get("payload"),
            )
            .await?
        }
    };
    let envelopes = store::insert_deliveries(&tx, user.user_id, id, &subscriptions).await?;
    tx.commit().await?;
    let deliveries = envelopes.len() as i32;
    dispatch::publish_now(&state.marker, &state.publisher, envelopes).await;
    Ok((StatusCode::ACCEPTED, Json(Accepted { id, deliveries })))
}

/// A subscription named for a replay: the user's (422 otherwise) and active (409 otherwise).
async fn replay_target(
    client: &impl GenericClient,
    user: &AuthUser,
    id: Uuid,
) -> Result<store::Target> {
    let row = client
        .query_opt(
            "SELECT is_active, ordering = 'fifo' AS fifo FROM subscriptions WHERE id = $1 AND user_id = $2",
            &[&id, &user.user_id],
        )
        .await?
        .ok_or_else(|| ApiError::field("subscription_id", "no such subscription"))?;
    if !row.get::<_, bool>("is_active") {
        return Err(ApiError::Conflict(
            "the subscription is disabled; enable it first".into(),
        ));
    }
    Ok(store::Target {
        id,
        fifo: row.get("fifo"),
    })
}
