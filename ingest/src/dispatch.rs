//! Handing committed deliveries to the broker, and remembering which ones it confirmed.
//!
//! A delivery's `enqueued` flag says the envelope for its next attempt is confirmed in the
//! broker. Whatever is not confirmed (broker down, a crash between commit and publish) stays
//! `false` and the outbox relay publishes it later.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::{GenericClient, Pool};
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;
use warren_shared::{amqp::Outgoing, db, envelope::Envelope, publisher::Publisher};

/// Publishes envelopes for attempts due now and, once the broker confirmed them all, hands
/// them to the marker. A failure is logged and left to the outbox relay: the deliveries are
/// already durable.
pub async fn publish_now(marker: &Marker, publisher: &Publisher, envelopes: Vec<Envelope>) {
    if envelopes.is_empty() {
        return;
    }
    match publisher.publish_all(&due_now(publisher, &envelopes)).await {
        Ok(()) => marker.confirmed(envelopes).await,
        Err(error) => {
            tracing::warn!(error = %error, deliveries = envelopes.len(), "publish failed; the outbox relay will retry");
        }
    }
}

/// How often a paced publish ([`publish_paced`]) sends what has come due.
const PACE_TICK: Duration = Duration::from_millis(10);

/// Publishes envelopes each once its wait is over, from a background task that sends what
/// has come due every [`PACE_TICK`] (as [`publish_now`] does, marks included), so a batch
/// reaches the main queue as a steady stream rather than a burst in front of everyone else's
/// deliveries. Returns at once. Should ingest stop before the last is sent, the outbox relay
/// publishes the rest (they are not marked enqueued).
pub fn publish_paced(
    marker: &Marker,
    publisher: &Publisher,
    mut envelopes: Vec<(Envelope, Duration)>,
) {
    if envelopes.is_empty() {
        return;
    }
    envelopes.sort_by_key(|(_, wait)| *wait);
    let (paced_marker, publisher) = (marker.clone(), publisher.clone());
    let started = Instant::now();
    marker.confirming.spawn(async move {
        let mut tick = tokio::time::interval(PACE_TICK);
        let mut sent = 0;
        while sent < envelopes.len() {
            tick.tick().await;
            let elapsed = started.elapsed();
            let due = envelopes[sent..]
                .iter()
                .take_while(|(_, wait)| *wait <= elapsed)
                .count();
            let chunk: Vec<Envelope> = envelopes[sent..sent + due]
                .iter()
                .map(|(envelope, _)| envelope.clone())
                .collect();
            sent += due;
            publish_now(&paced_marker, &publisher, chunk).await;
        }
    });
}

/// Publishes envelopes for attempts due now without waiting for their confirms: the messages
/// are sent before this returns, and a background task waits for the broker's confirms and
/// hands them to the marker. For ingest's answers, which promise only that the event is
/// durable in PostgreSQL: waiting for the broker's own disk write added its latency to every
/// answer. At most [`MAX_CONFIRMING`] envelopes wait for confirms at once; beyond that this
/// waits for room, so a slow broker slows ingest instead of growing it without bound. A
/// failure is logged and left to the outbox relay.
pub async fn publish_soon(marker: &Marker, publisher: &Publisher, envelopes: Vec<Envelope>) {
    if envelopes.is_empty() {
        return;
    }
    let wanted = u32::try_from(envelopes.len().min(MAX_CONFIRMING)).unwrap_or(u32::MAX);
    let Ok(room) = marker.room.clone().acquire_many_owned(wanted).await else {
        return;
    };
    let sent = match publisher.send_all(&due_now(publisher, &envelopes)).await {
        Ok(sent) => sent,
        Err(error) => {
            tracing::warn!(error = %error, deliveries = envelopes.len(), "publish failed; the outbox relay will retry");
            return;
        }
    };
    let waiting = marker.clone();
    marker.confirming.spawn(async move {
        let _room = room;
        match sent.confirmed().await {
            Ok(()) => waiting.confirmed(envelopes).await,
            Err(error) => {
                tracing::warn!(error = %error, deliveries = envelopes.len(), "publish not confirmed; the outbox relay will retry");
            }
        }
    });
}

/// The messages of envelopes for attempts due now.
fn due_now(publisher: &Publisher, envelopes: &[Envelope]) -> Vec<Outgoing> {
    envelopes
        .iter()
        .map(|e| Outgoing::deliver_now(publisher.topology(), e))
        .collect()
}

/// Most envelopes whose confirms [`publish_soon`] awaits at once.
pub const MAX_CONFIRMING: usize = 16_384;

/// Most envelopes marked in one statement.
const MARK_BATCH: usize = 4_096;

/// The longest a confirmed delivery waits to be marked enqueued.
const MARK_DELAY_CAP: Duration = Duration::from_secs(1);

/// Marks confirmed deliveries enqueued, a little late and in batches. Most deliveries are
/// attempted (and leave the waiting states) within milliseconds of their confirm, and the
/// mark skips those, so the common case writes nothing; only deliveries still waiting are
/// updated, in one statement per batch. The delay is well inside the outbox relay's grace,
/// so the relay never takes a confirmed delivery for a lost one; should ingest die before a
/// mark, the relay publishes the envelope again (a duplicate, which at-least-once allows).
#[derive(Clone)]
pub struct Marker {
    queue: mpsc::Sender<(Instant, Vec<Envelope>)>,
    /// The background waits for confirms (see [`publish_soon`]).
    confirming: TaskTracker,
    /// Room for envelopes awaiting confirms.
    room: Arc<Semaphore>,
}

impl Marker {
    /// Starts the marker on `pool`; each mark waits `delay` (see [`Marker::delay_for`]).
    /// Once `stop` trips it marks what it holds at once and ends.
    pub fn start(pool: Pool, delay: Duration, stop: CancellationToken) -> (Self, JoinHandle<()>) {
        let (queue, confirmed) = mpsc::channel(16_384);
        let task = tokio::spawn(mark(pool, confirmed, delay, stop));
        let marker = Self {
            queue,
            confirming: TaskTracker::new(),
            room: Arc::new(Semaphore::new(MAX_CONFIRMING)),
        };
        (marker, task)
    }

    /// Waits, at most `limit`, for the confirms awaited in the background, so that what the
    /// broker confirmed reaches the marker before it stops.
    pub async fn settle(&self, limit: Duration) {
        self.confirming.close();
        if tokio::time::timeout(limit, self.confirming.wait())
            .await
            .is_err()
        {
            // Not marked, their envelopes are published again by the outbox relay.
            tracing::warn!(
                awaited = self.confirming.len(),
                "confirms still awaited at the stop; the outbox relay publishes those again"
            );
        }
    }

    /// How long marks wait, given the outbox relay's grace: a quarter of it, at most a
    /// second.
    pub fn delay_for(outbox_grace: Duration) -> Duration {
        (outbox_grace / 4).min(MARK_DELAY_CAP)
    }

    /// Envelopes the broker confirmed.
    pub async fn confirmed(&self, envelopes: Vec<Envelope>) {
        if self.queue.send((Instant::now(), envelopes)).await.is_err() {
            tracing::warn!("the marker has stopped; the outbox will republish");
        }
    }
}

async fn mark(
    pool: Pool,
    mut confirmed: mpsc::Receiver<(Instant, Vec<Envelope>)>,
    delay: Duration,
    stop: CancellationToken,
) {
    loop {
        let (at, mut envelopes) = tokio::select! {
            next = confirmed.recv() => match next {
                Some(next) => next,
                None => return,
            },
            () = stop.cancelled() => (Instant::now(), Vec::new()),
        };
        tokio::select! {
            () = tokio::time::sleep_until(at + delay) => {}
            () = stop.cancelled() => {}
        }
        // Those confirmed since are marked with these, a little early: no harm.
        while (stop.is_cancelled() || envelopes.len() < MARK_BATCH)
            && let Ok((_, more)) = confirmed.try_recv()
        {
            envelopes.extend(more);
        }
        if !envelopes.is_empty()
            && let Err(error) = mark_enqueued_relaxed(&pool, &envelopes).await
        {
            tracing::warn!(
                error = format!("{error:#}"),
                deliveries = envelopes.len(),
                "could not mark deliveries enqueued; the outbox will republish them"
            );
        }
        if stop.is_cancelled() {
            return;
        }
    }
}

/// Marks deliveries enqueued without waiting for the WAL flush: losing the mark (only a
/// PostgreSQL crash can) means the outbox publishes the envelope again, a duplicate that
/// at-least-once allows, while waiting for it would queue every ingest commit behind it.
async fn mark_enqueued_relaxed(pool: &Pool, envelopes: &[Envelope]) -> anyhow::Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    plan_marks(&tx).await?;
    mark_enqueued(&tx, envelopes).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets the marker's transaction to plan [`MARK_ENQUEUED`] by key, whatever the tables'
/// statistics say (today's partition empty, or a long analysed history), and to keep that
/// plan: the generic plan, made once per connection and again only when a partition is
/// attached, detached or analysed. Its ids come from an array, so no plan can leave a
/// partition out: each execution prunes them by key as it goes, and planning over every
/// partition at every mark (2–11 ms over eight days of history) would be paid for nothing.
pub async fn plan_marks(tx: &impl GenericClient) -> anyhow::Result<()> {
    tx.batch_execute(&db::BY_KEY_LOCAL).await?;
    tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    Ok(())
}

/// Marks deliveries enqueued, but only those still waiting for the attempt their envelope
/// asks for: a worker may already have moved a delivery on, and its own retry envelope must
/// not be mistaken for this one.
///
/// A row locked by someone else is skipped, never waited for: the one holding it is nearly
/// always a worker recording the delivery's attempt (which moves it on, so the mark is not
/// needed). Waiting made the mark and the worker's grouped record lock rows in different
/// orders, and each deadlock stalled both for PostgreSQL's `deadlock_timeout` (1 s). A
/// skipped row that stays waiting is republished by the outbox relay: a duplicate, which
/// at-least-once allows.
pub async fn mark_enqueued(
    client: &impl GenericClient,
    envelopes: &[Envelope],
) -> anyhow::Result<()> {
    let (ids, attempts): (Vec<Uuid>, Vec<i32>) = envelopes
        .iter()
        .map(|Envelope::DeliverV1(d)| (d.delivery_id, d.attempt as i32))
        .unzip();
    client
        .execute(
            &client.prepare_cached(MARK_ENQUEUED).await?,
            &[&ids, &attempts],
        )
        .await?;
    Ok(())
}

/// [`mark_enqueued`]'s statement, shaped so that however the tables' statistics stand
/// (never analysed, a young database or today's partition; or a long analysed history) the
/// only way to run it is one primary-key lookup per envelope: each id drives a `LATERAL`
/// lookup of its own row, and the status is tested as "none of the others" (the same, by
/// the table's check) rather than `IN ('pending', 'retrying')`, which would let the
/// outbox's partial index (`NOT enqueued AND status IN ('pending', 'retrying')`), every
/// delivery not yet enqueued, serve it. Measured before: 50 ms and 13,000 buffers a mark on
/// a database begun minutes ago, 900 ms and 23,000 blocks read with a million deliveries
/// stored.
pub const MARK_ENQUEUED: &str = "UPDATE deliveries AS d SET enqueued = true
     FROM unnest($1::uuid[], $2::int[]) AS x(id, attempt),
          LATERAL (SELECT w.id FROM deliveries AS w
                   WHERE w.id = x.id AND w.attempt_count = x.attempt - 1
                     AND w.status NOT IN ('succeeded', 'dead', 'held', 'discarded')
                     AND NOT w.enqueued
                   FOR NO KEY UPDATE SKIP LOCKED) AS waiting
     WHERE d.id = waiting.id";
