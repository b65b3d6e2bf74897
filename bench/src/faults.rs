//! The fault suite: for each fault, a fresh Warren (its own database and topology prefix), a
//! fresh receiver, an open-loop load of events with unique bodies, the fault injected a third
//! of the way into the load and healed, then a wait until every delivery Warren promised has
//! arrived. Jepsen-style, it checks what the receiver got against what ingest answered:
//!
//! - **lost**: deliveries promised in a 202 that never arrived (must be 0); under
//!   `receiver-outage`, those given up on count too;
//! - **unexpected**: deliveries of events ingest never answered 202 for, beyond those whose
//!   answer was lost in transit (a request cut off by the fault may have been committed, so
//!   its delivery is allowed; one answered 4xx/5xx must never be delivered) (must be 0);
//! - **duplicates**: 2xx answers beyond the first for a delivery (allowed and reported,
//!   except under a graceful SIGTERM, which must finish what it started and cause none).
//!
//! The faults act on the machine's real PostgreSQL and RabbitMQ (`rabbitmqctl`,
//! `pg_ctlcluster`), so nothing else should be using them while the suite runs.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, bail};
use clap::ValueEnum;
use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_testkit::proxy::TcpProxy;

use crate::{
    api::{Api, NewSubscription},
    cli::Cli,
    cluster::{Cluster, Victim},
    load::{self, BodyTemplate},
    machine::MachineInfo,
    pauses::Pauses,
    phase::{self, PhaseContext, PhaseResult, PhaseSpec},
    receiver::{FLAP_TIMEOUT_MS, Receiver},
    settings::LoadShape,
    warren::{Options, Service, Warren},
};

/// A fault the suite injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// `kill -9` of `warren-deliver` with deliveries in flight, then a restart.
    KillDeliver,
    /// `kill -9` of `warren-deliver` while a batch subscription's deliveries gather in its
    /// memory (batches of up to 100, 2 s) and batches are in flight, then a restart: none of
    /// a half-full batch may be lost.
    KillDeliverBatch,
    /// `kill -9` of `warren-ingest` under load (commits without publishes are the outbox's),
    /// then a restart.
    KillIngest,
    /// SIGTERM to `warren-deliver` under load (a graceful drain), then a restart.
    TermDeliver,
    /// Two `warren-deliver` processes restarted one after the other under load (each
    /// SIGTERM, a restart, ready again before the next): no duplicates may come of it.
    RollingRestartDeliver,
    /// `rabbitmqctl close_all_connections`.
    RabbitmqCloseConnections,
    /// `rabbitmqctl stop_app`, 5 s, `rabbitmqctl start_app`.
    RabbitmqStopStart,
    /// A fast restart of PostgreSQL (ingest answers 503 while it is away).
    PostgresRestart,
    /// No process fault: the receiver answers 500 to 30 % of attempts.
    ReceiverFailures,
    /// No process fault: the receiver flaps — each delivery's attempts meet 200, 500, 429
    /// with `Retry-After`, a timeout and a connection reset, in a turn its id picks.
    ReceiverFlaps,
    /// The receiver goes down (every attempt reset) until Warren disables the subscription
    /// (thresholds lowered for the run), stays down a little longer while events keep coming
    /// (held), comes back, and the subscription is enabled with `{"held": "deliver"}`: every
    /// accepted event must reach it, a delivery given up on counting as lost.
    ReceiverOutage,
    /// The link to RabbitMQ (through a TCP proxy) goes silent for 25 s — heartbeats and
    /// confirm timeouts must notice — then every connection on it is reset.
    AmqpStallReset,
    /// `kill -9` of one of two `warren-deliver` processes while a FIFO subscription's line
    /// moves, then a restart: its deliveries must still arrive in commit order.
    OrderedKillDeliver,
    /// `rabbitmqctl stop_app`, 5 s, `start_app` while a FIFO subscription's line moves: its
    /// deliveries must still arrive in commit order.
    OrderedRabbitmqStopStart,
    /// The broker refuses publishes: the worker stops, a policy caps the main queue at 50
    /// messages (`reject-publish` nacks the rest) for 5 s, then the cap goes and the worker
    /// comes back; the outbox must publish what was refused.
    BrokerNacks,
    /// Warren on a three-node RabbitMQ cluster of the suite's own (`AMQP_URL` lists the
    /// three, quorum queues): `kill -9` of the node leading the main queue, started again
    /// 5 s later.
    ClusterKillLeader,
    /// The same cluster: `kill -9` of the node Warren's connections are on, started again
    /// 5 s later.
    ClusterKillConnected,
}

impl Fault {
    /// Every fault, in the order the suite runs them.
    pub const ALL: [Fault; 17] = [
        Fault::KillDeliver,
        Fault::KillDeliverBatch,
        Fault::KillIngest,
        Fault::TermDeliver,
        Fault::RollingRestartDeliver,
        Fault::RabbitmqCloseConnections,
        Fault::RabbitmqStopStart,
        Fault::PostgresRestart,
        Fault::ReceiverFailures,
        Fault::ReceiverFlaps,
        Fault::ReceiverOutage,
        Fault::BrokerNacks,
        Fault::AmqpStallReset,
        Fault::OrderedKillDeliver,
        Fault::OrderedRabbitmqStopStart,
        Fault::ClusterKillLeader,
        Fault::ClusterKillConnected,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    }

    /// Injects the fault and heals it; returns what it saw, when it has something to say.
    async fn inject(
        self,
        warren: &mut Warren,
        targets: &Targets<'_>,
    ) -> anyhow::Result<Option<String>> {
        let done = match self {
            Fault::KillDeliver | Fault::KillDeliverBatch | Fault::OrderedKillDeliver => {
                restart(warren, Service::Deliver(0), Signal::SIGKILL).await
            }
            Fault::KillIngest => restart(warren, Service::Ingest, Signal::SIGKILL).await,
            Fault::TermDeliver => restart(warren, Service::Deliver(0), Signal::SIGTERM).await,
            Fault::RollingRestartDeliver => {
                for n in 0..self.delivers() {
                    restart(warren, Service::Deliver(n), Signal::SIGTERM).await?;
                }
                Ok(())
            }
            Fault::RabbitmqCloseConnections => {
                run(
                    "rabbitmqctl",
                    &["close_all_connections", "warren fault suite"],
                )
                .await
            }
            Fault::RabbitmqStopStart | Fault::OrderedRabbitmqStopStart => {
                run("rabbitmqctl", &["stop_app"]).await?;
                tokio::time::sleep(Duration::from_secs(5)).await;
                run("rabbitmqctl", &["start_app"]).await
            }
            Fault::PostgresRestart => {
                let version = postgres_cluster_version()?;
                run(
                    "pg_ctlcluster",
                    &[
                        "--skip-systemctl-redirect",
                        &version,
                        "main",
                        "restart",
                        "-m",
                        "fast",
                    ],
                )
                .await
            }
            Fault::ReceiverFailures | Fault::ReceiverFlaps => Ok(()),
            Fault::ReceiverOutage => return receiver_outage(targets).await.map(Some),
            Fault::BrokerNacks => refuse_publishes(warren).await,
            Fault::ClusterKillLeader | Fault::ClusterKillConnected => {
                let cluster = targets.cluster.context("no cluster")?;
                let prefix = warren.prefix.as_deref().context("no topology prefix")?;
                let victim = if self == Fault::ClusterKillLeader {
                    Victim::Leader
                } else {
                    Victim::Connected
                };
                let queue = format!("{prefix}.deliver");
                return cluster.kill_and_restart(victim, &queue).await.map(Some);
            }
            Fault::AmqpStallReset => {
                let proxy = targets.proxy.context("no proxy in front of RabbitMQ")?;
                proxy.stall();
                tokio::time::sleep(Duration::from_secs(25)).await;
                proxy.cut();
                tokio::time::sleep(Duration::from_secs(1)).await;
                proxy.restore();
                Ok(())
            }
        };
        done.map(|()| None)
    }

    /// Where the subscription points: a receiver that takes 500 ms when the worker is the
    /// one killed, so deliveries are in flight when it goes.
    fn target_path(self) -> &'static str {
        match self {
            Fault::KillDeliver
            | Fault::KillDeliverBatch
            | Fault::TermDeliver
            | Fault::RollingRestartDeliver => "/slow",
            Fault::ReceiverFlaps => "/flap",
            Fault::ReceiverOutage => "/outage",
            _ => "/hook",
        }
    }

    /// The subscription's attempts per round: Warren's most for an outage, so no delivery
    /// is given up on before the subscription is disabled (the release starts a new round).
    fn max_attempts(self) -> Option<u32> {
        (self == Fault::ReceiverOutage).then_some(20)
    }

    /// Settings for this fault's Warren, beside the retry schedule and the broker's address.
    fn warren_env(self) -> Vec<String> {
        let mut env = vec![
            // The outbox and its sweep pick up what a fault left behind within the drain.
            "WARREN_REDELIVER_AFTER_SECS=30".to_owned(),
            // Reconnections and relays are logged at info: a failure's post-mortem shows them.
            "RUST_LOG=info".to_owned(),
            // Partitions five seconds wide, kept ten: windows are created and dropped whole
            // while the fault runs, and what is still in flight must survive the drops.
            "WARREN_PARTITION_SECS=5".to_owned(),
            "WARREN_RETENTION_SECS=10".to_owned(),
            "WARREN_RETENTION_INTERVAL_SECS=1".to_owned(),
        ];
        if self.receiver_fails() {
            // As in the bench's retry-mix: with answers failing at random the circuit would
            // open within seconds and hold deliveries for its recovery time (and a long
            // enough run of failures would disable the subscription); these faults load the
            // wait queues instead.
            env.push("WARREN_CIRCUIT_FAILURES=1000000".to_owned());
            env.push("WARREN_DISABLE_AFTER_FAILURES=1000000".to_owned());
        }
        if self == Fault::ReceiverOutage {
            // Disabled within a couple of seconds of the outage instead of after a hundred
            // failures an hour apart: the circuit opens after 5 failures and probes every
            // 250 ms, each failed probe one more failure in a row.
            env.push(format!(
                "WARREN_DISABLE_AFTER_FAILURES={OUTAGE_DISABLE_AFTER}"
            ));
            env.push("WARREN_CIRCUIT_FAILURES=5".to_owned());
            env.push("WARREN_CIRCUIT_RECOVERY_MS=250".to_owned());
        }
        env
    }

    /// Promised deliveries lost, of those `undelivered` by the end of the drain and those
    /// `dead` (given up on). Dead ones count only under an outage: there every accepted
    /// event must reach the receiver, since the subscription holds what it cannot deliver;
    /// under the receiver's own failures, giving up after the last attempt is the promise.
    fn lost(self, undelivered: u64, dead: u64) -> u64 {
        if self == Fault::ReceiverOutage {
            undelivered + dead
        } else {
            undelivered
        }
    }

    /// The subscription's `batch` (most events, longest wait in ms): long enough a wait that
    /// a group is always gathering when the worker is killed.
    fn batch(self) -> Option<(u16, u32)> {
        (self == Fault::KillDeliverBatch).then_some((100, 2_000))
    }

    /// The subscription's delivery timeout: short where the receiver times out on purpose.
    fn timeout_ms(self) -> Option<u32> {
        (self == Fault::ReceiverFlaps).then_some(FLAP_TIMEOUT_MS)
    }

    /// Whether the subscription is FIFO (`/ordered/0` at the receiver, paced streams, the
    /// order checked).
    fn ordered(self) -> bool {
        matches!(
            self,
            Fault::OrderedKillDeliver | Fault::OrderedRabbitmqStopStart
        )
    }

    /// How many `warren-deliver` processes run.
    fn delivers(self) -> usize {
        if matches!(
            self,
            Fault::RollingRestartDeliver | Fault::OrderedKillDeliver
        ) {
            2
        } else {
            1
        }
    }

    /// A graceful stop finishes what it started: no duplicates may come of it.
    fn allows_duplicates(self) -> bool {
        !matches!(self, Fault::TermDeliver | Fault::RollingRestartDeliver)
    }

    /// Whether the receiver fails on purpose, so the circuit breaker is set out of the way.
    fn receiver_fails(self) -> bool {
        matches!(self, Fault::ReceiverFailures | Fault::ReceiverFlaps)
    }

    fn failure_ratio(self) -> f64 {
        if self == Fault::ReceiverFailures {
            0.3
        } else {
            0.0
        }
    }
}

/// What a fault acts on besides Warren's processes.
struct Targets<'a> {
    /// The TCP proxy in front of RabbitMQ, for the faults that stall it.
    proxy: Option<&'a TcpProxy>,
    /// The suite's own RabbitMQ cluster, for the cluster faults.
    cluster: Option<&'a Cluster>,
    /// The receiver.
    receiver: &'a Receiver,
    /// The suite's user on Warren's API.
    api: &'a Api,
    /// The subscription the load's events go to.
    subscription_id: Uuid,
}

/// Consecutive failures that disable the subscription under [`Fault::ReceiverOutage`].
const OUTAGE_DISABLE_AFTER: u32 = 10;

/// The longest wait for Warren to disable the subscription once the receiver is down.
const OUTAGE_DISABLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the receiver stays down after the subscription was disabled, events arriving
/// all along (held).
const OUTAGE_AFTER_DISABLE: Duration = Duration::from_secs(2);

/// The receiver goes down; once Warren has disabled the subscription (it must, within
/// [`OUTAGE_DISABLE_TIMEOUT`], by a run of failures, and it must hold events meanwhile) and a
/// little longer, the receiver comes back and the subscription is enabled with
/// `{"held": "deliver"}`. The heal runs whatever happened before it, so the drain never
/// waits on a receiver left down. Returns how soon it was disabled and how much it held.
async fn receiver_outage(targets: &Targets<'_>) -> anyhow::Result<String> {
    let recorder = &targets.receiver.recorder;
    let started = std::time::Instant::now();
    recorder.set_down(true);
    let disabled = wait_disabled_and_held(targets).await;
    let disabled_after = started.elapsed();
    if disabled.is_ok() {
        tokio::time::sleep(OUTAGE_AFTER_DISABLE).await;
    }
    recorder.set_down(false);
    let down_for = started.elapsed();
    let enabled = targets.api.enable(targets.subscription_id, "deliver").await;
    let reason = disabled?;
    let enabled = enabled?;
    if !enabled.is_active {
        bail!("the subscription is still not active after enable");
    }
    Ok(format!(
        "disabled {:.1} s into the outage ({reason}), receiver down {:.1} s, {} held when enabled",
        disabled_after.as_secs_f64(),
        down_for.as_secs_f64(),
        enabled.held_count
    ))
}

/// Polls the subscription until Warren has disabled it (not active, for a reason other than
/// a pause) and holds at least one delivery for it; returns why it was disabled.
async fn wait_disabled_and_held(targets: &Targets<'_>) -> anyhow::Result<String> {
    let started = std::time::Instant::now();
    loop {
        let state = targets.api.subscription(targets.subscription_id).await?;
        if !state.is_active {
            let reason = state.disabled_reason.unwrap_or_default();
            if reason == "paused" {
                bail!("the subscription was paused, not disabled by Warren");
            }
            if state.held_count > 0 {
                return Ok(reason);
            }
        }
        if started.elapsed() >= OUTAGE_DISABLE_TIMEOUT {
            bail!(
                "the subscription was not disabled with deliveries held within {} s of the outage (is_active {}, held {})",
                OUTAGE_DISABLE_TIMEOUT.as_secs(),
                state.is_active,
                state.held_count
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refuse_publishes(warren: &mut Warren) -> anyhow::Result<()> {
    let prefix = warren.prefix.clone().context("no topology prefix")?;
    let policy = format!("{prefix}-fault-max-length");
    let pattern = format!("^{}\\.deliver$", prefix.replace('.', "\\."));
    warren.signal(Service::Deliver(0), Signal::SIGTERM).await?;
    run(
        "rabbitmqctl",
        &[
            "set_policy",
            "--apply-to",
            "queues",
            &policy,
            &pattern,
            r#"{"max-length": 50}"#,
        ],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cleared = run("rabbitmqctl", &["clear_policy", &policy]).await;
    warren.respawn(Service::Deliver(0)).await?;
    cleared
}

async fn restart(warren: &mut Warren, service: Service, signal: Signal) -> anyhow::Result<()> {
    warren.signal(service, signal).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    warren.respawn(service).await
}

async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} {} failed: {status}", args.join(" "));
    }
    Ok(())
}

/// The one PostgreSQL cluster version under `/etc/postgresql`.
fn postgres_cluster_version() -> anyhow::Result<String> {
    std::fs::read_dir("/etc/postgresql")
        .context("reading /etc/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .max()
        .context("no PostgreSQL cluster under /etc/postgresql")
}

/// How the suite runs.
pub struct SuiteOptions<'a> {
    /// The bench's command line (Warren's binaries, broker and database settings).
    pub cli: &'a Cli,
    /// The faults to inject.
    pub faults: Vec<Fault>,
    /// Events/s, open loop.
    pub rate: f64,
    /// How long the load runs per fault.
    pub duration: Duration,
    /// The longest wait for the deliveries after the load.
    pub drain_timeout: Duration,
}

/// One fault's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct FaultResult {
    /// The fault.
    pub fault: String,
    /// Requests sent.
    pub sent: u64,
    /// Answered 202.
    pub accepted: u64,
    /// Deliveries promised in those answers.
    pub promised: u64,
    /// Promised and never delivered (or given up on) by the end of the drain.
    pub lost: u64,
    /// Delivered though never answered 202, beyond the requests whose answer was lost.
    pub unexpected: u64,
    /// Requests cut off without an answer (connection reset, timeout): may or may not have
    /// been committed.
    pub indeterminate: u64,
    /// Extra 2xx deliveries of the same delivery.
    pub duplicates: u64,
    /// Given up on after the last attempt (the receiver's own failures).
    pub dead: u64,
    /// Answers other than 202, by status or failure kind.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Seconds the drain took.
    pub drain_seconds: f64,
    /// Why the fault could not be injected, if it could not.
    pub injection_error: Option<String>,
    /// What the fault saw, when it has something to say (`receiver-outage`: how soon Warren
    /// disabled the subscription, and how many deliveries it held).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether duplicates are allowed under this fault (not under a graceful stop).
    pub duplicates_allowed: bool,
    /// For a failed fault: the deliveries' states, the queues and the logs' last lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_mortem: Option<String>,
    /// For an ordered fault: first arrivals checked against their stream's order, those out
    /// of it, and those sent before the delivery ahead of them was finished.
    pub order: Option<(u64, u64, u64)>,
    /// The longest stretches without a 202 and without a delivery.
    pub pauses: Pauses,
}

impl FaultResult {
    /// Whether Warren kept its promise under this fault.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.unexpected == 0
            && self.injection_error.is_none()
            && (self.duplicates_allowed || self.duplicates == 0)
            && self
                .order
                .is_none_or(|(checked, out_of_order, overlapping)| {
                    checked > 0 && out_of_order == 0 && overlapping == 0
                })
    }

    fn of(fault: Fault, phase: &PhaseResult, injected: anyhow::Result<Option<String>>) -> Self {
        let (note, injection_error) = match injected {
            Ok(note) => (note, None),
            Err(error) => (None, Some(format!("{error:#}"))),
        };
        let indeterminate = phase
            .errors
            .iter()
            .filter(|(kind, _)| kind.parse::<u16>().is_err() && kind.as_str() != "connect")
            .map(|(_, n)| n)
            .sum();
        Self {
            fault: fault.name(),
            sent: phase.sent,
            accepted: phase.accepted,
            promised: phase.expected_deliveries,
            lost: fault.lost(phase.undelivered, phase.dead),
            unexpected: phase.unaccounted.saturating_sub(indeterminate),
            indeterminate,
            duplicates: phase.duplicates,
            dead: phase.dead,
            errors: phase.errors.clone(),
            drain_seconds: phase.drain_seconds,
            injection_error,
            note,
            duplicates_allowed: fault.allows_duplicates(),
            post_mortem: None,
            order: phase
                .ordered
                .as_ref()
                .map(|o| (o.checked, o.out_of_order, o.overlapping)),
            pauses: phase.pauses,
        }
    }

    /// One line: the fault and its three numbers.
    pub fn line(&self) -> String {
        format!(
            "{:<28} {} lost={} unexpected={} duplicates={}  (accepted {} of {}, promised {}, indeterminate {}, dead {}, drained in {:.1} s, longest pause: ingest {:.1} s, delivery {:.1} s{})",
            self.fault,
            if self.passed() { "ok  " } else { "FAIL" },
            self.lost,
            self.unexpected,
            self.duplicates,
            self.accepted,
            self.sent,
            self.promised,
            self.indeterminate,
            self.dead,
            self.drain_seconds,
            self.pauses.ingest_seconds,
            self.pauses.delivery_seconds,
            self.order
                .map(|(checked, out_of_order, overlapping)| format!(
                    "; order: {checked} checked, {out_of_order} out of order, {overlapping} overlapping"
                ))
                .unwrap_or_default()
                + &self
                    .injection_error
                    .as_ref()
                    .map(|e| format!("; injection failed: {e}"))
                    .unwrap_or_default()
                + &self
                    .note
                    .as_ref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
        )
    }
}

/// Runs every fault in turn; each gets its own Warren and receiver.
pub async fn run_suite(
    options: &SuiteOptions<'_>,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<FaultResult>> {
    let mut results = Vec::new();
    for &fault in &options.faults {
        if cancel.is_cancelled() {
            bail!("interrupted");
        }
        let result = run_one(options, fault, cancel).await?;
        println!("{}", result.line());
        if let Some(post_mortem) = &result.post_mortem {
            print!("{post_mortem}");
        }
        results.push(result);
    }
    Ok(results)
}

/// Senders (one stream each) of the ordered faults.
const ORDERED_STREAMS: usize = 4;

/// Short waits, so a delivery failed by the fault is retried within the drain.
const SCHEDULE: &str = "1s,2s,5s,10s";

async fn run_one(
    options: &SuiteOptions<'_>,
    fault: Fault,
    cancel: &CancellationToken,
) -> anyhow::Result<FaultResult> {
    let run_id = format!("f{}", &Uuid::new_v4().simple().to_string()[..7]);
    let receiver = Receiver::start(fault.failure_ratio())?;
    let proxy = match fault {
        Fault::AmqpStallReset => Some(TcpProxy::start("127.0.0.1:5672").await),
        _ => None,
    };
    let cluster = match fault {
        Fault::ClusterKillLeader | Fault::ClusterKillConnected => {
            Some(Cluster::start(&format!("warren-{run_id}")).await?)
        }
        _ => None,
    };
    let mut extra_env = fault.warren_env();
    if let Some(cluster) = &cluster {
        extra_env.push(format!("AMQP_URL={}", cluster.amqp_url()));
        extra_env.push("WARREN_QUEUE_TYPE=quorum".to_owned());
    }
    if let Some(proxy) = &proxy {
        extra_env.push(format!(
            "AMQP_URL=amqp://guest:guest@{}/%2f",
            proxy.address()
        ));
    }
    let warren_options = Options {
        cli: options.cli,
        retry_schedule: Some(SCHEDULE),
        extra_env: &extra_env,
        run_id: &run_id,
        delivers: fault.delivers(),
    };
    let mut warren = match Warren::start(&warren_options).await {
        Ok(warren) => warren,
        Err(error) => {
            if let Some(cluster) = cluster {
                cluster.stop().await;
            }
            return Err(error);
        }
    };
    let mut outcome = measure(
        options,
        fault,
        &mut warren,
        &receiver,
        (proxy.as_ref(), cluster.as_ref()),
        cancel,
    )
    .await;
    if let Ok(result) = &mut outcome
        && !result.passed()
    {
        result.post_mortem = Some(post_mortem(&warren).await);
    }
    warren.stop().await;
    if let Some(cluster) = cluster {
        cluster.stop().await;
    }
    outcome
}

/// Log lines of each process a post-mortem shows.
const POST_MORTEM_LOG_LINES: usize = 40;

/// What a failed fault leaves to look at, read before Warren stops: where the deliveries
/// stand in PostgreSQL, what each queue holds and who consumes it, and the end of each
/// process's log. CI keeps only its output, so this is all a failure there leaves behind.
async fn post_mortem(warren: &Warren) -> String {
    let mut out = String::new();
    match delivery_states(warren).await {
        Ok(states) => out.push_str(&format!(
            "  deliveries (status, enqueued: count): {states}\n"
        )),
        Err(error) => out.push_str(&format!("  deliveries: not read ({error:#})\n")),
    }
    match warren.queues().await {
        Ok(queues) => {
            for q in queues {
                out.push_str(&format!(
                    "  queue {}: {} messages, {} consumers\n",
                    q.name,
                    q.messages.map_or("?".into(), |n| n.to_string()),
                    q.consumers.map_or("?".into(), |n| n.to_string()),
                ));
            }
        }
        Err(error) => out.push_str(&format!("  queues: not read ({error:#})\n")),
    }
    for url in warren.ready_urls() {
        out.push_str(&format!("  {url}: {}\n", readiness(&url).await));
    }
    for process in warren.figures() {
        out.push_str(&format!("  last lines of {}:\n", process.log));
        let text = std::fs::read_to_string(&process.log).unwrap_or_default();
        // A span's start and end say little; its events and every other line stay.
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| !line.contains(" - START]\"") && !line.contains(" - END]\""))
            .collect();
        for line in &lines[lines.len().saturating_sub(POST_MORTEM_LOG_LINES)..] {
            let line: String = compact_log_line(line).chars().take(400).collect();
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// A process's answer to `/readyz` (which links are up), or why there was none.
async fn readiness(url: &str) -> String {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build();
    let answer = match client {
        Ok(client) => client.get(url).send().await,
        Err(error) => return format!("no client ({error})"),
    };
    match answer {
        Ok(response) => {
            let status = response.status();
            format!("{status} {}", response.text().await.unwrap_or_default())
        }
        Err(error) => format!("no answer ({error})"),
    }
}

/// Counts of the deliveries by status and `enqueued`.
async fn delivery_states(warren: &Warren) -> anyhow::Result<String> {
    let url = warren.database_url.as_deref().context("no database")?;
    let client = crate::database::connect(url).await?;
    let rows = client
        .query(
            "SELECT status::text, enqueued, count(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "{}, {}: {}",
                r.get::<_, String>(0),
                r.get::<_, bool>(1),
                r.get::<_, i64>(2)
            )
        })
        .collect::<Vec<_>>()
        .join("; "))
}

/// A bunyan line as `time target: msg key=value…`, without the fields every line has.
fn compact_log_line(line: &str) -> String {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str(line) else {
        return line.to_owned();
    };
    let mut take = |key: &str| match fields.remove(key) {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let head = format!("{} {}: {}", take("time"), take("target"), take("msg"));
    for key in ["v", "name", "hostname", "pid", "level", "line", "file"] {
        fields.remove(key);
    }
    fields
        .iter()
        .fold(head, |acc, (key, value)| format!("{acc} {key}={value}"))
}

async fn measure(
    options: &SuiteOptions<'_>,
    fault: Fault,
    warren: &mut Warren,
    receiver: &Receiver,
    (proxy, cluster): (Option<&TcpProxy>, Option<&Cluster>),
    cancel: &CancellationToken,
) -> anyhow::Result<FaultResult> {
    let api = Api::signup(&warren.base_url).await?;
    let source = api.create_source().await?;
    let target = if fault.ordered() {
        receiver.url(&crate::receiver::ordered_path(0))
    } else {
        receiver.url(fault.target_path())
    };
    let subscription_id = api
        .create_subscription(&NewSubscription {
            name: "fault-suite",
            target_url: &target,
            source_id: source.id,
            event_types: &[],
            timeout_ms: fault.timeout_ms(),
            fifo: fault.ordered(),
            max_attempts: fault.max_attempts(),
            rate_limit_per_sec: None,
            batch: fault.batch(),
        })
        .await?;
    let ctx = PhaseContext {
        client: load::client()?,
        ingest_url: api.ingest_url(&source),
        body: BodyTemplate::new(1024),
        recorder: receiver.recorder.clone(),
        watched: warren.watched(),
        database_url: None,
        cores: MachineInfo::read().cores,
        cancel: cancel.clone(),
    };
    let spec = PhaseSpec {
        name: fault.name(),
        load: if fault.ordered() {
            // Streams of events each sent after the one before it was accepted: their
            // commit order is known, so their arrival order can be checked.
            LoadShape::Streams {
                streams: ORDERED_STREAMS,
                rate: options.rate,
            }
        } else {
            LoadShape::Open {
                rate: options.rate,
                max_in_flight: 512,
            }
        },
        warmup: Duration::ZERO,
        duration: options.duration,
        drain_timeout: options.drain_timeout,
        ordered: fault.ordered().then_some(1),
    };
    if let Some(cluster) = cluster
        && fault == Fault::ClusterKillLeader
    {
        let prefix = warren.prefix.as_deref().context("no topology prefix")?;
        cluster.lead_elsewhere(&format!("{prefix}.deliver")).await?;
    }
    let targets = Targets {
        proxy,
        cluster,
        receiver,
        api: &api,
        subscription_id,
    };
    let inject = async {
        tokio::time::sleep(options.duration / 3).await;
        fault.inject(warren, &targets).await
    };
    let (phase, injected) = tokio::join!(phase::run(&ctx, &spec), inject);
    Ok(FaultResult::of(fault, &phase, injected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(order: Option<(u64, u64, u64)>) -> FaultResult {
        FaultResult {
            fault: "ordered-kill-deliver".into(),
            sent: 10,
            accepted: 10,
            promised: 10,
            lost: 0,
            unexpected: 0,
            indeterminate: 0,
            duplicates: 1,
            dead: 0,
            errors: Default::default(),
            drain_seconds: 1.0,
            injection_error: None,
            note: None,
            duplicates_allowed: true,
            post_mortem: None,
            order,
            pauses: Pauses::default(),
        }
    }

    #[test]
    fn an_ordered_fault_fails_on_any_arrival_out_of_order_or_nothing_checked() {
        assert!(result(None).passed());
        assert!(result(Some((10, 0, 0))).passed());
        assert!(!result(Some((10, 1, 0))).passed(), "out of order");
        assert!(!result(Some((10, 0, 1))).passed(), "overlapping");
        assert!(!result(Some((0, 0, 0))).passed(), "nothing checked");
        assert!(result(Some((10, 1, 0))).line().contains("1 out of order"));
    }

    #[test]
    fn a_post_mortem_shows_a_log_line_without_the_fields_every_line_has() {
        let line = r#"{"v":0,"name":"warren-deliver","msg":"consumer failed","level":40,"hostname":"vm","pid":7,"time":"2026-12-03T17:10:39.8Z","target":"warren_deliver::worker","line":231,"file":"deliver/src/worker.rs","error":"reset"}"#;
        assert_eq!(
            compact_log_line(line),
            r#"2026-12-03T17:10:39.8Z warren_deliver::worker: consumer failed error="reset""#
        );
        assert_eq!(compact_log_line("not json"), "not json");
    }

    #[test]
    fn a_receiver_outage_lowers_the_thresholds_and_counts_a_dead_delivery_as_lost() {
        let outage = Fault::ReceiverOutage;
        let env = outage.warren_env();
        let setting = |key: &str| {
            env.iter()
                .rev()
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let disable_after = setting("WARREN_DISABLE_AFTER_FAILURES").expect("lowered");
        let circuit_failures = setting("WARREN_CIRCUIT_FAILURES").expect("set");
        assert!(
            circuit_failures < disable_after && disable_after <= 20,
            "the circuit opens, then a few probes disable it"
        );
        assert!(setting("WARREN_CIRCUIT_RECOVERY_MS").expect("short") <= 1_000);
        // No delivery may run out of attempts before the subscription is disabled.
        assert!(outage.max_attempts().expect("set") > u32::try_from(disable_after).expect("small"));
        assert_eq!(outage.target_path(), "/outage");
        assert!(outage.allows_duplicates() && !outage.receiver_fails());
        assert_eq!(outage.lost(0, 2), 2, "given up on is lost");
        assert_eq!(
            Fault::ReceiverFailures.lost(0, 2),
            0,
            "the last attempt failed"
        );
        assert!(Fault::ALL.contains(&outage));
        assert_eq!(outage.name(), "receiver-outage");
    }

    #[test]
    fn only_the_batch_fault_batches_and_its_worker_is_killed_with_batches_in_flight() {
        let fault = Fault::KillDeliverBatch;
        assert_eq!(fault.batch(), Some((100, 2_000)));
        assert_eq!(
            fault.target_path(),
            "/slow",
            "a batch in flight when it dies"
        );
        assert!(Fault::ALL.contains(&fault) && fault.allows_duplicates());
        assert_eq!(fault.name(), "kill-deliver-batch");
        assert!(
            Fault::ALL
                .iter()
                .filter(|f| **f != fault)
                .all(|f| f.batch().is_none())
        );
    }

    #[test]
    fn the_ordered_faults_run_fifo_subscriptions_and_the_others_do_not() {
        assert!(Fault::OrderedKillDeliver.ordered() && Fault::OrderedRabbitmqStopStart.ordered());
        assert!(!Fault::KillDeliver.ordered());
        assert_eq!(Fault::OrderedKillDeliver.delivers(), 2);
    }
}
