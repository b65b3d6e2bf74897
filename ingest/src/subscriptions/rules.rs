//! The rules a subscription's settings follow beyond their lengths and ranges (garde's
//! custom validators).

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};
use serde_json::Value;
use warren_shared::{ssrf::SsrfGuard, template};

/// An exact type or a prefix ending in `*`: no blanks, `*` only at the end.
pub(super) fn event_type_pattern(value: &str, _: &SsrfGuard) -> garde::Result {
    let body = value.strip_suffix('*').unwrap_or(value);
    if value.is_empty() || value.chars().count() > 255 {
        return Err(garde::Error::new("must be 1 to 255 characters"));
    }
    if body.contains('*') || value.chars().any(char::is_whitespace) {
        return Err(garde::Error::new(
            "must be a type or a prefix ending in `*`, without spaces",
        ));
    }
    Ok(())
}

/// A payload template minijinja can render.
pub(super) fn check_template(value: &str, _: &SsrfGuard) -> garde::Result {
    template::check(value).map_err(|e| garde::Error::new(e.to_string()))
}

/// Headers Warren sets itself; a subscription cannot override them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
    "x-request-id",
];

pub(super) fn custom_headers(headers: &BTreeMap<String, String>, _: &SsrfGuard) -> garde::Result {
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(garde::Error::new(format!(
                "`{name}` is not a valid header name"
            )));
        }
        if RESERVED_HEADERS.contains(&lower.as_str())
            || lower.starts_with("webhook-")
            || lower.starts_with("x-warren-")
        {
            return Err(garde::Error::new(format!(
                "`{name}` is set by Warren and cannot be overridden"
            )));
        }
        if value.chars().count() > 4096 || HeaderValue::from_str(value).is_err() {
            return Err(garde::Error::new(format!(
                "the value of `{name}` is not a valid header value"
            )));
        }
    }
    Ok(())
}

/// Most bytes a payload filter takes as JSON: matching costs at most this much per event.
pub const MAX_FILTER_BYTES: usize = 4096;

/// A payload filter: absent, or a JSON object of at most [`MAX_FILTER_BYTES`].
pub(super) fn payload_filter(filter: &Option<Value>, _: &SsrfGuard) -> garde::Result {
    match filter {
        None => Ok(()),
        Some(Value::Object(_)) if filter_size(filter) <= MAX_FILTER_BYTES => Ok(()),
        Some(Value::Object(_)) => Err(garde::Error::new(format!(
            "must be at most {MAX_FILTER_BYTES} bytes as JSON"
        ))),
        Some(_) => Err(garde::Error::new(
            "must be a JSON object (the payload must contain it) or null",
        )),
    }
}

fn filter_size(filter: &Option<Value>) -> usize {
    serde_json::to_vec(filter).map_or(usize::MAX, |json| json.len())
}
