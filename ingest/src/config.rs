//! `warren-ingest` settings: flags with environment fallbacks, defaults for local use.

use std::{net::SocketAddr, num::NonZeroU32, time::Duration};

use anyhow::Context;

use warren_shared::{
    config::{BrokerSettings, DatabaseSettings},
    retry::RetrySchedule,
    ssrf::SsrfGuard,
};

use crate::origin::{AllowedOrigins, TrustedOrigins};

/// Everything `warren-ingest serve` needs.
#[derive(Clone, clap::Args)]
pub struct Settings {
    /// PostgreSQL.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// RabbitMQ and the topology.
    #[command(flatten)]
    pub broker: BrokerSettings,
    /// Address the HTTP server listens on (port 0 picks a free port).
    #[arg(
        long = "http-addr",
        env = "WARREN_HTTP_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub http_addr: SocketAddr,
    /// The URL clients reach this server at; ingest URLs are built from it.
    #[arg(
        long = "public-url",
        env = "WARREN_PUBLIC_URL",
        default_value = "http://localhost:8080"
    )]
    pub public_url: String,
    /// Connections open at once; more wait in the kernel's accept queue until one closes.
    /// The process needs a file descriptor limit above it.
    #[arg(
        long = "max-connections",
        env = "WARREN_MAX_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_connections: usize,
    /// Seconds a connection may take to send a request's headers, or stay idle between
    /// requests, before it is closed.
    #[arg(
        long = "header-read-timeout-secs",
        env = "WARREN_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 15
    )]
    pub header_read_timeout_secs: u64,
    /// Seconds a request's whole body may take to arrive once its headers have (longer gets
    /// 408).
    #[arg(
        long = "body-read-timeout-secs",
        env = "WARREN_BODY_READ_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub body_read_timeout_secs: u64,
    /// Origins besides the public URL's whose pages may write with the session cookie
    /// (comma-separated, e.g. a Vite dev server's `http://localhost:5173`); a cookie-carried
    /// write from any other origin is 403.
    #[arg(
        long = "allowed-origins",
        env = "WARREN_ALLOWED_ORIGINS",
        default_value = ""
    )]
    pub allowed_origins: AllowedOrigins,
    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long = "max-body-bytes", env = "WARREN_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted at ingest (deeper gets 400).
    #[arg(
        long = "max-json-depth",
        env = "WARREN_MAX_JSON_DEPTH",
        default_value_t = 64
    )]
    pub max_json_depth: usize,
    /// Most events stored in one transaction (group commit); 1 commits each on its own.
    #[arg(
        long = "group-commit-max-events",
        env = "WARREN_GROUP_COMMIT_MAX_EVENTS",
        default_value_t = 64
    )]
    pub group_commit_max_events: usize,
    /// Most body bytes stored in one transaction (group commit): bounds the memory a group
    /// holds; a larger event is stored alone.
    #[arg(
        long = "group-commit-max-bytes",
        env = "WARREN_GROUP_COMMIT_MAX_BYTES",
        default_value_t = 256 * 1024
    )]
    pub group_commit_max_bytes: usize,
    /// Group-commit transactions in flight at once (each holds a database connection).
    #[arg(
        long = "group-commit-writers",
        env = "WARREN_GROUP_COMMIT_WRITERS",
        default_value_t = 4
    )]
    pub group_commit_writers: usize,
    /// How long a group commit that is not full waits for more events after its first, in
    /// microseconds (0: it commits what is there at once). Below saturation a linger makes
    /// fewer, larger transactions, each with one WAL flush: at 1,000 events/s 1 ms lowered
    /// ingest's p50 and p99 (BENCHMARKS.md).
    #[arg(
        long = "group-commit-linger-us",
        env = "WARREN_GROUP_COMMIT_LINGER_US",
        default_value_t = 1_000
    )]
    pub group_commit_linger_us: u64,
    /// Failed logins allowed per email in 15 minutes; more lock that email (429) until the
    /// quota lets one more through.
    #[arg(
        long = "login-failures-per-email",
        env = "WARREN_LOGIN_FAILURES_PER_EMAIL",
        default_value_t = NonZeroU32::new(10).expect("non-zero")
    )]
    pub login_failures_per_email: NonZeroU32,
    /// Failed logins allowed per client address in 15 minutes (whatever the emails).
    #[arg(
        long = "login-failures-per-address",
        env = "WARREN_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = NonZeroU32::new(100).expect("non-zero")
    )]
    pub login_failures_per_address: NonZeroU32,
    /// Who may sign up: `open` (anyone), `invite` (with an operator's live invite for that
    /// email) or `closed` (no one). The first account on an instance with no accounts is its
    /// operator, whatever the mode.
    #[arg(long = "signup", env = "WARREN_SIGNUP", value_enum, default_value_t = SignupMode::Invite)]
    pub signup: SignupMode,
    /// How long an invite stays good, in hours.
    #[arg(long = "invite-ttl-hours", env = "WARREN_INVITE_TTL_HOURS", default_value_t = 7 * 24)]
    pub invite_ttl_hours: u32,
    /// Sources one user may have at most; creating one more is 403.
    #[arg(
        long = "max-sources-per-user",
        env = "WARREN_MAX_SOURCES_PER_USER",
        default_value_t = 1_000
    )]
    pub max_sources_per_user: u32,
    /// Subscriptions one user may have at most; creating one more is 403.
    #[arg(
        long = "max-subscriptions-per-user",
        env = "WARREN_MAX_SUBSCRIPTIONS_PER_USER",
        default_value_t = 1_000
    )]
    pub max_subscriptions_per_user: u32,
    /// How long a login session lasts, in hours.
    #[arg(long = "session-ttl-hours", env = "WARREN_SESSION_TTL_HOURS", default_value_t = 24 * 30)]
    pub session_ttl_hours: u32,
    /// How often the outbox relay looks for deliveries the broker never confirmed, in ms.
    #[arg(
        long = "outbox-interval-ms",
        env = "WARREN_OUTBOX_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub outbox_interval_ms: u64,
    /// How old an unconfirmed delivery must be before the relay takes it over, in ms; long
    /// enough that the request that created it has finished its own publish.
    #[arg(
        long = "outbox-grace-ms",
        env = "WARREN_OUTBOX_GRACE_MS",
        default_value_t = 10_000
    )]
    pub outbox_grace_ms: u64,
    /// How overdue (in seconds) a waiting delivery marked enqueued must be before the relay
    /// assumes the broker lost its envelope and publishes it again.
    #[arg(
        long = "redeliver-after-secs",
        env = "WARREN_REDELIVER_AFTER_SECS",
        default_value_t = 3_600
    )]
    pub redeliver_after_secs: u64,
    /// How many days events are kept (with their deliveries and attempts); 0 keeps them
    /// forever. An event whose delivery is still pending or retrying is kept until it ends.
    #[arg(
        long = "retention-days",
        env = "WARREN_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub retention_days: u32,
    /// When not 0, how many seconds events are kept, overriding `--retention-days`: for tests
    /// and the fault suite, which watch partitions being dropped within a run.
    #[arg(
        long = "retention-secs",
        env = "WARREN_RETENTION_SECS",
        default_value_t = 0
    )]
    pub retention_secs: u64,
    /// How often (in seconds) the retention sweep runs.
    #[arg(
        long = "retention-interval-secs",
        env = "WARREN_RETENTION_INTERVAL_SECS",
        default_value_t = 300
    )]
    pub retention_interval_secs: u64,
    /// How often (in ms) the held sweeper looks for subscriptions whose held deliveries are to
    /// be held, released or discarded (`ingest/src/held.rs`).
    #[arg(
        long = "held-sweep-interval-ms",
        env = "WARREN_HELD_SWEEP_INTERVAL_MS",
        default_value_t = 250
    )]
    pub held_sweep_interval_ms: u64,
    /// Where alerts are POSTed, signed per Standard Webhooks with `--alert-webhook-secret`
    /// (alerts are also logged at warn and counted in `warren_alerts_firing`). It may carry a
    /// token, as chat webhooks' URLs do, so its value is never shown.
    #[arg(
        long = "alert-webhook-url",
        env = "WARREN_ALERT_WEBHOOK_URL",
        hide_env_values = true
    )]
    pub alert_webhook_url: Option<String>,
    /// The `whsec_` secret alert webhooks are signed with; required with the URL.
    #[arg(
        long = "alert-webhook-secret",
        env = "WARREN_ALERT_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub alert_webhook_secret: Option<String>,
    /// How often (in seconds) the alert checks run.
    #[arg(
        long = "alert-interval-secs",
        env = "WARREN_ALERT_INTERVAL_SECS",
        default_value_t = 30
    )]
    pub alert_interval_secs: u64,
    /// Alert when a delivery has waited this long (seconds) for the outbox to publish it.
    #[arg(
        long = "alert-outbox-age-secs",
        env = "WARREN_ALERT_OUTBOX_AGE_SECS",
        default_value_t = 120
    )]
    pub alert_outbox_age_secs: u64,
    /// Alert when a delivery in the broker has been due this long (seconds) without being
    /// attempted: the main queue is not keeping up.
    #[arg(
        long = "alert-backlog-age-secs",
        env = "WARREN_ALERT_BACKLOG_AGE_SECS",
        default_value_t = 300
    )]
    pub alert_backlog_age_secs: u64,
    /// Alert when a wait tier holds more messages than this.
    #[arg(
        long = "alert-tier-depth",
        env = "WARREN_ALERT_TIER_DEPTH",
        default_value_t = 100_000
    )]
    pub alert_tier_depth: i64,
    /// Non-public ranges subscriptions may target anyway (comma-separated CIDRs).
    #[arg(
        long = "allow-target-cidrs",
        env = "WARREN_ALLOW_TARGET_CIDRS",
        default_value = ""
    )]
    pub allow_target_cidrs: SsrfGuard,
    /// RabbitMQ's management API, for queue depths with unacked counts (`GET /api/v1/queues`
    /// falls back to passive declares without it). Credentials and vhost come from the AMQP URL.
    #[arg(
        long = "rabbitmq-management-url",
        env = "WARREN_RABBITMQ_MANAGEMENT_URL",
        hide_env_values = true,
        default_value = "http://127.0.0.1:15672"
    )]
    pub rabbitmq_management_url: String,
    /// Where the built web app is (served at `/`; `npm run build` in `frontend/` makes it).
    #[arg(
        long = "web-dir",
        env = "WARREN_WEB_DIR",
        default_value = "frontend/dist"
    )]
    pub web_dir: std::path::PathBuf,
    /// How long the old signing secret keeps signing after a rotation, in hours.
    #[arg(
        long = "secret-rotation-overlap-hours",
        env = "WARREN_SECRET_ROTATION_OVERLAP_HOURS",
        default_value_t = 24
    )]
    pub secret_rotation_overlap_hours: u32,
    /// The SMTP server email notification channels are sent through: `smtp://host:port`
    /// (plain), `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port`, with
    /// `user:password@` when it needs a login. Without it, email channels cannot be created.
    #[arg(long = "smtp-url", env = "WARREN_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of notification mails.
    #[arg(
        long = "smtp-from",
        env = "WARREN_SMTP_FROM",
        default_value = "warren@localhost"
    )]
    pub smtp_from: String,
    /// The least time between two notifications of one type about one subscription, in
    /// seconds; what comes sooner is counted into the next, or sent as a digest once the
    /// interval has passed. Set it alike on `warren-deliver`.
    #[arg(
        long = "notify-min-interval-secs",
        env = "WARREN_NOTIFY_MIN_INTERVAL_SECS",
        default_value_t = 600
    )]
    pub notify_min_interval_secs: u64,
    /// How often (in ms) the notification sender looks for sends that are due, digests to
    /// flush and notifications to announce live.
    #[arg(
        long = "notify-poll-ms",
        env = "WARREN_NOTIFY_POLL_MS",
        default_value_t = 1_000
    )]
    pub notify_poll_ms: u64,
    /// The waits between tries of a notification send that failed (its channel's endpoint or
    /// the SMTP server away); after the last, the send is marked failed.
    #[arg(
        long = "notify-retry-schedule",
        env = "WARREN_NOTIFY_RETRY_SCHEDULE",
        default_value = "5s,15s,30s,1m,2m,5m"
    )]
    pub notify_retry_schedule: RetrySchedule,
    /// How often (in seconds) one ingest process checks for subscriptions that started
    /// failing (at least 10 attempts in 15 min, under half of them successful).
    #[arg(
        long = "notify-failing-check-secs",
        env = "WARREN_NOTIFY_FAILING_CHECK_SECS",
        default_value_t = 60
    )]
    pub notify_failing_check_secs: u64,
}

/// Who may sign up (`WARREN_SIGNUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignupMode {
    /// Anyone who reaches the instance.
    Open,
    /// Only with an operator's live invite for the email signing up.
    Invite,
    /// No one (but the first account).
    Closed,
}

impl Settings {
    /// How long events are kept: `--retention-secs` when set, else `--retention-days`;
    /// `None` keeps them forever.
    pub fn retention(&self) -> Option<std::time::Duration> {
        match (self.retention_secs, self.retention_days) {
            (0, 0) => None,
            (0, days) => Some(std::time::Duration::from_secs(u64::from(days) * 86_400)),
            (secs, _) => Some(std::time::Duration::from_secs(secs)),
        }
    }

    /// How long a request's body may take to arrive.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs.max(1))
    }

    /// The origins whose pages may write with the session cookie: the public URL's and the
    /// allowed ones.
    pub fn trusted_origins(&self) -> anyhow::Result<TrustedOrigins> {
        TrustedOrigins::new(&self.public_url, &self.allowed_origins)
            .map_err(anyhow::Error::msg)
            .context("WARREN_PUBLIC_URL must be an http or https URL")
    }

    /// How ingest groups its commits.
    pub fn group_commit(&self) -> GroupCommit {
        GroupCommit {
            max_events: self.group_commit_max_events,
            max_bytes: self.group_commit_max_bytes,
            writers: self.group_commit_writers,
            linger: Duration::from_micros(self.group_commit_linger_us),
        }
    }

    /// The outbox relay's scan interval.
    pub fn outbox_interval(&self) -> Duration {
        Duration::from_millis(self.outbox_interval_ms)
    }

    /// The least time between two notifications of one type about one subscription.
    pub fn notify_min_interval(&self) -> Duration {
        Duration::from_secs(self.notify_min_interval_secs)
    }

    /// The outbox relay's grace period.
    pub fn outbox_grace(&self) -> Duration {
        Duration::from_millis(self.outbox_grace_ms)
    }
}

/// How the groups are formed.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// Most events in one transaction.
    pub max_events: usize,
    /// Most body bytes in one transaction (a larger event is stored alone).
    pub max_bytes: usize,
    /// Transactions in flight at once (each holds a pool connection while it runs).
    pub writers: usize,
    /// How long a transaction that is not full waits for more events after its first.
    pub linger: Duration,
}
