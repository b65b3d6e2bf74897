//! 202 means durable: never answered for an event that is not committed, always answered for
//! one that is, whatever the broker is doing.

use std::time::Duration;

use serde_json::Value;
use warren_testkit::{broker::TestBroker, database::TestDatabase, eventually, proxy::TcpProxy};

use crate::helpers::{
    TestApp, assert_problem, spawn_app, spawn_app_with, spawn_with, test_settings,
};

#[tokio::test]
async fn when_the_commit_fails_the_answer_is_5xx_and_nothing_is_stored_or_published() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    // A deferred constraint trigger fails at COMMIT, after every statement succeeded.
    app.db
        .client()
        .await
        .batch_execute(
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$;
             CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON events
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();",
        )
        .await
        .expect("installing the trigger");

    let response = api
        .ingest(&url, "application/json", r#"{"type": "order.paid"}"#)
        .await;
    assert!(
        response.status().is_server_error(),
        "got {}",
        response.status()
    );
    let problem: Value = response.json().await.expect("a problem body");
    assert!(
        !problem["detail"]
            .as_str()
            .expect("detail")
            .contains("refused by the test"),
        "no internals leak"
    );
    assert_eq!(app.count("events").await, 0);
    assert_eq!(app.count("deliveries").await, 0);
    assert_eq!(
        app.main_queue_depth().await,
        0,
        "nothing published for an uncommitted event"
    );
}

#[tokio::test]
async fn when_the_database_is_down_ingest_answers_503_and_recovers_when_it_returns() {
    let db = TestDatabase::create().await;
    let proxy = TcpProxy::start(&db.address()).await;
    let broker = TestBroker::new();
    let settings = test_settings(db.settings_via(&proxy.address()), broker.settings.clone());
    let app = spawn_with(settings, db, broker).await;
    let (api, url) = app.source_with_subscriber().await;

    proxy.cut();
    assert_problem(api.ingest(&url, "application/json", "{}").await, 503).await;
    let ready = app.api.get("/readyz").await;
    assert_eq!(
        assert_problem(ready, 503).await["checks"]["database"],
        "down"
    );

    proxy.restore();
    let response = eventually(
        "ingest to accept again",
        Duration::from_secs(10),
        || async {
            let response = api.ingest(&url, "application/json", "{}").await;
            (response.status() == 202).then_some(response)
        },
    )
    .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        app.count("events").await,
        1,
        "only the event answered 202 was stored"
    );
}

/// An app reaching RabbitMQ through a proxy the test can cut or stall.
async fn behind_a_broker_proxy() -> (TestApp, TcpProxy) {
    behind_a_broker_proxy_with(|_| {}).await
}

/// Like [`behind_a_broker_proxy`], with the settings changed by `configure`.
async fn behind_a_broker_proxy_with(
    configure: impl FnOnce(&mut warren_ingest::config::Settings),
) -> (TestApp, TcpProxy) {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut settings = test_settings(db.settings(), broker.settings_via(&proxy.address()));
    configure(&mut settings);
    (spawn_with(settings, db, broker).await, proxy)
}

#[tokio::test]
async fn when_the_broker_is_unreachable_ingest_still_answers_202_and_the_outbox_publishes_later() {
    let (app, proxy) = behind_a_broker_proxy().await;
    let (api, url) = app.source_with_subscriber().await;

    proxy.cut();
    let response = api
        .ingest(&url, "application/json", r#"{"type": "while.down"}"#)
        .await;
    assert_eq!(
        response.status(),
        202,
        "the event is durable, so it is accepted"
    );
    assert_eq!(
        assert_problem(app.api.get("/readyz").await, 503).await["checks"]["broker"],
        "down"
    );
    assert_eq!(app.main_queue_depth().await, 0);
    let client = app.db.client().await;
    let enqueued: bool = client
        .query_one("SELECT enqueued FROM deliveries", &[])
        .await
        .expect("row")
        .get(0);
    assert!(!enqueued);

    proxy.restore();
    eventually(
        "the outbox to publish the delivery",
        Duration::from_secs(20),
        || async { (app.main_queue_depth().await == 1).then_some(()) },
    )
    .await;
    app.wait_until_enqueued().await;
}

#[tokio::test]
async fn a_broker_that_goes_silent_does_not_hold_the_answer_and_the_envelope_still_arrives() {
    let (app, proxy) = behind_a_broker_proxy().await;
    let (api, url) = app.source_with_subscriber().await;

    // The envelope is sent, but no confirm can come back (3 s to time out in tests).
    proxy.stall();
    let started = std::time::Instant::now();
    let response = api.ingest(&url, "application/json", "{}").await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 202);
    assert!(
        waited < Duration::from_secs(1),
        "the answer waited {waited:?} for the broker"
    );

    proxy.restore();
    app.wait_until_enqueued().await;
    assert!(
        app.main_queue_depth().await >= 1,
        "the envelope is in the queue"
    );
}

#[tokio::test]
async fn a_link_that_dies_without_a_word_is_replaced_and_the_envelope_still_arrives() {
    // Heartbeats would notice the dead link only after two minutes: what replaces it here is
    // the publisher giving up on its close, which the dead link never answers.
    let (app, proxy) = behind_a_broker_proxy_with(|settings| {
        settings.broker.heartbeat_secs = 60;
    })
    .await;
    let (api, url) = app.source_with_subscriber().await;

    // The open links go silent for good; the broker answers any new one.
    proxy.stall_open();
    let response = api.ingest(&url, "application/json", "{}").await;
    assert_eq!(response.status(), 202);

    // The confirm times out (3 s in tests), the publisher drops the link and opens another,
    // and the outbox publishes the envelope over it.
    app.wait_until_enqueued().await;
    assert_eq!(
        app.main_queue_depth().await,
        1,
        "the envelope is in the queue"
    );
    assert_eq!(
        app.api.get("/readyz").await.status(),
        200,
        "the publisher is linked again"
    );
}

#[tokio::test]
async fn an_envelope_the_broker_lost_after_confirming_it_is_published_again() {
    let app = spawn_app_with(|settings| {
        settings.redeliver_after_secs = 2;
    })
    .await;
    let (api, url) = app.source_with_subscriber().await;
    api.ingest(&url, "application/json", "{}").await;
    app.wait_until_enqueued().await;
    let queue = app.broker.settings.topology().deliver_queue();
    app.broker.purge(&queue).await;
    assert_eq!(app.main_queue_depth().await, 0, "the broker lost it");

    eventually(
        "the sweep to publish the lost envelope again",
        Duration::from_secs(20),
        || async { (app.main_queue_depth().await == 1).then_some(()) },
    )
    .await;
    let text = app.metrics().await;
    assert!(text.contains("warren_outbox_swept_total 1"), "{text}");
}
