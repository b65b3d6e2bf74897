//! The extractor that turns a request's credential (a session token or an API key, as a
//! bearer token or the session cookie) into the user it belongs to.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, Method, request::Parts},
};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{
    api_keys,
    session::{self, Carried},
};
use crate::{
    error::ApiError,
    origin::{Provenance, TrustedOrigins},
    state::AppState,
};

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
        let carried = session::request_token(&parts.headers).ok_or_else(|| {
            ApiError::Unauthorized(
                "authentication required: send `Authorization: Bearer <token>`".into(),
            )
        })?;
        if matches!(carried, Carried::Cookie(_)) && changes_state(&parts.method) {
            from_our_pages(&state.origins, &parts.headers)?;
        }
        let client = state.pool.get().await?;
        resolve(&client, carried.token()).await?.ok_or_else(|| {
            ApiError::Unauthorized("the token is invalid, expired or revoked".into())
        })
    }
}

/// Whether a request of this method may change something: Warren's GET, HEAD and OPTIONS
/// routes never do.
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses (403) a cookie-carried write whose `Origin` (or, lacking one, `Referer`) is not
/// a trusted origin: a page elsewhere could have made the browser send it.
fn from_our_pages(origins: &TrustedOrigins, headers: &HeaderMap) -> Result<(), ApiError> {
    match origins.provenance(headers) {
        Provenance::Trusted => Ok(()),
        Provenance::Foreign(origin) => Err(ApiError::Forbidden(format!(
            "a change made with the session cookie must come from Warren's own pages, not from `{origin}`; scripts use `Authorization: Bearer <token>`"
        ))),
        Provenance::Unknown => Err(ApiError::Forbidden(
            "a change made with the session cookie must carry an `Origin` (or `Referer`) of Warren's own pages; scripts use `Authorization: Bearer <token>`".into(),
        )),
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
