//! A subscription's payload filter end to end: the receiver gets exactly the events whose
//! payload contains it, and the others make no delivery for it at all.

use std::{collections::HashSet, time::Duration};

use serde_json::json;

use crate::helpers::spawn_stack;

#[tokio::test]
async fn a_filtered_subscription_receives_exactly_the_events_whose_payload_contains_its_filter() {
    let stack = spawn_stack().await;
    let sub = stack
        .subscribe(json!({"filter": {"customer": {"id": "cus_1"}, "items": [{"sku": "A-1"}]}}))
        .await;
    let mix = [
        (
            r#"{"type": "order.paid", "customer": {"id": "cus_1", "name": "Ada"}, "items": [{"sku": "B-2"}, {"sku": "A-1", "n": 2}]}"#,
            true,
        ),
        (
            r#"{"type": "order.paid", "customer": {"id": "cus_1"}, "items": [{"sku": "B-2"}]}"#,
            false,
        ),
        (
            r#"{"type": "order.paid", "customer": {"id": "cus_2"}, "items": [{"sku": "A-1"}]}"#,
            false,
        ),
        (
            r#"{"type": "order.made", "items": [{"sku": "A-1"}], "customer": {"id": "cus_1"}}"#,
            true,
        ),
        (
            r#"{"type": "order.paid", "customer": ["cus_1"], "items": [{"sku": "A-1"}]}"#,
            false,
        ),
    ];
    let mut wanted = HashSet::new();
    let mut unwanted = Vec::new();
    for (body, matches) in mix {
        let id = stack.send(body).await;
        if matches {
            wanted.insert(id);
        } else {
            unwanted.push(id);
        }
    }

    stack.receiver.wait_for(2, Duration::from_secs(15)).await;
    // Every event was sent before the first arrived; a wrong one would be here by now too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received: HashSet<String> = stack
        .receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(received.len(), 2, "{received:?}");
    let client = stack.db.client().await;
    let sub_id: uuid::Uuid = sub["id"].as_str().expect("id").parse().expect("uuid");
    let rows = client
        .query(
            "SELECT event_id::text, id::text FROM deliveries WHERE subscription_id = $1",
            &[&sub_id],
        )
        .await
        .expect("deliveries");
    let events: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let deliveries: HashSet<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(
        events, wanted,
        "no delivery row for an event the filter does not take"
    );
    assert_eq!(received, deliveries, "the receiver got exactly those");
    for id in unwanted {
        let event = stack.api.get_json(&format!("/api/v1/events/{id}")).await;
        assert_eq!(event["deliveries"], json!([]), "{id}");
    }
}

/// An event holding a number at the edge of `f64` (PostgreSQL prints it back as an exact
/// decimal of 309 digits) is read by the worker and delivered byte for byte.
#[tokio::test]
async fn an_event_with_a_number_at_the_edge_of_f64_is_delivered_as_sent() {
    let stack = spawn_stack().await;
    stack.subscribe(json!({})).await;
    let body =
        r#"{"type": "edge", "big": 1.7976931348623157e308, "near": 1.7976931348623155e+308}"#;
    stack.send(body).await;
    stack.receiver.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(stack.receiver.received()[0].body, body.as_bytes());
}
