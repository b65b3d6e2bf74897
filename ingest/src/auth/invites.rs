//! Invites: an operator lets one email sign up on an instance whose signup is by invite
//! (`WARREN_SIGNUP=invite`, the default). The token is shown once, stored as SHA-256 like API
//! keys, good until it expires (`WARREN_INVITE_TTL_HOURS`, a week by default) and used once.

use axum::{Json, extract::State, http::StatusCode};
use deadpool_postgres::GenericClient;
use garde::Validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::tokens::{random_token, token_hash};

use super::{AuthUser, require_operator};
use crate::{
    error::{ApiError, Problem, Result, found},
    extract::{ApiJson, ApiPath, ApiQuery},
    pagination::{Page, PageQuery, Paginated, paginate},
    state::AppState,
    validation::validate,
};

/// The prefix of invite tokens.
const PREFIX: &str = "wrn_inv_";

/// The invite routes (operators only).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// Who is invited.
#[derive(Deserialize, Validate, ToSchema)]
pub struct NewInvite {
    /// The email the invite is for: signup must use it.
    #[garde(email, length(chars, max = 254))]
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// An invite just made: the only time `token` is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedInvite {
    id: Uuid,
    email: String,
    /// Send it to the invitee: signup takes it as `invite`. It cannot be shown again.
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// An invite as listed: never its token.
#[derive(Serialize, ToSchema)]
pub struct InviteBody {
    id: Uuid,
    email: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// When it was used to sign up; `null` while unused.
    #[serde(with = "time::serde::rfc3339::option")]
    used_at: Option<OffsetDateTime>,
    /// The account it made; `null` while unused.
    used_by: Option<Uuid>,
}

impl InviteBody {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            email: row.get("email"),
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
            used_at: row.get("used_at"),
            used_by: row.get("used_by"),
        }
    }
}

/// Invites an email to sign up; 409 if it has an account already.
#[utoipa::path(post, path = "/api/v1/invites", operation_id = "create_invite", tag = "invites", request_body = NewInvite,
    responses((status = 201, body = CreatedInvite), (status = 403, body = Problem, description = "Not an operator"),
        (status = 409, body = Problem, description = "The email has an account already"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<NewInvite>,
) -> Result<(StatusCode, Json<CreatedInvite>)> {
    require_operator(&state, &user).await?;
    validate(&input)?;
    let email = input.email.trim().to_lowercase();
    let token = random_token(PREFIX);
    let ttl = time::Duration::hours(state.settings.invite_ttl_hours.into());
    let expires_at = OffsetDateTime::now_utc() + ttl;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "INSERT INTO invites (id, email, token_hash, created_by, expires_at)
             SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = $2)
             RETURNING id, created_at, expires_at",
            &[
                &Uuid::now_v7(),
                &email,
                &token_hash(&token),
                &user.user_id,
                &expires_at,
            ],
        )
        .await?
        .ok_or_else(|| ApiError::Conflict("that email already has an account".into()))?;
    let invite = CreatedInvite {
        id: row.get("id"),
        email,
        token,
        expires_at: row.get("expires_at"),
        created_at: row.get("created_at"),
    };
    Ok((StatusCode::CREATED, Json(invite)))
}

/// Every invite on the instance, used and expired ones too, newest first.
#[utoipa::path(get, path = "/api/v1/invites", operation_id = "list_invites", tag = "invites", params(PageQuery),
    responses((status = 200, body = Paginated<InviteBody>), (status = 403, body = Problem, description = "Not an operator")),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Paginated<InviteBody>>> {
    require_operator(&state, &user).await?;
    let page = Page::try_from(&query)?;
    let client = state.pool.get().await?;
    let rows = client
        .query(
            "SELECT id, email, created_at, expires_at, used_at, used_by FROM invites
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
            &[&page.before_or_max(), &page.fetch()],
        )
        .await?;
    let invites = rows.iter().map(InviteBody::from_row).collect();
    Ok(Json(paginate(invites, page, |i| i.id)))
}

/// Revokes an invite: its token signs no one up from now on.
#[utoipa::path(delete, path = "/api/v1/invites/{id}", operation_id = "revoke_invite", tag = "invites",
    params(("id" = Uuid, Path, description = "The invite's id")),
    responses((status = 204), (status = 403, body = Problem, description = "Not an operator"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    require_operator(&state, &user).await?;
    let client = state.pool.get().await?;
    found(
        client
            .execute("DELETE FROM invites WHERE id = $1", &[&id])
            .await?,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks the invite `token` used by the account `user_id` signing up with `email`, if it is
/// live (unexpired, unused) and for that email. Run inside the signup's transaction: the
/// row lock makes two signups with one invite take turns, and the second finds it used.
pub async fn redeem(
    client: &impl GenericClient,
    token: &str,
    email: &str,
    user_id: Uuid,
) -> Result<bool> {
    let used = client
        .execute(
            "UPDATE invites SET used_at = now(), used_by = $3
             WHERE token_hash = $1 AND email = $2 AND used_at IS NULL AND expires_at > now()",
            &[&token_hash(token), &email, &user_id],
        )
        .await?;
    Ok(used == 1)
}
