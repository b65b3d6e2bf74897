//! A whole run: the environment read, the receiver and Warren started, the user, source and
//! subscriptions created through the public API, the scenario's phases run, everything torn
//! down (whatever happened), and the report put together.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    abuse::{self, AbuseFigures, Attack, AttackSettings},
    api::{Api, NewSubscription},
    broker::{self, Management},
    cli::{Cli, Plan, Scenario},
    database::{self, PostgresInfo},
    history::{HistoryFigures, HistoryRun},
    load::{self, BodyTemplate, Window},
    machine::MachineInfo,
    observe::{ObserverFigures, Observers},
    phase::{self, Percentiles, PhaseContext, PhaseResult, PhaseSpec},
    receiver::{self, Receiver},
    report::{
        self, BacklogSetup, Environment, ReleaseFigures, ReleaseSample, Report, StatsFigures,
    },
    rows::Owner,
    seed,
    warren::{Options, ProcessFigures, Warren},
};

/// The longest the stats calls are timed for, however many `--stats-calls` asks for.
const STATS_TIME_CAP: Duration = Duration::from_secs(60);

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
    format!(
        "started here from target/release at {} ({})",
        warren.base_url,
        settings.join(", ")
    )
}

/// What a scenario measured.
struct Measured {
    phases: Vec<PhaseResult>,
    backlog: Option<BacklogSetup>,
    stats: Option<StatsFigures>,
    release: Option<ReleaseFigures>,
    abuse: Option<AbuseFigures>,
    history: Option<HistoryFigures>,
    observers: Option<ObserverFigures>,
}

/// Everything a scenario uses.
struct Run<'a> {
    cli: &'a Cli,
    plan: &'a Plan,
    warren: &'a Warren,
    receiver: &'a Receiver,
    management: &'a Management,
    cores: usize,
    cancel: &'a CancellationToken,
}

/// The user, source and subscriptions a run creates.
struct Setup {
    api: Api,
    ingest_url: String,
    owner: Owner,
}

impl Run<'_> {
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

    fn phase(&self, name: &str) -> PhaseSpec {
        PhaseSpec {
            name: name.to_owned(),
            load: self.plan.load,
            warmup: self.plan.warmup,
            duration: self.plan.duration,
            drain_timeout: self.plan.drain_timeout,
            ordered: (self.plan.scenario == Scenario::Ordered).then_some(self.plan.subscriptions),
        }
    }

    /// Signs up, creates the source and the subscriptions: all to the receiver's `/hook`, or
    /// for `ordered`, FIFO ones, the `i`-th to `/ordered/{i}`.
    async fn set_up(&self) -> anyhow::Result<Setup> {
        let api = Api::signup(&self.warren.base_url).await?;
        let source = api.create_source().await?;
        let fifo = self.plan.scenario == Scenario::Ordered;
        let mut first = None;
        for i in 0..self.plan.subscriptions {
            let name = format!("bench-{i}");
            let target = match fifo {
                true => self.receiver.url(&receiver::ordered_path(i)),
                false => self.receiver.url("/hook"),
            };
            let new = NewSubscription {
                name: &name,
                target_url: &target,
                source_id: source.id,
                event_types: &[],
                timeout_ms: None,
                fifo,
                max_attempts: None,
                rate_limit_per_sec: None,
                batch: self.plan.batch,
            };
            let id = api.create_subscription(&new).await?;
            first.get_or_insert(id);
        }
        let owner = Owner {
            user_id: api.user_id,
            source_id: source.id,
            subscription_id: first.context("no subscription was created")?,
        };
        Ok(Setup {
            ingest_url: api.ingest_url(&source),
            api,
            owner,
        })
    }

    /// The database rows go in: only a database this run may write to.
    async fn database(&self, what: &str) -> anyhow::Result<tokio_postgres::Client> {
        database::connect(&self.database_url(what)?).await
    }

    /// That database's URL.
    fn database_url(&self, what: &str) -> anyhow::Result<String> {
        match self.warren.database_url.as_deref() {
            Some(url) => Ok(url.to_owned()),
            None => bail!(
                "{what} writes rows into Warren's database: with --url, also give --database-url"
            ),
        }
    }

    /// Parks the backlog: a subscription of its own whose target always answers 500 (it only
    /// takes `bench.parked` events, so the load never reaches it), its deliveries written as
    /// failed once and waiting, and their envelopes published into the wait queues whose
    /// TTL outlasts the rest of the run.
    async fn park(&self, setup: &Setup) -> anyhow::Result<BacklogSetup> {
        let prefix = self
            .warren
            .prefix
            .as_deref()
            .context("backlog needs --topology-prefix with --url")?;
        let client = self.database("backlog").await?;
        let target = self.receiver.url("/fail");
        let new = NewSubscription {
            name: "bench-parked",
            target_url: &target,
            source_id: setup.owner.source_id,
            event_types: &["bench.parked"],
            timeout_ms: None,
            fifo: false,
            max_attempts: None,
            rate_limit_per_sec: None,
            batch: None,
        };
        let owner = Owner {
            subscription_id: setup.api.create_subscription(&new).await?,
            ..setup.owner
        };
        let (queues, wait) = self.long_wait_queues(prefix).await?;
        eprintln!(
            "warren-bench: parking {} deliveries in {}",
            self.plan.backlog,
            queues.join(", ")
        );
        let started = Instant::now();
        let envelopes = seed::parked(&client, &owner, self.plan.backlog, wait).await?;
        let database_seconds = started.elapsed().as_secs_f64();
        let publish = broker::park(&self.cli.amqp_url, &queues, &envelopes).await?;
        let messages_in_queues = self.queued(prefix, &queues, self.plan.backlog).await?;
        Ok(BacklogSetup {
            parked: self.plan.backlog,
            queues,
            database_seconds,
            publish_seconds: publish.as_secs_f64(),
            messages_in_queues,
        })
    }

    /// The wait queues whose TTL outlasts the second phase with a margin, and the shortest
    /// such TTL.
    async fn long_wait_queues(&self, prefix: &str) -> anyhow::Result<(Vec<String>, Duration)> {
        let plan = self.plan;
        let needed = plan.warmup + plan.duration + plan.drain_timeout + Duration::from_secs(600);
        let retry = format!("{prefix}.retry.");
        let long: Vec<_> = self
            .management
            .queues(prefix)
            .await?
            .into_iter()
            .filter(|q| q.name.starts_with(&retry) && q.ttl().is_some_and(|t| t >= needed))
            .collect();
        let Some(shortest) = long.iter().filter_map(|q| q.ttl()).min() else {
            bail!(
                "no wait queue of {prefix} holds messages for {} s or more; use a retry schedule with a longer wait",
                needed.as_secs()
            );
        };
        Ok((long.into_iter().map(|q| q.name).collect(), shortest))
    }

    /// Messages in `queues` once the management API's figures catch up (they refresh every
    /// few seconds), or after 30 s.
    async fn queued(&self, prefix: &str, queues: &[String], expected: u64) -> anyhow::Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.management.queues(prefix).await?;
            let count: u64 = all
                .iter()
                .filter(|q| queues.contains(&q.name))
                .filter_map(|q| q.messages)
                .sum();
            if count >= expected || Instant::now() > deadline {
                return Ok(count);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The `release` scenario. Subscription A (a receiver of its own, only `bench.seeded`
    /// events, so the load never reaches it; its rate limit `--release-rate`) is paused and
    /// given `--held` held deliveries straight in the database. B (the run's subscription)
    /// is measured under the load with nothing released; then A is enabled with
    /// `{"held": "deliver"}` and B is measured again while A's deliveries go out, watched
    /// until A's `held_count` is 0 and its receiver has every one.
    async fn release(
        &self,
        setup: &Setup,
        ctx: &PhaseContext,
        measured: &mut Measured,
    ) -> anyhow::Result<()> {
        let plan = self.plan;
        let client = self.database("release").await?;
        let released = Receiver::start(0.0)?;
        let target = released.url("/hook");
        let new = NewSubscription {
            name: "bench-released",
            target_url: &target,
            source_id: setup.owner.source_id,
            event_types: &["bench.seeded"],
            timeout_ms: None,
            fifo: false,
            max_attempts: None,
            rate_limit_per_sec: Some(plan.release_rate),
            batch: None,
        };
        let id = setup.api.create_subscription(&new).await?;
        setup.api.pause(id).await?;
        let owner = Owner {
            subscription_id: id,
            ..setup.owner
        };
        eprintln!(
            "warren-bench: holding {} deliveries for a paused subscription",
            plan.held
        );
        let started = Instant::now();
        seed::held(&client, &owner, plan.held).await?;
        let seed_seconds = started.elapsed().as_secs_f64();
        let before = setup.api.subscription(id).await?;
        if u64::try_from(before.held_count).ok() != Some(plan.held) {
            bail!(
                "the paused subscription counts {} held deliveries, not {}",
                before.held_count,
                plan.held
            );
        }
        measured
            .phases
            .push(phase::run(ctx, &self.phase("B, nothing released")).await);
        let enabled_at = Instant::now();
        setup.api.enable(id, "deliver").await?;
        let name = format!("B, while {} held are released", plan.held);
        let pace = Duration::from_secs_f64(plan.held as f64 / f64::from(plan.release_rate));
        let watch = Watch {
            api: &setup.api,
            id,
            receiver: &released,
            held: plan.held,
            since: enabled_at,
            timeout: plan.drain_timeout + pace * 5,
            cancel: self.cancel,
        };
        let spec = self.phase(&name);
        let (during, watched) = tokio::join!(phase::run(ctx, &spec), watch.run());
        measured.phases.push(during);
        let watched = watched?;
        let duplicates = released.recorder.with_deliveries(|deliveries| {
            deliveries
                .values()
                .map(|r| u64::from(r.ok_answers.saturating_sub(1)))
                .sum()
        });
        let ratio = |pick: fn(&Percentiles) -> f64| {
            let e2e = |i: usize| measured.phases.get(i).and_then(|p| p.e2e_latency_ms);
            match (e2e(0), e2e(1)) {
                (Some(without), Some(during)) if pick(&without) > 0.0 => {
                    Some(pick(&during) / pick(&without))
                }
                _ => None,
            }
        };
        measured.release = Some(ReleaseFigures {
            held: plan.held,
            rate_limit_per_sec: plan.release_rate,
            seed_seconds,
            held_count_before: before.held_count,
            held_count_zero_seconds: watched.held_count_zero,
            all_delivered_seconds: watched.all_delivered,
            delivered: watched.delivered,
            duplicates,
            delivered_per_sec: watched
                .all_delivered
                .map(|seconds| plan.held as f64 / seconds),
            window_inside_release: watched
                .all_delivered
                .is_none_or(|seconds| seconds >= (plan.warmup + plan.duration).as_secs_f64()),
            p50_ratio: ratio(|p| p.p50),
            p99_ratio: ratio(|p| p.p99),
            timeline: watched.timeline,
        });
        Ok(())
    }

    /// The `abuse` scenario: a source verifying Standard Webhooks signatures is created for
    /// the attack; the run's source (verifying nothing, its subscription to the receiver)
    /// takes the legitimate load. Legitimate load and the `/healthz` prober run once alone,
    /// then again with `plan.attackers` attackers flooding the verified source.
    async fn abuse(
        &self,
        setup: &Setup,
        ctx: &PhaseContext,
        measured: &mut Measured,
    ) -> anyhow::Result<()> {
        let plan = self.plan;
        let secret = warren_shared::signing::SigningSecret::generate();
        let verified = setup
            .api
            .create_verified_source("warren-bench-attacked", secret.expose())
            .await?;
        let settings = AttackSettings {
            attackers: plan.attackers,
            max_body_bytes: if self.cli.url.is_some() {
                abuse::DEFAULT_MAX_BODY_BYTES
            } else {
                abuse::max_body_bytes(&plan.warren_env)
            },
            candidates: abuse::CANDIDATES,
        };
        let base = &self.warren.base_url;
        let spec = self.phase("legitimate, no attack");
        let window = Window::starting_now(spec.warmup, spec.duration);
        let (without, healthz_without) = tokio::join!(
            phase::run(ctx, &spec),
            abuse::probe(base, window, self.cancel.clone())
        );
        measured.phases.push(without);
        eprintln!(
            "warren-bench: flooding with {} attackers",
            settings.attackers
        );
        let spec = self.phase("legitimate, under attack");
        let window = Window::starting_now(spec.warmup, spec.duration);
        let attack = Attack::new(
            setup.api.ingest_url(&verified),
            settings,
            window,
            self.cancel.clone(),
        )?;
        let (during, healthz_during, ()) = tokio::join!(
            phase::run(ctx, &spec),
            abuse::probe(base, window, self.cancel.clone()),
            attack.run(settings.attackers)
        );
        measured.phases.push(during);
        measured.abuse = Some(AbuseFigures::new(
            healthz_without,
            healthz_during,
            attack.figures(settings),
        ));
        Ok(())
    }

    /// Writes the attempt history, then times the 7-day stats call, one call at a time.
    async fn stats(&self, setup: &Setup) -> anyhow::Result<StatsFigures> {
        let client = self.database("stats").await?;
        let plan = self.plan;
        eprintln!("warren-bench: writing {} attempts", plan.stats_attempts);
        let started = Instant::now();
        let attempts = seed::history(
            &client,
            &setup.owner,
            plan.stats_attempts,
            plan.stats_attempts_per_delivery,
        )
        .await?;
        let seed_seconds = started.elapsed().as_secs_f64();
        let id = setup.owner.subscription_id;
        let started = Instant::now();
        let reported_total = setup.api.stats(id, "7d").await?;
        let first_call_ms = started.elapsed().as_secs_f64() * 1_000.0;
        let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        let deadline = Instant::now() + STATS_TIME_CAP;
        for _ in 0..plan.stats_calls {
            if self.cancel.is_cancelled() || Instant::now() > deadline {
                break;
            }
            let started = Instant::now();
            setup.api.stats(id, "7d").await?;
            latency.record(started.elapsed().as_micros().max(1) as u64)?;
        }
        Ok(StatsFigures {
            attempts,
            seed_seconds,
            reported_total,
            first_call_ms,
            latency_ms: Percentiles::of(&latency),
        })
    }
}

/// A release being watched: subscription `id`, enabled at `since`, its `held` deliveries
/// going to `receiver`.
struct Watch<'a> {
    api: &'a Api,
    id: Uuid,
    receiver: &'a Receiver,
    held: u64,
    since: Instant,
    /// The longest wait for the release to finish.
    timeout: Duration,
    cancel: &'a CancellationToken,
}

/// What watching a release saw.
struct Watched {
    /// Seconds from the enable until `held_count` was 0.
    held_count_zero: Option<f64>,
    /// Seconds from the enable until the receiver had every held delivery.
    all_delivered: Option<f64>,
    /// Held deliveries the receiver answered 2xx.
    delivered: u64,
    /// About a look a second.
    timeline: Vec<ReleaseSample>,
}

/// How often the receiver's count is read while a release is watched; `held_count` is read
/// every fifth time.
const WATCH_EVERY: Duration = Duration::from_millis(100);

impl Watch<'_> {
    /// Watches until `held_count` is 0 and the receiver has every held delivery, or the
    /// timeout (then the figures say what did not happen).
    async fn run(self) -> anyhow::Result<Watched> {
        let mut watched = Watched {
            held_count_zero: None,
            all_delivered: None,
            delivered: 0,
            timeline: Vec::new(),
        };
        let succeeded = &self.receiver.recorder.counters.succeeded;
        for tick in 0u64.. {
            let seconds = self.since.elapsed().as_secs_f64();
            watched.delivered = succeeded.load(std::sync::atomic::Ordering::Relaxed);
            if watched.all_delivered.is_none() && watched.delivered >= self.held {
                watched.all_delivered = Some(seconds);
            }
            if tick % 5 == 0 && watched.held_count_zero.is_none() {
                let held_count = self.api.subscription(self.id).await?.held_count;
                if held_count == 0 {
                    watched.held_count_zero = Some(self.since.elapsed().as_secs_f64());
                }
                if tick % 10 == 0 {
                    watched.timeline.push(ReleaseSample {
                        seconds,
                        held_count,
                        delivered: watched.delivered,
                    });
                }
            }
            let done = watched.held_count_zero.is_some() && watched.all_delivered.is_some();
            if done || self.since.elapsed() >= self.timeout || self.cancel.is_cancelled() {
                return Ok(watched);
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
        Ok(watched)
    }
}

/// Why the run itself broke (nothing accepted, nothing delivered, no stats, observers that
/// saw nothing, an ordered subscription that received a stream out of order or two
/// deliveries at once, an attack or a prober that got no answer), if it did. Never a
/// judgement on a figure: under `abuse`'s attack, legitimate events refused are a figure,
/// so only the phase without it must accept and deliver.
pub fn broken(report: &Report) -> Option<String> {
    if let Some(abuse) = &report.abuse {
        if abuse.attack.requests == 0 {
            return Some("abuse: no attack request was answered or failed".into());
        }
        if abuse.healthz_without.probes == abuse.healthz_without.failures {
            return Some("abuse: no /healthz probe was answered 200 without the attack".into());
        }
    }
    let checked = match report.abuse {
        Some(_) => 1,
        None => report.phases.len(),
    };
    if let Some(seen) = &report.observers {
        if seen.live_lines == 0 {
            return Some("observe: the live log received no line".into());
        }
        if seen.scrapes == 0 {
            return Some("observe: no /metrics scrape succeeded".into());
        }
    }
    for p in report.phases.iter().take(checked) {
        if p.accepted == 0 {
            return Some(format!("{}: Warren accepted no event", p.name));
        }
        if p.delivered == 0 && report.plan.failure_ratio < 1.0 {
            return Some(format!("{}: no delivery reached the receiver", p.name));
        }
        if let Some(ordered) = &p.ordered {
            if ordered.checked == 0 {
                return Some(format!(
                    "{}: no ordered delivery could be checked against its stream",
                    p.name
                ));
            }
            if ordered.out_of_order > 0 {
                return Some(format!(
                    "{}: {} first arrivals at ordered subscriptions came after a later event of their stream",
                    p.name, ordered.out_of_order
                ));
            }
            if ordered.overlapping > 0 {
                return Some(format!(
                    "{}: {} deliveries reached an ordered subscription before the one before them was finished",
                    p.name, ordered.overlapping
                ));
            }
        }
    }
    if let Some(release) = &report.release
        && release.delivered < release.held
    {
        return Some(format!(
            "release: {} of {} held deliveries reached the receiver",
            release.delivered, release.held
        ));
    }
    if report.history.as_ref().is_some_and(|h| h.stats_total == 0) {
        return Some("history: the stats call counted no attempt".into());
    }
    match &report.stats {
        Some(stats) if stats.reported_total == 0 => {
            Some("stats: the stats call counted no attempt".into())
        }
        _ => None,
    }
}
