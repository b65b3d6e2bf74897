//! The ingest request parser on arbitrary bodies and content types: it answers or refuses,
//! never panics, and it accepts exactly what parses as JSON, holds no `\u0000` and nests no
//! deeper than the limit (so PostgreSQL can store it), finding the same top-level `type`.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[&str] = &["application/json", "application/cloudevents+json", "text/plain", "application/json; charset=utf-8"];

fuzz_target!(|input: (u8, &[u8])| {
    let (choice, body) = input;
    let mut headers = HeaderMap::new();
    let content_type = CONTENT_TYPES[usize::from(choice) % CONTENT_TYPES.len()];
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let Ok(checked) = warren_ingest::ingest::parse_payload(&headers, body, 16) else {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            assert!(
                warren_ingest::ingest::check_json(&value, 16).is_err(),
                "refused a body that parses, nests within the limit and holds no NUL"
            );
        }
        return;
    };
    let Some(checked) = checked else { return };
    let value: serde_json::Value = serde_json::from_slice(body).expect("accepted only what parses");
    assert!(warren_ingest::ingest::check_json(&value, 16).is_ok());
    assert!(!has_nul(&value), "an accepted body holds a NUL, which JSONB cannot store");
    assert_eq!(checked.event_type.as_deref(), value.get("type").and_then(|t| t.as_str()));
    assert_eq!(checked.id.as_deref(), value.get("id").and_then(|t| t.as_str()));
});

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
