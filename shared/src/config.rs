//! Settings both services take: where PostgreSQL and RabbitMQ are, and the shape of the
//! topology. Every setting is a flag with an environment fallback and a default that works
//! against a local PostgreSQL and RabbitMQ with their default credentials.

use std::time::Duration;

use crate::{
    retry::RetrySchedule,
    topology::{QueueKind, Topology},
};

/// How to reach PostgreSQL.
#[derive(Clone, clap::Args)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL. May carry a password, so it is never logged nor shown.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/warren"
    )]
    pub url: String,
    /// Most connections the pool opens.
    #[arg(
        long = "database-pool-size",
        env = "WARREN_DATABASE_POOL_SIZE",
        default_value_t = 16
    )]
    pub pool_size: usize,
    /// How long a request waits for a connection (or to open one) before it fails fast.
    #[arg(
        long = "database-timeout-ms",
        env = "WARREN_DATABASE_TIMEOUT_MS",
        default_value_t = 3_000
    )]
    pub timeout_ms: u64,
    /// How many seconds of events, deliveries and attempts each time partition holds
    /// (windows aligned to the Unix epoch; the default is one UTC day). Retention drops whole
    /// partitions, so it frees space a partition at a time. Short widths are for tests.
    #[arg(
        long = "partition-secs",
        env = "WARREN_PARTITION_SECS",
        default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub partition_secs: u64,
}

impl DatabaseSettings {
    /// The connection and pool-wait timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The width of a time partition.
    pub fn partition_width(&self) -> Duration {
        Duration::from_secs(self.partition_secs.max(1))
    }
}

/// How to reach RabbitMQ and what to declare there.
#[derive(Clone, clap::Args)]
pub struct BrokerSettings {
    /// AMQP URL (vhost included, `%2f` for `/`); without `user:password@` it logs in as AMQP's
    /// default `guest`/`guest`. May list a cluster's nodes, `amqp://u:p@h1:5672,h2:5672/v`,
    /// tried in turn. May carry a password, so it is never logged nor shown.
    #[arg(
        id = "amqp_url",
        long = "amqp-url",
        env = "AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://127.0.0.1:5672/%2f"
    )]
    pub url: String,
    /// PEM file of the CA(s) that sign the broker's certificate, trusted for `amqps://` on
    /// top of the system's roots. The certificate must name the host `AMQP_URL` gives.
    #[arg(long = "amqp-ca-file", env = "WARREN_AMQP_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// The first word of every exchange and queue name. Tests use a unique one each.
    #[arg(
        long = "topology-prefix",
        env = "WARREN_TOPOLOGY_PREFIX",
        default_value = "warren"
    )]
    pub prefix: String,
    /// The kind of every durable queue.
    #[arg(
        long = "queue-type",
        env = "WARREN_QUEUE_TYPE",
        value_enum,
        default_value = "quorum"
    )]
    pub queue_kind: QueueKind,
    /// Waits between attempts (attempt 2 waits the first); one wait queue per distinct wait.
    #[arg(
        long = "retry-schedule",
        env = "WARREN_RETRY_SCHEDULE",
        default_value = "5s,30s,2m,10m,1h,3h,6h"
    )]
    pub retry_schedule: RetrySchedule,
    /// How long a publish waits for the broker's confirm before it counts as failed.
    #[arg(
        long = "confirm-timeout-ms",
        env = "WARREN_CONFIRM_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub confirm_timeout_ms: u64,
    /// AMQP heartbeat: a silent broker link is declared dead after about twice this.
    #[arg(
        long = "amqp-heartbeat-secs",
        env = "WARREN_AMQP_HEARTBEAT_SECS",
        default_value_t = 10
    )]
    pub heartbeat_secs: u16,
    /// How many shard queues (`warren.ordered.<k>`) carry the doorbells of ordered (FIFO)
    /// subscriptions. Every service must use the same number; changing it moves lines
    /// between shards, so drain the shards first.
    #[arg(
        long = "ordered-shards",
        env = "WARREN_ORDERED_SHARDS",
        default_value_t = crate::topology::DEFAULT_ORDERED_SHARDS,
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub ordered_shards: u16,
}

impl BrokerSettings {
    /// The topology these settings describe.
    pub fn topology(&self) -> Topology {
        Topology::new(
            self.prefix.clone(),
            self.queue_kind,
            self.retry_schedule.clone(),
        )
        .with_ordered_shards(self.ordered_shards)
    }

    /// The confirm timeout.
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.confirm_timeout_ms)
    }
}

/// A settings struct as the binary would see it with no flags: every default applied (and
/// any environment variable set, as at start-up). Tests start from this and change a few.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("warren"));
    let matches = command.get_matches_from(["warren"]);
    T::from_arg_matches(&matches).expect("the defaults parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, clap::Args)]
    struct Both {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        broker: BrokerSettings,
    }

    #[test]
    fn the_defaults_reach_a_local_postgres_and_rabbitmq() {
        let both: Both = defaults();
        assert!(
            both.database.url.starts_with("postgres://")
                || std::env::var_os("DATABASE_URL").is_some()
        );
        assert_eq!(
            both.broker.topology().deliver_queue(),
            format!("{}.deliver", both.broker.prefix)
        );
        assert_eq!(both.broker.topology().tiers().len(), 8);
    }
}
