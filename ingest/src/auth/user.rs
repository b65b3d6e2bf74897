//! The extractor that turns a request's credential (a session token or an API key, as a
//! bearer token or the session cookie) into the user it belongs to, and the check of which
//! credentials still stand that ends live sockets opened with the others.

use std::collections::HashSet;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, Method, request::Parts},
};
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A login session (ended by logout, or when it expires).
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
    /// When the credential ends by itself (a session's expiry; an API key has none).
    pub expires_at: Option<OffsetDateTime>,
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
    if token.starts_with(api_keys::PREFIX) {
        let found = api_keys::authenticate(client, token).await?;
        return Ok(found.map(|(key, user_id)| AuthUser {
            user_id,
            credential: Credential::ApiKey(key),
            expires_at: None,
        }));
    }
    let found = session::find(client, token).await?;
    Ok(found.map(|session| AuthUser {
        user_id: session.user_id,
        credential: Credential::Session(session.id),
        expires_at: Some(session.expires_at),
    }))
}

/// Of `credentials`, those that still stand: sessions neither ended nor expired, API keys not
/// deleted, neither of a disabled user. The live gateway asks this about its sockets every few seconds, so whatever ends a
/// credential in the database ends its sockets too, whichever process did it. An operator
/// disabling a user ends its sockets this way too.
pub async fn standing(
    client: &impl GenericClient,
    credentials: &[Credential],
) -> Result<HashSet<Credential>, ApiError> {
    let (sessions, keys) = split(credentials);
    let rows = client
        .query(
            "SELECT s.id, true AS is_session FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ANY($1) AND s.expires_at > now() AND u.disabled_at IS NULL
             UNION ALL
             SELECT k.id, false FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.id = ANY($2) AND u.disabled_at IS NULL",
            &[&sessions, &keys],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| match row.get::<_, bool>("is_session") {
            true => Credential::Session(row.get("id")),
            false => Credential::ApiKey(row.get("id")),
        })
        .collect())
}

/// The session ids and the API-key ids.
fn split(credentials: &[Credential]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut sessions = Vec::new();
    let mut keys = Vec::new();
    for credential in credentials {
        match *credential {
            Credential::Session(id) => sessions.push(id),
            Credential::ApiKey(id) => keys.push(id),
        }
    }
    (sessions, keys)
}
