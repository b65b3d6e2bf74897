//! Which of an ingest request's headers are stored with its event (the event's `headers`),
//! and how much of them.
//!
//! - Credentials are dropped: `Authorization`, `Proxy-Authorization`, `Cookie`, and every
//!   header whose name contains `auth`, `token`, `secret`, `password`, `passwd`, `session`,
//!   `credential`, `api-key`, `apikey` or `api_key` (case-insensitive). They are not ours to
//!   keep, and the event is shown to anyone holding an API key of its user.
//! - Providers' signature headers (`Stripe-Signature`, `X-Hub-Signature-256`,
//!   `X-Shopify-Hmac-Sha256`, `webhook-signature`, `X-Signature`) are kept: a MAC over that
//!   very body is no secret, it only helps to tell which secret signed an event.
//! - Each value (repeated headers joined with `, `) is kept to [`MAX_VALUE_BYTES`], cut at a
//!   character boundary and ended with [`TRUNCATED`].
//! - At most [`MAX_HEADERS`] headers and [`MAX_TOTAL_BYTES`] of names and values together
//!   are kept, in the order received; the rest are dropped.

use axum::http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

/// The most bytes of one header's value kept (before the marker).
pub const MAX_VALUE_BYTES: usize = 1024;

/// The most headers kept.
pub const MAX_HEADERS: usize = 64;

/// The most bytes of names and values kept together.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024;

/// What ends a value that was cut.
pub const TRUNCATED: &str = "…[truncated]";

/// Header names dropped whole.
const CREDENTIALS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Words that make any header whose name contains one a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "auth",
    "token",
    "secret",
    "password",
    "passwd",
    "session",
    "credential",
    "api-key",
    "apikey",
    "api_key",
];

/// The request's headers to store with its event, as a JSON object: credentials dropped,
/// values and the whole capped (see the module's documentation).
pub fn kept(headers: &HeaderMap) -> Value {
    let mut kept = Map::new();
    let mut budget = MAX_TOTAL_BYTES;
    for name in headers.keys().filter(|name| !is_credential(name)) {
        if kept.len() == MAX_HEADERS {
            break;
        }
        let value = capped(&joined(headers, name));
        let size = name.as_str().len() + value.len();
        if size > budget {
            continue;
        }
        budget -= size;
        kept.insert(name.as_str().to_owned(), Value::from(value));
    }
    Value::Object(kept)
}

/// Whether a header carries a credential. Header names are lowercase already.
fn is_credential(name: &HeaderName) -> bool {
    let name = name.as_str();
    CREDENTIALS.contains(&name) || CREDENTIAL_WORDS.iter().any(|word| name.contains(word))
}

/// Every value of `name`, joined with `, ` (bytes that are not UTF-8 replaced).
fn joined(headers: &HeaderMap, name: &HeaderName) -> String {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    values.join(", ")
}

/// `value` itself when it fits in [`MAX_VALUE_BYTES`], else its start (cut at a character
/// boundary) and [`TRUNCATED`].
fn capped(value: &str) -> String {
    if value.len() <= MAX_VALUE_BYTES {
        return value.to_owned();
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &value[..end])
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::try_from(*name).expect("a name"),
                HeaderValue::try_from(*value).expect("a value"),
            );
        }
        headers
    }

    #[test]
    fn credentials_are_dropped_and_everything_else_kept() {
        let kept = kept(&with(&[
            ("authorization", "Bearer x"),
            ("proxy-authorization", "Basic eA=="),
            ("cookie", "warren_session=x"),
            ("x-api-key", "k"),
            ("apikey", "k"),
            ("x-auth-token", "t"),
            ("x-amz-security-token", "t"),
            ("x-client-secret", "s"),
            ("x-password", "p"),
            ("x-session-id", "s"),
            ("x-goog-credential", "c"),
            ("content-type", "application/json"),
            ("idempotency-key", "k1"),
            ("stripe-signature", "t=1,v1=ab"),
            ("x-hub-signature-256", "sha256=ab"),
            ("x-multi", "a"),
            ("x-multi", "b"),
        ]));
        let names: Vec<&str> = kept
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            [
                "content-type",
                "idempotency-key",
                "stripe-signature",
                "x-hub-signature-256",
                "x-multi"
            ]
        );
        assert_eq!(kept["x-multi"], "a, b");
    }

    #[test]
    fn a_long_value_is_cut_at_a_character_boundary_with_a_marker() {
        let long = format!("a{}", "é".repeat(1000));
        let kept = kept(&with(&[("x-long", &long), ("x-short", "s")]));
        let stored = kept["x-long"].as_str().expect("text");
        let start = stored.strip_suffix(TRUNCATED).expect("the marker");
        assert_eq!(start.len(), MAX_VALUE_BYTES - 1);
        assert!(long.starts_with(start));
        assert_eq!(kept["x-short"], "s");
    }

    #[test]
    fn at_most_so_many_headers_and_bytes_are_kept() {
        let names: Vec<String> = (0..100).map(|i| format!("x-h{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        let kept_many = kept(&with(&many));
        assert_eq!(kept_many.as_object().expect("an object").len(), MAX_HEADERS);

        let big = "v".repeat(MAX_VALUE_BYTES);
        let large: Vec<(&str, &str)> = names[..30].iter().map(|n| (n.as_str(), &*big)).collect();
        let mut headers = with(&large);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let kept_large = kept(&headers);
        let total: usize = kept_large
            .as_object()
            .expect("an object")
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        assert!(total <= MAX_TOTAL_BYTES, "{total}");
        assert_eq!(kept_large.as_object().expect("an object").len(), 16);
    }
}
