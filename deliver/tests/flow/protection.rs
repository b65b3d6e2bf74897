//! Protecting subscribers and ourselves: the circuit breaker, auto-disable, rate limits,
//! `Retry-After`, the bulkhead, secret rotation and the SSRF guard at delivery time.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use warren_testkit::{broker::TEST_SCHEDULE, eventually, live::LiveClient, receiver::Reply};

use crate::helpers::{Stack, spawn_ingest, spawn_ingest_allowing};

const WAIT: Duration = Duration::from_secs(30);

/// A worker whose circuit opens after 5 failures and recovers after `recovery_ms`.
async fn with_worker(stack: &mut Stack, recovery_ms: u64, disable_after: u32) {
    let mut settings = stack.worker_settings();
    settings.circuit_recovery_ms = recovery_ms;
    settings.disable_after_failures = disable_after;
    stack.start_worker(settings).await;
}

async fn wait_for_circuit(stack: &Stack, sub: &Value, state: &str) -> Value {
    eventually(&format!("the circuit to be {state}"), WAIT, || async {
        let current = stack.subscription(&sub["id"]).await;
        (current["circuit_state"] == state).then_some(current)
    })
    .await
}

#[tokio::test]
async fn an_open_circuit_holds_deliveries_without_spending_attempts_then_probes_and_closes() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    with_worker(&mut stack, 4_000, 100).await;
    stack.receiver.always(Reply::status(500));
    let sub = stack.subscribe(json!({"max_attempts": 20})).await;
    let live = LiveClient::connect(&stack.api.base, stack.token()).await;
    let mut deliveries = Vec::new();
    for n in 0..6 {
        deliveries.push(
            stack
                .delivery_of(&stack.send(&format!("{{\"n\": {n}}}")).await)
                .await,
        );
    }
    wait_for_circuit(&stack, &sub, "open").await;
    let while_open = stack.receiver.received().len();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        stack.receiver.received().len(),
        while_open,
        "no request reaches an open circuit's target"
    );

    stack.receiver.always(Reply::status(200));
    for id in &deliveries {
        stack.wait_status(id, "succeeded", WAIT).await;
    }
    assert_eq!(
        stack.subscription(&sub["id"]).await["circuit_state"],
        "closed"
    );
    let mut attempts = 0;
    for id in &deliveries {
        let delivery = stack
            .api
            .get_json(&format!("/api/v1/deliveries/{id}"))
            .await;
        let logged = delivery["attempts"].as_array().expect("attempts").len();
        assert_eq!(
            delivery["attempt_count"], logged,
            "parking spends no attempt"
        );
        attempts += logged;
    }
    assert_eq!(
        attempts,
        stack.receiver.received().len(),
        "every attempt was a real request"
    );

    let transitions: Vec<String> = live
        .received()
        .into_iter()
        .filter(|(event, _)| event == "subscription.updated")
        .map(|(_, line)| line["circuit_state"].as_str().expect("a state").to_owned())
        .collect();
    assert_eq!(
        transitions,
        ["open", "half_open", "closed"],
        "a line per transition"
    );
    live.close().await;
}

#[tokio::test]
async fn the_circuit_state_survives_a_restart_of_the_worker() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    with_worker(&mut stack, 4_000, 100).await;
    stack.receiver.always(Reply::status(500));
    let sub = stack.subscribe(json!({"max_attempts": 20})).await;
    for n in 0..5 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    wait_for_circuit(&stack, &sub, "open").await;
    stack.stop_workers().await;
    stack.receiver.always(Reply::status(200));
    let before = stack.receiver.received().len();
    with_worker(&mut stack, 4_000, 100).await;
    let id = stack
        .delivery_of(&stack.send(r#"{"after": "restart"}"#).await)
        .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        stack.receiver.received().len(),
        before,
        "the new worker knows the circuit is open"
    );
    stack.wait_status(&id, "succeeded", WAIT).await;
}

#[tokio::test]
async fn consecutive_failures_disable_a_subscription_and_enabling_it_brings_it_back() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    with_worker(&mut stack, 60_000, 3).await;
    stack.receiver.always(Reply::status(500));
    let sub = stack.subscribe(json!({"max_attempts": 20})).await;
    let live = LiveClient::connect(&stack.api.base, stack.token()).await;
    for n in 0..3 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    let disabled = eventually("the subscription to be disabled", WAIT, || async {
        let current = stack.subscription(&sub["id"]).await;
        (current["is_active"] == false).then_some(current)
    })
    .await;
    assert_eq!(disabled["disabled_reason"], "3 consecutive failed attempts");
    let line = live
        .wait_for("subscription.updated", WAIT, |l| l["is_active"] == false)
        .await;
    assert!(
        line["reason"]
            .as_str()
            .expect("a reason")
            .contains("3 consecutive failed attempts")
    );

    let enabled: Value = stack
        .api
        .post(
            &format!(
                "/api/v1/subscriptions/{}/enable",
                sub["id"].as_str().expect("id")
            ),
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(enabled["is_active"], true);
    assert_eq!(enabled["circuit_state"], "closed");
    assert_eq!(enabled["disabled_reason"], Value::Null);
    stack.receiver.always(Reply::status(200));
    let id = stack.delivery_of(&stack.send("{}").await).await;
    stack.wait_status(&id, "succeeded", WAIT).await;
    live.close().await;
}

#[tokio::test]
async fn a_410_gone_disables_the_subscription_at_once() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    with_worker(&mut stack, 60_000, 100).await;
    stack.receiver.always(Reply::status(410));
    let sub = stack.subscribe(json!({})).await;
    stack.send("{}").await;
    let disabled = eventually("the subscription to be disabled", WAIT, || async {
        let current = stack.subscription(&sub["id"]).await;
        (current["is_active"] == false).then_some(current)
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .expect("a reason")
            .contains("410")
    );
    assert_eq!(stack.receiver.received().len(), 1);
}

#[tokio::test]
async fn a_rate_limited_subscription_is_paced_without_failing_and_without_slowing_another() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    with_worker(&mut stack, 60_000, 100).await;
    stack
        .api
        .create_subscription(
            &stack.receiver.url("/slow"),
            json!({"rate_limit_per_sec": 5}),
        )
        .await;
    stack
        .api
        .create_subscription(
            &stack.receiver.url("/fast"),
            json!({"rate_limit_per_sec": 1000}),
        )
        .await;
    // Sent all at once, so the pace the receiver sees is Warren's, not the test's.
    let sends = (0..20).map(|n| stack.send_owned(format!("{{\"n\": {n}}}")));
    futures_util::future::join_all(sends).await;
    let received = stack.receiver.wait_for(40, WAIT).await;
    let at = |path: &str| -> Vec<Instant> {
        received
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.at)
            .collect()
    };
    let (slow, fast) = (at("/slow"), at("/fast"));
    assert_eq!(
        (slow.len(), fast.len()),
        (20, 20),
        "every delivery arrived once: none failed"
    );
    let span = |times: &[Instant]| {
        *times.iter().max().expect("arrivals") - *times.iter().min().expect("arrivals")
    };
    let fast_span = span(&fast);
    assert!(
        fast_span < Duration::from_secs(2),
        "the other subscription kept its pace: {fast_span:?}"
    );
    let slow_span = *slow.iter().max().expect("arrivals") - *slow.iter().min().expect("arrivals");
    assert!(
        slow_span >= Duration::from_millis(2_500),
        "5/s with a burst of 5 takes 3 s for 20: {slow_span:?}"
    );
    // The receiver sees arrivals, not admissions: under load a burst admitted at once can
    // reach it a few hundred milliseconds late, so one second of arrivals may hold the next
    // token's delivery too (burst 5 + 5/s + 1).
    for first in &slow {
        let in_a_second = slow
            .iter()
            .filter(|t| **t >= *first && **t < *first + Duration::from_secs(1))
            .count();
        assert!(
            in_a_second <= 11,
            "{in_a_second} in one second (burst 5 + 5/s); arrivals at {:?}",
            slow.iter()
                .map(|t| t.duration_since(slow[0]))
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn retry_after_on_429_or_503_sets_the_next_attempts_time() {
    let mut stack = spawn_ingest("300ms,5s").await;
    with_worker(&mut stack, 60_000, 100).await;
    let in_two_seconds =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    stack.receiver.sequence(
        vec![
            Reply::retry_after(429, "2"),
            Reply::retry_after(503, in_two_seconds),
        ],
        Reply::status(200),
    );
    stack.subscribe(json!({})).await;
    let id = stack.delivery_of(&stack.send("{}").await).await;
    stack.wait_status(&id, "succeeded", WAIT).await;
    let received = stack.receiver.received();
    let first_wait = received[1].at - received[0].at;
    assert!(
        first_wait >= Duration::from_secs(2),
        "waited the 2 s asked, not 300 ms: {first_wait:?}"
    );
    assert!(first_wait < Duration::from_millis(3_500), "{first_wait:?}");
    let second_wait = received[2].at - received[1].at;
    assert!(
        second_wait >= Duration::from_millis(800),
        "an HTTP date is honoured too: {second_wait:?}"
    );
}

#[tokio::test]
async fn one_slow_target_does_not_slow_delivery_to_the_others() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    let mut settings = stack.worker_settings();
    settings.prefetch = 8;
    settings.max_in_flight_per_subscription = 2;
    stack.start_worker(settings).await;
    stack.receiver.plan(|_, request| {
        let delay = if request.path == "/slow" {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
        Reply::after(delay, 200)
    });
    stack
        .api
        .create_subscription(
            &stack.receiver.url("/slow"),
            json!({"event_types": ["slow"], "timeout_ms": 30000}),
        )
        .await;
    stack
        .api
        .create_subscription(
            &stack.receiver.url("/fast"),
            json!({"event_types": ["fast"]}),
        )
        .await;
    for n in 0..12 {
        stack
            .send(&format!("{{\"type\": \"slow\", \"n\": {n}}}"))
            .await;
    }
    let mut fast_latencies = Vec::new();
    for n in 0..12 {
        let sent = Instant::now();
        stack
            .send(&format!("{{\"type\": \"fast\", \"n\": {n}}}"))
            .await;
        let arrived = eventually("the fast delivery", WAIT, || async {
            stack
                .receiver
                .received()
                .into_iter()
                .find(|r| {
                    r.path == "/fast"
                        && r.body.as_ref()
                            == format!("{{\"type\": \"fast\", \"n\": {n}}}").as_bytes()
                })
                .map(|r| r.at)
        })
        .await;
        fast_latencies.push(arrived - sent);
    }
    let slowest_fast = fast_latencies.iter().max().expect("latencies");
    assert!(
        *slowest_fast < Duration::from_millis(1_500),
        "a fast delivery waited {slowest_fast:?} behind the slow target"
    );
    let slow_arrivals = stack
        .receiver
        .received()
        .iter()
        .filter(|r| r.path == "/slow")
        .count();
    assert!(
        slow_arrivals < 12,
        "the slow target is still being worked through ({slow_arrivals} of 12)"
    );
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_and_each_signature_verifies_alone() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    with_worker(&mut stack, 60_000, 100).await;
    let sub = stack.subscribe(json!({})).await;
    let old = sub["signing_secret"].as_str().expect("a secret").to_owned();
    let id = sub["id"].as_str().expect("id");
    let rotated: Value = stack
        .api
        .post(
            &format!("/api/v1/subscriptions/{id}/rotate-secret"),
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let new = rotated["signing_secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    stack.send(r#"{"type": "rotated"}"#).await;
    let request = stack.receiver.wait_for(1, WAIT).await.remove(0);
    let signatures: Vec<&str> = request.header("webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2, "both secrets sign during the overlap");
    let verifies = |secret: &str, signature: &str| {
        let mut alone = request.clone();
        alone.headers.insert(
            "webhook-signature",
            signature.parse().expect("a header value"),
        );
        crate::delivery::official_library_accepts("python3", "verify.py", secret, &alone)
    };
    assert!(
        verifies(&new, signatures[0]),
        "the new secret's signature alone"
    );
    assert!(
        verifies(&old, signatures[1]),
        "the old secret's signature alone"
    );
    assert!(!verifies(&new, signatures[1]), "and not each other's");

    let client = stack.db.client().await;
    client
        .execute(
            "UPDATE subscriptions SET previous_secret_expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .expect("ending the overlap");
    stack.send(r#"{"type": "after.overlap"}"#).await;
    let request = stack.receiver.wait_for(2, WAIT).await.remove(1);
    assert_eq!(
        request.header("webhook-signature").split(' ').count(),
        1,
        "only the new secret after the overlap"
    );
}

/// A listener that counts connections and never answers.
async fn counting_listener(addr: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("binding a loopback address");
    let local = listener.local_addr().expect("an address");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (local, count)
}

#[tokio::test]
async fn the_worker_refuses_addresses_outside_its_allow_list_and_no_connection_arrives() {
    let mut stack = spawn_ingest_allowing(TEST_SCHEDULE, "127.0.0.0/8,::1/128").await;
    with_worker(&mut stack, 60_000, 100).await;
    let (other_loopback, other_count) = counting_listener("127.0.0.2:0").await;
    let (v6_loopback, v6_count) = counting_listener("[::1]:0").await;
    let targets = [
        format!("http://{other_loopback}/hook"),
        format!("http://[::ffff:127.0.0.2]:{}/hook", other_loopback.port()),
        format!("http://{v6_loopback}/hook"),
    ];
    for target in &targets {
        stack
            .api
            .create_subscription(target, json!({"max_attempts": 1}))
            .await;
    }
    let event_id = stack.send("{}").await;
    let event = eventually("every delivery to die", WAIT, || async {
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
    assert_eq!(
        other_count.load(Ordering::SeqCst),
        0,
        "nothing reached 127.0.0.2"
    );
    assert_eq!(v6_count.load(Ordering::SeqCst), 0, "nothing reached [::1]");
}
