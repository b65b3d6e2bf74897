//! Security headers: every answer `nosniff`, the web app's pages a Content-Security-Policy,
//! every answer of the API (which shows tokens, keys and secrets) `Cache-Control: no-store`.

use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with};

/// Asserts `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` when `no_store`.
fn assert_headers(response: &reqwest::Response, what: &str, no_store: bool) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    if no_store {
        assert_eq!(
            headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "{what}"
        );
    }
}

#[tokio::test]
async fn answers_that_show_a_token_key_or_secret_are_never_stored_or_sniffed() {
    let app = spawn_app().await;
    let mut api = app.api.clone();
    let email = format!("{}@example.com", warren_testkit::unique_name("user"));
    let credentials = json!({"email": email, "password": "correct horse battery"});
    let signup = api.post("/api/v1/auth/signup", &credentials).await;
    assert_headers(&signup, "signup", true);
    let signup: Value = signup.json().await.expect("JSON");
    api.token = signup["token"].as_str().map(str::to_owned);
    let login = api.post("/api/v1/auth/login", &credentials).await;
    assert_headers(&login, "login", true);
    let key = api.post("/api/v1/api-keys", &json!({"name": "k"})).await;
    assert_headers(&key, "an API key", true);
    let source = api
        .post(
            "/api/v1/sources",
            &json!({"name": "s", "provider": "github", "verification_secret": "s3cret"}),
        )
        .await;
    assert_headers(&source, "a new source", true);
    let source: Value = source.json().await.expect("JSON");
    let source_path = format!("/api/v1/sources/{}", source["id"].as_str().expect("id"));
    assert_headers(&api.get(&source_path).await, "a source", true);
    assert_headers(&api.get("/api/v1/sources").await, "sources", true);
    let subscription = api
        .post(
            "/api/v1/subscriptions",
            &json!({"name": "s", "target_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_headers(&subscription, "a new subscription", true);
    let subscription: Value = subscription.json().await.expect("JSON");
    let path = format!(
        "/api/v1/subscriptions/{}",
        subscription["id"].as_str().expect("id")
    );
    assert_headers(&api.get(&path).await, "a subscription", true);
    let rotated = api.post(&format!("{path}/rotate-secret"), &json!({})).await;
    assert_headers(&rotated, "a rotated secret", true);
}

#[tokio::test]
async fn every_answer_is_never_sniffed_and_the_web_app_has_a_content_security_policy() {
    let web = std::env::temp_dir().join(warren_testkit::unique_name("web"));
    std::fs::create_dir_all(&web).expect("a web dir");
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>Warren</title>",
    )
    .expect("an index.html");
    let dir = web.clone();
    let app = spawn_app_with(move |settings| settings.web_dir = dir).await;
    for path in [
        "/healthz",
        "/metrics",
        "/api/openapi.json",
        "/api/v1/nothing-here",
        "/socket.io/?EIO=4&transport=polling",
    ] {
        assert_headers(&app.api.get(path).await, path, false);
    }
    for path in ["/", "/subscriptions/some-client-route"] {
        let page = app.api.get(path).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_headers(&page, path, false);
        let policy = page.headers()["content-security-policy"]
            .to_str()
            .expect("text");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("object-src 'none'"), "{policy}");
    }
    let _ = std::fs::remove_dir_all(&web);
}
