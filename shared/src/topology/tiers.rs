//! The wait queues' tiers: one per distinct wait of the retry schedule, and the park tier.

use std::time::Duration;

use super::Topology;
use crate::retry::tier_name;

/// One wait queue: messages sit in `<prefix>.retry.<name>` for at most `ttl`, then RabbitMQ
/// dead-letters them back to the main exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// The tier's name as it appears in queue names and routing keys (`5s`, `2m`, `1h`).
    pub name: String,
    /// The queue's `x-message-ttl`: the longest a message waits in this tier.
    pub ttl: Duration,
}

/// The wait queue for deliveries parked briefly (over a rate limit, past a bulkhead, or
/// waiting for a half-open circuit's probe): one second, shorter than any retry.
pub const PARK_TIER: Duration = Duration::from_secs(1);

impl Topology {
    /// Every wait queue's tier, shortest first: one per distinct wait of the retry schedule,
    /// and the park tier.
    pub fn tiers(&self) -> Vec<Tier> {
        let mut waits = self.schedule.waits().to_vec();
        waits.push(PARK_TIER);
        waits.sort();
        waits.dedup();
        waits
            .into_iter()
            .map(|ttl| Tier {
                name: tier_name(ttl),
                ttl,
            })
            .collect()
    }

    /// The tier that holds a message for `delay`: the shortest at least that long, or the
    /// longest when `delay` exceeds every tier.
    pub fn tier_for(&self, delay: Duration) -> Tier {
        let tiers = self.tiers();
        let longest = tiers
            .last()
            .cloned()
            .expect("there is always the park tier");
        tiers
            .into_iter()
            .find(|t| t.ttl >= delay)
            .unwrap_or(longest)
    }
}
