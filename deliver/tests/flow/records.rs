//! Attempts recorded in groups: each attempt of a group gets its own answer, a delivery
//! that moved on meanwhile records nothing, and the same attempt twice in one group is
//! recorded once.

use std::time::Duration;

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use uuid::Uuid;
use warren_deliver::{
    decision::Decision,
    http::AttemptResult,
    records::{Attempt, Recorder},
    store::{Job, Loader},
};
use warren_shared::db;
use warren_testkit::database::explained;

use crate::helpers::{Stack, no_extras, spawn_ingest};

fn ok_result() -> AttemptResult {
    AttemptResult {
        started_at: OffsetDateTime::now_utc(),
        duration: Duration::from_millis(3),
        status_code: Some(200),
        error_kind: None,
        excerpt: Some("ok".into()),
        retry_after: None,
    }
}

/// Ingest without a worker, one subscription and `n` events: their pending deliveries.
async fn pending(n: usize) -> (Stack, Pool, Vec<Job>) {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    stack.subscribe(no_extras()).await;
    let pool = db::pool(&stack.db.settings(), db::Commits::Durable).expect("a pool");
    let loader = Loader::start(pool.clone());
    let mut jobs = Vec::new();
    for n in 0..n {
        let event = stack.send(&format!(r#"{{"n": {n}}}"#)).await;
        let delivery: Uuid = stack.delivery_of(&event).await.parse().expect("a uuid");
        jobs.push(
            loader
                .load(delivery, event.parse().expect("a uuid"))
                .await
                .expect("loaded")
                .expect("a delivery"),
        );
    }
    (stack, pool, jobs)
}

#[tokio::test]
async fn a_group_answers_each_attempt_and_records_a_delivery_once() {
    let (stack, pool, jobs) = pending(3).await;
    // The third delivery moved on already (another worker's attempt).
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE deliveries SET status = 'succeeded', attempt_count = 1 WHERE id = $1",
            &[&jobs[2].delivery_id],
        )
        .await
        .expect("moving it on");

    let recorder = Recorder::start(pool.clone());
    let result = ok_result();
    let attempt = |_: usize| Attempt {
        id: Uuid::now_v7(),
        number: 1,
        result: &result,
        batch_id: None,
    };
    let (first, twice_a, twice_b, stale) = (attempt(0), attempt(1), attempt(1), attempt(2));
    let answers = futures_util::future::join_all([
        recorder.record(&jobs[0], &first, Decision::Succeeded),
        recorder.record(&jobs[1], &twice_a, Decision::Succeeded),
        recorder.record(&jobs[1], &twice_b, Decision::Succeeded),
        recorder.record(&jobs[2], &stale, Decision::Succeeded),
    ])
    .await;
    let answers: Vec<bool> = answers.into_iter().map(|a| a.expect("recorded")).collect();
    assert!(answers[0], "the first delivery's attempt");
    assert_eq!(
        answers[1] as u8 + answers[2] as u8,
        1,
        "the same attempt twice is recorded once: {answers:?}"
    );
    assert!(!answers[3], "a delivery that moved on records nothing");

    let client = stack.db.client().await;
    let attempts: i64 = client
        .query_one("SELECT count(*) FROM delivery_attempts", &[])
        .await
        .expect("counting")
        .get(0);
    assert_eq!(attempts, 2);
    let succeeded: i64 = client
        .query_one(
            "SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND succeeded_at IS NOT NULL",
            &[],
        )
        .await
        .expect("counting")
        .get(0);
    assert_eq!(
        succeeded, 2,
        "the first two deliveries moved on by the group"
    );
}

#[tokio::test]
async fn an_attempt_the_database_refuses_fails_alone() {
    let (stack, pool, jobs) = pending(2).await;
    let recorder = Recorder::start(pool);
    let good = ok_result();
    // A `text` column refuses a NUL: the group's statement fails.
    let bad = AttemptResult {
        excerpt: Some("a\0b".into()),
        ..ok_result()
    };
    let (good_attempt, bad_attempt) = (
        Attempt {
            id: Uuid::now_v7(),
            number: 1,
            result: &good,
            batch_id: None,
        },
        Attempt {
            id: Uuid::now_v7(),
            number: 1,
            result: &bad,
            batch_id: None,
        },
    );
    let (good_answer, bad_answer) = tokio::join!(
        recorder.record(&jobs[0], &good_attempt, Decision::Succeeded),
        recorder.record(&jobs[1], &bad_attempt, Decision::Succeeded),
    );
    assert!(good_answer.expect("recorded"));
    assert!(bad_answer.is_err(), "{bad_answer:?}");
    let client = stack.db.client().await;
    let statuses: Vec<String> = client
        .query(
            "SELECT status FROM deliveries WHERE id = ANY($1) ORDER BY id = $2 DESC",
            &[
                &vec![jobs[0].delivery_id, jobs[1].delivery_id],
                &jobs[0].delivery_id,
            ],
        )
        .await
        .expect("the deliveries")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(statuses, ["succeeded", "pending"]);
}

#[tokio::test]
async fn a_recorded_group_opens_only_the_partitions_of_its_deliveries_and_finds_each_by_key() {
    let (stack, _, jobs) = pending(1).await;
    let delivery = jobs[0].delivery_id;
    // Prepared on nearly empty tables, as a worker's first group is, and kept.
    let client = stack
        .worker_prepared("recorded", &warren_deliver::records::RECORD_GROUP)
        .await;
    let (min, max) = (Uuid::nil(), Uuid::max());
    // A group spanning every partition there is (a replay of an old event beside a fresh
    // one) and one spanning a moment: the plan is the same, only the partitions opened differ.
    for (first, last, removed) in [(min, max, false), (delivery, delivery, true)] {
        let explain = format!(
            "EXPLAIN EXECUTE recorded('{{{delivery}}}', '{{succeeded}}', '{{1}}', '{{NULL}}',
                 '{{200}}', '{{NULL}}', '{{{}}}', '{{2026-01-01T00:00:00Z}}', '{{3}}', '{{ok}}',
                 '{{NULL}}', '{first}', '{last}')",
            Uuid::now_v7()
        );
        let plan = explained(&**client, &explain).await;
        for scan in ["Seq Scan", "Bitmap", "Hash Join", "Merge Join"] {
            assert!(!plan.contains(scan), "no {scan}: {plan}");
        }
        // Every partition of `deliveries` read by the group's array of keys, never by the
        // range alone.
        let conditions: Vec<&str> = plan.lines().filter(|l| l.contains("Index Cond:")).collect();
        assert!(!conditions.is_empty(), "{plan}");
        for condition in conditions {
            assert!(condition.contains("(id = ANY ($1))"), "{condition}: {plan}");
        }
        assert_eq!(plan.contains("Subplans Removed"), removed, "{plan}");
    }
}
