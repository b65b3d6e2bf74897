//! Circuit-breaker updates, in groups. Every failed attempt, and the success after one, moves
//! its subscription's breaker under the subscription row's lock, so concurrent attempts count
//! every failure. Taken one attempt at a time, that lock was a queue: a busy subscription
//! whose target fails now and then had most of the worker's handlers waiting on its row (ten
//! backends in `Lock:tuple` at 200 events/s with 30 % failures). Signals that arrive together
//! now share one transaction: it locks their subscriptions in id order, folds each
//! subscription's signals through [`circuit::after`] in arrival order (each attempt still gets
//! the breaker before and after its own step), and stores each breaker once. The
//! notifications its transitions call for (see [`crate::notices`]) commit with it.

use std::{collections::HashMap, sync::Arc, time::Duration};

use deadpool_postgres::{GenericClient, Pool};
use time::OffsetDateTime;
use uuid::Uuid;
use warren_shared::{
    group::{Grouping, Queue, each_failed},
    notify::DEFAULT_MIN_INTERVAL,
};

use crate::{
    circuit::{self, Breaker, Signal, Thresholds, Transition},
    error::{Error, Result},
    notices,
    store::breaker_from_row,
};

/// Most signals in one transaction.
const MAX_GROUP: usize = 256;

/// Transactions in flight at once.
const WRITERS: usize = 2;

/// What an attempt did to its subscription's breaker: the breaker before its step and the
/// transition, or `None` when nothing changed (or the subscription is gone).
pub type Moved = Option<(Breaker, Transition)>;

/// One attempt's signal.
struct Signalled {
    subscription_id: Uuid,
    signal: Signal,
    at: OffsetDateTime,
}

/// Where handlers hand their signals; cheap to clone.
#[derive(Clone)]
pub struct Breakers {
    queue: Queue<Signalled, Result<Moved, Arc<Error>>>,
}

impl Breakers {
    /// Starts the writers on `pool`, telling owners of transitions at most once per
    /// [`DEFAULT_MIN_INTERVAL`] per subscription and kind.
    pub fn start(pool: Pool, thresholds: Thresholds) -> Self {
        Self::start_notifying(pool, thresholds, DEFAULT_MIN_INTERVAL)
    }

    /// Starts the writers on `pool`, telling owners of transitions (circuit opened, closed
    /// again, subscription disabled) at most once per `notify_interval` per subscription and
    /// kind.
    pub fn start_notifying(pool: Pool, thresholds: Thresholds, notify_interval: Duration) -> Self {
        let grouping = Grouping::counted(MAX_GROUP, WRITERS);
        let queue = Queue::start(grouping, move |signals: Vec<Signalled>| {
            let pool = pool.clone();
            async move {
                match apply_group(&pool, &thresholds, notify_interval, &signals).await {
                    Ok(moved) => moved.into_iter().map(Ok).collect(),
                    Err(error) => each_failed(signals.len(), error),
                }
            }
        });
        Self { queue }
    }

    /// Moves the subscription's breaker by an attempt's `signal` at `at`, disabling the
    /// subscription when the step says so.
    pub async fn apply(
        &self,
        subscription_id: Uuid,
        signal: Signal,
        at: OffsetDateTime,
    ) -> Result<Moved> {
        let signalled = Signalled {
            subscription_id,
            signal,
            at,
        };
        self.queue.submit(signalled).await?.map_err(Error::Grouped)
    }
}

/// A subscription's breaker within a group: as it stands after the signals so far, and
/// whether (and why) the subscription is to be disabled.
struct Folding {
    breaker: Breaker,
    disable: Option<String>,
    changed: bool,
}

/// One transaction for the group, which also raises the notifications its transitions
/// call for; one answer per signal, in order.
async fn apply_group(
    pool: &Pool,
    thresholds: &Thresholds,
    notify_interval: Duration,
    signals: &[Signalled],
) -> Result<Vec<Moved>> {
    let mut ids: Vec<Uuid> = signals.iter().map(|s| s.subscription_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut folding = lock(&tx, &ids).await?;
    let moved: Vec<Moved> = signals
        .iter()
        .map(|s| step(folding.get_mut(&s.subscription_id), s, thresholds))
        .collect();
    let told = signals.iter().zip(&moved).filter_map(|(signal, moved)| {
        let (before, transition) = moved.as_ref()?;
        notices::of_transition(signal.subscription_id, before, transition)
    });
    notices::raise_transitions(&tx, told.collect(), notify_interval).await?;
    store(&tx, &folding).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Locks the subscriptions' rows, in id order (so two groups cannot deadlock), and reads
/// their breakers.
async fn lock(client: &impl GenericClient, ids: &[Uuid]) -> Result<HashMap<Uuid, Folding>> {
    let statement = client
        .prepare_cached(
            "SELECT id, circuit_state, circuit_opened_at, consecutive_failures, consecutive_successes
             FROM subscriptions WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        )
        .await?;
    client
        .query(&statement, &[&ids])
        .await?
        .iter()
        .map(|row| {
            let folding = Folding {
                breaker: breaker_from_row(row)?,
                disable: None,
                changed: false,
            };
            Ok((row.get("id"), folding))
        })
        .collect()
}

/// One signal's step; `None` when it changes nothing or its subscription is gone.
fn step(folding: Option<&mut Folding>, signal: &Signalled, thresholds: &Thresholds) -> Moved {
    let folding = folding?;
    let before = folding.breaker;
    let transition = circuit::after(&before, signal.signal, thresholds, signal.at);
    if !transition.changes(&before) {
        return None;
    }
    folding.breaker = transition.breaker;
    if transition.disable.is_some() {
        folding.disable.clone_from(&transition.disable);
    }
    folding.changed = true;
    Some((before, transition))
}

/// Stores the breakers that changed, in one statement.
async fn store(client: &impl GenericClient, folding: &HashMap<Uuid, Folding>) -> Result<()> {
    let changed: Vec<(&Uuid, &Folding)> = folding.iter().filter(|(_, f)| f.changed).collect();
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = changed.iter().map(|(id, _)| **id).collect();
    let states: Vec<&str> = changed
        .iter()
        .map(|(_, f)| f.breaker.state.as_str())
        .collect();
    let opened: Vec<Option<OffsetDateTime>> =
        changed.iter().map(|(_, f)| f.breaker.opened_at).collect();
    let failures = changed
        .iter()
        .map(|(_, f)| i32::try_from(f.breaker.failures))
        .collect::<Result<Vec<i32>, _>>()?;
    let successes = changed
        .iter()
        .map(|(_, f)| i32::try_from(f.breaker.successes))
        .collect::<Result<Vec<i32>, _>>()?;
    let disable: Vec<Option<&str>> = changed.iter().map(|(_, f)| f.disable.as_deref()).collect();
    let statement = client
        .prepare_cached(
            "UPDATE subscriptions s SET circuit_state = x.state, circuit_opened_at = x.opened_at,
                 consecutive_failures = x.failures, consecutive_successes = x.successes,
                 probe_started_at = NULL,
                 is_active = s.is_active AND x.disable IS NULL,
                 disabled_reason = coalesce(x.disable, s.disabled_reason),
                 -- A subscription disabled now holds its waiting deliveries (ingest's held
                 -- sweeper turns them `held`); one that stays as it was keeps its sweep.
                 held_sweep = CASE WHEN x.disable IS NOT NULL AND s.is_active THEN 'hold' ELSE s.held_sweep END,
                 held_sweep_since = CASE WHEN x.disable IS NOT NULL AND s.is_active THEN now()
                                         ELSE s.held_sweep_since END,
                 updated_at = now()
             FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::int[], $6::text[])
                 AS x(id, state, opened_at, failures, successes, disable)
             WHERE s.id = x.id",
        )
        .await?;
    client
        .execute(
            &statement,
            &[&ids, &states, &opened, &failures, &successes, &disable],
        )
        .await?;
    Ok(())
}
