//! Held, not dropped: a subscription that is not active (paused by its owner, or disabled by
//! Warren after a `410 Gone` or a long run of failures) keeps a `held` delivery for every
//! event it matches, at no worker cost: the insert makes it held (`events::store`) and
//! nothing is published for it. Pausing holds what was waiting too. Enabling releases every
//! held delivery through the normal path, paced by the subscription's rate limit, or
//! discards them. The bulk work is the sweeper's ([`sweep`]); here are the routes that ask
//! for it.

pub mod sweep;

use axum::{Json, extract::State};
use deadpool_postgres::GenericClient;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::{live::SubscriptionUpdated, model::CircuitState};

use crate::{
    auth::AuthUser,
    error::{ApiError, Problem, Result},
    extract::{ApiPath, OptionalJson},
    notifications,
    state::AppState,
    subscriptions::{COLUMNS, SubscriptionBody, owned_row},
};

use self::sweep::Sweep;

/// The pause and enable routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pause))
        .routes(routes!(enable))
}

/// Rounds of holding a pause makes before it answers: up to this many times
/// [`sweep::HOLD_BATCH`] waiting deliveries are held at once, and the sweeper holds the rest.
const HOLD_ROUNDS_IN_REQUEST: usize = 20;

/// Pauses a subscription: nothing is sent to it until it is enabled again, and every event it
/// matches meanwhile is kept as a `held` delivery, as are those that were waiting.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/pause", tag = "subscriptions", params(("id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionBody), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn pause(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SubscriptionBody>> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "UPDATE subscriptions SET is_active = false, disabled_reason = 'paused',
                 held_sweep = 'hold', held_sweep_since = now(), updated_at = now()
             WHERE id = $1 AND user_id = $2 RETURNING circuit_state",
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    for _ in 0..HOLD_ROUNDS_IN_REQUEST {
        if sweep::hold_waiting(&client, id).await? < sweep::HOLD_BATCH as u64 {
            break;
        }
    }
    let subscription = SubscriptionBody::from_row(&owned_row(&client, &user, id).await?)?;
    tell(
        &state,
        &user,
        id,
        false,
        row.get("circuit_state"),
        "paused".into(),
    );
    Ok(Json(subscription))
}

/// What enabling a subscription does with the deliveries held while it was not active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeldAction {
    /// Send them, through the usual path (rate limit, bulkhead, FIFO order).
    #[default]
    Deliver,
    /// Mark them `discarded`: never attempted, not dead letters.
    Discard,
}

/// The optional body of `enable`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Enable {
    /// `deliver` (the default) or `discard`.
    #[serde(default)]
    held: HeldAction,
}

/// Enables a paused or disabled subscription, closes its circuit, and releases (or discards)
/// what it held. The release runs in the background, paced by the subscription's rate limit;
/// `held_count` counts down as it goes.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/enable", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body(content = Option<Enable>),
    responses((status = 200, body = SubscriptionBody), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn enable(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(wanted): OptionalJson<Enable>,
) -> Result<Json<SubscriptionBody>> {
    let sweep = match wanted.held {
        HeldAction::Deliver => Sweep::Release,
        HeldAction::Discard => Sweep::Discard,
    };
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let row = enabled_row(&tx, &user, id, sweep).await?;
    if row.get::<_, bool>("was_stopped") {
        notifications::raise_enabled(&state, &tx, id).await?;
    }
    tx.commit().await?;
    let subscription = SubscriptionBody::from_row(&row)?;
    let held: i64 = row.get("held_count");
    let reason = match (held, sweep) {
        (0, _) => "enabled".to_owned(),
        (n, Sweep::Discard) => format!("enabled; discarding {n} held deliveries"),
        (n, _) => format!("enabled; releasing {n} held deliveries"),
    };
    tell(
        &state,
        &user,
        id,
        true,
        CircuitState::Closed.as_str(),
        reason,
    );
    Ok(Json(subscription))
}

/// Enables the subscription, circuit closed, with `sweep` asked of the sweeper; the row
/// says too whether it was stopped before (not active, or its circuit not closed).
async fn enabled_row(
    client: &impl GenericClient,
    user: &AuthUser,
    id: Uuid,
    sweep: Sweep,
) -> Result<tokio_postgres::Row> {
    client
        .query_opt(
            &format!(
                "UPDATE subscriptions SET is_active = true, disabled_reason = NULL, circuit_state = 'closed',
                     circuit_opened_at = NULL, consecutive_failures = 0, consecutive_successes = 0,
                     probe_started_at = NULL, held_sweep = $3, held_sweep_since = now(), updated_at = now()
                 FROM (SELECT is_active AS was_active, circuit_state AS was_circuit FROM subscriptions
                       WHERE id = $1 AND user_id = $2 FOR UPDATE) old
                 WHERE id = $1 AND user_id = $2
                 RETURNING {COLUMNS}, NOT old.was_active OR old.was_circuit <> 'closed' AS was_stopped"
            ),
            &[&id, &user.user_id, &sweep.as_str()],
        )
        .await?
        .ok_or(ApiError::NotFound)
}

/// Tells the owner's browsers that the subscription changed.
fn tell(
    state: &AppState,
    user: &AuthUser,
    subscription_id: Uuid,
    is_active: bool,
    circuit_state: &str,
    reason: String,
) {
    let line = SubscriptionUpdated {
        subscription_id,
        is_active,
        circuit_state: circuit_state.to_owned(),
        reason: Some(reason),
        at: OffsetDateTime::now_utc(),
    };
    state
        .publisher
        .tell(user.user_id, "subscription.updated", &line);
}
