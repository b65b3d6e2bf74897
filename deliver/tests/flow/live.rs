//! Live delivery logs end to end: the worker's lines travel through RabbitMQ to whichever
//! ingest instance holds the owner's sockets.

use std::time::Duration;

use serde_json::json;
use warren_testkit::{
    api::ApiClient,
    eventually,
    live::{LiveClient, Polling},
    receiver::Reply,
};

use crate::helpers::spawn_stack;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn each_attempt_reaches_its_owner_live_and_no_other_user() {
    let stack = spawn_stack().await;
    stack
        .receiver
        .sequence(vec![Reply::status(500)], Reply::status(200));
    let sub = stack.subscribe(json!({})).await;
    let mut bob = ApiClient::new(stack.api.base.clone());
    bob.signup().await;
    let alice_live = LiveClient::connect(&stack.api.base, stack.token()).await;
    let bob_live = LiveClient::connect(&stack.api.base, bob.token.as_deref().expect("token")).await;

    let event_id = stack.send(r#"{"type": "order.paid"}"#).await;
    let delivery_id = stack.delivery_of(&event_id).await;
    let failed = alice_live
        .wait_for("delivery.attempt", WAIT, |p| {
            p["delivery_id"] == delivery_id.as_str() && p["attempt"] == 1
        })
        .await;
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["status_code"], 500);
    assert_eq!(failed["error_kind"], "http_status");
    assert!(failed["next_attempt_at"].is_string());
    assert_eq!(failed["event_id"], event_id.as_str());
    assert_eq!(failed["subscription_id"], sub["id"]);
    assert_eq!(failed["event_type"], "order.paid");

    let succeeded = alice_live
        .wait_for("delivery.attempt", WAIT, |p| {
            p["delivery_id"] == delivery_id.as_str() && p["attempt"] == 2
        })
        .await;
    assert_eq!(succeeded["outcome"], "succeeded");
    assert_eq!(succeeded["status_code"], 200);
    assert!(succeeded["error_kind"].is_null() && succeeded["next_attempt_at"].is_null());
    assert!(succeeded["duration_ms"].is_number() && succeeded["at"].is_string());

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        bob_live.lines().is_empty(),
        "bob heard alice's lines: {:?}",
        bob_live.lines()
    );
    alice_live.close().await;
    bob_live.close().await;
}

#[tokio::test]
async fn a_burst_of_lines_reaches_the_browser_whole_in_a_few_messages() {
    let stack = spawn_stack().await;
    stack.subscribe(json!({})).await;
    let live = LiveClient::connect(&stack.api.base, stack.token()).await;
    let logs = stack.broker.settings.topology().logs_exchange();
    let tap = stack.broker.tap(&logs, "user.*").await;

    let bodies: Vec<String> = (0..20).map(|n| format!(r#"{{"n": {n}}}"#)).collect();
    let sent = futures_util::future::join_all(bodies.iter().map(|body| stack.send(body))).await;
    for event_id in &sent {
        live.wait_for("delivery.attempt", WAIT, |p| {
            p["event_id"] == event_id.as_str()
        })
        .await;
        live.wait_for("event.received", WAIT, |p| {
            p["event_id"] == event_id.as_str()
        })
        .await;
    }
    // 40 lines (an event received and an attempt for each of 20 events) arrived; sent one
    // message each they would be 40 messages.
    let messages = stack.broker.depth(&tap).await;
    assert!(
        (1..=12).contains(&messages),
        "40 lines travelled in {messages} messages"
    );
    live.close().await;
}

#[tokio::test]
async fn a_browser_on_another_ingest_instance_sees_lines_of_events_sent_to_the_first() {
    let stack = spawn_stack().await;
    stack.subscribe(json!({})).await;
    let second = stack.another_ingest().await;
    let live = LiveClient::connect(&second, stack.token()).await;

    // Live lines are best effort: one published before the second instance has bound the
    // user's key is not kept for later. Send until one arrives.
    let mut event_id = String::new();
    for _ in 0..10 {
        event_id = stack.send("{}").await;
        let heard = live
            .try_wait_for("event.received", Duration::from_secs(2), |p| {
                p["event_id"] == event_id.as_str()
            })
            .await;
        if heard.is_some() {
            break;
        }
    }
    live.wait_for("event.received", WAIT, |p| {
        p["event_id"] == event_id.as_str()
    })
    .await;
    let line = live
        .wait_for("delivery.attempt", WAIT, |p| {
            p["event_id"] == event_id.as_str()
        })
        .await;
    assert_eq!(line["outcome"], "succeeded");
    live.close().await;
}

#[tokio::test]
async fn a_browser_that_never_reads_loses_lines_but_never_slows_delivery() {
    let stack = spawn_stack().await;
    stack.subscribe(json!({})).await;
    let (stalled, joined) = Polling::join(&stack.api.base, stack.token()).await;
    assert!(joined.starts_with("40"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 200 events make 400 lines for a socket that buffers 256 and never reads.
    let mut events = Vec::new();
    for n in 0..200 {
        events.push(stack.send(&format!("{{\"n\": {n}}}")).await);
    }
    stack.receiver.wait_for(200, WAIT).await;
    for event_id in [&events[0], &events[199]] {
        stack
            .wait_status(&stack.delivery_of(event_id).await, "succeeded", WAIT)
            .await;
    }
    let metrics = eventually(
        "lines to be dropped for the stalled socket",
        WAIT,
        || async {
            let text = reqwest::get(format!("{}/metrics", stack.api.base))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let dropped = text
                .lines()
                .find(|l| l.starts_with("warren_gateway_lines_dropped_total "))?
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()?;
            (dropped > 0).then_some(text)
        },
    )
    .await;
    assert!(
        metrics.contains("warren_gateway_lines_emitted_total"),
        "{metrics}"
    );
    let backlog = stalled.poll().await;
    assert!(
        backlog.split('\u{1e}').count() <= 300,
        "the socket's buffer is bounded"
    );
}
