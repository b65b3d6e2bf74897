//! Time partitions of the history tables: created ahead by the service, dropped whole by
//! retention while what is in flight or held stays, a safety net for a missing partition,
//! and the migration of a database that holds rows.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::partitions;
use warren_testkit::{database::TestDatabase, eventually};

use crate::helpers::{ingest_with_key, spawn_app_with};

async fn scalar(client: &tokio_postgres::Client, sql: &str, id: Uuid) -> i64 {
    client.query_one(sql, &[&id]).await.expect("a count").get(0)
}

#[tokio::test]
async fn partitions_are_created_ahead_at_start_up_and_concurrent_ensures_agree() {
    let app = spawn_app_with(|s| s.database.partition_secs = 10).await;
    let mut client = app.db.client().await;
    let now = OffsetDateTime::now_utc();
    for (table, _) in partitions::TABLES {
        let ranges = partitions::list(&client, table).await.expect("listed");
        let ahead = partitions::first_id_at(now + time::Duration::seconds(25));
        assert!(
            ranges.iter().any(|p| p.lower <= ahead && ahead < p.upper),
            "{table} has a partition 25 s ahead: {ranges:?}"
        );
        assert!(
            ranges
                .iter()
                .any(|p| p.name.starts_with(&format!("{table}_p")))
        );
    }

    // Two processes making the same windows at once: both succeed, each window made once.
    let mut other = app.db.client().await;
    let later = now + time::Duration::minutes(10);
    let width = Duration::from_secs(10);
    let (a, b) = tokio::join!(
        partitions::ensure_ahead(&mut client, width, later, 3),
        partitions::ensure_ahead(&mut other, width, later, 3),
    );
    let (a, b) = (a.expect("the first ensure"), b.expect("the second ensure"));
    assert_eq!(a.len() + b.len(), 4, "each window made once: {a:?} {b:?}");
}

#[tokio::test]
async fn the_part_of_a_window_a_dropped_legacy_partition_held_is_made_when_asked_for() {
    // Migrated mid-window: the window's partitions start at the legacy bound. Once the
    // legacy partitions are gone (retention dropped them), the window's first part is made.
    let db = TestDatabase::create().await;
    let mut client = db.client().await;
    let width = Duration::from_secs(86_400);
    let now = OffsetDateTime::now_utc();
    partitions::ensure_ahead(&mut client, width, now, 0)
        .await
        .expect("the current window");
    for (table, _) in partitions::TABLES {
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} DETACH PARTITION {table}_legacy; DROP TABLE {table}_legacy"
            ))
            .await
            .expect("the legacy partition dropped");
    }
    let start = now.replace_time(time::Time::MIDNIGHT);
    let created = partitions::ensure_ahead(&mut client, width, now, 0)
        .await
        .expect("the window's first part is made, not an error");
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(created[0].starts_with(&format!("events_p{}_", start.unix_timestamp())));
    let again = partitions::ensure_ahead(&mut client, width, now, 0)
        .await
        .expect("nothing left to make");
    assert!(again.is_empty(), "{again:?}");

    let early = partitions::first_id_at(start + time::Duration::milliseconds(1));
    assert_eq!(event_lands_in(&client, early).await, created[0]);
}

#[tokio::test]
async fn a_row_whose_partition_is_missing_lands_in_the_kept_partition() {
    // Migrated, but no service ever ran: no range partition covers now.
    let db = TestDatabase::create().await;
    let client = db.client().await;
    assert_eq!(event_lands_in(&client, Uuid::now_v7()).await, "events_kept");
}

/// Stores an event of the id `event` (and a user owning it) as a bare insert; returns the
/// partition it landed in.
async fn event_lands_in(client: &tokio_postgres::Client, event: Uuid) -> String {
    let user = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')",
            &[&user, &format!("{user}@example.com")],
        )
        .await
        .expect("a user");
    client
        .query_one(
            "INSERT INTO events (id, user_id, event_type, raw_body, idempotency_scope,
                 body_sha256, initial_deliveries)
             VALUES ($1, $2, 't', 'x', $2, 'x', 0) RETURNING tableoid::regclass::text",
            &[&event, &user],
        )
        .await
        .expect("the insert succeeds")
        .get(0)
}

#[tokio::test]
async fn retention_drops_whole_partitions_and_keeps_what_is_in_flight_or_held() {
    let app = spawn_app_with(|s| {
        s.database.partition_secs = 1;
        s.retention_secs = 3;
        s.retention_interval_secs = 1;
    })
    .await;
    let (user, url) = app.source_with_subscriber().await;
    let client = app.db.client().await;

    let (_, finished) = ingest_with_key(&app, &url, "finished", r#"{"n": 1}"#).await;
    let (_, pending) = ingest_with_key(&app, &url, "pending", r#"{"n": 2}"#).await;
    let (_, held) = ingest_with_key(&app, &url, "held", r#"{"n": 3}"#).await;
    client
        .execute(
            "UPDATE deliveries SET status = 'succeeded', succeeded_at = now() WHERE event_id = $1",
            &[&finished],
        )
        .await
        .expect("finishing one");
    client
        .execute(
            "UPDATE deliveries SET status = 'held' WHERE event_id = $1",
            &[&held],
        )
        .await
        .expect("holding one");
    for event in [finished, pending] {
        client
            .execute(
                "INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id,
                     attempt, started_at, duration_ms, status_code)
                 SELECT $2, user_id, id, subscription_id, 1, now(), 5, 500
                 FROM deliveries WHERE event_id = $1",
                &[&event, &Uuid::now_v7()],
            )
            .await
            .expect("an attempt");
    }
    // A replay of the finished event, finished too, in a later partition.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let replay = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO deliveries (id, user_id, event_id, subscription_id, status)
             SELECT $2, user_id, event_id, subscription_id, 'succeeded'
             FROM deliveries WHERE event_id = $1",
            &[&finished, &replay],
        )
        .await
        .expect("a replayed copy");

    let place = "SELECT count(*) FROM events WHERE id = $1 AND tableoid = 'events_kept'::regclass";
    eventually(
        "the three events' partitions to be dropped",
        Duration::from_secs(30),
        || async {
            let finished_gone = scalar(
                &client,
                "SELECT count(*) FROM events WHERE id = $1",
                finished,
            )
            .await
                == 0;
            let pending_kept = scalar(&client, place, pending).await == 1;
            let held_kept = scalar(&client, place, held).await == 1;
            (finished_gone && pending_kept && held_kept).then_some(())
        },
    )
    .await;
    let of_event = "SELECT count(*) FROM deliveries WHERE event_id = $1";
    assert_eq!(
        scalar(&client, of_event, finished).await,
        0,
        "its deliveries went, the replay's too"
    );
    for kept in [pending, held] {
        let place: String = client
            .query_one(
                "SELECT tableoid::regclass::text FROM events WHERE id = $1",
                &[&kept],
            )
            .await
            .expect("a delivery in flight or held keeps its event")
            .get(0);
        assert_eq!(place, "events_kept");
        assert_eq!(scalar(&client, of_event, kept).await, 1, "and its delivery");
        let read = user.get(&format!("/api/v1/events/{kept}")).await;
        assert_eq!(read.status().as_u16(), 200, "still visible through the API");
    }
    let attempts = "SELECT count(*) FROM delivery_attempts a JOIN deliveries d
                    ON d.id = a.delivery_id WHERE d.event_id = $1";
    assert_eq!(
        scalar(&client, attempts, pending).await,
        1,
        "the pending one's attempt stays"
    );
    assert_eq!(
        app.count("delivery_attempts").await,
        1,
        "the finished one's went"
    );

    // The dropped event's key is free again; the kept ones' are not.
    let (status, again) = ingest_with_key(&app, &url, "finished", r#"{"n": "other"}"#).await;
    assert_eq!(status, 202);
    assert_ne!(again, finished);
    let (_, same) = ingest_with_key(&app, &url, "pending", r#"{"n": 2}"#).await;
    assert_eq!(same, pending, "a kept event's key still answers with it");

    // Counted once the detached tables' files are gone too, a moment after the rows are.
    eventually(
        "warren_retention_partitions_dropped_total to count the drop",
        Duration::from_secs(10),
        || async {
            let dropped = app
                .metric("warren_retention_partitions_dropped_total")
                .await
                .expect("the counter");
            (dropped >= 1.0).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn migrating_a_database_with_rows_keeps_every_row() {
    // V17: the last schema before partitions.
    let db = TestDatabase::create_up_to("", Some(17)).await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO users (id, email, password_hash)
                 VALUES ('00000000-0000-7000-8000-000000000001', 'a@example.com', 'x');
             INSERT INTO subscriptions (id, user_id, name, target_url, signing_secret)
                 VALUES ('00000000-0000-7000-8000-000000000002',
                         '00000000-0000-7000-8000-000000000001', 's', 'http://x', 's');
             INSERT INTO events (id, user_id, event_type, raw_body, payload, idempotency_scope,
                     idempotency_key, body_sha256, initial_deliveries)
                 SELECT warren_uuid_v7(), '00000000-0000-7000-8000-000000000001', 't', 'x',
                        jsonb_build_object('n', n), '00000000-0000-7000-8000-000000000001',
                        CASE WHEN n % 2 = 0 THEN 'k' || n END, 'x', 1
                 FROM generate_series(1, 200) n;
             INSERT INTO deliveries (id, user_id, event_id, subscription_id, status)
                 SELECT warren_uuid_v7(), user_id, id, '00000000-0000-7000-8000-000000000002',
                        'succeeded' FROM events;
             INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id, attempt,
                     started_at, duration_ms)
                 SELECT warren_uuid_v7(), user_id, id, subscription_id, 1, now(), 5
                 FROM deliveries;",
        )
        .await
        .expect("rows in the old schema");
    warren_shared::db::migrate(&db.settings())
        .await
        .expect("migrating the rest");

    for table in ["events", "deliveries", "delivery_attempts"] {
        let rows = client
            .query(
                &format!("SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1"),
                &[],
            )
            .await
            .expect("counted");
        let place: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(place, vec![(format!("{table}_legacy"), 200)], "{table}");
    }
    let keys: i64 = client
        .query_one("SELECT count(*) FROM event_idempotency_keys", &[])
        .await
        .expect("counted")
        .get(0);
    assert_eq!(keys, 100, "every key moved to its table");
    // Queryable through the parents, by their indexes, and the cascades still hold.
    let found: i64 = client
        .query_one(
            "SELECT count(*) FROM events e JOIN deliveries d ON d.event_id = e.id
             JOIN delivery_attempts a ON a.delivery_id = d.id WHERE e.payload @> '{\"n\": 7}'",
            &[],
        )
        .await
        .expect("joined")
        .get(0);
    assert_eq!(found, 1);
    client
        .execute("DELETE FROM events WHERE payload @> '{\"n\": 8}'", &[])
        .await
        .expect("deleted");
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM delivery_attempts)
                  + (SELECT count(*) FROM event_idempotency_keys)",
            &[],
        )
        .await
        .expect("counted")
        .get(0);
    assert_eq!(
        left,
        199 + 199 + 99,
        "the event took its delivery, attempt and key"
    );
}

/// Makes one-second windows (the current and the next) and returns the first: past after
/// two seconds.
async fn second_windows(client: &mut tokio_postgres::Client) -> partitions::Partition {
    partitions::ensure_ahead(client, Duration::from_secs(1), OffsetDateTime::now_utc(), 1)
        .await
        .expect("windows");
    partitions::list(&*client, "events")
        .await
        .expect("listed")
        .into_iter()
        .find(|p| p.name.starts_with("events_p"))
        .expect("a window")
}

/// A drop never queues writers for long: while another transaction writes `users` (the
/// table the detached partitions' foreign keys point at, on which their drop needs an
/// exclusive lock), the window is left for the next call, with nothing lost; once the
/// writer commits, the next call drops it.
#[tokio::test]
async fn a_drop_that_cannot_take_its_locks_at_once_waits_for_the_next_call() {
    let db = TestDatabase::create().await;
    let mut client = db.client().await;
    let window = second_windows(&mut client).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    let writer = db.client().await;
    writer
        .batch_execute("BEGIN; LOCK TABLE users IN ROW EXCLUSIVE MODE")
        .await
        .expect("a writer");
    let started = std::time::Instant::now();
    let dropped = partitions::drop_older_than(&mut client, window.upper)
        .await
        .expect("a busy drop is no error");
    assert!(dropped.is_empty(), "{dropped:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let count = format!(
        "SELECT count(*) FROM pg_class WHERE relname = '{}'",
        window.name
    );
    let present = client
        .query_one(&count, &[])
        .await
        .expect("count")
        .get::<_, i64>(0);
    assert_eq!(present, 1, "still there");

    writer.batch_execute("COMMIT").await.expect("committed");
    let dropped = partitions::drop_older_than(&mut client, window.upper)
        .await
        .expect("dropped");
    assert!(dropped.iter().any(|d| d.name == window.name), "{dropped:?}");
    let present = client
        .query_one(&count, &[])
        .await
        .expect("count")
        .get::<_, i64>(0);
    assert_eq!(present, 0, "gone");
}

/// A drop never holds one table while it waits for another: while a writer holds
/// `delivery_attempts`, readers of `events` go on unhindered (a waiting lock would queue
/// them), and the drop goes through once the writer commits.
#[tokio::test]
async fn a_drop_takes_its_three_tables_at_once_or_not_at_all() {
    let db = TestDatabase::create().await;
    let mut client = db.client().await;
    let window = second_windows(&mut client).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let writer = db.client().await;
    writer
        .batch_execute("BEGIN; LOCK TABLE delivery_attempts IN ROW EXCLUSIVE MODE")
        .await
        .expect("a writer");
    let reader = db.client().await;
    reader
        .batch_execute("SET lock_timeout = '10ms'")
        .await
        .expect("set");

    let upper = window.upper;
    let dropping =
        tokio::spawn(async move { partitions::drop_older_than(&mut client, upper).await });
    // The drop tries without queueing for longer than this (20 tries, 5 ms apart).
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(80) {
        reader
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .expect("events readable: the drop holds no table while it waits");
    }
    let dropped = dropping
        .await
        .expect("joined")
        .expect("a busy drop is no error");
    assert!(dropped.is_empty(), "{dropped:?}");

    writer.batch_execute("COMMIT").await.expect("committed");
    let mut client = db.client().await;
    let dropped = partitions::drop_older_than(&mut client, window.upper)
        .await
        .expect("dropped");
    assert!(dropped.iter().any(|d| d.name == window.name), "{dropped:?}");
}

/// Dropping a detached partition removes its foreign keys' triggers from `users` and
/// `sources`, which takes them exclusively: while a transaction reads `sources`, the drop
/// waits without queueing anyone (other readers go on), and goes through once it ends.
#[tokio::test]
async fn the_drop_of_a_detached_partition_never_queues_readers_of_the_tables_it_points_at() {
    let db = TestDatabase::create().await;
    let mut client = db.client().await;
    let window = second_windows(&mut client).await;
    client
        .batch_execute(&format!(
            "ALTER TABLE events DETACH PARTITION {}",
            window.name
        ))
        .await
        .expect("detached, as a drop cut short leaves it");
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM sources")
        .await
        .expect("a long read of sources");
    let reader = db.client().await;
    reader
        .batch_execute("SET lock_timeout = '10ms'")
        .await
        .expect("set");

    let dropping =
        tokio::spawn(async move { partitions::drop_older_than(&mut client, Uuid::nil()).await });
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(80) {
        reader
            .query_one("SELECT count(*) FROM sources", &[])
            .await
            .expect("sources readable: the drop holds nothing while it waits");
    }
    dropping
        .await
        .expect("joined")
        .expect("a busy drop is no error");
    let count = format!(
        "SELECT count(*) FROM pg_class WHERE relname = '{}'",
        window.name
    );
    let present = || {
        let (reader, count) = (&reader, &count);
        async move {
            reader
                .query_one(count, &[])
                .await
                .expect("count")
                .get::<_, i64>(0)
        }
    };
    assert_eq!(present().await, 1, "still there");

    holder.batch_execute("COMMIT").await.expect("committed");
    let mut client = db.client().await;
    partitions::drop_older_than(&mut client, Uuid::nil())
        .await
        .expect("dropped");
    assert_eq!(present().await, 0, "gone");
}

/// A detached partition's files are removed by a `DROP` that locks nothing but the
/// detached tables: once its foreign keys are gone (the first step of dropping it, the one
/// that takes `users`, `sources` and `subscriptions`), it goes even while a transaction
/// writes all three.
#[tokio::test]
async fn a_detached_partition_without_its_keys_goes_while_the_tables_it_pointed_at_are_written() {
    let db = TestDatabase::create().await;
    let mut client = db.client().await;
    let window = second_windows(&mut client).await;
    client
        .batch_execute(&format!(
            "ALTER TABLE events DETACH PARTITION {0};
             ALTER TABLE {0} DROP CONSTRAINT events_user_id_fkey,
                 DROP CONSTRAINT events_source_id_fkey",
            window.name
        ))
        .await
        .expect("detached without its keys, as a drop cut short between its steps leaves it");
    let writer = db.client().await;
    writer
        .batch_execute("BEGIN; LOCK TABLE users, sources, subscriptions IN ROW EXCLUSIVE MODE")
        .await
        .expect("a writer");

    partitions::drop_older_than(&mut client, Uuid::nil())
        .await
        .expect("dropped");
    let present: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = $1",
            &[&window.name],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(present, 0, "gone while the writer still holds its tables");
    writer.batch_execute("COMMIT").await.expect("committed");
}

#[tokio::test]
async fn a_partition_that_changed_by_a_tenth_is_analysed_once_until_it_changes_again() {
    let app = spawn_app_with(|_| {}).await;
    let (_, url) = app.source_with_subscriber().await;
    let (_, first) = ingest_with_key(&app, &url, "first", r#"{"n": 1}"#).await;
    let client = app.db.client().await;
    // Many more events of today.
    copies_of(&client, first, 600).await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        .await
        .expect("pgstattuple");
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .expect("counted");
    let today: String = client
        .query_one(
            "SELECT tableoid::regclass::text FROM events WHERE id = $1",
            &[&first],
        )
        .await
        .expect("its partition")
        .get(0);

    assert!(
        pending_pages(&client, &today).await > 0,
        "new entries wait in the GIN index's pending list"
    );
    let analysed = eventually(
        "today's partition analysed",
        Duration::from_secs(10),
        || {
            let client = &client;
            let today = &today;
            async move {
                let analysed = analyze_changed(client).await;
                analysed
                    .iter()
                    .any(|name| name.ends_with(today.as_str()))
                    .then_some(analysed)
            }
        },
    )
    .await;
    assert!(analysed.len() <= 3, "a few per call: {analysed:?}");
    let pending = pending_pages(&client, &today).await;
    assert_eq!(pending, 0, "its GIN pending list merged");
    let stats: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE tablename = $1 AND attname = 'payload'",
            &[&today],
        )
        .await
        .expect("statistics")
        .get(0);
    assert_eq!(stats, 1, "the planner has statistics of today's payloads");
    let again = analyze_changed(&client).await;
    assert!(
        !again.iter().any(|name| name.ends_with(today.as_str())),
        "unchanged since: not analysed again ({again:?})"
    );
}

async fn analyze_changed(client: &tokio_postgres::Client) -> Vec<String> {
    warren_shared::statistics::analyze_changed(client)
        .await
        .expect("analysed")
}

/// Pages of the GIN pending list of a partition's payload index.
async fn pending_pages(client: &tokio_postgres::Client, partition: &str) -> i64 {
    client
        .query_one(
            "SELECT (pgstatginindex(format('%s_payload_idx', $1::text)::regclass))
                 .pending_pages::bigint",
            &[&partition],
        )
        .await
        .expect("the GIN index's pending list")
        .get(0)
}

#[tokio::test]
async fn the_changed_partitions_are_analysed_even_while_a_window_ahead_cannot_be_created() {
    let app = spawn_app_with(|s| s.database.partition_secs = 2).await;
    let (_, url) = app.source_with_subscriber().await;
    let (_, first) = ingest_with_key(&app, &url, "first", r#"{"n": 1}"#).await;
    let mut client = app.db.client().await;
    // Tables in the way of every window not made yet, for a minute on: from the next tick
    // that needs a new window, each tick's creation of the partitions ahead fails.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for start in ((now / 2) * 2..now + 60).step_by(2) {
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS events_p{start} (n int)"
            ))
            .await
            .expect("a table in the way");
    }
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let ensured = partitions::ensure_ahead(
        &mut client,
        Duration::from_secs(2),
        OffsetDateTime::now_utc(),
        partitions::AHEAD,
    )
    .await;
    assert!(
        ensured.is_err(),
        "the windows ahead cannot be made: {ensured:?}"
    );
    // Autovacuum may not analyse them first: it visits every database in turn, a test run
    // makes many, and its analysis would leave the tick nothing to do.
    for row in client
        .query(partitions::LIST, &[&"events"])
        .await
        .expect("the partitions")
    {
        let name: String = row.get(0);
        client
            .batch_execute(&format!(
                "ALTER TABLE {name} SET (autovacuum_enabled = false)"
            ))
            .await
            .expect("autovacuum off");
    }
    // Many more events of now.
    let ids = copies_of(&client, first, 600).await;
    let landed: String = client
        .query_one(
            "SELECT tableoid::regclass::text FROM events WHERE id = $1",
            &[&ids[0]],
        )
        .await
        .expect("their partition")
        .get(0);
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .expect("counted");
    // Ingest's own maintenance tick analyses it (the test never does).
    eventually(
        "the partition the events landed in analysed by the maintenance tick",
        Duration::from_secs(20),
        || {
            let (client, landed) = (&client, &landed);
            async move {
                let analysed: Option<time::OffsetDateTime> = client
                    .query_one(
                        "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = $1",
                        &[landed],
                    )
                    .await
                    .expect("its statistics")
                    .get(0);
                analysed.map(|_| ())
            }
        },
    )
    .await;
}

/// `n` events of now copied from the event `of` (its source, body and headers), as a busy
/// source sends them; their ids.
async fn copies_of(client: &tokio_postgres::Client, of: Uuid, n: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    client
        .execute(
            "INSERT INTO events (id, user_id, source_id, event_type, content_type, raw_body,
                 payload, headers, idempotency_scope, body_sha256, initial_deliveries)
             SELECT x, user_id, source_id, event_type, content_type, raw_body, payload,
                 headers, idempotency_scope, body_sha256, 0
             FROM events, unnest($1::uuid[]) x WHERE events.id = $2",
            &[&ids, &of],
        )
        .await
        .expect("events of now");
    ids
}
