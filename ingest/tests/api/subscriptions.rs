use serde_json::{Value, json};

use crate::helpers::{assert_problem, error_fields, spawn_app};

#[tokio::test]
async fn a_subscription_gets_every_default_and_a_standard_webhooks_secret() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    assert_eq!(sub["timeout_ms"], 10_000);
    assert_eq!(sub["max_attempts"], 8);
    assert_eq!(sub["rate_limit_per_sec"], 100);
    assert_eq!(sub["ordering"], "none");
    assert_eq!(sub["on_dead"], "skip");
    assert_eq!(sub["event_types"], json!([]));
    assert_eq!(sub["headers"], json!({}));
    assert_eq!(sub["source_id"], Value::Null);
    assert_eq!(sub["payload_template"], Value::Null);
    assert_eq!(sub["is_active"], true);
    assert_eq!(sub["circuit_state"], "closed");
    assert!(
        sub["signing_secret"]
            .as_str()
            .expect("a secret")
            .starts_with("whsec_")
    );
    assert!(sub["created_at"].is_string() && sub["updated_at"].is_string());
}

#[tokio::test]
async fn every_field_is_stored_as_sent() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let fields = json!({
        "source_id": source["id"], "event_types": ["invoice.*", "charge.succeeded"], "timeout_ms": 2500,
        "max_attempts": 3, "rate_limit_per_sec": 7, "payload_template": "{\"id\": {{ payload.id }}}",
        "headers": {"X-Tenant": "acme"}, "ordering": "fifo", "on_dead": "pause",
    });
    let sub = api
        .create_subscription("https://example.com/hook", fields.clone())
        .await;
    let read = api
        .get_json(&format!(
            "/api/v1/subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .await;
    for (key, value) in fields.as_object().expect("an object") {
        assert_eq!(&read[key], value, "{key}");
    }
}

#[tokio::test]
async fn invalid_fields_are_422_each_named() {
    let app = spawn_app().await;
    let api = app.user().await;
    let cases = [
        (
            json!({"name": "s", "target_url": "ftp://example.com"}),
            "target_url",
        ),
        (
            json!({"name": "s", "target_url": "not a url"}),
            "target_url",
        ),
        (
            json!({"name": "s", "target_url": "http://10.0.0.1/hook"}),
            "target_url",
        ),
        (
            json!({"name": "s", "target_url": "http://[::1]:8080/hook"}),
            "target_url",
        ),
        (
            json!({"name": "", "target_url": "https://example.com"}),
            "name",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "timeout_ms": 999}),
            "timeout_ms",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "timeout_ms": 30001}),
            "timeout_ms",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "max_attempts": 0}),
            "max_attempts",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "max_attempts": 21}),
            "max_attempts",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "rate_limit_per_sec": 10001}),
            "rate_limit_per_sec",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "event_types": ["a*b"]}),
            "event_types",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "event_types": [""]}),
            "event_types",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "headers": {"webhook-id": "x"}}),
            "headers",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "headers": {"bad header": "x"}}),
            "headers",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "payload_template": "{{ payload.a"}),
            "payload_template",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "ordering": "lifo"}),
            "ordering",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "on_dead": "explode"}),
            "on_dead",
        ),
        (
            json!({"name": "s", "target_url": "https://example.com", "timeout_ms": "ten"}),
            "timeout_ms",
        ),
        (json!({"name": "s"}), "target_url"),
    ];
    for (body, field) in cases {
        let response = api.post("/api/v1/subscriptions", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem = assert_problem(response, 422).await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    assert_eq!(app.count("subscriptions").await, 0, "nothing half-written");
}

#[tokio::test]
async fn a_source_of_another_user_cannot_be_subscribed_to() {
    let app = spawn_app().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let source = alice.create_source().await;
    let body = json!({"name": "s", "target_url": "https://example.com", "source_id": source["id"]});
    let problem = assert_problem(bob.post("/api/v1/subscriptions", &body).await, 422).await;
    assert_eq!(error_fields(&problem), ["source_id"]);
}

#[tokio::test]
async fn patch_changes_only_what_it_names_and_put_replaces_everything() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription(
            "https://example.com/a",
            json!({"max_attempts": 3, "headers": {"X-A": "1"}}),
        )
        .await;
    let url = format!(
        "{}/api/v1/subscriptions/{}",
        app.address,
        sub["id"].as_str().expect("id")
    );

    let patched: Value = api
        .authorized(api.http.patch(&url))
        .json(&json!({"timeout_ms": 5000}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(patched["timeout_ms"], 5000);
    assert_eq!(patched["max_attempts"], 3);
    assert_eq!(patched["headers"], json!({"X-A": "1"}));
    assert_eq!(patched["signing_secret"], sub["signing_secret"]);

    let invalid = api
        .authorized(api.http.patch(&url))
        .json(&json!({"timeout_ms": 1}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_fields(&assert_problem(invalid, 422).await),
        ["timeout_ms"]
    );

    let replaced: Value = api
        .authorized(api.http.put(&url))
        .json(&json!({"name": "b", "target_url": "https://example.com/b"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(replaced["name"], "b");
    assert_eq!(replaced["max_attempts"], 8, "PUT resets what it omits");
    assert_eq!(replaced["timeout_ms"], 10_000);
    assert_eq!(replaced["headers"], json!({}));
}

#[tokio::test]
async fn another_users_subscription_is_not_found_for_every_route() {
    let app = spawn_app().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let sub = alice
        .create_subscription("https://example.com/a", json!({}))
        .await;
    let url = format!(
        "{}/api/v1/subscriptions/{}",
        app.address,
        sub["id"].as_str().expect("id")
    );
    let body = json!({"name": "b", "target_url": "https://example.com/b"});
    let requests = [
        bob.http.get(&url),
        bob.http.put(&url).json(&body),
        bob.http.patch(&url).json(&json!({"name": "x"})),
        bob.http.delete(&url),
        bob.http.post(format!("{url}/rotate-secret")),
        bob.http.post(format!("{url}/enable")),
    ];
    for request in requests {
        assert_problem(bob.authorized(request).send().await.expect("sent"), 404).await;
    }
    assert_eq!(
        bob.get_json("/api/v1/subscriptions").await["data"],
        json!([])
    );
    assert_eq!(
        alice
            .get_json(&format!(
                "/api/v1/subscriptions/{}",
                sub["id"].as_str().expect("id")
            ))
            .await["name"],
        "test subscription"
    );
}

#[tokio::test]
async fn a_deleted_subscription_is_gone() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("https://example.com/a", json!({}))
        .await;
    let url = format!(
        "{}/api/v1/subscriptions/{}",
        app.address,
        sub["id"].as_str().expect("id")
    );
    assert_eq!(
        api.authorized(api.http.delete(&url))
            .send()
            .await
            .expect("sent")
            .status(),
        204
    );
    assert_problem(
        api.authorized(api.http.get(&url))
            .send()
            .await
            .expect("sent"),
        404,
    )
    .await;
}
