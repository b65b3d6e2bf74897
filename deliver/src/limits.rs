//! What keeps a subscription from being hammered or from hogging a worker: its rate limit
//! (`rate_limit_per_sec`, burst one second's worth, held by every worker together: tokens
//! are leased from the subscription's bucket in PostgreSQL, see [`crate::budget`]), slowed
//! down while the target says it is overloaded (429, 502, 504), and a bulkhead capping the
//! deliveries of one subscription this worker has in flight at once.
//!
//! A delivery over a limit is parked in a short wait queue, never failed and never holding a
//! slot other subscriptions could use (a delivery over the bulkhead waits a few milliseconds
//! for a slot first: see [`Bulkhead::enter_within`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{budget, error::Result};

/// How long leased tokens may be spent: what is left after this goes unspent (the bucket
/// is not refunded), so tokens leased ahead and not needed cannot join a later burst.
pub const LEASE_LIFE: Duration = Duration::from_millis(50);

/// A subscription's tokens leased by this worker, and what it knows of its bucket.
#[derive(Debug)]
struct Leased {
    /// Tokens in hand, spendable until `expires`.
    tokens: u32,
    expires: Instant,
    /// When the last lease was taken, and how many tokens were spent since: the pace this
    /// worker spends at, which sizes the next lease.
    leased_at: Instant,
    spent: u32,
    /// The bucket held less than a token at the last lease: nothing to lease before this.
    empty_until: Option<Instant>,
    /// Deliveries waiting for this subscription's next lease.
    waiting: u32,
}

impl Leased {
    fn new(now: Instant) -> Self {
        Self {
            tokens: 0,
            expires: now,
            leased_at: now,
            spent: 0,
            empty_until: None,
            waiting: 0,
        }
    }

    /// A token in hand, or how long until the bucket has one, or `None`: ask the bucket.
    fn take(&mut self, now: Instant) -> Option<Result<(), Duration>> {
        if self.tokens > 0 && now < self.expires {
            self.tokens -= 1;
            self.spent += 1;
            return Some(Ok(()));
        }
        match self.empty_until {
            Some(until) if now < until => Some(Err(until - now)),
            _ => None,
        }
    }

    /// How many tokens to ask for: one for each delivery waiting, or as many as this worker
    /// spent in a lease's life at its recent pace, capped at a lease's life of the rate.
    fn want(&self, rate: u32, now: Instant) -> u32 {
        lease_size(self.waiting, self.spent, now - self.leased_at, rate)
    }

    /// Keeps a lease's tokens; takes the first for the caller when there is one.
    fn fill(&mut self, lease: budget::Lease, now: Instant) -> Result<(), Duration> {
        self.tokens = lease.granted;
        self.expires = now + LEASE_LIFE;
        self.leased_at = now;
        self.spent = 0;
        self.empty_until = lease.empty_for.map(|wait| now + wait);
        if lease.granted == 0 {
            return Err(lease.empty_for.unwrap_or(LEASE_LIFE));
        }
        self.tokens -= 1;
        self.spent = 1;
        Ok(())
    }
}

/// Tokens to lease: at least one per delivery waiting for them; more when this worker has
/// been spending faster than that (its pace over the last lease, for a lease's life), but
/// never more than a lease's life of the rate, so tokens leased ahead are few and spent
/// soon.
pub fn lease_size(waiting: u32, spent: u32, since_lease: Duration, rate: u32) -> u32 {
    let cap = f64::from(rate) * LEASE_LIFE.as_secs_f64();
    let since = since_lease.as_secs_f64().max(LEASE_LIFE.as_secs_f64());
    let pace = f64::from(spent) / since * LEASE_LIFE.as_secs_f64();
    // Truncation is intended: whole tokens, at most a few thousand.
    let ahead = pace.min(cap).floor() as u32;
    waiting.max(ahead).max(1)
}

/// One subscription's lease, and the lock that lets one delivery at a time take the next.
#[derive(Debug)]
struct Local {
    leased: Mutex<Leased>,
    leasing: tokio::sync::Mutex<()>,
}

/// Every subscription's rate limit, as this worker holds it: tokens leased from the
/// subscriptions' buckets in PostgreSQL, spent from memory.
#[derive(Debug)]
pub struct RateLimiter {
    pool: Pool,
    locals: Mutex<HashMap<Uuid, Arc<Local>>>,
}

/// Counts a delivery as waiting for a lease while it lives.
struct Waiting<'a>(&'a Local);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut leased = self.0.leased.lock().expect("the lease lock");
        leased.waiting = leased.waiting.saturating_sub(1);
    }
}

impl RateLimiter {
    /// Leases from the buckets in `pool`'s database.
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            locals: Mutex::default(),
        }
    }

    /// Takes a token for `subscription` (limited to `rate` per second), or says how long
    /// until one is due. Touches PostgreSQL only when the tokens in hand are spent; an `Err`
    /// means it could not be reached.
    pub async fn take(&self, subscription: Uuid, rate: u32) -> Result<Result<(), Duration>> {
        let local = self.local(subscription);
        {
            let mut leased = local.leased.lock().expect("the lease lock");
            if let Some(taken) = leased.take(Instant::now()) {
                return Ok(taken);
            }
            leased.waiting += 1;
        }
        let _waiting = Waiting(&local);
        // One lease at a time per subscription: the deliveries queued behind it take the
        // tokens it brings (it asks for one each).
        let _leasing = local.leasing.lock().await;
        let want = {
            let mut leased = local.leased.lock().expect("the lease lock");
            let now = Instant::now();
            if let Some(taken) = leased.take(now) {
                return Ok(taken);
            }
            leased.want(rate, now)
        };
        let lease = budget::lease(&self.pool, subscription, rate, want).await?;
        let mut leased = local.leased.lock().expect("the lease lock");
        Ok(leased.fill(lease, Instant::now()))
    }

    /// The target said it is overloaded: halve the subscription's rate for a while, for
    /// every worker, and drop the tokens this one holds.
    pub async fn throttle(&self, subscription: Uuid) -> Result<()> {
        {
            let local = self.local(subscription);
            let mut leased = local.leased.lock().expect("the lease lock");
            leased.tokens = 0;
            leased.empty_until = None;
        }
        budget::throttle(&self.pool, subscription).await
    }

    fn local(&self, subscription: Uuid) -> Arc<Local> {
        let mut locals = self.locals.lock().expect("the limiter lock");
        locals
            .entry(subscription)
            .or_insert_with(|| {
                Arc::new(Local {
                    leased: Mutex::new(Leased::new(Instant::now())),
                    leasing: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }
}

/// Deliveries in flight per subscription, capped.
#[derive(Debug)]
pub struct Bulkhead {
    cap: usize,
    counts: Arc<Mutex<HashMap<Uuid, Share>>>,
}

/// One subscription's deliveries in flight, and how a delivery waiting for a slot hears
/// that one was given back.
#[derive(Debug, Default)]
struct Share {
    count: usize,
    freed: Arc<Notify>,
}

/// A slot in the bulkhead, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    subscription: Uuid,
    counts: Arc<Mutex<HashMap<Uuid, Share>>>,
}

impl Bulkhead {
    /// At most `cap` deliveries of one subscription at once.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            counts: Arc::default(),
        }
    }

    /// A slot for a delivery of `subscription`, unless it already has its share.
    pub fn enter(&self, subscription: Uuid) -> Option<Slot> {
        self.try_enter(subscription).ok()
    }

    /// A slot for a delivery of `subscription`, waiting up to `patience` for one to be given
    /// back when it already has its share. A fast target gives slots back within
    /// milliseconds, so its deliveries are attempted instead of parked for a second; a slow
    /// one does not, and its deliveries are parked after `patience`, holding the worker's
    /// prefetch no longer than that.
    pub async fn enter_within(&self, subscription: Uuid, patience: Duration) -> Option<Slot> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let freed = match self.try_enter(subscription) {
                Ok(slot) => return Some(slot),
                Err(freed) => freed,
            };
            // A slot given back between the try and this wait left a permit: no wake is lost.
            if tokio::time::timeout_at(deadline, freed.notified())
                .await
                .is_err()
            {
                return self.enter(subscription);
            }
        }
    }

    /// A slot, or what announces the next one given back.
    fn try_enter(&self, subscription: Uuid) -> Result<Slot, Arc<Notify>> {
        let mut counts = self.counts.lock().expect("the counts lock");
        let share = counts.entry(subscription).or_default();
        if share.count >= self.cap {
            return Err(share.freed.clone());
        }
        share.count += 1;
        Ok(Slot {
            subscription,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("the counts lock");
        if let Some(share) = counts.get_mut(&self.subscription) {
            share.count = share.count.saturating_sub(1);
            share.freed.notify_one();
            if share.count == 0 {
                counts.remove(&self.subscription);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_asks_for_a_token_per_waiting_delivery() {
        assert_eq!(lease_size(0, 0, Duration::ZERO, 10), 1);
        assert_eq!(lease_size(7, 0, Duration::from_secs(5), 10), 7);
        assert_eq!(lease_size(300, 0, Duration::ZERO, 100), 300);
    }

    #[test]
    fn a_busy_worker_leases_ahead_at_its_pace_but_never_more_than_a_lease_life_of_the_rate() {
        // 100 spent in 100 ms: 1,000/s, so 50 for the next 50 ms.
        assert_eq!(lease_size(1, 100, Duration::from_millis(100), 10_000), 50);
        // A faster pace is capped at 50 ms of the rate (10,000/s: 500).
        assert_eq!(
            lease_size(1, 5_000, Duration::from_millis(100), 10_000),
            500
        );
        // At 10/s a lease's life holds half a token: never more than asked for.
        assert_eq!(lease_size(1, 10, Duration::from_millis(50), 10), 1);
        // An idle worker asks for what is waiting.
        assert_eq!(lease_size(2, 3, Duration::from_secs(10), 10_000), 2);
    }

    #[test]
    fn tokens_in_hand_are_spent_until_they_expire_then_the_bucket_is_asked_again() {
        let start = Instant::now();
        let mut leased = Leased::new(start);
        assert_eq!(leased.take(start), None, "nothing in hand: ask the bucket");
        let lease = budget::Lease {
            granted: 3,
            empty_for: None,
        };
        assert_eq!(leased.fill(lease, start), Ok(()));
        assert_eq!(leased.take(start), Some(Ok(())));
        assert_eq!(leased.take(start), Some(Ok(())));
        assert_eq!(leased.take(start), None, "three granted, three spent");
        leased.fill(lease, start).expect("a token");
        assert_eq!(leased.take(start + LEASE_LIFE), None, "expired unspent");
    }

    #[test]
    fn an_empty_bucket_parks_deliveries_without_asking_again_until_a_token_is_due() {
        let start = Instant::now();
        let mut leased = Leased::new(start);
        let empty = budget::Lease {
            granted: 0,
            empty_for: Some(Duration::from_millis(100)),
        };
        assert_eq!(leased.fill(empty, start), Err(Duration::from_millis(100)));
        assert_eq!(
            leased.take(start + Duration::from_millis(40)),
            Some(Err(Duration::from_millis(60)))
        );
        assert_eq!(leased.take(start + Duration::from_millis(100)), None);
    }

    #[test]
    fn the_bulkhead_caps_a_subscription_and_frees_a_slot_when_a_delivery_ends() {
        let bulkhead = Bulkhead::new(2);
        let (sub, other) = (Uuid::now_v7(), Uuid::now_v7());
        let first = bulkhead.enter(sub).expect("a slot");
        let _second = bulkhead.enter(sub).expect("a slot");
        assert!(
            bulkhead.enter(sub).is_none(),
            "a third would exceed its share"
        );
        assert!(
            bulkhead.enter(other).is_some(),
            "other subscriptions are not affected"
        );
        drop(first);
        assert!(bulkhead.enter(sub).is_some());
    }

    #[tokio::test]
    async fn a_delivery_over_the_cap_takes_a_slot_given_back_within_its_patience() {
        let bulkhead = Arc::new(Bulkhead::new(1));
        let sub = Uuid::now_v7();
        let first = bulkhead.enter(sub).expect("a slot");
        let giving_back = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(first);
        });
        let waited = Instant::now();
        let second = bulkhead.enter_within(sub, Duration::from_secs(5)).await;
        assert!(second.is_some(), "the slot given back is taken");
        assert!(
            waited.elapsed() < Duration::from_secs(1),
            "taken when given back, not at the end of the patience: {:?}",
            waited.elapsed()
        );
        giving_back.await.expect("given back");
        assert!(
            bulkhead.enter(sub).is_none(),
            "the waiter holds the only slot"
        );
    }

    #[tokio::test]
    async fn a_delivery_over_the_cap_gives_up_when_no_slot_comes_back() {
        let bulkhead = Bulkhead::new(1);
        let sub = Uuid::now_v7();
        let _held = bulkhead.enter(sub).expect("a slot");
        let waited = Instant::now();
        assert!(
            bulkhead
                .enter_within(sub, Duration::from_millis(30))
                .await
                .is_none()
        );
        assert!(waited.elapsed() >= Duration::from_millis(30));
        assert!(
            bulkhead
                .enter_within(Uuid::now_v7(), Duration::ZERO)
                .await
                .is_some(),
            "another subscription is not affected"
        );
    }
}
