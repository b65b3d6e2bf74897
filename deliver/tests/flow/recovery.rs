//! Undoing failures from the API: dead letters replayed (one, in bulk), discarded; events
//! replayed; deliveries retried; and what the logs and stats show of it.

use std::time::Duration;

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use warren_testkit::{eventually, receiver::Reply};

use crate::helpers::{Stack, spawn_stack};

const WAIT: Duration = Duration::from_secs(20);

/// Sends `n` events to a failing receiver on a one-attempt subscription and waits for them
/// all to die; returns the subscription and the dead delivery ids.
async fn dead_letters(stack: &Stack, n: usize, path: &str) -> (Value, Vec<String>) {
    let sub = stack
        .api
        .create_subscription(&stack.receiver.url(path), json!({"max_attempts": 1}))
        .await;
    let mut dead = Vec::new();
    for i in 0..n {
        let event_id = stack.send(&format!("{{\"n\": {i}}}")).await;
        let event = stack
            .api
            .get_json(&format!("/api/v1/events/{event_id}"))
            .await;
        let delivery = event["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .find(|d| d["subscription_id"] == sub["id"])
            .expect("a delivery to this subscription")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        stack.wait_status(&delivery, "dead", WAIT).await;
        dead.push(delivery);
    }
    (sub, dead)
}

#[tokio::test]
async fn a_replayed_dead_letter_is_the_same_delivery_with_its_old_attempts_kept() {
    let stack = spawn_stack().await;
    stack.receiver.always(Reply::status(500));
    let (_, dead) = dead_letters(&stack, 1, "/hook").await;
    let id = &dead[0];
    let listed = stack.api.get_json("/api/v1/dead-letters").await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["data"][0]["status"], "dead");

    stack.receiver.always(Reply::status(200));
    let replayed = stack
        .api
        .post(&format!("/api/v1/dead-letters/{id}/replay"), &json!({}))
        .await;
    assert_eq!(replayed.status(), 202);
    let delivery = stack.wait_status(id, "succeeded", WAIT).await;
    let attempts: Vec<(i64, i64)> = delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().expect("n"),
                a["status_code"].as_i64().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(1, 500), (2, 200)],
        "the new attempt follows the old one in the log"
    );
    let last = stack.receiver.received().pop().expect("a request");
    assert_eq!(
        last.header("webhook-id"),
        id,
        "same delivery, same webhook-id"
    );
    assert_eq!(last.header("x-warren-attempt"), "2");
    assert_eq!(
        stack.api.get_json("/api/v1/dead-letters").await["data"],
        json!([])
    );

    let again = stack
        .api
        .post(&format!("/api/v1/dead-letters/{id}/replay"), &json!({}))
        .await;
    assert_eq!(
        again.status(),
        404,
        "a delivery that is no longer dead is not a dead letter"
    );
}

#[tokio::test]
async fn a_replay_gets_the_subscriptions_full_attempts_again() {
    let stack = spawn_stack().await;
    stack.receiver.always(Reply::status(500));
    let sub = stack.subscribe(json!({"max_attempts": 2})).await;
    let event_id = stack.send("{}").await;
    let id = stack.delivery_of(&event_id).await;
    stack.wait_status(&id, "dead", WAIT).await;
    stack
        .api
        .post(&format!("/api/v1/dead-letters/{id}/replay"), &json!({}))
        .await;
    let delivery = eventually("the second round to die", WAIT, || async {
        let d = stack
            .api
            .get_json(&format!("/api/v1/deliveries/{id}"))
            .await;
        (d["status"] == "dead" && d["attempt_count"] == 4).then_some(d)
    })
    .await;
    assert_eq!(delivery["attempts"].as_array().expect("attempts").len(), 4);
    assert_eq!(
        stack
            .receiver
            .received()
            .last()
            .expect("a request")
            .header("x-warren-max-attempts"),
        "4"
    );
    assert!(sub["id"].is_string());
}

#[tokio::test]
async fn bulk_replay_redelivers_only_the_chosen_subscriptions_dead_letters_in_the_window() {
    let stack = spawn_stack().await;
    stack.receiver.always(Reply::status(500));
    let (a, dead_a) = dead_letters(&stack, 3, "/a").await;
    let (_b, _) = dead_letters(&stack, 0, "/b").await;
    let dead_total = stack.api.get_json("/api/v1/dead-letters?limit=200").await["data"]
        .as_array()
        .expect("data")
        .len();
    assert!(dead_total >= 3);

    let future = (OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&Rfc3339)
        .expect("formats");
    let none: Value = stack
        .api
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"subscription_id": a["id"], "from": future}),
        )
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(none["replayed"], 0, "nothing died in the future");

    stack.receiver.always(Reply::status(200));
    let before = stack.receiver.received().len();
    let response = stack
        .api
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"subscription_id": a["id"]}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let replayed: Value = response.json().await.expect("JSON");
    assert_eq!(replayed["replayed"], 3);
    for id in &dead_a {
        stack.wait_status(id, "succeeded", WAIT).await;
    }
    let redelivered: Vec<String> = stack.receiver.received()[before..]
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert!(
        dead_a.iter().all(|id| redelivered.contains(id)),
        "each dead letter of A reached the receiver again"
    );
    assert!(
        stack.receiver.received()[before..]
            .iter()
            .all(|r| r.path == "/a"),
        "only A's were replayed"
    );
}

#[tokio::test]
async fn a_discarded_dead_letter_leaves_the_list_and_keeps_its_log() {
    let stack = spawn_stack().await;
    stack.receiver.always(Reply::status(500));
    let (_, dead) = dead_letters(&stack, 1, "/hook").await;
    let id = &dead[0];
    let url = format!("{}/api/v1/dead-letters/{id}", stack.api.base);
    let discarded = stack
        .api
        .authorized(stack.api.http.delete(&url))
        .send()
        .await
        .expect("sent");
    assert_eq!(discarded.status(), 204);
    assert_eq!(
        stack.api.get_json("/api/v1/dead-letters").await["data"],
        json!([])
    );
    let delivery = stack
        .api
        .get_json(&format!("/api/v1/deliveries/{id}"))
        .await;
    assert_eq!(delivery["status"], "dead");
    assert_eq!(delivery["attempts"].as_array().expect("attempts").len(), 1);
    let again = stack
        .api
        .authorized(stack.api.http.delete(&url))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn replaying_an_event_makes_new_deliveries_to_all_or_to_one_subscription() {
    let stack = spawn_stack().await;
    let first = stack
        .api
        .create_subscription(&stack.receiver.url("/one"), json!({}))
        .await;
    stack
        .api
        .create_subscription(&stack.receiver.url("/two"), json!({}))
        .await;
    let event_id = stack.send(r#"{"type": "order.paid"}"#).await;
    stack.receiver.wait_for(2, WAIT).await;

    let all: Value = stack
        .api
        .post(&format!("/api/v1/events/{event_id}/replay"), &json!({}))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(all["deliveries"], 2);
    stack.receiver.wait_for(4, WAIT).await;
    let one = stack
        .api
        .post(
            &format!("/api/v1/events/{event_id}/replay"),
            &json!({"subscription_id": first["id"]}),
        )
        .await;
    assert_eq!(one.status(), 202);
    let received = stack.receiver.wait_for(5, WAIT).await;
    assert_eq!(received[4].path, "/one");

    let event = stack
        .api
        .get_json(&format!("/api/v1/events/{event_id}"))
        .await;
    assert_eq!(event["deliveries"].as_array().expect("deliveries").len(), 5);
    let mut ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "a replayed event gets new delivery ids");
    assert!(
        received
            .iter()
            .all(|r| r.body.as_ref() == br#"{"type": "order.paid"}"#)
    );
}

#[tokio::test]
async fn retrying_a_succeeded_delivery_sends_it_again_as_its_next_attempt() {
    let stack = spawn_stack().await;
    stack.subscribe(json!({})).await;
    let event_id = stack.send("{}").await;
    let id = stack.delivery_of(&event_id).await;
    stack.wait_status(&id, "succeeded", WAIT).await;
    let retried = stack
        .api
        .post(&format!("/api/v1/deliveries/{id}/retry"), &json!({}))
        .await;
    assert_eq!(retried.status(), 202);
    let delivery = eventually("the retry to be recorded", WAIT, || async {
        let d = stack
            .api
            .get_json(&format!("/api/v1/deliveries/{id}"))
            .await;
        (d["attempt_count"] == 2 && d["status"] == "succeeded").then_some(d)
    })
    .await;
    assert_eq!(delivery["attempts"][1]["attempt"], 2);
    assert_eq!(stack.receiver.received().len(), 2);
}

#[tokio::test]
async fn a_subscriptions_deliveries_filter_by_status_and_status_code_and_its_stats_add_up() {
    let stack = spawn_stack().await;
    stack.receiver.plan(|_, request| {
        Reply::status(if request.body.as_ref() == b"{\"fail\": true}" {
            500
        } else {
            200
        })
    });
    let sub = stack.subscribe(json!({"max_attempts": 1})).await;
    let sub_id = sub["id"].as_str().expect("id");
    let mut ids = Vec::new();
    for body in ["{\"fail\": false}", "{\"fail\": true}", "{\"fail\": false}"] {
        ids.push(stack.delivery_of(&stack.send(body).await).await);
    }
    for (id, status) in ids.iter().zip(["succeeded", "dead", "succeeded"]) {
        stack.wait_status(id, status, WAIT).await;
    }
    let path = format!("/api/v1/subscriptions/{sub_id}/deliveries");
    let count = |v: Value| v["data"].as_array().expect("data").len();
    assert_eq!(count(stack.api.get_json(&path).await), 3);
    assert_eq!(
        count(
            stack
                .api
                .get_json(&format!("{path}?status=succeeded"))
                .await
        ),
        2
    );
    let dead = stack.api.get_json(&format!("{path}?status=dead")).await;
    assert_eq!(dead["data"][0]["id"], ids[1].as_str());
    assert_eq!(
        count(stack.api.get_json(&format!("{path}?status_code=500")).await),
        1
    );
    assert_eq!(
        count(stack.api.get_json(&format!("{path}?limit=2")).await),
        2
    );

    let stats = stack
        .api
        .get_json(&format!("/api/v1/subscriptions/{sub_id}/stats?window=1h"))
        .await;
    assert_eq!(stats["window"], "1h");
    assert_eq!(stats["total"], 3);
    assert_eq!(stats["succeeded"], 2);
    assert_eq!(stats["failed"], 1);
    assert_eq!(stats["dead"], 1);
    let rate = stats["success_rate"].as_f64().expect("a rate");
    assert!((rate - 2.0 / 3.0).abs() < 1e-9);
    assert!(
        stats["latency_ms"]["p99"].as_f64().expect("p99")
            >= stats["latency_ms"]["p50"].as_f64().expect("p50")
    );
    let series = stats["series"].as_array().expect("series");
    assert!(
        (60..=61).contains(&series.len()),
        "a point per minute: {}",
        series.len()
    );
    let attempts: i64 = series
        .iter()
        .map(|p| p["succeeded"].as_i64().unwrap_or(0) + p["failed"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn the_worker_counts_its_deliveries_and_attempts_in_its_metrics() {
    let mut stack = crate::helpers::spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let settings = stack.worker_settings();
    let port = stack.start_worker(settings).await;
    stack.subscribe(json!({})).await;
    let id = stack.delivery_of(&stack.send("{}").await).await;
    stack.wait_status(&id, "succeeded", WAIT).await;
    let text = eventually("the worker to count the delivery", WAIT, || async {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        // Counted, then acked, then out of flight: wait for the last of the three.
        (text.contains("warren_deliveries_total{outcome=\"succeeded\"} 1")
            && text.contains("warren_deliveries_in_flight 0"))
        .then_some(text)
    })
    .await;
    assert!(
        text.contains("warren_attempt_duration_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains("warren_consumer_reconnects_total 0"),
        "{text}"
    );
    // Readiness is a moment's check of both dependencies (the database's within two
    // seconds): on a machine busy with other tests, ask until it answers ready.
    eventually("the worker to be ready", WAIT, || async {
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .ok()?;
        (ready.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_workers_health_and_metrics_answers_are_never_sniffed() {
    let mut stack = crate::helpers::spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let settings = stack.worker_settings();
    let port = stack.start_worker(settings).await;
    for path in ["/healthz", "/readyz", "/metrics", "/nothing-here"] {
        let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .expect("the worker answers");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}
