//! Dead letters: deliveries out of attempts. A dead letter's id is its delivery's id;
//! replaying puts that same delivery back to `pending` for a new round of attempts (its log
//! keeps the old ones); discarding takes it off the list and keeps its log. Either one
//! restarts a FIFO line that paused on it.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::AuthUser,
    deliveries::{self, DeliverySummary, SUMMARY_COLUMNS, recovery},
    dispatch,
    error::{ApiError, Problem, Result},
    extract::{ApiPath, ApiQuery, OptionalJson},
    lines,
    pagination::{Page, PageQuery, Paginated, TimeRange, paginate},
    state::AppState,
};

/// The dead-letter routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(replay_many))
        .routes(routes!(replay_one))
        .routes(routes!(discard))
}

/// What a dead letter is, in SQL over `deliveries d`.
const DEAD: &str = "d.status = 'dead' AND d.discarded_at IS NULL";

/// Filters of the dead-letter list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterFilters {
    /// Only dead letters of this subscription.
    subscription_id: Option<Uuid>,
}

/// The user's dead letters, newest first; `from` and `to` bound when they died.
#[utoipa::path(get, path = "/api/v1/dead-letters", operation_id = "list_dead_letters", tag = "dead-letters",
    params(PageQuery, DeadLetterFilters, TimeRange),
    responses((status = 200, body = Paginated<DeliverySummary>), (status = 400, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(filters): ApiQuery<DeadLetterFilters>,
    ApiQuery(range): ApiQuery<TimeRange>,
) -> Result<Json<Paginated<DeliverySummary>>> {
    let page = Page::try_from(&page)?;
    let range = range.checked()?;
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.user_id = $1 AND {DEAD} AND d.id < $2
                   AND ($3::uuid IS NULL OR d.subscription_id = $3)
                   AND ($4::timestamptz IS NULL OR d.dead_at >= $4)
                   AND ($5::timestamptz IS NULL OR d.dead_at < $5)
                 ORDER BY d.id DESC LIMIT $6"
            ),
            &[
                &user.user_id,
                &page.before_or_max(),
                &filters.subscription_id,
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

/// Replays one dead letter: the same delivery, back to `pending`.
#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/replay", tag = "dead-letters",
    params(("id" = Uuid, Path, description = "The dead delivery's id")),
    responses((status = 202, body = DeliverySummary), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn replay_one(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<DeliverySummary>)> {
    let summary = deliveries::requeue_one(&state, &user, id, recovery::RESTART, DEAD).await?;
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// Which dead letters a bulk replay takes.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BulkReplay {
    /// Only this subscription's.
    subscription_id: Option<Uuid>,
    /// Only those that died at or after this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    /// Only those that died before this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
}

/// How many dead letters a bulk replay put back in line.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    /// How many.
    pub replayed: usize,
}

/// Envelopes published per broker round trip in a bulk replay.
const PUBLISH_CHUNK: usize = 500;

/// Replays every dead letter of the user's that matches, in one statement.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "dead-letters", request_body(content = Option<BulkReplay>),
    responses((status = 202, body = Replayed), (status = 400, body = Problem)), security(("bearer" = [])))]
async fn replay_many(
    State(state): State<AppState>,
    user: AuthUser,
    OptionalJson(filter): OptionalJson<BulkReplay>,
) -> Result<(StatusCode, Json<Replayed>)> {
    TimeRange {
        from: filter.from,
        to: filter.to,
    }
    .checked()?;
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!(
                "UPDATE deliveries d SET {} WHERE d.user_id = $1 AND {DEAD}
                   AND ($2::uuid IS NULL OR d.subscription_id = $2)
                   AND ($3::timestamptz IS NULL OR d.dead_at >= $3)
                   AND ($4::timestamptz IS NULL OR d.dead_at < $4) {}",
                recovery::RESTART,
                recovery::RETURNING
            ),
            &[
                &user.user_id,
                &filter.subscription_id,
                &filter.from,
                &filter.to,
            ],
        )
        .await?;
    let envelopes = recovery::envelopes(&rows)?;
    for chunk in envelopes.chunks(PUBLISH_CHUNK) {
        dispatch::publish_now(&state.marker, &state.publisher, chunk.to_vec()).await;
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.get("id")).collect();
    lines::resume_after(&state, &client, user.user_id, &ids).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Replayed {
            replayed: rows.len(),
        }),
    ))
}

/// Discards a dead letter: off the list, its log kept.
#[utoipa::path(delete, path = "/api/v1/dead-letters/{id}", tag = "dead-letters",
    params(("id" = Uuid, Path, description = "The dead delivery's id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn discard(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    let client = state.pool.get().await?;
    let discarded = client
        .execute(
            &format!(
                "UPDATE deliveries d SET discarded_at = now(), updated_at = now()
                 WHERE d.id = $1 AND d.user_id = $2 AND {DEAD}"
            ),
            &[&id, &user.user_id],
        )
        .await?;
    if discarded == 0 {
        return Err(ApiError::NotFound);
    }
    lines::resume_after(&state, &client, user.user_id, &[id]).await?;
    Ok(StatusCode::NO_CONTENT)
}
