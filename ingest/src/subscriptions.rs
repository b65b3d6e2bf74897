//! Subscriptions: where events go, which ones, and how they are delivered.
//!
//! Every field of the API is stored and validated with its default here, including those
//! whose behaviour lives in the deliver worker (timeouts, attempts, templates, headers,
//! rate limits, ordering).

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use garde::Validate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{RefOr, Schema},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::{
    model::{CircuitState, OnDead, Ordering},
    signing::{SigningAlgorithm, SigningSecret},
    ssrf::SsrfGuard,
};

use crate::{
    auth::AuthUser,
    config::Settings,
    error::{ApiError, Problem, Result, stored_word},
    extract::{ApiJson, ApiPath, ApiQuery, OptionalJson, parse_json},
    lines::{self, LineChange},
    owned::Owned,
    pagination::{Page, PageQuery, Paginated, paginate},
    quotas::{self, Quota},
    state::AppState,
    validation::{self, validate_with},
};

mod batch;
mod keys;
mod rules;
mod schema;

pub use batch::Batch;
use keys::ShownKey;

use schema::{event_types_schema, filter_schema, headers_schema};

/// The subscription routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, replace, update, delete))
        .routes(routes!(rotate_secret))
}

/// Everything a user sets on a subscription: the body of POST and PUT, and what PATCH merges
/// into. Absent fields take their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[garde(context(SsrfGuard))]
pub struct SubscriptionInput {
    #[garde(length(chars, min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// An http(s) URL with a host that is not a non-public address.
    #[garde(length(chars, max = 2048), custom(validation::target_url))]
    #[schema(max_length = 2048, example = "https://example.com/hooks/warren")]
    target_url: String,
    /// Only this source's events; absent: every source of the user's.
    #[serde(default)]
    #[garde(skip)]
    source_id: Option<Uuid>,
    /// Exact types or prefixes ending in `*`; empty: every type.
    #[serde(default)]
    #[garde(length(max = 100), inner(custom(rules::event_type_pattern)))]
    #[schema(schema_with = event_types_schema)]
    event_types: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    #[garde(range(min = 1000, max = 30000))]
    #[schema(minimum = 1000, maximum = 30000, default = 10000)]
    timeout_ms: i32,
    #[serde(default = "default_max_attempts")]
    #[garde(range(min = 1, max = 20))]
    #[schema(minimum = 1, maximum = 20, default = 8)]
    max_attempts: i32,
    #[serde(default = "default_rate_limit")]
    #[garde(range(min = 1, max = 10000))]
    #[schema(minimum = 1, maximum = 10000, default = 100)]
    rate_limit_per_sec: i32,
    /// A template the body is rendered from (minijinja), instead of the event's own bytes.
    #[serde(default)]
    #[garde(inner(length(chars, max = 65536), custom(rules::check_template)))]
    #[schema(max_length = 65536)]
    payload_template: Option<String>,
    /// Headers sent with each delivery (not those Warren sets itself).
    #[serde(default)]
    #[garde(length(max = 20), custom(rules::custom_headers))]
    #[schema(schema_with = headers_schema)]
    headers: BTreeMap<String, String>,
    /// Only events whose JSON payload contains this object (PostgreSQL's `@>`: every key
    /// present with a containing value, array elements found in any order); `null` or
    /// absent: no filter. At most 4 KiB as JSON.
    #[serde(default)]
    #[garde(custom(rules::payload_filter))]
    #[schema(schema_with = filter_schema)]
    filter: Option<Value>,
    #[serde(default)]
    #[garde(skip)]
    ordering: Ordering,
    #[serde(default)]
    #[garde(skip)]
    on_dead: OnDead,
    /// JSON events in groups: up to `max_events` per request, waiting at most `max_wait_ms`
    /// for a group to fill; `null` or absent: one event per request. Not with `fifo`
    /// ordering nor a `payload_template`.
    #[serde(default)]
    #[garde(custom(batch::rule))]
    batch: Option<Batch>,
    /// The kind of signing key, read at create only: `hmac_sha256` (the default),
    /// `hmac_sha512`, `ed25519` or `rsa_pss_sha256`; `rotate-secret` changes it later. The
    /// answer shows it beside the key.
    #[serde(default, skip_serializing)]
    #[garde(skip)]
    signing_algorithm: Option<SigningAlgorithm>,
}

fn default_timeout_ms() -> i32 {
    10_000
}

fn default_max_attempts() -> i32 {
    8
}

fn default_rate_limit() -> i32 {
    100
}

/// A subscription as the API shows it to its owner.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionBody {
    id: Uuid,
    #[serde(flatten)]
    input: SubscriptionInput,
    #[serde(flatten)]
    key: ShownKey,
    is_active: bool,
    /// Why it is not active: `paused` (its owner paused it), or what made Warren disable it.
    disabled_reason: Option<String>,
    circuit_state: CircuitState,
    /// Deliveries held while it was not active: released (or discarded) once it is enabled.
    /// Counting down while `is_active` is true: a release is under way.
    held_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

/// What [`SubscriptionBody::from_row`] reads, from `subscriptions` (a `SELECT`, or the
/// `RETURNING` of a write). The held count reads `deliveries_held_idx`: nothing for a
/// subscription that holds nothing.
pub const COLUMNS: &str = "id, name, target_url, source_id, event_types, timeout_ms, max_attempts, \
     rate_limit_per_sec, payload_template, headers, filter, ordering, on_dead, batch_max_events, \
     batch_max_wait_ms, signing_secret, is_active, disabled_reason, circuit_state, created_at, updated_at, \
     (SELECT count(*) FROM deliveries d \
      WHERE d.subscription_id = subscriptions.id AND d.status = 'held') AS held_count";

/// The user's subscriptions, as listings and deletes find them.
pub const SUBSCRIPTIONS: Owned = Owned {
    table: "subscriptions",
    columns: COLUMNS,
};

impl SubscriptionInput {
    /// Reads the settings among a row's [`COLUMNS`] (the signing algorithm is not one).
    pub fn from_row(row: &Row) -> Result<Self> {
        let headers: Value = row.get("headers");
        Ok(Self {
            name: row.get("name"),
            target_url: row.get("target_url"),
            source_id: row.get("source_id"),
            event_types: row.get("event_types"),
            timeout_ms: row.get("timeout_ms"),
            max_attempts: row.get("max_attempts"),
            rate_limit_per_sec: row.get("rate_limit_per_sec"),
            payload_template: row.get("payload_template"),
            headers: serde_json::from_value(headers).map_err(|e| ApiError::Internal(e.into()))?,
            filter: row.get("filter"),
            ordering: stored_word(row.get("ordering"))?,
            on_dead: stored_word(row.get("on_dead"))?,
            batch: Batch::from_row(row),
            signing_algorithm: None,
        })
    }
}

impl SubscriptionBody {
    /// Reads the [`COLUMNS`] of a row.
    pub fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            input: SubscriptionInput::from_row(row)?,
            key: ShownKey::from(&keys::stored(row.get("signing_secret"))?),
            is_active: row.get("is_active"),
            disabled_reason: row.get("disabled_reason"),
            circuit_state: stored_word(row.get("circuit_state"))?,
            held_count: row.get("held_count"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        })
    }
}

/// Validates an input and checks that its source, if any, is the user's.
async fn check_input(
    client: &impl GenericClient,
    guard: &SsrfGuard,
    user_id: Uuid,
    input: &SubscriptionInput,
) -> Result<()> {
    validate_with(input, guard)?;
    batch::check_combination(
        input.batch,
        input.ordering,
        input.payload_template.as_deref(),
    )?;
    if let Some(source_id) = input.source_id {
        let owned = client
            .query_opt(
                "SELECT 1 FROM sources WHERE id = $1 AND user_id = $2",
                &[&source_id, &user_id],
            )
            .await?
            .is_some();
        if !owned {
            return Err(ApiError::field("source_id", "no such source"));
        }
    }
    Ok(())
}

/// Creates a subscription; its signing key (a `whsec_` secret, or an Ed25519 or RSA key
/// whose `public_key` receivers verify with) signs every delivery. 403 past the user's quota.
#[utoipa::path(post, path = "/api/v1/subscriptions", operation_id = "create_subscription", tag = "subscriptions", request_body = SubscriptionInput,
    responses((status = 201, body = SubscriptionBody), (status = 403, body = Problem, description = "The quota of subscriptions is reached"),
        (status = 422, body = Problem)), security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> Result<(StatusCode, Json<SubscriptionBody>)> {
    let secret = new_key(&state.settings.allow_target_cidrs, &input).await?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let row = insert(&tx, &state.settings, user.user_id, &input, &secret).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(SubscriptionBody::from_row(&row)?)))
}

/// The signing key a new subscription will have, of the kind it asks for. The input is
/// validated first, so a refused one costs no key; call it before taking a connection, since
/// an RSA key takes a while to make.
pub async fn new_key(guard: &SsrfGuard, input: &SubscriptionInput) -> Result<SigningSecret> {
    validate_with(input, guard)?;
    keys::generate(input.signing_algorithm.unwrap_or_default()).await
}

/// Validates a new subscription and stores it for `user_id` with its signing key (from
/// [`new_key`]), within the user's quota: what POST does, and `warren-ingest apply` too. Call
/// it inside a transaction (the quota check locks the user's row until it ends). Returns the
/// row of [`COLUMNS`].
pub async fn insert(
    client: &impl GenericClient,
    settings: &Settings,
    user_id: Uuid,
    input: &SubscriptionInput,
    secret: &SigningSecret,
) -> Result<Row> {
    check_input(client, &settings.allow_target_cidrs, user_id, input).await?;
    quotas::admit(client, settings, user_id, Quota::Subscriptions).await?;
    let (batch_max_events, batch_max_wait_ms) = batch::columns(input.batch);
    let (headers, words) = (headers_json(&input.headers), words_of(input));
    let row = client
        .query_one(
            &format!(
                "INSERT INTO subscriptions (id, user_id, name, target_url, source_id, event_types, timeout_ms,
                     max_attempts, rate_limit_per_sec, payload_template, headers, ordering, on_dead, signing_secret,
                     filter, batch_max_events, batch_max_wait_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 RETURNING {COLUMNS}"
            ),
            &params(
                [&Uuid::now_v7(), &user_id],
                &settings_of(input, &headers, &words),
                &[&secret.expose(), &input.filter, &batch_max_events, &batch_max_wait_ms],
            ),
        )
        .await?;
    Ok(row)
}

fn headers_json(headers: &BTreeMap<String, String>) -> Value {
    serde_json::to_value(headers).expect("a map of strings is JSON")
}

/// The ordering and on-dead words, as stored.
fn words_of(input: &SubscriptionInput) -> [&'static str; 2] {
    [input.ordering.as_str(), input.on_dead.as_str()]
}

/// A query parameter.
type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// `$3`..`$13` of the insert and the update: the settings both write, in the same order.
fn settings_of<'a>(
    input: &'a SubscriptionInput,
    headers: &'a Value,
    [ordering, on_dead]: &'a [&'static str; 2],
) -> [Param<'a>; 11] {
    [
        &input.name,
        &input.target_url,
        &input.source_id,
        &input.event_types,
        &input.timeout_ms,
        &input.max_attempts,
        &input.rate_limit_per_sec,
        &input.payload_template,
        headers,
        ordering,
        on_dead,
    ]
}

/// The row's key (`$1`, `$2`), the settings, then what the statement adds.
fn params<'a>(
    key: [Param<'a>; 2],
    settings: &[Param<'a>; 11],
    rest: &[Param<'a>],
) -> Vec<Param<'a>> {
    key.into_iter()
        .chain(settings.iter().copied())
        .chain(rest.iter().copied())
        .collect()
}

/// Lists the user's subscriptions, newest first.
#[utoipa::path(get, path = "/api/v1/subscriptions", operation_id = "list_subscriptions", tag = "subscriptions", params(PageQuery),
    responses((status = 200, body = Paginated<SubscriptionBody>), (status = 400, body = Problem)), security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Paginated<SubscriptionBody>>> {
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = SUBSCRIPTIONS.page(&client, user.user_id, &page).await?;
    let subscriptions = rows
        .iter()
        .map(SubscriptionBody::from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(paginate(subscriptions, page, |s| s.id)))
}

/// One subscription.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}", operation_id = "read_subscription", tag = "subscriptions", params(("id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionBody), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SubscriptionBody>> {
    let client = state.pool.get().await?;
    let row = owned_row(&client, &user, id).await?;
    Ok(Json(SubscriptionBody::from_row(&row)?))
}

/// One of the user's subscriptions as a row of [`COLUMNS`]; 404 when it is not theirs.
pub async fn owned_row(client: &impl GenericClient, user: &AuthUser, id: Uuid) -> Result<Row> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1 AND user_id = $2"),
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)
}

/// PUT: the body is the whole subscription; absent fields return to their defaults.
#[utoipa::path(put, path = "/api/v1/subscriptions/{id}", operation_id = "replace_subscription", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body = SubscriptionInput,
    responses((status = 200, body = SubscriptionBody), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
async fn replace(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> Result<Json<SubscriptionBody>> {
    let client = state.pool.get().await?;
    owned_row(&client, &user, id).await?;
    store(&state, &client, &user, id, input).await
}

/// The body of PATCH as the document shows it: any of [`SubscriptionInput`]'s fields, none
/// of them required.
pub struct SubscriptionPatch;

impl PartialSchema for SubscriptionPatch {
    fn schema() -> RefOr<Schema> {
        match SubscriptionInput::schema() {
            RefOr::T(Schema::Object(mut object)) => {
                object.required.clear();
                object.description = Some("Any of the subscription's fields".into());
                RefOr::T(Schema::Object(object))
            }
            other => other,
        }
    }
}

impl ToSchema for SubscriptionPatch {}

/// PATCH: the fields sent replace those stored (`null` clears a nullable one); the result
/// is validated as a whole.
#[utoipa::path(patch, path = "/api/v1/subscriptions/{id}", operation_id = "update_subscription", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body(content = SubscriptionPatch, description = "Any of the subscription's fields; `null` clears a nullable one"),
    responses((status = 200, body = SubscriptionBody), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Json<SubscriptionBody>> {
    let client = state.pool.get().await?;
    let current = SubscriptionInput::from_row(&owned_row(&client, &user, id).await?)?;
    let Value::Object(mut merged) =
        serde_json::to_value(current).map_err(|e| ApiError::Internal(e.into()))?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a subscription serializes to an object"
        )));
    };
    merged.extend(patch);
    let merged = serde_json::to_vec(&merged).map_err(|e| ApiError::Internal(e.into()))?;
    let input: SubscriptionInput = parse_json(&merged)?;
    store(&state, &client, &user, id, input).await
}

async fn store(
    state: &AppState,
    client: &impl GenericClient,
    user: &AuthUser,
    id: Uuid,
    input: SubscriptionInput,
) -> Result<Json<SubscriptionBody>> {
    let guard = &state.settings.allow_target_cidrs;
    let (row, change) = replace_row(client, guard, user.user_id, id, &input).await?;
    lines::after_settings_change(state, client, id, change).await?;
    Ok(Json(SubscriptionBody::from_row(&row)?))
}

/// Validates `input` and makes it the whole of one of `user_id`'s subscriptions (404 when
/// it is not theirs): what PUT and PATCH do, and `warren-ingest apply` too. Returns the row
/// of [`COLUMNS`] and what the change means for its FIFO line, which the caller acts on.
pub async fn replace_row(
    client: &impl GenericClient,
    guard: &SsrfGuard,
    user_id: Uuid,
    id: Uuid,
    input: &SubscriptionInput,
) -> Result<(Row, LineChange)> {
    check_input(client, guard, user_id, input).await?;
    let (batch_max_events, batch_max_wait_ms) = batch::columns(input.batch);
    let (headers, words) = (headers_json(&input.headers), words_of(input));
    // A line stays paused only while the subscription is FIFO with `on_dead: pause`.
    let row = client
        .query_opt(
            &format!(
                "UPDATE subscriptions SET name = $3, target_url = $4, source_id = $5, event_types = $6,
                     timeout_ms = $7, max_attempts = $8, rate_limit_per_sec = $9, payload_template = $10,
                     headers = $11, ordering = $12, on_dead = $13, filter = $14,
                     batch_max_events = $15, batch_max_wait_ms = $16,
                     fifo_paused_at = CASE WHEN $12 = 'fifo' AND $13 = 'pause' THEN fifo_paused_at END,
                     fifo_paused_by = CASE WHEN $12 = 'fifo' AND $13 = 'pause' THEN fifo_paused_by END,
                     updated_at = now()
                 FROM (SELECT ordering AS old_ordering, fifo_paused_at AS old_paused_at
                       FROM subscriptions WHERE id = $1 FOR UPDATE) old
                 WHERE id = $1 AND user_id = $2
                 RETURNING {COLUMNS}, old.old_ordering = 'fifo' AS was_fifo,
                     old.old_paused_at IS NOT NULL AS was_paused"
            ),
            &params(
                [&id, &user_id],
                &settings_of(input, &headers, &words),
                &[&input.filter, &batch_max_events, &batch_max_wait_ms],
            ),
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let fifo = input.ordering == Ordering::Fifo;
    let change = LineChange {
        left_fifo: row.get::<_, bool>("was_fifo") && !fifo,
        unpaused: row.get::<_, bool>("was_paused") && !(fifo && input.on_dead == OnDead::Pause),
    };
    Ok((row, change))
}

/// Deletes a subscription and its delivery history.
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", operation_id = "delete_subscription", tag = "subscriptions", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    let client = state.pool.get().await?;
    SUBSCRIPTIONS
        .delete(&client, user.user_id, id, ApiError::from)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The optional body of `rotate-secret`: the kind of the new key (default: the current kind).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RotateSecret {
    #[serde(default)]
    signing_algorithm: Option<SigningAlgorithm>,
}

/// The new signing key, as receivers verify with it.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    #[serde(flatten)]
    key: ShownKey,
}

/// A new signing key; the old one keeps signing alongside it for the overlap period, so
/// receivers can switch without dropping a delivery. The body may switch the kind of key
/// (`{"signing_algorithm": "rsa_pss_sha256"}`, any of the four); without one the new key is
/// of the current kind.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/rotate-secret", tag = "subscriptions", params(("id" = Uuid, Path)),
    request_body(content = Option<RotateSecret>),
    responses((status = 200, body = RotatedSecret), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(wanted): OptionalJson<RotateSecret>,
) -> Result<Json<RotatedSecret>> {
    let client = state.pool.get().await?;
    let current = client
        .query_opt(
            "SELECT signing_secret FROM subscriptions WHERE id = $1 AND user_id = $2",
            &[&id, &user.user_id],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    let algorithm = match wanted.signing_algorithm {
        Some(algorithm) => algorithm,
        None => keys::stored(current.get(0))?.algorithm(),
    };
    let secret = keys::generate(algorithm).await?;
    let overlap = f64::from(state.settings.secret_rotation_overlap_hours) * 3600.0;
    client
        .query_opt(
            "UPDATE subscriptions SET previous_signing_secret = signing_secret,
                 previous_secret_expires_at = now() + make_interval(secs => $4),
                 signing_secret = $3, updated_at = now()
             WHERE id = $1 AND user_id = $2 RETURNING id",
            &[&id, &user.user_id, &secret.expose(), &overlap],
        )
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(RotatedSecret {
        key: ShownKey::from(&secret),
    }))
}
