//! Owners told by the worker's own doings: a circuit that opens and closes again, a
//! subscription disabled by a 410, deliveries that die — each reaching a webhook channel
//! signed with its secret, without a storm.

use std::time::Duration;

use serde_json::{Value, json};
use warren_deliver::config::Settings as WorkerSettings;
use warren_testkit::receiver::{Received, Reply, TestReceiver};

use crate::{
    delivery::official_library_accepts,
    helpers::{Stack, spawn_ingest_notifying},
};

const WAIT: Duration = Duration::from_secs(20);

/// Ingest sending every 100 ms with `interval` as the least time between two notifications
/// of a kind; a worker configured by `worker`, with the same interval; and a webhook
/// channel taking `types`, on a receiver of its own.
async fn notifying_stack(
    interval_secs: u64,
    worker: impl FnOnce(&mut WorkerSettings),
    types: Value,
) -> (Stack, TestReceiver, Value) {
    let mut stack = spawn_ingest_notifying(warren_testkit::broker::TEST_SCHEDULE, |s| {
        s.notify_poll_ms = 100;
        s.notify_min_interval_secs = interval_secs;
    })
    .await;
    let mut settings = stack.worker_settings();
    settings.notify_min_interval_secs = interval_secs;
    worker(&mut settings);
    stack.start_worker(settings).await;
    let inbox = TestReceiver::start().await;
    let response = stack
        .api
        .post(
            "/api/v1/notification-channels",
            &json!({"name": "on-call", "kind": "webhook", "target_url": inbox.url("/told"), "types": types}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let channel: Value = response.json().await.expect("JSON");
    (stack, inbox, channel)
}

fn body(request: &Received) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON notification")
}

async fn send_events(stack: &Stack, n: usize) {
    for i in 0..n {
        stack
            .send(&format!(r#"{{"type": "order.paid", "n": {i}}}"#))
            .await;
    }
}

#[tokio::test]
async fn a_webhook_channel_is_told_signed_when_a_circuit_opens_and_when_it_closes_again() {
    let (stack, inbox, channel) = notifying_stack(
        600,
        |w| {
            w.circuit_failures = 2;
            w.circuit_recovery_ms = 500;
            w.circuit_successes = 1;
        },
        json!(["subscription.circuit_opened", "subscription.recovered"]),
    )
    .await;
    stack.receiver.sequence(
        vec![Reply::status(500), Reply::status(500)],
        Reply::status(200),
    );
    let subscription = stack.subscribe(json!({"max_attempts": 5})).await;

    send_events(&stack, 2).await;

    let told = inbox.wait_for(2, WAIT).await;
    let opened = body(&told[0]);
    assert_eq!(opened["type"], "subscription.circuit_opened");
    assert_eq!(opened["subscription"]["id"], subscription["id"]);
    assert_eq!(opened["subscription"]["name"], subscription["name"]);
    assert_eq!(
        opened["subscription"]["target_url"],
        subscription["target_url"]
    );
    assert_eq!(opened["data"]["consecutive_failures"], 2);
    assert_eq!(opened["data"]["count"], 1);
    assert_eq!(
        told[0].header("webhook-id"),
        opened["id"].as_str().unwrap_or_default()
    );
    let secret = channel["signing_secret"].as_str().expect("a secret");
    assert!(
        official_library_accepts("python3", "verify.py", secret, &told[0]),
        "the official library verifies it with the channel's secret"
    );
    let recovered = body(&told[1]);
    assert_eq!(recovered["type"], "subscription.recovered");
    assert_eq!(recovered["data"]["reason"], "circuit_closed");
    assert_eq!(recovered["subscription"]["id"], subscription["id"]);
}

#[tokio::test]
async fn a_410_disables_the_subscription_and_its_owner_is_told_once() {
    let (stack, inbox, _) = notifying_stack(600, |_| {}, json!([])).await;
    stack.receiver.always(Reply::status(410));
    let subscription = stack.subscribe(json!({"max_attempts": 1})).await;

    send_events(&stack, 3).await;

    let told = inbox.wait_for(1, WAIT).await;
    let disabled = body(&told[0]);
    assert_eq!(disabled["type"], "subscription.disabled");
    assert_eq!(disabled["subscription"]["id"], subscription["id"]);
    assert!(
        disabled["data"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("410")),
        "{disabled}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let listed = stack.api.get_json("/api/v1/notifications").await;
    let disablings: Vec<&Value> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|n| n["type"] == "subscription.disabled")
        .collect();
    assert_eq!(disablings.len(), 1, "{listed}");
    assert_eq!(
        disablings[0]["data"]["count"], 1,
        "disabled once, told once"
    );
}

#[tokio::test]
async fn many_deaths_make_one_notification_then_a_digest_with_the_count() {
    let (stack, inbox, _) = notifying_stack(
        2,
        |w| {
            w.circuit_failures = 1_000;
            w.disable_after_failures = 1_000;
        },
        json!(["delivery.dead"]),
    )
    .await;
    stack.receiver.always(Reply::status(500));
    stack.subscribe(json!({"max_attempts": 1})).await;

    send_events(&stack, 6).await;

    let first = body(&inbox.wait_for(1, WAIT).await[0]);
    assert_eq!(first["type"], "delivery.dead");
    assert_eq!(first["data"]["count"], 1);
    assert_eq!(first["data"]["attempts"], 1);
    assert_eq!(first["data"]["status_code"], 500);
    assert!(first["data"]["delivery_id"].is_string(), "{first}");
    let told = inbox.wait_for(2, WAIT).await;
    assert!(
        told[1].at - told[0].at >= Duration::from_millis(1_500),
        "the second waited for the interval"
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let counts: Vec<u64> = inbox
        .received()
        .iter()
        .map(|r| body(r)["data"]["count"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        6,
        "every death counted: {counts:?}"
    );
    assert!(counts.len() <= 3, "no storm: {counts:?}");
    assert_eq!(
        counts[1], 5,
        "the deaths held back, as one digest: {counts:?}"
    );
}
