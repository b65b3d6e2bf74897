//! Provider signature verification, on the exact bytes received.
//!
//! Secrets are used as each provider's own library uses them: Stripe HMACs with the whole
//! secret string (`whsec_` included); Standard Webhooks base64-decodes what follows `whsec_`;
//! GitHub, Shopify and `hmac_sha256` use the secret's UTF-8 bytes. Every comparison is
//! constant-time (`Mac::verify_slice`). A missing signature is refused like a wrong one.

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use warren_shared::{
    model::Provider,
    signing::{self, MAX_SIGNATURES, SigningSecret},
};

use crate::{error::ApiError, json_body::Checked, sources::IngestSource};

/// How far a signed timestamp may be from now (Stripe's and Standard Webhooks' default).
const TOLERANCE_SECS: i64 = 300;

/// Checks the request's signature for the source's provider; returns the provider that
/// verified it (`None` for provider `none`).
pub fn verify(
    source: &IngestSource,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Provider>, ApiError> {
    if source.provider == Provider::None {
        return Ok(None);
    }
    let secret = source
        .verification_secret
        .as_deref()
        .ok_or_else(|| refused("the source has no verification secret"))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let verified = match source.provider {
        Provider::Stripe => stripe(secret, header(headers, "stripe-signature")?, body, now),
        Provider::Github => github(secret, header(headers, "x-hub-signature-256")?, body),
        Provider::Shopify => shopify(secret, header(headers, "x-shopify-hmac-sha256")?, body),
        Provider::HmacSha256 => hmac_sha256(secret, header(headers, "x-signature")?, body),
        Provider::StandardWebhooks => standard_webhooks(secret, headers, body, now),
        Provider::None => Ok(()),
    };
    verified.map(|()| Some(source.provider))
}

/// The provider's own id of a verified event, which its retries repeat: Stripe's event `id`
/// (in the body), GitHub's `X-GitHub-Delivery`, Shopify's `X-Shopify-Webhook-Id`, Standard
/// Webhooks' `webhook-id`. `None` for an unverified event, a provider without one, or an id
/// that is not 1 to 255 visible characters (such an event is simply not deduplicated).
pub fn provider_event_id(
    verified_by: Option<Provider>,
    headers: &HeaderMap,
    body: Option<&Checked>,
) -> Option<String> {
    let id = match verified_by? {
        Provider::Stripe => body?.id.clone()?,
        Provider::Github => header(headers, "x-github-delivery").ok()?.to_owned(),
        Provider::Shopify => header(headers, "x-shopify-webhook-id").ok()?.to_owned(),
        Provider::StandardWebhooks => header(headers, "webhook-id").ok()?.to_owned(),
        Provider::HmacSha256 | Provider::None => return None,
    };
    let id = id.trim();
    let usable = !id.is_empty() && id.len() <= 255 && !id.chars().any(char::is_control);
    usable.then(|| id.to_owned())
}

fn refused(why: &str) -> ApiError {
    ApiError::Unauthorized(format!("signature verification failed: {why}"))
}

/// A signature header of more entries than any rotation needs: refused before any is checked.
fn too_many() -> ApiError {
    refused(&format!(
        "the signature header holds more than {MAX_SIGNATURES} signatures"
    ))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused(&format!("the `{name}` header is missing")))
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length")
}

fn check_mac(mac: Hmac<Sha256>, expected: Option<Vec<u8>>) -> Result<(), ApiError> {
    let expected = expected.ok_or_else(|| refused("the signature is malformed"))?;
    mac.verify_slice(&expected)
        .map_err(|_| refused("the signature does not match"))
}

fn within_tolerance(timestamp: i64, now: i64) -> Result<(), ApiError> {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(refused("the timestamp is outside the 5 minute tolerance"));
    }
    Ok(())
}

/// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` over `<t>.<body>`.
fn stripe(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), ApiError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| refused("the signature has no timestamp"))?;
    if signatures.is_empty() {
        return Err(refused("the signature has no v1 entry"));
    }
    if signatures.len() > MAX_SIGNATURES {
        return Err(too_many());
    }
    within_tolerance(timestamp, now)?;
    let mut signed = mac(secret.as_bytes());
    signed.update(timestamp.to_string().as_bytes());
    signed.update(b".");
    signed.update(body);
    any_matches(&signed, signatures.iter().map(|s| hex::decode(s).ok()))
}

/// `X-Hub-Signature-256: sha256=<hex>` over the body.
fn github(secret: &str, header: &str, body: &[u8]) -> Result<(), ApiError> {
    let expected = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok());
    let mut signed = mac(secret.as_bytes());
    signed.update(body);
    check_mac(signed, expected)
}

/// `X-Shopify-Hmac-Sha256: <base64>` over the body.
fn shopify(secret: &str, header: &str, body: &[u8]) -> Result<(), ApiError> {
    let mut signed = mac(secret.as_bytes());
    signed.update(body);
    check_mac(signed, STANDARD.decode(header.trim()).ok())
}

/// `X-Signature: sha256=<hex>` over the body.
fn hmac_sha256(secret: &str, header: &str, body: &[u8]) -> Result<(), ApiError> {
    github(secret, header, body)
}

/// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> [v1,<base64>…]`.
fn standard_webhooks(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), ApiError> {
    let secret = SigningSecret::parse(secret)
        .map_err(|_| refused("the source's secret is not a whsec_ secret"))?;
    let id = header(headers, "webhook-id")?;
    let timestamp: i64 = header(headers, "webhook-timestamp")?
        .parse()
        .map_err(|_| refused("webhook-timestamp is not a number"))?;
    let signature = header(headers, "webhook-signature")?;
    if signing::candidates(signature).is_none() {
        return Err(too_many());
    }
    within_tolerance(timestamp, now)?;
    if secret.verify(id, timestamp, body, signature) {
        Ok(())
    } else {
        Err(refused("the signature does not match"))
    }
}

fn any_matches(
    signed: &Hmac<Sha256>,
    candidates: impl Iterator<Item = Option<Vec<u8>>>,
) -> Result<(), ApiError> {
    let mut result = Err(refused("the signature does not match"));
    for candidate in candidates.flatten() {
        if signed.clone().verify_slice(&candidate).is_ok() {
            result = Ok(());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn hex_mac(key: &[u8], parts: &[&[u8]]) -> String {
        let mut m = mac(key);
        for part in parts {
            m.update(part);
        }
        hex::encode(m.finalize().into_bytes())
    }

    /// GitHub's documented example ("Validating webhook deliveries").
    #[test]
    fn github_accepts_its_documented_example() {
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github("It's a Secret to Everybody", header, b"Hello, World!").is_ok());
        assert!(github("It's a Secret to Everybody", header, b"Hello, World?").is_err());
        assert!(github("It's a Secret to Everybody", "757107ea", b"Hello, World!").is_err());
    }

    #[test]
    fn stripe_accepts_any_v1_within_tolerance_with_the_whole_secret_as_key() {
        let secret = "whsec_test_secret";
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_700_000_000;
        let good = hex_mac(secret.as_bytes(), &[b"1700000000.", body]);
        let header = format!("t=1700000000,v1={},v1={good}", "00".repeat(32));
        assert!(stripe(secret, &header, body, now).is_ok());
        assert!(
            stripe(secret, &header, body, now + 301).is_err(),
            "outside tolerance"
        );
        assert!(
            stripe(secret, &format!("v1={good}"), body, now).is_err(),
            "no timestamp"
        );
        assert!(
            stripe("whsec_other", &header, body, now).is_err(),
            "wrong secret"
        );
    }

    #[test]
    fn shopify_compares_base64() {
        let mut m = mac(b"shpss_secret");
        m.update(b"{}");
        let header = STANDARD.encode(m.finalize().into_bytes());
        assert!(shopify("shpss_secret", &header, b"{}").is_ok());
        assert!(shopify("shpss_secret", &header, b"{ }").is_err());
        assert!(shopify("shpss_secret", "not base64!", b"{}").is_err());
    }

    #[test]
    fn standard_webhooks_checks_the_reference_vector_and_the_tolerance() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "webhook-id",
            HeaderValue::from_static("msg_p5jXN8AQM9LWM0D4loKWxJek"),
        );
        headers.insert("webhook-timestamp", HeaderValue::from_static("1614265330"));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_static(
                "v1,bm9ldHZhbGlk v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        );
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert!(standard_webhooks(secret, &headers, body, 1_614_265_330).is_ok());
        assert!(standard_webhooks(secret, &headers, body, 1_614_265_330 + 600).is_err());
        headers.remove("webhook-signature");
        assert!(standard_webhooks(secret, &headers, body, 1_614_265_330).is_err());
    }
}
