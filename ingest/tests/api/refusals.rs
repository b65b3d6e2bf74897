//! Bad input is a 4xx problem+json, never a 5xx, an empty body or plain text: what
//! PostgreSQL cannot store, ids that are not UUIDs, and what the HTTP layer refuses itself.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, assert_problem, error_fields, spawn_app};

/// Sends `request` as it is on a connection of its own; returns the status, the head and the
/// body of the answer, read until the server closes the connection. (A server that closes
/// with part of a request unread resets the connection: what it answered before is kept.)
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String, Vec<u8>) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let mut chunk = [0; 8192];
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        answer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head[9..12].parse().expect("a status");
    (status, head.to_ascii_lowercase(), body.as_bytes().to_vec())
}

/// Asserts a raw answer is the problem of `status`.
fn assert_raw_problem((status, head, body): (u16, String, Vec<u8>), expected: u16) {
    assert_eq!(status, expected, "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/problem+json\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-content-type-options: nosniff\r\n"),
        "{head}"
    );
    let problem: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(problem["status"], expected);
    assert!(problem["title"].is_string() && problem["detail"].is_string());
}

#[tokio::test]
async fn a_nul_in_any_field_is_a_422_naming_it_not_a_500() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let (source_id, sub_id) = (source["id"].as_str(), sub["id"].as_str());
    let cases = [
        (
            "/api/v1/sources",
            json!({"name": "a\u{0}b", "provider": "none"}),
            "name",
        ),
        ("/api/v1/api-keys", json!({"name": "key\u{0}"}), "name"),
        (
            "/api/v1/subscriptions",
            json!({"name": "s", "target_url": "http://127.0.0.1:9/a\u{0}"}),
            "target_url",
        ),
        (
            "/api/v1/subscriptions",
            json!({"name": "s", "target_url": "http://127.0.0.1:9/", "payload_template": "{{ x }}\u{0}"}),
            "payload_template",
        ),
        (
            "/api/v1/subscriptions",
            json!({"name": "s", "target_url": "http://127.0.0.1:9/", "event_types": ["a\u{0}"]}),
            "event_types",
        ),
        (
            "/api/v1/events",
            json!({"event_type": "order\u{0}", "payload": {}}),
            "event_type",
        ),
        (
            "/api/v1/events",
            json!({"event_type": "order", "payload": {"deep": ["x\u{0}"]}}),
            "payload",
        ),
        (
            "/api/v1/notification-channels",
            json!({"name": "n", "kind": "webhook", "target_url": "https://example.com/\u{0}"}),
            "target_url",
        ),
    ];
    for (path, body, field) in cases {
        let problem = assert_problem(api.post(path, &body).await, 422).await;
        assert_eq!(error_fields(&problem), vec![field], "{path} {body}");
    }
    let signup = json!({"email": "a\u{0}@example.com", "password": "correct horse battery"});
    let problem = assert_problem(app.api.post("/api/v1/auth/signup", &signup).await, 422).await;
    assert_eq!(error_fields(&problem), vec!["email"]);
    let patch = api
        .authorized(api.http.patch(format!(
            "{}/api/v1/sources/{}",
            app.address,
            source_id.expect("id")
        )))
        .json(&json!({"name": "\u{0}"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_fields(&assert_problem(patch, 422).await),
        vec!["name"]
    );
    let patch = api
        .authorized(api.http.patch(format!(
            "{}/api/v1/subscriptions/{}",
            app.address,
            sub_id.expect("id")
        )))
        .json(&json!({"headers": {"x-a": "b\u{0}"}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_fields(&assert_problem(patch, 422).await),
        vec!["headers"]
    );
    assert_eq!(app.count("events").await, 0, "nothing was stored");
}

#[tokio::test]
async fn a_nul_in_a_query_parameter_is_a_422_naming_it() {
    let app = spawn_app().await;
    let api = app.user().await;
    for (path, parameter) in [
        ("/api/v1/events?event_type=a%00b", "event_type"),
        ("/api/v1/events?limit=5&cursor=%00", "cursor"),
        ("/api/v1/sources?unknown=%00", "unknown"),
    ] {
        let problem = assert_problem(api.get(path).await, 422).await;
        assert_eq!(error_fields(&problem), vec![parameter], "{path}");
    }
}

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_is_a_404_problem() {
    let app = spawn_app().await;
    let api = app.user().await;
    for path in [
        "/api/v1/sources/not-a-uuid",
        "/api/v1/subscriptions/123/deliveries",
        "/api/v1/events/%00",
        "/api/v1/deliveries/%FF",
    ] {
        assert_problem(api.get(path).await, 404).await;
    }
    let delete = api.delete("/api/v1/api-keys/not-a-uuid").await;
    assert_problem(delete, 404).await;
}

#[tokio::test]
async fn an_ingest_token_with_a_nul_names_no_source() {
    let app = spawn_app().await;
    let (_api, url) = app.source_with_subscriber().await;
    let nul = format!("{}/ingest/src_%00", app.address);
    assert_problem(app.api.ingest(&nul, "application/json", "{}").await, 404).await;
    let accepted = app.api.ingest(&url, "application/json", "{}").await;
    assert_eq!(accepted.status(), 202, "a real token still works");
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_a_431_problem() {
    let app = spawn_app().await;
    let mut many = b"GET /api/v1/me HTTP/1.1\r\nHost: warren\r\n".to_vec();
    for n in 0..120 {
        many.extend_from_slice(format!("X-Header-{n}: value\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_raw_problem(raw(&app, &many).await, 431);
    let mut large = b"GET /api/v1/me HTTP/1.1\r\nHost: warren\r\nX-Large: ".to_vec();
    large.extend(std::iter::repeat_n(b'a', 500_000));
    large.extend_from_slice(b"\r\n\r\n");
    assert_raw_problem(raw(&app, &large).await, 431);
}

#[tokio::test]
async fn a_request_the_http_layer_cannot_read_is_a_problem() {
    let app = spawn_app().await;
    let bad_header = b"GET /api/v1/me HTTP/1.1\r\nHost: warren\r\nBad Header: x\r\n\r\n";
    assert_raw_problem(raw(&app, bad_header).await, 400);
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 70_000));
    long.extend_from_slice(b" HTTP/1.1\r\nHost: warren\r\n\r\n");
    assert_raw_problem(raw(&app, &long).await, 414);
    let fine = b"GET /healthz HTTP/1.1\r\nHost: warren\r\nConnection: close\r\n\r\n";
    let (status, head, _) = raw(&app, fine).await;
    assert_eq!(status, 200, "{head}");
}

#[tokio::test]
async fn every_error_of_the_http_layer_is_a_problem() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let url = |path: &str| format!("{}{path}", app.address);
    // A method the web app's files do not take: tower-http's 405, with its `Allow`.
    let post = app
        .api
        .http
        .post(url("/some/page"))
        .send()
        .await
        .expect("sent");
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    assert_problem(post, 405).await;
    // A body over the limit on a route whose body is optional.
    let enable = format!(
        "/api/v1/subscriptions/{}/enable",
        sub["id"].as_str().expect("id")
    );
    let big = api
        .authorized(api.http.post(url(&enable)))
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .expect("sent");
    assert_problem(big, 413).await;
    let big = api
        .authorized(api.http.post(url("/api/v1/sources")))
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .expect("sent");
    assert_problem(big, 413).await;
    let not_json = api
        .authorized(api.http.post(url("/api/v1/dead-letters/replay")))
        .body("{oops")
        .send()
        .await
        .expect("sent");
    assert_problem(not_json, 400).await;
    let wrong_type = api
        .authorized(api.http.post(url("/api/v1/sources")))
        .header("content-type", "text/plain")
        .body(r#"{"name": "s", "provider": "none"}"#)
        .send()
        .await
        .expect("sent");
    assert_problem(wrong_type, 400).await;
    assert_problem(api.get("/api/v1/no-such-route").await, 404).await;
}

#[tokio::test]
async fn a_body_must_be_an_object_not_an_array_of_its_fields() {
    let app = spawn_app().await;
    let api = app.user().await;
    let source = api.create_source().await;
    let patch = api
        .authorized(api.http.patch(format!(
            "{}/api/v1/sources/{}",
            app.address,
            source["id"].as_str().expect("id")
        )))
        .json(&json!([null, null]))
        .send()
        .await
        .expect("sent");
    assert_problem(patch, 422).await;
    let replay = api
        .post("/api/v1/dead-letters/replay", &json!([null, null, null]))
        .await;
    assert_problem(replay, 422).await;
}

#[tokio::test]
async fn an_optional_body_may_be_null() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let id = sub["id"].as_str().expect("id");
    for (path, status) in [
        (format!("/api/v1/subscriptions/{id}/enable"), 200),
        (format!("/api/v1/subscriptions/{id}/rotate-secret"), 200),
        ("/api/v1/notifications/read".to_owned(), 204),
        ("/api/v1/dead-letters/replay".to_owned(), 202),
    ] {
        let response = api.post(&path, &Value::Null).await;
        assert_eq!(response.status(), status, "{path}");
    }
}

#[tokio::test]
async fn an_optional_body_of_only_whitespace_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let id = sub["id"].as_str().expect("id");
    for path in [
        format!("/api/v1/subscriptions/{id}/enable"),
        format!("/api/v1/subscriptions/{id}/rotate-secret"),
        "/api/v1/notifications/read".to_owned(),
        "/api/v1/dead-letters/replay".to_owned(),
    ] {
        let response = api
            .authorized(api.http.post(format!("{}{path}", app.address)))
            .header("content-type", "application/json")
            .body("\t")
            .send()
            .await
            .expect("sent");
        assert_problem(response, 400).await;
    }
    let unchanged = api.get_json(&format!("/api/v1/subscriptions/{id}")).await;
    assert_eq!(
        unchanged["signing_secret"], sub["signing_secret"],
        "the secret not rotated"
    );
}

#[tokio::test]
async fn an_empty_cursor_is_the_first_page() {
    let app = spawn_app().await;
    let api = app.user().await;
    api.create_source().await;
    let page = api.get_json("/api/v1/sources?cursor=").await;
    assert_eq!(page["data"].as_array().expect("data").len(), 1);
}
