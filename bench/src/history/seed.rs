//! The `history` scenario's rows, written straight into Warren's tables with `COPY`: events
//! spread evenly over the last days, one delivery each to the run's subscription, and two
//! attempts per delivery (the first answered 500, the second 200). Every row is a pure
//! function of its index, so the three tables are written at once on three connections
//! (PostgreSQL's work per row is what bounds this, and it has two cores here), and every id
//! is the UUIDv7 of the time its row stands for, so rows fall into the time partitions they
//! would have been written into.
//!
//! Payloads carry a customer among [`CUSTOMERS`], so `{"customer": {"id": "cus_7"}}` matches
//! one event in a thousand.

use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio_postgres::{
    Client,
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
};
use uuid::Uuid;

use crate::seed::Owner;

/// Customers the payloads name: a `contains` query for one matches 1 event in this many.
pub const CUSTOMERS: u64 = 1_000;

/// Rows per `COPY` (one transaction each).
const CHUNK: u64 = 100_000;

/// What to write.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Events (and deliveries; attempts are twice this).
    pub events: u64,
    /// The first event's time; the others follow evenly until `end`.
    pub start: OffsetDateTime,
    /// The time after the last event.
    pub end: OffsetDateTime,
}

impl Shape {
    /// Event `i`'s time.
    fn at(&self, i: u64) -> OffsetDateTime {
        let span = (self.end - self.start).whole_nanoseconds();
        let offset = span * i128::from(i) / i128::from(self.events.max(1));
        self.start + Duration::nanoseconds(i64::try_from(offset).unwrap_or(i64::MAX))
    }
}

/// The rows' UUIDv7: the time's millisecond, a tag for the table, the index.
fn v7(at: OffsetDateTime, tag: u8, i: u64) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (tag & 0x0f);
    bytes[8] = 0x80;
    bytes[9] = 0;
    bytes[10..].copy_from_slice(&i.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

fn event_id(shape: &Shape, i: u64) -> Uuid {
    v7(shape.at(i), 0, i)
}

fn delivery_id(shape: &Shape, i: u64) -> Uuid {
    v7(shape.at(i), 1, i)
}

/// Event `i`'s body.
fn body(i: u64) -> String {
    format!(
        r#"{{"type":"order.paid","customer":{{"id":"cus_{}"}},"order":{i},"amount":{}}}"#,
        i % CUSTOMERS,
        i % 9_973
    )
}

/// Event `i`'s attempt `n` (1 or 2): when, how long, what answered.
fn attempt(shape: &Shape, i: u64, n: i32) -> (OffsetDateTime, i32, i32) {
    let started = shape.at(i) + Duration::milliseconds(5) + Duration::seconds(5 * i64::from(n - 1));
    // Latencies from 2 to 250 ms, spread by the index.
    let duration =
        2 + i32::try_from((i * 7_919 + u64::from(n.unsigned_abs()) * 104_729) % 249).unwrap_or(0);
    let status = if n == 1 { 500 } else { 200 };
    (started, duration, status)
}

/// Writes the three tables at once, each on its own connection from `connect`; returns the
/// seconds it took.
pub async fn write<F, Fut>(connect: F, owner: &Owner, shape: Shape) -> anyhow::Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Client>>,
{
    let started = Instant::now();
    let (events, deliveries, attempts) = (connect().await?, connect().await?, connect().await?);
    tokio::try_join!(
        chunks(&events, shape, |c, from, to| copy_events(
            c, owner, shape, from, to
        )),
        chunks(&deliveries, shape, |c, from, to| copy_deliveries(
            c, owner, shape, from, to
        )),
        chunks(&attempts, shape, |c, from, to| copy_attempts(
            c, owner, shape, from, to
        )),
    )?;
    Ok(started.elapsed().as_secs_f64())
}

/// Runs `copy` over the indexes, a chunk at a time.
async fn chunks<'c, C, Fut>(client: &'c Client, shape: Shape, copy: C) -> anyhow::Result<()>
where
    C: Fn(&'c Client, u64, u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut from = 0;
    while from < shape.events {
        let to = (from + CHUNK).min(shape.events);
        copy(client, from, to).await?;
        from = to;
    }
    Ok(())
}

async fn copy_events(
    client: &Client,
    owner: &Owner,
    shape: Shape,
    from: u64,
    to: u64,
) -> anyhow::Result<()> {
    let sink = client
        .copy_in(
            "COPY events (id, user_id, source_id, event_type, content_type, raw_body, payload,
                          idempotency_scope, body_sha256, initial_deliveries, received_at)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::BYTEA,
        Type::JSONB,
        Type::UUID,
        Type::BYTEA,
        Type::INT4,
        Type::TIMESTAMPTZ,
    ];
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    for i in from..to {
        let body = body(i);
        let payload: serde_json::Value = serde_json::from_str(&body)?;
        let hash = Sha256::digest(body.as_bytes()).to_vec();
        let row: [&(dyn ToSql + Sync); 11] = [
            &event_id(&shape, i),
            &owner.user_id,
            &owner.source_id,
            &"order.paid",
            &"application/json",
            &body.as_bytes(),
            &payload,
            &owner.source_id,
            &hash,
            &1i32,
            &shape.at(i),
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await.context("copying events")?;
    Ok(())
}

async fn copy_deliveries(
    client: &Client,
    owner: &Owner,
    shape: Shape,
    from: u64,
    to: u64,
) -> anyhow::Result<()> {
    let sink = client
        .copy_in(
            "COPY deliveries (id, user_id, event_id, subscription_id, status, attempt_count,
                              enqueued, last_status_code, created_at, updated_at, succeeded_at)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::INT4,
        Type::BOOL,
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ];
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    for i in from..to {
        let (started, duration, _) = attempt(&shape, i, 2);
        let ended = started + Duration::milliseconds(i64::from(duration));
        let row: [&(dyn ToSql + Sync); 11] = [
            &delivery_id(&shape, i),
            &owner.user_id,
            &event_id(&shape, i),
            &owner.subscription_id,
            &"succeeded",
            &2i32,
            &false,
            &200i32,
            &shape.at(i),
            &ended,
            &ended,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await.context("copying deliveries")?;
    Ok(())
}

async fn copy_attempts(
    client: &Client,
    owner: &Owner,
    shape: Shape,
    from: u64,
    to: u64,
) -> anyhow::Result<()> {
    let sink = client
        .copy_in(
            "COPY delivery_attempts (id, user_id, delivery_id, subscription_id, attempt, started_at,
                                     duration_ms, status_code, error_kind, response_excerpt)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::INT4,
        Type::INT4,
        Type::TEXT,
        Type::TEXT,
    ];
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    for i in from..to {
        for n in 1..=2 {
            let (started, duration, status) = attempt(&shape, i, n);
            let (kind, excerpt) = match status {
                200 => (None, "ok"),
                _ => (Some("http_status"), "internal error"),
            };
            let row: [&(dyn ToSql + Sync); 10] = [
                &v7(started, 2, i * 2 + n.unsigned_abs() as u64),
                &owner.user_id,
                &delivery_id(&shape, i),
                &owner.subscription_id,
                &n,
                &started,
                &duration,
                &status,
                &kind,
                &excerpt,
            ];
            writer.as_mut().write(&row).await?;
        }
    }
    writer.finish().await.context("copying attempts")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        let end = OffsetDateTime::now_utc();
        Shape {
            events: 1_000,
            start: end - Duration::days(8),
            end,
        }
    }

    #[test]
    fn ids_carry_their_rows_time_and_never_collide() {
        let shape = shape();
        let first = event_id(&shape, 0);
        let last = event_id(&shape, 999);
        assert!(first < last);
        assert_eq!(first.get_version_num(), 7);
        let (secs, _) = first.get_timestamp().expect("a v7 id").to_unix();
        assert_eq!(secs as i64, shape.start.unix_timestamp());
        assert_ne!(event_id(&shape, 5), delivery_id(&shape, 5));
    }

    #[test]
    fn one_event_in_a_thousand_names_a_given_customer() {
        let named = (0..100_000)
            .filter(|&i| body(i).contains(r#""cus_7""#))
            .count();
        assert_eq!(named, 100);
    }
}
