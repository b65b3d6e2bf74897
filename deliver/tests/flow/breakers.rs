//! Circuit breakers moved in groups: concurrent attempts on one subscription each count, in
//! order, and a subscription that is gone is left alone.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;
use warren_deliver::{
    breakers::Breakers,
    circuit::{Signal, Thresholds},
};
use warren_shared::{db, model::CircuitState};

use crate::helpers::{no_extras, spawn_ingest};

const THRESHOLDS: Thresholds = Thresholds {
    failures: 30,
    recovery: Duration::from_secs(60),
    successes: 3,
    disable_after: 1_000,
};

#[tokio::test]
async fn concurrent_failures_each_count_once_and_open_the_circuit_at_the_threshold() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let subscription: Uuid = stack.subscribe(no_extras()).await["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a uuid");
    let pool = db::pool(&stack.db.settings(), db::Commits::Durable).expect("a pool");
    let breakers = Breakers::start(pool, THRESHOLDS);
    let now = OffsetDateTime::now_utc();
    let gone = Uuid::now_v7();
    let signals = (0..40).map(|n| {
        let target = if n == 7 { gone } else { subscription };
        breakers.apply(target, Signal::Failure, now)
    });
    let moved: Vec<_> = futures_util::future::join_all(signals)
        .await
        .into_iter()
        .map(|m| m.expect("applied"))
        .collect();

    assert!(
        moved[7].is_none(),
        "a subscription that is gone is left alone"
    );
    let mut seen: Vec<u32> = moved
        .iter()
        .flatten()
        .map(|(before, _)| before.failures)
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..39).collect::<Vec<u32>>(),
        "each failure stepped from the count the one before it left"
    );
    let opened = moved
        .iter()
        .flatten()
        .filter(|(before, after)| {
            before.state == CircuitState::Closed && after.breaker.state == CircuitState::Open
        })
        .count();
    assert_eq!(opened, 1, "the circuit opened once, at the 30th failure");
    let row = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT consecutive_failures, circuit_state FROM subscriptions WHERE id = $1",
            &[&subscription],
        )
        .await
        .expect("the subscription");
    assert_eq!(row.get::<_, i32>(0), 39);
    assert_eq!(row.get::<_, String>(1), "open");
}

#[tokio::test]
async fn a_database_that_cannot_answer_fails_every_signal_of_the_group() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let mut settings = stack.db.settings();
    settings.url = format!("{}_missing", settings.url);
    let breakers = Breakers::start(
        db::pool(&settings, db::Commits::Durable).expect("a pool"),
        THRESHOLDS,
    );
    let now = OffsetDateTime::now_utc();
    let signals = (0..3).map(|_| breakers.apply(Uuid::now_v7(), Signal::Failure, now));
    for answer in futures_util::future::join_all(signals).await {
        let error = answer.expect_err("no database to move breakers in");
        assert!(
            error.chain().contains("_missing"),
            "the error names what failed: {}",
            error.chain()
        );
    }
}
