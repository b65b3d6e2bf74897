//! A whole run: the environment read, the receiver and Warren started, the user, source and
//! subscriptions created through the public API, the scenario's phases run, everything torn
//! down (whatever happened), and the report put together.

mod abuse;
mod backlog;
mod broken;
mod context;
mod release;
mod stats;

use anyhow::bail;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use self::broken::broken;
use self::context::{Measured, Run, Setup};
use crate::{
    broker::Management,
    cli::{Cli, Plan, Scenario},
    database::PostgresInfo,
    history::HistoryRun,
    load::{self, BodyTemplate},
    machine::MachineInfo,
    observe::Observers,
    phase::{self, PhaseContext},
    receiver::Receiver,
    report::{self, Environment, Report},
    warren::{Options, ProcessFigures, Warren},
};

/// Runs the command line's scenario and reports. Warren, its database and its topology are
/// torn down whatever happens, Ctrl-C (`cancel`) included.
pub async fn run(cli: Cli, cancel: CancellationToken) -> anyhow::Result<Report> {
    let plan = Plan::resolve(&cli)?;
    let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let started_at = OffsetDateTime::now_utc().format(&Rfc3339)?;
    let machine = MachineInfo::read();
    let management = Management::new(&cli.rabbitmq_management_url, &cli.amqp_url)?;
    let rabbitmq = management.info().await.map_err(warn).ok();
    let receiver = Receiver::start(plan.failure_ratio)?;
    let mut warren = start_warren(&cli, &plan, &run_id).await?;
    let database = warren.database_url.as_deref();
    let postgresql = PostgresInfo::read(database.unwrap_or(&cli.admin_database_url))
        .await
        .map_err(warn)
        .ok();
    let run = Run {
        cli: &cli,
        plan: &plan,
        warren: &warren,
        receiver: &receiver,
        management: &management,
        cores: machine.cores,
        cancel: &cancel,
    };
    let outcome = run.measure().await;
    let processes = warren.figures();
    warren.stop().await;
    let measured = outcome?;
    if cancel.is_cancelled() {
        bail!("interrupted");
    }
    let environment = Environment {
        warren: describe(&cli, &plan, &warren, &run_id),
        machine,
        postgresql,
        rabbitmq,
        shared: report::SHARED,
    };
    Ok(assemble(plan, started_at, environment, measured, processes))
}

/// The Warren at `--url`, or one started here.
async fn start_warren(cli: &Cli, plan: &Plan, run_id: &str) -> anyhow::Result<Warren> {
    if let Some(url) = &cli.url {
        return Ok(Warren::external(cli, url));
    }
    let options = Options {
        cli,
        retry_schedule: plan.retry_schedule.as_deref(),
        extra_env: &plan.warren_env,
        run_id,
        delivers: 1,
    };
    Warren::start(&options).await
}

fn assemble(
    plan: Plan,
    started_at: String,
    environment: Environment,
    measured: Measured,
    processes: Vec<ProcessFigures>,
) -> Report {
    Report {
        tool: format!("warren-bench {}", env!("CARGO_PKG_VERSION")),
        started_at,
        notes: report::notes(&measured.phases, environment.machine.cores),
        environment,
        plan,
        phases: measured.phases,
        backlog: measured.backlog,
        stats: measured.stats,
        release: measured.release,
        abuse: measured.abuse,
        history: measured.history,
        observers: measured.observers,
        processes,
    }
}

fn warn(error: anyhow::Error) -> anyhow::Error {
    eprintln!("warren-bench: warning: {error:#}");
    error
}

/// What the report says about the Warren it measured.
fn describe(cli: &Cli, plan: &Plan, warren: &Warren, run_id: &str) -> String {
    if cli.url.is_some() {
        return format!("already running at {}", warren.base_url);
    }
    let mut settings = vec![
        format!("database warren_bench_{run_id}"),
        format!("topology prefix bench_{run_id}"),
    ];
    settings.push(
        cli.prefetch
            .map_or("prefetch default".into(), |p| format!("prefetch {p}")),
    );
    settings.push(
        plan.retry_schedule
            .clone()
            .map_or("retry schedule default".into(), |s| {
                format!("retry schedule {s}")
            }),
    );
    settings.extend(plan.warren_env.iter().cloned());
    if let Some((events, wait_ms)) = plan.batch {
        settings.push(format!(
            "subscriptions batched: up to {events} events, {wait_ms} ms"
        ));
    }
    let from = cli
        .bin_dir
        .as_ref()
        .map_or_else(|| "target/release".into(), |dir| dir.display().to_string());
    format!(
        "started here from {from} at {} ({})",
        warren.base_url,
        settings.join(", ")
    )
}

impl Run<'_> {
    /// Sets the run up, runs its scenario's phases (watched, with `--observe`) and returns
    /// what they measured.
    async fn measure(&self) -> anyhow::Result<Measured> {
        let setup = self.set_up().await?;
        let ctx = PhaseContext {
            client: load::client()?,
            ingest_url: setup.ingest_url.clone(),
            body: BodyTemplate::new(self.plan.body_size),
            recorder: self.receiver.recorder.clone(),
            watched: self.warren.watched(),
            database_url: self.warren.database_url.clone(),
            cores: self.cores,
            cancel: self.cancel.clone(),
        };
        let mut measured = Measured {
            phases: Vec::new(),
            backlog: None,
            stats: None,
            release: None,
            abuse: None,
            history: None,
            observers: None,
        };
        let observers = if self.plan.observe {
            let urls = self.warren.metrics_urls();
            Some(Observers::start(&self.warren.base_url, setup.api.token(), urls).await?)
        } else {
            None
        };
        let outcome = self.run_phases(&setup, &ctx, &mut measured).await;
        if let Some(observers) = observers {
            measured.observers = Some(observers.finish().await);
        }
        outcome.map(|()| measured)
    }

    /// The scenario's phases, and what it measures besides them.
    async fn run_phases(
        &self,
        setup: &Setup,
        ctx: &PhaseContext,
        measured: &mut Measured,
    ) -> anyhow::Result<()> {
        match self.plan.scenario {
            Scenario::Stats => measured.stats = Some(self.stats(setup).await?),
            Scenario::Release => self.release(setup, ctx, measured).await?,
            Scenario::Abuse => self.abuse(setup, ctx, measured).await?,
            Scenario::History => {
                let phase = |name: &str| self.phase(name);
                let run = HistoryRun {
                    plan: self.plan,
                    api: &setup.api,
                    owner: setup.owner,
                    database_url: &self.database_url("history")?,
                    ctx,
                    phase: &phase,
                };
                let (phases, figures) = run.run().await?;
                measured.phases.extend(phases);
                measured.history = Some(figures);
            }
            Scenario::Backlog => {
                measured
                    .phases
                    .push(phase::run(ctx, &self.phase("rate without a backlog")).await);
                let backlog = self.park(setup).await?;
                let name = format!("rate with {} parked", backlog.parked);
                measured.backlog = Some(backlog);
                measured
                    .phases
                    .push(phase::run(ctx, &self.phase(&name)).await);
            }
            scenario => {
                let name = scenario.name();
                measured
                    .phases
                    .push(phase::run(ctx, &self.phase(name)).await);
            }
        }
        Ok(())
    }
}
