//! The broker topology: every exchange, queue and binding Warren uses, described once.
//!
//! The services declare it at start-up from this description, and
//! `rabbitmq/definitions.json` is this description rendered in RabbitMQ's own definitions
//! format; a test fails if the two drift apart. This file holds the names; beside it, the wait
//! queues' tiers (`tiers.rs`), every exchange, queue and binding with its arguments
//! (`specs.rs`), the definitions file (`definitions.rs`) and declaring on a channel
//! (`declare.rs`).

use crate::retry::RetrySchedule;

mod declare;
mod definitions;
mod specs;
mod tiers;

pub use specs::{Arg, BindingSpec, ExchangeKind, ExchangeSpec, QueueSpec};
pub use tiers::{PARK_TIER, Tier};

/// The routing key on the main exchange; wait queues dead-letter with it.
pub const DELIVER_ROUTING_KEY: &str = "deliver";

/// How many times the main queue hands out one message before it parks it in the graveyard
/// as poison. Generous, because a crash or restart of a worker also counts as a delivery.
pub const DEFAULT_DELIVERY_LIMIT: i64 = 50;

/// How many shard queues carry the doorbells of ordered (FIFO) subscriptions by default.
pub const DEFAULT_ORDERED_SHARDS: u16 = 8;

/// Which kind of queue every durable Warren queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueKind {
    /// Replicated Raft queues with at-least-once dead-lettering (the default).
    Quorum,
    /// Classic queues, for brokers without quorum queues. Dead-lettering is at-most-once.
    Classic,
}

/// Warren's topology under one name prefix.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    kind: QueueKind,
    schedule: RetrySchedule,
    delivery_limit: i64,
    ordered_shards: u16,
}

impl Topology {
    /// The topology for `prefix` (`warren` in production; tests use a unique one so they can
    /// run side by side on one broker).
    pub fn new(prefix: impl Into<String>, kind: QueueKind, schedule: RetrySchedule) -> Self {
        Self {
            prefix: prefix.into(),
            kind,
            schedule,
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
            ordered_shards: DEFAULT_ORDERED_SHARDS,
        }
    }

    /// The same topology with `shards` ordered shard queues (at least one).
    pub fn with_ordered_shards(mut self, shards: u16) -> Self {
        self.ordered_shards = shards.max(1);
        self
    }

    /// The retry schedule the wait queues are built for.
    pub fn schedule(&self) -> &RetrySchedule {
        &self.schedule
    }

    /// The name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The main exchange, where every delivery envelope enters.
    pub fn deliver_exchange(&self) -> String {
        format!("{}.deliver", self.prefix)
    }

    /// The main queue, consumed by deliver workers.
    pub fn deliver_queue(&self) -> String {
        format!("{}.deliver", self.prefix)
    }

    /// The exchange that routes a failed delivery to its wait queue by tier name.
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.prefix)
    }

    /// The wait queue of one tier.
    pub fn retry_queue(&self, tier: &Tier) -> String {
        format!("{}.retry.{}", self.prefix, tier.name)
    }

    /// The fanout exchange for deliveries out of attempts and poison messages.
    pub fn graveyard_exchange(&self) -> String {
        format!("{}.graveyard", self.prefix)
    }

    /// The queue operators inspect for dead deliveries.
    pub fn graveyard_queue(&self) -> String {
        format!("{}.graveyard", self.prefix)
    }

    /// The direct exchange for the doorbells of ordered (FIFO) subscriptions, routed to
    /// their shard queue by `ordered.<k>`.
    pub fn ordered_exchange(&self) -> String {
        format!("{}.ordered", self.prefix)
    }

    /// Every ordered shard's number.
    pub fn ordered_shards(&self) -> std::ops::Range<u16> {
        0..self.ordered_shards
    }

    /// The shard that carries a FIFO subscription's doorbells: stable for a subscription
    /// (its id's low bits, random in a UUIDv7) as long as the shard count stays.
    pub fn shard_of(&self, subscription_id: uuid::Uuid) -> u16 {
        (subscription_id.as_u128() % u128::from(self.ordered_shards)) as u16
    }

    /// The routing key of an ordered shard.
    pub fn ordered_routing_key(&self, shard: u16) -> String {
        format!("ordered.{shard}")
    }

    /// An ordered shard's queue, consumed by every worker with single-active-consumer.
    pub fn ordered_queue(&self, shard: u16) -> String {
        format!("{}.ordered.{shard}", self.prefix)
    }

    /// The topic exchange for live log lines (`user.<user_id>`).
    pub fn logs_exchange(&self) -> String {
        format!("{}.logs", self.prefix)
    }
}

#[cfg(test)]
mod tests;
