//! Stats from the rollups: the SQL latency bucket and its Rust inverse agree, percentiles
//! are within the documented 5 %, the all-subscriptions call answers for the caller's
//! subscriptions only, and a subscription's rollups go with it.

use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;
use warren_ingest::stats::histogram;

use crate::helpers::spawn_app;

/// One delivery of subscription `id` with an attempt of each of `durations` (ms) in the last
/// half hour, the first `failed` of them 500s, its status `status`; then the rollups rebuilt
/// from the attempts (as after a COPY).
async fn arrange(client: &Client, id: &str, durations: &[i32], failed: i64, status: &str) {
    let id = Uuid::parse_str(id).expect("a uuid");
    client
        .execute(
            "WITH s AS (SELECT id, user_id FROM subscriptions WHERE id = $1),
                  e AS (INSERT INTO events (id, user_id, event_type, raw_body, headers,
                            idempotency_scope, body_sha256, initial_deliveries)
                        SELECT gen_random_uuid(), user_id, 't', '\\x', '{}', user_id, '\\x', 1
                        FROM s RETURNING id, user_id),
                  d AS (INSERT INTO deliveries (id, user_id, event_id, subscription_id, status,
                            attempt_count)
                        SELECT gen_random_uuid(), e.user_id, e.id, $1, $4::text, cardinality($2::int[])
                        FROM e RETURNING id, user_id)
             INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id, attempt,
                 started_at, duration_ms, status_code, error_kind)
             SELECT gen_random_uuid(), d.user_id, d.id, $1, n::int,
                    now() - interval '30 minutes' + n * interval '1 ms', ms,
                    CASE WHEN n <= $3::int8 THEN 500 ELSE 200 END,
                    CASE WHEN n <= $3 THEN 'http_status' END
             FROM d, unnest($2::int[]) WITH ORDINALITY AS u(ms, n)",
            &[&id, &durations, &failed, &status],
        )
        .await
        .expect("arranging attempts");
    client
        .execute(
            "SELECT warren_rollup_rebuild(now() - interval '8 days')",
            &[],
        )
        .await
        .expect("rebuilding the rollups");
}

#[tokio::test]
async fn the_sql_latency_bucket_and_its_rust_inverse_agree() {
    let app = spawn_app().await;
    let client = app.db.client().await;
    let rows = client
        .query(
            "SELECT ms, warren_latency_bucket(ms) FROM generate_series(0, 300000) AS ms",
            &[],
        )
        .await
        .expect("bucketing");
    for row in rows {
        let (ms, bucket): (i32, i32) = (row.get(0), row.get(1));
        let (lo, hi) = histogram::bounds(bucket as usize);
        assert!(
            lo <= f64::from(ms) && f64::from(ms) <= hi,
            "{ms} ms in bucket {bucket}: {lo}..={hi}"
        );
    }
}

#[tokio::test]
async fn percentiles_are_within_five_percent_and_exact_up_to_ten_ms() {
    let app = spawn_app().await;
    let api = app.user().await;
    let client = app.db.client().await;
    let slow = api
        .create_subscription("http://127.0.0.1:9/slow", json!({}))
        .await;
    let fast = api
        .create_subscription("http://127.0.0.1:9/fast", json!({}))
        .await;
    let durations: Vec<i32> = (1..=1000).collect();
    arrange(
        &client,
        slow["id"].as_str().expect("id"),
        &durations,
        0,
        "succeeded",
    )
    .await;
    arrange(
        &client,
        fast["id"].as_str().expect("id"),
        &[3, 3, 3, 7, 7, 10],
        0,
        "succeeded",
    )
    .await;

    for window in ["1h", "24h", "7d"] {
        let stats = api
            .get_json(&format!(
                "/api/v1/subscriptions/{}/stats?window={window}",
                slow["id"].as_str().expect("id")
            ))
            .await;
        let latency = &stats["latency_ms"];
        assert_eq!(stats["total"], 1000, "{window}");
        assert_eq!(latency["avg"], 500.5, "the average is exact ({window})");
        for (name, exact) in [("p50", 500.0), ("p95", 950.0), ("p99", 990.0)] {
            let reported = latency[name].as_f64().expect("a percentile");
            assert!(
                (reported - exact).abs() <= 0.05 * exact,
                "{window} {name}: {reported}, not within 5 % of {exact}"
            );
        }
    }
    let stats = api
        .get_json(&format!(
            "/api/v1/subscriptions/{}/stats",
            fast["id"].as_str().expect("id")
        ))
        .await;
    let latency = &stats["latency_ms"];
    assert_eq!(
        (
            latency["p50"].clone(),
            latency["p95"].clone(),
            latency["p99"].clone()
        ),
        (json!(3.0), json!(10.0), json!(10.0))
    );
}

#[tokio::test]
async fn all_stats_answer_for_each_of_the_callers_subscriptions_and_no_one_elses() {
    let app = spawn_app().await;
    let api = app.user().await;
    let other = app.user().await;
    let client = app.db.client().await;
    let first = api
        .create_subscription("http://127.0.0.1:9/first", json!({"name": "first"}))
        .await;
    let second = api
        .create_subscription("http://127.0.0.1:9/second", json!({"name": "second"}))
        .await;
    let theirs = other
        .create_subscription("http://127.0.0.1:9/theirs", json!({}))
        .await;
    let id = |s: &Value| s["id"].as_str().expect("id").to_owned();
    arrange(&client, &id(&first), &[10, 20, 30, 40], 1, "succeeded").await;
    arrange(&client, &id(&first), &[100, 100], 2, "dead").await;
    arrange(&client, &id(&theirs), &[5; 7], 0, "succeeded").await;

    let all = api.get_json("/api/v1/stats?window=24h").await;
    assert_eq!(all["window"], "24h");
    let data = all["data"].as_array().expect("data");
    let ids: Vec<&str> = data
        .iter()
        .map(|s| s["subscription_id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids, [id(&first), id(&second)], "the caller's, oldest first");
    let one = &data[0];
    assert_eq!(one["name"], "first");
    assert_eq!(
        (one["total"].clone(), one["failed"].clone()),
        (json!(6), json!(3))
    );
    assert_eq!(one["backlog"]["dead"], json!({"count": 1, "more": false}));
    assert_eq!(
        one["backlog"]["pending"],
        json!({"count": 0, "more": false})
    );
    let alone = api
        .get_json(&format!(
            "/api/v1/subscriptions/{}/stats?window=24h",
            id(&first)
        ))
        .await;
    for field in [
        "total",
        "succeeded",
        "failed",
        "timeouts",
        "timeout_rate",
        "success_rate",
        "latency_ms",
        "dead",
        "held",
    ] {
        assert_eq!(
            one[field], alone[field],
            "{field} as the subscription's own stats say"
        );
    }
    assert_eq!(data[1]["total"], 0);
    assert_eq!(data[1]["series"].as_array().map(Vec::len), Some(96));
    let theirs_seen = other.get_json("/api/v1/stats").await;
    assert_eq!(theirs_seen["data"][0]["total"], 7);
    assert_eq!(theirs_seen["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn deleting_a_subscription_deletes_its_rollups() {
    let app = spawn_app().await;
    let api = app.user().await;
    let client = app.db.client().await;
    let sub = api
        .create_subscription("http://127.0.0.1:9/gone", json!({}))
        .await;
    let id = sub["id"].as_str().expect("id");
    arrange(&client, id, &[1, 2, 3], 0, "succeeded").await;
    let rows = |table: &'static str| {
        let client = &client;
        async move {
            let count: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .expect("counting")
                .get(0);
            count
        }
    };
    assert_eq!(
        (
            rows("subscription_rollups_minute").await,
            rows("subscription_rollups_hour").await
        ),
        (1, 1)
    );
    assert_eq!(
        api.delete(&format!("/api/v1/subscriptions/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        (
            rows("subscription_rollups_minute").await,
            rows("subscription_rollups_hour").await
        ),
        (0, 0)
    );
}
