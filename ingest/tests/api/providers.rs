//! Provider verification on the exact bytes received, tested against signatures made by each
//! provider's own library (`tests/verifiers/sign.mjs`), not by Warren's code.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, event_of, spawn_app};

/// Headers the provider's library signs `payload` with.
fn signed(
    provider: &str,
    secret: &str,
    payload: &str,
    timestamp: Option<i64>,
) -> Vec<(String, String)> {
    signed_as(provider, secret, payload, timestamp, None)
}

/// [`signed`], with the message id the library signs (Standard Webhooks' `webhook-id`).
fn signed_as(
    provider: &str,
    secret: &str,
    payload: &str,
    timestamp: Option<i64>,
    id: Option<&str>,
) -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/verifiers");
    let mut child = Command::new("node")
        .arg("sign.mjs")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running node tests/verifiers/sign.mjs (see scripts/test)");
    let input = json!({"provider": provider, "secret": secret, "payload": payload,
                       "timestamp": timestamp, "id": id});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("writing");
    let output = child.wait_with_output().expect("the signer runs");
    assert!(output.status.success(), "the {provider} signer failed");
    let headers: Value = serde_json::from_slice(&output.stdout).expect("headers as JSON");
    headers
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("text").to_owned()))
        .collect()
}

/// Every provider with a secret in the form its library takes.
const PROVIDERS: &[(&str, &str)] = &[
    ("stripe", "whsec_test_stripe_secret"),
    ("github", "It's a Secret to Everybody"),
    ("shopify", "shpss_a_shopify_secret"),
    (
        "standard_webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("hmac_sha256", "a generic shared secret"),
];

async fn source(api: &warren_testkit::api::ApiClient, provider: &str, secret: &str) -> String {
    let response = api
        .post(
            "/api/v1/sources",
            &json!({"name": provider, "provider": provider, "verification_secret": secret}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let source: Value = response.json().await.expect("JSON");
    TestApp::ingest_url(&source)
}

async fn post(
    api: &warren_testkit::api::ApiClient,
    url: &str,
    body: &str,
    headers: &[(String, String)],
) -> reqwest::Response {
    let mut request = api
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request.send().await.expect("sent")
}

#[tokio::test]
async fn each_provider_accepts_what_its_own_library_signs_and_records_who_verified_it() {
    let app = spawn_app().await;
    let api = app.user().await;
    for (provider, secret) in PROVIDERS {
        let url = source(&api, provider, secret).await;
        let body = format!(r#"{{"type": "{provider}.test", "n": 1}}"#);
        let response = post(&api, &url, &body, &signed(provider, secret, &body, None)).await;
        assert_eq!(response.status(), 202, "{provider}");
        let accepted: Value = response.json().await.expect("JSON");
        let event = api
            .get_json(&format!(
                "/api/v1/events/{}",
                accepted["id"].as_str().expect("id")
            ))
            .await;
        assert_eq!(event["verified_by"], *provider);
        assert_eq!(event["raw_body"], body.as_str());
    }
}

#[tokio::test]
async fn a_wrong_missing_or_tampered_signature_is_401_and_nothing_is_stored() {
    let app = spawn_app().await;
    let api = app.user().await;
    for (provider, secret) in PROVIDERS {
        let url = source(&api, provider, secret).await;
        let body = r#"{"type": "x", "amount": 100}"#;
        let headers = signed(provider, secret, body, None);
        let tampered = body.replace("100", "999");
        assert_problem(post(&api, &url, &tampered, &headers).await, 401).await;
        let other_secret = if provider.starts_with("st") {
            "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
        } else {
            "another secret"
        };
        assert_problem(
            post(
                &api,
                &url,
                body,
                &signed(provider, other_secret, body, None),
            )
            .await,
            401,
        )
        .await;
        assert_problem(post(&api, &url, body, &[]).await, 401).await;
        let mangled: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), format!("{v}garbage")))
            .collect();
        assert_problem(post(&api, &url, body, &mangled).await, 401).await;
    }
    assert_eq!(app.count("events").await, 0);
}

/// `header`'s value with `padding` extra signature entries before the real ones.
fn padded(headers: &[(String, String)], header: &str, padding: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| match k.eq_ignore_ascii_case(header) {
            true if header == "stripe-signature" => {
                let (timestamp, signatures) = v.split_once(',').expect("t=…,v1=…");
                (k.clone(), format!("{timestamp},{padding},{signatures}"))
            }
            true => (k.clone(), format!("{padding} {v}")),
            false => (k.clone(), v.clone()),
        })
        .collect()
}

#[tokio::test]
async fn a_signature_header_of_thousands_of_candidates_is_401_unchecked() {
    let app = spawn_app().await;
    let api = app.user().await;
    let body = format!(r#"{{"type": "x", "pad": "{}"}}"#, "a".repeat(20_000));
    for (provider, secret, header, entry, separator) in [
        (
            "standard_webhooks",
            PROVIDERS[3].1,
            "webhook-signature",
            "v1,",
            " ",
        ),
        ("stripe", PROVIDERS[0].1, "stripe-signature", "v1=00", ","),
    ] {
        let url = source(&api, provider, secret).await;
        let headers = signed(provider, secret, &body, None);
        let few = padded(&headers, header, &vec![entry; 15].join(separator));
        assert_eq!(
            post(&api, &url, &body, &few).await.status(),
            202,
            "{provider}: a rotation's few signatures are checked"
        );
        let many = padded(&headers, header, &vec![entry; 10_000].join(separator));
        let problem = assert_problem(post(&api, &url, &body, &many).await, 401).await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("more than 16 signatures")),
            "{provider}: {problem}"
        );
    }
    assert_eq!(
        app.count("events").await,
        2,
        "only the two rotations' events"
    );
}

#[tokio::test]
async fn a_signature_timestamped_outside_five_minutes_is_401() {
    let app = spawn_app().await;
    let api = app.user().await;
    let stale = time::OffsetDateTime::now_utc().unix_timestamp() - 301;
    let fresh = time::OffsetDateTime::now_utc().unix_timestamp() - 200;
    for (provider, secret) in [PROVIDERS[0], PROVIDERS[3]] {
        let url = source(&api, provider, secret).await;
        let body = r#"{"type": "x"}"#;
        assert_problem(
            post(
                &api,
                &url,
                body,
                &signed(provider, secret, body, Some(stale)),
            )
            .await,
            401,
        )
        .await;
        let response = post(
            &api,
            &url,
            body,
            &signed(provider, secret, body, Some(fresh)),
        )
        .await;
        assert_eq!(response.status(), 202, "{provider} within tolerance");
    }
}

#[tokio::test]
async fn stripe_accepts_any_of_several_v1_signatures() {
    let app = spawn_app().await;
    let api = app.user().await;
    let (provider, secret) = PROVIDERS[0];
    let url = source(&api, provider, secret).await;
    let body = r#"{"type": "invoice.paid"}"#;
    let header = signed(provider, secret, body, None).remove(0).1;
    let (timestamp, signature) = header.split_once(',').expect("t=…,v1=…");
    let several = format!("{timestamp},v1={},{signature}", "0".repeat(64));
    let response = post(&api, &url, body, &[("stripe-signature".into(), several)]).await;
    assert_eq!(response.status(), 202);
    let event: Value = response.json().await.expect("JSON");
    let event = api
        .get_json(&format!(
            "/api/v1/events/{}",
            event["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        event["event_type"], "invoice.paid",
        "Stripe's type comes from the body"
    );
}

#[tokio::test]
async fn github_and_shopify_events_are_typed_by_their_headers() {
    let app = spawn_app().await;
    let api = app.user().await;
    for (provider, secret, header, kind) in [
        ("github", PROVIDERS[1].1, "x-github-event", "push"),
        (
            "shopify",
            PROVIDERS[2].1,
            "x-shopify-topic",
            "orders/create",
        ),
    ] {
        let url = source(&api, provider, secret).await;
        let body = r#"{"type": "ignored"}"#;
        let mut headers = signed(provider, secret, body, None);
        headers.push((header.into(), kind.into()));
        let accepted: Value = post(&api, &url, body, &headers)
            .await
            .json()
            .await
            .expect("JSON");
        let event = api
            .get_json(&format!(
                "/api/v1/events/{}",
                accepted["id"].as_str().expect("id")
            ))
            .await;
        assert_eq!(event["event_type"], kind);
    }
}

#[tokio::test]
async fn an_unsigned_event_type_header_never_retypes_a_verified_event() {
    let app = spawn_app().await;
    let api = app.user().await;
    for (provider, secret) in PROVIDERS {
        let url = source(&api, provider, secret).await;
        let body = r#"{"type": "invoice.paid"}"#;
        let mut headers = signed(provider, secret, body, None);
        let signed_type = match *provider {
            "github" => {
                headers.push(("x-github-event".into(), "push".into()));
                "push"
            }
            "shopify" => {
                headers.push(("x-shopify-topic".into(), "orders/create".into()));
                "orders/create"
            }
            _ => "invoice.paid",
        };
        headers.push(("x-event-type".into(), "account.deleted".into()));
        let response = post(&api, &url, body, &headers).await;
        assert_eq!(response.status(), 202, "{provider}");
        let event = event_of(&api, response).await;
        assert_eq!(event["event_type"], signed_type, "{provider}");
    }
}

/// A provider's retry of one event, as that provider sends it: the body (Stripe's carries
/// its own `id`) and the headers its library signs it with, `seconds_later` than the first
/// try (each retry is signed afresh), plus the header that carries the provider's own id.
fn retry_of(
    provider: &str,
    secret: &str,
    id: &str,
    seconds_later: i64,
) -> (String, Vec<(String, String)>) {
    let body = match provider {
        "stripe" => format!(r#"{{"id": "{id}", "type": "invoice.paid", "object": "event"}}"#),
        _ => r#"{"type": "order.paid", "n": 1}"#.to_owned(),
    };
    let at = time::OffsetDateTime::now_utc().unix_timestamp() - 60 + seconds_later;
    let mut headers = signed_as(provider, secret, &body, Some(at), Some(id));
    match provider {
        "github" => headers.push(("x-github-delivery".into(), id.into())),
        "shopify" => headers.push(("x-shopify-webhook-id".into(), id.into())),
        _ => {}
    }
    (body, headers)
}

#[tokio::test]
async fn a_providers_retry_is_the_event_already_accepted_and_makes_no_second_delivery() {
    let app = spawn_app().await;
    let api = app.user().await;
    api.create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    for (provider, secret) in &PROVIDERS[..4] {
        let url = source(&api, provider, secret).await;
        let id = format!("{provider}_delivery_1");
        let (body, first) = retry_of(provider, secret, &id, 0);
        let accepted = post(&api, &url, &body, &first).await;
        assert_eq!(accepted.status(), 202, "{provider}");
        let accepted: Value = accepted.json().await.expect("JSON");

        let (body, again) = retry_of(provider, secret, &id, 30);
        let replayed = post(&api, &url, &body, &again).await;
        assert_eq!(replayed.status(), 200, "{provider}'s retry");
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
        let replayed: Value = replayed.json().await.expect("JSON");
        assert_eq!(replayed, accepted, "{provider}: the original answer");

        // The same id with another body is not a retry: refused, like a reused key.
        let other = body.replace("paid", "failed");
        let headers = signed_as(provider, secret, &other, None, Some(&id));
        let headers: Vec<_> = again
            .iter()
            .filter(|(name, _)| !headers.iter().any(|(n, _)| n == name))
            .cloned()
            .chain(headers.iter().cloned())
            .collect();
        assert_problem(post(&api, &url, &other, &headers).await, 422).await;
    }
    assert_eq!(app.count("events").await, 4, "one event per provider");
    assert_eq!(app.count("deliveries").await, 4, "each delivered once");
}

#[tokio::test]
async fn an_idempotency_key_wins_over_the_providers_own_id() {
    let app = spawn_app().await;
    let api = app.user().await;
    let (provider, secret) = PROVIDERS[3];
    let url = source(&api, provider, secret).await;
    let (body, headers) = retry_of(provider, secret, "msg_same", 0);
    assert_eq!(post(&api, &url, &body, &headers).await.status(), 202);
    let mut keyed = headers.clone();
    keyed.push(("idempotency-key".into(), "my-own-key".into()));
    assert_eq!(
        post(&api, &url, &body, &keyed).await.status(),
        202,
        "another key: another event"
    );
    assert_eq!(app.count("events").await, 2);
}
