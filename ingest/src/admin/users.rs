//! `GET /api/v1/admin/users` with what each user has, and disabling or enabling one.
//!
//! Disabling deletes nothing: the user's sessions and API keys stop authenticating (401), its
//! live sockets close at the gateway's next re-check (at once in this process, within
//! `RECHECK` in others), and its sources' ingest URLs answer 404, because each of those
//! lookups joins on `users.disabled_at`. Enabling brings all of it back.

use axum::{Json, extract::State};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::model::Role;

use crate::{
    auth::{AuthUser, require_operator},
    error::{ApiError, Problem, Result, stored_word},
    extract::{ApiPath, ApiQuery},
    pagination::{Page, PageQuery, Paginated, paginate},
    state::AppState,
};

/// The user routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(disable))
        .routes(routes!(enable))
}

/// A user as an operator sees one, with what it has.
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    id: Uuid,
    email: String,
    role: Role,
    /// Whether an operator disabled it.
    disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Its sources.
    sources: i64,
    /// Its subscriptions.
    subscriptions: i64,
    /// Events it received in the last 24 hours.
    events_24h: i64,
    /// Its dead letters (dead deliveries not discarded).
    dead_letters: i64,
    /// Its subscriptions whose circuit is open.
    open_circuits: i64,
}

impl AdminUser {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            email: row.get("email"),
            role: stored_word(row.get("role"))?,
            disabled: row.get("disabled"),
            created_at: row.get("created_at"),
            sources: row.get("sources"),
            subscriptions: row.get("subscriptions"),
            events_24h: row.get("events_24h"),
            dead_letters: row.get("dead_letters"),
            open_circuits: row.get("open_circuits"),
        })
    }
}

/// Users with their counts, in one query: each count is an index range of that user's rows
/// (`sources_user_id_idx`, `subscriptions_user_id_idx`, `events_user_id_idx` bounded by the
/// UUIDv7 of 24 hours ago, `deliveries_dead_letters_idx`). `$1` is that bound; the caller adds
/// the `WHERE`.
const USERS: &str =
    "SELECT u.id, u.email, u.role, u.disabled_at IS NOT NULL AS disabled, u.created_at,
        (SELECT count(*) FROM sources s WHERE s.user_id = u.id) AS sources,
        (SELECT count(*) FROM subscriptions s WHERE s.user_id = u.id) AS subscriptions,
        (SELECT count(*) FROM events e WHERE e.user_id = u.id AND e.id >= $1) AS events_24h,
        (SELECT count(*) FROM deliveries d WHERE d.user_id = u.id
            AND d.status = 'dead' AND d.discarded_at IS NULL) AS dead_letters,
        (SELECT count(*) FROM subscriptions s WHERE s.user_id = u.id
            AND s.circuit_state = 'open') AS open_circuits
    FROM users u";

/// The smallest UUIDv7 of an event received 24 hours ago or later (event ids are UUIDv7).
fn day_ago() -> Uuid {
    let at = OffsetDateTime::now_utc() - time::Duration::DAY;
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

/// Every user on the instance, newest first, with what each has.
#[utoipa::path(get, path = "/api/v1/admin/users", operation_id = "admin_list_users", tag = "admin", params(PageQuery),
    responses((status = 200, body = Paginated<AdminUser>), (status = 400, body = Problem),
        (status = 403, body = Problem, description = "Not an operator")),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Paginated<AdminUser>>> {
    require_operator(&state, &user).await?;
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!("{USERS} WHERE u.id < $2 ORDER BY u.id DESC LIMIT $3"),
            &[&day_ago(), &page.before_or_max(), &page.fetch()],
        )
        .await?;
    let users = rows
        .iter()
        .map(AdminUser::from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(paginate(users, page, |u| u.id)))
}

/// Disables a user: its sessions and API keys answer 401, its live sockets close, ingest to
/// its sources answers 404; nothing of it is deleted. An operator cannot disable themself
/// (409): the instance would be left without the one who can enable them again.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", operation_id = "admin_disable_user", tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AdminUser), (status = 403, body = Problem, description = "Not an operator"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "An operator disabling themself")),
    security(("bearer" = [])))]
async fn disable(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AdminUser>> {
    require_operator(&state, &user).await?;
    if id == user.user_id {
        return Err(ApiError::Conflict(
            "an operator cannot disable their own account".into(),
        ));
    }
    let changed = set_disabled(&state, id, true).await?;
    // The gateway of this process re-checks its sockets now; the others within `RECHECK`.
    state.revocations.revoked();
    Ok(Json(changed))
}

/// Enables a user again: its sessions (unless expired), API keys and sources work again.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", operation_id = "admin_enable_user", tag = "admin",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, body = AdminUser), (status = 403, body = Problem, description = "Not an operator"),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn enable(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AdminUser>> {
    require_operator(&state, &user).await?;
    Ok(Json(set_disabled(&state, id, false).await?))
}

/// Disables or enables a user (doing it twice changes nothing more); the user as it is now,
/// or 404.
async fn set_disabled(state: &AppState, id: Uuid, disabled: bool) -> Result<AdminUser> {
    let client = state.pool.get().await?;
    client
        .execute(
            "UPDATE users SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, now()) END
             WHERE id = $1",
            &[&id, &disabled],
        )
        .await?;
    let row = client
        .query_opt(&format!("{USERS} WHERE u.id = $2"), &[&day_ago(), &id])
        .await?
        .ok_or(ApiError::NotFound)?;
    AdminUser::from_row(&row)
}
