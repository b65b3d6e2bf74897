//! `batch` on subscriptions: stored and shown, changed and cleared by PATCH and PUT, and
//! refused with a 422 naming it when out of range or combined with what it cannot go with.

use serde_json::{Value, json};
use warren_testkit::api::ApiClient;

use crate::helpers::{assert_problem, error_fields, spawn_app};

fn path(sub: &Value) -> String {
    format!("/api/v1/subscriptions/{}", sub["id"].as_str().expect("id"))
}

/// PATCHes a subscription, expecting 200; returns it.
async fn patched(api: &ApiClient, sub: &Value, body: Value) -> Value {
    let response = api.patch(&path(sub), &body).await;
    assert_eq!(response.status(), 200, "PATCH {body}");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn a_batch_is_stored_changed_by_patch_and_cleared_by_null_or_put() {
    let app = spawn_app().await;
    let api = app.user().await;
    let plain = api
        .create_subscription("https://example.com/a", json!({}))
        .await;
    assert_eq!(plain["batch"], Value::Null, "absent: one event per request");

    let batch = json!({"max_events": 100, "max_wait_ms": 2000});
    let sub = api
        .create_subscription("https://example.com/b", json!({"batch": batch}))
        .await;
    assert_eq!(sub["batch"], batch);

    let changed = json!({"max_events": 2, "max_wait_ms": 0});
    assert_eq!(
        patched(&api, &sub, json!({"batch": changed})).await["batch"],
        changed
    );
    assert_eq!(
        patched(&api, &sub, json!({"timeout_ms": 5000})).await["batch"],
        changed,
        "PATCH keeps what it does not name"
    );
    assert_eq!(
        patched(&api, &sub, json!({"batch": null})).await["batch"],
        Value::Null
    );

    patched(&api, &sub, json!({"batch": batch})).await;
    let put = json!({"name": "b", "target_url": "https://example.com/b"});
    let replaced: Value = api.put(&path(&sub), &put).await.json().await.expect("JSON");
    assert_eq!(replaced["batch"], Value::Null, "PUT resets what it omits");
}

#[tokio::test]
async fn a_batch_out_of_range_or_malformed_is_a_422_naming_batch() {
    let app = spawn_app().await;
    let api = app.user().await;
    let cases = [
        json!({"max_events": 1, "max_wait_ms": 100}),
        json!({"max_events": 501, "max_wait_ms": 100}),
        json!({"max_events": 10, "max_wait_ms": -1}),
        json!({"max_events": 10, "max_wait_ms": 60001}),
        json!({"max_events": 10}),
        json!({"max_wait_ms": 10}),
        json!({"max_events": "ten", "max_wait_ms": 10}),
        json!({"max_events": 10, "max_wait_ms": 10, "max_bytes": 1}),
        json!(100),
    ];
    for batch in cases {
        let body = json!({"name": "s", "target_url": "https://example.com", "batch": batch});
        let problem = assert_problem(api.post("/api/v1/subscriptions", &body).await, 422).await;
        assert_eq!(error_fields(&problem), ["batch"], "{batch}");
    }
    let zero = json!({"name": "s", "target_url": "https://example.com", "batch": {"max_events": 0, "max_wait_ms": 0}});
    let problem = assert_problem(api.post("/api/v1/subscriptions", &zero).await, 422).await;
    assert!(problem.to_string().contains("max_events"), "{problem}");
    assert_eq!(app.count("subscriptions").await, 0, "nothing half-written");
}

#[tokio::test]
async fn batch_with_fifo_ordering_or_a_template_is_a_422_naming_batch_on_create_and_on_patch() {
    let app = spawn_app().await;
    let api = app.user().await;
    let batch = json!({"max_events": 10, "max_wait_ms": 100});
    for extra in [
        json!({"ordering": "fifo"}),
        json!({"payload_template": "{\"id\": {{ payload.id }}}"}),
    ] {
        let mut body = json!({"name": "s", "target_url": "https://example.com", "batch": batch});
        body.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        let problem = assert_problem(api.post("/api/v1/subscriptions", &body).await, 422).await;
        assert_eq!(error_fields(&problem), ["batch"], "{extra}");
    }
    assert_eq!(app.count("subscriptions").await, 0);

    let sub = api
        .create_subscription("https://example.com/b", json!({"batch": batch}))
        .await;
    let to_fifo = api.patch(&path(&sub), &json!({"ordering": "fifo"})).await;
    assert_eq!(error_fields(&assert_problem(to_fifo, 422).await), ["batch"]);
    let fifo = api
        .create_subscription("https://example.com/f", json!({"ordering": "fifo"}))
        .await;
    let to_batch = api.patch(&path(&fifo), &json!({"batch": batch})).await;
    assert_eq!(
        error_fields(&assert_problem(to_batch, 422).await),
        ["batch"]
    );
    let read = api.get_json(&path(&sub)).await;
    assert_eq!(read["ordering"], "none", "unchanged");
    assert_eq!(read["batch"], batch);
}
