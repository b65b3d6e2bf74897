//! The extractor that turns a request's credential (a session token or an API key, as a
//! bearer token or the session cookie) into the user it belongs to.

use axum::{extract::FromRequestParts, http::request::Parts};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{api_keys, session};
use crate::{error::ApiError, state::AppState};

/// What a request authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A login session (ended by logout).
    Session(Uuid),
    /// An API key (revoked by deleting it).
    ApiKey(Uuid),
}

/// The user a request is made by.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The user.
    pub user_id: Uuid,
    /// How they authenticated.
    pub credential: Credential,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = session::request_token(&parts.headers).ok_or_else(|| {
            ApiError::Unauthorized(
                "authentication required: send `Authorization: Bearer <token>`".into(),
            )
        })?;
        let client = state.pool.get().await?;
        resolve(&client, &token).await?.ok_or_else(|| {
            ApiError::Unauthorized("the token is invalid, expired or revoked".into())
        })
    }
}

/// The user a token (session or API key) belongs to, if it is valid.
pub async fn resolve(
    client: &impl GenericClient,
    token: &str,
) -> Result<Option<AuthUser>, ApiError> {
    let found = if token.starts_with(api_keys::PREFIX) {
        api_keys::authenticate(client, token)
            .await?
            .map(|(key, user)| (Credential::ApiKey(key), user))
    } else {
        session::find(client, token)
            .await?
            .map(|(session, user)| (Credential::Session(session), user))
    };
    Ok(found.map(|(credential, user_id)| AuthUser {
        user_id,
        credential,
    }))
}
