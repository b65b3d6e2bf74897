//! Deliveries: one event on its way to one subscription, with every attempt made; retried
//! by hand, and listed per subscription.

pub mod recovery;

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::model::{DeliveryStatus, ErrorKind};

use self::recovery::RETURNING;
use crate::{
    auth::AuthUser,
    dispatch,
    error::{ApiError, Problem, Result, stored_word},
    extract::{ApiPath, ApiQuery},
    owned,
    pagination::{Page, PageQuery, Paginated, TimeRange, paginate},
    state::AppState,
};

/// The delivery routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(retry))
        .routes(routes!(list_for_subscription))
}

/// A delivery in a list.
#[derive(Serialize, ToSchema)]
pub struct DeliverySummary {
    /// Also the `webhook-id` the receiver sees, the same on every attempt.
    pub id: Uuid,
    event_id: Uuid,
    subscription_id: Uuid,
    event_type: String,
    status: DeliveryStatus,
    /// Attempts made over the delivery's whole life (replays continue the count).
    attempt_count: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<OffsetDateTime>,
    last_status_code: Option<i32>,
    last_error_kind: Option<ErrorKind>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    succeeded_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    dead_at: Option<OffsetDateTime>,
}

/// What [`DeliverySummary::from_row`] reads, from `deliveries d JOIN events e`.
pub const SUMMARY_COLUMNS: &str = "d.id, d.event_id, d.subscription_id, e.event_type, d.status, \
     d.attempt_count, d.next_attempt_at, d.last_status_code, d.last_error_kind, d.created_at, \
     d.updated_at, d.succeeded_at, d.dead_at";

impl DeliverySummary {
    /// Reads the [`SUMMARY_COLUMNS`] of a row.
    pub fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            event_id: row.get("event_id"),
            subscription_id: row.get("subscription_id"),
            event_type: row.get("event_type"),
            status: stored_word(row.get("status"))?,
            attempt_count: row.get("attempt_count"),
            next_attempt_at: row.get("next_attempt_at"),
            last_status_code: row.get("last_status_code"),
            last_error_kind: row
                .get::<_, Option<&str>>("last_error_kind")
                .map(stored_word)
                .transpose()?,
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            succeeded_at: row.get("succeeded_at"),
            dead_at: row.get("dead_at"),
        })
    }

    /// Where the delivery stands.
    pub fn status(&self) -> DeliveryStatus {
        self.status
    }

    /// Reads every row.
    pub fn from_rows(rows: &[Row]) -> Result<Vec<Self>> {
        rows.iter().map(Self::from_row).collect()
    }
}

/// A delivery with its attempts, oldest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryBody {
    #[serde(flatten)]
    summary: DeliverySummary,
    attempts: Vec<AttemptBody>,
}

/// One HTTP try.
#[derive(Serialize, ToSchema)]
pub struct AttemptBody {
    /// Also the `x-request-id` the receiver saw.
    id: Uuid,
    /// 1-based, over the delivery's whole life.
    attempt: i32,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    duration_ms: i32,
    /// `null` when no HTTP answer came.
    status_code: Option<i32>,
    /// `null` for a 2xx.
    error_kind: Option<ErrorKind>,
    /// The start of the answer's body (at most 16 KiB).
    response_excerpt: Option<String>,
    /// The batch (its `webhook-id`) this attempt travelled in; `null` when it went alone.
    batch_id: Option<Uuid>,
}

impl AttemptBody {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            attempt: row.get("attempt"),
            started_at: row.get("started_at"),
            duration_ms: row.get("duration_ms"),
            status_code: row.get("status_code"),
            error_kind: row
                .get::<_, Option<&str>>("error_kind")
                .map(stored_word)
                .transpose()?,
            response_excerpt: row.get("response_excerpt"),
            batch_id: row.get("batch_id"),
        })
    }
}

/// One delivery of the user's, with its attempts.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", operation_id = "read_delivery", tag = "deliveries", params(("id" = Uuid, Path)),
    responses((status = 200, body = DeliveryBody), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DeliveryBody>> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.id = $1 AND d.user_id = $2"
            ),
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let attempts = client
        .query(
            "SELECT id, attempt, started_at, duration_ms, status_code, error_kind, response_excerpt,
                 batch_id
             FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
            &[&id],
        )
        .await?
        .iter()
        .map(AttemptBody::from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(DeliveryBody {
        summary: DeliverySummary::from_row(&row)?,
        attempts,
    }))
}

/// Attempts a delivery again now. A dead or succeeded one starts a new round of attempts
/// (its log keeps the old ones); a waiting one skips the rest of its wait. A held one goes
/// when its subscription is enabled, and a discarded one never: both are a 409.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "deliveries", params(("id" = Uuid, Path)),
    responses((status = 202, body = DeliverySummary), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn retry(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<DeliverySummary>)> {
    let retryable = "d.status NOT IN ('held', 'discarded')";
    match requeue_one(&state, &user, id, recovery::ATTEMPT_NOW, retryable).await {
        Ok(summary) => Ok((StatusCode::ACCEPTED, Json(summary))),
        Err(ApiError::NotFound) => Err(not_retryable(&state, &user, id).await),
        Err(e) => Err(e),
    }
}

/// Why a delivery of this user's was not retried: it is held or discarded (409), or it is
/// not theirs or not there at all (404).
async fn not_retryable(state: &AppState, user: &AuthUser, id: Uuid) -> ApiError {
    let status = async {
        let client = state.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT status FROM deliveries WHERE id = $1 AND user_id = $2",
                &[&id, &user.user_id],
            )
            .await?;
        Ok::<_, ApiError>(row.map(|row| row.get::<_, String>(0)))
    };
    match status.await {
        Ok(Some(status)) if status == "held" => ApiError::Conflict(
            "this delivery is held: it goes when its subscription is enabled".into(),
        ),
        Ok(Some(status)) if status == "discarded" => {
            ApiError::Conflict("this delivery was discarded: it is never attempted".into())
        }
        Ok(_) => ApiError::NotFound,
        Err(e) => e,
    }
}

/// One delivery's summary (its owner already checked).
pub async fn summary(client: &impl GenericClient, id: Uuid) -> Result<DeliverySummary> {
    let row = client
        .query_one(
            &format!("SELECT {SUMMARY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1"),
            &[&id],
        )
        .await?;
    DeliverySummary::from_row(&row)
}

/// Filters of a subscription's deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilters {
    /// Only deliveries in this status.
    status: Option<DeliveryStatus>,
    /// Only deliveries whose last answer had this status code.
    status_code: Option<i32>,
}

/// A subscription's deliveries, newest first; `from` and `to` bound their creation.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/deliveries", tag = "deliveries",
    params(("id" = Uuid, Path), PageQuery, DeliveryFilters, TimeRange),
    responses((status = 200, body = Paginated<DeliverySummary>), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn list_for_subscription(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(filters): ApiQuery<DeliveryFilters>,
    ApiQuery(range): ApiQuery<TimeRange>,
) -> Result<Json<Paginated<DeliverySummary>>> {
    let page = Page::try_from(&page)?;
    let range = range.checked()?;
    let client = state.pool.get().await?;
    owned::check(&client, "subscriptions", user.user_id, id).await?;
    let status = filters.status.map(DeliveryStatus::as_str);
    let rows = client
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.subscription_id = $1 AND d.user_id = $2 AND d.id < $3
                   AND ($4::text IS NULL OR d.status = $4)
                   AND ($5::int IS NULL OR d.last_status_code = $5)
                   AND ($6::timestamptz IS NULL OR d.created_at >= $6)
                   AND ($7::timestamptz IS NULL OR d.created_at < $7)
                 ORDER BY d.id DESC LIMIT $8"
            ),
            &[
                &id,
                &user.user_id,
                &page.before_or_max(),
                &status,
                &filters.status_code,
                &range.from,
                &range.to,
                &page.fetch(),
            ],
        )
        .await?;
    Ok(Json(paginate(
        DeliverySummary::from_rows(&rows)?,
        page,
        |d| d.id,
    )))
}

/// Puts one of the user's deliveries back in line with `UPDATE deliveries d SET <set> WHERE
/// d.id = $1 AND d.user_id = $2 AND <condition>`, publishes its next envelope, and returns
/// its summary; 404 when no row matched.
pub async fn requeue_one(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    set: &str,
    condition: &str,
) -> Result<DeliverySummary> {
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!("UPDATE deliveries d SET {set} WHERE d.id = $1 AND d.user_id = $2 AND {condition} {RETURNING}"),
            &[&id, &user.user_id],
        )
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound);
    }
    dispatch::publish_now(&state.marker, &state.publisher, recovery::envelopes(&rows)?).await;
    recovery::resume_after(state, &client, user.user_id, &[id]).await?;
    summary(&client, id).await
}
