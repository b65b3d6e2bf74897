//! Workers that die, stop, or lose their dependencies: nothing acknowledged is lost.

use std::time::{Duration, Instant};

use serde_json::json;
use warren_testkit::{broker::TEST_SCHEDULE, proxy::TcpProxy, receiver::Reply};

use crate::helpers::spawn_ingest;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_worker_process_killed_mid_delivery_is_replaced_and_the_delivery_still_arrives() {
    let stack = spawn_ingest(TEST_SCHEDULE).await;
    // The first request hangs, so the worker is killed while the delivery is in flight.
    stack.receiver.sequence(
        vec![Reply::after(Duration::from_secs(60), 200)],
        Reply::status(200),
    );
    stack.subscribe(json!({"timeout_ms": 30000})).await;
    let mut first = stack.spawn_worker_process();
    let event_id = stack.send(r#"{"type": "order.paid"}"#).await;
    stack.receiver.wait_for(1, WAIT).await;

    first.kill();
    let _second = stack.spawn_worker_process();

    let delivery_id = stack.delivery_of(&event_id).await;
    let delivery = stack.wait_status(&delivery_id, "succeeded", WAIT).await;
    let received = stack.receiver.received();
    assert!(received.len() >= 2, "redelivered after the kill");
    assert!(
        received
            .iter()
            .all(|r| r.header("webhook-id") == delivery_id)
    );
    let attempts = delivery["attempts"].as_array().expect("attempts");
    assert_eq!(
        attempts.len(),
        1,
        "the killed attempt never finished, so it was never recorded"
    );
    assert_eq!(attempts[0]["status_code"], 200);
}

#[tokio::test]
async fn sigterm_finishes_the_delivery_in_flight_then_exits_cleanly_without_a_duplicate() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    stack
        .receiver
        .always(Reply::after(Duration::from_secs(2), 200));
    stack.subscribe(json!({})).await;
    let mut worker = stack.spawn_worker_process();
    let event_id = stack.send("{}").await;
    stack.receiver.wait_for(1, WAIT).await;

    worker.terminate();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = worker.0.try_wait().expect("the process") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the worker did not exit within its grace period"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited for the delivery in flight"
    );

    let delivery_id = stack.delivery_of(&event_id).await;
    let delivery = stack
        .api
        .get_json(&format!("/api/v1/deliveries/{delivery_id}"))
        .await;
    assert_eq!(delivery["status"], "succeeded", "recorded before exiting");

    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.receiver.received().len(),
        1,
        "the shutdown itself caused no duplicate"
    );
}

#[tokio::test]
async fn a_worker_whose_broker_link_breaks_reconnects_and_carries_on() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut settings = stack.worker_settings();
    settings.broker = stack.broker.settings_via(&proxy.address());
    stack.start_worker(settings).await;
    stack.subscribe(json!({})).await;

    stack.send(r#"{"n": 1}"#).await;
    stack.receiver.wait_for(1, WAIT).await;

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();

    let event_id = stack.send(r#"{"n": 2}"#).await;
    stack.receiver.wait_for(2, WAIT).await;
    stack
        .wait_status(&stack.delivery_of(&event_id).await, "succeeded", WAIT)
        .await;
}

#[tokio::test]
async fn a_worker_that_cannot_reach_the_database_parks_the_delivery_and_delivers_it_later() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    let proxy = TcpProxy::start(&stack.db.address()).await;
    let mut settings = stack.worker_settings();
    settings.database = stack.db.settings_via(&proxy.address());
    stack.start_worker(settings).await;
    stack.subscribe(json!({})).await;

    proxy.cut();
    let event_id = stack.send("{}").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        stack.receiver.received().is_empty(),
        "nothing is sent without a place to record it"
    );

    proxy.restore();
    let delivery = stack
        .wait_status(&stack.delivery_of(&event_id).await, "succeeded", WAIT)
        .await;
    assert_eq!(delivery["attempts"].as_array().expect("attempts").len(), 1);
    assert_eq!(stack.receiver.received().len(), 1);
}

#[tokio::test]
async fn an_event_accepted_while_the_broker_was_unreachable_is_delivered_once_it_returns() {
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut stack = crate::helpers::spawn_ingest_reaching(TEST_SCHEDULE, |broker| {
        broker.settings_via(&proxy.address())
    })
    .await;
    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    stack.subscribe(json!({})).await;

    proxy.cut();
    let event_id = stack.send(r#"{"type": "while.down"}"#).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stack.receiver.received().is_empty());

    proxy.restore();
    let delivery_id = stack.delivery_of(&event_id).await;
    stack.wait_status(&delivery_id, "succeeded", WAIT).await;
    assert_eq!(
        stack.receiver.received()[0].header("webhook-id"),
        delivery_id
    );
}

#[tokio::test]
async fn a_worker_stopped_while_deliveries_finish_acks_each_before_its_link_goes() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    // Still in flight when the stop comes: each finishes during the drain, and its ack is
    // among the last things the worker sends.
    stack
        .receiver
        .always(Reply::after(Duration::from_millis(300), 200));
    stack.subscribe(json!({})).await;
    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    for n in 0..5 {
        stack.send(&format!(r#"{{"n": {n}}}"#)).await;
    }
    stack.receiver.wait_for(5, WAIT).await;
    stack.stop_workers().await;

    let main_queue = stack.broker.settings.topology().deliver_queue();
    assert_eq!(
        stack.broker.depth(&main_queue).await,
        0,
        "an unacked message would be back in the queue once the link closed"
    );
}

#[tokio::test]
async fn a_worker_stopped_while_deliveries_fail_publishes_their_retries_before_it_goes() {
    let mut stack = spawn_ingest("1h").await;
    // Still in flight when the stop comes, and failing: each retry is published during the
    // drain, so it waits in its tier rather than for the outbox relay to notice it.
    stack
        .receiver
        .always(Reply::after(Duration::from_millis(300), 500));
    stack.subscribe(json!({})).await;
    let settings = stack.worker_settings();
    stack.start_worker(settings).await;
    for n in 0..5 {
        stack.send(&format!(r#"{{"n": {n}}}"#)).await;
    }
    stack.receiver.wait_for(5, WAIT).await;
    stack.stop_workers().await;

    let topology = stack.broker.settings.topology();
    let hour = topology
        .tiers()
        .into_iter()
        .find(|tier| tier.ttl == Duration::from_secs(3_600))
        .expect("the 1h tier");
    assert_eq!(
        stack.broker.depth(&topology.retry_queue(&hour)).await,
        5,
        "every failed delivery's retry waits in its tier once the worker has stopped"
    );
}

#[tokio::test]
async fn a_worker_stopped_while_its_broker_link_is_silent_still_stops_promptly() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut settings = stack.worker_settings();
    settings.broker = stack.broker.settings_via(&proxy.address());
    // Heartbeats too slow to end the silent link within the test.
    settings.broker.heartbeat_secs = 60;
    stack.start_worker(settings).await;
    stack.subscribe(json!({})).await;
    stack.send("{}").await;
    stack.receiver.wait_for(1, WAIT).await;

    // The worker's links die without a word (as behind a dead router), then it is stopped:
    // cancelling its consumers gets no answer, and it must not wait for one.
    proxy.stall_open();
    // Without a bound, the stop would wait for the heartbeats to end the link (~2 min).
    tokio::time::timeout(Duration::from_secs(30), stack.stop_workers())
        .await
        .expect("the worker stopped without waiting for its silent broker");
}
