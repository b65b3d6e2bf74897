//! The statistics rollups are kept by the statement that records attempts: after a real run
//! with successes, failures, timeouts and a raced duplicate, they hold exactly what a fresh
//! aggregate of the attempts gives.

use std::time::Duration;

use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;
use warren_deliver::{
    decision::Decision,
    records::{Attempt, Recorder},
    store::Loader,
};
use warren_shared::db;
use warren_testkit::receiver::Reply;

use crate::helpers::{no_extras, spawn_ingest};

const WAIT: Duration = Duration::from_secs(30);

/// A rollup table's rows, as text, in order.
async fn rollups(client: &Client, table: &str) -> Vec<String> {
    let query = format!(
        "SELECT concat_ws(' ', subscription_id, bucket, attempts, succeeded, timeouts, dead,
                          duration_ms_sum, latency)
         FROM {table} ORDER BY subscription_id, bucket"
    );
    rows(client, &query).await
}

/// The same rows aggregated afresh from `delivery_attempts`, per `width`.
async fn fresh(client: &Client, width: &str) -> Vec<String> {
    let query = format!(
        "SELECT concat_ws(' ', subscription_id, bucket, count(*),
                          count(*) FILTER (WHERE error_kind IS NULL),
                          count(*) FILTER (WHERE error_kind = 'timeout'),
                          count(*) FILTER (WHERE dead), sum(duration_ms),
                          warren_latency_histogram(duration_ms))
         FROM (SELECT a.*, date_bin('{width}', a.started_at, TIMESTAMPTZ 'epoch') AS bucket,
                      d.status = 'dead' AND a.attempt = d.attempt_count AS dead
               FROM delivery_attempts AS a JOIN deliveries AS d ON d.id = a.delivery_id) AS a
         GROUP BY subscription_id, bucket ORDER BY subscription_id, bucket"
    );
    rows(client, &query).await
}

async fn rows(client: &Client, query: &str) -> Vec<String> {
    client
        .query(query, &[])
        .await
        .expect("reading rows")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Asserts both rollups equal a fresh aggregate of the attempts; returns the attempts.
async fn assert_rollups_match_the_attempts(client: &Client) -> i64 {
    assert_eq!(
        rollups(client, "subscription_rollups_minute").await,
        fresh(client, "1 minute").await
    );
    assert_eq!(
        rollups(client, "subscription_rollups_hour").await,
        fresh(client, "1 hour").await
    );
    client
        .query_one("SELECT count(*) FROM delivery_attempts", &[])
        .await
        .expect("counting")
        .get(0)
}

#[tokio::test]
async fn rollups_hold_what_a_fresh_aggregate_of_the_attempts_gives() {
    let mut stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    // A breaker that never opens: every failure here is an attempt to count.
    let mut settings = stack.worker_settings();
    settings.circuit_failures = 1_000;
    settings.disable_after_failures = 1_000;
    stack.start_worker(settings).await;
    // "ok" succeeds, "fail" gets a 500 twice (dead), "slow" times out twice (dead).
    stack.receiver.plan(|_, received| {
        let body = String::from_utf8_lossy(&received.body);
        if body.contains("slow") {
            Reply::after(Duration::from_millis(1_500), 200)
        } else if body.contains("fail") {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    });
    stack
        .subscribe(json!({"timeout_ms": 1000, "max_attempts": 2}))
        .await;
    let mut expected = Vec::new();
    for (kind, n, status) in [
        ("ok", 6, "succeeded"),
        ("fail", 3, "dead"),
        ("slow", 2, "dead"),
    ] {
        for i in 0..n {
            let event = stack
                .send(&format!(r#"{{"kind": "{kind}", "i": {i}}}"#))
                .await;
            expected.push((stack.delivery_of(&event).await, status));
        }
    }
    for (delivery, status) in &expected {
        stack.wait_status(delivery, status, WAIT).await;
    }

    let client = stack.db.client().await;
    assert_eq!(assert_rollups_match_the_attempts(&client).await, 6 + 6 + 4);
    let (timeouts, dead): (i64, i64) = client
        .query_one(
            "SELECT sum(timeouts), sum(dead) FROM subscription_rollups_hour",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("summing");
    assert_eq!((timeouts, dead), (4, 5));
}

#[tokio::test]
async fn a_raced_duplicate_is_not_counted() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    stack.subscribe(no_extras()).await;
    let pool = db::pool(&stack.db.settings(), db::Commits::Durable).expect("a pool");
    let event = stack.send("{}").await;
    let delivery: Uuid = stack.delivery_of(&event).await.parse().expect("a uuid");
    let job = Loader::start(pool.clone())
        .load(delivery, event.parse().expect("a uuid"))
        .await
        .expect("loaded")
        .expect("a delivery");
    let result = warren_deliver::http::AttemptResult {
        started_at: time::OffsetDateTime::now_utc(),
        duration: Duration::from_millis(12),
        status_code: Some(200),
        error_kind: None,
        excerpt: None,
        retry_after: None,
    };
    let attempt = || Attempt {
        id: Uuid::now_v7(),
        number: 1,
        result: &result,
        batch_id: None,
    };
    let (a, b) = (attempt(), attempt());
    // Two workers' attempts of the same delivery, in one group and then alone.
    let recorder = Recorder::start(pool);
    let raced = futures_util::future::join_all([
        recorder.record(&job, &a, Decision::Succeeded),
        recorder.record(&job, &b, Decision::Succeeded),
    ])
    .await;
    let late = recorder
        .record(&job, &attempt(), Decision::Succeeded)
        .await
        .expect("answered");
    let recorded = raced
        .into_iter()
        .filter(|r| *r.as_ref().expect("answered"))
        .count();
    assert_eq!((recorded, late), (1, false));

    let client = stack.db.client().await;
    assert_eq!(assert_rollups_match_the_attempts(&client).await, 1);
    let counted: i64 = client
        .query_one("SELECT sum(attempts) FROM subscription_rollups_minute", &[])
        .await
        .expect("summing")
        .get(0);
    assert_eq!(counted, 1);
}
