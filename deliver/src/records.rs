//! Attempt records, written in groups: each finished attempt is queued with its outcome,
//! and a few writers take turns recording every attempt waiting in one statement (the
//! deliveries moved on and the attempt rows inserted together), so a busy worker pays one
//! round trip and one statement per group instead of one per attempt.

use std::sync::{Arc, LazyLock};

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    group::{Grouping, Queue, each_failed},
    model::DeliveryStatus,
    partitions,
};

use crate::{
    decision::Decision,
    error::{Error, Result},
    http::AttemptResult,
    store::Job,
};

/// Most attempts recorded in one statement.
const MAX_GROUP: usize = 128;

/// Statements in flight at once (each holds a pool connection while it runs).
const WRITERS: usize = 2;

/// One attempt, ready to record.
pub struct Attempt<'a> {
    /// Its id (the `x-request-id` the receiver saw).
    pub id: Uuid,
    /// Its number over the delivery's whole life.
    pub number: u32,
    /// What happened.
    pub result: &'a AttemptResult,
    /// The batch it travelled in, if it was one of a batch.
    pub batch_id: Option<Uuid>,
}

/// An attempt's row and the delivery's move, as recorded.
struct Row {
    delivery_id: Uuid,
    status: &'static str,
    attempt: i32,
    next_attempt_at: Option<OffsetDateTime>,
    status_code: Option<i32>,
    error_kind: Option<&'static str>,
    attempt_id: Uuid,
    started_at: OffsetDateTime,
    duration_ms: i32,
    excerpt: Option<String>,
    batch_id: Option<Uuid>,
}

impl Row {
    fn new(job: &Job, attempt: &Attempt<'_>, decision: Decision) -> Result<Self> {
        let result = attempt.result;
        let status = match decision {
            Decision::Succeeded => DeliveryStatus::Succeeded,
            Decision::Dead => DeliveryStatus::Dead,
            Decision::Retry { .. } => DeliveryStatus::Retrying,
        };
        Ok(Self {
            delivery_id: job.delivery_id,
            status: status.as_str(),
            attempt: i32::try_from(attempt.number)?,
            next_attempt_at: decision.next_attempt_at(result.ended_at()),
            status_code: result.status_code.map(i32::from),
            error_kind: result.error_kind.map(|k| k.as_str()),
            attempt_id: attempt.id,
            started_at: result.started_at,
            duration_ms: i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX),
            excerpt: result.excerpt.clone(),
            batch_id: attempt.batch_id,
        })
    }
}

/// Where handlers queue their attempts; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    queue: Queue<Row, Result<bool, Arc<Error>>>,
}

impl Recorder {
    /// Starts the writers on `pool`.
    pub fn start(pool: Pool) -> Self {
        let grouping = Grouping::counted(MAX_GROUP, WRITERS);
        let queue = Queue::start(grouping, move |rows| {
            let pool = pool.clone();
            async move { record_group(&pool, &rows).await }
        });
        Self { queue }
    }

    /// Records the attempt and moves the delivery on, only if the delivery still waits for
    /// exactly this attempt. Returns `false` when another worker got there first (nothing
    /// is written then).
    pub async fn record(
        &self,
        job: &Job,
        attempt: &Attempt<'_>,
        decision: Decision,
    ) -> Result<bool> {
        let row = Row::new(job, attempt, decision)?;
        self.queue.submit(row).await?.map_err(Error::Grouped)
    }
}

/// Records a group in one statement; one answer per row, in order. If the statement fails
/// (nothing of the group was written) and the group has several rows, each is tried again
/// alone, so one row the database refuses cannot fail the others.
async fn record_group(pool: &Pool, rows: &[Row]) -> Vec<Result<bool, Arc<Error>>> {
    match write(pool, rows).await {
        Ok(recorded) => rows
            .iter()
            .map(|row| Ok(recorded.contains(&row.attempt_id)))
            .collect(),
        Err(error) if rows.len() > 1 && error.refused_by_the_database() => {
            tracing::warn!(
                error = error.chain(),
                attempts = rows.len(),
                "a group of attempts failed; recording them one by one"
            );
            let mut answers = Vec::with_capacity(rows.len());
            for row in rows {
                let alone = std::slice::from_ref(row);
                answers.push(
                    write(pool, alone)
                        .await
                        .map(|recorded| recorded.contains(&row.attempt_id))
                        .map_err(Error::grouped),
                );
            }
            answers
        }
        Err(error) => each_failed(rows.len(), error),
    }
}

/// The attempt ids recorded.
async fn write(pool: &Pool, rows: &[Row]) -> Result<std::collections::HashSet<Uuid>> {
    match rows {
        [row] => write_one(pool, row).await,
        _ => write_group(pool, rows).await,
    }
}

/// Moves each delivery of `x` on, inserts its attempt row and adds the attempt to its
/// subscription's minute and hour rollups, for the statements below (`x` being the group or
/// the one attempt). The rollups count `moved`: every delivery moved has its attempt inserted
/// (that insert has no `ON CONFLICT`, so a clash fails the whole statement, rollups
/// included), and a raced duplicate moves nothing, so each recorded attempt is counted once.
/// Grouped per key (an upsert may touch a row once per statement) and ordered, so two
/// writers lock the rows of a subscription's minute and hour in the same order. `among`
/// adds conditions on `d` (the group's array and range of ids).
fn record(among: &str) -> String {
    let per_minute = rollup("per_minute", "subscription_rollups_minute", "1 minute");
    let per_hour = rollup("per_hour", "subscription_rollups_hour", "1 hour");
    format!(
        "moved AS (
         UPDATE deliveries AS d SET status = x.status, attempt_count = x.attempt,
                next_attempt_at = x.next_attempt_at, enqueued = false,
                last_status_code = x.status_code, last_error_kind = x.error_kind,
                updated_at = now(),
                succeeded_at = CASE WHEN x.status = 'succeeded' THEN now() END,
                dead_at = CASE WHEN x.status = 'dead' THEN now() END
         FROM x
         WHERE d.id = x.delivery_id{among} AND d.attempt_count = x.attempt - 1
           AND d.status IN ('pending', 'retrying')
         RETURNING d.id, d.user_id, d.subscription_id, x.status, x.attempt, x.status_code,
             x.error_kind, x.attempt_id, x.started_at, x.duration_ms, x.excerpt, x.batch_id),
     {per_minute},
     {per_hour}
     INSERT INTO delivery_attempts (id, user_id, delivery_id, subscription_id, attempt,
         started_at, duration_ms, status_code, error_kind, response_excerpt, batch_id)
     SELECT attempt_id, user_id, id, subscription_id, attempt, started_at, duration_ms,
         status_code, error_kind, excerpt, batch_id FROM moved
     RETURNING id"
    )
}

/// The CTE `name` adding the attempts `moved` to `table`, one row per subscription per
/// `width` (an interval).
fn rollup(name: &str, table: &str, width: &str) -> String {
    format!(
        "{name} AS (
         INSERT INTO {table} AS r (subscription_id, bucket, attempts, succeeded, timeouts,
             dead, duration_ms_sum, latency)
         SELECT subscription_id, date_bin('{width}', started_at, TIMESTAMPTZ 'epoch'),
             count(*), count(*) FILTER (WHERE error_kind IS NULL),
             count(*) FILTER (WHERE error_kind = 'timeout'),
             count(*) FILTER (WHERE status = 'dead'), sum(duration_ms),
             warren_latency_histogram(duration_ms)
         FROM moved GROUP BY 1, 2 ORDER BY 1, 2
         ON CONFLICT (subscription_id, bucket) DO UPDATE SET
             attempts = r.attempts + excluded.attempts,
             succeeded = r.succeeded + excluded.succeeded,
             timeouts = r.timeouts + excluded.timeouts, dead = r.dead + excluded.dead,
             duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum,
             latency = warren_latency_add(r.latency, excluded.latency))"
    )
}

/// Records one attempt.
static RECORD_ONE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH x AS (
                 SELECT $1::uuid AS delivery_id, $2::text AS status, $3::int AS attempt,
                     $4::timestamptz AS next_attempt_at, $5::int AS status_code,
                     $6::text AS error_kind, $7::uuid AS attempt_id,
                     $8::timestamptz AS started_at, $9::int AS duration_ms, $10::text AS excerpt,
                     $11::uuid AS batch_id),
             {}",
        record("")
    )
});

/// Records a group of attempts: `$1`..`$11` the group's columns, `$12`..`$13` the least
/// and greatest of its deliveries' ids (`partitions::id_range`). Joined to an array, the
/// update of `deliveries` would open every partition at every execution (the worker's
/// busiest statement at `max` over eight days of history); the range prunes them as the kept
/// plan starts, as the grouped load's do. Each partition is still read by the array itself
/// (`d.id = ANY($1)`), never by the range alone, which a plan made on nearly empty tables
/// would otherwise take and keep: days of rows when a group holds a replay of an old event.
pub static RECORD_GROUP: LazyLock<String> = LazyLock::new(|| {
    format!("WITH x AS (
                     SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[],
                         $5::int[], $6::text[], $7::uuid[], $8::timestamptz[], $9::int[], $10::text[],
                         $11::uuid[])
                     AS x(delivery_id, status, attempt, next_attempt_at, status_code, error_kind,
                          attempt_id, started_at, duration_ms, excerpt, batch_id)
                     ORDER BY delivery_id),
                 {}", record(" AND d.id = ANY($1) AND d.id BETWEEN $12 AND $13"))
});

/// A lone attempt (the common case below saturation), by the cached statement: its
/// delivery is found by primary-key equality, which plans well whatever the table's
/// statistics, and it spares a group's parse and plan (about 0.2 ms of PostgreSQL CPU).
async fn write_one(pool: &Pool, row: &Row) -> Result<std::collections::HashSet<Uuid>> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(&RECORD_ONE).await?;
    let recorded = client
        .query(
            &statement,
            &[
                &row.delivery_id,
                &row.status,
                &row.attempt,
                &row.next_attempt_at,
                &row.status_code,
                &row.error_kind,
                &row.attempt_id,
                &row.started_at,
                &row.duration_ms,
                &row.excerpt,
                &row.batch_id,
            ],
        )
        .await?;
    Ok(recorded.iter().map(|row| row.get("id")).collect())
}

/// Several attempts in one statement.
async fn write_group(pool: &Pool, rows: &[Row]) -> Result<std::collections::HashSet<Uuid>> {
    let column = |pick: &dyn Fn(&Row) -> Uuid| rows.iter().map(pick).collect::<Vec<Uuid>>();
    let deliveries = column(&|r| r.delivery_id);
    let attempt_ids = column(&|r| r.attempt_id);
    let statuses: Vec<&str> = rows.iter().map(|r| r.status).collect();
    let attempts: Vec<i32> = rows.iter().map(|r| r.attempt).collect();
    let next_attempts: Vec<Option<OffsetDateTime>> =
        rows.iter().map(|r| r.next_attempt_at).collect();
    let codes: Vec<Option<i32>> = rows.iter().map(|r| r.status_code).collect();
    let kinds: Vec<Option<&str>> = rows.iter().map(|r| r.error_kind).collect();
    let started: Vec<OffsetDateTime> = rows.iter().map(|r| r.started_at).collect();
    let durations: Vec<i32> = rows.iter().map(|r| r.duration_ms).collect();
    let excerpts: Vec<Option<&str>> = rows.iter().map(|r| r.excerpt.as_deref()).collect();
    let batches: Vec<Option<Uuid>> = rows.iter().map(|r| r.batch_id).collect();
    let (first, last) = partitions::id_range(deliveries.iter().copied());
    let client = pool.get().await?;
    // Cached, and planned once per connection: the worker's pool prices sequential scans
    // out (`db::Plans::KeyLookups`), so the plan finds the group's deliveries by key even
    // when it was made while the table was nearly empty. (Left to PostgreSQL's defaults, the
    // plan made on first use was a sequential scan of every delivery per group, and
    // preparing afresh per group instead cost as much to plan as to run.)
    let statement = client.prepare_cached(&RECORD_GROUP).await?;
    let recorded = client
        .query(
            &statement,
            &[
                &deliveries,
                &statuses,
                &attempts,
                &next_attempts,
                &codes,
                &kinds,
                &attempt_ids,
                &started,
                &durations,
                &excerpts,
                &batches,
                &first,
                &last,
            ],
        )
        .await?;
    Ok(recorded.iter().map(|row| row.get("id")).collect())
}
