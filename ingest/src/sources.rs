//! Sources: where events come from. Each has an unguessable token that makes up its ingest
//! URL, and says which provider signs its events and with what secret.

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::{model::Provider, signing::SigningSecret, tokens::random_token};

pub use crate::context::source_lookup::{IngestSource, SourceLookup};
use crate::{
    auth::AuthUser,
    config::Settings,
    error::{ApiError, Problem, Result, stored_word, violated_constraint},
    extract::{ApiJson, ApiPath, ApiQuery},
    owned::Owned,
    pagination::{Page, PageQuery, Paginated, paginate},
    quotas::{self, Quota},
    state::AppState,
    validation::validate,
};

/// The source routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, delete))
}

/// A new source.
#[derive(Deserialize, Validate, ToSchema)]
pub struct NewSource {
    #[garde(length(chars, min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[garde(skip)]
    provider: Provider,
    /// The provider's shared secret: needed by every provider but `none`; for
    /// `standard_webhooks`, a `whsec_` secret.
    #[garde(length(chars, min = 1, max = 1024))]
    #[schema(min_length = 1, max_length = 1024)]
    verification_secret: Option<String>,
    /// Events accepted per second at most (a second's worth at once); above it ingest
    /// answers 429 with `Retry-After`. None: no limit.
    #[garde(range(min = 1, max = 100_000))]
    #[schema(minimum = 1, maximum = 100_000)]
    rate_limit_per_sec: Option<i32>,
}

/// Changes to a source; absent fields stay as they are.
#[derive(Deserialize, Validate, ToSchema)]
pub struct SourcePatch {
    #[garde(length(chars, min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[garde(length(chars, min = 1, max = 1024))]
    #[schema(min_length = 1, max_length = 1024)]
    verification_secret: Option<String>,
    /// A new limit, or `null` to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "present")]
    #[garde(inner(inner(range(min = 1, max = 100_000))))]
    #[schema(value_type = Option<i32>, nullable, minimum = 1, maximum = 100_000)]
    rate_limit_per_sec: Option<Option<i32>>,
}

/// A field that is present, `null` included (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A source as the API shows it. The verification secret is write-only.
#[derive(Serialize, ToSchema)]
pub struct SourceBody {
    id: Uuid,
    name: String,
    provider: Provider,
    token: String,
    ingest_url: String,
    has_verification_secret: bool,
    /// Events accepted per second at most; null: no limit.
    rate_limit_per_sec: Option<i32>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, provider, token, verification_secret IS NOT NULL AS has_secret, rate_limit_per_sec, created_at, updated_at";

/// The user's sources, as listings and deletes find them.
const SOURCES: Owned = Owned {
    table: "sources",
    columns: COLUMNS,
};

impl SourceBody {
    fn from_row(row: &Row, public_url: &str) -> Result<Self> {
        let token: String = row.get("token");
        Ok(Self {
            id: row.get("id"),
            name: row.get("name"),
            provider: stored_word(row.get("provider"))?,
            ingest_url: format!("{}/ingest/{token}", public_url.trim_end_matches('/')),
            token,
            has_verification_secret: row.get("has_secret"),
            rate_limit_per_sec: row.get("rate_limit_per_sec"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        })
    }
}

/// A verification secret must exist for every provider but `none`, and be usable the way
/// the provider's own library uses it.
fn check_secret(provider: Provider, secret: Option<&str>) -> Result<()> {
    match (provider, secret) {
        (Provider::None, _) => Ok(()),
        (_, None) => Err(ApiError::field(
            "verification_secret",
            format!("provider `{provider}` needs a verification secret"),
        )),
        (Provider::StandardWebhooks, Some(secret)) => SigningSecret::parse(secret)
            .map(|_| ())
            .map_err(|e| ApiError::field("verification_secret", e.to_string())),
        (_, Some(_)) => Ok(()),
    }
}

/// Creates a source with an unguessable ingest URL; 403 once the user has as many as
/// `WARREN_MAX_SOURCES_PER_USER` allows.
#[utoipa::path(post, path = "/api/v1/sources", operation_id = "create_source", tag = "sources", request_body = NewSource,
    responses((status = 201, body = SourceBody), (status = 403, body = Problem, description = "The quota of sources is reached"),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewSource>,
) -> Result<(StatusCode, Json<SourceBody>)> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let row = insert(&tx, &state.settings, user.user_id, &input).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(SourceBody::from_row(&row, &state.settings.public_url)?),
    ))
}

/// Validates a new source and stores it for `user_id` with a fresh token, within the user's
/// quota: what POST does, and `warren-ingest apply` too. Call it inside a transaction (the
/// quota check locks the user's row until it ends). Returns the row as [`SourceBody`] reads it.
pub async fn insert(
    client: &impl GenericClient,
    settings: &Settings,
    user_id: Uuid,
    input: &NewSource,
) -> Result<Row> {
    validate(input)?;
    check_secret(input.provider, input.verification_secret.as_deref())?;
    quotas::admit(client, settings, user_id, Quota::Sources).await?;
    let row = client
        .query_one(
            &format!(
                "INSERT INTO sources (id, user_id, name, provider, verification_secret, token,
                                      rate_limit_per_sec)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
            ),
            &[
                &Uuid::now_v7(),
                &user_id,
                &input.name,
                &input.provider.as_str(),
                &input.verification_secret,
                &random_token("src_"),
                &input.rate_limit_per_sec,
            ],
        )
        .await?;
    Ok(row)
}

/// Lists the user's sources, newest first.
#[utoipa::path(get, path = "/api/v1/sources", operation_id = "list_sources", tag = "sources", params(PageQuery),
    responses((status = 200, body = Paginated<SourceBody>), (status = 400, body = Problem)), security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Paginated<SourceBody>>> {
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = SOURCES.page(&client, user.user_id, &page).await?;
    let sources = rows
        .iter()
        .map(|row| SourceBody::from_row(row, &state.settings.public_url))
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(paginate(sources, page, |s| s.id)))
}

/// One source.
#[utoipa::path(get, path = "/api/v1/sources/{id}", operation_id = "read_source", tag = "sources", params(("id" = Uuid, Path)),
    responses((status = 200, body = SourceBody), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SourceBody>> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sources WHERE id = $1 AND user_id = $2"),
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(SourceBody::from_row(
        &row,
        &state.settings.public_url,
    )?))
}

/// Renames a source or changes its verification secret.
#[utoipa::path(patch, path = "/api/v1/sources/{id}", operation_id = "update_source", tag = "sources", params(("id" = Uuid, Path)),
    request_body = SourcePatch,
    responses((status = 200, body = SourceBody), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<SourcePatch>,
) -> Result<Json<SourceBody>> {
    let client = state.pool.get().await?;
    let row = patch_row(&client, user.user_id, id, &patch).await?;
    Ok(Json(SourceBody::from_row(
        &row,
        &state.settings.public_url,
    )?))
}

/// Validates a patch and applies it to one of `user_id`'s sources (404 when it is not
/// theirs): what PATCH does, and `warren-ingest apply` too.
pub async fn patch_row(
    client: &impl GenericClient,
    user_id: Uuid,
    id: Uuid,
    patch: &SourcePatch,
) -> Result<Row> {
    validate(patch)?;
    let provider: String = client
        .query_opt(
            "SELECT provider FROM sources WHERE id = $1 AND user_id = $2",
            &[&id, &user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?
        .get(0);
    if let Some(secret) = patch.verification_secret.as_deref() {
        check_secret(stored_word(&provider)?, Some(secret))?;
    }
    client
        .query_opt(
            &format!(
                "UPDATE sources SET name = COALESCE($3, name),
                        verification_secret = COALESCE($4, verification_secret),
                        rate_limit_per_sec = CASE WHEN $5 THEN $6 ELSE rate_limit_per_sec END,
                        updated_at = now()
                 WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
            ),
            &[
                &id,
                &user_id,
                &patch.name,
                &patch.verification_secret,
                &patch.rate_limit_per_sec.is_some(),
                &patch.rate_limit_per_sec.flatten(),
            ],
        )
        .await?
        .ok_or(ApiError::NotFound)
}

/// Deletes a source (409 while subscriptions take its events); its events stay.
#[utoipa::path(delete, path = "/api/v1/sources/{id}", operation_id = "delete_source", tag = "sources", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    let client = state.pool.get().await?;
    SOURCES
        .delete(&client, user.user_id, id, |e| {
            match violated_constraint(&e) {
                Some("subscriptions_source_id_fkey") => ApiError::Conflict(
                    "subscriptions still take events from this source; delete or move them first"
                        .into(),
                ),
                _ => e.into(),
            }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
