//! Injecting a fault and healing it: signals to Warren's processes, `rabbitmqctl`,
//! `pg_ctlcluster`, a policy that refuses publishes, the receiver's outage, the proxy's
//! stall, the cluster's killed node.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use tokio::process::Command;
use uuid::Uuid;
use warren_testkit::proxy::TcpProxy;

use super::fault::Fault;
use crate::{
    api::Api,
    cluster::{Cluster, Victim},
    receiver::Receiver,
    warren::{Service, Warren},
};

impl Fault {
    /// Injects the fault and heals it; returns what it saw, when it has something to say.
    pub(super) async fn inject(
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
}

/// What a fault acts on besides Warren's processes.
pub(super) struct Targets<'a> {
    /// The TCP proxy in front of RabbitMQ, for the faults that stall it.
    pub(super) proxy: Option<&'a TcpProxy>,
    /// The suite's own RabbitMQ cluster, for the cluster faults.
    pub(super) cluster: Option<&'a Cluster>,
    /// The receiver.
    pub(super) receiver: &'a Receiver,
    /// The suite's user on Warren's API.
    pub(super) api: &'a Api,
    /// The subscription the load's events go to.
    pub(super) subscription_id: Uuid,
}

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
