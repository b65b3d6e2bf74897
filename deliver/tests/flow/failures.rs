//! Failed attempts: retried through the wait queues, until success or dead and the graveyard.

use std::time::Duration;

use serde_json::{Value, json};
use warren_shared::envelope::Envelope;
use warren_testkit::{eventually, receiver::Reply};

use crate::helpers::{spawn_stack, spawn_stack_with};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_failing_receiver_is_retried_through_the_wait_queues_until_it_succeeds() {
    let stack = spawn_stack().await;
    stack.receiver.sequence(
        vec![Reply::status(500), Reply::status(503)],
        Reply::status(200),
    );
    stack.subscribe(json!({})).await;
    let event_id = stack.send(r#"{"type": "order.paid"}"#).await;
    let delivery_id = stack.delivery_of(&event_id).await;

    let delivery = stack.wait_status(&delivery_id, "succeeded", WAIT).await;
    let codes: Vec<&Value> = delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(delivery["attempt_count"], 3);

    let received = stack.receiver.received();
    assert!(
        received
            .iter()
            .all(|r| r.header("webhook-id") == delivery_id),
        "webhook-id is stable across attempts"
    );
    let attempts: Vec<&str> = received
        .iter()
        .map(|r| r.header("x-warren-attempt"))
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    // The test schedule waits 300 ms then 600 ms; jitter takes off at most a fifth.
    let first_wait = received[1].at - received[0].at;
    let second_wait = received[2].at - received[1].at;
    assert!(first_wait >= Duration::from_millis(240), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(480), "{second_wait:?}");
}

#[tokio::test]
async fn a_waiting_retry_is_visible_in_its_tier_queue() {
    let stack = spawn_stack_with("8s").await;
    stack
        .receiver
        .sequence(vec![Reply::status(500)], Reply::status(200));
    stack.subscribe(json!({})).await;
    let event_id = stack.send("{}").await;
    stack.receiver.wait_for(1, WAIT).await;
    let tier_queue = format!("{}.retry.8s", stack.broker.settings.prefix);
    eventually("the retry to wait in its tier queue", WAIT, || async {
        (stack.broker.depth(&tier_queue).await == 1).then_some(())
    })
    .await;
    let delivery = stack
        .api
        .get_json(&format!(
            "/api/v1/deliveries/{}",
            stack.delivery_of(&event_id).await
        ))
        .await;
    assert_eq!(delivery["status"], "retrying");
    assert!(delivery["next_attempt_at"].is_string());
    stack
        .wait_status(delivery["id"].as_str().expect("id"), "succeeded", WAIT)
        .await;
    assert_eq!(stack.broker.depth(&tier_queue).await, 0);
}

#[tokio::test]
async fn after_max_attempts_the_delivery_is_dead_and_a_copy_is_in_the_graveyard() {
    let stack = spawn_stack().await;
    stack.receiver.always(Reply::status(500));
    stack.subscribe(json!({"max_attempts": 3})).await;
    let event_id = stack.send("{}").await;
    let delivery_id = stack.delivery_of(&event_id).await;

    let delivery = stack.wait_status(&delivery_id, "dead", WAIT).await;
    assert_eq!(delivery["attempts"].as_array().expect("attempts").len(), 3);
    assert!(delivery["dead_at"].is_string());
    assert_eq!(delivery["next_attempt_at"], Value::Null);

    let graveyard = stack.broker.settings.topology().graveyard_queue();
    let copy = eventually("the graveyard copy", WAIT, || async {
        stack.broker.take(&graveyard).await
    })
    .await;
    let Some(Envelope::DeliverV1(envelope)) = Envelope::from_bytes(&copy) else {
        panic!("the graveyard holds an envelope");
    };
    assert_eq!(envelope.delivery_id.to_string(), delivery_id);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        stack.receiver.received().len(),
        3,
        "no attempt after the last"
    );
}

#[tokio::test]
async fn deliveries_of_a_deleted_subscription_stop() {
    let stack = spawn_stack_with("2s").await;
    stack.receiver.always(Reply::status(500));
    let sub = stack.subscribe(json!({})).await;
    stack.send("{}").await;
    stack.receiver.wait_for(1, WAIT).await;
    let url = format!(
        "{}/api/v1/subscriptions/{}",
        stack.api.base,
        sub["id"].as_str().expect("id")
    );
    let deleted = stack
        .api
        .authorized(stack.api.http.delete(url))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        stack.receiver.received().len(),
        1,
        "the waiting retry was dropped, not sent"
    );
}

#[tokio::test]
async fn a_poison_message_is_parked_in_the_graveyard_and_the_worker_carries_on() {
    let stack = spawn_stack().await;
    let topology = stack.broker.settings.topology();
    let publisher = warren_shared::publisher::Publisher::start(
        stack.broker.settings.clone(),
        "test poisoner",
        Default::default(),
        tokio_util::sync::CancellationToken::new(),
    );
    assert!(publisher.wait_connected(WAIT).await);
    let poison = warren_shared::amqp::Outgoing {
        exchange: topology.deliver_exchange(),
        routing_key: warren_shared::topology::DELIVER_ROUTING_KEY.into(),
        body: b"not an envelope".to_vec(),
        expiration: None,
        message_id: Some("poison".into()),
    };
    publisher.publish(poison).await.expect("published");
    let parked = eventually("the poison in the graveyard", WAIT, || async {
        stack.broker.take(&topology.graveyard_queue()).await
    })
    .await;
    assert_eq!(parked, b"not an envelope");

    stack.subscribe(json!({})).await;
    stack.send("{}").await;
    stack.receiver.wait_for(1, WAIT).await;
}
