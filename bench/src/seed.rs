//! Rows written straight into the bench database with `COPY`, shaped as Warren writes them
//! (see `migrations/`): the deliveries the `backlog` scenario parks, those the `release`
//! scenario holds, and the attempt history the `stats` scenario reads. Bodies are small here: these rows stand for history, and
//! what they cost is their count, not their payload.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_postgres::Client;
use uuid::Uuid;
use warren_shared::envelope::DeliverV1;

use crate::rows::{ATTEMPTS, Attempt, CopyIn, DELIVERIES, Delivery, EVENTS, Event, Owner};

/// One attempt to write.
struct PlannedAttempt {
    id: Uuid,
    started_at: OffsetDateTime,
    duration_ms: i32,
    status_code: i32,
    error_kind: Option<&'static str>,
}

/// One event, its one delivery and that delivery's attempts.
struct Planned {
    event_id: Uuid,
    delivery_id: Uuid,
    received_at: OffsetDateTime,
    status: &'static str,
    next_attempt_at: Option<OffsetDateTime>,
    enqueued: bool,
    attempts: Vec<PlannedAttempt>,
}

/// Deliveries written per round of `COPY`s.
const CHUNK: usize = 20_000;

/// The body every seeded event carries.
const BODY: &[u8] = br#"{"type":"bench.seeded","note":"history written by warren-bench"}"#;

/// `n` deliveries whose first attempt failed (500) and whose second waits `wait` in a wait
/// queue: status `retrying`, `enqueued`. Returns the envelopes of those second attempts,
/// for [`crate::broker::park`].
pub async fn parked(
    client: &Client,
    owner: &Owner,
    n: u64,
    wait: Duration,
) -> anyhow::Result<Vec<DeliverV1>> {
    let mut rng = StdRng::seed_from_u64(1);
    let now = OffsetDateTime::now_utc();
    let mut envelopes = Vec::with_capacity(usize::try_from(n)?);
    let mut left = n;
    while left > 0 {
        let size = left.min(CHUNK as u64);
        let chunk: Vec<Planned> = (0..size).map(|_| parked_one(&mut rng, now, wait)).collect();
        copy(client, owner, &chunk).await?;
        envelopes.extend(chunk.iter().map(|p| DeliverV1 {
            delivery_id: p.delivery_id,
            event_id: p.event_id,
            subscription_id: owner.subscription_id,
            user_id: owner.user_id,
            attempt: 2,
            ordered: false,
        }));
        left -= size;
    }
    vacuum(client).await?;
    Ok(envelopes)
}

fn parked_one(rng: &mut StdRng, now: OffsetDateTime, wait: Duration) -> Planned {
    let received_at = now - Duration::from_millis(rng.random_range(0..60_000));
    Planned {
        event_id: Uuid::now_v7(),
        delivery_id: Uuid::now_v7(),
        received_at,
        status: "retrying",
        next_attempt_at: Some(now + wait),
        enqueued: true,
        attempts: vec![PlannedAttempt {
            id: Uuid::now_v7(),
            started_at: received_at,
            duration_ms: rng.random_range(1..50),
            status_code: 500,
            error_kind: Some("http_status"),
        }],
    }
}

/// `n` events with one delivery each, `held` for the subscription (never attempted, nothing
/// published), as Warren keeps them while the subscription is not active: received a
/// millisecond apart up to now, oldest first. Returns how many.
pub async fn held(client: &Client, owner: &Owner, n: u64) -> anyhow::Result<u64> {
    let now = OffsetDateTime::now_utc();
    let mut index = 0;
    while index < n {
        let size = (n - index).min(CHUNK as u64);
        let chunk: Vec<Planned> = (index..index + size)
            .map(|i| Planned {
                event_id: Uuid::now_v7(),
                delivery_id: Uuid::now_v7(),
                received_at: now - Duration::from_millis(n - i),
                status: "held",
                next_attempt_at: None,
                enqueued: false,
                attempts: Vec::new(),
            })
            .collect();
        copy(client, owner, &chunk).await?;
        index += size;
    }
    vacuum(client).await?;
    Ok(n)
}

/// `total` attempts spread evenly at random over the last 7 days, `per_delivery` for each
/// delivery: all but the last fail with a 500; the last succeeds, except for one delivery in
/// a hundred, which is dead. Returns how many attempts were written.
pub async fn history(
    client: &Client,
    owner: &Owner,
    total: u64,
    per_delivery: u32,
) -> anyhow::Result<u64> {
    let mut rng = StdRng::seed_from_u64(2);
    let now = OffsetDateTime::now_utc();
    let deliveries = total.div_ceil(u64::from(per_delivery));
    let mut written = 0;
    let mut index = 0;
    while index < deliveries {
        let size = (deliveries - index).min(CHUNK as u64);
        let chunk: Vec<Planned> = (index..index + size)
            .map(|i| {
                let attempts = (total - i * u64::from(per_delivery)).min(u64::from(per_delivery));
                historic_one(&mut rng, now, attempts as u32, i % 100 == 0)
            })
            .collect();
        written += copy(client, owner, &chunk).await?;
        index += size;
    }
    roll_up(client).await?;
    vacuum(client).await?;
    Ok(written)
}

/// Builds the statistics rollups of the attempts written around the worker, as Warren's
/// worker would have kept them (`warren_rollup_rebuild`, migration V16: every minute and hour
/// of the last 8 days recomputed from `delivery_attempts`). Returns the attempts counted.
pub async fn roll_up(client: &Client) -> anyhow::Result<i64> {
    let started = Instant::now();
    let counted: i64 = client
        .query_one(
            "SELECT warren_rollup_rebuild(now() - interval '8 days')",
            &[],
        )
        .await
        .context("building the statistics rollups")?
        .get(0);
    eprintln!(
        "warren-bench: rolled up {counted} attempts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(counted)
}

fn historic_one(rng: &mut StdRng, now: OffsetDateTime, attempts: u32, dead: bool) -> Planned {
    // Inside the 7-day window whatever its hourly alignment: from 7 d - 1 h ago to 1 min ago.
    let ago = Duration::from_secs(rng.random_range(60..(7 * 24 - 1) * 3_600));
    let received_at = now - ago;
    let attempts: Vec<PlannedAttempt> = (0..attempts)
        .map(|i| {
            let last = i + 1 == attempts;
            let ok = last && !dead;
            let started_at = received_at + Duration::from_secs(5 * u64::from(i));
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                started_at.unix_timestamp() as u64,
                started_at.nanosecond(),
            ));
            PlannedAttempt {
                id,
                started_at,
                duration_ms: rng.random_range(1..250),
                status_code: if ok { 200 } else { 500 },
                error_kind: (!ok).then_some("http_status"),
            }
        })
        .collect();
    Planned {
        event_id: Uuid::now_v7(),
        delivery_id: Uuid::now_v7(),
        received_at,
        status: if dead { "dead" } else { "succeeded" },
        next_attempt_at: None,
        enqueued: false,
        attempts,
    }
}

/// Writes a chunk: its events, then its deliveries, then their attempts. Returns the
/// number of attempts written.
async fn copy(client: &Client, owner: &Owner, chunk: &[Planned]) -> anyhow::Result<u64> {
    copy_events(client, owner, chunk).await?;
    copy_deliveries(client, owner, chunk).await?;
    copy_attempts(client, owner, chunk).await
}

async fn copy_events(client: &Client, owner: &Owner, chunk: &[Planned]) -> anyhow::Result<u64> {
    let payload: serde_json::Value = serde_json::from_slice(BODY)?;
    let hash = Sha256::digest(BODY).to_vec();
    let mut copy = CopyIn::start(client, &EVENTS).await?;
    for p in chunk {
        let event = Event {
            id: p.event_id,
            owner,
            event_type: "bench.seeded",
            body: BODY,
            payload: &payload,
            body_sha256: &hash,
            received_at: p.received_at,
        };
        copy.row(event.values()).await?;
    }
    copy.finish().await
}

async fn copy_deliveries(client: &Client, owner: &Owner, chunk: &[Planned]) -> anyhow::Result<u64> {
    let mut copy = CopyIn::start(client, &DELIVERIES).await?;
    for p in chunk {
        let last = p.attempts.last();
        let ended = last.map_or(p.received_at, |a| {
            a.started_at + Duration::from_millis(a.duration_ms as u64)
        });
        let delivery = Delivery {
            id: p.delivery_id,
            owner,
            event_id: p.event_id,
            status: p.status,
            attempt_count: p.attempts.len() as i32,
            next_attempt_at: p.next_attempt_at,
            enqueued: p.enqueued,
            last_status_code: last.map(|a| a.status_code),
            last_error_kind: last.and_then(|a| a.error_kind),
            created_at: p.received_at,
            updated_at: ended,
            succeeded_at: (p.status == "succeeded").then_some(ended),
            dead_at: (p.status == "dead").then_some(ended),
        };
        copy.row(delivery.values()).await?;
    }
    copy.finish().await
}

async fn copy_attempts(client: &Client, owner: &Owner, chunk: &[Planned]) -> anyhow::Result<u64> {
    let mut copy = CopyIn::start(client, &ATTEMPTS).await?;
    for p in chunk {
        for (i, a) in p.attempts.iter().enumerate() {
            let attempt = Attempt {
                id: a.id,
                owner,
                delivery_id: p.delivery_id,
                number: i as i32 + 1,
                started_at: a.started_at,
                duration_ms: a.duration_ms,
                status_code: a.status_code,
                error_kind: a.error_kind,
            };
            copy.row(attempt.values()).await?;
        }
    }
    copy.finish().await
}

/// What autovacuum would have done to rows that accrued over days: visibility map set (so
/// the stats index-only scan stays index-only) and statistics current.
async fn vacuum(client: &Client) -> anyhow::Result<()> {
    let started = Instant::now();
    client
        .batch_execute(
            "VACUUM (ANALYZE) events, deliveries, delivery_attempts, subscription_rollups_minute,
                              subscription_rollups_hour",
        )
        .await
        .context("vacuuming the seeded tables")?;
    eprintln!(
        "warren-bench: vacuumed the seeded tables in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
