//! All of a user's subscriptions' stats in one call (`GET /api/v1/stats`), for the web app's
//! dashboard: each subscription's stats over the window and its backlog now, read by a fixed
//! number of statements however many subscriptions the user has.

use axum::{Json, extract::State};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Stats, WindowQuery, compute_all};
use crate::{
    auth::AuthUser,
    error::{Problem, Result},
    extract::ApiQuery,
    state::AppState,
};

/// The most deliveries a backlog count reads per subscription and status (as many as a page
/// of a list): a count of more says so with `more` instead of counting on.
pub const BACKLOG_CAP: i64 = 200;

/// A backlog count, capped at [`BACKLOG_CAP`].
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    /// Deliveries counted (at most 200).
    count: i64,
    /// Whether there are more than `count`.
    more: bool,
}

impl Count {
    fn capped(read: i64) -> Self {
        Self {
            count: read.min(BACKLOG_CAP),
            more: read > BACKLOG_CAP,
        }
    }
}

/// A subscription's deliveries waiting now, by status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Backlog {
    /// Waiting for their first attempt.
    pending: Count,
    /// Failed, waiting to be tried again.
    retrying: Count,
    /// Kept while the subscription is not active.
    held: Count,
    /// Out of attempts (dead letters).
    dead: Count,
}

/// One subscription's stats and backlog.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionStats {
    subscription_id: Uuid,
    name: String,
    #[serde(flatten)]
    stats: Stats,
    backlog: Backlog,
}

/// Every subscription's stats over one window.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllStats {
    window: &'static str,
    /// One per subscription of the user, oldest first.
    data: Vec<SubscriptionStats>,
}

/// Stats and backlog of all the user's subscriptions.
#[utoipa::path(get, path = "/api/v1/stats", tag = "subscriptions",
    params(WindowQuery),
    responses((status = 200, body = AllStats), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn all_stats(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<Json<AllStats>> {
    let window = query.window.unwrap_or_default();
    let client = state.pool.get().await?;
    let backlogs = backlogs(&client, user.user_id).await?;
    let ids: Vec<Uuid> = backlogs.iter().map(|(id, ..)| *id).collect();
    let mut stats = compute_all(&client, &ids, window, OffsetDateTime::now_utc()).await?;
    let data = backlogs
        .into_iter()
        .filter_map(|(subscription_id, name, backlog)| {
            let stats = stats.remove(&subscription_id)?;
            Some(SubscriptionStats {
                subscription_id,
                name,
                stats,
                backlog,
            })
        })
        .collect();
    Ok(Json(AllStats {
        window: window.as_str(),
        data,
    }))
}

/// The user's subscriptions, oldest first, with their names and backlogs; each count reads
/// at most one more than [`BACKLOG_CAP`] rows by the subscription's index.
async fn backlogs(
    client: &impl GenericClient,
    user_id: Uuid,
) -> Result<Vec<(Uuid, String, Backlog)>> {
    let rows = client
        .query(
            "SELECT s.id, s.name,
                    (SELECT count(*) FROM (SELECT FROM deliveries
                     WHERE subscription_id = s.id AND status = 'pending' LIMIT $2) AS p) AS pending,
                    (SELECT count(*) FROM (SELECT FROM deliveries
                     WHERE subscription_id = s.id AND status = 'retrying' LIMIT $2) AS r) AS retrying,
                    (SELECT count(*) FROM (SELECT FROM deliveries
                     WHERE subscription_id = s.id AND status = 'held' LIMIT $2) AS h) AS held,
                    (SELECT count(*) FROM (SELECT FROM deliveries
                     WHERE subscription_id = s.id AND status = 'dead' LIMIT $2) AS d) AS dead
             FROM subscriptions AS s WHERE s.user_id = $1 ORDER BY s.id",
            &[&user_id, &(BACKLOG_CAP + 1)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let count = |status: &str| Count::capped(r.get(status));
            let backlog = Backlog {
                pending: count("pending"),
                retrying: count("retrying"),
                held: count("held"),
                dead: count("dead"),
            };
            (r.get("id"), r.get("name"), backlog)
        })
        .collect())
}
