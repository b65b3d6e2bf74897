//! Each signing algorithm, verified by an implementation that is not Warren's (Node's own
//! crypto, `tests/verifiers/verify_node_crypto.mjs`), alone and across rotations that keep or
//! switch the kind of key.

use std::time::Duration;

use serde_json::{Value, json};
use warren_testkit::receiver::Received;

use crate::{
    delivery::{official_library_accepts, verifier_accepts},
    helpers::{Stack, spawn_stack},
};

const WAIT: Duration = Duration::from_secs(30);

/// Whether Node's crypto finds a valid signature of `algorithm` by `key` (a `whpk_` or PEM
/// public key, or a `whsec_` secret) among the request's.
fn node_crypto_accepts(algorithm: &str, key: &str, request: &Received) -> bool {
    verifier_accepts(
        "node",
        "verify_node_crypto.mjs",
        json!({"algorithm": algorithm, "key": key}),
        request,
    )
}

/// The request with one byte more in its body.
fn tampered(request: &Received) -> Received {
    let mut tampered = request.clone();
    tampered.body = format!("{} ", String::from_utf8_lossy(&request.body)).into();
    tampered
}

/// Rotates the subscription's key to one of `algorithm`; the answer.
async fn rotate(stack: &Stack, sub: &Value, algorithm: &str) -> Value {
    let id = sub["id"].as_str().expect("id");
    let response = stack
        .api
        .post(
            &format!("/api/v1/subscriptions/{id}/rotate-secret"),
            &json!({"signing_algorithm": algorithm}),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// Sends an event and returns the `n`th request the receiver got (from 1).
async fn deliver(stack: &Stack, n: usize) -> Received {
    stack
        .send(&format!(r#"{{"type": "signed", "n": {n}}}"#))
        .await;
    stack.receiver.wait_for(n, WAIT).await.remove(n - 1)
}

/// Subscribes with `algorithm`, sends an event, and checks that its request carries one
/// signature, of that kind (`tag`), which Node verifies with what the subscription shows (its
/// `whsec_` secret or its public key), and not once the body changed. The subscription and
/// that key.
async fn signed_alone(stack: &Stack, algorithm: &str, tag: &str) -> (Value, String) {
    let sub = stack
        .subscribe(json!({"signing_algorithm": algorithm}))
        .await;
    assert_eq!(sub["signing_algorithm"], algorithm);
    let shown = if algorithm.starts_with("hmac") {
        &sub["signing_secret"]
    } else {
        &sub["public_key"]
    };
    let key = shown.as_str().expect("a key to verify with").to_owned();
    let request = deliver(stack, 1).await;
    let signature = request.header("webhook-signature");
    assert!(
        signature.starts_with(&format!("{tag},")) && !signature.contains(' '),
        "{signature}"
    );
    assert!(node_crypto_accepts(algorithm, &key, &request));
    assert!(!node_crypto_accepts(algorithm, &key, &tampered(&request)));
    (sub, key)
}

fn signatures(request: &Received) -> Vec<String> {
    request
        .header("webhook-signature")
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_ed25519_subscription_signs_v1a_that_its_public_key_verifies_and_a_switch_overlaps() {
    let stack = spawn_stack().await;
    let (sub, public) = signed_alone(&stack, "ed25519", "v1a").await;

    // Switching to HMAC: during the overlap the old key's v1a and the new secret's v1 both
    // sign, each verifying alone with its own library.
    let rotated = rotate(&stack, &sub, "hmac_sha256").await;
    let secret = rotated["signing_secret"].as_str().expect("a secret");
    let request = deliver(&stack, 2).await;
    let signatures = signatures(&request);
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    assert!(signatures[0].starts_with("v1,") && signatures[1].starts_with("v1a,"));
    assert!(official_library_accepts(
        "node",
        "verify.js",
        secret,
        &request
    ));
    assert!(node_crypto_accepts("ed25519", &public, &request));
}

#[tokio::test]
async fn an_hmac_sha512_subscription_signs_v1s_with_its_whsec_secret() {
    let stack = spawn_stack().await;
    let (sub, secret) = signed_alone(&stack, "hmac_sha512", "v1s").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let request = stack.receiver.received().remove(0);
    let other = rotate(&stack, &sub, "hmac_sha512").await;
    let other = other["signing_secret"].as_str().expect("a secret");
    assert!(
        !node_crypto_accepts("hmac_sha512", other, &request),
        "another secret's HMAC does not match"
    );
}

#[tokio::test]
async fn an_rsa_subscription_signs_v1r_its_pem_verifies_through_rotations_that_keep_or_switch_it() {
    let stack = spawn_stack().await;
    let (sub, first) = signed_alone(&stack, "rsa_pss_sha256", "v1r").await;

    // A new RSA key: both keys sign during the overlap, each verifying alone.
    let rotated = rotate(&stack, &sub, "rsa_pss_sha256").await;
    assert_eq!(rotated["signing_secret"], Value::Null);
    let second = rotated["public_key"].as_str().expect("a PEM").to_owned();
    assert_ne!(second, first);
    let request = deliver(&stack, 2).await;
    let both = signatures(&request);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.iter().all(|s| s.starts_with("v1r,")), "{both:?}");
    let alone = |signature: &str| {
        let mut one = request.clone();
        one.headers.insert(
            "webhook-signature",
            signature.parse().expect("a header value"),
        );
        one
    };
    assert!(node_crypto_accepts(
        "rsa_pss_sha256",
        &second,
        &alone(&both[0])
    ));
    assert!(node_crypto_accepts(
        "rsa_pss_sha256",
        &first,
        &alone(&both[1])
    ));
    assert!(!node_crypto_accepts(
        "rsa_pss_sha256",
        &first,
        &alone(&both[0])
    ));

    // Switching to HMAC-SHA512: the last RSA key and the new secret sign side by side.
    let switched = rotate(&stack, &sub, "hmac_sha512").await;
    assert_eq!(switched["public_key"], Value::Null);
    let secret = switched["signing_secret"].as_str().expect("a secret");
    let request = deliver(&stack, 3).await;
    let both = signatures(&request);
    assert!(
        both[0].starts_with("v1s,") && both[1].starts_with("v1r,"),
        "{both:?}"
    );
    assert!(node_crypto_accepts("hmac_sha512", secret, &request));
    assert!(node_crypto_accepts("rsa_pss_sha256", &second, &request));
    assert!(!node_crypto_accepts("rsa_pss_sha256", &first, &request));
}
