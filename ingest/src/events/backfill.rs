//! Replaying a time range of events to one subscription: a backfill for a new subscription,
//! or a recovery after an outage. One new delivery per matching event, in the order the
//! events were received, [`BATCH`] events per transaction.

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use warren_shared::{matching::event_type_matches, partitions::first_id_at};

use super::store::{self, Target};
use crate::{
    auth::AuthUser,
    dead_letters::Replayed,
    dispatch,
    error::{ApiError, Problem, Result},
    extract::ApiJson,
    json_body::JsonbText,
    state::AppState,
};

/// Events read (and their deliveries made) per transaction.
pub const BATCH: i64 = 1_000;

/// Which events a range replay takes, and where they go.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RangeReplay {
    /// The subscription that gets them (the user's, active).
    subscription_id: Uuid,
    /// Events received at or after this time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    from: OffsetDateTime,
    /// Events received before this time; absent: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    to: Option<OffsetDateTime>,
}

/// The subscription a range replay goes to, as far as choosing its events goes.
struct Subscription {
    target: Target,
    source_id: Option<Uuid>,
    event_types: Vec<String>,
    /// Its payload filter as PostgreSQL renders it.
    filter: Option<String>,
}

/// Sends one new delivery to a subscription for each of the user's events received in
/// `[from, to)` that it matches (its source, event types and payload filter), in the order
/// received.
#[utoipa::path(post, path = "/api/v1/events/replay", tag = "events", request_body = RangeReplay,
    responses((status = 202, body = Replayed), (status = 400, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn replay_range(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(range): ApiJson<RangeReplay>,
) -> Result<(StatusCode, Json<Replayed>)> {
    let to = range.to.unwrap_or_else(OffsetDateTime::now_utc);
    if to <= range.from {
        return Err(ApiError::field("to", "must be after `from`"));
    }
    let mut client = state.pool.get().await?;
    let subscription = subscription(&client, &user, range.subscription_id).await?;
    // Ids are UUIDv7 taken when ingest received the event: the range is a range of ids.
    let (mut after, end) = (first_id_at(range.from), first_id_at(to));
    let mut replayed = 0;
    loop {
        let tx = client.transaction().await?;
        let Some((last, envelopes, made)) =
            replay_batch(&tx, &user, &subscription, after, end).await?
        else {
            break;
        };
        tx.commit().await?;
        dispatch::publish_now(&state.marker, &state.publisher, envelopes).await;
        replayed += made;
        after = last;
    }
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}

/// The next batch of events from `after` (the last event of the previous batch, left out;
/// for the first batch the range's start, an id no event has) to `end`: their deliveries
/// made in `tx`. Returns the last event read, the envelopes
/// to publish and how many deliveries were made; `None` when no event is left.
async fn replay_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    user: &AuthUser,
    subscription: &Subscription,
    after: Uuid,
    end: Uuid,
) -> Result<Option<(Uuid, Vec<warren_shared::envelope::Envelope>, usize)>> {
    // Locked as a foreign key would lock them: retention cannot delete an event while its
    // new delivery is being made. The payload filter is PostgreSQL's own `@>`, which ingest's
    // matching follows exactly.
    let filter = subscription
        .filter
        .as_deref()
        .map(|f| JsonbText(f.as_bytes()));
    let rows = tx
        .query(
            "SELECT id, event_type FROM events
             WHERE user_id = $1 AND id >= $2 AND id < $3 AND id <> $2
               AND ($4::uuid IS NULL OR source_id = $4)
               AND ($6::jsonb IS NULL OR payload @> $6)
             ORDER BY id LIMIT $5 FOR KEY SHARE",
            &[
                &user.user_id,
                &after,
                &end,
                &subscription.source_id,
                &BATCH,
                &filter,
            ],
        )
        .await?;
    let Some(last) = rows.last().map(|row| row.get::<_, Uuid>("id")) else {
        return Ok(None);
    };
    let matched: Vec<Uuid> = rows
        .iter()
        .filter(|row| event_type_matches(&subscription.event_types, row.get("event_type")))
        .map(|row| row.get("id"))
        .collect();
    let envelopes =
        store::insert_for_events(tx, user.user_id, subscription.target, &matched).await?;
    Ok(Some((last, envelopes, matched.len())))
}

/// The subscription named: the user's (422 otherwise) and active (409 otherwise).
async fn subscription(
    client: &impl GenericClient,
    user: &AuthUser,
    id: Uuid,
) -> Result<Subscription> {
    let row = client
        .query_opt(
            "SELECT is_active, ordering = 'fifo' AS fifo, source_id, event_types,
                 filter::text AS filter
             FROM subscriptions WHERE id = $1 AND user_id = $2",
            &[&id, &user.user_id],
        )
        .await?
        .ok_or_else(|| ApiError::field("subscription_id", "no such subscription"))?;
    if !row.get::<_, bool>("is_active") {
        return Err(ApiError::Conflict(
            "the subscription is not active; enable it first".into(),
        ));
    }
    Ok(Subscription {
        target: Target {
            id,
            fifo: row.get("fifo"),
        },
        source_id: row.get("source_id"),
        event_types: row.get("event_types"),
        filter: row.get("filter"),
    })
}
