//! The in-app list: a user's notifications, newest first, with the count of unread ones, and
//! marking them read.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::item::{COLUMNS, NotificationItem};
use crate::{
    auth::AuthUser,
    error::{Problem, Result},
    extract::{ApiQuery, OptionalJson},
    pagination::{Page, PageQuery, paginate},
    state::AppState,
};

/// The in-app list's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(mark_read))
}

/// One page of notifications, and how many of all of them are unread.
#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    /// The notifications, newest first.
    data: Vec<NotificationItem>,
    /// Where the next page starts, `null` on the last page.
    next_cursor: Option<String>,
    /// How many of the user's notifications are unread (all pages).
    unread: i64,
}

/// The user's notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(PageQuery),
    responses((status = 200, body = NotificationPage), (status = 400, body = Problem)), security(("bearer" = [])))]
async fn list_notifications(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<NotificationPage>> {
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND id < $2
                 ORDER BY id DESC LIMIT $3"
            ),
            &[&user.user_id, &page.before_or_max(), &page.fetch()],
        )
        .await?;
    let unread: i64 = client
        .query_one(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
            &[&user.user_id],
        )
        .await?
        .get(0);
    let items = rows
        .iter()
        .map(NotificationItem::from_row)
        .collect::<Result<Vec<_>>>()?;
    let page = paginate(items, page, |n| n.id);
    Ok(Json(NotificationPage {
        data: page.data,
        next_cursor: page.next_cursor,
        unread,
    }))
}

/// The optional body of `POST /api/v1/notifications/read`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MarkRead {
    /// Only notifications up to this one (by id, so this one and every older one); absent:
    /// all of them.
    #[serde(default)]
    up_to: Option<Uuid>,
}

/// Marks the user's notifications read: all of them, or those up to `up_to`.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications",
    request_body(content = Option<MarkRead>),
    responses((status = 204), (status = 400, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    OptionalJson(wanted): OptionalJson<MarkRead>,
) -> Result<StatusCode> {
    let client = state.pool.get().await?;
    client
        .execute(
            "UPDATE notifications SET read_at = now()
             WHERE user_id = $1 AND read_at IS NULL AND id <= $2",
            &[&user.user_id, &wanted.up_to.unwrap_or(Uuid::max())],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
