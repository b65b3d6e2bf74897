//! `warren-deliver` settings: flags with environment fallbacks, defaults for local use.

use std::{net::SocketAddr, time::Duration};

use warren_shared::{
    config::{BrokerSettings, DatabaseSettings},
    ssrf::SsrfGuard,
};

/// Everything `warren-deliver serve` needs.
#[derive(Clone, clap::Args)]
pub struct Settings {
    /// PostgreSQL.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// RabbitMQ and the topology.
    #[command(flatten)]
    pub broker: BrokerSettings,
    /// Address of the small HTTP server for `/healthz` and `/readyz` (port 0 picks one).
    #[arg(
        long = "http-addr",
        env = "WARREN_DELIVER_HTTP_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    pub http_addr: SocketAddr,
    /// Unacknowledged messages one worker holds at once: how many deliveries run in parallel.
    #[arg(long = "prefetch", env = "WARREN_PREFETCH", default_value_t = 256)]
    pub prefetch: u16,
    /// On SIGTERM, how long in-flight deliveries may take to finish before the worker exits.
    #[arg(
        long = "shutdown-grace-secs",
        env = "WARREN_SHUTDOWN_GRACE_SECS",
        default_value_t = 30
    )]
    pub shutdown_grace_secs: u64,
    /// Consecutive failed attempts that open a subscription's circuit.
    #[arg(
        long = "circuit-failures",
        env = "WARREN_CIRCUIT_FAILURES",
        default_value_t = 5
    )]
    pub circuit_failures: u32,
    /// How long an open circuit holds deliveries before one probe, in ms.
    #[arg(
        long = "circuit-recovery-ms",
        env = "WARREN_CIRCUIT_RECOVERY_MS",
        default_value_t = 60_000
    )]
    pub circuit_recovery_ms: u64,
    /// Successful probes in a row that close a half-open circuit.
    #[arg(
        long = "circuit-successes",
        env = "WARREN_CIRCUIT_SUCCESSES",
        default_value_t = 3
    )]
    pub circuit_successes: u32,
    /// Consecutive failed attempts that disable a subscription until a person enables it.
    #[arg(
        long = "disable-after-failures",
        env = "WARREN_DISABLE_AFTER_FAILURES",
        default_value_t = 100
    )]
    pub disable_after_failures: u32,
    /// Most deliveries of one subscription a worker runs at once (the bulkhead), so one slow
    /// target cannot take every slot.
    #[arg(
        long = "max-in-flight-per-subscription",
        env = "WARREN_MAX_IN_FLIGHT_PER_SUBSCRIPTION",
        default_value_t = 64
    )]
    pub max_in_flight_per_subscription: usize,
    /// Non-public ranges deliveries may reach anyway (comma-separated CIDRs, e.g. 127.0.0.1/32).
    #[arg(
        long = "allow-target-cidrs",
        env = "WARREN_ALLOW_TARGET_CIDRS",
        default_value = ""
    )]
    pub allow_target_cidrs: SsrfGuard,
    /// The least time between two notifications of one type about one subscription, in
    /// seconds; what comes sooner is counted into the next. Set it as on `warren-ingest`.
    #[arg(
        long = "notify-min-interval-secs",
        env = "WARREN_NOTIFY_MIN_INTERVAL_SECS",
        default_value_t = 600
    )]
    pub notify_min_interval_secs: u64,
}

impl Settings {
    /// The circuit breaker's thresholds.
    pub fn thresholds(&self) -> crate::circuit::Thresholds {
        crate::circuit::Thresholds {
            failures: self.circuit_failures.max(1),
            recovery: Duration::from_millis(self.circuit_recovery_ms),
            successes: self.circuit_successes.max(1),
            disable_after: self.disable_after_failures.max(1),
        }
    }

    /// The least time between two notifications of one type about one subscription.
    pub fn notify_min_interval(&self) -> Duration {
        Duration::from_secs(self.notify_min_interval_secs)
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
