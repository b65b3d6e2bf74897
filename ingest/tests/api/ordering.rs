//! Ordered (FIFO) subscriptions at ingest: each delivery takes its place in its line in the
//! creating transaction, its envelope goes to the line's shard, and the API shows the line.

use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

use warren_testkit::{api::ApiClient, eventually};

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// Each subscription's deliveries with their places, in place order.
async fn places(app: &TestApp, subscription: &Value) -> Vec<(Uuid, Option<i64>)> {
    let id: Uuid = subscription["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a uuid");
    let client = app.db.client().await;
    client
        .query(
            "SELECT event_id, fifo_seq FROM deliveries WHERE subscription_id = $1
             ORDER BY fifo_seq, id",
            &[&id],
        )
        .await
        .expect("the deliveries")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn send(api: &ApiClient, url: &str, n: usize) -> Uuid {
    let response = api
        .ingest(url, "application/json", format!("{{\"n\": {n}}}"))
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("an id").parse().expect("a uuid")
}

#[tokio::test]
async fn fifo_deliveries_take_their_places_in_commit_order_and_ring_their_shard() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let url = TestApp::ingest_url(&source);
    let fifo = api
        .create_subscription("http://127.0.0.1:9/fifo", json!({"ordering": "fifo"}))
        .await;
    let plain = api
        .create_subscription("http://127.0.0.1:9/plain", json!({}))
        .await;
    assert_eq!(fifo["ordering"], "fifo");
    assert_eq!(fifo["on_dead"], "skip");

    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(send(&api, &url, n).await);
    }
    let in_line = places(&app, &fifo).await;
    let expected: Vec<(Uuid, Option<i64>)> = sent
        .iter()
        .zip(1..)
        .map(|(&event, place)| (event, Some(place)))
        .collect();
    assert_eq!(in_line, expected, "places follow the order of the commits");
    assert!(
        places(&app, &plain).await.iter().all(|(_, p)| p.is_none()),
        "unordered deliveries have no place"
    );

    let topology = app.broker.settings.topology();
    let fifo_id: Uuid = fifo["id"].as_str().expect("an id").parse().expect("a uuid");
    let shard = topology.ordered_queue(topology.shard_of(fifo_id));
    // The answers do not wait for the broker's confirms: the messages may still be landing.
    eventually(
        "one doorbell per FIFO delivery, the unordered ones in the main queue",
        Duration::from_secs(5),
        || async {
            let depths = (app.broker.depth(&shard).await, app.main_queue_depth().await);
            (depths == (5, 5)).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_events_to_two_fifo_lines_get_dense_places_in_each() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let url = TestApp::ingest_url(&source);
    let mut lines = Vec::new();
    for path in ["a", "b"] {
        lines.push(
            api.create_subscription(
                &format!("http://127.0.0.1:9/{path}"),
                json!({"ordering": "fifo"}),
            )
            .await,
        );
    }
    let sends = (0..120).map(|n| send(&api, &url, n));
    let events = futures_util::future::join_all(sends).await;

    for line in &lines {
        let in_line = places(&app, line).await;
        let numbers: Vec<i64> = in_line.iter().map(|(_, p)| p.expect("a place")).collect();
        assert_eq!(numbers, (1..=120).collect::<Vec<_>>(), "dense, no repeats");
        let mut seen: Vec<Uuid> = in_line.iter().map(|(e, _)| *e).collect();
        seen.sort();
        let mut all = events.clone();
        all.sort();
        assert_eq!(seen, all, "every event in the line once");
    }
    // One commit order for both lines: two events in one line in one order are in the
    // other line in the same order.
    let order = |line: &Value| {
        let line = line.clone();
        let app = &app;
        async move {
            places(app, &line)
                .await
                .into_iter()
                .map(|(event, _)| event)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(order(&lines[0]).await, order(&lines[1]).await);
}

#[tokio::test]
async fn the_line_shows_its_head_and_how_many_wait_and_only_to_its_owner() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let url = TestApp::ingest_url(&source);
    let fifo = api
        .create_subscription(
            "http://127.0.0.1:9/fifo",
            json!({"ordering": "fifo", "on_dead": "pause"}),
        )
        .await;
    let path = format!(
        "/api/v1/subscriptions/{}/line",
        fifo["id"].as_str().expect("id")
    );

    let empty = api.get_json(&path).await;
    assert_eq!(empty["state"], "empty");
    assert_eq!(empty["on_dead"], "pause");
    assert_eq!(empty["waiting"], 0);
    assert!(empty["head"].is_null());

    let first = send(&api, &url, 0).await;
    for n in 1..4 {
        send(&api, &url, n).await;
    }
    let line = api.get_json(&path).await;
    assert_eq!(line["state"], "flowing");
    assert_eq!(line["head"]["event_id"], first.to_string());
    assert_eq!(line["waiting"], 3);

    let stranger = app.user().await;
    assert_problem(stranger.get(&path).await, 404).await;
    let unknown = format!("/api/v1/subscriptions/{}/line", Uuid::now_v7());
    assert_problem(api.get(&unknown).await, 404).await;
}

#[tokio::test]
async fn ordering_and_on_dead_are_validated_and_changed_by_patch() {
    let app = spawn_app().await;
    let api = app.user().await;
    let bad = api
        .post(
            "/api/v1/subscriptions",
            &json!({"name": "x", "target_url": "http://127.0.0.1:9/x", "ordering": "lifo"}),
        )
        .await;
    assert_problem(bad, 422).await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/x", json!({}))
        .await;
    assert_eq!(sub["ordering"], "none");
    let patched: Value = api
        .authorized(api.http.patch(format!(
            "{}/api/v1/subscriptions/{}",
            api.base,
            sub["id"].as_str().expect("id")
        )))
        .json(&json!({"ordering": "fifo", "on_dead": "pause"}))
        .send()
        .await
        .expect("the patch")
        .json()
        .await
        .expect("JSON");
    assert_eq!(patched["ordering"], "fifo");
    assert_eq!(patched["on_dead"], "pause");
}
