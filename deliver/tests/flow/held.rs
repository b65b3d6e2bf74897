//! Receiver outages: a subscription that is not active holds its deliveries instead of
//! dropping them, and enabling it releases them (paced, in order) or discards them.

use std::time::Duration;

use serde_json::{Value, json};
use warren_testkit::{broker::TEST_SCHEDULE, eventually, live::LiveClient, receiver::Reply};

use crate::helpers::{Stack, spawn_ingest, spawn_stack};

const WAIT: Duration = Duration::from_secs(30);

fn id_of(subscription: &Value) -> &str {
    subscription["id"].as_str().expect("an id")
}

async fn pause(stack: &Stack, subscription: &Value) -> Value {
    let response = stack
        .api
        .post(
            &format!("/api/v1/subscriptions/{}/pause", id_of(subscription)),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

async fn enable(stack: &Stack, subscription: &Value, held: &str) -> Value {
    let response = stack
        .api
        .post(
            &format!("/api/v1/subscriptions/{}/enable", id_of(subscription)),
            &json!({ "held": held }),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// Statuses of the subscription's deliveries, counted.
async fn statuses(stack: &Stack, subscription: &Value) -> Vec<(String, i64)> {
    stack
        .db
        .client()
        .await
        .query(
            "SELECT status, count(*) FROM deliveries WHERE subscription_id = $1::text::uuid
             GROUP BY status ORDER BY status",
            &[&id_of(subscription)],
        )
        .await
        .expect("counted")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn wait_held(stack: &Stack, subscription: &Value, count: i64) -> Value {
    eventually(&format!("{count} held deliveries"), WAIT, || async {
        let current = stack.subscription(&subscription["id"]).await;
        (current["held_count"] == count).then_some(current)
    })
    .await
}

/// The `n` of each body the receiver got, in arrival order.
fn numbers(stack: &Stack) -> Vec<u64> {
    stack
        .receiver
        .received()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON");
            body["n"].as_u64().expect("a number")
        })
        .collect()
}

#[tokio::test]
async fn a_paused_subscription_holds_every_event_and_delivers_them_all_once_enabled() {
    let stack = spawn_stack().await;
    let sub = stack.subscribe(json!({})).await;
    let paused = pause(&stack, &sub).await;
    assert_eq!(paused["is_active"], false);
    assert_eq!(paused["disabled_reason"], "paused");
    let live = LiveClient::connect(&stack.api.base, stack.token()).await;
    for n in 0..20 {
        let accepted = stack
            .api
            .ingest(
                &stack.ingest_url,
                "application/json",
                format!("{{\"n\": {n}}}"),
            )
            .await;
        assert_eq!(accepted.status(), 202);
        let accepted: Value = accepted.json().await.expect("JSON");
        assert_eq!(accepted["deliveries"], 1, "a held delivery is a delivery");
    }
    wait_held(&stack, &sub, 20).await;
    let line = live
        .wait_for("delivery.held", WAIT, |l| l["subscription_id"] == sub["id"])
        .await;
    assert!(line["delivery_id"].is_string() && line["event_type"].is_string());
    live.close().await;
    let listed = stack
        .api
        .get_json(&format!(
            "/api/v1/subscriptions/{}/deliveries?status=held",
            id_of(&sub)
        ))
        .await;
    assert_eq!(listed["data"].as_array().expect("a list").len(), 20);
    let stats = stack
        .api
        .get_json(&format!("/api/v1/subscriptions/{}/stats", id_of(&sub)))
        .await;
    assert_eq!(stats["held"], 20);
    // Longer than the outbox's grace: nothing of a held delivery is ever published.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(stack.receiver.received().is_empty(), "nothing while paused");

    let enabled = enable(&stack, &sub, "deliver").await;
    assert_eq!(enabled["is_active"], true);
    stack.receiver.wait_for(20, WAIT).await;
    wait_held(&stack, &sub, 0).await;
    let mut got = numbers(&stack);
    got.sort_unstable();
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "each event once");
    eventually("every delivery to succeed", WAIT, || async {
        (statuses(&stack, &sub).await == vec![("succeeded".to_owned(), 20)]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_subscription_disabled_by_failures_holds_what_waited_and_what_came_after() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    let mut settings = stack.worker_settings();
    settings.circuit_recovery_ms = 500;
    settings.disable_after_failures = 3;
    stack.start_worker(settings).await;
    stack.receiver.always(Reply::status(503));
    let sub = stack.subscribe(json!({"max_attempts": 20})).await;
    for n in 0..3 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    eventually("the subscription to be disabled", WAIT, || async {
        let current = stack.subscription(&sub["id"]).await;
        (current["is_active"] == false).then_some(())
    })
    .await;
    for n in 3..10 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    // The three that were retrying when it stopped are held too, never dead.
    wait_held(&stack, &sub, 10).await;
    assert_eq!(statuses(&stack, &sub).await, vec![("held".to_owned(), 10)]);

    stack.receiver.always(Reply::status(200));
    let tried = stack.receiver.received().len();
    enable(&stack, &sub, "deliver").await;
    stack.receiver.wait_for(tried + 10, WAIT).await;
    let mut delivered: Vec<u64> = numbers(&stack)[tried..].to_vec();
    delivered.sort_unstable();
    assert_eq!(delivered, (0..10).collect::<Vec<_>>());
    // Its owner was told it was disabled, and that it recovered when enabled again.
    let told = eventually("the owner to be told both", WAIT, || async {
        let list = stack.api.get_json("/api/v1/notifications").await;
        let types: Vec<String> = list["data"]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|n| n["subscription_id"] == sub["id"])
            .map(|n| n["type"].as_str().expect("a type").to_owned())
            .collect();
        (types.contains(&"subscription.disabled".to_owned())
            && types.contains(&"subscription.recovered".to_owned()))
        .then_some(list)
    })
    .await;
    let recovered = told["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|n| n["type"] == "subscription.recovered")
        .expect("recovered");
    assert_eq!(recovered["data"]["reason"], "enabled");
    eventually("every delivery to succeed", WAIT, || async {
        (statuses(&stack, &sub).await == vec![("succeeded".to_owned(), 10)]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn enabling_with_discard_sends_nothing_held_and_leaves_no_dead_letter() {
    let stack = spawn_stack().await;
    let sub = stack.subscribe(json!({})).await;
    pause(&stack, &sub).await;
    for n in 0..5 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    wait_held(&stack, &sub, 5).await;
    enable(&stack, &sub, "discard").await;
    eventually("the held deliveries to be discarded", WAIT, || async {
        (statuses(&stack, &sub).await == vec![("discarded".to_owned(), 5)]).then_some(())
    })
    .await;
    let dead = stack.api.get_json("/api/v1/dead-letters").await;
    assert_eq!(dead["data"], json!([]), "discarded is not dead");
    let stats = stack
        .api
        .get_json(&format!("/api/v1/subscriptions/{}/stats", id_of(&sub)))
        .await;
    assert_eq!(
        (
            stats["discarded"].clone(),
            stats["held"].clone(),
            stats["dead"].clone()
        ),
        (json!(5), json!(0), json!(0))
    );
    // What comes after the enable is delivered as usual.
    stack.send(r#"{"n": 99}"#).await;
    stack.receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(numbers(&stack), vec![99], "only the event after the enable");
}

#[tokio::test]
async fn a_fifo_subscription_releases_what_it_held_in_order_before_what_comes_next() {
    let stack = spawn_stack().await;
    let sub = stack.subscribe(json!({"ordering": "fifo"})).await;
    pause(&stack, &sub).await;
    for n in 0..30 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    wait_held(&stack, &sub, 30).await;
    enable(&stack, &sub, "deliver").await;
    // Events arriving during the release queue up behind the held ones.
    for n in 30..40 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    stack.receiver.wait_for(40, WAIT).await;
    assert_eq!(numbers(&stack), (0..40).collect::<Vec<_>>(), "in order");
}

#[tokio::test]
async fn a_release_goes_at_the_subscriptions_pace_not_in_one_burst() {
    let stack = spawn_stack().await;
    let sub = stack.subscribe(json!({"rate_limit_per_sec": 20})).await;
    pause(&stack, &sub).await;
    let events: Vec<_> = (0..120)
        .map(|n| stack.send_owned(format!("{{\"n\": {n}}}")))
        .collect();
    futures_util::future::join_all(events).await;
    wait_held(&stack, &sub, 120).await;
    let started = std::time::Instant::now();
    enable(&stack, &sub, "deliver").await;
    // A batch is a tick of the rate (at least 10); the next goes only when fewer than half a
    // batch wait. Sampled all along the release, never more than 30 wait at once.
    let mut most_waiting = 0;
    while stack.receiver.received().len() < 120 {
        let waiting: i64 = stack
            .db
            .client()
            .await
            .query_one(
                "SELECT count(*) FROM deliveries
                 WHERE subscription_id = $1::text::uuid AND status IN ('pending', 'retrying')",
                &[&id_of(&sub)],
            )
            .await
            .expect("counted")
            .get(0);
        most_waiting = most_waiting.max(waiting);
        assert!(started.elapsed() < WAIT, "the release finished in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(most_waiting > 0, "the release was seen");
    assert!(
        most_waiting <= 30,
        "at most a batch and a half in line at once, saw {most_waiting}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "120 at 20/s take about 6 s, took {:?}",
        started.elapsed()
    );
    // A steady stream, not a batch at a time: 20/s is 4 in 200 ms; a burst would be 20.
    let arrivals: Vec<_> = stack.receiver.received().iter().map(|r| r.at).collect();
    let busiest = arrivals
        .iter()
        .map(|&from| {
            arrivals
                .iter()
                .filter(|&&at| at >= from && at < from + Duration::from_millis(200))
                .count()
        })
        .max()
        .unwrap_or_default();
    assert!(busiest <= 10, "{busiest} arrived within 200 ms");
}

#[tokio::test]
async fn deliveries_the_receiver_keeps_refusing_do_not_stall_the_release_of_the_rest() {
    // The first retry comes a minute later: those refused wait that long as `retrying`. The
    // circuit stays closed: this is about a few refusals, not a receiver down.
    let mut stack = spawn_ingest("1m,1h").await;
    let mut settings = stack.worker_settings();
    settings.circuit_failures = 1_000;
    stack.start_worker(settings).await;
    let sub = stack
        .subscribe(json!({"rate_limit_per_sec": 20, "max_attempts": 3}))
        .await;
    pause(&stack, &sub).await;
    for n in 0..60 {
        stack.send(&format!("{{\"n\": {n}}}")).await;
    }
    wait_held(&stack, &sub, 60).await;
    // One in four refused: more, in the end, than half a release batch (20 at 20/s).
    // Counted as waiting, they would hold the release back for a minute.
    stack.receiver.plan(|_, request| {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON");
        if body["n"].as_u64().expect("a number").is_multiple_of(4) {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
    enable(&stack, &sub, "deliver").await;
    eventually("every held delivery to be released", WAIT, || async {
        (stack.subscription(&sub["id"]).await["held_count"] == 0).then_some(())
    })
    .await;
    eventually("the 45 the receiver takes to succeed", WAIT, || async {
        let counted = statuses(&stack, &sub).await;
        counted
            .contains(&("succeeded".to_owned(), 45))
            .then_some(counted)
    })
    .await;
}
