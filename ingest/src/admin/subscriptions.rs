//! `GET /api/v1/admin/subscriptions?circuit_state=open|half_open`: every tenant's
//! subscriptions whose circuit is not closed, with their owners, so an operator sees which
//! receivers are in trouble across the instance.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::model::CircuitState;

use crate::{
    auth::{AuthUser, require_operator},
    error::{Problem, Result, stored_word},
    extract::ApiQuery,
    pagination::{Page, PageQuery, Paginated, paginate},
    state::AppState,
};

/// The subscription route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// A circuit state an operator lists by: those of subscriptions in trouble.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Troubled {
    /// Nothing is sent until the recovery time passes.
    Open,
    /// One probe is let through.
    HalfOpen,
}

impl Troubled {
    fn as_str(self) -> &'static str {
        match self {
            Troubled::Open => "open",
            Troubled::HalfOpen => "half_open",
        }
    }
}

/// Filters of the admin subscription list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CircuitFilter {
    /// Only subscriptions in this state; absent: open and half-open ones.
    #[param(inline)]
    circuit_state: Option<Troubled>,
}

/// A subscription as an operator sees one: who owns it and how it fares, never its secret.
#[derive(Serialize, ToSchema)]
pub struct AdminSubscription {
    id: Uuid,
    name: String,
    /// Its owner.
    user_id: Uuid,
    /// Its owner's email.
    email: String,
    target_url: String,
    source_id: Option<Uuid>,
    is_active: bool,
    disabled_reason: Option<String>,
    circuit_state: CircuitState,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl AdminSubscription {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            name: row.get("name"),
            user_id: row.get("user_id"),
            email: row.get("email"),
            target_url: row.get("target_url"),
            source_id: row.get("source_id"),
            is_active: row.get("is_active"),
            disabled_reason: row.get("disabled_reason"),
            circuit_state: stored_word(row.get("circuit_state"))?,
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        })
    }
}

/// Every tenant's subscriptions whose circuit is open or half-open (or the one state asked
/// for), newest first (`subscriptions_circuit_idx`).
#[utoipa::path(get, path = "/api/v1/admin/subscriptions", operation_id = "admin_list_subscriptions", tag = "admin",
    params(PageQuery, CircuitFilter),
    responses((status = 200, body = Paginated<AdminSubscription>), (status = 400, body = Problem),
        (status = 403, body = Problem, description = "Not an operator")),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
    ApiQuery(filter): ApiQuery<CircuitFilter>,
) -> Result<Json<Paginated<AdminSubscription>>> {
    require_operator(&state, &user).await?;
    let page = Page::try_from(&query)?;
    let wanted = filter.circuit_state.map(Troubled::as_str);
    let client = state.pool.get().await?;
    let rows = client
        .query(
            "SELECT s.id, s.name, s.user_id, u.email, s.target_url, s.source_id, s.is_active,
                    s.disabled_reason, s.circuit_state, s.created_at, s.updated_at
             FROM subscriptions s JOIN users u ON u.id = s.user_id
             WHERE s.circuit_state <> 'closed' AND ($1::text IS NULL OR s.circuit_state = $1)
               AND s.id < $2
             ORDER BY s.id DESC LIMIT $3",
            &[&wanted, &page.before_or_max(), &page.fetch()],
        )
        .await?;
    let subscriptions = rows
        .iter()
        .map(AdminSubscription::from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(paginate(subscriptions, page, |s| s.id)))
}
