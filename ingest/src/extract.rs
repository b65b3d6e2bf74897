//! Request extractors whose every rejection is a problem+json answer, and which refuse text
//! PostgreSQL cannot store (a `\u0000`) with a 422 naming the field or query parameter.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{
        ConnectInfo, FromRequest, FromRequestParts, Path, RawPathParams, Request,
        rejection::BytesRejection,
    },
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    error::{ApiError, FieldError},
    validation::{NUL_MESSAGE, field_with_nul},
};

/// A JSON body: 400 when it is not JSON or not sent as JSON, 413 when too large, 422 naming
/// the field when a field is missing or of the wrong type.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest(
                "send the body as `application/json`".into(),
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&body).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty body, or `null`, is `T::default()`; a body of
/// only whitespace is not JSON, so it is a 400 like any other.
/// 413 when too large; otherwise as [`ApiJson`], whatever the content type says.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state).await.map_err(body_error)?;
        if body.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        parse_json::<Option<T>>(&body).map(|value| OptionalJson(value.unwrap_or_default()))
    }
}

/// Parses a JSON document into `T`, telling syntax errors (400) from shape errors (422); a
/// string anywhere in it that holds `\u0000` is a 422 naming the top-level field it is in.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if value.is_array() {
        // serde would read a struct from an array, field by field in order.
        return Err(ApiError::Unprocessable(
            "the body must be a JSON object".into(),
        ));
    }
    let parsed = serde_path_to_error::deserialize(&value).map_err(|error| {
        let message = clean_message(error.inner());
        let path = error.path().to_string();
        let field = match path.split(['.', '[']).next() {
            Some(field) if !field.is_empty() && field != "?" => field.to_owned(),
            _ => missing_field(&message).unwrap_or_default(),
        };
        ApiError::Validation(vec![FieldError::new(field, message)])
    })?;
    match field_with_nul(&value) {
        Some(field) => Err(ApiError::field(&field, NUL_MESSAGE)),
        None => Ok(parsed),
    }
}

/// The field a "missing field `name`" message is about.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// serde's message without its " at line 1 column 9" tail, which means nothing to a form.
fn clean_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// Maps a failure to read the body: over the limit is 413, not there by the body deadline
/// 408, anything else 400.
pub fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the body is over the size limit".into())
    } else if timed_out(&rejection) {
        ApiError::RequestTimeout("the body did not arrive in time".into())
    } else {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// Whether the body failed because the body deadline (`RequestBodyDeadlineLayer`) passed.
fn timed_out(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Whether the request says its body is JSON (`application/json` or `…+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Query parameters: 400 naming the parameter when one does not parse.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let parsed = serde_urlencoded_from_str(query)?;
        match parameter_with_nul(query) {
            Some(name) => Err(ApiError::field(&name, NUL_MESSAGE)),
            None => Ok(ApiQuery(parsed)),
        }
    }
}

/// The first query parameter whose name or value holds `\u0000`, once decoded.
fn parameter_with_nul(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.into_owned())
}

/// Path parameters: a value that does not parse (a path id that is not a UUID) or that holds
/// `\u0000` names nothing that exists, so 404.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        if raw.iter().any(|(_, value)| value.contains('\0')) {
            return Err(ApiError::NotFound);
        }
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::NotFound)
    }
}

/// The client's address, as the connection gives it (`serve::serve` puts it on every
/// request); `None` where no connection told it. A proxy in front makes it the proxy's.
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(ClientAddress(peer.map(|ConnectInfo(peer)| peer.ip())))
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(&format!("/?{query}").parse().map_err(|_| bad_query())?)
        .map(|q| q.0)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

fn bad_query() -> ApiError {
    ApiError::BadRequest("the query string is malformed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        timeout_ms: Option<i32>,
    }

    #[test]
    fn a_syntax_error_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Input>(b"{\"name\": "),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let Err(ApiError::Validation(errors)) =
            parse_json::<Input>(br#"{"name": "n", "timeout_ms": "x"}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "timeout_ms");
        assert!(!errors[0].message.contains("line"));
    }

    #[test]
    fn a_nul_anywhere_names_the_top_level_field() {
        let Err(ApiError::Validation(errors)) =
            parse_json::<Input>(br#"{"name": "n", "extra": {"a": ["\u0000"]}}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "extra");
        assert_eq!(
            parameter_with_nul("limit=5&event_type=a%00b").as_deref(),
            Some("event_type")
        );
        assert_eq!(parameter_with_nul("limit=5&event_type=ab"), None);
    }

    #[test]
    fn a_missing_field_is_named() {
        let Err(ApiError::Validation(errors)) = parse_json::<Input>(b"{}") else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "name");
    }

    #[test]
    fn json_content_types_are_recognized() {
        let mut headers = HeaderMap::new();
        for (value, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/cloudevents+json", true),
            ("text/plain", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().expect("a header value"));
            assert_eq!(is_json(&headers), json, "{value}");
        }
    }
}
