//! Notifications: channels and their refusals, the in-app list and the live `notification`
//! event ([`channels`]); a signed webhook verifiable with the channel's secret, mail through a
//! real SMTP server (aiosmtpd on the loopback), retries while a channel's endpoint or the SMTP
//! server is away, the throttle's digest and the failing check ([`sending`]). Below, what
//! both use.

mod channels;
mod sending;

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use uuid::Uuid;
use warren_ingest::config::Settings;
use warren_shared::{
    db,
    notify::{self, Occurrence},
};
use warren_testkit::{api::ApiClient, receiver::Received};

use crate::helpers::{TestApp, spawn_app_with};

pub const WAIT: Duration = Duration::from_secs(20);

/// Fast rounds and short retries, so a test waits seconds, not minutes.
pub fn fast(settings: &mut Settings) {
    settings.notify_poll_ms = 100;
    settings.notify_retry_schedule = "300ms,500ms,1s,1s,2s,2s".parse().expect("a schedule");
}

pub async fn spawn_notifying(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|settings| {
        fast(settings);
        configure(settings);
    })
    .await
}

pub async fn create_channel(api: &ApiClient, body: Value) -> Value {
    let response = api.post("/api/v1/notification-channels", &body).await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 201, "creating a channel: {text}");
    serde_json::from_str(&text).expect("a JSON body")
}

pub async fn webhook_channel(api: &ApiClient, url: &str) -> Value {
    create_channel(
        api,
        json!({"name": "on-call", "kind": "webhook", "target_url": url}),
    )
    .await
}

pub fn id_of(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

pub async fn test_channel(api: &ApiClient, channel: &Value) -> String {
    let path = format!("/api/v1/notification-channels/{}/test", id_of(channel));
    let response = api.post(&path, &json!({})).await;
    assert_eq!(response.status(), 202, "POST {path}");
    let body: Value = response.json().await.expect("JSON");
    id_of(&body).to_owned()
}

/// Whether the official Standard Webhooks library for Python accepts the request with the
/// channel's secret.
pub fn standard_webhooks_accepts(secret: &str, request: &Received) -> bool {
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| ((*name).to_owned(), Value::from(request.header(name))))
            .collect();
    let input = json!({
        "secret": secret,
        "headers": headers,
        "body_base64": STANDARD.encode(&request.body),
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/verifiers");
    let mut child = Command::new("python3")
        .arg(format!("{dir}/verify.py"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("running tests/verifiers/verify.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("writing to the verifier");
    child.wait().expect("the verifier runs").success()
}

/// A subscription of `api`'s user, and a pool to raise occurrences about it behind the API.
pub async fn subscription_and_pool(
    app: &TestApp,
    api: &ApiClient,
) -> (Uuid, deadpool_postgres::Pool) {
    let subscription = api
        .create_subscription("http://127.0.0.1:9/hook", json!({}))
        .await;
    let id = id_of(&subscription).parse().expect("a uuid");
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    (id, pool)
}

pub async fn raise(pool: &deadpool_postgres::Pool, occurrence: &Occurrence, interval: Duration) {
    let client = pool.get().await.expect("a connection");
    notify::raise(&client, occurrence, interval)
        .await
        .expect("raised");
}

pub async fn notifications(api: &ApiClient) -> Value {
    api.get_json("/api/v1/notifications").await
}
