//! Group commit: events arriving together share one transaction, yet each keeps its own
//! answer, deliveries and idempotency, and one bad event cannot fail the others.

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};
use uuid::Uuid;
use warren_ingest::{
    error::ApiError,
    events::{
        NewEvent, Stored, commit_group,
        store::{Candidate, Target},
    },
};
use warren_shared::db;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A user with a source and two subscriptions: one for `order.*`, one for everything.
/// Returns the user's and the source's ids.
async fn owner(app: &TestApp) -> (Uuid, Uuid) {
    let api = app.user().await;
    let source = api.create_source().await;
    api.create_subscription(
        "http://127.0.0.1:9/orders",
        json!({"event_types": ["order.*"]}),
    )
    .await;
    api.create_subscription("http://127.0.0.1:9/all", json!({}))
        .await;
    let source_id: Uuid = source["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a uuid");
    let client = app.db.client().await;
    let user_id = client
        .query_one("SELECT user_id FROM sources WHERE id = $1", &[&source_id])
        .await
        .expect("the source's owner")
        .get(0);
    (user_id, source_id)
}

fn event(
    user_id: Uuid,
    source_id: Uuid,
    event_type: &str,
    key: Option<&str>,
    body: &str,
) -> NewEvent {
    NewEvent {
        user_id,
        source_id: Some(source_id),
        idempotency_scope: source_id,
        idempotency_key: key.map(str::to_owned),
        event_type: event_type.to_owned(),
        content_type: Some("application/json".into()),
        raw_body: Bytes::from(body.to_owned()),
        json: serde_json::from_str::<serde_json::Value>(body).is_ok(),
        headers: json!({}),
        verified_by: None,
        candidates: None,
    }
}

fn created(outcome: &Result<Stored, ApiError>) -> (Uuid, usize) {
    match outcome {
        Ok(Stored::Created {
            event_id,
            envelopes,
            ..
        }) => (*event_id, envelopes.len()),
        other => panic!("expected a created event, got {other:?}"),
    }
}

async fn deliveries_of(app: &TestApp, event_id: Uuid) -> i64 {
    app.db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM deliveries WHERE event_id = $1",
            &[&event_id],
        )
        .await
        .expect("counting")
        .get(0)
}

#[tokio::test]
async fn a_group_keeps_each_events_own_deliveries_and_idempotency() {
    let app = spawn_app().await;
    let (user, source) = owner(&app).await;
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let commits = Counter::default();
    let outcomes = commit_group(
        &pool,
        vec![
            event(user, source, "order.paid", None, r#"{"n": 1}"#),
            event(user, source, "user.created", Some("k"), r#"{"n": 2}"#),
            event(user, source, "user.created", Some("k"), r#"{"n": 2}"#),
            event(user, source, "user.created", Some("k"), r#"{"n": 3}"#),
        ],
        &commits,
    )
    .await;
    assert_eq!(commits.get(), 1, "one transaction for the group");
    let (order, order_deliveries) = created(&outcomes[0]);
    let (user_event, user_deliveries) = created(&outcomes[1]);
    assert_eq!(order_deliveries, 2, "order.* and the catch-all");
    assert_eq!(user_deliveries, 1, "only the catch-all");
    assert_eq!(deliveries_of(&app, order).await, 2);
    assert_eq!(deliveries_of(&app, user_event).await, 1);
    match &outcomes[2] {
        Ok(Stored::Replayed {
            event_id,
            deliveries,
        }) => {
            assert_eq!(
                *event_id, user_event,
                "the key's first event, earlier in the group"
            );
            assert_eq!(*deliveries, 1);
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    assert!(
        matches!(&outcomes[3], Err(ApiError::Unprocessable(_))),
        "the key with another body is refused: {:?}",
        outcomes[3]
    );
    assert_eq!(app.count("events").await, 2);
    assert_eq!(app.count("deliveries").await, 3);
}

#[tokio::test]
async fn a_subscription_deleted_after_matching_gets_no_delivery_and_the_event_is_kept() {
    let app = spawn_app().await;
    let (user, source) = owner(&app).await;
    let client = app.db.client().await;
    let live: Uuid = client
        .query_one(
            "SELECT id FROM subscriptions WHERE target_url LIKE '%/all'",
            &[],
        )
        .await
        .expect("the catch-all")
        .get(0);
    // Matched when its source was looked up, deleted before the event is written.
    let gone = Uuid::now_v7();
    let candidate = |id| Candidate {
        target: Target { id, fifo: false },
        event_types: Vec::new(),
        filter: None,
        active: true,
    };
    let mut arriving = event(user, source, "user.created", None, "{}");
    arriving.candidates = Some(vec![candidate(live), candidate(gone)].into());
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let outcomes = commit_group(&pool, vec![arriving], &Counter::default()).await;
    let (event_id, envelopes) = created(&outcomes[0]);
    assert_eq!(
        envelopes, 1,
        "an envelope for the subscription that exists only"
    );
    assert_eq!(deliveries_of(&app, event_id).await, 1);
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn one_event_the_database_refuses_fails_alone() {
    let app = spawn_app().await;
    let (user, source) = owner(&app).await;
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let commits = Counter::default();
    // An owner that does not exist breaks a foreign key: the group's statement fails.
    let stranger = event(Uuid::now_v7(), source, "order.paid", None, "{}");
    let outcomes = commit_group(
        &pool,
        vec![
            event(user, source, "order.paid", None, r#"{"n": 1}"#),
            stranger,
            event(user, source, "order.paid", None, r#"{"n": 2}"#),
        ],
        &commits,
    )
    .await;
    let (first, _) = created(&outcomes[0]);
    let (third, _) = created(&outcomes[2]);
    assert!(
        matches!(&outcomes[1], Err(ApiError::Internal(_))),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(deliveries_of(&app, first).await, 2);
    assert_eq!(deliveries_of(&app, third).await, 2);
    assert_eq!(app.count("events").await, 2, "nothing of the bad event");
    assert_eq!(commits.get(), 2, "the good events, one by one");
}

#[tokio::test]
async fn with_the_database_away_every_event_of_the_group_is_refused_at_once() {
    let app = spawn_app().await;
    let (user, source) = owner(&app).await;
    let mut settings = app.db.settings();
    // Nothing listens on port 9: the pool cannot connect.
    settings.url = settings.url.replace(&app.db.address(), "127.0.0.1:9");
    settings.timeout_ms = 300;
    let pool = db::pool(&settings, db::Commits::Durable).expect("a pool");
    let commits = Counter::default();
    let started = std::time::Instant::now();
    let events = (0..20)
        .map(|n| {
            event(
                user,
                source,
                "order.paid",
                None,
                &format!(r#"{{"n": {n}}}"#),
            )
        })
        .collect();
    let outcomes = commit_group(&pool, events, &commits).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(ApiError::Unavailable(_)))),
        "{outcomes:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "not tried one by one: {:?}",
        started.elapsed()
    );
    assert_eq!(commits.get(), 0);
}

#[tokio::test]
async fn a_burst_of_requests_shares_transactions_and_each_gets_its_own_event() {
    let app = spawn_app_with(|settings| {
        // One writer: while it commits, the rest of the burst queues into the next group.
        settings.group_commit_writers = 1;
    })
    .await;
    let (api, url) = app.source_with_subscriber().await;
    let requests = (0..100).map(|n| {
        api.http
            .post(&url)
            .header("content-type", "application/json")
            .body(format!(r#"{{"type": "burst", "n": {n}}}"#))
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        let answer = answer.expect("sent");
        assert_eq!(answer.status(), 202);
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(body["deliveries"], 1);
        ids.insert(body["id"].as_str().expect("an id").to_owned());
    }
    assert_eq!(ids.len(), 100, "one event per request");
    assert_eq!(app.count("events").await, 100);
    assert_eq!(app.count("deliveries").await, 100);
    let commits = app
        .metric("warren_event_commits_total")
        .await
        .expect("the commits counter");
    assert!(
        commits < 100.0,
        "100 events in {commits} transactions: no group formed"
    );
}
