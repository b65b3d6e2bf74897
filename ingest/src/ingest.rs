//! `POST /ingest/{source_token}`: where providers send events.
//!
//! The request is checked (size, JSON when it says JSON, the provider's signature on the
//! exact bytes), stored with its deliveries in one transaction, and answered `202` only once
//! that commit is durable. Envelopes are published after the commit; what the broker does not
//! confirm, the outbox relay publishes later.

use axum::{
    Json,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    context::event_store::{NewEvent, Stored},
    dispatch,
    error::{ApiError, Problem, Result},
    event_headers,
    extract::{ApiPath, body_error, is_json},
    json_body::{self, Checked, nul_error},
    state::AppState,
    verify,
};

/// The ingest route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// The answer to an accepted event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The event id.
    pub id: Uuid,
    /// How many deliveries it made.
    pub deliveries: i32,
}

/// The type given to events that name none.
pub const UNKNOWN_TYPE: &str = "unknown";

/// Receives an event from a provider. Answers 202 once it is durable.
#[utoipa::path(post, path = "/ingest/{source_token}", tag = "ingest",
    params(("source_token" = String, Path, description = "The source's token, from its ingest URL"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key, unique per source",
            max_length = 255, pattern = r"^[!-~]([\t -~]*[!-~])?$")),
    request_body(content = String, description = "Any body up to the limit; parsed when sent as JSON"),
    responses((status = 202, body = Accepted), (status = 200, body = Accepted, description = "Idempotent replay"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "The source is over its `rate_limit_per_sec`",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, body = Problem)))]
async fn ingest(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let source = state
        .sources
        .by_token(token)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Before any verification work: a flood at a source's URL costs it nothing past its limit.
    if let Some(per_sec) = source.rate_limit_per_sec {
        state.throttles.ingest(source.id, per_sec)?;
    }
    let body = body.map_err(body_error)?;
    let verified_by = verify::verify(&source, &headers, &body)?;
    let checked = parse_payload(&headers, &body, state.settings.max_json_depth)?;
    // A provider that retries sends its own id again: the same event, not a second one.
    let provider_id = verify::provider_event_id(verified_by, &headers, checked.as_ref());
    let event = NewEvent {
        user_id: source.user_id,
        source_id: Some(source.id),
        idempotency_scope: source.id,
        idempotency_key: idempotency_key(&headers)?.or(provider_id),
        json: checked.is_some(),
        event_type: event_type(&headers, source.provider, checked)?,
        content_type: header_text(&headers, header::CONTENT_TYPE.as_str()),
        headers: event_headers::kept(&headers),
        raw_body: body,
        verified_by,
        candidates: Some(source.subscriptions.clone()),
    };
    let stored = state.committer.store(event).await?;
    Ok(accepted(&state, stored).await)
}

/// Publishes what was stored and answers: 202 for a new event, 200 with
/// `Idempotent-Replayed: true` for a repeated key.
pub async fn accepted(state: &AppState, stored: Stored) -> Response {
    match stored {
        Stored::Created {
            event_id,
            deliveries,
            envelopes,
            user_id,
            received,
            held,
        } => {
            tracing::Span::current().record("event_id", tracing::field::display(event_id));
            state.metrics.events_accepted.inc();
            state.publisher.tell(user_id, "event.received", &received);
            for line in &held {
                state.publisher.tell(user_id, "delivery.held", line);
            }
            let deliveries = i32::try_from(deliveries).unwrap_or(i32::MAX);
            dispatch::publish_soon(&state.marker, &state.publisher, envelopes).await;
            (
                StatusCode::ACCEPTED,
                Json(Accepted {
                    id: event_id,
                    deliveries,
                }),
            )
                .into_response()
        }
        Stored::Replayed {
            event_id,
            deliveries,
        } => {
            let mut response = (
                StatusCode::OK,
                Json(Accepted {
                    id: event_id,
                    deliveries,
                }),
            )
                .into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    }
}

/// The body checked as JSON when the content type says JSON (see [`json_body::check`]): 400
/// when it is not JSON or nests deeper than `max_depth`, 422 when it holds `\u0000` (which
/// PostgreSQL's JSONB cannot store).
pub fn parse_payload(
    headers: &HeaderMap,
    body: &[u8],
    max_depth: usize,
) -> Result<Option<Checked>> {
    if !is_json(headers) {
        return Ok(None);
    }
    json_body::check(body, max_depth).map(Some)
}

/// Walks a JSON value once, checking its depth and that no string holds a NUL (the publish
/// API's payload, which arrives parsed).
pub fn check_json(value: &Value, max_depth: usize) -> Result<()> {
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        if depth > max_depth {
            return Err(ApiError::BadRequest(format!(
                "the JSON nests deeper than {max_depth} levels"
            )));
        }
        match value {
            Value::String(s) if s.contains('\0') => return Err(nul_error()),
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return Err(nul_error());
                }
                stack.extend(map.values().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The event type. On a source of provider `none` the `X-Event-Type` header wins, then the
/// JSON body's `type` field. On a verified source the type comes only from the provider's
/// own header (GitHub's, Shopify's), then the signed body's `type`: the unsigned
/// `X-Event-Type` never changes it. Else [`UNKNOWN_TYPE`].
fn event_type(
    headers: &HeaderMap,
    provider: warren_shared::model::Provider,
    body: Option<Checked>,
) -> Result<String> {
    use warren_shared::model::Provider;
    let from_headers = match provider {
        Provider::None => header_text(headers, "x-event-type"),
        Provider::Github => header_text(headers, "x-github-event"),
        Provider::Shopify => header_text(headers, "x-shopify-topic"),
        Provider::Stripe | Provider::StandardWebhooks | Provider::HmacSha256 => None,
    };
    let from_body = body.and_then(|b| b.event_type);
    let event_type = from_headers
        .or(from_body)
        .unwrap_or_else(|| UNKNOWN_TYPE.to_owned());
    check_event_type(&event_type)?;
    Ok(event_type)
}

/// An event type is 1 to 255 characters without control characters.
pub fn check_event_type(event_type: &str) -> Result<()> {
    let characters = event_type.chars().count();
    if !(1..=255).contains(&characters) || event_type.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "the event type must be 1 to 255 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// The `Idempotency-Key`, 1 to 255 visible characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible characters".into())
        })?;
    Ok(Some(key.to_owned()))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }

    #[test]
    fn a_body_is_parsed_only_when_sent_as_json() {
        assert_eq!(
            parse_payload(&HeaderMap::new(), b"{oops", 64).expect("not parsed"),
            None
        );
        assert!(matches!(
            parse_payload(&json_headers(), b"{oops", 64),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(
            parse_payload(&json_headers(), b"{\"type\":\"t\"}", 64).expect("parsed"),
            Some(Checked {
                event_type: Some("t".into()),
                id: None,
            })
        );
    }

    #[test]
    fn json_deeper_than_the_limit_is_refused() {
        let deep = json!({"a": {"b": {"c": [1]}}});
        assert!(check_json(&deep, 5).is_ok());
        assert!(matches!(check_json(&deep, 4), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn a_nul_anywhere_is_unprocessable() {
        assert!(matches!(
            check_json(&json!({"a": ["x\u{0}"]}), 64),
            Err(ApiError::Unprocessable(_))
        ));
        assert!(matches!(
            check_json(&json!({"k\u{0}": 1}), 64),
            Err(ApiError::Unprocessable(_))
        ));
    }

    fn typed_body() -> Option<Checked> {
        Some(Checked {
            event_type: Some("from.body".into()),
            id: None,
        })
    }

    #[test]
    fn on_a_none_source_the_event_type_header_wins_over_the_body() {
        use warren_shared::model::Provider;
        let mut headers = json_headers();
        assert_eq!(
            event_type(&headers, Provider::None, typed_body()).expect("valid"),
            "from.body"
        );
        headers.insert("x-event-type", HeaderValue::from_static("from.header"));
        assert_eq!(
            event_type(&headers, Provider::None, typed_body()).expect("valid"),
            "from.header"
        );
        assert_eq!(
            event_type(&HeaderMap::new(), Provider::None, None).expect("valid"),
            UNKNOWN_TYPE
        );
    }

    #[test]
    fn on_a_verified_source_the_event_type_header_changes_nothing() {
        use warren_shared::model::Provider;
        let mut headers = json_headers();
        headers.insert("x-event-type", HeaderValue::from_static("from.header"));
        for provider in [
            Provider::Stripe,
            Provider::StandardWebhooks,
            Provider::HmacSha256,
        ] {
            assert_eq!(
                event_type(&headers, provider, typed_body()).expect("valid"),
                "from.body"
            );
            assert_eq!(
                event_type(&headers, provider, None).expect("valid"),
                UNKNOWN_TYPE
            );
        }
        headers.insert("x-github-event", HeaderValue::from_static("push"));
        assert_eq!(
            event_type(&headers, Provider::Github, typed_body()).expect("valid"),
            "push"
        );
    }
}
