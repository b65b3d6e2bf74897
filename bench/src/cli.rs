//! The command line, and the plan it resolves to: each scenario's defaults, and the small
//! figures `--smoke` shrinks every run to.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::settings::{ATTACKERS, LEGIT_RATE, LoadShape};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Closed loop: `--concurrency` senders, each sending its next event when the last is
    /// answered. Finds the ceiling.
    Max,
    /// Open loop at `--rate` events/s (default 1,000); latency from the intended send time.
    Rate,
    /// Each event goes to `--subscriptions` subscriptions (default 10); closed loop unless
    /// `--rate` is given.
    Fanout,
    /// Open loop at `--rate` (default 1,000) with `--failure-ratio` (default 0.3) of the
    /// receiver's answers a 500, so failed attempts go through the wait queues.
    RetryMix,
    /// `rate` without a backlog, then `--backlog` deliveries parked in the long wait queues,
    /// then `rate` again.
    Backlog,
    /// `GET /api/v1/subscriptions/{id}/stats?window=7d` over `--stats-attempts` attempts.
    Stats,
    /// Every event to `--subscriptions` ordered (FIFO) subscriptions (default 4), at `--rate`
    /// (default 200) from `--concurrency` senders (default 16) that each send their own
    /// stream of events one after the other; reports delivered/s per subscription and checks
    /// the order each subscription received every stream in.
    Ordered,
    /// Releasing held deliveries: subscription A, paused, holds `--held` deliveries (default
    /// 100,000, written straight into the database) and has a rate limit of
    /// `--release-rate` (default 2,000/s); subscription B takes an open loop at `--rate`
    /// (default 200) of events A does not match. B is measured once with nothing released,
    /// then A is enabled with `{"held": "deliver"}` and B is measured again while A's
    /// deliveries go out; reports how long the release took and B's end-to-end latency in
    /// both phases.
    Release,
    /// A flood of worst-case ingest requests: `--concurrency` attackers (default 64, one
    /// connection each, closed loop) send a source that verifies Standard Webhooks signatures
    /// requests it must refuse, each as costly as a refusal can be (the largest body, 2,000
    /// signature candidates, as many headers as hyper reads or more, one HMAC over the whole
    /// body); meanwhile `/healthz` is asked every 10 ms on its own connection and legitimate
    /// events go to another source at `--rate` (default 50/s). Runs once without the attack,
    /// then with it; reports `/healthz` and the legitimate events' latency in both, and the
    /// attack's requests and bytes a second by answer.
    Abuse,
    /// A long history: `max` on the empty database, then `--history-events` events (default
    /// 10,000,000: one delivery each, two attempts per delivery) written over the last
    /// `--history-days` days (default 14) straight into the tables, `max` again, the 7-day
    /// stats, the events list and a `contains` search timed on that database, and the oldest
    /// day's partitions dropped while `--history-rate` events/s (default 500) come in.
    History,
}

impl Scenario {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Max => "max",
            Scenario::Rate => "rate",
            Scenario::Fanout => "fanout",
            Scenario::RetryMix => "retry-mix",
            Scenario::Backlog => "backlog",
            Scenario::Stats => "stats",
            Scenario::Ordered => "ordered",
            Scenario::Release => "release",
            Scenario::Abuse => "abuse",
            Scenario::History => "history",
        }
    }
}

/// `warren-bench`: Warren's end-to-end benchmark.
#[derive(Debug, Clone, Parser)]
#[command(name = "warren-bench", version, about, long_about = None)]
pub struct Cli {
    /// The scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::Max)]
    pub scenario: Scenario,
    /// A few seconds of tiny load that checks the whole path and reports (for CI). Fails only
    /// when the run breaks, never because of a figure.
    #[arg(long)]
    pub smoke: bool,
    /// Watch Warren while it runs, as users and operators do: a live-log socket signed in as
    /// the bench's user and a scrape of both services' `/metrics` every second (compare a
    /// run with and without it).
    #[arg(long)]
    pub observe: bool,
    /// Point at a running Warren (its ingest base URL, e.g. http://127.0.0.1:8080) instead of
    /// starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// With `--url`: the database that Warren uses (needed by `backlog` and `stats`, which
    /// insert rows).
    #[arg(long)]
    pub database_url: Option<String>,
    /// With `--url`: that Warren's topology prefix (needed by `backlog`).
    #[arg(long)]
    pub topology_prefix: Option<String>,
    /// Where to create (and drop) the bench database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub admin_database_url: String,
    /// Leave the bench database in place after the run (its name is printed), to look at
    /// its tables or time statements on it; drop it by hand afterwards.
    #[arg(long)]
    pub keep_database: bool,
    /// RabbitMQ, for Warren and for parking the backlog.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,
    /// RabbitMQ's management API (credentials are the AMQP URL's).
    #[arg(long, default_value = "http://127.0.0.1:15672")]
    pub rabbitmq_management_url: String,
    /// Where `warren-ingest` and `warren-deliver` are (default: the workspace's
    /// target/release).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Port for the started `warren-ingest` (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub ingest_port: u16,
    /// Port for the started `warren-deliver`'s health server (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub deliver_port: u16,
    /// `WARREN_PREFETCH` for the started `warren-deliver` (Warren's default if absent).
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// `WARREN_RETRY_SCHEDULE` for the started Warren (default: Warren's, except
    /// `retry-mix`, which uses 1s,2s,5s,10s,20s,30s,1m so retries come back within the run).
    #[arg(long)]
    pub retry_schedule: Option<String>,
    /// Any other setting for the started Warren, as KEY=VALUE (repeatable; `retry-mix` sets
    /// WARREN_CIRCUIT_FAILURES=1000000 unless this says otherwise).
    #[arg(long = "warren-env", value_name = "KEY=VALUE")]
    pub warren_env: Vec<String>,
    /// Closed loop: concurrent senders (one connection each); `ordered`: senders, each
    /// sending its own stream of events one after the other (default 64; 16 for `ordered`);
    /// `abuse`: attackers (default 64).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Open loop at this many events/s (scenarios `rate`, `retry-mix` and `backlog` default
    /// to 1,000, `ordered` and `release` to 200, `abuse` to 50; given to `max` or `fanout` it makes them
    /// open loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: requests in flight at most; later ones wait (their latency still counts
    /// from their intended send time).
    #[arg(long, default_value_t = 4096)]
    pub max_in_flight: usize,
    /// Subscriptions each event goes to (default 10 for `fanout`, 4 for `ordered`, else 1).
    #[arg(long)]
    pub subscriptions: Option<usize>,
    /// `max` and `fanout`: each subscription takes its events in batches of up to this many
    /// (`batch.max_events`, 2 to 500; a worker's batches hold at most half its prefetch, so
    /// above 128 give `--prefetch` too), waiting at most `--batch-wait-ms`.
    #[arg(long)]
    pub batch: Option<u16>,
    /// With `--batch`: how long a batch's first event waits for the rest (`max_wait_ms`).
    #[arg(long, default_value_t = 1_000)]
    pub batch_wait_ms: u32,
    /// Size of each event's JSON body, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub body_size: usize,
    /// How long the measured load runs (e.g. 15s, 2m).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measurement starts, not counted.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// How long to wait after the load for deliveries to finish (default 30s; 90s for
    /// `retry-mix` and `ordered`).
    #[arg(long, value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// `backlog`: deliveries parked in the wait queues before the second `rate` run.
    #[arg(long, default_value_t = 1_000_000)]
    pub backlog: u64,
    /// `stats`: attempt rows inserted for the subscription, spread over the last 7 days.
    #[arg(long, default_value_t = 1_000_000)]
    pub stats_attempts: u64,
    /// `stats`: attempts per delivery among them (the last one of each succeeds, except one
    /// delivery in a hundred, which is dead).
    #[arg(long, default_value_t = 2)]
    pub stats_attempts_per_delivery: u32,
    /// `history`: events written (one delivery each, two attempts per delivery).
    #[arg(long, default_value_t = 10_000_000)]
    pub history_events: u64,
    /// `history`: the days they are spread over, ending at the start of today (UTC). By
    /// default 14: the one subscription's 20 million attempts are then 10 million a week,
    /// the busy subscription issue 25 measures the 7-day stats against.
    #[arg(long, default_value_t = 14)]
    pub history_days: u32,
    /// `history`: events/s while the oldest day is dropped (and just before).
    #[arg(long, default_value_t = 500.0)]
    pub history_rate: f64,
    /// `stats`: how many times the stats call is timed (one at a time, for 60 s at most).
    #[arg(long, default_value_t = 100)]
    pub stats_calls: usize,
    /// `release`: deliveries held for the paused subscription before it is enabled.
    #[arg(long, default_value_t = 100_000)]
    pub held: u64,
    /// `release`: the paused subscription's rate limit, deliveries a second, which paces its
    /// release (at most 10,000, Warren's highest).
    #[arg(long, default_value_t = RELEASE_RATE_LIMIT)]
    pub release_rate: u32,
    /// Share of the receiver's answers that are 500 (default 0.3 for `retry-mix`, else 0).
    #[arg(long)]
    pub failure_ratio: Option<f64>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Everything a run needs, every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The scenario.
    pub scenario: Scenario,
    /// Whether this is a smoke run.
    pub smoke: bool,
    /// Whether the live log and a metrics scraper watch the run.
    pub observe: bool,
    /// The load.
    pub load: LoadShape,
    /// Subscriptions each event goes to.
    pub subscriptions: usize,
    /// Event body size in bytes.
    pub body_size: usize,
    /// Measured load time.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Unmeasured load before it.
    #[serde(serialize_with = "secs")]
    pub warmup: Duration,
    /// Longest wait for deliveries after the load.
    #[serde(serialize_with = "secs")]
    pub drain_timeout: Duration,
    /// Share of receiver answers that are 500.
    pub failure_ratio: f64,
    /// Deliveries to park (`backlog`).
    pub backlog: u64,
    /// Attempt rows to insert (`stats`).
    pub stats_attempts: u64,
    /// Attempts per delivery among them.
    pub stats_attempts_per_delivery: u32,
    /// Stats calls to time (and each of `history`'s reads).
    pub stats_calls: usize,
    /// Events written (`history`).
    pub history_events: u64,
    /// The days they span (`history`).
    pub history_days: u32,
    /// Events/s around the drop (`history`).
    pub history_rate: f64,
    /// Deliveries held for the paused subscription (`release`).
    pub held: u64,
    /// Its rate limit, deliveries a second (`release`).
    pub release_rate: u32,
    /// Attackers, closed loop, one connection each (`abuse`).
    pub attackers: usize,
    /// The subscriptions' batch (`max`, `fanout`): most events per request, and the longest
    /// wait in ms.
    pub batch: Option<(u16, u32)>,
    /// The retry schedule given to a started Warren, if not its default.
    pub retry_schedule: Option<String>,
    /// Settings given to a started Warren (KEY=VALUE): the scenario's, then `--warren-env`'s,
    /// so the command line wins.
    pub warren_env: Vec<String>,
}

/// The schedule `retry-mix` gives a started Warren: short waits, so that most retries come
/// back (and are measured) within the run.
pub const RETRY_MIX_SCHEDULE: &str = "1s,2s,5s,10s,20s,30s,1m";

/// What `retry-mix` gives a started Warren: a circuit breaker that never opens, because
/// with 30 % of answers failing at random, five failures in a row come within seconds and
/// the open circuit would hold the deliveries instead of the wait queues (which are what
/// this scenario loads). `--warren-env WARREN_CIRCUIT_FAILURES=5` puts Warren's default back.
pub const RETRY_MIX_ENV: &[&str] = &["WARREN_CIRCUIT_FAILURES=1000000"];

fn scenario_env(scenario: Scenario) -> &'static [&'static str] {
    match scenario {
        Scenario::RetryMix => RETRY_MIX_ENV,
        _ => &[],
    }
}

impl Plan {
    /// Resolves the command line into a plan.
    pub fn resolve(cli: &Cli) -> anyhow::Result<Self> {
        check_ranges(cli)?;
        let scenario = cli.scenario;
        let mut plan = Self {
            scenario,
            smoke: cli.smoke,
            observe: cli.observe,
            load: load_shape(cli),
            subscriptions: cli.subscriptions.unwrap_or(match scenario {
                Scenario::Fanout => 10,
                Scenario::Ordered => ORDERED_SUBSCRIPTIONS,
                _ => 1,
            }),
            body_size: cli.body_size,
            duration: cli.duration,
            warmup: cli.warmup,
            drain_timeout: cli.drain_timeout.unwrap_or(match scenario {
                Scenario::RetryMix | Scenario::Ordered => Duration::from_secs(90),
                _ => Duration::from_secs(30),
            }),
            failure_ratio: cli.failure_ratio.unwrap_or(match scenario {
                Scenario::RetryMix => 0.3,
                _ => 0.0,
            }),
            backlog: cli.backlog,
            stats_attempts: cli.stats_attempts,
            stats_attempts_per_delivery: cli.stats_attempts_per_delivery,
            stats_calls: cli.stats_calls,
            history_events: cli.history_events,
            history_days: cli.history_days,
            history_rate: cli.history_rate,
            held: cli.held,
            release_rate: cli.release_rate,
            attackers: cli.concurrency.unwrap_or(ATTACKERS),
            batch: cli.batch.map(|events| (events, cli.batch_wait_ms)),
            retry_schedule: cli.retry_schedule.clone().or(match scenario {
                Scenario::RetryMix => Some(RETRY_MIX_SCHEDULE.into()),
                _ => None,
            }),
            warren_env: scenario_env(scenario)
                .iter()
                .map(|kv| (*kv).to_owned())
                .chain(cli.warren_env.iter().cloned())
                .collect(),
        };
        if plan.smoke {
            plan.shrink_for_smoke();
        }
        Ok(plan)
    }

    /// A few seconds of tiny load: enough to prove every part of the path works.
    fn shrink_for_smoke(&mut self) {
        self.duration = self.duration.min(Duration::from_secs(3));
        self.warmup = self.warmup.min(Duration::from_secs(1));
        self.drain_timeout = self.drain_timeout.min(Duration::from_secs(20));
        self.backlog = self.backlog.min(1_000);
        self.stats_attempts = self.stats_attempts.min(10_000);
        self.stats_calls = self.stats_calls.min(10);
        self.history_events = self.history_events.min(20_000);
        self.history_rate = self.history_rate.min(50.0);
        self.held = self.held.min(2_000);
        self.attackers = self.attackers.min(4);
        self.load = match self.load {
            LoadShape::Closed { concurrency } => LoadShape::Closed {
                concurrency: concurrency.min(4),
            },
            LoadShape::Open {
                rate,
                max_in_flight,
            } => LoadShape::Open {
                rate: rate.min(50.0),
                max_in_flight,
            },
            LoadShape::Streams { streams, rate } => LoadShape::Streams {
                streams: streams.min(4),
                rate: rate.min(50.0),
            },
        };
    }
}

/// Subscriptions `ordered` creates unless `--subscriptions` says otherwise.
pub const ORDERED_SUBSCRIPTIONS: usize = 4;

/// Senders (streams) `ordered` runs unless `--concurrency` says otherwise: each sends every
/// 80 ms at the default rate, far longer than an ingest answer takes.
pub const ORDERED_STREAMS: usize = 16;

/// Events/s `ordered` sends unless `--rate` says otherwise: more than one ordered
/// subscription delivers here, so that the lines always have work waiting, while ingest
/// leaves them most of the machine (see BENCHMARKS.md).
pub const ORDERED_RATE: f64 = 200.0;

/// Events/s the subscription measured beside a release (B) takes unless `--rate` says
/// otherwise.
pub const RELEASE_RATE: f64 = 200.0;

/// The rate limit of the subscription `release` releases, unless `--release-rate` says
/// otherwise: 100,000 held deliveries go out in about 50 s, well within what one worker
/// delivers here, while the release is long enough to measure the other subscription in.
pub const RELEASE_RATE_LIMIT: u32 = 2_000;

/// Closed loop for `max` and `fanout` unless a rate is given; paced streams for `ordered`;
/// open loop for the others.
fn load_shape(cli: &Cli) -> LoadShape {
    let open = |rate| LoadShape::Open {
        rate,
        max_in_flight: cli.max_in_flight,
    };
    match (cli.scenario, cli.rate) {
        (Scenario::Ordered, rate) => LoadShape::Streams {
            streams: cli.concurrency.unwrap_or(ORDERED_STREAMS),
            rate: rate.unwrap_or(ORDERED_RATE),
        },
        (_, Some(rate)) => open(rate),
        (Scenario::Release, None) => open(RELEASE_RATE),
        (Scenario::Abuse, None) => open(LEGIT_RATE),
        (Scenario::Max | Scenario::Fanout | Scenario::History, None) => LoadShape::Closed {
            concurrency: cli.concurrency.unwrap_or(64),
        },
        (_, None) => open(1_000.0),
    }
}

fn check_ranges(cli: &Cli) -> anyhow::Result<()> {
    if cli.concurrency == Some(0) || cli.max_in_flight == 0 {
        bail!("--concurrency and --max-in-flight must be at least 1");
    }
    if cli.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of events per second");
    }
    if cli.failure_ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        bail!("--failure-ratio must be between 0 and 1");
    }
    if cli.subscriptions == Some(0) || cli.stats_attempts_per_delivery == 0 {
        bail!("--subscriptions and --stats-attempts-per-delivery must be at least 1");
    }
    if cli.held == 0 || !(1..=10_000).contains(&cli.release_rate) {
        bail!("--held must be at least 1 and --release-rate between 1 and 10000");
    }
    if cli.history_events == 0 || !(2..=365).contains(&cli.history_days) {
        bail!("--history-events must be at least 1 and --history-days between 2 and 365");
    }
    if !(cli.history_rate > 0.0 && cli.history_rate.is_finite()) {
        bail!("--history-rate must be a positive number of events per second");
    }
    if cli.duration.is_zero() {
        bail!("--duration must be longer than zero");
    }
    if let Some(events) = cli.batch {
        if !(2..=500).contains(&events) || cli.batch_wait_ms > 60_000 {
            bail!("--batch must be between 2 and 500 and --batch-wait-ms at most 60000");
        }
        if !matches!(cli.scenario, Scenario::Max | Scenario::Fanout) {
            bail!("--batch is for the max and fanout scenarios");
        }
    }
    Ok(())
}

/// Parses `500ms`, `15s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a duration like 500ms, 15s, 2m or 1h"))?;
    let seconds = match unit {
        "ms" => number / 1_000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3_600.0,
        other => bail!("unknown duration unit `{other}` (use ms, s, m or h)"),
    };
    Duration::try_from_secs_f64(seconds).with_context(|| format!("`{text}` is out of range"))
}

fn secs<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("warren-bench").chain(args.iter().copied()))
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("15").ok(), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert!(parse_duration("2 weeks").is_err());
    }

    #[test]
    fn max_is_a_closed_loop_until_a_rate_is_given() {
        let plan = Plan::resolve(&cli(&["--concurrency", "8"])).expect("a plan");
        assert_eq!(plan.load, LoadShape::Closed { concurrency: 8 });
        let plan = Plan::resolve(&cli(&["--rate", "200"])).expect("a plan");
        assert!(matches!(plan.load, LoadShape::Open { rate, .. } if rate == 200.0));
    }

    #[test]
    fn retry_mix_fails_thirty_percent_on_a_short_schedule() {
        let plan = Plan::resolve(&cli(&["--scenario", "retry-mix"])).expect("a plan");
        assert_eq!(plan.failure_ratio, 0.3);
        assert_eq!(plan.retry_schedule.as_deref(), Some(RETRY_MIX_SCHEDULE));
        assert_eq!(plan.warren_env, RETRY_MIX_ENV);
        assert!(matches!(plan.load, LoadShape::Open { rate, .. } if rate == 1_000.0));
    }

    #[test]
    fn ordered_runs_streams_to_four_fifo_subscriptions() {
        let plan = Plan::resolve(&cli(&["--scenario", "ordered"])).expect("a plan");
        assert_eq!(plan.subscriptions, ORDERED_SUBSCRIPTIONS);
        assert_eq!(
            plan.load,
            LoadShape::Streams {
                streams: ORDERED_STREAMS,
                rate: ORDERED_RATE
            }
        );
        let plan =
            Plan::resolve(&cli(&["--scenario", "ordered", "--rate", "500"])).expect("a plan");
        assert!(matches!(plan.load, LoadShape::Streams { rate, .. } if rate == 500.0));
        let plan = Plan::resolve(&cli(&["--smoke", "--scenario", "ordered"])).expect("a plan");
        assert!(matches!(plan.load, LoadShape::Streams { streams, .. } if streams <= 4));
    }

    #[test]
    fn release_holds_a_hundred_thousand_beside_two_hundred_events_a_second() {
        let plan = Plan::resolve(&cli(&["--scenario", "release"])).expect("a plan");
        assert_eq!(plan.held, 100_000);
        assert_eq!(plan.release_rate, RELEASE_RATE_LIMIT);
        assert!(matches!(plan.load, LoadShape::Open { rate, .. } if rate == RELEASE_RATE));
        let plan = Plan::resolve(&cli(&["--smoke", "--scenario", "release"])).expect("a plan");
        assert!(plan.held <= 2_000);
        assert!(
            Plan::resolve(&cli(&["--scenario", "release", "--release-rate", "20000"])).is_err()
        );
    }

    #[test]
    fn abuse_floods_with_sixty_four_beside_fifty_events_a_second() {
        let plan = Plan::resolve(&cli(&["--scenario", "abuse"])).expect("a plan");
        assert_eq!(plan.attackers, ATTACKERS);
        assert!(matches!(plan.load, LoadShape::Open { rate, .. } if rate == 50.0));
        let plan = Plan::resolve(&cli(&["--smoke", "--scenario", "abuse"])).expect("a plan");
        assert!(plan.attackers <= 4);
    }

    #[test]
    fn smoke_shrinks_every_figure() {
        let plan = Plan::resolve(&cli(&["--smoke", "--scenario", "backlog"])).expect("a plan");
        assert!(plan.duration <= Duration::from_secs(3));
        assert!(plan.backlog <= 1_000);
        assert!(matches!(plan.load, LoadShape::Open { rate, .. } if rate <= 50.0));
    }
}
