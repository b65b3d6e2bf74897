//! One rate limit however many workers: a subscription's token bucket lives in PostgreSQL and
//! every worker leases from it, so N workers together hold it to its `rate_limit_per_sec`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use warren_deliver::budget;
use warren_shared::db;
use warren_testkit::broker::TEST_SCHEDULE;

use crate::helpers::{Stack, spawn_ingest};

/// The subscription's limit in the two-worker test, and how many events it is sent.
const RATE: u32 = 10;
const EVENTS: usize = 200;

/// How much closer together two deliveries may arrive than their tokens were taken: the
/// spread of the time from taking a token to the receiver reading the request.
const ARRIVAL_JITTER: Duration = Duration::from_millis(90);

/// The worst window of arrivals: its length, and how many arrived in it beyond
/// `rate` (the burst) plus `rate` per second of its length.
#[derive(Debug)]
struct Worst {
    window: Duration,
    count: usize,
    allowed: f64,
}

/// For every window starting and ending on an arrival (the tightest ones), the count against
/// `rate + rate · w`; returns the window with the least headroom.
fn worst_window(arrivals: &[Instant], rate: f64) -> Worst {
    let mut worst: Option<(f64, Worst)> = None;
    for (i, start) in arrivals.iter().enumerate() {
        for (j, end) in arrivals.iter().enumerate().skip(i) {
            let window = *end - *start;
            let count = j - i + 1;
            let allowed = rate + rate * window.as_secs_f64();
            let headroom = allowed - count as f64;
            if worst.as_ref().is_none_or(|(least, _)| headroom < *least) {
                worst = Some((
                    headroom,
                    Worst {
                        window,
                        count,
                        allowed,
                    },
                ));
            }
        }
    }
    worst.expect("arrivals").1
}

/// Deliveries this worker attempted successfully, from its `/metrics`.
async fn succeeded_by(port: u16) -> u64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("the metrics answer")
        .text()
        .await
        .expect("the metrics text");
    text.lines()
        .find(|line| line.starts_with("warren_deliveries_total{outcome=\"succeeded\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

async fn start_workers(stack: &mut Stack, n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    for _ in 0..n {
        let settings = stack.worker_settings();
        ports.push(stack.start_worker(settings).await);
    }
    ports
}

#[tokio::test]
async fn two_workers_together_hold_a_subscription_to_its_rate_as_one_does() {
    let mut stack = spawn_ingest(TEST_SCHEDULE).await;
    let ports = start_workers(&mut stack, 2).await;
    stack.subscribe(json!({"rate_limit_per_sec": RATE})).await;
    // Sent all at once, so the pace the receiver sees is Warren's, not the test's.
    let sends = (0..EVENTS).map(|n| stack.send_owned(format!("{{\"n\": {n}}}")));
    futures_util::future::join_all(sends).await;
    let received = stack
        .receiver
        .wait_for(EVENTS, Duration::from_secs(60))
        .await;
    let mut arrivals: Vec<Instant> = received.iter().map(|r| r.at).collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), EVENTS, "every delivery arrived once");

    let by_worker = [succeeded_by(ports[0]).await, succeeded_by(ports[1]).await];
    assert!(
        by_worker.iter().all(|n| *n > 0),
        "both workers delivered: {by_worker:?}"
    );
    let span = *arrivals.last().expect("arrivals") - arrivals[0];
    // The first second's burst, then the rate.
    let overall = (EVENTS as f64 - f64::from(RATE)) / span.as_secs_f64();
    let worst = worst_window(&arrivals, f64::from(RATE));
    eprintln!(
        "two workers {by_worker:?}: {EVENTS} arrivals over {span:?}, {overall:.2}/s after the \
         burst; worst window {worst:?}"
    );
    // The receiver sees arrivals, not admissions: a token's delivery reaches it some
    // milliseconds after the token was taken (the lease's round trip, then the request), by
    // more or less (tens of milliseconds on a loaded CI machine: 36 ms seen), so a window
    // between two arrivals may be that much shorter than the one between their tokens.
    // Allowed: 90 ms of that jitter, 0.9 of a token at 10/s — never a whole token more.
    let jitter = f64::from(RATE) * ARRIVAL_JITTER.as_secs_f64();
    assert!(
        worst.count as f64 <= worst.allowed + jitter,
        "{} arrivals in {:?}, more than {RATE} + {RATE}/s allows",
        worst.count,
        worst.window
    );
    assert!(
        (f64::from(RATE) * 0.85..=f64::from(RATE) * 1.05).contains(&overall),
        "about {RATE}/s overall: {overall:.2}/s"
    );
}

/// A subscription's id, and a pool on the stack's database for leasing from its bucket.
async fn budgeted(stack: &Stack, rate: u32) -> (Uuid, deadpool_postgres::Pool) {
    let sub: Value = stack.subscribe(json!({"rate_limit_per_sec": rate})).await;
    let id = sub["id"].as_str().expect("an id").parse().expect("a uuid");
    let pool = db::pool(&stack.db.settings(), db::Commits::Relaxed).expect("a pool");
    (id, pool)
}

#[tokio::test]
async fn leases_from_many_workers_at_once_never_take_more_than_the_bucket_holds() {
    let stack = spawn_ingest(TEST_SCHEDULE).await;
    let (sub, pool) = budgeted(&stack, 100).await;
    let other = db::pool(&stack.db.settings(), db::Commits::Relaxed).expect("a pool");
    let started = Instant::now();
    let leases = (0..40).map(|n| {
        let pool = if n % 2 == 0 { &pool } else { &other };
        budget::lease(pool, sub, 100, 10)
    });
    let granted: u32 = futures_util::future::try_join_all(leases)
        .await
        .expect("every lease answered")
        .iter()
        .map(|lease| lease.granted)
        .sum();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(granted >= 100, "the full burst is there: {granted}");
    assert!(
        f64::from(granted) <= 100.0 + 100.0 * elapsed,
        "{granted} granted in {elapsed:.3} s: more than the burst and the refill"
    );
    let empty = budget::lease(&pool, sub, 100, 10).await.expect("a lease");
    let wait = empty.empty_for.expect("the bucket is spent");
    assert!(
        wait <= Duration::from_millis(10),
        "a token per 10 ms: {wait:?}"
    );
}

#[tokio::test]
async fn a_throttle_halves_the_rate_every_worker_leases_at() {
    let stack = spawn_ingest(TEST_SCHEDULE).await;
    let (sub, pool) = budgeted(&stack, 10).await;
    // The other worker's pool is connected first, so that nothing slow (a TLS handshake)
    // comes between the leases: the waits below assume they follow within 100 ms.
    let other = db::pool(&stack.db.settings(), db::Commits::Relaxed).expect("a pool");
    drop(other.get().await.expect("connected"));
    let first = budget::lease(&pool, sub, 10, 10).await.expect("a lease");
    assert_eq!(first.granted, 10, "a second's burst");
    budget::throttle(&pool, sub).await.expect("throttled");
    let after = budget::lease(&other, sub, 10, 10).await.expect("a lease");
    assert_eq!(after.granted, 0);
    let wait = after.empty_for.expect("empty").as_secs_f64();
    // At the full 10/s no wait exceeds 100 ms; at half it is up to 200 ms.
    assert!(
        (0.1..=0.2).contains(&wait),
        "half of 10/s is a token per 200 ms: {wait}"
    );
    budget::throttle(&other, sub)
        .await
        .expect("throttled again");
    let wait = budget::lease(&pool, sub, 10, 10)
        .await
        .expect("a lease")
        .empty_for
        .expect("empty")
        .as_secs_f64();
    // No wait exceeds 200 ms at half the rate; at a quarter it is up to 400 ms.
    assert!(wait > 0.2, "a quarter of 10/s: {wait}");
}

#[tokio::test]
async fn a_lease_for_a_subscription_that_does_not_exist_is_an_error_and_creates_nothing() {
    let stack = spawn_ingest(TEST_SCHEDULE).await;
    let pool = db::pool(&stack.db.settings(), db::Commits::Relaxed).expect("a pool");
    let error = budget::lease(&pool, Uuid::now_v7(), 10, 1)
        .await
        .expect_err("no such subscription");
    let error = error.chain();
    assert!(
        error.contains("rate_budgets_subscription_id_fkey"),
        "{error}"
    );
    let client = stack.db.client().await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM rate_budgets", &[])
        .await
        .expect("counted")
        .get(0);
    assert_eq!(rows, 0);
}
