//! Notifications: telling owners when a receiver is in trouble — by signed webhook, by email
//! and in the app — without a storm of messages.
//!
//! Occurrences are raised where they happen, through `warren_shared::notify`, in the same
//! transaction as what they tell of: the worker raises `subscription.circuit_opened`,
//! `subscription.disabled` and `subscription.recovered` with its breaker transitions and
//! `delivery.dead` after recording a death; [`failing`] raises `subscription.failing`;
//! [`raise_enabled`] raises `subscription.recovered` when an owner enables a subscription.
//! The throttle (in SQL) lets at most one of a type per subscription through per
//! `WARREN_NOTIFY_MIN_INTERVAL_SECS` and counts the rest into the next (`data.count`).
//!
//! - [`channels`]: where to tell (webhook, email), and a test;
//! - [`inbox`]: the in-app list, its unread count, marking read;
//! - [`send`]: the task that sends what was raised, retries, and announces each live;
//! - [`webhook`] and [`email`]: how one send reaches its channel;
//! - [`item`]: a notification as its owner and its channels see it;
//! - [`retention`]: old notifications go after `WARREN_RETENTION_DAYS`.

pub mod channels;
pub mod email;
pub mod failing;
pub mod inbox;
pub mod item;
pub mod retention;
pub mod send;
pub mod webhook;

use deadpool_postgres::GenericClient;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;
use warren_shared::{
    model::NotificationType,
    notify::{self, Occurrence},
};

use crate::{error::Result, state::AppState};

/// The notification routes: channels and the in-app list.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(channels::router())
        .merge(inbox::router())
}

/// Raises `subscription.recovered` (`data.reason`: `enabled`) for a subscription its owner
/// has just enabled again. Call it with the client (or transaction) that enabled it, after
/// the update, when the subscription was not active or its circuit not closed before.
pub async fn raise_enabled(
    state: &AppState,
    client: &impl GenericClient,
    subscription_id: Uuid,
) -> Result<()> {
    let occurrence = Occurrence::new(
        subscription_id,
        NotificationType::SubscriptionRecovered,
        json!({"reason": "enabled"}),
    );
    notify::raise(client, &occurrence, state.settings.notify_min_interval()).await?;
    Ok(())
}
