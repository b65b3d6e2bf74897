//! Sessions: random bearer tokens stored hashed, carried in the `Authorization` header or
//! the session cookie.

use axum::http::{HeaderMap, header};
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::tokens::{random_token, token_hash};

use crate::error::ApiError;

/// The cookie a browser session travels in.
pub const COOKIE: &str = "warren_session";

/// The prefix of session tokens.
const SESSION_PREFIX: &str = "wrn_sess_";

/// A session a token opens.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// The session.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// When it ends by itself.
    pub expires_at: OffsetDateTime,
}

/// The live session a token opens, if any: none while its user is disabled.
pub async fn find(client: &impl GenericClient, token: &str) -> Result<Option<Found>, ApiError> {
    let row = client
        .query_opt(
            "SELECT s.id, s.user_id, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL",
            &[&token_hash(token)],
        )
        .await?;
    Ok(row.map(|row| Found {
        id: row.get("id"),
        user_id: row.get("user_id"),
        expires_at: row.get("expires_at"),
    }))
}

/// A request's token, and how it travelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// In `Authorization: Bearer …`: a browser never adds it on its own, so no other site
    /// can make a browser send it.
    Bearer(String),
    /// In the session cookie, which a browser adds by itself, also to requests that pages of
    /// other origins start.
    Cookie(String),
}

impl Carried {
    /// The token.
    pub fn token(&self) -> &str {
        match self {
            Carried::Bearer(token) | Carried::Cookie(token) => token,
        }
    }
}

/// The token from `Authorization: Bearer …`, else from the session cookie.
pub fn request_token(headers: &HeaderMap) -> Option<Carried> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Carried::Bearer(t.trim().to_owned()));
    bearer.or_else(|| cookie_token(headers).map(Carried::Cookie))
}

/// The token in the session cookie.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Opens a session for `user_id` lasting `ttl`; returns its token (shown once).
pub async fn open(
    client: &impl GenericClient,
    user_id: Uuid,
    ttl: time::Duration,
) -> Result<String, ApiError> {
    let token = random_token(SESSION_PREFIX);
    let expires_at = OffsetDateTime::now_utc() + ttl;
    client
        .execute(
            "INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
            &[&Uuid::now_v7(), &user_id, &token_hash(&token), &expires_at],
        )
        .await?;
    Ok(token)
}

/// Ends a session.
pub async fn close(client: &impl GenericClient, session_id: Uuid) -> Result<(), ApiError> {
    client
        .execute("DELETE FROM sessions WHERE id = $1", &[&session_id])
        .await?;
    Ok(())
}

/// The `Set-Cookie` value carrying a session: only for HTTP (`HttpOnly`, out of scripts'
/// reach), on every path, not sent with other sites' cross-site subrequests (`SameSite=Lax`),
/// and only over https when Warren is served over https (`Secure`).
pub fn set_cookie(token: &str, ttl: time::Duration, secure: bool) -> String {
    cookie_line(token, ttl.whole_seconds(), secure)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    cookie_line("", 0, secure)
}

fn cookie_line(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; warren_session=from-cookie".parse().expect("valid"),
        );
        assert_eq!(
            request_token(&headers),
            Some(Carried::Cookie("from-cookie".into()))
        );
        headers.insert(
            header::AUTHORIZATION,
            "Bearer from-header".parse().expect("valid"),
        );
        assert_eq!(
            request_token(&headers),
            Some(Carried::Bearer("from-header".into()))
        );
    }

    #[test]
    fn no_credentials_means_no_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().expect("valid"));
        assert_eq!(request_token(&headers), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_lax_on_every_path_and_secure_behind_https() {
        let ttl = time::Duration::hours(2);
        let plain = set_cookie("wrn_sess_x", ttl, false);
        assert_eq!(
            plain,
            "warren_session=wrn_sess_x; Path=/; HttpOnly; SameSite=Lax; Max-Age=7200"
        );
        assert!(set_cookie("wrn_sess_x", ttl, true).ends_with("; Secure"));
        assert_eq!(
            clear_cookie(true),
            "warren_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
    }
}
