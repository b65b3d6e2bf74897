//! Throttles, counted in this process with governor's GCRA: failed logins per email and per
//! client address, and each source's ingest rate (`rate_limit_per_sec`). What is over its
//! limit is a 429 with `Retry-After`.
//!
//! Logins count failures only: a key over its quota is locked until the quota lets one more
//! attempt through, and while locked every attempt is refused, the right password too (so
//! guessing cannot go on at the speed of argon2, and a lock says nothing about the password).

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter,
    clock::{Clock, DefaultClock, QuantaInstant},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{config::Settings, error::ApiError};

/// The window failed logins are counted over: a key's whole quota comes back in it.
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed logins allowed in [`LOGIN_WINDOW`], per email and per client address.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Per email (the account being guessed).
    pub per_email: NonZeroU32,
    /// Per client address (one guesser trying many accounts).
    pub per_address: NonZeroU32,
}

impl LoginLimits {
    /// The limits the settings ask for.
    pub fn of(settings: &Settings) -> Self {
        Self {
            per_email: settings.login_failures_per_email,
            per_address: settings.login_failures_per_address,
        }
    }
}

/// Every throttle of one ingest process.
pub struct Throttles {
    by_email: FailureThrottle<String>,
    by_address: FailureThrottle<IpAddr>,
    sources: Mutex<HashMap<Uuid, SourceRate>>,
    clock: DefaultClock,
}

impl Throttles {
    /// Throttles with these login limits and no source counted yet.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            by_email: FailureThrottle::new(limits.per_email),
            by_address: FailureThrottle::new(limits.per_address),
            sources: Mutex::default(),
            clock: DefaultClock::default(),
        }
    }

    /// A 429 if `email` or `address` is locked by earlier failures.
    pub fn login_allowed(&self, email: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let now = Instant::now();
        let email_wait = self.by_email.locked(email, now);
        let address_wait = address.and_then(|a| self.by_address.locked(&a, now));
        match email_wait.max(address_wait) {
            Some(wait) => Err(too_many("too many failed logins; try again later", wait)),
            None => Ok(()),
        }
    }

    /// Counts a failed login for `email` and `address`.
    pub fn login_failed(&self, email: &str, address: Option<IpAddr>) {
        self.by_email.failed(&email.to_owned(), &self.clock);
        if let Some(address) = address {
            self.by_address.failed(&address, &self.clock);
        }
    }

    /// Counts one event for `source`, limited to `per_sec` (a second's worth at once): a 429
    /// when it is over.
    pub fn ingest(&self, source: Uuid, per_sec: NonZeroU32) -> Result<(), ApiError> {
        let limiter = self.source_limiter(source, per_sec);
        limiter.check().map_err(|not_until| {
            too_many(
                "this source is over its rate limit",
                wait_of(&not_until, &self.clock),
            )
        })
    }

    /// The source's limiter, made anew when its limit changed.
    fn source_limiter(&self, source: Uuid, per_sec: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
        let mut sources = lock(&self.sources);
        let rate = sources
            .entry(source)
            .or_insert_with(|| SourceRate::new(per_sec));
        if rate.per_sec != per_sec {
            *rate = SourceRate::new(per_sec);
        }
        rate.used = Instant::now();
        rate.limiter.clone()
    }

    /// Forgets keys with nothing counted any more, so an attacker's many emails or addresses
    /// (or deleted sources) do not grow the maps for ever.
    pub fn prune(&self) {
        let now = Instant::now();
        self.by_email.prune(now);
        self.by_address.prune(now);
        lock(&self.sources).retain(|_, rate| now.duration_since(rate.used) < SOURCE_IDLE);
    }
}

/// Forgets what no longer counts, every minute until `cancel` trips.
pub async fn prune(throttles: &Throttles, cancel: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => throttles.prune(),
            () = cancel.cancelled() => return,
        }
    }
}

/// One key's failures, and the keys locked until a time.
struct FailureThrottle<K: Hash + Eq + Clone> {
    failures: DefaultKeyedRateLimiter<K>,
    locked: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> FailureThrottle<K> {
    fn new(per_window: NonZeroU32) -> Self {
        let quota = Quota::with_period(LOGIN_WINDOW / per_window.get())
            .unwrap_or_else(|| Quota::per_second(per_window))
            .allow_burst(per_window);
        Self {
            failures: RateLimiter::keyed(quota),
            locked: Mutex::default(),
        }
    }

    /// How long `key` stays locked, if it is.
    fn locked<Q>(&self, key: &Q, now: Instant) -> Option<Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let until = *lock(&self.locked).get(key)?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; a key over its quota is locked until the quota allows one more.
    fn failed(&self, key: &K, clock: &DefaultClock) {
        if let Err(not_until) = self.failures.check_key(key) {
            let until = Instant::now() + wait_of(&not_until, clock);
            lock(&self.locked).insert(key.clone(), until);
        }
    }

    fn prune(&self, now: Instant) {
        self.failures.retain_recent();
        lock(&self.locked).retain(|_, until| *until > now);
    }
}

/// How long a source's limiter is kept unused. Its quota refills in a second, so after this
/// a fresh one counts the same.
const SOURCE_IDLE: Duration = Duration::from_secs(60);

/// A source's limiter, the limit it was made with, and when it was last used.
struct SourceRate {
    per_sec: NonZeroU32,
    limiter: Arc<DefaultDirectRateLimiter>,
    used: Instant,
}

impl SourceRate {
    fn new(per_sec: NonZeroU32) -> Self {
        Self {
            per_sec,
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(per_sec))),
            used: Instant::now(),
        }
    }
}

fn wait_of(not_until: &NotUntil<QuantaInstant>, clock: &DefaultClock) -> Duration {
    not_until.wait_time_from(clock.now())
}

fn too_many(detail: &str, wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        detail: detail.into(),
        retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// A poisoned lock still holds usable counts: a panic elsewhere must not stop throttling.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_email: u32, per_address: u32) -> LoginLimits {
        LoginLimits {
            per_email: NonZeroU32::new(per_email).expect("non-zero"),
            per_address: NonZeroU32::new(per_address).expect("non-zero"),
        }
    }

    #[test]
    fn an_email_is_locked_after_its_quota_of_failures_and_others_are_not() {
        let throttles = Throttles::new(limits(3, 100));
        let address = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..4 {
            assert!(throttles.login_allowed("a@x.io", address).is_ok());
            throttles.login_failed("a@x.io", address);
        }
        let Err(ApiError::TooManyRequests { retry_after, .. }) =
            throttles.login_allowed("a@x.io", address)
        else {
            panic!("the fourth failure locks the email");
        };
        assert!((1..=300).contains(&retry_after), "{retry_after}");
        assert!(throttles.login_allowed("b@x.io", address).is_ok());
    }

    #[test]
    fn an_address_is_locked_across_emails() {
        let throttles = Throttles::new(limits(100, 3));
        let address = Some(IpAddr::from([10, 0, 0, 2]));
        for n in 0..4 {
            throttles.login_failed(&format!("{n}@x.io"), address);
        }
        assert!(throttles.login_allowed("new@x.io", address).is_err());
        assert!(
            throttles
                .login_allowed("new@x.io", Some(IpAddr::from([10, 0, 0, 3])))
                .is_ok()
        );
    }

    #[test]
    fn a_source_gets_a_seconds_worth_then_429_and_a_new_limit_starts_afresh() {
        let throttles = Throttles::new(limits(10, 10));
        let source = Uuid::now_v7();
        let five = NonZeroU32::new(5).expect("non-zero");
        for _ in 0..5 {
            assert!(throttles.ingest(source, five).is_ok());
        }
        assert!(matches!(
            throttles.ingest(source, five),
            Err(ApiError::TooManyRequests { retry_after: 1, .. })
        ));
        assert!(
            throttles
                .ingest(source, NonZeroU32::new(6).expect("non-zero"))
                .is_ok()
        );
        assert!(
            throttles.ingest(Uuid::now_v7(), five).is_ok(),
            "another source"
        );
    }
}
