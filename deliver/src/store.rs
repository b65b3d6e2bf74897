//! What the worker reads from and writes to PostgreSQL: deliveries loaded with their event
//! and subscription (in groups, by [`Loader`]), and the bookkeeping around attempts (the attempts themselves
//! are recorded in groups by [`crate::records`]).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, LazyLock},
};

use bytes::Bytes;
use deadpool_postgres::Pool;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;
use warren_shared::{
    group::{Grouping, Queue, each_failed},
    model::DeliveryStatus,
    partitions,
};

use crate::{
    circuit::Breaker,
    error::{Error, Result},
};

/// One delivery with everything needed to attempt it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The delivery (also the `webhook-id`).
    pub delivery_id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempt_count: u32,
    /// `attempt_count` when the current round began.
    pub round_start: u32,
    /// The event.
    pub event: EventData,
    /// The subscription.
    pub subscription: SubscriptionData,
}

/// The event's part of a job.
#[derive(Debug, Clone)]
pub struct EventData {
    /// The exact bytes received.
    pub raw_body: Bytes,
    /// Their content type.
    pub content_type: Option<String>,
    /// The event type.
    pub event_type: String,
    /// The parsed body, when JSON and the subscription has a template (the only reader).
    pub payload: Option<Value>,
    /// When it was received.
    pub received_at: OffsetDateTime,
    /// Whether ingest took its body for JSON (a JSON content type, and valid).
    pub is_json: bool,
}

/// The subscription's part of a job.
#[derive(Debug, Clone)]
pub struct SubscriptionData {
    /// The target.
    pub target_url: String,
    /// The request timeout.
    pub timeout_ms: u32,
    /// Attempts per round.
    pub max_attempts: u32,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// The body template, if any.
    pub payload_template: Option<String>,
    /// The current secret.
    pub signing_secret: String,
    /// The secret before the last rotation.
    pub previous_signing_secret: Option<String>,
    /// When the previous secret stops signing.
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// Whether it takes deliveries.
    pub is_active: bool,
    /// Deliveries per second at most.
    pub rate_limit_per_sec: u32,
    /// Its circuit breaker as loaded.
    pub breaker: Breaker,
    /// How its JSON events are grouped, if they are.
    pub batch: Option<BatchSettings>,
}

/// A subscription's `batch`: up to `max_events` per request, the first waiting at most
/// `max_wait` for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// The most events one request carries.
    pub max_events: usize,
    /// The longest the first event of a group waits for others.
    pub max_wait: std::time::Duration,
}

impl BatchSettings {
    fn from_row(row: &Row) -> Result<Option<Self>> {
        let max_events: Option<i32> = row.get("batch_max_events");
        let max_wait_ms: Option<i32> = row.get("batch_max_wait_ms");
        let (Some(max_events), Some(max_wait_ms)) = (max_events, max_wait_ms) else {
            return Ok(None);
        };
        Ok(Some(Self {
            max_events: usize::try_from(max_events)?,
            max_wait: std::time::Duration::from_millis(u64::try_from(max_wait_ms)?),
        }))
    }
}

/// Why an envelope is acknowledged without an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The delivery no longer exists (its subscription was deleted).
    Gone,
    /// Already succeeded or dead.
    Finished,
    /// The envelope asks for an attempt already made (a redelivered or duplicate message).
    Stale,
    /// A doorbell of a FIFO line for a delivery that is not its head: the head's own
    /// envelope moves the line.
    Behind,
    /// A doorbell of a FIFO line stopped on a dead head (`on_dead: pause`).
    Paused,
    /// Held while its subscription is not active: enabling the subscription sends it again.
    Held,
}

impl Job {
    /// Why an envelope for `attempt` should not be attempted, if it should not.
    pub fn skip_reason(&self, attempt: u32) -> Option<Skip> {
        if matches!(
            self.status,
            DeliveryStatus::Succeeded | DeliveryStatus::Dead | DeliveryStatus::Discarded
        ) {
            Some(Skip::Finished)
        } else if self.status == DeliveryStatus::Held {
            Some(Skip::Held)
        } else if attempt != self.attempt_count + 1 {
            Some(Skip::Stale)
        } else {
            None
        }
    }

    fn from_row(row: &Row) -> Result<Self> {
        let status: String = row.get("status");
        let headers: Value = row.get("headers");
        Ok(Self {
            delivery_id: row.get("id"),
            event_id: row.get("event_id"),
            subscription_id: row.get("subscription_id"),
            user_id: row.get("user_id"),
            status: status.parse()?,
            attempt_count: u32::try_from(row.get::<_, i32>("attempt_count"))?,
            round_start: u32::try_from(row.get::<_, i32>("round_start"))?,
            event: EventData {
                raw_body: Bytes::from(row.get::<_, Vec<u8>>("raw_body")),
                content_type: row.get("content_type"),
                event_type: row.get("event_type"),
                payload: row.get("payload"),
                received_at: row.get("received_at"),
                is_json: row.get("is_json"),
            },
            subscription: SubscriptionData {
                target_url: row.get("target_url"),
                timeout_ms: u32::try_from(row.get::<_, i32>("timeout_ms"))?,
                max_attempts: u32::try_from(row.get::<_, i32>("max_attempts"))?,
                headers: serde_json::from_value(headers)?,
                payload_template: row.get("payload_template"),
                signing_secret: row.get("signing_secret"),
                previous_signing_secret: row.get("previous_signing_secret"),
                previous_secret_expires_at: row.get("previous_secret_expires_at"),
                is_active: row.get("is_active"),
                rate_limit_per_sec: u32::try_from(row.get::<_, i32>("rate_limit_per_sec"))?,
                breaker: breaker_from_row(row)?,
                batch: BatchSettings::from_row(row)?,
            },
        })
    }
}

/// Most deliveries loaded in one statement.
const MAX_LOAD_GROUP: usize = 64;

/// Load statements in flight at once (each holds a pool connection while it runs).
const LOAD_WRITERS: usize = 4;

/// Loads deliveries in groups: handlers that ask at the same time share one statement, so a
/// busy worker pays one round trip and one executor start per group instead of per
/// delivery. Cheap to clone.
#[derive(Clone)]
pub struct Loader {
    queue: Queue<Wanted, Result<Option<Job>, Arc<Error>>>,
}

/// A delivery to load, and the event its envelope names: with both ids the statement opens
/// only the partitions that hold them.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Wanted {
    delivery_id: Uuid,
    event_id: Uuid,
}

impl Loader {
    /// Starts the loader's writers on `pool`.
    pub fn start(pool: Pool) -> Self {
        let grouping = Grouping::counted(MAX_LOAD_GROUP, LOAD_WRITERS);
        let queue = Queue::start(grouping, move |wanted: Vec<Wanted>| {
            let pool = pool.clone();
            async move { load_group(&pool, &wanted).await }
        });
        Self { queue }
    }

    /// Loads a delivery with its event (the one its envelope names) and subscription;
    /// `None` when it no longer exists.
    pub async fn load(&self, delivery_id: Uuid, event_id: Uuid) -> Result<Option<Job>> {
        let wanted = Wanted {
            delivery_id,
            event_id,
        };
        self.queue.submit(wanted).await?.map_err(Error::Grouped)
    }
}

/// One answer per delivery, in order (a delivery asked twice, a redelivered envelope beside
/// its original, gets the job twice); the group's statement failing fails each of them.
async fn load_group(pool: &Pool, wanted: &[Wanted]) -> Vec<Result<Option<Job>, Arc<Error>>> {
    let mut jobs = match load_rows(pool, wanted).await {
        Ok(jobs) => jobs,
        Err(error) => return each_failed(wanted.len(), error),
    };
    wanted
        .iter()
        .enumerate()
        .map(|(at, w)| {
            let id = &w.delivery_id;
            let job = if wanted[at + 1..]
                .iter()
                .any(|later| later.delivery_id == *id)
            {
                jobs.get(id).cloned()
            } else {
                jobs.remove(id)
            };
            job.transpose()
        })
        .collect()
}

/// The jobs found among `wanted`, by delivery: looked for by their deliveries' and events'
/// ids, and any not found so (an envelope naming another event than its delivery's, which
/// Warren never sends) by its delivery alone before it counts as gone.
async fn load_rows(
    pool: &Pool,
    wanted: &[Wanted],
) -> Result<HashMap<Uuid, Result<Job, Arc<Error>>>> {
    let client = pool.get().await?;
    let rows = match wanted {
        // A lone delivery (the common case below saturation) takes the cached statement:
        // equality on the primary keys plans well whatever the tables' statistics, and it
        // spares the group's extra round trip.
        [one] => {
            let statement = client.prepare_cached(&LOAD_ONE).await?;
            client
                .query(&statement, &[&one.delivery_id, &one.event_id])
                .await?
        }
        // Cached like the attempt record's (see `records::write_group`): planned once per
        // connection, by key.
        _ => {
            let ids: Vec<Uuid> = wanted.iter().map(|w| w.delivery_id).collect();
            let events: Vec<Uuid> = wanted.iter().map(|w| w.event_id).collect();
            let (first, last) = partitions::id_range(ids.iter().copied());
            let (first_event, last_event) = partitions::id_range(events.iter().copied());
            let statement = client.prepare_cached(&LOAD_GROUP).await?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&ids, &first, &last, &events, &first_event, &last_event];
            client.query(&statement, &params).await?
        }
    };
    let mut jobs: HashMap<Uuid, Result<Job, Arc<Error>>> = rows
        .iter()
        .map(|row| (row.get("id"), Job::from_row(row).map_err(Arc::new)))
        .collect();
    let missing: Vec<Uuid> = wanted
        .iter()
        .map(|w| w.delivery_id)
        .filter(|id| !jobs.contains_key(id))
        .collect();
    if !missing.is_empty() {
        let statement = client.prepare_cached(&LOAD_BY_DELIVERY).await?;
        for row in client.query(&statement, &[&missing]).await? {
            jobs.insert(row.get("id"), Job::from_row(&row).map_err(Arc::new));
        }
    }
    Ok(jobs)
}

/// Loads one job, by its delivery and its event: equalities on the partition keys, so the
/// kept plan opens one partition of each.
static LOAD_ONE: LazyLock<String> = LazyLock::new(|| {
    format!("{JOB_COLUMNS} FROM deliveries d {JOINED} WHERE d.id = $1 AND e.id = $2")
});

/// Loads the jobs of a group: `$1` its deliveries, `$4` their envelopes' events. An array
/// of ids prunes no partition, and each one left in costs every execution its opening
/// (a quarter of a grouped load's time over eight days of history), so `$2`..`$3` and
/// `$5`..`$6` also name each array as a range (`partitions::id_range`), which PostgreSQL
/// prunes by as the statement starts. Each table is still read by its array (never by the
/// range alone, which a plan made while the tables were small and kept might do: days of
/// rows when a group holds a replay of an old event).
pub static LOAD_GROUP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{JOB_COLUMNS} FROM deliveries d {JOINED}
         WHERE d.id = ANY($1) AND d.id BETWEEN $2 AND $3
           AND e.id = ANY($4) AND e.id BETWEEN $5 AND $6"
    )
});

/// Loads jobs by their deliveries alone, every partition of `events` looked in.
static LOAD_BY_DELIVERY: LazyLock<String> =
    LazyLock::new(|| format!("{JOB_COLUMNS} FROM deliveries d {JOINED} WHERE d.id = ANY($1)"));

/// What a job is made of, up to its `FROM`.
const JOB_COLUMNS: &str = "SELECT d.id, d.event_id, d.subscription_id, d.user_id, d.status, d.attempt_count, d.round_start,
                    e.raw_body, e.content_type, e.event_type,
                    -- Only a template reads the parsed body: without one, neither PostgreSQL
                    -- prints it nor the worker parses it.
                    CASE WHEN s.payload_template IS NOT NULL THEN e.payload END AS payload,
                    e.received_at, e.payload IS NOT NULL AS is_json,
                    s.target_url, s.timeout_ms, s.max_attempts, s.headers, s.payload_template,
                    s.signing_secret, s.previous_signing_secret, s.previous_secret_expires_at, s.is_active,
                    s.rate_limit_per_sec, s.circuit_state, s.circuit_opened_at, s.consecutive_failures,
                    s.consecutive_successes, s.batch_max_events, s.batch_max_wait_ms";

/// A delivery's event and subscription, joined to `deliveries d`.
const JOINED: &str = "JOIN events e ON e.id = d.event_id
             JOIN subscriptions s ON s.id = d.subscription_id";

/// Holds a delivery without an attempt: its subscription is not active (paused, or disabled
/// since the delivery was made). Enabling the subscription releases it. Returns whether it
/// was still waiting for this attempt.
pub async fn hold(pool: &Pool, job: &Job) -> Result<bool> {
    let client = pool.get().await?;
    let moved = client
        .execute(
            "UPDATE deliveries SET status = 'held', next_attempt_at = NULL, enqueued = false, updated_at = now()
             WHERE id = $1 AND attempt_count = $2 AND status IN ('pending', 'retrying')",
            &[&job.delivery_id, &i32::try_from(job.attempt_count)?],
        )
        .await?;
    Ok(moved == 1)
}

/// Marks the envelope for `attempt` as confirmed by the broker, unless the delivery has moved
/// on since.
pub async fn mark_enqueued(pool: &Pool, delivery_id: Uuid, attempt: u32) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            &client
                .prepare_cached(
                    "UPDATE deliveries SET enqueued = true
             WHERE id = $1 AND attempt_count = $2 - 1 AND status IN ('pending', 'retrying')",
                )
                .await?,
            &[&delivery_id, &i32::try_from(attempt)?],
        )
        .await?;
    Ok(())
}

/// A breaker as a row of `subscriptions` holds it.
pub fn breaker_from_row(row: &Row) -> Result<Breaker> {
    let state: String = row.get("circuit_state");
    Ok(Breaker {
        state: state.parse()?,
        opened_at: row.get("circuit_opened_at"),
        failures: u32::try_from(row.get::<_, i32>("consecutive_failures"))?,
        successes: u32::try_from(row.get::<_, i32>("consecutive_successes"))?,
    })
}

/// Claims the one probe of a circuit that is half-open, or open past its recovery time
/// (which makes it half-open). Only one worker wins; a probe that never reported back is
/// given up after `probe_ttl`. Returns whether this worker won, and the breaker before.
pub async fn claim_probe(
    pool: &Pool,
    subscription_id: Uuid,
    recovery: std::time::Duration,
    probe_ttl: std::time::Duration,
) -> Result<Option<Breaker>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "WITH before AS (
                 SELECT id, circuit_state, circuit_opened_at, consecutive_failures, consecutive_successes
                 FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE)
             UPDATE subscriptions s SET circuit_state = 'half_open', probe_started_at = now()
             FROM before
             WHERE s.id = before.id AND s.is_active AND (
                 (s.circuit_state = 'open' AND s.circuit_opened_at <= now() - make_interval(secs => $2))
                 OR (s.circuit_state = 'half_open'
                     AND (s.probe_started_at IS NULL OR s.probe_started_at < now() - make_interval(secs => $3))))
             RETURNING before.circuit_state, before.circuit_opened_at, before.consecutive_failures,
                       before.consecutive_successes",
            &[&subscription_id, &recovery.as_secs_f64(), &probe_ttl.as_secs_f64()],
        )
        .await?;
    row.as_ref().map(breaker_from_row).transpose()
}

/// Records that a delivery held back (not attempted) is due again after `wait`.
pub async fn postpone(pool: &Pool, delivery_id: Uuid, wait: std::time::Duration) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $2)
             WHERE id = $1 AND status IN ('pending', 'retrying')",
            &[&delivery_id, &wait.as_secs_f64()],
        )
        .await?;
    Ok(())
}
