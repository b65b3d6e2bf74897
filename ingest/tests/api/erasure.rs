//! Removing a user (an operator's erasure, by hand in PostgreSQL) removes everything the
//! user owns, down to delivery attempts, and nothing of anyone else's.

use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

/// A user with a source, a subscription, one event and its delivery attempted once; returns
/// the user's id.
async fn user_with_history(app: &TestApp) -> Uuid {
    let (api, url) = app.source_with_subscriber().await;
    let response = api
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"n": 1}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let client = app.db.client().await;
    let event: Uuid = response.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a UUID");
    client
        .query_one(
            "INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id, attempt, started_at, duration_ms, status_code)
             SELECT $2, user_id, id, subscription_id, 1, now(), 5, 500 FROM deliveries WHERE event_id = $1
             RETURNING user_id",
            &[&event, &Uuid::now_v7()],
        )
        .await
        .expect("an attempt recorded")
        .get(0)
}

async fn owned(app: &TestApp, table: &str, user: Uuid) -> i64 {
    let client = app.db.client().await;
    client
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE user_id = $1"),
            &[&user],
        )
        .await
        .expect("counting")
        .get(0)
}

#[tokio::test]
async fn removing_a_user_removes_its_events_deliveries_and_attempts_and_nobody_elses() {
    let app = spawn_app().await;
    let erased = user_with_history(&app).await;
    let kept = user_with_history(&app).await;
    let tables = ["events", "deliveries", "delivery_attempts"];
    for table in tables {
        assert_eq!(owned(&app, table, erased).await, 1, "{table} before");
    }
    app.db
        .client()
        .await
        .execute("DELETE FROM users WHERE id = $1", &[&erased])
        .await
        .expect("the user removed");
    for table in tables {
        assert_eq!(
            owned(&app, table, erased).await,
            0,
            "{table} of the removed user"
        );
        assert_eq!(
            owned(&app, table, kept).await,
            1,
            "{table} of the other user"
        );
    }
}

#[tokio::test]
async fn deleting_a_subscription_removes_its_deliveries_and_their_attempts_and_keeps_the_event() {
    let app = spawn_app().await;
    let user = user_with_history(&app).await;
    let other = user_with_history(&app).await;
    let client = app.db.client().await;
    client
        .execute("DELETE FROM subscriptions WHERE user_id = $1", &[&user])
        .await
        .expect("the subscription deleted");
    assert_eq!(owned(&app, "deliveries", user).await, 0);
    assert_eq!(owned(&app, "delivery_attempts", user).await, 0);
    assert_eq!(owned(&app, "events", user).await, 1, "the event stays");
    for table in ["events", "deliveries", "delivery_attempts"] {
        assert_eq!(
            owned(&app, table, other).await,
            1,
            "{table} of the other user"
        );
    }
}

#[tokio::test]
async fn deleting_a_source_keeps_its_events_without_a_source() {
    let app = spawn_app().await;
    let user = user_with_history(&app).await;
    let other = user_with_history(&app).await;
    let client = app.db.client().await;
    for table in ["subscriptions", "sources"] {
        client
            .execute(&format!("DELETE FROM {table} WHERE user_id = $1"), &[&user])
            .await
            .expect("deleted");
    }
    let sourceless = |owner: Uuid| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT count(*) FROM events WHERE user_id = $1 AND source_id IS NULL",
                    &[&owner],
                )
                .await
                .expect("counting")
                .get::<_, i64>(0)
        }
    };
    assert_eq!(owned(&app, "events", user).await, 1, "the event stays");
    assert_eq!(sourceless(user).await, 1, "without its source");
    assert_eq!(
        sourceless(other).await,
        0,
        "the other user's keeps its source"
    );
}

/// Rows that name a user, source or subscription that does not exist are refused, with the
/// foreign key's name (a guard for any later change to how these references are checked).
#[tokio::test]
async fn rows_naming_a_missing_owner_source_or_subscription_are_refused() {
    let app = spawn_app().await;
    let user = user_with_history(&app).await;
    let client = app.db.client().await;
    let source: Uuid = client
        .query_one("SELECT id FROM sources WHERE user_id = $1", &[&user])
        .await
        .expect("the source")
        .get(0);
    let event = |owner: Uuid, source: Uuid| {
        let client = &client;
        async move {
            client
                .execute(
                    "INSERT INTO events (id, user_id, source_id, event_type, raw_body,
                         idempotency_scope, body_sha256, initial_deliveries)
                     VALUES ($1, $2, $3, 't', '\\x00', $3, '\\x00', 0)",
                    &[&Uuid::now_v7(), &owner, &source],
                )
                .await
        }
    };
    let refused = |result: Result<u64, tokio_postgres::Error>, constraint: &str| {
        let error = result.expect_err("refused");
        let db = error.as_db_error().expect("a database error");
        assert_eq!(
            db.code(),
            &tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION
        );
        assert_eq!(db.constraint(), Some(constraint));
    };
    refused(event(Uuid::now_v7(), source).await, "events_user_id_fkey");
    refused(event(user, Uuid::now_v7()).await, "events_source_id_fkey");
    event(user, source).await.expect("both exist");
    let delivery = client
        .execute(
            "INSERT INTO deliveries (id, user_id, event_id, subscription_id)
             SELECT $1, user_id, id, $2 FROM events WHERE user_id = $3 LIMIT 1",
            &[&Uuid::now_v7(), &Uuid::now_v7(), &user],
        )
        .await;
    refused(delivery, "deliveries_subscription_id_fkey");
    assert_eq!(owned(&app, "events", user).await, 2, "only the good event");
    assert_eq!(
        owned(&app, "deliveries", user).await,
        1,
        "no delivery added"
    );
}
