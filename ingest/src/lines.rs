//! FIFO lines as the API sees them: what a line is waiting on, and putting a stopped line
//! back in motion (docs/ordering.md). The worker moves lines; here a replay, a discard or a
//! change of the subscription's settings can restart one.

use axum::{Json, extract::State};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::model::{DeliveryStatus, OnDead, Ordering};

pub use crate::deliveries::recovery::{resume_after, ring_heads};
use crate::{
    auth::AuthUser,
    deliveries::{DeliverySummary, recovery, summary},
    dispatch,
    error::{ApiError, Problem, Result, stored_word},
    extract::ApiPath,
    state::AppState,
};

/// The line route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read))
}

/// Where a subscription's FIFO line stands.
#[derive(Serialize, ToSchema)]
pub struct LineBody {
    /// The subscription's ordering; the rest is about its FIFO line.
    ordering: Ordering,
    /// What a dead head does to the line.
    on_dead: OnDead,
    /// `flowing` (the head is being attempted), `retrying` (the head failed and waits for
    /// its next attempt), `paused` (the head went dead under `on_dead: pause`), `disabled`
    /// (the subscription is), or `empty`.
    state: &'static str,
    /// When the line stopped on a dead head, if it did.
    #[serde(with = "time::serde::rfc3339::option")]
    paused_at: Option<OffsetDateTime>,
    /// The delivery at the front: the one being attempted, or the dead one the line is
    /// paused on. Its last status code and error kind say why it is stuck.
    head: Option<DeliverySummary>,
    /// Deliveries waiting behind the head.
    waiting: i64,
}

/// A subscription's FIFO line: its head and how many wait behind it.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/line", operation_id = "read_line", tag = "subscriptions", params(("id" = Uuid, Path)),
    responses((status = 200, body = LineBody), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<LineBody>> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT s.ordering, s.on_dead, s.is_active, s.fifo_paused_at, s.fifo_paused_by,
                (SELECT count(*) FROM deliveries d WHERE d.subscription_id = s.id
                   AND d.fifo_seq IS NOT NULL AND d.status IN ('pending', 'retrying')) AS waiting,
                (SELECT d.id FROM deliveries d WHERE d.subscription_id = s.id
                   AND d.fifo_seq IS NOT NULL AND d.status IN ('pending', 'retrying')
                 ORDER BY d.fifo_seq LIMIT 1) AS head
             FROM subscriptions s WHERE s.id = $1 AND s.user_id = $2",
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let paused_by: Option<Uuid> = row.get("fifo_paused_by");
    let in_line: i64 = row.get("waiting");
    let front = paused_by.or(row.get("head"));
    let head = match front {
        Some(delivery) => Some(summary(&client, delivery).await?),
        None => None,
    };
    // A paused line's head is the dead delivery, which is no longer among the waiting.
    let waiting = if paused_by.is_some() {
        in_line
    } else {
        (in_line - 1).max(0)
    };
    Ok(Json(LineBody {
        ordering: stored_word(row.get("ordering"))?,
        on_dead: stored_word(row.get("on_dead"))?,
        state: line_state(row.get("is_active"), paused_by.is_some(), head.as_ref()),
        paused_at: row.get("fifo_paused_at"),
        head,
        waiting,
    }))
}

fn line_state(is_active: bool, paused: bool, head: Option<&DeliverySummary>) -> &'static str {
    match head {
        _ if paused => "paused",
        _ if !is_active => "disabled",
        None => "empty",
        Some(head) if head.status() == DeliveryStatus::Retrying => "retrying",
        Some(_) => "flowing",
    }
}

/// What a change of a subscription's settings means for its FIFO line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineChange {
    /// It was FIFO and is no longer: what waited in its line goes now, unordered.
    pub left_fifo: bool,
    /// Its line was paused and no longer is: the head goes now.
    pub unpaused: bool,
}

/// A subscription that left FIFO: every delivery still waiting in its line (and not waiting
/// for a retry) is sent now, unordered; a line that is no longer paused rings its head.
pub async fn after_settings_change(
    state: &AppState,
    client: &impl GenericClient,
    subscription_id: Uuid,
    change: LineChange,
) -> Result<()> {
    if change.left_fifo {
        let rows = client
            .query(
                &format!("UPDATE deliveries SET updated_at = now() WHERE {WAITING_IN_LINE} RETURNING {ENVELOPE}"),
                &[&subscription_id],
            )
            .await?;
        dispatch::publish_now(&state.marker, &state.publisher, recovery::envelopes(&rows)?).await;
    } else if change.unpaused {
        ring_heads(state, client, &[subscription_id]).await?;
    }
    Ok(())
}

/// [`after_settings_change`] for a process without a broker connection (`warren-ingest
/// apply`): the deliveries that should go now are marked not enqueued, in the caller's
/// transaction, so the outbox relay of a running ingest publishes them once it commits.
pub async fn hand_to_relay(
    client: &impl GenericClient,
    subscription_id: Uuid,
    change: LineChange,
) -> Result<()> {
    let which = if change.left_fifo {
        WAITING_IN_LINE
    } else if change.unpaused {
        LINE_HEAD
    } else {
        return Ok(());
    };
    client
        .execute(
            &format!("UPDATE deliveries SET enqueued = false, updated_at = now() WHERE {which}"),
            &[&subscription_id],
        )
        .await?;
    Ok(())
}

/// The deliveries waiting in subscription `$1`'s line, not for a retry.
const WAITING_IN_LINE: &str = "subscription_id = $1 AND fifo_seq IS NOT NULL \
     AND status = 'pending' AND next_attempt_at IS NULL";

/// The head of subscription `$1`'s line.
const LINE_HEAD: &str = "id = (SELECT id FROM deliveries WHERE subscription_id = $1 \
     AND fifo_seq IS NOT NULL AND status IN ('pending', 'retrying') ORDER BY fifo_seq LIMIT 1)";

/// What [`recovery::envelopes`] reads.
const ENVELOPE: &str = "id, event_id, subscription_id, user_id, attempt_count, fifo_seq";
