//! Accounts: sign up, log in, log out, who am I, and API keys.

pub mod api_keys;
pub mod invites;
mod password;
pub mod session;
mod user;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use garde::Validate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use warren_shared::model::Role;

pub use user::{AuthUser, Credential, resolve, standing};

use crate::{
    config::SignupMode,
    error::{ApiError, Problem, Result, stored_word, violated_constraint},
    extract::{ApiJson, ClientAddress},
    state::AppState,
    validation::validate,
};

/// The account routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .merge(api_keys::router())
        .merge(invites::router())
}

/// Email and password, for login.
#[derive(Deserialize, Validate, ToSchema)]
pub struct Credentials {
    #[garde(email, length(chars, max = 254))]
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// At least 8 characters.
    #[garde(length(chars, min = 8, max = 1024))]
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// A new account: email, password and, where signup is by invite, the invite's token.
#[derive(Deserialize, Validate, ToSchema)]
pub struct NewAccount {
    #[garde(email, length(chars, max = 254))]
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// At least 8 characters.
    #[garde(length(chars, min = 8, max = 1024))]
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
    /// The token of an operator's invite for this email; needed when `WARREN_SIGNUP` is
    /// `invite` (the default), except for an instance's first account.
    #[garde(length(chars, max = 200))]
    #[schema(max_length = 200)]
    invite: Option<String>,
}

/// A user as the API shows one.
#[derive(Serialize, ToSchema)]
pub struct UserBody {
    id: Uuid,
    email: String,
    /// `operator` for the instance's first account, else `user`.
    role: Role,
}

/// A user and a fresh session token.
#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    user: UserBody,
    /// `Authorization: Bearer <token>`; also set as an HttpOnly cookie.
    token: String,
}

/// Creates an account and logs it in. The instance's first account is its operator, whatever
/// the signup mode; after it, `WARREN_SIGNUP` says who may sign up (403 for the others).
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = NewAccount,
    responses((status = 201, body = SessionBody),
        (status = 403, body = Problem, description = "Signup is closed, or by invite and the invite is missing, unknown, expired, used or for another email"),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn signup(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewAccount>,
) -> Result<Response> {
    validate(&input)?;
    let email = input.email.trim().to_lowercase();
    let hash = password::hash(input.password)
        .await
        .map_err(ApiError::Internal)?;
    let id = Uuid::now_v7();
    let mut client = state.pool.get().await?;
    let account = Account {
        id,
        email: &email,
        hash: &hash,
        invite: input.invite.as_deref(),
    };
    let role = insert_user(&mut client, account, state.settings.signup).await?;
    let user = UserBody { id, email, role };
    session_response(&state, &client, user, StatusCode::CREATED).await
}

/// Logs in; also sets an HttpOnly session cookie. A disabled account is 403 (only once its
/// password matched, so it tells nothing to someone who does not know it). Failed logins are
/// throttled per email and per client address (`throttle`): once locked, even the right
/// password is a 429.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = SessionBody), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "The account is disabled"),
        (status = 429, body = Problem, headers(("Retry-After" = u64, description = "Seconds until a login may be tried again")))))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(input): ApiJson<Credentials>,
) -> Result<Response> {
    let email = input.email.trim().to_lowercase();
    state.throttles.login_allowed(&email, address)?;
    let row = {
        let client = state.pool.get().await?;
        client
            .query_opt(
                "SELECT id, password_hash, role, disabled_at IS NOT NULL AS disabled
                 FROM users WHERE email = $1",
                &[&email],
            )
            .await?
    };
    // No connection is held while the password is hashed.
    let matches = match &row {
        Some(row) => password::verify(input.password, row.get("password_hash")).await,
        // Spend the same time on an unknown email, so timing does not reveal who has an account.
        None => password::hash(input.password).await.map(|_| false),
    }
    .map_err(ApiError::Internal)?;
    let Some(row) = row.filter(|_| matches) else {
        state.throttles.login_failed(&email, address);
        return Err(ApiError::Unauthorized("wrong email or password".into()));
    };
    if row.get::<_, bool>("disabled") {
        return Err(ApiError::Forbidden(
            "this account is disabled; ask the instance's operator".into(),
        ));
    }
    let user = UserBody {
        id: row.get("id"),
        email,
        role: stored_word(row.get("role"))?,
    };
    let client = state.pool.get().await?;
    session_response(&state, &client, user, StatusCode::OK).await
}

/// An account about to be stored.
struct Account<'a> {
    id: Uuid,
    email: &'a str,
    hash: &'a str,
    invite: Option<&'a str>,
}

/// Stores a new account; the first on the instance is its operator, any other must be let in
/// by `mode`. The advisory lock makes sign-ups take turns, so of two first sign-ups at once
/// exactly one becomes the operator and the other is judged as a second one. A refusal, or
/// an email that is taken (409), leaves nothing behind: an invite is marked used only with
/// the account it made.
async fn insert_user(
    client: &mut deadpool_postgres::Object,
    account: Account<'_>,
    mode: SignupMode,
) -> Result<Role> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('warren.first_user'))",
        &[],
    )
    .await?;
    let others: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM users)", &[])
        .await?
        .get(0);
    if others {
        admit(&tx, &account, mode).await?;
    }
    let role = if others { Role::User } else { Role::Operator };
    tx.execute(
        "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, $4)",
        &[&account.id, &account.email, &account.hash, &role.as_str()],
    )
    .await
    .map_err(|e| match violated_constraint(&e) {
        Some("users_email_key") => ApiError::Conflict("that email is already registered".into()),
        _ => e.into(),
    })?;
    tx.commit().await?;
    Ok(role)
}

/// Whether `mode` lets a sign-up that is not the instance's first in; in `invite` mode its
/// invite is used up by this (inside the sign-up's transaction).
async fn admit(
    tx: &deadpool_postgres::Transaction<'_>,
    account: &Account<'_>,
    mode: SignupMode,
) -> Result<()> {
    match (mode, account.invite) {
        (SignupMode::Open, _) => Ok(()),
        (SignupMode::Closed, _) => Err(ApiError::Forbidden(
            "signup is closed on this instance; ask its operator for an account".into(),
        )),
        (SignupMode::Invite, None) => Err(ApiError::Forbidden(
            "signup on this instance is by invite only: send the `invite` token an operator gave you".into(),
        )),
        (SignupMode::Invite, Some(token)) => {
            match invites::redeem(tx, token, account.email, account.id).await? {
                true => Ok(()),
                false => Err(ApiError::Forbidden(
                    "the invite is unknown, expired, already used, or for another email".into(),
                )),
            }
        }
    }
}

/// A 403 unless `user` is an operator.
pub async fn require_operator(state: &AppState, user: &AuthUser) -> Result<()> {
    let client = state.pool.get().await?;
    let row = client
        .query_one("SELECT role FROM users WHERE id = $1", &[&user.user_id])
        .await?;
    match stored_word::<Role>(row.get("role"))? {
        Role::Operator => Ok(()),
        Role::User => Err(ApiError::Forbidden(
            "only an operator may see this: it is every tenant's".into(),
        )),
    }
}

async fn session_response(
    state: &AppState,
    client: &deadpool_postgres::Object,
    user: UserBody,
    status: StatusCode,
) -> Result<Response> {
    let ttl = time::Duration::hours(state.settings.session_ttl_hours.into());
    let token = session::open(client, user.id, ttl).await?;
    let cookie = session::set_cookie(&token, ttl, state.origins.public_is_https());
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        Json(SessionBody { user, token }),
    )
        .into_response())
}

/// Ends the session the request was made with, and the live sockets opened with it.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<Response> {
    let Credential::Session(session_id) = user.credential else {
        return Err(ApiError::BadRequest(
            "logout ends a session; revoke an API key with DELETE /api/v1/api-keys/{id}".into(),
        ));
    };
    let client = state.pool.get().await?;
    session::close(&client, session_id).await?;
    state.revocations.revoked();
    let cookie = session::clear_cookie(state.origins.public_is_https());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Who the request is made by.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserBody), (status = 401, body = Problem)), security(("bearer" = [])))]
async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<UserBody>> {
    let client = state.pool.get().await?;
    let row = client
        .query_one(
            "SELECT id, email, role FROM users WHERE id = $1",
            &[&user.user_id],
        )
        .await?;
    Ok(Json(UserBody {
        id: row.get("id"),
        email: row.get("email"),
        role: stored_word(row.get("role"))?,
    }))
}
