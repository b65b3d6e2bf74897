//! Pausing and enabling subscriptions, and replaying a time range of events to one, as the
//! API answers them: the happy paths that need no worker, and every refusal, with nothing
//! changed after one.

use std::time::Duration;

use serde_json::{Value, json};
use warren_testkit::{api::ApiClient, eventually};

use crate::helpers::{TestApp, assert_problem, error_fields, spawn_app};

fn id_of(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// A user with a source and a subscription to the loopback; returns them.
async fn subscribed(app: &TestApp, extra: Value) -> (ApiClient, Value, Value) {
    let api = app.user().await;
    let source = api.create_source().await;
    let subscription = api
        .create_subscription("http://127.0.0.1:9/hook", extra)
        .await;
    (api, source, subscription)
}

async fn send(api: &ApiClient, source: &Value, event_type: &str, n: u32) -> String {
    let response = api
        .ingest(
            &TestApp::ingest_url(source),
            "application/json",
            json!({"type": event_type, "n": n}).to_string(),
        )
        .await;
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.expect("JSON");
    answer["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn pausing_holds_what_was_waiting_and_enabling_with_a_bad_held_value_changes_nothing() {
    let app = spawn_app().await;
    let (api, source, sub) = subscribed(&app, json!({})).await;
    send(&api, &source, "a", 1).await;
    send(&api, &source, "a", 2).await;
    // Both failed once and wait an hour for their next attempt. (A fresh delivery, due at
    // once, is held by the worker when its envelope arrives: no worker runs here.)
    app.db
        .client()
        .await
        .execute(
            "UPDATE deliveries SET status = 'retrying', attempt_count = 1,
                 next_attempt_at = now() + interval '1 hour'",
            &[],
        )
        .await
        .expect("retrying");

    let paused = api
        .post(
            &format!("/api/v1/subscriptions/{}/pause", id_of(&sub)),
            &json!({}),
        )
        .await;
    assert_eq!(paused.status(), 200);
    let paused: Value = paused.json().await.expect("JSON");
    assert_eq!(paused["is_active"], false);
    assert_eq!(paused["disabled_reason"], "paused");
    assert_eq!(
        paused["held_count"], 2,
        "the retrying ones are held at once"
    );

    let refused = api
        .post(
            &format!("/api/v1/subscriptions/{}/enable", id_of(&sub)),
            &json!({"held": "later"}),
        )
        .await;
    let problem = assert_problem(refused, 422).await;
    assert_eq!(error_fields(&problem), vec!["held"]);
    let not_json = api
        .authorized(api.http.post(format!(
            "{}/api/v1/subscriptions/{}/enable",
            api.base,
            id_of(&sub)
        )))
        .header("content-type", "application/json")
        .body("{held")
        .send()
        .await
        .expect("sent");
    assert_problem(not_json, 400).await;
    let still = api
        .get_json(&format!("/api/v1/subscriptions/{}", id_of(&sub)))
        .await;
    assert_eq!(
        still["is_active"], false,
        "a refused enable changes nothing"
    );
    assert_eq!(still["held_count"], 2);
}

#[tokio::test]
async fn another_users_subscription_cannot_be_paused_or_enabled() {
    let app = spawn_app().await;
    let (_, _, sub) = subscribed(&app, json!({})).await;
    let stranger = app.user().await;
    for action in ["pause", "enable"] {
        let answer = stranger
            .post(
                &format!("/api/v1/subscriptions/{}/{action}", id_of(&sub)),
                &json!({}),
            )
            .await;
        assert_problem(answer, 404).await;
    }
    let bad_id = stranger
        .post("/api/v1/subscriptions/not-a-uuid/pause", &json!({}))
        .await;
    assert!(bad_id.status().is_client_error());
}

#[tokio::test]
async fn a_range_replay_makes_one_delivery_per_matching_event_in_the_order_received() {
    let app = spawn_app().await;
    let (api, source, _) = subscribed(&app, json!({})).await;
    let before = send(&api, &source, "order.paid", 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let from = time::OffsetDateTime::now_utc();
    let mut inside = Vec::new();
    for n in 1..=6 {
        let kind = if n % 3 == 0 {
            "user.created"
        } else {
            "order.paid"
        };
        inside.push((send(&api, &source, kind, n).await, kind));
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let to = time::OffsetDateTime::now_utc();
    send(&api, &source, "order.paid", 7).await;
    let backfill = api
        .create_subscription(
            "http://127.0.0.1:9/backfill",
            json!({"event_types": ["order.*"], "ordering": "fifo"}),
        )
        .await;
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("formatted")
    };
    let answer = api
        .post(
            "/api/v1/events/replay",
            &json!({"subscription_id": id_of(&backfill), "from": rfc(from), "to": rfc(to)}),
        )
        .await;
    assert_eq!(answer.status(), 202);
    let answer: Value = answer.json().await.expect("JSON");
    assert_eq!(
        answer["replayed"], 4,
        "the four order events inside the range"
    );

    let made: Vec<String> = app
        .db
        .client()
        .await
        .query(
            "SELECT event_id::text FROM deliveries WHERE subscription_id = $1::text::uuid
             ORDER BY fifo_seq",
            &[&id_of(&backfill)],
        )
        .await
        .expect("the deliveries")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<String> = inside
        .iter()
        .filter(|(_, kind)| *kind == "order.paid")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        made, expected,
        "in the order received, none outside the range"
    );
    assert!(!made.contains(&before));

    // Without `to`, the range runs to now: the event after the first range is in it too.
    let to_now = api
        .post(
            "/api/v1/events/replay",
            &json!({"subscription_id": id_of(&backfill), "from": rfc(to)}),
        )
        .await;
    let to_now: Value = to_now.json().await.expect("JSON");
    assert_eq!(to_now["replayed"], 1);
}

#[tokio::test]
async fn a_bad_range_replay_is_refused_and_makes_nothing() {
    let app = spawn_app().await;
    let (api, source, sub) = subscribed(&app, json!({})).await;
    send(&api, &source, "a", 1).await;
    let deliveries = app.count("deliveries").await;
    let id = id_of(&sub);
    let cases = [
        (
            json!({"subscription_id": id, "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            422,
            Some("to"),
        ),
        (json!({"subscription_id": id}), 422, Some("from")),
        (
            json!({"subscription_id": id, "from": "yesterday"}),
            422,
            Some("from"),
        ),
        (
            json!({"subscription_id": uuid::Uuid::now_v7(), "from": "2026-01-01T00:00:00Z"}),
            422,
            Some("subscription_id"),
        ),
    ];
    for (body, status, field) in cases {
        let problem = assert_problem(api.post("/api/v1/events/replay", &body).await, status).await;
        if let Some(field) = field {
            assert_eq!(error_fields(&problem), vec![field], "{body}");
        }
    }
    let stranger = app.user().await;
    let foreign = stranger
        .post(
            "/api/v1/events/replay",
            &json!({"subscription_id": id, "from": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        error_fields(&assert_problem(foreign, 422).await),
        vec!["subscription_id"]
    );
    let paused = api
        .post(&format!("/api/v1/subscriptions/{id}/pause"), &json!({}))
        .await;
    assert_eq!(paused.status(), 200);
    let refused = api
        .post(
            "/api/v1/events/replay",
            &json!({"subscription_id": id, "from": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_problem(refused, 409).await;
    assert_eq!(
        app.count("deliveries").await,
        deliveries,
        "nothing was made"
    );
}

#[tokio::test]
async fn a_held_or_discarded_delivery_is_not_retried_by_hand() {
    let app = spawn_app().await;
    let (api, source, sub) = subscribed(&app, json!({})).await;
    send(&api, &source, "a", 1).await;
    let sub_path = format!("/api/v1/subscriptions/{}", id_of(&sub));
    let paused = api.post(&format!("{sub_path}/pause"), &json!({})).await;
    assert_eq!(paused.status(), 200);
    // Its delivery waits, as if its envelope had come while the subscription was paused.
    app.db
        .client()
        .await
        .execute("UPDATE deliveries SET status = 'held'", &[])
        .await
        .expect("held");
    let held = api
        .get_json(&format!("{sub_path}/deliveries?status=held"))
        .await;
    let delivery = held["data"][0]["id"].as_str().expect("a held delivery");

    retry_is_refused(&api, delivery, "held").await;

    let enabled = api
        .post(&format!("{sub_path}/enable"), &json!({"held": "discard"}))
        .await;
    assert_eq!(enabled.status(), 200);
    // The held sweep discards it soon after.
    let delivery_path = format!("/api/v1/deliveries/{delivery}");
    eventually(
        "the held delivery discarded",
        Duration::from_secs(10),
        || async {
            let now = api.get_json(&delivery_path).await;
            (now["status"] == "discarded").then_some(())
        },
    )
    .await;
    retry_is_refused(&api, delivery, "discarded").await;
    let discarded_at: Option<time::OffsetDateTime> = app
        .db
        .client()
        .await
        .query_one("SELECT discarded_at FROM deliveries", &[])
        .await
        .expect("the delivery")
        .get(0);
    assert!(discarded_at.is_some(), "its discard time is kept");

    let stranger = app.user().await;
    let retry = format!("/api/v1/deliveries/{delivery}/retry");
    let hidden = stranger.post(&retry, &json!({})).await;
    assert_problem(hidden, 404).await;
}

/// Asks to retry `delivery` by hand: a 409 naming its `status`, and the delivery unchanged.
async fn retry_is_refused(api: &ApiClient, delivery: &str, status: &str) {
    let refused = api
        .post(&format!("/api/v1/deliveries/{delivery}/retry"), &json!({}))
        .await;
    let problem = assert_problem(refused, 409).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(status)),
        "{problem}"
    );
    let still = api
        .get_json(&format!("/api/v1/deliveries/{delivery}"))
        .await;
    assert_eq!(still["status"], status, "a refused retry changes nothing");
}
