//! Every exchange, queue and binding of a topology, with the queues' `x-` arguments.

use std::collections::BTreeMap;

use super::{DELIVER_ROUTING_KEY, QueueKind, Tier, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Routes by exact routing key.
    Direct,
    /// Routes to every bound queue.
    Fanout,
    /// Routes by routing-key pattern.
    Topic,
}

/// A durable exchange to declare.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeSpec {
    /// Full name, prefix included.
    pub name: String,
    /// Its kind.
    pub kind: ExchangeKind,
}

/// A durable queue to declare, with its `x-` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// Full name, prefix included.
    pub name: String,
    /// Queue arguments, as RabbitMQ stores them.
    pub arguments: BTreeMap<&'static str, Arg>,
}

/// A queue argument's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string argument.
    Str(String),
    /// An integer argument.
    Int(i64),
    /// A boolean argument.
    Bool(bool),
}

/// A binding of a queue to an exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingSpec {
    /// The exchange.
    pub exchange: String,
    /// The queue.
    pub queue: String,
    /// The routing key.
    pub routing_key: String,
}

impl Topology {
    /// Every exchange, in declaration order.
    pub fn exchanges(&self) -> Vec<ExchangeSpec> {
        let spec = |name, kind| ExchangeSpec { name, kind };
        vec![
            spec(self.deliver_exchange(), ExchangeKind::Direct),
            spec(self.retry_exchange(), ExchangeKind::Direct),
            spec(self.graveyard_exchange(), ExchangeKind::Fanout),
            spec(self.logs_exchange(), ExchangeKind::Topic),
            spec(self.ordered_exchange(), ExchangeKind::Direct),
        ]
    }

    /// Every durable queue, in declaration order.
    pub fn queues(&self) -> Vec<QueueSpec> {
        let mut queues = vec![self.main_queue(), self.graveyard()];
        queues.extend(self.tiers().iter().map(|t| self.wait_queue(t)));
        queues.extend(self.ordered_shards().map(|k| self.shard_queue(k)));
        queues
    }

    /// Every binding.
    pub fn bindings(&self) -> Vec<BindingSpec> {
        let bind = |exchange, queue, routing_key: &str| BindingSpec {
            exchange,
            queue,
            routing_key: routing_key.to_owned(),
        };
        let mut bindings = vec![
            bind(
                self.deliver_exchange(),
                self.deliver_queue(),
                DELIVER_ROUTING_KEY,
            ),
            bind(self.graveyard_exchange(), self.graveyard_queue(), ""),
        ];
        for tier in self.tiers() {
            bindings.push(bind(
                self.retry_exchange(),
                self.retry_queue(&tier),
                &tier.name,
            ));
        }
        for shard in self.ordered_shards() {
            bindings.push(bind(
                self.ordered_exchange(),
                self.ordered_queue(shard),
                &self.ordered_routing_key(shard),
            ));
        }
        bindings
    }

    /// The main queue: dead-letters poison messages (over the delivery limit, or rejected)
    /// to the graveyard.
    fn main_queue(&self) -> QueueSpec {
        let mut arguments = self.base_arguments();
        arguments.insert(
            "x-dead-letter-exchange",
            Arg::Str(self.graveyard_exchange()),
        );
        if self.kind == QueueKind::Quorum {
            self.add_at_least_once(&mut arguments);
            arguments.insert("x-delivery-limit", Arg::Int(self.delivery_limit));
        }
        QueueSpec {
            name: self.deliver_queue(),
            arguments,
        }
    }

    /// An ordered shard: like the main queue (poison to the graveyard), and with one active
    /// consumer at a time across every worker, so one process handles a shard's lines.
    fn shard_queue(&self, shard: u16) -> QueueSpec {
        let mut spec = self.main_queue();
        spec.name = self.ordered_queue(shard);
        spec.arguments
            .insert("x-single-active-consumer", Arg::Bool(true));
        spec
    }

    /// A wait queue: no consumer; when a message's TTL runs out RabbitMQ dead-letters it back
    /// to the main exchange with the main routing key.
    fn wait_queue(&self, tier: &Tier) -> QueueSpec {
        let mut arguments = self.base_arguments();
        let ttl_ms = i64::try_from(tier.ttl.as_millis()).expect("a tier's TTL fits in i64 ms");
        arguments.insert("x-message-ttl", Arg::Int(ttl_ms));
        arguments.insert("x-dead-letter-exchange", Arg::Str(self.deliver_exchange()));
        arguments.insert(
            "x-dead-letter-routing-key",
            Arg::Str(DELIVER_ROUTING_KEY.into()),
        );
        if self.kind == QueueKind::Quorum {
            self.add_at_least_once(&mut arguments);
        }
        QueueSpec {
            name: self.retry_queue(tier),
            arguments,
        }
    }

    fn graveyard(&self) -> QueueSpec {
        QueueSpec {
            name: self.graveyard_queue(),
            arguments: self.base_arguments(),
        }
    }

    fn base_arguments(&self) -> BTreeMap<&'static str, Arg> {
        let kind = match self.kind {
            QueueKind::Quorum => "quorum",
            QueueKind::Classic => "classic",
        };
        BTreeMap::from([("x-queue-type", Arg::Str(kind.into()))])
    }

    /// Without `reject-publish` overflow, a quorum queue silently falls back from
    /// at-least-once to at-most-once dead-lettering.
    fn add_at_least_once(&self, arguments: &mut BTreeMap<&'static str, Arg>) {
        arguments.insert("x-dead-letter-strategy", Arg::Str("at-least-once".into()));
        arguments.insert("x-overflow", Arg::Str("reject-publish".into()));
    }
}

impl ExchangeKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
        }
    }
}
