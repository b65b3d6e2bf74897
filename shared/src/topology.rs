//! The broker topology: every exchange, queue and binding Warren uses, described once.
//!
//! The services declare it at start-up from this description, and
//! `rabbitmq/definitions.json` is this description rendered in RabbitMQ's own definitions
//! format; a test fails if the two drift apart.

use std::{collections::BTreeMap, time::Duration};

use lapin::{
    Channel,
    options::{
        ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};
use serde_json::{Value, json};

use crate::retry::{RetrySchedule, tier_name};

/// The routing key on the main exchange; wait queues dead-letter with it.
pub const DELIVER_ROUTING_KEY: &str = "deliver";

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

/// The kind of an exchange.
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

    /// The topology in RabbitMQ's definitions format (what `rabbitmqctl export_definitions`
    /// writes and `load_definitions` reads), for one vhost.
    pub fn definitions(&self, vhost: &str) -> Value {
        let exchanges: Vec<Value> = self
            .exchanges()
            .iter()
            .map(|e| {
                json!({"name": e.name, "vhost": vhost, "type": e.kind.as_str(), "durable": true,
                       "auto_delete": false, "internal": false, "arguments": {}})
            })
            .collect();
        let queues: Vec<Value> = self
            .queues()
            .iter()
            .map(|q| {
                json!({"name": q.name, "vhost": vhost, "durable": true, "auto_delete": false,
                       "arguments": arguments_json(&q.arguments)})
            })
            .collect();
        let bindings: Vec<Value> = self
            .bindings()
            .iter()
            .map(|b| {
                json!({"source": b.exchange, "vhost": vhost, "destination": b.queue,
                       "destination_type": "queue", "routing_key": b.routing_key, "arguments": {}})
            })
            .collect();
        json!({
            "vhosts": [{"name": vhost}],
            "exchanges": exchanges,
            "queues": queues,
            "bindings": bindings,
        })
    }

    /// The definitions with a broker user for the services, allowed only Warren's names
    /// (and the live-log gateway's server-named queues): what `load_definitions` needs to
    /// bring up a blank broker, where RabbitMQ then creates no `guest`.
    pub fn definitions_with_user(&self, vhost: &str, user: &str, password: &str) -> Value {
        let mut definitions = self.definitions(vhost);
        let names = format!("^({}\\.|amq\\.gen-)", regex_escape(&self.prefix));
        definitions["users"] = json!([{
            "name": user,
            "password_hash": rabbit_password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": ["management"],
        }]);
        definitions["permissions"] = json!([{
            "user": user, "vhost": vhost, "configure": names, "write": names, "read": names,
        }]);
        definitions
    }

    /// Declares every exchange, queue and binding. Idempotent: declaring what exists with the
    /// same arguments is a no-op; different arguments close the channel with
    /// `PRECONDITION_FAILED`, which is what we want to hear about.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        for exchange in self.exchanges() {
            channel
                .exchange_declare(
                    exchange.name.as_str().into(),
                    exchange.kind.into(),
                    // Durable: the topology outlives a broker restart. Not internal: we publish to each.
                    ExchangeDeclareOptions {
                        durable: true,
                        auto_delete: false,
                        internal: false,
                        passive: false,
                        nowait: false,
                    },
                    FieldTable::default(),
                )
                .await?;
        }
        for queue in self.queues() {
            channel
                .queue_declare(
                    queue.name.as_str().into(),
                    // Durable and shared by every worker: never exclusive, never auto-deleted.
                    QueueDeclareOptions {
                        durable: true,
                        exclusive: false,
                        auto_delete: false,
                        passive: false,
                        nowait: false,
                    },
                    field_table(&queue.arguments),
                )
                .await?;
        }
        for binding in self.bindings() {
            channel
                .queue_bind(
                    binding.queue.as_str().into(),
                    binding.exchange.as_str().into(),
                    binding.routing_key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// Deletes every queue and exchange of this topology (used by tests to leave nothing behind).
    pub async fn delete(&self, channel: &Channel) -> lapin::Result<()> {
        for queue in self.queues() {
            channel
                .queue_delete(queue.name.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        for exchange in self.exchanges() {
            channel
                .exchange_delete(
                    exchange.name.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await?;
        }
        Ok(())
    }
}

impl ExchangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
        }
    }
}

impl From<ExchangeKind> for lapin::ExchangeKind {
    fn from(kind: ExchangeKind) -> Self {
        match kind {
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
            ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        }
    }
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: base64 of a 4-byte salt followed by
/// SHA-256(salt ++ password). The salt is derived from the password, so the same password
/// always renders the same file (and the drift test can compare it).
fn rabbit_password_hash(password: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let seed = Sha256::digest(format!("warren:{password}").as_bytes());
    let salt = &seed[..4];
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    let mut salted = salt.to_vec();
    salted.extend_from_slice(&hasher.finalize());
    base64::engine::general_purpose::STANDARD.encode(salted)
}

/// Escapes the regex metacharacters of a name prefix.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' | '\\' => {
                vec!['\\', c]
            }
            c => vec![c],
        })
        .collect()
}

fn arguments_json(arguments: &BTreeMap<&'static str, Arg>) -> Value {
    let map = arguments
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Arg::Str(s) => json!(s),
                Arg::Int(i) => json!(i),
                Arg::Bool(b) => json!(b),
            };
            ((*k).to_owned(), value)
        })
        .collect();
    Value::Object(map)
}

fn field_table(arguments: &BTreeMap<&'static str, Arg>) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in arguments {
        let value = match value {
            Arg::Str(s) => AMQPValue::LongString(s.as_str().into()),
            Arg::Int(i) => AMQPValue::LongLongInt(*i),
            Arg::Bool(b) => AMQPValue::Boolean(*b),
        };
        table.insert((*key).into(), value);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Topology {
        Topology::new("warren", QueueKind::Quorum, RetrySchedule::default())
    }

    #[test]
    fn wait_queues_are_named_by_tier_and_dead_letter_to_the_main_exchange() {
        let queues = production().queues();
        let wait = queues
            .iter()
            .find(|q| q.name == "warren.retry.30s")
            .expect("a 30 s tier");
        assert_eq!(wait.arguments["x-message-ttl"], Arg::Int(30_000));
        assert_eq!(
            wait.arguments["x-dead-letter-exchange"],
            Arg::Str("warren.deliver".into())
        );
        assert_eq!(
            wait.arguments["x-dead-letter-routing-key"],
            Arg::Str(DELIVER_ROUTING_KEY.into())
        );
    }

    #[test]
    fn quorum_queues_that_dead_letter_do_so_at_least_once() {
        for queue in production().queues() {
            if queue.arguments.contains_key("x-dead-letter-exchange") {
                assert_eq!(
                    queue.arguments["x-dead-letter-strategy"],
                    Arg::Str("at-least-once".into()),
                    "{}",
                    queue.name
                );
                assert_eq!(
                    queue.arguments["x-overflow"],
                    Arg::Str("reject-publish".into())
                );
            }
        }
    }

    #[test]
    fn classic_queues_carry_no_quorum_only_arguments() {
        let topology = Topology::new("warren", QueueKind::Classic, RetrySchedule::default());
        for queue in topology.queues() {
            assert_eq!(queue.arguments["x-queue-type"], Arg::Str("classic".into()));
            assert!(!queue.arguments.contains_key("x-delivery-limit"));
            assert!(!queue.arguments.contains_key("x-dead-letter-strategy"));
        }
    }

    #[test]
    fn the_park_tier_joins_the_retry_tiers_once() {
        let names: Vec<String> = production().tiers().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["1s", "5s", "30s", "2m", "10m", "1h", "3h", "6h"]);
        let with_one_second: RetrySchedule = "1s,5s".parse().expect("valid");
        let topology = Topology::new("t", QueueKind::Quorum, with_one_second);
        assert_eq!(topology.tiers().len(), 2);
        assert_eq!(production().tier_for(Duration::from_millis(300)).name, "1s");
        assert_eq!(production().tier_for(Duration::from_secs(4)).name, "5s");
    }

    #[test]
    fn a_delay_lands_in_the_shortest_tier_that_holds_it() {
        let secs = Duration::from_secs;
        assert_eq!(production().tier_for(secs(31)).name, "2m");
        assert_eq!(production().tier_for(secs(100_000)).name, "6h");
    }

    #[test]
    fn every_tier_is_bound_under_its_own_name() {
        let bindings = production().bindings();
        let tiers = production().tiers();
        for tier in tiers {
            assert!(bindings.iter().any(|b| b.exchange == "warren.retry"
                && b.routing_key == tier.name
                && b.queue == format!("warren.retry.{}", tier.name)));
        }
    }

    #[test]
    fn ordered_shards_take_one_active_consumer_each_and_keep_a_subscription_on_one_shard() {
        let topology = production().with_ordered_shards(4);
        let shards: Vec<QueueSpec> = topology
            .queues()
            .into_iter()
            .filter(|q| q.name.starts_with("warren.ordered."))
            .collect();
        assert_eq!(shards.len(), 4);
        for shard in &shards {
            assert_eq!(shard.arguments["x-single-active-consumer"], Arg::Bool(true));
            assert_eq!(
                shard.arguments["x-dead-letter-exchange"],
                Arg::Str("warren.graveyard".into())
            );
        }
        assert!(
            topology
                .bindings()
                .iter()
                .any(|b| b.exchange == "warren.ordered"
                    && b.routing_key == "ordered.3"
                    && b.queue == "warren.ordered.3")
        );
        let id = uuid::Uuid::now_v7();
        assert_eq!(topology.shard_of(id), topology.shard_of(id));
        assert!(topology.shard_of(id) < 4);
        let spread: std::collections::BTreeSet<u16> = (0..200)
            .map(|_| topology.shard_of(uuid::Uuid::now_v7()))
            .collect();
        assert_eq!(spread.len(), 4, "subscriptions spread over every shard");
    }

    #[test]
    fn the_broker_user_is_hashed_as_rabbitmq_does_and_allowed_only_warrens_names() {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let definitions = production().definitions_with_user("/", "warren", "secret");
        let hash = definitions["users"][0]["password_hash"]
            .as_str()
            .expect("a hash");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(hash)
            .expect("base64");
        let (salt, digest) = bytes.split_at(4);
        let mut expected = Sha256::new();
        expected.update(salt);
        expected.update(b"secret");
        assert_eq!(digest, expected.finalize().as_slice());
        assert_eq!(
            definitions["permissions"][0]["configure"],
            "^(warren\\.|amq\\.gen-)"
        );
    }

    #[test]
    fn the_checked_in_definitions_file_is_the_rendered_topology() {
        let file = include_str!("../../rabbitmq/definitions.json");
        let on_disk: Value = serde_json::from_str(file).expect("definitions.json is JSON");
        let rendered = production().definitions_with_user("/", "warren", "warren-dev-only");
        for key in [
            "vhosts",
            "exchanges",
            "queues",
            "bindings",
            "users",
            "permissions",
        ] {
            assert_eq!(
                on_disk[key], rendered[key],
                "rabbitmq/definitions.json `{key}` drifted from the code; regenerate it with \
                 `cargo run -p warren-ingest -- definitions > rabbitmq/definitions.json`"
            );
        }
    }
}
