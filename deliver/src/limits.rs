//! What one worker does to keep a subscription from being hammered or from hogging it:
//! a token bucket per subscription (`rate_limit_per_sec`, burst one second's worth), slowed
//! down while the target says it is overloaded (429, 502, 504), and a bulkhead capping the
//! deliveries of one subscription in flight at once.
//!
//! These live in the worker's memory: with N worker processes a subscription may receive up
//! to N times its rate. A delivery over a limit is parked in a short wait queue, never
//! failed and never holding a slot other subscriptions could use (a delivery over the
//! bulkhead waits a few milliseconds for a slot first: see [`Bulkhead::enter_within`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;
use uuid::Uuid;

/// How long a throttle signal keeps a subscription slowed down.
const THROTTLE_FOR: Duration = Duration::from_secs(30);

/// The slowest a throttled subscription goes, as a share of its rate.
const MIN_FACTOR: f64 = 1.0 / 64.0;

/// One subscription's token bucket.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    /// The share of the configured rate currently allowed (halved by each throttle signal).
    factor: f64,
    throttled_until: Option<Instant>,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Self {
        Self {
            tokens: rate,
            refilled: now,
            factor: 1.0,
            throttled_until: None,
        }
    }

    /// Takes a token, or says how long until one is due.
    fn take(&mut self, rate: f64, now: Instant) -> Result<(), Duration> {
        if self.throttled_until.is_some_and(|until| now >= until) {
            self.factor = 1.0;
            self.throttled_until = None;
        }
        let rate = (rate * self.factor).max(f64::MIN_POSITIVE);
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        // The burst is one second's worth of the (current) rate.
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }

    fn throttle(&mut self, now: Instant) {
        self.factor = (self.factor / 2.0).max(MIN_FACTOR);
        self.throttled_until = Some(now + THROTTLE_FOR);
    }
}

/// The token buckets of every subscription this worker delivers to.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

impl RateLimiter {
    /// Takes a token for `subscription` (limited to `rate` per second), or says how long
    /// until one is due.
    pub fn take(&self, subscription: Uuid, rate: u32) -> Result<(), Duration> {
        self.take_at(subscription, rate, Instant::now())
    }

    fn take_at(&self, subscription: Uuid, rate: u32, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(rate.max(1));
        let mut buckets = self.buckets.lock().expect("the buckets lock");
        buckets
            .entry(subscription)
            .or_insert_with(|| Bucket::new(rate, now))
            .take(rate, now)
    }

    /// The target said it is overloaded: halve the subscription's rate for a while.
    pub fn throttle(&self, subscription: Uuid) {
        self.throttle_at(subscription, Instant::now());
    }

    fn throttle_at(&self, subscription: Uuid, now: Instant) {
        let mut buckets = self.buckets.lock().expect("the buckets lock");
        if let Some(bucket) = buckets.get_mut(&subscription) {
            bucket.throttle(now);
        }
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
    fn a_bucket_allows_a_seconds_burst_then_its_rate() {
        let limiter = RateLimiter::default();
        let (sub, start) = (Uuid::now_v7(), Instant::now());
        for _ in 0..5 {
            assert_eq!(limiter.take_at(sub, 5, start), Ok(()));
        }
        let wait = limiter
            .take_at(sub, 5, start)
            .expect_err("the burst is spent");
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-6, "{wait:?}");
        assert_eq!(
            limiter.take_at(sub, 5, start + Duration::from_millis(200)),
            Ok(())
        );
    }

    #[test]
    fn subscriptions_have_buckets_of_their_own() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        let (busy, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(limiter.take_at(busy, 1, start), Ok(()));
        assert!(limiter.take_at(busy, 1, start).is_err());
        assert_eq!(limiter.take_at(other, 1, start), Ok(()));
    }

    #[test]
    fn a_throttled_subscription_goes_at_half_its_rate_until_the_throttle_lapses() {
        let limiter = RateLimiter::default();
        let (sub, start) = (Uuid::now_v7(), Instant::now());
        for _ in 0..10 {
            limiter.take_at(sub, 10, start).expect("a token");
        }
        limiter.throttle_at(sub, start);
        let wait = limiter.take_at(sub, 10, start).expect_err("empty");
        assert!(
            (wait.as_secs_f64() - 0.2).abs() < 1e-6,
            "half of 10/s is one per 200 ms: {wait:?}"
        );
        let later = start + THROTTLE_FOR + Duration::from_secs(1);
        assert_eq!(limiter.take_at(sub, 10, later), Ok(()));
        let mut taken = 1;
        while limiter.take_at(sub, 10, later).is_ok() {
            taken += 1;
        }
        assert_eq!(taken, 10, "the full burst is back");
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
