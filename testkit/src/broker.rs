//! A topology of this test's own on the shared RabbitMQ, under a unique prefix with a short
//! retry schedule, deleted at the end.

use std::time::Duration;

use lapin::{
    Channel, Connection, ConnectionProperties,
    options::{
        BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions, QueuePurgeOptions,
    },
    types::{AMQPValue, FieldTable},
};
use warren_shared::{config::BrokerSettings, retry::RetrySchedule, topology::QueueKind};

/// The broker tests use (`TEST_AMQP_URL` overrides).
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The short schedule tests retry on: waits of 300 ms, 600 ms, then 1 s.
pub const TEST_SCHEDULE: &str = "300ms,600ms,1s";

/// This test's topology.
pub struct TestBroker {
    /// Settings for services using it.
    pub settings: BrokerSettings,
}

impl TestBroker {
    /// A unique prefix with the test schedule.
    pub fn new() -> Self {
        Self::with_schedule(TEST_SCHEDULE)
    }

    /// A unique prefix with the given schedule.
    pub fn with_schedule(schedule: &str) -> Self {
        let schedule: RetrySchedule = schedule.parse().expect("a valid schedule");
        Self {
            settings: BrokerSettings {
                url: amqp_url(),
                ca_file: None,
                prefix: crate::unique_name("t"),
                queue_kind: QueueKind::Quorum,
                retry_schedule: schedule,
                confirm_timeout_ms: 3_000,
                heartbeat_secs: 5,
                // Two shards keep each test's topology small and still exercise the routing.
                ordered_shards: 2,
            },
        }
    }

    /// Settings reaching the broker through another address (a [`crate::proxy::TcpProxy`]).
    pub fn settings_via(&self, host_port: &str) -> BrokerSettings {
        BrokerSettings {
            url: format!("amqp://guest:guest@{host_port}/%2f"),
            ..self.settings.clone()
        }
    }

    /// Messages ready in a queue (0 if it does not exist).
    pub async fn depth(&self, queue: &str) -> u32 {
        on_channel(async |channel| {
            channel
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map(|q| q.message_count())
                .unwrap_or(0)
        })
        .await
    }

    /// Empties a queue, as a wiped broker node would.
    pub async fn purge(&self, queue: &str) {
        on_channel(async |channel| {
            channel
                .queue_purge(queue.into(), QueuePurgeOptions::default())
                .await
                .expect("purging the queue");
        })
        .await
    }

    /// Deletes a queue, as an operator might: the broker cancels its consumers.
    pub async fn delete_queue(&self, queue: &str) {
        on_channel(async |channel| {
            channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .expect("deleting the queue");
        })
        .await
    }

    /// A queue of this topology that gets a copy of what `exchange` routes by `binding_key`,
    /// as an operator's tap would; it expires a minute after its last use. Returns its name.
    pub async fn tap(&self, exchange: &str, binding_key: &str) -> String {
        let queue = format!("{}.tap", self.settings.prefix);
        on_channel(async |channel| {
            let mut arguments = FieldTable::default();
            arguments.insert("x-expires".into(), AMQPValue::LongInt(60_000));
            channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions::default(),
                    arguments,
                )
                .await
                .expect("declaring the tap");
            channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.into(),
                    binding_key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("binding the tap");
        })
        .await;
        queue
    }

    /// Takes one message off a queue, if any.
    pub async fn take(&self, queue: &str) -> Option<Vec<u8>> {
        on_channel(async |channel| {
            let message = channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
                .ok()
                .flatten()?;
            let _ = message.ack(BasicAckOptions::default()).await;
            Some(message.delivery.data.clone())
        })
        .await
    }
}

/// Runs `work` on a channel of a connection of its own, closed afterwards.
async fn on_channel<T>(work: impl AsyncFnOnce(&Channel) -> T) -> T {
    let connection = connect().await;
    let channel = connection.create_channel().await.expect("a channel");
    let result = work(&channel).await;
    let _ = connection.close(200, "bye".into()).await;
    result
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

async fn connect() -> Connection {
    tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(&amqp_url(), ConnectionProperties::default()),
    )
    .await
    .expect("connecting to RabbitMQ timed out")
    .expect("connecting to RabbitMQ (is it running on 127.0.0.1:5672?)")
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let topology = self.settings.topology();
        crate::block_on_thread(async move {
            let connection = connect().await;
            if let Ok(channel) = connection.create_channel().await
                && let Err(error) = topology.delete(&channel).await
            {
                eprintln!("deleting test topology {}: {error}", topology.prefix());
            }
            let _ = connection.close(200, "bye".into()).await;
        });
    }
}
