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

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::rows::{ATTEMPTS, Attempt, CopyIn, DELIVERIES, Delivery, EVENTS, Event, Owner};

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
        chunks(&events, owner, shape, copy_events),
        chunks(&deliveries, owner, shape, copy_deliveries),
        chunks(&attempts, owner, shape, copy_attempts),
    )?;
    Ok(started.elapsed().as_secs_f64())
}

/// The events `from..to` of `shape`, written for `owner`: what one `COPY` writes.
#[derive(Clone, Copy)]
struct Span<'a> {
    owner: &'a Owner,
    shape: Shape,
    from: u64,
    to: u64,
}

impl Span<'_> {
    /// The indexes of its events.
    fn indexes(self) -> std::ops::Range<u64> {
        self.from..self.to
    }
}

/// Runs `copy` over the indexes, a chunk at a time.
async fn chunks<'c, C, Fut>(
    client: &'c Client,
    owner: &'c Owner,
    shape: Shape,
    copy: C,
) -> anyhow::Result<()>
where
    C: Fn(&'c Client, Span<'c>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let mut from = 0;
    while from < shape.events {
        let to = (from + CHUNK).min(shape.events);
        copy(
            client,
            Span {
                owner,
                shape,
                from,
                to,
            },
        )
        .await?;
        from = to;
    }
    Ok(())
}

async fn copy_events(client: &Client, span: Span<'_>) -> anyhow::Result<u64> {
    let Span { owner, shape, .. } = span;
    let mut copy = CopyIn::start(client, &EVENTS).await?;
    for i in span.indexes() {
        let body = body(i);
        let payload: serde_json::Value = serde_json::from_str(&body)?;
        let hash = Sha256::digest(body.as_bytes()).to_vec();
        let event = Event {
            id: event_id(&shape, i),
            owner,
            event_type: "order.paid",
            body: body.as_bytes(),
            payload: &payload,
            body_sha256: &hash,
            received_at: shape.at(i),
        };
        copy.row(event.values()).await?;
    }
    copy.finish().await
}

async fn copy_deliveries(client: &Client, span: Span<'_>) -> anyhow::Result<u64> {
    let Span { owner, shape, .. } = span;
    let mut copy = CopyIn::start(client, &DELIVERIES).await?;
    for i in span.indexes() {
        let (started, duration, _) = attempt(&shape, i, 2);
        let ended = started + Duration::milliseconds(i64::from(duration));
        let delivery = Delivery {
            id: delivery_id(&shape, i),
            owner,
            event_id: event_id(&shape, i),
            status: "succeeded",
            attempt_count: 2,
            next_attempt_at: None,
            enqueued: false,
            last_status_code: Some(200),
            last_error_kind: None,
            created_at: shape.at(i),
            updated_at: ended,
            succeeded_at: Some(ended),
            dead_at: None,
        };
        copy.row(delivery.values()).await?;
    }
    copy.finish().await
}

async fn copy_attempts(client: &Client, span: Span<'_>) -> anyhow::Result<u64> {
    let Span { owner, shape, .. } = span;
    let mut copy = CopyIn::start(client, &ATTEMPTS).await?;
    for i in span.indexes() {
        for n in 1..=2 {
            let (started, duration_ms, status_code) = attempt(&shape, i, n);
            let attempt = Attempt {
                id: v7(started, 2, i * 2 + n.unsigned_abs() as u64),
                owner,
                delivery_id: delivery_id(&shape, i),
                number: n,
                started_at: started,
                duration_ms,
                status_code,
                error_kind: (status_code != 200).then_some("http_status"),
            };
            copy.row(attempt.values()).await?;
        }
    }
    copy.finish().await
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
