//! API keys: long-lived bearer tokens for a user's own applications (the publish API, CI
//! scripts). Shown once at creation, stored as SHA-256, revoked by deleting them.

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::tokens::{random_token, token_hash};

use super::AuthUser;
use crate::{
    error::{ApiError, Problem, Result},
    extract::{ApiJson, ApiPath, ApiQuery},
    owned::Owned,
    pagination::{Page, PageQuery, Paginated, paginate},
    state::AppState,
    validation::validate,
};

/// The prefix of every API key (session tokens start `wrn_sess_`).
pub const PREFIX: &str = "wrn_key_";

/// The user's API keys, as listings and deletes find them.
const API_KEYS: Owned = Owned {
    table: "api_keys",
    columns: "id, name, key_prefix, created_at, last_used_at",
};

/// How many leading characters of a key are kept to tell keys apart.
const SHOWN_PREFIX: usize = 12;

/// The API-key routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
}

/// A new key's name.
#[derive(Deserialize, Validate, ToSchema)]
pub struct NewApiKey {
    /// What the key is for.
    #[garde(length(chars, min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    name: String,
}

/// A key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyBody {
    id: Uuid,
    name: String,
    /// The key's first characters.
    key_prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
}

/// A key just created: the only time `key` is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    id: Uuid,
    name: String,
    /// The key; store it now, it cannot be shown again.
    key: String,
    key_prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// Creates an API key.
#[utoipa::path(post, path = "/api/v1/api-keys", operation_id = "create_api_key", tag = "api-keys", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    validate(&input)?;
    let key = random_token(PREFIX);
    let key_prefix = key[..SHOWN_PREFIX].to_owned();
    let client = state.pool.get().await?;
    let row = client
        .query_one(
            "INSERT INTO api_keys (id, user_id, name, key_hash, key_prefix) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, created_at",
            &[&Uuid::now_v7(), &user.user_id, &input.name, &token_hash(&key), &key_prefix],
        )
        .await?;
    let created = CreatedApiKey {
        id: row.get("id"),
        name: input.name,
        key,
        key_prefix,
        created_at: row.get("created_at"),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists the user's API keys.
#[utoipa::path(get, path = "/api/v1/api-keys", operation_id = "list_api_keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, body = Paginated<ApiKeyBody>)), security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Paginated<ApiKeyBody>>> {
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = API_KEYS.page(&client, user.user_id, &page).await?;
    let keys = rows
        .iter()
        .map(|row| ApiKeyBody {
            id: row.get("id"),
            name: row.get("name"),
            key_prefix: row.get("key_prefix"),
            created_at: row.get("created_at"),
            last_used_at: row.get("last_used_at"),
        })
        .collect();
    Ok(Json(paginate(keys, page, |k| k.id)))
}

/// Revokes an API key: requests made with it are refused from now on, and live sockets
/// opened with it end.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", operation_id = "delete_api_key", tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    let client = state.pool.get().await?;
    API_KEYS
        .delete(&client, user.user_id, id, ApiError::from)
        .await?;
    state.revocations.revoked();
    Ok(StatusCode::NO_CONTENT)
}

/// The key a token is, and whose: `(key id, user id)`; none while its user is disabled. Notes
/// the use at most once a minute.
pub async fn authenticate(
    client: &impl GenericClient,
    token: &str,
) -> Result<Option<(Uuid, Uuid)>> {
    let Some(row) = client
        .query_opt(
            "SELECT k.id, k.user_id,
                    k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' AS stale
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.key_hash = $1 AND u.disabled_at IS NULL",
            &[&token_hash(token)],
        )
        .await?
    else {
        return Ok(None);
    };
    let id: Uuid = row.get("id");
    if row.get::<_, bool>("stale") {
        client
            .execute(
                "UPDATE api_keys SET last_used_at = now() WHERE id = $1",
                &[&id],
            )
            .await?;
    }
    Ok(Some((id, row.get("user_id"))))
}
