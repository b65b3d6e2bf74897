use std::time::Duration;

use serde_json::{Value, json};
use warren_testkit::eventually;

use crate::helpers::{assert_problem, error_fields, spawn_app};

#[tokio::test]
async fn an_application_publishes_an_event_with_an_api_key() {
    let app = spawn_app().await;
    let api = app.user().await;
    api.create_subscription("http://127.0.0.1:9/any", json!({}))
        .await;
    api.create_subscription(
        "http://127.0.0.1:9/orders",
        json!({"event_types": ["order.*"]}),
    )
    .await;
    let key: Value = api
        .post("/api/v1/api-keys", &json!({"name": "app"}))
        .await
        .json()
        .await
        .expect("JSON");
    let mut app_client = app.api.clone();
    app_client.token = Some(key["key"].as_str().expect("key").to_owned());

    let response = app_client
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.paid", "payload": {"id": 7, "total": 9.5}}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.expect("JSON");
    assert_eq!(accepted["deliveries"], 2);
    let event = api
        .get_json(&format!(
            "/api/v1/events/{}",
            accepted["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(event["event_type"], "order.paid");
    assert_eq!(event["payload"], json!({"id": 7, "total": 9.5}));
    assert_eq!(event["content_type"], "application/json");
    eventually(
        "both envelopes to wait in the main queue",
        Duration::from_secs(5),
        || async { (app.main_queue_depth().await == 2).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn publish_idempotency_keys_are_scoped_to_the_user() {
    let app = spawn_app().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let send = |api: &warren_testkit::api::ApiClient, payload: Value| {
        api.authorized(api.http.post(format!("{}/api/v1/events", app.address)))
            .header("idempotency-key", "k-1")
            .json(&json!({"event_type": "t", "payload": payload}))
            .send()
    };
    let first = send(&alice, json!({"n": 1})).await.expect("sent");
    assert_eq!(first.status(), 202);
    let again = send(&alice, json!({"n": 1})).await.expect("sent");
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_problem(send(&alice, json!({"n": 2})).await.expect("sent"), 422).await;
    let bobs = send(&bob, json!({"n": 1})).await.expect("sent");
    assert_eq!(bobs.status(), 202, "another user's key space is their own");
    assert_eq!(app.count("events").await, 2);
}

#[tokio::test]
async fn a_bad_published_event_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let api = app.user().await;
    let other = app.user().await;
    let foreign = other.create_source().await;
    let cases = [
        (json!({"event_type": "", "payload": {}}), 422),
        (json!({"event_type": "x".repeat(256), "payload": {}}), 422),
        (json!({"payload": {}}), 422),
        (json!({"event_type": "t"}), 422),
        (json!({"event_type": "t", "payload": {"a": "b\u{0}"}}), 422),
        (
            json!({"event_type": "t", "payload": {}, "source_id": foreign["id"]}),
            422,
        ),
    ];
    for (body, status) in cases {
        assert_problem(api.post("/api/v1/events", &body).await, status).await;
    }
    let problem = assert_problem(
        api.post(
            "/api/v1/events",
            &json!({"event_type": "t", "payload": {}, "source_id": foreign["id"]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&problem), ["source_id"]);
    assert_problem(
        app.api
            .post("/api/v1/events", &json!({"event_type": "t", "payload": {}}))
            .await,
        401,
    )
    .await;
    assert_eq!(app.count("events").await, 0);
}
