//! The held sweeper: what changes a subscription's held deliveries in bulk, driven by
//! `subscriptions.held_sweep`:
//!
//! - `hold`: it stopped. Its pending and retrying deliveries become held, in batches. The
//!   sweep goes on for [`HOLD_GRACE`], so an attempt in flight when it stopped, recorded as
//!   a retry afterwards, is held too; an envelope that still arrives is held by the worker.
//! - `release`: it was enabled with `{"held": "deliver"}`. Held deliveries go back in line
//!   (`pending`, a new round of attempts), oldest first (by place in line for FIFO), a tick of
//!   the subscription's rate limit at a time, published as a steady stream over that tick, and
//!   only once the last batch is all due and fewer than half a batch of its deliveries wait to
//!   be attempted now: the broker never holds a burst of them in front of other
//!   subscriptions' deliveries, and no statement touches more than a batch. While a release
//!   lasts, new events for the subscription are held too, behind the older ones.
//! - `discard`: it was enabled with `{"held": "discard"}`. Held deliveries become
//!   `discarded`, [`DISCARD_BATCH`] rows per statement.
//!
//! Every ingest process sweeps; a subscription is swept by one at a time (an advisory lock).
//! Once a minute the sweeper also adopts held deliveries an active subscription has without a
//! sweep (an event stored as the subscription was being enabled) and releases them.

use std::time::{Duration, Instant};

use deadpool_postgres::{GenericClient, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    deliveries::recovery,
    dispatch,
    error::{ApiError, Result},
    state::AppState,
};

/// Deliveries turned held per statement.
pub const HOLD_BATCH: i64 = 5_000;

/// Held deliveries discarded per statement.
pub const DISCARD_BATCH: i64 = 10_000;

/// How long a stopped subscription's waiting deliveries keep being held after it stopped:
/// longer than the longest attempt (30 s) and its record.
pub const HOLD_GRACE: Duration = Duration::from_secs(60);

/// How often the sweeper looks for held deliveries no sweep owns.
const ADOPT_EVERY: Duration = Duration::from_secs(60);

/// What a subscription's held deliveries are waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Its waiting deliveries are to become held.
    Hold,
    /// Its held deliveries are to go back in line.
    Release,
    /// Its held deliveries are to be discarded.
    Discard,
}

impl Sweep {
    /// The word stored in `subscriptions.held_sweep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sweep::Hold => "hold",
            Sweep::Release => "release",
            Sweep::Discard => "discard",
        }
    }

    fn parse(word: &str) -> Result<Self> {
        match word {
            "hold" => Ok(Sweep::Hold),
            "release" => Ok(Sweep::Release),
            "discard" => Ok(Sweep::Discard),
            other => Err(ApiError::Internal(anyhow::anyhow!(
                "unknown held sweep `{other}`"
            ))),
        }
    }
}

/// Sweeps every `WARREN_HELD_SWEEP_INTERVAL_MS` until `cancel` trips.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let every = Duration::from_millis(state.settings.held_sweep_interval_ms.max(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut adopted_at: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if adopted_at.is_none_or(|at| at.elapsed() >= ADOPT_EVERY) {
            adopted_at = Some(Instant::now());
            if let Err(error) = adopt_strays(&state).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "looking for stray held deliveries failed"
                );
            }
        }
        if let Err(error) = sweep_all(&state).await {
            tracing::warn!(error = format!("{error:#}"), "held sweep failed");
        }
    }
}

/// A subscription with a sweep to do.
#[derive(Debug, Clone, Copy)]
struct Swept {
    id: Uuid,
    sweep: Sweep,
    /// The subscription's rate limit, per second: a release's pace.
    rate: i64,
    fifo: bool,
    /// How long ago the sweep was asked for.
    age: Duration,
}

/// One pass over every subscription with a sweep to do.
pub async fn sweep_all(state: &AppState) -> Result<()> {
    let client = state.pool.get().await?;
    let rows = client
        .query(
            "SELECT id, held_sweep, rate_limit_per_sec, ordering = 'fifo' AS fifo,
                 extract(epoch FROM now() - coalesce(held_sweep_since, now()))::float8 AS age
             FROM subscriptions WHERE held_sweep IS NOT NULL",
            &[],
        )
        .await?;
    drop(client);
    for row in rows {
        let swept = Swept {
            id: row.get("id"),
            sweep: Sweep::parse(row.get("held_sweep"))?,
            rate: i64::from(row.get::<_, i32>("rate_limit_per_sec")),
            fifo: row.get("fifo"),
            age: Duration::from_secs_f64(row.get::<_, f64>("age").max(0.0)),
        };
        sweep_one(state, swept).await?;
    }
    Ok(())
}

/// Does one step of a subscription's sweep, unless another process is on it.
async fn sweep_one(state: &AppState, swept: Swept) -> Result<()> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let ours: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1::text, 22))",
            &[&swept.id.to_string()],
        )
        .await?
        .get(0);
    if !ours {
        return Ok(());
    }
    match swept.sweep {
        Sweep::Hold => {
            let held = hold_waiting(&tx, swept.id).await?;
            if held == 0 && swept.age >= HOLD_GRACE {
                end_sweep(&tx, swept.id, Sweep::Hold).await?;
            }
            tx.commit().await?;
        }
        Sweep::Discard => {
            let discarded = discard_held(&tx, swept.id).await?;
            if discarded == 0 {
                end_sweep(&tx, swept.id, Sweep::Discard).await?;
            }
            tx.commit().await?;
        }
        Sweep::Release => release_some(state, tx, swept).await?,
    }
    Ok(())
}

/// Holds up to [`HOLD_BATCH`] of a subscription's waiting deliveries that are due at a time
/// of their own (retries, parked ones: `deliveries_scheduled_idx`), then as many of its FIFO
/// line (`deliveries_fifo_line_idx`); returns how many. Their envelopes, when they arrive, are
/// skipped. A fresh delivery of an unordered subscription, due at once, is held by the worker
/// when its envelope arrives.
pub async fn hold_waiting(client: &impl GenericClient, subscription_id: Uuid) -> Result<u64> {
    let mut held = 0;
    for waiting in ["next_attempt_at IS NOT NULL", "fifo_seq IS NOT NULL"] {
        held += client
            .execute(
                &format!(
                    "UPDATE deliveries SET status = 'held', next_attempt_at = NULL, enqueued = false,
                         updated_at = now()
                     WHERE id IN (SELECT id FROM deliveries
                                  WHERE subscription_id = $1 AND status IN ('pending', 'retrying')
                                    AND {waiting}
                                  LIMIT $2 FOR UPDATE SKIP LOCKED)"
                ),
                &[&subscription_id, &HOLD_BATCH],
            )
            .await?;
    }
    Ok(held)
}

/// Discards up to [`DISCARD_BATCH`] of a subscription's held deliveries; returns how many.
async fn discard_held(client: &impl GenericClient, subscription_id: Uuid) -> Result<u64> {
    Ok(client
        .execute(
            "UPDATE deliveries SET status = 'discarded', discarded_at = now(), updated_at = now()
             WHERE id IN (SELECT id FROM deliveries
                          WHERE subscription_id = $1 AND status = 'held'
                          LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&subscription_id, &DISCARD_BATCH],
        )
        .await?)
}

/// Clears a finished sweep, unless the subscription has been given another since.
async fn end_sweep(client: &impl GenericClient, subscription_id: Uuid, sweep: Sweep) -> Result<()> {
    client
        .execute(
            "UPDATE subscriptions SET held_sweep = NULL, held_sweep_since = NULL
             WHERE id = $1 AND held_sweep = $2",
            &[&subscription_id, &sweep.as_str()],
        )
        .await?;
    Ok(())
}

/// A release's batch for a subscription of `rate` deliveries a second, released every
/// `tick` (the sweeper's interval): what the rate limit sends in a tick, within bounds that
/// keep each statement short and each step worth its round trips. Small batches often, not a
/// second's worth at once: each is a write of its rows that PostgreSQL does between other
/// subscriptions' commits.
pub fn release_batch(rate: i64, tick: Duration) -> i64 {
    ((rate as f64 * tick.as_secs_f64()).round() as i64).clamp(10, 1_000)
}

/// How long a release batch of `batch` deliveries takes to reach the main queue, for a
/// subscription of `rate` a second: a little under the time the rate limit takes to send it
/// (never more than a second), so the batch is all due by the sweeper's next tick, and the
/// next one follows at about the rate.
fn release_span(batch: i64, rate: i64) -> Duration {
    let seconds = batch as f64 / rate.max(1) as f64;
    Duration::from_secs_f64(0.9 * seconds.min(1.0))
}

/// Releases the next batch of a subscription's held deliveries, once the last batch is all
/// due and fewer than half a batch wait, and publishes their envelopes paced evenly over
/// [`release_span`] (each delivery's `next_attempt_at` says when its envelope is due): the
/// main queue gets a steady stream at the rate limit, never a burst in front of other
/// subscriptions' deliveries, and the rate limiter has nothing to park. A FIFO subscription's
/// line sends one at a time anyway: its batch is published at once. Ends the release when
/// nothing is held any more.
async fn release_some(state: &AppState, tx: Transaction<'_>, swept: Swept) -> Result<()> {
    let tick = Duration::from_millis(state.settings.held_sweep_interval_ms);
    let batch = release_batch(swept.rate, tick);
    let pace = pace(&tx, swept.id, batch).await?;
    if pace.scheduled || pace.waiting * 2 >= batch {
        return Ok(());
    }
    let spacing = if swept.fifo {
        Duration::ZERO
    } else {
        release_span(batch, swept.rate) / u32::try_from(batch).unwrap_or(u32::MAX)
    };
    let rows = tx
        .query(
            "WITH picked AS (
                 SELECT id, (row_number() OVER (ORDER BY fifo_seq, id) - 1)::int8 AS n
                 FROM (SELECT id, fifo_seq FROM deliveries
                       WHERE subscription_id = $1 AND status = 'held'
                       ORDER BY fifo_seq, id LIMIT $2 FOR UPDATE SKIP LOCKED) h)
             UPDATE deliveries d SET status = 'pending', round_start = d.attempt_count,
                 next_attempt_at = now() + make_interval(secs => picked.n * $3::float8),
                 enqueued = false, updated_at = now()
             FROM picked WHERE d.id = picked.id
             RETURNING d.id, d.event_id, d.subscription_id, d.user_id, d.attempt_count, d.fifo_seq,
                 picked.n",
            &[&swept.id, &batch, &spacing.as_secs_f64()],
        )
        .await?;
    if rows.is_empty() {
        finish_release(&tx, swept).await?;
        tx.commit().await?;
        return Ok(());
    }
    let envelopes = recovery::envelopes(&rows)?;
    tx.commit().await?;
    tracing::debug!(subscription_id = %swept.id, released = envelopes.len(), "held deliveries released");
    let waits = rows.iter().map(|row| {
        let n = u32::try_from(row.get::<_, i64>("n")).unwrap_or(u32::MAX);
        spacing.saturating_mul(n)
    });
    let timed = envelopes.into_iter().zip(waits).collect();
    dispatch::publish_paced(&state.marker, &state.publisher, timed);
    Ok(())
}

/// How far a subscription's release has got, from its deliveries due at a time of their own
/// (`deliveries_scheduled_idx`: released ones are, each at its place in the stream).
struct Pace {
    /// Deliveries due now or within two seconds and not attempted yet, counted up to a batch.
    /// A retry due later is not counted: a few deliveries its receiver keeps refusing,
    /// waiting hours for their next attempt, must not stall the release.
    waiting: i64,
    /// Whether a pending one is not due yet: the last batch still on its way in, or
    /// deliveries an open circuit parked (either holds the next batch back).
    scheduled: bool,
}

async fn pace(client: &impl GenericClient, subscription_id: Uuid, cap: i64) -> Result<Pace> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM (
                         SELECT 1 FROM deliveries
                         WHERE subscription_id = $1 AND status IN ('pending', 'retrying')
                           AND next_attempt_at IS NOT NULL
                           AND next_attempt_at <= now() + interval '2 seconds'
                         LIMIT $2) w) AS waiting,
                    EXISTS (SELECT 1 FROM deliveries
                            WHERE subscription_id = $1 AND status IN ('pending', 'retrying')
                              AND next_attempt_at IS NOT NULL AND status = 'pending'
                              AND next_attempt_at > now()
                              AND next_attempt_at <= now() + interval '5 minutes') AS scheduled",
            &[&subscription_id, &cap],
        )
        .await?;
    Ok(Pace {
        waiting: row.get("waiting"),
        scheduled: row.get("scheduled"),
    })
}

/// Ends a release that found nothing held. For a FIFO subscription, first takes its line's
/// counter lock, which an event's transaction holds from taking its place until it commits:
/// a delivery made held just now (its statement saw the release) is then visible, and keeps
/// the release going, so it cannot be left behind deliveries made after it.
async fn finish_release(tx: &Transaction<'_>, swept: Swept) -> Result<()> {
    if swept.fifo {
        tx.execute(
            "SELECT 1 FROM fifo_sequences WHERE subscription_id = $1 FOR UPDATE",
            &[&swept.id],
        )
        .await?;
    }
    tx.execute(
        "UPDATE subscriptions SET held_sweep = NULL, held_sweep_since = NULL
         WHERE id = $1 AND held_sweep = 'release'
           AND NOT EXISTS (SELECT 1 FROM deliveries WHERE subscription_id = $1 AND status = 'held')",
        &[&swept.id],
    )
    .await?;
    Ok(())
}

/// Starts a release for every active subscription that has held deliveries but no sweep (an
/// event stored while the subscription was being enabled, after its release had ended).
/// Finds the subscriptions with held deliveries with one index probe each.
pub async fn adopt_strays(state: &AppState) -> Result<u64> {
    let client = state.pool.get().await?;
    Ok(client
        .execute(
            "WITH RECURSIVE holding(subscription_id) AS (
                 (SELECT subscription_id FROM deliveries WHERE status = 'held'
                  ORDER BY subscription_id LIMIT 1)
                 UNION ALL
                 SELECT (SELECT d.subscription_id FROM deliveries d
                         WHERE d.status = 'held' AND d.subscription_id > h.subscription_id
                         ORDER BY d.subscription_id LIMIT 1)
                 FROM holding h WHERE h.subscription_id IS NOT NULL)
             UPDATE subscriptions s SET held_sweep = 'release', held_sweep_since = now()
             FROM holding h
             WHERE s.id = h.subscription_id AND s.is_active AND s.held_sweep IS NULL",
            &[],
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_takes_a_tick_of_the_rate_within_bounds() {
        let tick = Duration::from_millis(250);
        assert_eq!(release_batch(2_000, tick), 500);
        assert_eq!(release_batch(1, tick), 10);
        assert_eq!(release_batch(10_000, tick), 1_000);
    }

    #[test]
    fn a_batch_is_paced_over_a_little_under_the_time_its_rate_takes() {
        assert_eq!(release_span(100, 100), Duration::from_millis(900));
        assert_eq!(release_span(1_000, 2_000), Duration::from_millis(450));
        assert_eq!(
            release_span(10, 1),
            Duration::from_millis(900),
            "never longer"
        );
    }

    #[test]
    fn sweeps_round_trip_through_their_stored_words() {
        for sweep in [Sweep::Hold, Sweep::Release, Sweep::Discard] {
            assert_eq!(Sweep::parse(sweep.as_str()).expect("a sweep"), sweep);
        }
        assert!(Sweep::parse("drop").is_err());
    }
}
