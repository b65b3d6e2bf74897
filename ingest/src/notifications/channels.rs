//! Notification channels: where a user is told. A `webhook` channel gets a POST signed with
//! its own `whsec_` secret (Standard Webhooks); an `email` channel a plain-text mail through
//! the instance's SMTP server. Each takes every type, or the types it lists.

use axum::{Json, extract::State, http::StatusCode};
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::{
    model::{ChannelKind, NotificationType},
    notify,
    signing::SigningSecret,
    ssrf::SsrfGuard,
};

use crate::{
    auth::AuthUser,
    config::Settings,
    error::{ApiError, FieldError, Problem, Result, stored_word},
    extract::{ApiJson, ApiPath, ApiQuery},
    owned::Owned,
    pagination::{Page, PageQuery, Paginated, paginate},
    state::AppState,
    validation::{self, validate_with},
};

/// The channel routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(delete_channel))
        .routes(routes!(test_channel))
}

/// A new channel: `{"name", "kind": "webhook", "target_url", "types"?}` or
/// `{"name", "kind": "email", "email", "types"?}`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[garde(context(SsrfGuard))]
pub struct NewChannel {
    #[garde(length(chars, min = 1, max = 200), custom(text))]
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[garde(skip)]
    kind: ChannelKind,
    /// For a webhook channel: where to POST (http(s), a public address).
    #[serde(default)]
    #[garde(inner(length(chars, max = 2048), custom(webhook_url)))]
    #[schema(max_length = 2048, example = "https://example.com/hooks/warren-alerts")]
    target_url: Option<String>,
    /// For an email channel: where to mail.
    #[serde(default)]
    #[garde(inner(length(chars, max = 254), custom(mail_address)))]
    #[schema(max_length = 254)]
    email: Option<String>,
    /// The notification types to send; empty or absent means every type.
    #[serde(default)]
    #[garde(length(max = 20), inner(custom(notification_type)))]
    #[schema(value_type = Vec<NotificationType>, max_items = 20)]
    types: Vec<String>,
}

fn text(value: &str, _: &SsrfGuard) -> garde::Result {
    validation::no_nul(value)
}

fn webhook_url(value: &str, guard: &SsrfGuard) -> garde::Result {
    validation::no_nul(value)?;
    validation::target_url(value, guard)
}

/// An address a mail can be sent to, as the SMTP client will read it.
fn mail_address(value: &str, _: &SsrfGuard) -> garde::Result {
    validation::no_nul(value)?;
    value
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|_| garde::Error::new("must be an email address"))
}

fn notification_type(value: &str, _: &SsrfGuard) -> garde::Result {
    value.parse::<NotificationType>().map(|_| ()).map_err(|_| {
        let known: Vec<&str> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
        garde::Error::new(format!("must be one of {}", known.join(", ")))
    })
}

/// Each field valid alone (garde), and the fields the kind needs present, the others
/// absent. Email channels need an SMTP server: refused without one, rather than accepted
/// and never sent.
fn check(input: &NewChannel, settings: &Settings) -> Result<()> {
    let mut errors = match validate_with(input, &settings.allow_target_cidrs) {
        Ok(()) => Vec::new(),
        Err(ApiError::Validation(errors)) => errors,
        Err(other) => return Err(other),
    };
    let needed = |field: &str, present: bool, kind: ChannelKind| {
        (!present).then(|| FieldError::new(field, format!("a {kind} channel needs it")))
    };
    let unwanted = |field: &str, present: bool, kind: ChannelKind| {
        present.then(|| FieldError::new(field, format!("a {kind} channel takes none")))
    };
    let (webhook, email) = (input.target_url.is_some(), input.email.is_some());
    let kind = input.kind;
    errors.extend(
        match kind {
            ChannelKind::Webhook => [
                needed("target_url", webhook, kind),
                unwanted("email", email, kind),
            ],
            ChannelKind::Email => [
                needed("email", email, kind),
                unwanted("target_url", webhook, kind),
            ],
        }
        .into_iter()
        .flatten(),
    );
    if kind == ChannelKind::Email && settings.smtp_url.is_none() {
        errors.push(FieldError::new(
            "kind",
            "email channels need an SMTP server, and this instance has none (WARREN_SMTP_URL)",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// A channel as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct ChannelBody {
    id: Uuid,
    name: String,
    kind: ChannelKind,
    /// Where a webhook channel POSTs; `null` for email.
    target_url: Option<String>,
    /// Where an email channel mails; `null` for a webhook.
    email: Option<String>,
    /// The types it takes; empty means every type.
    types: Vec<String>,
    /// The `whsec_` secret a webhook channel's POSTs are signed with; `null` for email.
    signing_secret: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, kind, target_url, email, types, signing_secret, created_at";

/// The user's channels, as listings and deletes find them.
const CHANNELS: Owned = Owned {
    table: "notification_channels",
    columns: COLUMNS,
};

impl ChannelBody {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.get("id"),
            name: row.get("name"),
            kind: stored_word(row.get("kind"))?,
            target_url: row.get("target_url"),
            email: row.get("email"),
            types: row.get("types"),
            signing_secret: row.get("signing_secret"),
            created_at: row.get("created_at"),
        })
    }
}

/// The types as given, each once, in the order first named.
fn distinct(types: &[String]) -> Vec<String> {
    let mut seen = Vec::with_capacity(types.len());
    for kind in types {
        if !seen.contains(kind) {
            seen.push(kind.clone());
        }
    }
    seen
}

/// Creates a channel. A webhook channel gets its own signing secret, shown here and in the
/// list.
#[utoipa::path(post, path = "/api/v1/notification-channels", tag = "notifications", request_body = NewChannel,
    responses((status = 201, body = ChannelBody), (status = 400, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_channel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewChannel>,
) -> Result<(StatusCode, Json<ChannelBody>)> {
    check(&input, &state.settings)?;
    let secret = (input.kind == ChannelKind::Webhook).then(SigningSecret::generate);
    let client = state.pool.get().await?;
    let row = client
        .query_one(
            &format!(
                "INSERT INTO notification_channels
                     (id, user_id, name, kind, target_url, email, types, signing_secret)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
            ),
            &[
                &Uuid::now_v7(),
                &user.user_id,
                &input.name,
                &input.kind.as_str(),
                &input.target_url,
                &input.email,
                &distinct(&input.types),
                &secret.as_ref().map(SigningSecret::expose),
            ],
        )
        .await?;
    // Never cached, though it shows the channel's secret: every API answer is no-store
    // (`startup::router`).
    Ok((StatusCode::CREATED, Json(ChannelBody::from_row(&row)?)))
}

/// The user's channels, newest first.
#[utoipa::path(get, path = "/api/v1/notification-channels", tag = "notifications", params(PageQuery),
    responses((status = 200, body = Paginated<ChannelBody>), (status = 400, body = Problem)), security(("bearer" = [])))]
async fn list_channels(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Paginated<ChannelBody>>> {
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = CHANNELS.page(&client, user.user_id, &page).await?;
    let channels = rows
        .iter()
        .map(ChannelBody::from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(paginate(channels, page, |c| c.id)))
}

/// Deletes a channel, and whatever was still on its way to it.
#[utoipa::path(delete, path = "/api/v1/notification-channels/{id}", tag = "notifications", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn delete_channel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    let client = state.pool.get().await?;
    CHANNELS
        .delete(&client, user.user_id, id, ApiError::from)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The answer to a test: the notification sent.
#[derive(Serialize, ToSchema)]
pub struct TestSent {
    /// The `notification.test` on its way (the `webhook-id` the channel receives).
    id: Uuid,
}

/// Sends a `notification.test` to this channel only (it also shows in the in-app list).
#[utoipa::path(post, path = "/api/v1/notification-channels/{id}/test", tag = "notifications", params(("id" = Uuid, Path)),
    responses((status = 202, body = TestSent), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn test_channel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<TestSent>)> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    tx.query_opt(
        "SELECT 1 FROM notification_channels WHERE id = $1 AND user_id = $2 FOR KEY SHARE",
        &[&id, &user.user_id],
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    let notification = notify::raise_test(&tx, user.user_id, id).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(TestSent { id: notification })))
}
