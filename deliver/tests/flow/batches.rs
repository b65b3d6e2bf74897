//! Batch subscriptions: JSON events grouped into signed requests of up to `max_events`, sent
//! when full or after `max_wait_ms`; each delivery recorded with the request's outcome and
//! retried alone in later batches; a non-JSON event sent by itself; a `kill -9` of the worker
//! holding a half-full batch loses nothing.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures_util::StreamExt;
use serde_json::{Value, json};
use warren_testkit::{
    eventually,
    live::LiveClient,
    receiver::{Received, Reply},
};

use crate::{
    delivery::python_library_accepts_each,
    helpers::{Stack, spawn_ingest},
};

const WAIT: Duration = Duration::from_secs(30);

/// Ingest, a batch subscription to the receiver's `/hook` (with `extra` fields), and a worker
/// whose prefetch leaves room for batches of 100.
async fn batch_stack(batch: Value, extra: Value) -> (Stack, Value) {
    let mut stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let mut fields = json!({"batch": batch});
    if let (Some(fields), Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    let sub = stack.subscribe(fields).await;
    let mut settings = stack.worker_settings();
    settings.prefetch = 256;
    stack.start_worker(settings).await;
    (stack, sub)
}

/// A batch request's body.
fn batch_of(request: &Received) -> Value {
    serde_json::from_slice(&request.body).expect("a batch is JSON")
}

/// The events of a batch request.
fn events_of(request: &Received) -> Vec<Value> {
    batch_of(request)["events"]
        .as_array()
        .expect("events")
        .clone()
}

/// Waits until the receiver has answered 2xx to requests carrying `n` events in all.
async fn wait_events(stack: &Stack, n: usize, ok_from: usize) -> Vec<Received> {
    eventually(&format!("{n} events delivered"), WAIT * 4, || async {
        let received = stack.receiver.received();
        let events: usize = received[ok_from.min(received.len())..]
            .iter()
            .map(|r| events_of(r).len())
            .sum();
        (events >= n).then_some(received)
    })
    .await
}

#[tokio::test]
async fn ten_thousand_events_arrive_in_about_a_hundred_signed_requests_each_event_once() {
    let (stack, sub) =
        batch_stack(json!({"max_events": 100, "max_wait_ms": 2000}), json!({})).await;
    let total = 10_000;

    let sent: Vec<String> = futures_util::stream::iter(0..total)
        .map(|n| stack.send_owned(format!(r#"{{"type":"order.paid","n":{n}}}"#)))
        .buffer_unordered(32)
        .collect()
        .await;
    let requests = wait_events(&stack, total, 0).await;

    assert!(
        (100..=115).contains(&requests.len()),
        "{} requests for {total} events",
        requests.len()
    );
    let mut seen = HashSet::new();
    for request in &requests {
        let body = batch_of(request);
        let events = events_of(request);
        assert!(events.len() <= 100);
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(
            request.header("webhook-id"),
            body["batch_id"],
            "signed as the batch"
        );
        assert_eq!(request.header("x-request-id"), body["batch_id"]);
        assert_eq!(
            request.header("x-warren-batch-size"),
            events.len().to_string()
        );
        for event in events {
            assert_eq!(event["event_type"], "order.paid");
            assert!(event["delivery_id"].is_string() && event["received_at"].is_string());
            let n = event["payload"]["n"].as_u64().expect("the payload as sent");
            assert!(seen.insert(n), "event {n} delivered twice");
        }
    }
    assert_eq!(seen.len(), total);
    let ids: HashSet<String> = requests
        .iter()
        .flat_map(events_of)
        .map(|e| e["id"].as_str().expect("an event id").to_owned())
        .collect();
    assert_eq!(ids, sent.into_iter().collect(), "every event sent, by id");
    let secret = sub["signing_secret"].as_str().expect("a secret");
    assert!(
        python_library_accepts_each(secret, &requests),
        "Python standardwebhooks verifies every batch"
    );
    let attempts = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*), count(DISTINCT batch_id), count(*) FILTER (WHERE status_code = 200)
             FROM delivery_attempts",
            &[],
        )
        .await
        .expect("counted");
    assert_eq!(
        attempts.get::<_, i64>(0),
        total as i64,
        "one attempt per delivery"
    );
    assert_eq!(
        attempts.get::<_, i64>(1),
        requests.len() as i64,
        "one batch id per request"
    );
    assert_eq!(attempts.get::<_, i64>(2), total as i64);
}

#[tokio::test]
async fn a_failing_receiver_fails_each_event_of_the_batch_and_each_is_delivered_once_it_recovers() {
    let (stack, _) = batch_stack(json!({"max_events": 10, "max_wait_ms": 300}), json!({})).await;
    let failures = 2;
    stack
        .receiver
        .sequence(vec![Reply::status(500); failures], Reply::status(200));
    let mut events = Vec::new();
    for n in 0..25 {
        events.push(stack.send(&format!(r#"{{"n":{n}}}"#)).await);
    }

    let requests = wait_events(&stack, events.len(), failures).await;

    let mut delivered: HashMap<String, usize> = HashMap::new();
    for request in &requests[failures..] {
        for event in events_of(request) {
            *delivered
                .entry(event["id"].as_str().expect("id").to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(delivered.len(), events.len(), "every event delivered");
    assert!(
        delivered.values().all(|&n| n == 1),
        "each exactly once: {delivered:?}"
    );
    let failed_batch = &requests[0];
    let failed = events_of(failed_batch);
    assert!(!failed.is_empty());
    for event in &failed {
        let delivery_id = event["delivery_id"].as_str().expect("a delivery id");
        let delivery = stack.wait_status(delivery_id, "succeeded", WAIT).await;
        let attempts = delivery["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 2, "failed with its batch, then retried");
        assert_eq!(attempts[0]["status_code"], 500);
        assert_eq!(attempts[0]["error_kind"], "http_status");
        assert_eq!(attempts[0]["batch_id"], failed_batch.header("webhook-id"));
        assert_eq!(attempts[1]["status_code"], 200);
        assert_ne!(
            attempts[1]["batch_id"], attempts[0]["batch_id"],
            "another batch"
        );
    }
    let durations = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT count(DISTINCT (duration_ms, started_at, status_code)) FROM delivery_attempts
             WHERE batch_id = $1",
            &[&failed_batch
                .header("webhook-id")
                .parse::<uuid::Uuid>()
                .expect("a uuid")],
        )
        .await
        .expect("counted");
    assert_eq!(
        durations.get::<_, i64>(0),
        1,
        "one outcome for the whole batch"
    );
}

#[tokio::test]
async fn max_wait_sends_a_partial_batch() {
    let (stack, _) = batch_stack(json!({"max_events": 100, "max_wait_ms": 500}), json!({})).await;
    let sent =
        futures_util::future::join_all((0..3).map(|n| stack.send_owned(format!(r#"{{"n":{n}}}"#))))
            .await;
    let started = std::time::Instant::now();

    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);

    assert_eq!(request.header("x-warren-batch-size"), "3");
    let ids: HashSet<Value> = events_of(&request)
        .into_iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, sent.into_iter().map(Value::from).collect());
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        stack.receiver.received().len(),
        1,
        "one request for the three"
    );
}

#[tokio::test]
async fn a_non_json_event_goes_alone_with_its_own_bytes() {
    let (stack, _) = batch_stack(json!({"max_events": 10, "max_wait_ms": 500}), json!({})).await;
    stack.send(r#"{"n":1}"#).await;
    let response = stack
        .api
        .ingest(&stack.ingest_url, "text/plain", "plain words".to_owned())
        .await;
    assert_eq!(response.status(), 202);
    stack.send(r#"{"n":2}"#).await;

    let requests = stack.receiver.wait_for(2, WAIT).await;

    let (batches, alone): (Vec<_>, Vec<_>) = requests
        .iter()
        .partition(|r| !r.header("x-warren-batch-size").is_empty());
    assert_eq!(batches.len(), 1);
    assert_eq!(events_of(batches[0]).len(), 2, "both JSON events together");
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0].body.as_ref(), b"plain words");
    assert_eq!(alone[0].header("content-type"), "text/plain");
    assert_eq!(alone[0].header("x-warren-attempt"), "1");
}

#[tokio::test]
async fn a_rate_limit_counts_one_request_per_batch() {
    // At one request a second, 40 events one by one would take 40 s; in batches of 10, 4.
    let (stack, _) = batch_stack(
        json!({"max_events": 10, "max_wait_ms": 200}),
        json!({"rate_limit_per_sec": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    futures_util::future::join_all((0..40).map(|n| stack.send_owned(format!(r#"{{"n":{n}}}"#))))
        .await;

    wait_events(&stack, 40, 0).await;

    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_worker_killed_with_a_half_full_batch_loses_none_of_it() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    stack
        .subscribe(json!({"batch": {"max_events": 500, "max_wait_ms": 4000}}))
        .await;
    let mut worker = stack.spawn_worker_process_with(&[("WARREN_PREFETCH", "1000")]);
    let sent = futures_util::future::join_all(
        (0..30).map(|n| stack.send_owned(format!(r#"{{"n":{n}}}"#))),
    )
    .await;
    // Every envelope taken from the queue, none acked: the worker holds the batch.
    let main_queue = stack.broker.settings.topology().deliver_queue();
    eventually("the worker to take every envelope", WAIT, || async {
        (stack.broker.depth(&main_queue).await == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    worker.kill();
    assert!(
        stack.receiver.received().is_empty(),
        "the batch was still gathering"
    );
    let _second = stack.spawn_worker_process_with(&[("WARREN_PREFETCH", "1000")]);

    let requests = wait_events(&stack, 30, 0).await;
    let ids: Vec<Value> = requests
        .iter()
        .flat_map(events_of)
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids.len(), 30, "each once");
    assert_eq!(
        ids.into_iter().collect::<HashSet<_>>(),
        sent.into_iter().map(Value::from).collect()
    );
}

#[tokio::test]
async fn the_live_log_shows_one_line_per_delivery_of_a_batch() {
    let (stack, sub) = batch_stack(json!({"max_events": 10, "max_wait_ms": 300}), json!({})).await;
    let live = LiveClient::connect(&stack.api.base, stack.token()).await;
    let sent =
        futures_util::future::join_all((0..5).map(|n| stack.send_owned(format!(r#"{{"n":{n}}}"#))))
            .await;

    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);

    assert_eq!(request.header("x-warren-batch-size"), "5");
    for event_id in &sent {
        let line = live
            .wait_for("delivery.attempt", WAIT, |p| {
                p["event_id"] == event_id.as_str()
            })
            .await;
        assert_eq!(line["outcome"], "succeeded");
        assert_eq!(line["status_code"], 200);
        assert_eq!(line["attempt"], 1);
        assert_eq!(line["subscription_id"], sub["id"]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = live
        .lines()
        .iter()
        .filter(|(name, _)| name == "delivery.attempt")
        .count();
    assert_eq!(
        attempts, 5,
        "one line per delivery, none for the request itself"
    );
    live.close().await;
}

#[tokio::test]
async fn a_stopping_worker_sends_its_gathering_batches_before_it_exits() {
    let (mut stack, _) =
        batch_stack(json!({"max_events": 100, "max_wait_ms": 60000}), json!({})).await;
    let sent =
        futures_util::future::join_all((0..5).map(|n| stack.send_owned(format!(r#"{{"n":{n}}}"#))))
            .await;
    let main_queue = stack.broker.settings.topology().deliver_queue();
    eventually("the worker to take every envelope", WAIT, || async {
        (stack.broker.depth(&main_queue).await == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        stack.receiver.received().is_empty(),
        "a minute's wait ahead"
    );

    stack.stop_workers().await;

    let requests = stack.receiver.received();
    assert_eq!(requests.len(), 1, "sent at the stop, not a minute later");
    let ids: HashSet<Value> = events_of(&requests[0])
        .into_iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, sent.into_iter().map(Value::from).collect());
    let pending = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM deliveries WHERE status <> 'succeeded'",
            &[],
        )
        .await
        .expect("counted");
    assert_eq!(
        pending.get::<_, i64>(0),
        0,
        "each recorded before the worker exited"
    );
}
