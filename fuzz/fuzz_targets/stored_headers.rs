//! What an ingest request's headers become when stored with its event, on arbitrary names,
//! values and repeats: never a credential, never more than the caps, each value whole or cut
//! at a character boundary with the marker, never a panic.
#![no_main]

use arbitrary::Arbitrary;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use warren_ingest::event_headers::{MAX_HEADERS, MAX_TOTAL_BYTES, MAX_VALUE_BYTES, TRUNCATED, kept};

#[derive(Debug, Arbitrary)]
struct Request<'a> {
    headers: Vec<(&'a str, &'a [u8])>,
}

fuzz_target!(|request: Request<'_>| {
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let stored = kept(&headers);
    let stored = stored.as_object().expect("an object");
    assert!(stored.len() <= MAX_HEADERS);
    let mut total = 0;
    for (name, value) in stored {
        for word in ["authorization", "cookie", "token", "secret", "password", "api-key"] {
            assert!(!name.contains(word), "{name} kept");
        }
        let value = value.as_str().expect("text");
        let body = value.strip_suffix(TRUNCATED).unwrap_or(value);
        assert!(body.len() <= MAX_VALUE_BYTES, "{name}: {} bytes", body.len());
        total += name.len() + value.len();
    }
    assert!(total <= MAX_TOTAL_BYTES);
});
