//! Accounts: sign up, log in, log out, who am I, and API keys.

pub mod api_keys;
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
}

/// Email and password, for signup and login.
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

/// Creates an account and logs it in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = Credentials,
    responses((status = 201, body = SessionBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn signup(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<Credentials>,
) -> Result<Response> {
    validate(&input)?;
    let email = input.email.trim().to_lowercase();
    let hash = password::hash(input.password)
        .await
        .map_err(ApiError::Internal)?;
    let id = Uuid::now_v7();
    let mut client = state.pool.get().await?;
    let role = insert_user(&mut client, id, &email, &hash).await?;
    let user = UserBody { id, email, role };
    session_response(&state, &client, user, StatusCode::CREATED).await
}

/// Logs in; also sets an HttpOnly session cookie. Failed logins are throttled per email and
/// per client address (`throttle`): once locked, even the right password is a 429.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = SessionBody), (status = 401, body = Problem),
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
                "SELECT id, password_hash, role FROM users WHERE email = $1",
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
    let user = UserBody {
        id: row.get("id"),
        email,
        role: stored_word(row.get("role"))?,
    };
    let client = state.pool.get().await?;
    session_response(&state, &client, user, StatusCode::OK).await
}

/// Stores a new account; the first on the instance is its operator. The advisory lock makes
/// two first sign-ups at once take turns, so only one becomes it. 409 if the email is taken.
async fn insert_user(
    client: &mut deadpool_postgres::Object,
    id: Uuid,
    email: &str,
    hash: &str,
) -> Result<Role> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('warren.first_user'))",
        &[],
    )
    .await?;
    let row = tx
        .query_one(
            "INSERT INTO users (id, email, password_hash, role)
             SELECT $1, $2, $3,
                    CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'operator' END
             RETURNING role",
            &[&id, &email, &hash],
        )
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some("users_email_key") => {
                ApiError::Conflict("that email is already registered".into())
            }
            _ => e.into(),
        })?;
    tx.commit().await?;
    stored_word(row.get("role"))
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
