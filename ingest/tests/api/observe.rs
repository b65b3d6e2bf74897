//! What an operator and an API client can read about Warren itself.

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use warren_testkit::{broker::TestBroker, eventually};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn queues_lists_every_warren_queue_with_its_depth_from_the_management_api() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    api.ingest(&url, "application/json", "{}").await;
    let queues = eventually(
        "the management API to count the message",
        Duration::from_secs(20),
        || async {
            let queues = api.get_json("/api/v1/queues").await;
            (queues[0]["messages"] == 1).then_some(queues)
        },
    )
    .await;
    let queues = queues.as_array().expect("a list");
    let topology = app.broker.settings.topology();
    assert_eq!(queues[0]["name"], topology.deliver_queue());
    assert_eq!(queues[0]["kind"], "deliver");
    assert_eq!(
        queues[0]["messages_unacked"], 0,
        "the management API knows unacked"
    );
    let tiers: Vec<&str> = queues
        .iter()
        .filter(|q| q["kind"] == "retry")
        .map(|q| q["tier"].as_str().expect("tier"))
        .collect();
    assert_eq!(tiers, ["300ms", "600ms", "1s"]);
    assert_eq!(
        queues.last().expect("a queue")["name"],
        topology.graveyard_queue()
    );
}

#[tokio::test]
async fn without_the_management_api_queues_falls_back_to_passive_declares() {
    let app = spawn_app_with(|settings| {
        settings.rabbitmq_management_url = "http://127.0.0.1:9".into();
    })
    .await;
    let (api, url) = app.source_with_subscriber().await;
    api.ingest(&url, "application/json", "{}").await;
    let queues = api.get_json("/api/v1/queues").await;
    assert_eq!(queues[0]["messages"], 1);
    assert_eq!(
        queues[0]["messages_unacked"],
        Value::Null,
        "passive declares do not know unacked"
    );
}

#[tokio::test]
async fn metrics_count_ingest_requests_by_status_accepted_events_and_confirms() {
    let app = spawn_app().await;
    let (api, url) = app.source_with_subscriber().await;
    api.ingest(&url, "application/json", "{}").await;
    api.ingest(&url, "application/json", "{oops").await;
    // The 202 does not wait for the broker's confirm (it is counted in the background).
    let text = eventually(
        "the publish confirm counted",
        Duration::from_secs(5),
        || async {
            let text = app.metrics().await;
            text.contains("warren_publish_confirms_total 1")
                .then_some(text)
        },
    )
    .await;
    assert!(
        text.contains("warren_ingest_requests_total{status=\"202\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("warren_ingest_requests_total{status=\"400\"} 1"),
        "{text}"
    );
    assert!(text.contains("warren_events_accepted_total 1"), "{text}");
    assert!(text.contains("warren_outbox_backlog"), "{text}");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            line.starts_with("warren_"),
            "every metric is Warren's: {line}"
        );
    }
}

/// `(method, path)` of every `/api/v1` route named in the contract, `GET/PATCH/DELETE /path`
/// forms included.
fn routes_in_the_contract() -> BTreeSet<(String, String)> {
    let contract = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md"));
    let mut routes = BTreeSet::new();
    for span in contract.split('`').skip(1).step_by(2) {
        let Some((methods, rest)) = span.split_once(' ') else {
            continue;
        };
        let path = rest.split_whitespace().next().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        if !path.starts_with("/api/v1") {
            continue;
        }
        for method in methods.split('/') {
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
                routes.insert((method.to_lowercase(), path.to_owned()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_of_the_contract() {
    let app = spawn_app().await;
    let document: Value = app.api.get_json("/api/openapi.json").await;
    assert!(
        document["openapi"]
            .as_str()
            .expect("a version")
            .starts_with("3.")
    );
    let contract = routes_in_the_contract();
    assert!(
        contract.len() >= 30,
        "the contract parser found only {} routes",
        contract.len()
    );
    let missing: Vec<_> = contract
        .iter()
        .filter(|(method, path)| document["paths"][path.as_str()][method.as_str()].is_null())
        .collect();
    assert!(
        missing.is_empty(),
        "routes in API.md but not in the OpenAPI document: {missing:?}"
    );
}

#[tokio::test]
async fn stats_read_the_rollups_of_the_subscription_not_its_attempts() {
    let app = spawn_app().await;
    let api = app.user().await;
    let mut subscriptions = Vec::new();
    for n in 0..8 {
        let sub = api
            .create_subscription(&format!("http://127.0.0.1:9/{n}"), serde_json::json!({}))
            .await;
        subscriptions.push(sub["id"].as_str().expect("id").to_owned());
    }
    let client = app.db.client().await;
    // Arrange: eight subscriptions with 40,000 attempts each, spread over a week, one in ten
    // failed (one in a hundred a timeout), written around the worker and then rolled up as
    // the documented rebuild does.
    client
        .batch_execute(
            "INSERT INTO events (id, user_id, event_type, raw_body, headers, idempotency_scope, body_sha256, initial_deliveries)
             SELECT gen_random_uuid(), user_id, 't', '\\x', '{}', user_id, '\\x', 0 FROM subscriptions LIMIT 1;
             INSERT INTO deliveries (id, user_id, event_id, subscription_id)
             SELECT gen_random_uuid(), s.user_id, (SELECT id FROM events LIMIT 1), s.id FROM subscriptions s;
             INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id, attempt, started_at, duration_ms, status_code, error_kind)
             SELECT gen_random_uuid(), d.user_id, d.id, d.subscription_id, n, now() - (n * 15 % 604800) * interval '1 second',
                    n % 500, 200, CASE WHEN n % 100 = 0 THEN 'timeout' WHEN n % 10 = 0 THEN 'http_status' END
             FROM deliveries d, generate_series(1, 40000) AS n;
             SELECT warren_rollup_rebuild(now() - interval '8 days');
             ANALYZE subscription_rollups_minute, subscription_rollups_hour;",
        )
        .await
        .expect("arranging attempts");

    let id = uuid::Uuid::parse_str(&subscriptions[3]).expect("a uuid");
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(7);
    let hour = start + time::Duration::minutes(30);
    let plan: Value = client
        .query_one(
            &format!(
                "EXPLAIN (FORMAT JSON) {}",
                warren_ingest::stats::rollups::TOTALS
            ),
            &[&vec![id], &start, &hour],
        )
        .await
        .expect("explaining")
        .get(0);
    let plan = plan.to_string();
    assert!(plan.contains("subscription_rollups_hour_pkey"), "{plan}");
    assert!(!plan.contains("delivery_attempts"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");

    let stats = api
        .get_json(&format!("/api/v1/subscriptions/{id}/stats?window=7d"))
        .await;
    assert_eq!(
        stats["total"], 40_000,
        "each subscription counts only its own"
    );
    assert_eq!(stats["failed"], 4_000);
    assert_eq!(stats["success_rate"], 0.9);
    assert_eq!(stats["timeouts"], 400);
    assert_eq!(stats["timeout_rate"], 0.01);
    let series_total: i64 = stats["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| p["succeeded"].as_i64().unwrap_or(0) + p["failed"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(series_total, 40_000, "the series adds up to the total");
    assert_eq!(
        stats["series"].as_array().expect("series").len(),
        168,
        "an hour per point over a week"
    );
    // Durations run 0..500 ms evenly: the median is 249.5 ms, reported within the
    // histogram's 5 % (it was exact when stats scanned the attempts); the average is exact.
    let p50 = stats["latency_ms"]["p50"].as_f64().expect("p50");
    assert!((237.0..=262.0).contains(&p50), "{p50}");
    assert_eq!(stats["latency_ms"]["avg"], 249.5);
}

#[tokio::test]
async fn the_first_account_is_the_operator_and_only_it_sees_the_queues() {
    let app = spawn_app().await;
    let operator = app.user().await;
    let user = app.user().await;
    assert_eq!(operator.get_json("/api/v1/me").await["role"], "operator");
    assert_eq!(user.get_json("/api/v1/me").await["role"], "user");
    assert_eq!(operator.get("/api/v1/queues").await.status(), 200);
    let problem = crate::helpers::assert_problem(user.get("/api/v1/queues").await, 403).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("operator")),
        "{problem}"
    );
}

#[tokio::test]
async fn queues_lists_this_warrens_own_topology_never_a_stale_queue_or_another_prefixs() {
    let app = spawn_app().await;
    let operator = app.user().await;
    // On the same broker: a leftover under this prefix that no topology declares (as a
    // retired wait tier leaves behind), and a queue of another Warren's prefix.
    let stale = app.broker.tap("amq.direct", "stale").await;
    let foreign = TestBroker::new().tap("amq.direct", "foreign").await;

    let listed: BTreeSet<String> = operator
        .get_json("/api/v1/queues")
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|q| q["name"].as_str().expect("a name").to_owned())
        .collect();

    let topology = app.broker.settings.topology();
    let mut expected = BTreeSet::from([topology.deliver_queue(), topology.graveyard_queue()]);
    expected.extend(
        topology
            .tiers()
            .iter()
            .map(|tier| topology.retry_queue(tier)),
    );
    expected.extend(
        topology
            .ordered_shards()
            .map(|shard| topology.ordered_queue(shard)),
    );
    assert_eq!(listed, expected);
    assert!(!listed.contains(&stale) && !listed.contains(&foreign));
}
