//! Every provider's verifier on arbitrary headers, secrets and bodies: it accepts or refuses
//! with 401, never panics (malformed base64, hex, timestamps, huge numbers, empty parts, a
//! signature header of thousands of entries, repeated headers).
#![no_main]

use arbitrary::Arbitrary;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use warren_ingest::{error::ApiError, sources::IngestSource, verify::verify};
use warren_shared::{
    model::Provider,
    signing::{MAX_SIGNATURES, candidates},
};

#[derive(Debug, Arbitrary)]
struct Request<'a> {
    provider: u8,
    secret: &'a str,
    headers: Vec<(u8, &'a str)>,
    body: &'a [u8],
}

const HEADERS: &[&str] = &[
    "stripe-signature", "x-hub-signature-256", "x-shopify-hmac-sha256", "x-signature",
    "webhook-id", "webhook-timestamp", "webhook-signature",
];

fuzz_target!(|request: Request<'_>| {
    let provider = Provider::ALL[usize::from(request.provider) % Provider::ALL.len()];
    let source = IngestSource {
        id: uuid::Uuid::nil(),
        user_id: uuid::Uuid::nil(),
        provider,
        verification_secret: Some(request.secret.to_owned()),
        rate_limit_per_sec: None,
        subscriptions: std::sync::Arc::new([]),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers {
        let name = HeaderName::from_static(HEADERS[usize::from(name) % HEADERS.len()]);
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    }
    // The signature header's parser: never more than the cap of entries is taken.
    for value in headers.get_all("webhook-signature") {
        if let Ok(value) = value.to_str() {
            let taken = candidates(value).map_or(0, Iterator::count);
            assert!(taken <= MAX_SIGNATURES);
        }
    }
    match verify(&source, &headers, request.body) {
        Ok(verified) => assert!(verified.is_none() || verified == Some(provider)),
        Err(ApiError::Unauthorized(_)) => {}
        Err(other) => panic!("verification failed with {other:?}, not a 401"),
    }
});
