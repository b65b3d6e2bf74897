//! The ingest request parser on arbitrary bodies and content types: it answers or refuses,
//! never panics, and whatever it accepts as JSON holds no `\u0000` and nests no deeper than
//! the limit (so PostgreSQL can store it).
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[&str] = &["application/json", "application/cloudevents+json", "text/plain", "application/json; charset=utf-8"];

fuzz_target!(|input: (u8, &[u8])| {
    let (choice, body) = input;
    let mut headers = HeaderMap::new();
    let content_type = CONTENT_TYPES[usize::from(choice) % CONTENT_TYPES.len()];
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(Some(payload)) = warren_ingest::ingest::parse_payload(&headers, body, 16) {
        assert!(warren_ingest::ingest::check_json(&payload, 16).is_ok());
        assert!(!has_nul(&payload), "an accepted body holds a NUL, which JSONB cannot store");
    }
});

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
