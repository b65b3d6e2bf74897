//! The API's one error type and its one mapping to `application/problem+json` (RFC 9457).
//!
//! Client errors carry their detail; anything else is logged once with its cause chain and
//! answered opaquely, so no stack trace or internal message ever reaches a client.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The API's result type.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One field's validation failure (`field` is the bare field name, e.g. `target_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The bare field name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A failure of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a request can end in other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, wrong content type, bad query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or bad credentials, or a provider signature missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed this way (a cookie-carried write from a page
    /// that is not Warren's).
    #[error("{0}")]
    Forbidden(String),
    /// 404: not found, or owned by someone else (the two are never told apart).
    #[error("not found")]
    NotFound,
    /// 405: the route exists, but not with this method.
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// 408: the request's body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 409: conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 414: the request's URI is longer than the HTTP layer reads.
    #[error("the request's URI is too long")]
    UriTooLong,
    /// 431: too many request headers, or too large ones.
    #[error("the request's headers are too many or too large")]
    HeadersTooLarge,
    /// 422: well-formed but invalid, field by field.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// 422: well-formed but not acceptable as a whole.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: too many requests (failed logins, or a source over its rate limit); try again
    /// after `retry_after` seconds (sent as `Retry-After`).
    #[error("{detail}")]
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// Whole seconds until a request may succeed (at least 1).
        retry_after: u64,
    },
    /// 503: a dependency (the database) is unavailable; the client should retry.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: anything else.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// Any other status the HTTP layer answered with on its own.
    #[error("the request was refused")]
    Http(StatusCode),
}

impl ApiError {
    /// One field's validation failure.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// The same failure for each of `waiters` waiting on one grouped round (a group commit,
    /// a grouped lookup): a database outage stays a 503 for each of them, anything else is
    /// a 500.
    pub fn for_waiters<T>(&self, waiters: usize) -> Vec<Result<T>> {
        let cause = |e: &anyhow::Error| anyhow::anyhow!("{e:#}");
        let copy = || match self {
            ApiError::Unavailable(e) => ApiError::Unavailable(cause(e)),
            ApiError::Internal(e) => ApiError::Internal(cause(e)),
            other => ApiError::Internal(anyhow::anyhow!("{other}")),
        };
        (0..waiters).map(|_| Err(copy())).collect()
    }

    /// What a bare error answer of the HTTP layer (one without a problem body) stands for.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest("the request is malformed".into()),
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("the body is over the size limit".into())
            }
            StatusCode::URI_TOO_LONG => ApiError::UriTooLong,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadersTooLarge,
            other => ApiError::Http(other),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Validation(_) | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Http(status) => *status,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UriTooLong => "uri-too-long",
            ApiError::HeadersTooLarge => "headers-too-large",
            ApiError::Validation(_) => "validation",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::Http(_) => "http",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Unavailable(_) => "The database is unavailable; retry later.".into(),
            ApiError::Internal(_) => "Something went wrong on our side.".into(),
            ApiError::Http(status) => format!(
                "the request was refused: {}",
                status.canonical_reason().unwrap_or("an error")
            ),
            other => other.to_string(),
        }
    }
}

/// An error, as `application/problem+json` (RFC 9457).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:warren:problem:<kind>`.
    #[serde(rename = "type")]
    kind: String,
    /// The status's reason phrase.
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for a person.
    detail: String,
    /// For 422: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
}

impl ApiError {
    /// The status and the problem+json document this error is answered with; a 5xx is
    /// logged here with its cause.
    pub fn problem(self) -> (StatusCode, Problem) {
        if let ApiError::Unavailable(cause) | ApiError::Internal(cause) = &self {
            tracing::error!(
                error = format!("{cause:#}"),
                status = self.status().as_u16(),
                "request failed"
            );
        }
        let status = self.status();
        let problem = Problem {
            kind: format!("urn:warren:problem:{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors),
                _ => None,
            },
        };
        (status, problem)
    }
}

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let (status, problem) = self.problem();
        let mut response = (status, Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

impl From<tokio_postgres::Error> for ApiError {
    /// A lost or refused connection is 503 (retry later); a query the database rejected is
    /// a bug, so 500. Constraint violations a client can cause are mapped where the query runs.
    fn from(error: tokio_postgres::Error) -> Self {
        if warren_shared::db::unavailable(&error) {
            ApiError::Unavailable(error.into())
        } else {
            ApiError::Internal(error.into())
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => ApiError::Unavailable(other.into()),
        }
    }
}

/// The name of the constraint a database error violated, if it is one.
pub fn violated_constraint(error: &tokio_postgres::Error) -> Option<&str> {
    error.as_db_error().and_then(|e| e.constraint())
}

/// A statement on one of the user's rows touched `rows` of them: none is a 404 (it does not
/// exist, or is someone else's).
pub fn found(rows: u64) -> Result<()> {
    match rows {
        0 => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

/// Parses a word the database stored (a status, a provider); one it does not know is a bug
/// (or a newer schema), so 500.
pub fn stored_word<T>(text: &str) -> Result<T>
where
    T: std::str::FromStr<Err = warren_shared::model::UnknownWord>,
{
    text.parse()
        .map_err(|e: warren_shared::model::UnknownWord| ApiError::Internal(e.into()))
}
