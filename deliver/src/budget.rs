//! A subscription's token bucket, shared by every worker: a row of `rate_budgets` in
//! PostgreSQL (`rate_limit_per_sec`, burst one second's worth, slowed down while its target
//! says it is overloaded). Workers lease tokens from it in slices ([`lease`]) and spend them
//! from memory ([`crate::limits::RateLimiter`]).
//!
//! The arithmetic is done by the statement that takes the tokens, on the row it has locked,
//! with the database's clock: two workers leasing at once are serialised by the row lock, so
//! together they never take more than the bucket holds.

use std::time::Duration;

use deadpool_postgres::Pool;
use uuid::Uuid;

use crate::error::{Error, Result};

/// How long a throttle signal keeps a subscription slowed down.
pub const THROTTLE_FOR: Duration = Duration::from_secs(30);

/// The slowest a throttled subscription goes, as a share of its rate.
pub const MIN_FACTOR: f64 = 1.0 / 64.0;

/// What a lease got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// Tokens granted (0 when the bucket holds less than one).
    pub granted: u32,
    /// How long until the bucket holds a whole token again, when it holds less than one now.
    pub empty_for: Option<Duration>,
}

/// Refills the subscription's bucket by the time elapsed since it was last refilled (at
/// `rate` per second, times the throttle factor while throttled, capped at one second's
/// worth) and takes up to `want` whole tokens from it. The first lease of a subscription
/// creates its bucket, full.
pub async fn lease(pool: &Pool, subscription: Uuid, rate: u32, want: u32) -> Result<Lease> {
    let client = pool.get().await?;
    let rate = f64::from(rate.max(1));
    let want = i32::try_from(want.max(1)).unwrap_or(i32::MAX);
    let statement = client.prepare_cached(LEASE).await?;
    let mut row = client
        .query_opt(&statement, &[&subscription, &rate, &want])
        .await?;
    if row.is_none() {
        client
            .execute(
                "INSERT INTO rate_budgets (subscription_id, tokens, refilled_at)
                 VALUES ($1, $2, clock_timestamp()) ON CONFLICT (subscription_id) DO NOTHING",
                &[&subscription, &rate.max(1.0)],
            )
            .await?;
        row = client
            .query_opt(&statement, &[&subscription, &rate, &want])
            .await?;
    }
    let row = row.ok_or(Error::NoRateBudget(subscription))?;
    let granted: i32 = row.get("granted");
    let left: f64 = row.get("left");
    let current_rate: f64 = row.get("rate");
    Ok(Lease {
        granted: u32::try_from(granted).unwrap_or(0),
        empty_for: empty_for(left, current_rate),
    })
}

/// Refills and takes tokens in one statement. `before` locks the row (a concurrent lease
/// waits, then reads what that one left); the update works from what it locked.
/// `refilled_at` never goes back, so time is never counted twice.
const LEASE: &str = "
    WITH before AS (
        SELECT subscription_id, tokens, refilled_at, clock_timestamp() AS now,
               $2::float8 * CASE WHEN throttled_until > clock_timestamp() THEN factor ELSE 1 END
                   AS rate
        FROM rate_budgets WHERE subscription_id = $1 FOR NO KEY UPDATE),
    refilled AS (
        SELECT subscription_id, rate, greatest(refilled_at, now) AS at,
               least(greatest(rate, 1),
                     tokens + rate * greatest(0, extract(epoch FROM now - refilled_at)::float8))
                   AS available
        FROM before),
    taken AS (
        SELECT *, least(floor(available)::int4, $3::int4) AS granted FROM refilled)
    UPDATE rate_budgets b SET tokens = t.available - t.granted, refilled_at = t.at
    FROM taken t WHERE b.subscription_id = t.subscription_id
    RETURNING t.granted, b.tokens AS left, t.rate";

/// How long until a bucket holding `left` tokens, refilled at `rate` a second, holds a
/// whole one; `None` when it already does.
pub fn empty_for(left: f64, rate: f64) -> Option<Duration> {
    (left < 1.0).then(|| Duration::from_secs_f64((1.0 - left.max(0.0)) / rate.max(MIN_FACTOR)))
}

/// The target said it is overloaded: halve the subscription's rate (for every worker) for
/// [`THROTTLE_FOR`], down to [`MIN_FACTOR`]. A throttle that has lapsed starts again from
/// the full rate.
pub async fn throttle(pool: &Pool, subscription: Uuid) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE rate_budgets SET
                 factor = greatest(
                     CASE WHEN throttled_until > clock_timestamp() THEN factor ELSE 1 END / 2, $2),
                 throttled_until = clock_timestamp() + make_interval(secs => $3)
             WHERE subscription_id = $1",
            &[&subscription, &MIN_FACTOR, &THROTTLE_FOR.as_secs_f64()],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_says_how_long_until_a_whole_token() {
        assert_eq!(empty_for(1.0, 10.0), None);
        assert_eq!(empty_for(3.5, 10.0), None);
        let wait = empty_for(0.25, 10.0).expect("less than a token");
        assert!((wait.as_secs_f64() - 0.075).abs() < 1e-9, "{wait:?}");
        let wait = empty_for(0.0, 10.0 * MIN_FACTOR).expect("empty");
        assert!((wait.as_secs_f64() - 6.4).abs() < 1e-9, "{wait:?}");
    }
}
