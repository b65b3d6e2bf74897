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
