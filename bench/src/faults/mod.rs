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

mod fault;
mod inject;
mod outcome;
mod post_mortem;

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warren_testkit::proxy::TcpProxy;

pub use self::{fault::Fault, outcome::FaultResult};
use self::{inject::Targets, post_mortem::post_mortem};
use crate::{
    api::{Api, NewSubscription},
    cli::Cli,
    cluster::Cluster,
    load::{self, BodyTemplate},
    machine::MachineInfo,
    phase::{self, PhaseContext, PhaseSpec},
    receiver::Receiver,
    settings::LoadShape,
    warren::{Options, Warren},
};

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

/// Runs every fault in turn; each gets its own Warren and receiver.
pub async fn run_suite(
    options: &SuiteOptions<'_>,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<FaultResult>> {
    let mut results = Vec::new();
    let started = std::time::Instant::now();
    for &fault in &options.faults {
        if cancel.is_cancelled() {
            bail!("interrupted");
        }
        // Where the suite is, should a fault hang or fail before it has a line to print.
        eprintln!(
            "warren-faults: {} starting, {} s into the suite",
            fault.name(),
            started.elapsed().as_secs()
        );
        let result = match run_one(options, fault, cancel).await {
            Ok(result) => result,
            // The harness failed (a cluster node that would not start, a CLI call stopped
            // at its limit), not Warren: a fault that ran and lost something is a result,
            // never an error, and is never run again.
            Err(error) if !cancel.is_cancelled() => {
                eprintln!(
                    "warren-faults: {} could not be run ({error:#}); running it once more",
                    fault.name()
                );
                run_one(options, fault, cancel).await?
            }
            Err(error) => return Err(error),
        };
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

/// What a fault may take beyond its load and drain (signing up, a subscription, moving a
/// queue's leader, a node killed and started again) before the suite gives up on it rather
/// than hang.
const SETUP_LIMIT: Duration = Duration::from_secs(300);

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
    let limit = options.duration + options.drain_timeout + SETUP_LIMIT;
    let measured = measure(
        options,
        fault,
        &mut warren,
        &receiver,
        (proxy.as_ref(), cluster.as_ref()),
        cancel,
    );
    let mut outcome = tokio::time::timeout(limit, measured)
        .await
        .unwrap_or_else(|_| {
            Err(anyhow!(
                "{}: no outcome within {} s (load, fault and drain should take at most {} s)",
                fault.name(),
                limit.as_secs(),
                (options.duration + options.drain_timeout).as_secs()
            ))
        });
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
            timeout_ms: fault.timeout_ms(),
            fifo: fault.ordered(),
            max_attempts: fault.max_attempts(),
            batch: fault.batch(),
            ..NewSubscription::new("fault-suite", &target, source.id)
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
