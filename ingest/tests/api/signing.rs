//! What the API shows of each kind of signing key (`signing_algorithm`), and rotations that
//! keep the kind or go from any kind to any other. The signatures themselves are checked
//! where deliveries are made (`deliver/tests/flow/signatures.rs`).

use std::{
    io::Write,
    process::{Command, Stdio},
};

use serde_json::{Value, json};
use warren_testkit::api::ApiClient;

use crate::helpers::{assert_problem, error_fields, spawn_app};

const ALGORITHMS: [&str; 4] = ["hmac_sha256", "hmac_sha512", "ed25519", "rsa_pss_sha256"];

/// The modulus length Node's crypto (OpenSSL) reads from a PEM public key, or nothing.
fn modulus_bits_by_node(pem: &str) -> String {
    let script = "let pem = ''; process.stdin.on('data', (c) => (pem += c)); \
        process.stdin.on('end', () => console.log(require('node:crypto').createPublicKey(pem).asymmetricKeyDetails.modulusLength));";
    let mut child = Command::new("node")
        .args(["-e", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (see README: test prerequisites)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("writing the key");
    let output = child.wait_with_output().expect("node ends");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A subscription, or a rotation's answer, shows a key of `algorithm` the way receivers
/// verify with it: the `whsec_` secret for HMAC, the `whpk_` key for Ed25519, a 2048-bit PEM
/// public key for RSA; and never any of Warren's private key forms.
fn assert_shows(algorithm: &str, answer: &Value) {
    assert_eq!(answer["signing_algorithm"], algorithm);
    let (secret, public) = (&answer["signing_secret"], &answer["public_key"]);
    match algorithm {
        "hmac_sha256" | "hmac_sha512" => {
            let secret = secret.as_str().expect("a secret");
            assert!(secret.starts_with("whsec_"), "{algorithm}: {secret}");
            assert_eq!(public, &Value::Null, "{algorithm}");
        }
        "ed25519" => {
            assert_eq!(secret, &Value::Null);
            assert!(
                public.as_str().is_some_and(|p| p.starts_with("whpk_")),
                "{public}"
            );
        }
        _ => {
            assert_eq!(secret, &Value::Null);
            let pem = public.as_str().expect("a PEM");
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
            assert!(
                pem.trim_end().ends_with("-----END PUBLIC KEY-----"),
                "{pem}"
            );
            assert_eq!(modulus_bits_by_node(pem), "2048");
        }
    }
    let text = answer.to_string();
    for private in ["whrsk_", "whsk_", "hmac_sha512:", "PRIVATE KEY"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
}

/// POSTs a rotation with `body`; the answer, which must be a 200.
async fn rotate(api: &ApiClient, id: &str, body: Value) -> Value {
    let response = api
        .post(&format!("/api/v1/subscriptions/{id}/rotate-secret"), &body)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn each_kind_of_key_shows_what_receivers_verify_with_and_never_a_private_key() {
    let app = spawn_app().await;
    let api = app.user().await;
    let default = api
        .create_subscription("https://example.com/default", json!({}))
        .await;
    assert_shows("hmac_sha256", &default);
    for algorithm in ALGORITHMS {
        let sub = api
            .create_subscription(
                &format!("https://example.com/{algorithm}"),
                json!({"signing_algorithm": algorithm}),
            )
            .await;
        assert_shows(algorithm, &sub);
        let id = sub["id"].as_str().expect("id");
        let read = api.get_json(&format!("/api/v1/subscriptions/{id}")).await;
        assert_shows(algorithm, &read);
        assert_eq!(
            (&read["signing_secret"], &read["public_key"]),
            (&sub["signing_secret"], &sub["public_key"])
        );
    }
    let list = api.get_json("/api/v1/subscriptions").await;
    let listed = list["data"].as_array().expect("a list");
    assert_eq!(listed.len(), 5);
    for sub in listed {
        assert_shows(sub["signing_algorithm"].as_str().expect("a kind"), sub);
    }
}

#[tokio::test]
async fn a_rotation_keeps_the_kind_unless_asked_goes_from_any_kind_to_any_other_and_refuses_an_unknown_one()
 {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("https://example.com/a", json!({}))
        .await;
    let id = sub["id"].as_str().expect("id");
    let mut last = sub.clone();
    let steps = [
        None,
        Some("hmac_sha512"),
        None,
        Some("rsa_pss_sha256"),
        None,
        Some("ed25519"),
        Some("ed25519"),
        Some("hmac_sha256"),
        Some("rsa_pss_sha256"),
        Some("hmac_sha512"),
    ];
    for wanted in steps {
        let body = wanted.map_or(json!({}), |a| json!({"signing_algorithm": a}));
        let rotated = rotate(&api, id, body).await;
        let kind = wanted.unwrap_or(last["signing_algorithm"].as_str().expect("a kind"));
        assert_shows(kind, &rotated);
        let key = |answer: &Value| {
            (
                answer["signing_secret"].clone(),
                answer["public_key"].clone(),
            )
        };
        assert_ne!(key(&rotated), key(&last), "a new key each time");
        let read = api.get_json(&format!("/api/v1/subscriptions/{id}")).await;
        assert_shows(kind, &read);
        assert_eq!(key(&read), key(&rotated));
        last = rotated;
    }

    for unknown in ["rsa", "hmac_sha384", "RSA_PSS_SHA256", "rsa_pss_sha512", ""] {
        let response = api
            .post(
                "/api/v1/subscriptions",
                &json!({"name": "b", "target_url": "https://example.com/b", "signing_algorithm": unknown}),
            )
            .await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), ["signing_algorithm"], "{unknown}");
        let response = api
            .post(
                &format!("/api/v1/subscriptions/{id}/rotate-secret"),
                &json!({"signing_algorithm": unknown}),
            )
            .await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), ["signing_algorithm"], "{unknown}");
    }
    let list = api.get_json("/api/v1/subscriptions").await;
    let listed = list["data"].as_array().expect("a list");
    assert_eq!(listed.len(), 1, "nothing created");
    assert_eq!(
        listed[0]["signing_secret"], last["signing_secret"],
        "the key unchanged"
    );
}
