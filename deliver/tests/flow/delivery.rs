//! What a subscriber receives, and how each kind of answer is recorded.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use time::OffsetDateTime;
use warren_shared::signing::SigningSecret;
use warren_testkit::{
    eventually,
    receiver::{Received, Reply},
};

use crate::helpers::{no_extras, spawn_ingest, spawn_stack};

const WAIT: Duration = Duration::from_secs(15);

/// Runs one of the official Standard Webhooks libraries (`tests/verifiers`) on a request.
pub fn official_library_accepts(
    program: &str,
    script: &str,
    secret: &str,
    request: &Received,
) -> bool {
    verifier_accepts(program, script, json!({"secret": secret}), request)
}

/// Runs a verifier of `tests/verifiers` on a request's `webhook-*` headers and body, with
/// `input` (the key) besides; whether it exits 0.
pub fn verifier_accepts(program: &str, script: &str, input: Value, request: &Received) -> bool {
    run_verifier(program, script, &request_input(input, request))
}

/// Runs the official Python Standard Webhooks library once on every request of `requests`;
/// whether it accepted each of them.
pub fn python_library_accepts_each(secret: &str, requests: &[Received]) -> bool {
    let inputs = requests
        .iter()
        .map(|request| request_input(json!({"secret": secret}), request))
        .collect();
    run_verifier("python3", "verify.py", &Value::Array(inputs))
}

/// A verifier's input for one request: `input` with the request's signature headers and
/// its body.
fn request_input(mut input: Value, request: &Received) -> Value {
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| ((*name).to_owned(), Value::from(request.header(name))))
            .collect();
    input["headers"] = Value::Object(headers);
    input["body_base64"] = Value::from(STANDARD.encode(&request.body));
    input
}

fn run_verifier(program: &str, script: &str, input: &Value) -> bool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/verifiers");
    let mut child = Command::new(program)
        .arg(format!("{dir}/{script}"))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running {program} {script} (see README: test prerequisites): {e}")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("writing to the verifier");
    child.wait().expect("the verifier runs").success()
}

#[tokio::test]
async fn the_receiver_gets_the_exact_bytes_signed_so_the_official_libraries_accept_them() {
    let stack = spawn_stack().await;
    let sub = stack
        .subscribe(json!({"headers": {"X-Tenant": "acme"}, "max_attempts": 5, "timeout_ms": 4000}))
        .await;
    let body = "{\"type\":\"order.paid\",  \"total\": 10.50,\"note\":\"caf\u{e9}\"}";
    let event_id = stack.send(body).await;

    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.body.as_ref(), body.as_bytes(), "byte for byte");
    let delivery_id = stack.delivery_of(&event_id).await;
    assert_eq!(request.path, "/hook");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("webhook-id"), delivery_id);
    let timestamp: i64 = request
        .header("webhook-timestamp")
        .parse()
        .expect("unix seconds");
    assert!((OffsetDateTime::now_utc().unix_timestamp() - timestamp).abs() < 30);
    assert_eq!(request.header("x-warren-event-id"), event_id);
    assert_eq!(request.header("x-warren-event-type"), "order.paid");
    assert_eq!(request.header("x-warren-attempt"), "1");
    assert_eq!(request.header("x-warren-max-attempts"), "5");
    assert_eq!(
        request.header("x-timeout-ms"),
        "4000",
        "the subscription's timeout"
    );
    assert_eq!(
        request.header("user-agent"),
        format!("Warren/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(request.header("x-tenant"), "acme");

    let secret_text = sub["signing_secret"].as_str().expect("a secret");
    let secret = SigningSecret::parse(secret_text).expect("a whsec secret");
    assert!(secret.verify(
        &delivery_id,
        timestamp,
        &request.body,
        request.header("webhook-signature")
    ));
    assert!(
        official_library_accepts("python3", "verify.py", secret_text, &request),
        "Python standardwebhooks"
    );
    assert!(
        official_library_accepts("node", "verify.js", secret_text, &request),
        "JavaScript standardwebhooks"
    );
    let mut tampered = request.clone();
    tampered.body = bytes::Bytes::from(body.replace("10.50", "99.99"));
    assert!(!official_library_accepts(
        "python3",
        "verify.py",
        secret_text,
        &tampered
    ));
    assert!(!official_library_accepts(
        "node",
        "verify.js",
        secret_text,
        &tampered
    ));

    let delivery = stack.wait_status(&delivery_id, "succeeded", WAIT).await;
    let attempts = delivery["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["error_kind"], Value::Null);
    assert_eq!(
        attempts[0]["id"],
        request.header("x-request-id"),
        "x-request-id names the attempt"
    );
    assert!(attempts[0]["duration_ms"].is_number() && attempts[0]["started_at"].is_string());
}

#[tokio::test]
async fn a_payload_template_reshapes_the_body() {
    let stack = spawn_stack().await;
    stack
        .subscribe(json!({
            "payload_template": "{\"text\": {{ order.id | tojson }}, \"kind\": {{ event.type | tojson }}}"
        }))
        .await;
    stack
        .send(r#"{"type": "order.paid", "order": {"id": "ord_1"}}"#)
        .await;
    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);
    let body: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(body, json!({"text": "ord_1", "kind": "order.paid"}));
    assert_eq!(request.header("content-type"), "application/json");
}

#[tokio::test]
async fn a_template_that_renders_text_is_sent_as_text() {
    let stack = spawn_stack().await;
    stack
        .subscribe(json!({"payload_template": "Order {{ order.id }} was {% if paid %}paid{% else %}not paid{% endif %}."}))
        .await;
    stack
        .send(r#"{"order": {"id": "ord_9"}, "paid": true}"#)
        .await;
    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.body.as_ref(), b"Order ord_9 was paid.");
    assert_eq!(request.header("content-type"), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn a_template_the_event_cannot_fill_or_that_builds_too_much_is_a_failed_attempt_of_kind_template()
 {
    // The second built 100 MB of text (issue 23: warren-deliver went from 39 to 253 MB); it
    // now runs out of fuel at 12.8 MB.
    let templates = [
        ("{{ payload.missing }}", "undefined"),
        (
            r#"{{ (["x" * 100000] * 1000) | join("") | length }}"#,
            "fuel",
        ),
    ];
    for (template, error) in templates {
        let stack = spawn_stack().await;
        stack
            .subscribe(json!({"payload_template": template, "max_attempts": 1}))
            .await;
        let event_id = stack.send(r#"{"type": "order.paid"}"#).await;
        let delivery = stack
            .wait_status(&stack.delivery_of(&event_id).await, "dead", WAIT)
            .await;
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["error_kind"], "template", "{template}");
        let excerpt = attempt["response_excerpt"].as_str().unwrap_or_default();
        assert!(excerpt.contains(error), "{template}: {excerpt}");
        assert!(stack.receiver.received().is_empty());
    }
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_timeout() {
    let stack = spawn_stack().await;
    stack
        .receiver
        .always(Reply::after(Duration::from_secs(3), 200));
    stack
        .subscribe(json!({"timeout_ms": 1000, "max_attempts": 1}))
        .await;
    let event_id = stack.send("{}").await;
    let delivery = stack
        .wait_status(&stack.delivery_of(&event_id).await, "dead", WAIT)
        .await;
    let attempt = &delivery["attempts"][0];
    assert_eq!(attempt["error_kind"], "timeout");
    assert_eq!(attempt["status_code"], Value::Null);
    let duration = attempt["duration_ms"].as_i64().expect("ms");
    assert!((1000..2500).contains(&duration), "{duration} ms");
}

#[tokio::test]
async fn a_redirect_is_recorded_and_never_followed() {
    let stack = spawn_stack().await;
    stack.receiver.always(Reply::status(302));
    stack.subscribe(json!({"max_attempts": 1})).await;
    let event_id = stack.send("{}").await;
    let delivery = stack
        .wait_status(&stack.delivery_of(&event_id).await, "dead", WAIT)
        .await;
    assert_eq!(delivery["attempts"][0]["error_kind"], "redirect");
    assert_eq!(delivery["attempts"][0]["status_code"], 302);
    assert_eq!(stack.receiver.received().len(), 1);
}

#[tokio::test]
async fn a_worker_without_the_loopback_allowed_refuses_to_connect_to_it() {
    let mut stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let mut settings = stack.worker_settings();
    settings.allow_target_cidrs = Default::default();
    stack.start_worker(settings).await;
    stack.subscribe(json!({"max_attempts": 1})).await;
    // A name that resolves to a refused address is refused on the address resolved.
    let by_name = stack
        .receiver
        .url("/hook")
        .replace("127.0.0.1", "localhost");
    stack
        .api
        .create_subscription(&by_name, json!({"max_attempts": 1}))
        .await;
    let event_id = stack.send("{}").await;
    let event = eventually("both deliveries to die", WAIT, || async {
        let event = stack
            .api
            .get_json(&format!("/api/v1/events/{event_id}"))
            .await;
        let deliveries = event["deliveries"].as_array().expect("deliveries");
        deliveries
            .iter()
            .all(|d| d["status"] == "dead")
            .then_some(event)
    })
    .await;
    for delivery in event["deliveries"].as_array().expect("deliveries") {
        assert_eq!(delivery["last_error_kind"], "ssrf_blocked");
    }
    assert!(
        stack.receiver.received().is_empty(),
        "nothing reached the loopback"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let stack = spawn_stack().await;
    stack
        .api
        .create_subscription("http://127.0.0.1:9/closed", json!({"max_attempts": 1}))
        .await;
    let event_id = stack.send("{}").await;
    let delivery = stack
        .wait_status(&stack.delivery_of(&event_id).await, "dead", WAIT)
        .await;
    assert_eq!(delivery["attempts"][0]["error_kind"], "connect");
}

#[tokio::test]
async fn every_matching_subscription_gets_its_own_delivery() {
    let stack = spawn_stack().await;
    stack.subscribe(no_extras()).await;
    stack.subscribe(no_extras()).await;
    stack.subscribe(json!({"event_types": ["other.*"]})).await;
    stack.send(r#"{"type": "order.paid"}"#).await;
    let received = stack.receiver.wait_for(2, WAIT).await;
    let mut ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "two deliveries, two webhook-ids");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stack.receiver.received().len(),
        2,
        "the filtered-out subscription got nothing"
    );
}

#[tokio::test]
async fn only_the_first_16_kib_of_an_answer_is_read_and_kept() {
    let stack = spawn_stack().await;
    stack
        .receiver
        .always(Reply::with_body(500, 4 * 1024 * 1024));
    stack.subscribe(json!({"max_attempts": 1})).await;
    let event_id = stack.send("{}").await;
    let delivery = stack
        .wait_status(&stack.delivery_of(&event_id).await, "dead", WAIT)
        .await;
    let excerpt = delivery["attempts"][0]["response_excerpt"]
        .as_str()
        .expect("an excerpt");
    assert_eq!(excerpt.len(), 16 * 1024);
    assert_eq!(delivery["attempts"][0]["status_code"], 500);
}
