//! Ordered (FIFO) subscriptions: one at a time, in commit order, through failures, worker
//! crashes, dead heads (`pause` and `skip`), without holding up anyone else.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warren_testkit::{
    eventually,
    proxy::TcpProxy,
    receiver::{Received, Reply},
};

use crate::helpers::{Stack, spawn_ingest};

/// Short waits, so a few hundred failures fit in a test.
const QUICK: &str = "100ms,200ms,300ms";
const WAIT: Duration = Duration::from_secs(90);

/// A worker whose breaker and auto-disable stay out of the way of random failures.
async fn with_tolerant_worker(stack: &mut Stack) {
    let mut settings = stack.worker_settings();
    settings.circuit_failures = 10_000;
    settings.disable_after_failures = 10_000;
    stack.start_worker(settings).await;
}

/// The `n` of an event body `{"n": <n>}`.
fn n_of(request: &Received) -> u64 {
    let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
    body["n"].as_u64().expect("an n")
}

fn attempt_of(request: &Received) -> u64 {
    request
        .header("x-warren-attempt")
        .parse()
        .expect("an attempt number")
}

/// Whether the receiver fails this attempt of event `n`: about one in five, scattered, and
/// the same answer for a repeated attempt.
fn fails(n: u64, attempt: u64) -> bool {
    (n.wrapping_mul(2_654_435_761) ^ attempt.wrapping_mul(40_503)).is_multiple_of(5)
}

/// The events in the order their first successful delivery reached the receiver.
fn first_successes(received: &[Received], path: &str) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    received
        .iter()
        .filter(|r| r.path == path && !fails(n_of(r), attempt_of(r)))
        .map(n_of)
        .filter(|n| seen.insert(*n))
        .collect()
}

/// Sends events `{"n": 0}` … one after the other, each accepted (committed) before the next
/// is sent: their commit order is `0, 1, 2, …`.
async fn send_in_order(stack: &Stack, range: std::ops::Range<u64>) {
    for n in range {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
}

async fn wait_for_first_successes(stack: &Stack, path: &str, count: usize) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let firsts = first_successes(&stack.receiver.received(), path);
        if firsts.len() >= count {
            return firsts;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out after {WAIT:?}: {} of {count} events delivered to {path}; the \
                 waiting heads (id, status, attempts, next attempt, enqueued): {:?}",
                firsts.len(),
                waiting_heads(stack).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first waiting deliveries of every FIFO line, to tell a stopped line from a slow one.
async fn waiting_heads(stack: &Stack) -> Vec<String> {
    let rows = stack
        .db
        .client()
        .await
        .query(
            "SELECT id, status, attempt_count, next_attempt_at::text, enqueued FROM deliveries
             WHERE fifo_seq IS NOT NULL AND status IN ('pending', 'retrying')
             ORDER BY subscription_id, fifo_seq LIMIT 3",
            &[],
        )
        .await
        .expect("the waiting deliveries");
    rows.iter()
        .map(|r| {
            let id: uuid::Uuid = r.get(0);
            let status: String = r.get(1);
            let attempts: i32 = r.get(2);
            let next: Option<String> = r.get(3);
            let enqueued: bool = r.get(4);
            format!("{id} {status} {attempts} {next:?} {enqueued}")
        })
        .collect()
}

fn failing_one_in_five() -> impl Fn(usize, &Received) -> Reply + Send + Sync + 'static {
    |_, request| {
        if fails(n_of(request), attempt_of(request)) {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    }
}

#[tokio::test]
async fn a_fifo_subscription_receives_in_commit_order_through_random_failures() {
    let mut stack = spawn_ingest(QUICK).await;
    with_tolerant_worker(&mut stack).await;
    stack.receiver.plan(failing_one_in_five());
    stack
        .subscribe(json!({"ordering": "fifo", "max_attempts": 20}))
        .await;
    send_in_order(&stack, 0..500).await;

    let firsts = wait_for_first_successes(&stack, "/hook", 500).await;
    assert_eq!(firsts, (0..500).collect::<Vec<_>>(), "commit order");
    let received = stack.receiver.received();
    let failures = received
        .iter()
        .filter(|r| fails(n_of(r), attempt_of(r)))
        .count();
    assert!(failures >= 50, "the receiver failed {failures} attempts");
    // One at a time: nothing after a failure until its retry succeeded.
    for pair in received.windows(2) {
        let (before, after) = (n_of(&pair[0]), n_of(&pair[1]));
        if fails(before, attempt_of(&pair[0])) {
            assert_eq!(after, before, "event {after} overtook the failed {before}");
        }
    }
}

#[tokio::test]
async fn two_worker_processes_and_a_kill_9_keep_the_order_and_lose_nothing() {
    let stack = spawn_ingest(QUICK).await;
    let tolerant = [
        ("WARREN_CIRCUIT_FAILURES", "10000"),
        ("WARREN_DISABLE_AFTER_FAILURES", "10000"),
    ];
    let mut first = stack.spawn_worker_process_with(&tolerant);
    let _second = stack.spawn_worker_process_with(&tolerant);
    // A little latency per request, so the kill lands while deliveries are in flight.
    let plan = failing_one_in_five();
    stack.receiver.plan(move |n, request| {
        let reply = plan(n, request);
        Reply {
            delay: Duration::from_millis(5),
            ..reply
        }
    });
    stack
        .subscribe(json!({"ordering": "fifo", "max_attempts": 20}))
        .await;
    send_in_order(&stack, 0..500).await;
    wait_for_first_successes(&stack, "/hook", 150).await;
    // The first worker to consume is the shard's active consumer.
    first.kill();

    let firsts = wait_for_first_successes(&stack, "/hook", 500).await;
    assert_eq!(
        firsts,
        (0..500).collect::<Vec<_>>(),
        "commit order, nothing lost"
    );
}

/// The id of the subscription's line head as the API shows it.
async fn line(stack: &Stack, sub: &Value) -> Value {
    stack
        .api
        .get_json(&format!(
            "/api/v1/subscriptions/{}/line",
            sub["id"].as_str().expect("an id")
        ))
        .await
}

async fn wait_for_line_state(stack: &Stack, sub: &Value, state: &str) -> Value {
    eventually(&format!("the line to be {state}"), WAIT, || async {
        let line = line(stack, sub).await;
        (line["state"] == state).then_some(line)
    })
    .await
}

/// A receiver failing every attempt of event 0 until told otherwise.
fn failing_event_zero(stack: &Stack) {
    stack.receiver.plan(|_, request| {
        if n_of(request) == 0 {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
}

fn arrivals(stack: &Stack) -> Vec<u64> {
    stack.receiver.received().iter().map(n_of).collect()
}

/// A tolerant worker, a subscription with `settings` whose receiver fails every attempt of
/// event 0, and events 0 … `events - 1` sent in order. Returns the subscription and the
/// first event's id.
async fn failing_event_zero_with(
    stack: &mut Stack,
    settings: Value,
    events: u64,
) -> (Value, String) {
    with_tolerant_worker(stack).await;
    failing_event_zero(stack);
    let sub = stack.subscribe(settings).await;
    let first = stack.send("{\"n\": 0}").await;
    send_in_order(stack, 1..events).await;
    (sub, first)
}

#[tokio::test]
async fn on_dead_pause_stops_the_line_and_a_replay_of_the_dead_head_resumes_it() {
    let mut stack = spawn_ingest(QUICK).await;
    let (sub, first) = failing_event_zero_with(
        &mut stack,
        json!({"ordering": "fifo", "on_dead": "pause", "max_attempts": 2}),
        4,
    )
    .await;

    let paused = wait_for_line_state(&stack, &sub, "paused").await;
    let dead = stack.delivery_of(&first).await;
    assert_eq!(paused["head"]["id"], dead.as_str());
    assert_eq!(paused["head"]["status"], "dead");
    assert_eq!(paused["head"]["last_status_code"], 500);
    assert_eq!(paused["waiting"], 3);
    assert!(paused["paused_at"].is_string());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        arrivals(&stack),
        [0, 0],
        "nothing behind the dead head went out"
    );

    stack.receiver.always(Reply::status(200));
    let replayed = stack
        .api
        .post(&format!("/api/v1/dead-letters/{dead}/replay"), &json!({}))
        .await;
    assert_eq!(replayed.status(), 202);
    stack.receiver.wait_for(6, WAIT).await;
    assert_eq!(
        arrivals(&stack),
        [0, 0, 0, 1, 2, 3],
        "the replayed head first"
    );
    let drained = wait_for_line_state(&stack, &sub, "empty").await;
    assert_eq!(drained["waiting"], 0);
    assert!(drained["paused_at"].is_null());
}

#[tokio::test]
async fn discarding_the_dead_head_of_a_paused_line_lets_the_next_go() {
    let mut stack = spawn_ingest(QUICK).await;
    let (sub, first) = failing_event_zero_with(
        &mut stack,
        json!({"ordering": "fifo", "on_dead": "pause", "max_attempts": 1}),
        3,
    )
    .await;
    wait_for_line_state(&stack, &sub, "paused").await;

    let dead = stack.delivery_of(&first).await;
    let discarded = stack
        .api
        .authorized(
            stack
                .api
                .http
                .delete(format!("{}/api/v1/dead-letters/{dead}", stack.api.base)),
        )
        .send()
        .await
        .expect("the discard");
    assert_eq!(discarded.status(), 204);
    stack.receiver.wait_for(3, WAIT).await;
    assert_eq!(arrivals(&stack), [0, 1, 2]);
}

#[tokio::test]
async fn on_dead_skip_moves_on_past_a_dead_head() {
    let mut stack = spawn_ingest(QUICK).await;
    let (sub, first) = failing_event_zero_with(
        &mut stack,
        json!({"ordering": "fifo", "max_attempts": 2}),
        4,
    )
    .await;

    stack.receiver.wait_for(5, WAIT).await;
    assert_eq!(arrivals(&stack), [0, 0, 1, 2, 3]);
    let dead = stack.delivery_of(&first).await;
    stack.wait_status(&dead, "dead", WAIT).await;
    wait_for_line_state(&stack, &sub, "empty").await;
}

#[tokio::test]
async fn a_fifo_line_stuck_on_a_failing_head_does_not_slow_an_ordinary_subscription() {
    let mut stack = spawn_ingest(QUICK).await;
    with_tolerant_worker(&mut stack).await;
    stack.receiver.plan(|_, request| {
        if request.path == "/stuck" {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
    stack.subscribe(json!({})).await;
    let alone = latencies(&stack, 0..30).await;

    let stuck = stack
        .api
        .create_subscription(
            &stack.receiver.url("/stuck"),
            json!({"ordering": "fifo", "max_attempts": 20}),
        )
        .await;
    let beside = latencies(&stack, 30..90).await;
    let line = wait_for_line_state(&stack, &stuck, "retrying").await;
    assert!(line["waiting"].as_i64().expect("a count") >= 50, "{line}");

    let (alone, beside) = (median(alone), median(beside));
    assert!(
        beside <= alone * 4 + Duration::from_millis(100),
        "the ordinary subscription's median latency went from {alone:?} alone to {beside:?} \
         beside a stuck FIFO line"
    );
}

/// Sends each event and waits for the ordinary subscription (`/hook`) to get it; returns the
/// time each took.
async fn latencies(stack: &Stack, range: std::ops::Range<u64>) -> Vec<Duration> {
    let mut taken = Vec::new();
    for n in range {
        let sent = Instant::now();
        stack.send(&format!("{{\"n\": {n}}}")).await;
        eventually("the ordinary delivery", WAIT, || async {
            stack
                .receiver
                .received()
                .iter()
                .any(|r| r.path == "/hook" && n_of(r) == n)
                .then_some(())
        })
        .await;
        taken.push(sent.elapsed());
    }
    taken
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::test]
async fn leaving_fifo_sends_what_waited_behind_a_paused_head() {
    let mut stack = spawn_ingest(QUICK).await;
    let (sub, _) = failing_event_zero_with(
        &mut stack,
        json!({"ordering": "fifo", "on_dead": "pause", "max_attempts": 1}),
        3,
    )
    .await;
    wait_for_line_state(&stack, &sub, "paused").await;

    let patched = stack
        .api
        .authorized(stack.api.http.patch(format!(
            "{}/api/v1/subscriptions/{}",
            stack.api.base,
            sub["id"].as_str().expect("an id")
        )))
        .json(&json!({"ordering": "none"}))
        .send()
        .await
        .expect("the patch");
    assert_eq!(patched.status(), 200);
    stack.receiver.wait_for(3, WAIT).await;
    let mut later = arrivals(&stack)[1..].to_vec();
    later.sort();
    assert_eq!(later, [1, 2], "the waiting deliveries went out unordered");
    let line = line(&stack, &sub).await;
    assert!(line["paused_at"].is_null(), "{line}");
}

#[tokio::test]
async fn the_active_workers_broker_link_breaking_keeps_the_order_and_loses_nothing() {
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut stack = spawn_ingest(QUICK).await;
    // The first worker reaches the broker through the proxy and becomes each shard's
    // active consumer; the second waits behind it.
    let mut through_proxy = stack.worker_settings();
    through_proxy.broker = stack.broker.settings_via(&proxy.address());
    for mut settings in [through_proxy, stack.worker_settings()] {
        settings.circuit_failures = 10_000;
        settings.disable_after_failures = 10_000;
        stack.start_worker(settings).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stack.receiver.plan(failing_one_in_five());
    stack
        .subscribe(json!({"ordering": "fifo", "max_attempts": 20}))
        .await;
    send_in_order(&stack, 0..300).await;
    wait_for_first_successes(&stack, "/hook", 100).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();

    let firsts = wait_for_first_successes(&stack, "/hook", 300).await;
    assert_eq!(
        firsts,
        (0..300).collect::<Vec<_>>(),
        "commit order, nothing lost"
    );
}

#[tokio::test]
async fn a_shard_queue_deleted_under_a_running_worker_is_declared_and_consumed_again() {
    let mut stack = spawn_ingest(QUICK).await;
    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    stack.subscribe(json!({"ordering": "fifo"})).await;
    send_in_order(&stack, 0..1).await;
    stack.receiver.wait_for(1, WAIT).await;

    // The broker cancels the worker's consumers of the deleted queues; the main queue's
    // consumer goes on. Only a worker that notices attaches again (declaring the shards
    // anew), so the line's next events reach the receiver.
    let topology = stack.broker.settings.topology();
    for shard in topology.ordered_shards() {
        stack
            .broker
            .delete_queue(&topology.ordered_queue(shard))
            .await;
    }
    send_in_order(&stack, 1..4).await;
    let received = stack.receiver.wait_for(4, WAIT).await;
    assert_eq!(received.iter().map(n_of).collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[tokio::test]
async fn a_head_whose_ring_cannot_be_published_is_not_recorded_so_its_envelope_tries_again() {
    let stack = spawn_ingest(QUICK).await;
    stack.subscribe(json!({"ordering": "fifo"})).await;
    send_in_order(&stack, 0..2).await;
    // A worker whose broker link never comes up: the head's attempt succeeds, the ring for
    // event 1 cannot go out.
    let mut settings = stack.worker_settings();
    settings.broker = stack.broker.settings_via("127.0.0.1:1");
    let worker = warren_deliver::startup::Worker::build(
        settings,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("the worker builds");
    let db = stack.db.client().await;
    let row = db
        .query_one(
            "SELECT id, event_id, subscription_id, user_id FROM deliveries
             ORDER BY fifo_seq LIMIT 1",
            &[],
        )
        .await
        .expect("the head");
    let head = warren_shared::envelope::DeliverV1 {
        delivery_id: row.get(0),
        event_id: row.get(1),
        subscription_id: row.get(2),
        user_id: row.get(3),
        attempt: 1,
        ordered: true,
    };

    let handled = warren_deliver::ordered::handle_doorbell(&worker.context(), &head, false).await;
    assert!(
        handled.is_err(),
        "a ring that was not published is an error (the envelope is parked and comes back), \
         not a success left to the outbox: {handled:?}"
    );
    assert_eq!(stack.receiver.received().len(), 1, "the head was attempted");
    let state = db
        .query_one(
            "SELECT status, attempt_count FROM deliveries WHERE id = $1",
            &[&head.delivery_id],
        )
        .await
        .expect("the head's row");
    assert_eq!(
        (state.get::<_, String>(0), state.get::<_, i32>(1)),
        ("pending".to_owned(), 0),
        "the head is not recorded, so its envelope's next try attempts it and rings again"
    );
}
