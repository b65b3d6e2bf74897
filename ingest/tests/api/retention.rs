//! Retention: events past the window go with their deliveries and attempts, in the running
//! service; an event still being delivered stays; its idempotency key goes with it.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;
use warren_testkit::eventually;

use crate::helpers::{TestApp, ingest_with_key, spawn_app_with};

/// Moves an event (and its deliveries) to an id taken `days` ago, as if it had been
/// received then.
async fn age(app: &TestApp, event: Uuid, days: i64) -> Uuid {
    let then = OffsetDateTime::now_utc() - time::Duration::days(days);
    let old = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(then.unix_timestamp()).expect("after 1970"),
        0,
    ));
    let mut client = app.db.client().await;
    let tx = client.transaction().await.expect("a transaction");
    let key: Option<String> = tx
        .query_one(
            "SELECT idempotency_key FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .expect("the event")
        .get(0);
    tx.execute(
        "UPDATE events SET idempotency_key = NULL WHERE id = $1",
        &[&event],
    )
    .await
    .expect("freeing the key");
    tx.execute(
        "INSERT INTO events SELECT (jsonb_populate_record(NULL::events,
             to_jsonb(e) || jsonb_build_object('id', $1::uuid, 'received_at', $3::timestamptz,
                                               'idempotency_key', $4::text))).*
         FROM events e WHERE id = $2",
        &[&old, &event, &then, &key],
    )
    .await
    .expect("copying the event into the past");
    tx.execute(
        "UPDATE deliveries SET event_id = $1 WHERE event_id = $2",
        &[&old, &event],
    )
    .await
    .expect("moving the deliveries");
    tx.execute("DELETE FROM events WHERE id = $1", &[&event])
        .await
        .expect("removing the original");
    tx.commit().await.expect("committed");
    old
}

async fn count(app: &TestApp, sql: &str, event: Uuid) -> i64 {
    let client = app.db.client().await;
    client
        .query_one(sql, &[&event])
        .await
        .expect("a count")
        .get(0)
}

#[tokio::test]
async fn events_past_the_window_go_with_their_deliveries_and_attempts_unless_still_in_flight() {
    let app = spawn_app_with(|settings| {
        settings.retention_days = 30;
        settings.retention_interval_secs = 1;
    })
    .await;
    let (_, url) = app.source_with_subscriber().await;

    let (_, finished) = ingest_with_key(&app, &url, "old-finished", r#"{"n": 1}"#).await;
    let finished = age(&app, finished, 31).await;
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE deliveries SET status = 'succeeded', succeeded_at = now() WHERE event_id = $1",
            &[&finished],
        )
        .await
        .expect("finishing the delivery");
    client
        .execute(
            "INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id, attempt, started_at, duration_ms, status_code)
             SELECT $2, user_id, id, subscription_id, 1, now(), 5, 200 FROM deliveries WHERE event_id = $1",
            &[&finished, &Uuid::now_v7()],
        )
        .await
        .expect("recording its attempt");
    let (_, in_flight) = ingest_with_key(&app, &url, "old-in-flight", r#"{"n": 2}"#).await;
    let in_flight = age(&app, in_flight, 31).await;
    let (_, recent) = ingest_with_key(&app, &url, "recent", r#"{"n": 3}"#).await;

    eventually(
        "retention to remove the old finished event",
        Duration::from_secs(15),
        || async {
            (count(&app, "SELECT count(*) FROM events WHERE id = $1", finished).await == 0)
                .then_some(())
        },
    )
    .await;
    let gone = "SELECT count(*) FROM deliveries WHERE event_id = $1";
    assert_eq!(count(&app, gone, finished).await, 0, "its deliveries went");
    assert_eq!(
        app.count("delivery_attempts").await,
        0,
        "its attempt went (it was the only one)"
    );
    let kept = "SELECT count(*) FROM events WHERE id = $1";
    assert_eq!(
        count(&app, kept, in_flight).await,
        1,
        "a pending delivery keeps its event"
    );
    assert_eq!(count(&app, kept, recent).await, 1, "a recent event stays");

    // The key went with its event: it can be used again, even with another body.
    let (status, again) = ingest_with_key(&app, &url, "old-finished", r#"{"n": "new"}"#).await;
    assert_eq!(status, 202);
    assert_ne!(again, finished);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("warren_retention_deleted_events_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_retention_of_zero_days_keeps_everything() {
    let app = spawn_app_with(|settings| {
        settings.retention_days = 0;
        settings.retention_interval_secs = 1;
    })
    .await;
    let (_, url) = app.source_with_subscriber().await;
    let (_, event) = ingest_with_key(&app, &url, "ancient", "{}").await;
    let event = age(&app, event, 3650).await;
    app.db
        .client()
        .await
        .execute(
            "UPDATE deliveries SET status = 'succeeded' WHERE event_id = $1",
            &[&event],
        )
        .await
        .expect("finishing the delivery");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM events WHERE id = $1", event).await,
        1
    );
}

#[tokio::test]
async fn a_held_delivery_keeps_its_event_past_the_window() {
    let app = spawn_app_with(|settings| {
        settings.retention_days = 30;
        settings.retention_interval_secs = 1;
    })
    .await;
    let (_, url) = app.source_with_subscriber().await;
    let (_, old_held) = ingest_with_key(&app, &url, "old-held", r#"{"n": 1}"#).await;
    let old_held = age(&app, old_held, 31).await;
    let (_, old_done) = ingest_with_key(&app, &url, "old-done", r#"{"n": 2}"#).await;
    let old_done = age(&app, old_done, 31).await;
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE deliveries SET status = 'held' WHERE event_id = $1",
            &[&old_held],
        )
        .await
        .expect("holding one");
    client
        .execute(
            "UPDATE deliveries SET status = 'discarded', discarded_at = now() WHERE event_id = $1",
            &[&old_done],
        )
        .await
        .expect("discarding the other");
    eventually(
        "retention to remove the old discarded one",
        Duration::from_secs(15),
        || async {
            (count(&app, "SELECT count(*) FROM events WHERE id = $1", old_done).await == 0)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM events WHERE id = $1", old_held).await,
        1,
        "a held delivery keeps its event"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM deliveries WHERE event_id = $1 AND status = 'held'",
            old_held
        )
        .await,
        1,
        "and stays held"
    );
}

/// The statistics' rollups are pruned too: minute rows after two days, hour rows after the
/// retention window (here 3 days) but never before eight days; the rows the stats read stay.
#[tokio::test]
async fn rollups_older_than_the_stats_read_are_pruned() {
    let app = spawn_app_with(|settings| {
        settings.retention_days = 3;
        settings.retention_interval_secs = 1;
    })
    .await;
    let client = app.db.client().await;
    let subscription = Uuid::now_v7();
    for (table, days) in [("minute", 1), ("minute", 3), ("hour", 6), ("hour", 9)] {
        client
            .execute(
                &format!(
                    "INSERT INTO subscription_rollups_{table} (subscription_id, bucket, attempts,
                         succeeded, timeouts, dead, duration_ms_sum, latency)
                     VALUES ($1, date_trunc('hour', now()) - make_interval(days => $2), 1, 1, 0, 0, 5, '{{1}}')"
                ),
                &[&subscription, &days],
            )
            .await
            .expect("a rollup row");
    }
    let left = || async {
        let rows = client
            .query(
                "SELECT 'minute', extract(day FROM now() - bucket)::int FROM subscription_rollups_minute
                 UNION ALL
                 SELECT 'hour', extract(day FROM now() - bucket)::int FROM subscription_rollups_hour
                 ORDER BY 1, 2",
                &[],
            )
            .await
            .expect("rollups");
        rows.iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1)))
            .collect::<Vec<_>>()
    };
    eventually(
        "the old rollups pruned",
        Duration::from_secs(10),
        || async {
            let rows = left().await;
            (rows == [("hour".to_owned(), 6), ("minute".to_owned(), 1)]).then_some(())
        },
    )
    .await;
}
