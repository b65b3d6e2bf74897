//! Deliveries loaded in groups: every handler asking at once gets its own delivery (or
//! none, when it is gone), and a database that cannot answer fails each of them.

use uuid::Uuid;
use warren_deliver::store::Loader;
use warren_shared::db;
use warren_testkit::database::explained;

use crate::helpers::{no_extras, spawn_ingest};

#[tokio::test]
async fn loads_asked_together_are_each_answered_with_their_own_delivery() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    stack.subscribe(no_extras()).await;
    let mut deliveries = Vec::new();
    for n in 0..3 {
        let event = stack.send(&format!(r#"{{"n": {n}}}"#)).await;
        let delivery: Uuid = stack.delivery_of(&event).await.parse().expect("a uuid");
        deliveries.push((delivery, event));
    }
    let pool = db::pool(&stack.db.settings(), db::Commits::Durable).expect("a pool");
    let loader = Loader::start(pool);
    let gone = Uuid::now_v7();
    // The second delivery twice, as a redelivered envelope beside its original would ask.
    let asked = [
        deliveries[0].0,
        deliveries[1].0,
        gone,
        deliveries[1].0,
        deliveries[2].0,
    ];
    let event_of = |id: &Uuid| {
        deliveries
            .iter()
            .find(|(d, _)| d == id)
            .map_or(Uuid::now_v7(), |(_, e)| e.parse().expect("a uuid"))
    };
    let answers =
        futures_util::future::join_all(asked.iter().map(|id| loader.load(*id, event_of(id)))).await;
    let answers: Vec<_> = answers
        .into_iter()
        .map(|answer| answer.expect("loaded"))
        .collect();
    for (id, answer) in asked.iter().zip(&answers) {
        match answer {
            Some(job) => assert_eq!(job.delivery_id, *id),
            None => assert_eq!(*id, gone, "only the unknown delivery is missing"),
        }
    }
    assert!(answers[2].is_none(), "a delivery that does not exist");
    let job = answers[4].as_ref().expect("the third delivery");
    assert_eq!(job.event_id.to_string(), deliveries[2].1);
    assert_eq!(&job.event.raw_body[..], br#"{"n": 2}"#);
    assert_eq!(job.attempt_count, 0);
}

#[tokio::test]
async fn a_load_naming_another_event_still_finds_its_delivery_and_its_own_event() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    stack.subscribe(no_extras()).await;
    let event = stack.send(r#"{"n": 1}"#).await;
    let delivery: Uuid = stack.delivery_of(&event).await.parse().expect("a uuid");
    let other = stack.send(r#"{"n": 2}"#).await;
    let other_delivery: Uuid = stack.delivery_of(&other).await.parse().expect("a uuid");
    let pool = db::pool(&stack.db.settings(), db::Commits::Durable).expect("a pool");
    let loader = Loader::start(pool);
    // Alone, and in a group beside a delivery asked for rightly.
    let wrong = Uuid::now_v7();
    let alone = loader.load(delivery, wrong).await.expect("loaded");
    let (grouped, beside) = tokio::join!(
        loader.load(delivery, wrong),
        loader.load(other_delivery, other.parse().expect("a uuid")),
    );
    for job in [alone, grouped.expect("loaded")] {
        let job = job.expect("found by its delivery, not lost as gone");
        assert_eq!(job.event_id.to_string(), event);
        assert_eq!(&job.event.raw_body[..], br#"{"n": 1}"#);
    }
    let beside = beside.expect("loaded").expect("the other delivery");
    assert_eq!(beside.event_id.to_string(), other);
}

#[tokio::test]
async fn a_grouped_load_opens_only_the_partitions_of_its_rows_and_finds_each_by_key() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    stack.subscribe(no_extras()).await;
    let event: Uuid = stack.send("{}").await.parse().expect("a uuid");
    let delivery = stack.delivery_of(&event.to_string()).await;
    // Prepared on nearly empty tables, as a worker's first load is, and kept.
    let client = stack
        .worker_prepared("grouped", &warren_deliver::store::LOAD_GROUP)
        .await;
    // A group spanning every partition there is (an old event replayed beside a fresh one)
    // and one spanning a moment: the plan is the same, only the partitions opened differ.
    let min = Uuid::nil();
    let max = Uuid::max();
    for (bounds, removed) in [
        (
            format!("'{min}', '{max}', '{{{event}}}', '{min}', '{max}'"),
            false,
        ),
        (
            format!("'{delivery}', '{delivery}', '{{{event}}}', '{event}', '{event}'"),
            true,
        ),
    ] {
        let explain = format!("EXPLAIN EXECUTE grouped('{{{delivery}}}', {bounds})");
        let plan = explained(&**client, &explain).await;
        for scan in ["Seq Scan", "Bitmap", "Hash Join", "Merge Join"] {
            assert!(!plan.contains(scan), "no {scan}: {plan}");
        }
        // Deliveries and events by their arrays of keys, the subscription by its key:
        // never a scan of the range alone.
        for condition in plan.lines().filter(|l| l.contains("Index Cond:")) {
            let by_key = condition.contains("(id = ANY ($1))")
                || condition.contains("(id = ANY ($4))")
                || condition.ends_with("(id = d.subscription_id)");
            assert!(by_key, "{condition}: {plan}");
        }
        assert!(plan.contains("(id = ANY ($4))"), "{plan}");
        assert_eq!(plan.contains("Subplans Removed"), removed, "{plan}");
    }
}

#[tokio::test]
async fn a_database_that_cannot_answer_fails_every_load_of_the_group() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let mut settings = stack.db.settings();
    settings.url = format!("{}_missing", settings.url);
    let loader = Loader::start(db::pool(&settings, db::Commits::Durable).expect("a pool"));
    let answers =
        futures_util::future::join_all((0..3).map(|_| loader.load(Uuid::now_v7(), Uuid::now_v7())))
            .await;
    for answer in answers {
        let error = answer.expect_err("no database to load from");
        assert!(
            error.chain().contains("_missing"),
            "the error names what failed: {}",
            error.chain()
        );
    }
}

#[tokio::test]
async fn the_workers_sessions_find_rows_by_index_even_when_planned_on_empty_tables() {
    let stack = spawn_ingest(warren_testkit::broker::TEST_SCHEDULE).await;
    let plan_of = |plans| {
        let settings = stack.db.settings();
        async move {
            let pool = db::pool_with(&settings, db::Commits::Relaxed, plans).expect("a pool");
            let client = pool.get().await.expect("a connection");
            // The shape of the worker's grouped load, prepared while nothing is stored, and
            // its plan as every later execution on this connection would use it.
            client
                .batch_execute(
                    "SET plan_cache_mode = force_generic_plan;
                     PREPARE grouped(uuid[]) AS
                     SELECT d.id, e.raw_body, s.target_url FROM deliveries d
                     JOIN events e ON e.id = d.event_id
                     JOIN subscriptions s ON s.id = d.subscription_id
                     WHERE d.id = ANY($1)",
                )
                .await
                .expect("prepared");
            explained(&**client, "EXPLAIN EXECUTE grouped('{}')").await
        }
    };
    let planned = plan_of(db::Plans::KeyLookups).await;
    assert!(!planned.contains("Seq Scan"), "{planned}");
    assert!(!planned.contains("Gather"), "{planned}");
    // Joined by key: a hash or merge join reads every stored event to find a few.
    assert!(!planned.contains("Hash Join"), "{planned}");
    assert!(!planned.contains("Merge Join"), "{planned}");
    assert!(
        planned.contains("Index Cond: (id = d.event_id)"),
        "{planned}"
    );
    let pool = db::pool_with(
        &stack.db.settings(),
        db::Commits::Relaxed,
        db::Plans::KeyLookups,
    )
    .expect("a pool");
    let workers: String = pool
        .get()
        .await
        .expect("a connection")
        .query_one("SHOW max_parallel_workers_per_gather", &[])
        .await
        .expect("shown")
        .get(0);
    assert_eq!(
        workers, "0",
        "a key lookup never waits for parallel workers"
    );
    assert!(planned.contains("deliveries_pkey"), "{planned}");
    let by_default = plan_of(db::Plans::Default).await;
    assert!(
        by_default.contains("Seq Scan"),
        "PostgreSQL's defaults scan the nearly empty tables instead: {by_default}"
    );
}
