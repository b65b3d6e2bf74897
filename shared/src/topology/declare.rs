//! Declaring a topology on a channel (and deleting it, for tests).

use std::collections::BTreeMap;

use lapin::{
    Channel,
    options::{
        ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};

use super::{Arg, ExchangeKind, Topology};

impl Topology {
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

impl From<ExchangeKind> for lapin::ExchangeKind {
    fn from(kind: ExchangeKind) -> Self {
        match kind {
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
            ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        }
    }
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
