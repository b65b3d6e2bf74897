//! The enqueued marker: confirmed deliveries are marked late, in batches, and whatever it
//! holds is marked when ingest stops, so a clean restart never republishes them.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_ingest::dispatch::Marker;
use warren_shared::{
    db,
    envelope::{DeliverV1, Envelope},
};
use warren_testkit::eventually;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A pending delivery, enqueued by the app and then unmarked again (dated ahead, so the
/// app's own outbox relay leaves it alone), and its envelope.
async fn unmarked_delivery(app: &TestApp) -> Envelope {
    let (api, url) = app.source_with_subscriber().await;
    api.ingest(&url, "application/json", "{}").await;
    let client = app.db.client().await;
    let row = eventually("the app's own mark", Duration::from_secs(5), || async {
        client
            .query_opt(
                "UPDATE deliveries SET enqueued = false, updated_at = now() + interval '1 hour'
                 WHERE enqueued
                 RETURNING id, event_id, subscription_id, user_id",
                &[],
            )
            .await
            .expect("unmarking")
    })
    .await;
    Envelope::DeliverV1(DeliverV1 {
        delivery_id: row.get("id"),
        event_id: row.get("event_id"),
        subscription_id: row.get("subscription_id"),
        user_id: row.get("user_id"),
        attempt: 1,
        ordered: false,
    })
}

async fn enqueued(app: &TestApp, envelope: &Envelope) -> bool {
    let Envelope::DeliverV1(delivery) = envelope;
    let id: Uuid = delivery.delivery_id;
    app.db
        .client()
        .await
        .query_one("SELECT enqueued FROM deliveries WHERE id = $1", &[&id])
        .await
        .expect("the delivery")
        .get(0)
}

#[tokio::test]
async fn marks_wait_and_stopping_marks_what_is_held_at_once() {
    let app = spawn_app().await;
    let envelope = unmarked_delivery(&app).await;
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let stop = CancellationToken::new();
    let (marker, task) = Marker::start(pool, Duration::from_secs(3_600), stop.clone());
    marker.confirmed(vec![envelope.clone()]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !enqueued(&app, &envelope).await,
        "not marked before its delay"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the marker ends once stopped")
        .expect("the marker's task");
    assert!(
        enqueued(&app, &envelope).await,
        "marked when the marker stopped"
    );
}

/// The running service waits its whole delay (a quarter of the outbox grace, at most a
/// second) before marking: deliveries attempted meanwhile are never written twice.
#[tokio::test]
async fn the_service_marks_a_waiting_delivery_after_its_delay_not_before() {
    let app = spawn_app_with(|settings| settings.outbox_grace_ms = 10_000).await;
    let delay = Marker::delay_for(Duration::from_secs(10));
    assert_eq!(delay, Duration::from_secs(1), "a 10 s grace's delay");
    let (api, url) = app.source_with_subscriber().await;
    let sent = Instant::now();
    api.ingest(&url, "application/json", "{}").await;
    let client = app.db.client().await;
    let marked = || async {
        client
            .query_one("SELECT bool_and(enqueued) FROM deliveries", &[])
            .await
            .expect("the delivery")
            .get::<_, Option<bool>>(0)
            .expect("one delivery")
    };
    tokio::time::sleep(delay / 2).await;
    let early = marked().await;
    // Only a look taken well inside the delay says anything about it.
    if sent.elapsed() < delay * 3 / 4 {
        assert!(!early, "marked {:?} after the answer", sent.elapsed());
    }
    eventually("the mark", Duration::from_secs(10), || async {
        marked().await.then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_delivery_already_attempted_is_not_marked() {
    let app = spawn_app().await;
    let envelope = unmarked_delivery(&app).await;
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE deliveries SET status = 'succeeded', attempt_count = 1",
            &[],
        )
        .await
        .expect("a worker's success");
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let stop = CancellationToken::new();
    let (marker, task) = Marker::start(pool, Duration::ZERO, stop.clone());
    marker.confirmed(vec![envelope.clone()]).await;
    drop(marker);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the marker ends with its last handle")
        .expect("the marker's task");
    assert!(!enqueued(&app, &envelope).await);
}

#[tokio::test]
async fn a_mark_skips_a_row_being_recorded_instead_of_waiting_for_it() {
    let app = spawn_app().await;
    let recorded = unmarked_delivery(&app).await;
    let free = unmarked_delivery(&app).await;
    // A worker recording the first delivery's attempt holds its row until it commits.
    let mut worker = app.db.client().await;
    let recording = worker.transaction().await.expect("a transaction");
    let Envelope::DeliverV1(held) = &recorded;
    recording
        .execute(
            "SELECT 1 FROM deliveries WHERE id = $1 FOR NO KEY UPDATE",
            &[&held.delivery_id],
        )
        .await
        .expect("the row locked");

    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let client = pool.get().await.expect("a connection");
    let both = [recorded.clone(), free.clone()];
    tokio::time::timeout(
        Duration::from_secs(3),
        warren_ingest::dispatch::mark_enqueued(&client, &both),
    )
    .await
    .expect("the mark does not wait for the locked row")
    .expect("the mark");
    assert!(enqueued(&app, &free).await, "the free row is marked");
    assert!(
        !enqueued(&app, &recorded).await,
        "the locked row is left to its recorder (or the outbox relay)"
    );
    recording.rollback().await.expect("rolled back");
}

#[tokio::test]
async fn the_mark_finds_its_deliveries_by_key_before_and_after_the_tables_are_analysed() {
    let app = spawn_app().await;
    // Deliveries waiting unmarked, as during a burst, on tables never analysed.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let Envelope::DeliverV1(d) = unmarked_delivery(&app).await;
        waiting.push(d.delivery_id);
    }
    let client = app.db.client().await;
    let pool = db::pool(&app.db.settings(), db::Commits::Durable).expect("a pool");
    let mut pooled = pool.get().await.expect("a connection");
    let young = mark_plan(&mut pooled, &waiting).await;
    // A long history of delivered events, analysed (retention's statistics of a busy day).
    client
        .batch_execute(
            "INSERT INTO deliveries (id, user_id, event_id, subscription_id, status, enqueued)
             SELECT gen_random_uuid(), user_id, event_id, subscription_id, 'succeeded', true
             FROM (SELECT * FROM deliveries LIMIT 1) one, generate_series(1, 20000);
             ANALYZE deliveries",
        )
        .await
        .expect("a history");
    let old = mark_plan(&mut pooled, &waiting).await;
    // Today's partition, which holds them (the empty ones ahead cost nothing whatever the
    // index, and are planned anew once they fill).
    let holding: Vec<String> = client
        .query(
            "SELECT DISTINCT tableoid::regclass::text FROM deliveries WHERE id = ANY($1)",
            &[&waiting],
        )
        .await
        .expect("their partition")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!holding.is_empty());
    for plan in [young, old] {
        for partition in &holding {
            let by_key = format!("{partition}_pkey on {partition} w_");
            assert!(plan.contains(&by_key), "{by_key}: {plan}");
        }
        for walk in [
            "outbox",
            "updated_at_idx",
            "Hash Join",
            "Merge Join",
            "Seq Scan",
        ] {
            assert!(!plan.contains(walk), "no {walk}: {plan}");
        }
    }

    // The marker plans once per connection and keeps the plan: planning over every
    // partition at every mark is what a long history made it pay.
    let unmarked: Vec<Envelope> = waiting
        .iter()
        .map(|id| {
            // The mark reads the delivery and the attempt alone.
            Envelope::DeliverV1(DeliverV1 {
                delivery_id: *id,
                event_id: Uuid::nil(),
                subscription_id: Uuid::nil(),
                user_id: Uuid::nil(),
                attempt: 1,
                ordered: false,
            })
        })
        .collect();
    for _ in 0..3 {
        let tx = pooled.transaction().await.expect("a transaction");
        warren_ingest::dispatch::plan_marks(&tx)
            .await
            .expect("planned");
        warren_ingest::dispatch::mark_enqueued(&tx, &unmarked)
            .await
            .expect("marked");
        tx.rollback().await.expect("rolled back");
    }
    let plans = pooled
        .query_one(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements
             WHERE statement = $1",
            &[&warren_ingest::dispatch::MARK_ENQUEUED],
        )
        .await
        .expect("the marker's prepared statement");
    let (generic, custom): (i64, i64) = (plans.get(0), plans.get(1));
    assert_eq!((generic, custom), (3, 0));
}

/// The plan the marker's transaction runs its statement with (kept, as the marker's
/// prepared statement keeps it), for these deliveries.
async fn mark_plan(client: &mut deadpool_postgres::Client, ids: &[Uuid]) -> String {
    let tx = client.transaction().await.expect("a transaction");
    warren_ingest::dispatch::plan_marks(&tx)
        .await
        .expect("planned as the marker plans");
    let mark = warren_ingest::dispatch::MARK_ENQUEUED
        .replace("$1::uuid[]", "$1")
        .replace("$2::int[]", "$2");
    tx.batch_execute(&format!("PREPARE mark(uuid[], int[]) AS {mark}"))
        .await
        .expect("prepared");
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let attempts = vec!["1"; ids.len()];
    let explain = format!(
        "EXPLAIN EXECUTE mark('{{{}}}', '{{{}}}')",
        ids.join(","),
        attempts.join(",")
    );
    let plan = warren_testkit::database::explained(&*tx, &explain).await;
    // A prepared statement outlives its transaction.
    tx.batch_execute("DEALLOCATE mark")
        .await
        .expect("deallocated");
    tx.rollback().await.expect("rolled back");
    plan
}
