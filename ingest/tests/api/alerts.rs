//! Built-in alerts: fired and resolved, logged, counted and sent to a signed webhook.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use warren_ingest::startup::Application;
use warren_shared::signing::SigningSecret;
use warren_testkit::{
    broker::TestBroker, database::TestDatabase, eventually, receiver::TestReceiver,
};

use crate::helpers::{TestApp, spawn_with, test_settings};

const WAIT: Duration = Duration::from_secs(15);

/// An app whose alert checks run every second and post to a receiver; the outbox relay
/// runs only at start, so a delivery left unpublished stays so.
async fn alerting_app() -> (TestApp, TestReceiver, SigningSecret) {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let receiver = TestReceiver::start().await;
    let secret = SigningSecret::generate();
    let mut settings = test_settings(db.settings(), broker.settings.clone());
    settings.alert_interval_secs = 1;
    settings.alert_outbox_age_secs = 60;
    settings.alert_webhook_url = Some(receiver.url("/alerts"));
    settings.alert_webhook_secret = Some(secret.expose().to_owned());
    settings.outbox_interval_ms = 3_600_000;
    (spawn_with(settings, db, broker).await, receiver, secret)
}

/// The alert messages received so far, each checked to be signed with `secret`.
fn alerts(receiver: &TestReceiver, secret: &SigningSecret) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .map(|request| {
            let timestamp = request
                .header("webhook-timestamp")
                .parse()
                .expect("a timestamp");
            assert!(
                secret.verify(
                    request.header("webhook-id"),
                    timestamp,
                    &request.body,
                    request.header("webhook-signature")
                ),
                "the alert is signed"
            );
            serde_json::from_slice(&request.body).expect("JSON")
        })
        .collect()
}

async fn wait_for_alert(
    receiver: &TestReceiver,
    secret: &SigningSecret,
    kind: &str,
    alert: &str,
) -> Value {
    eventually(&format!("{kind} {alert}"), WAIT, || async {
        alerts(receiver, secret)
            .into_iter()
            .find(|a| a["type"] == kind && a["alert"] == alert)
    })
    .await
}

fn firing(metrics: &str, alert: &str) -> Option<f64> {
    let prefix = format!("warren_alerts_firing{{alert=\"{alert}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_delivery_stuck_before_the_broker_fires_an_alert_that_resolves_once_published() {
    let (app, receiver, secret) = alerting_app().await;
    let (api, url) = app.source_with_subscriber().await;
    api.ingest(&url, "application/json", "{}").await;
    let client = app.db.client().await;
    // Once ingest has marked it enqueued, as if the broker had never confirmed it.
    eventually("the delivery's enqueued mark", WAIT, || async {
        let unmarked = client
            .execute(
                "UPDATE deliveries SET enqueued = false, updated_at = now() - interval '5 minutes'
                 WHERE enqueued",
                &[],
            )
            .await
            .expect("leaving the delivery unpublished");
        (unmarked == 1).then_some(())
    })
    .await;

    let fired = wait_for_alert(&receiver, &secret, "alert.fired", "outbox_stale").await;
    assert!(
        fired["summary"]
            .as_str()
            .expect("a summary")
            .contains("threshold 60 s")
    );
    assert_eq!(firing(&app.metrics().await, "outbox_stale"), Some(1.0));

    client
        .execute("UPDATE deliveries SET enqueued = true", &[])
        .await
        .expect("publishing it");
    wait_for_alert(&receiver, &secret, "alert.resolved", "outbox_stale").await;
    assert_eq!(firing(&app.metrics().await, "outbox_stale"), Some(0.0));
    let sent = alerts(&receiver, &secret);
    assert_eq!(
        sent.iter()
            .filter(|a| a["alert"] == "outbox_stale" && a["type"] == "alert.fired")
            .count(),
        1,
        "fired once while it held: {sent:?}"
    );
}

#[tokio::test]
async fn a_disabled_subscription_fires_an_alert_until_it_is_enabled() {
    let (app, receiver, secret) = alerting_app().await;
    let api = app.user().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/hook", serde_json::json!({}))
        .await;
    let id = sub["id"].as_str().expect("id");
    app.db
        .client()
        .await
        .execute(
            "UPDATE subscriptions SET is_active = false, disabled_reason = '100 consecutive failed attempts'",
            &[],
        )
        .await
        .expect("disabling it");
    let fired = wait_for_alert(&receiver, &secret, "alert.fired", "subscription_disabled").await;
    assert_eq!(fired["subject"], id);
    assert!(
        fired["summary"]
            .as_str()
            .expect("a summary")
            .contains("100 consecutive failed attempts")
    );

    let response = api
        .post(
            &format!("/api/v1/subscriptions/{id}/enable"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let resolved = wait_for_alert(
        &receiver,
        &secret,
        "alert.resolved",
        "subscription_disabled",
    )
    .await;
    assert_eq!(resolved["subject"], id);
}

#[tokio::test]
async fn an_alert_webhook_without_a_valid_secret_stops_the_start_up() {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    for secret in [None, Some("not-a-secret".to_owned())] {
        let mut settings = test_settings(db.settings(), broker.settings.clone());
        settings.alert_webhook_url = Some("http://127.0.0.1:9/alerts".into());
        settings.alert_webhook_secret = secret;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let built = Application::build_on(settings, listener, CancellationToken::new()).await;
        let error = format!("{:#}", built.err().expect("refused"));
        assert!(error.contains("WARREN_ALERT_WEBHOOK_SECRET"), "{error}");
    }
}
