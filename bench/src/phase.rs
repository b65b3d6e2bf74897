//! One measured phase: warm-up and load, CPU sampled over the measured window, a wait for
//! the deliveries to drain, and the figures, from the load's tally joined with what the
//! receiver recorded.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    activity::{self, Activity},
    database,
    load::{BodyTemplate, Load, Tally, Window},
    machine::{CpuBreakdown, CpuSample, Watched},
    order::{self, OrderFigures},
    pauses::Pauses,
    receiver::{DeliveryRecord, Recorder},
    settings::LoadShape,
};

/// What every phase of a run shares.
pub struct PhaseContext {
    /// The load's HTTP client.
    pub client: reqwest::Client,
    /// The source's ingest URL.
    pub ingest_url: String,
    /// The event body.
    pub body: BodyTemplate,
    /// What the receiver records.
    pub recorder: Arc<Recorder>,
    /// The processes whose CPU is told apart.
    pub watched: Watched,
    /// Warren's database, whose backends' CPU is told apart, when known.
    pub database_url: Option<String>,
    /// The machine's cores.
    pub cores: usize,
    /// Trips on Ctrl-C.
    pub cancel: CancellationToken,
}

/// A phase to run.
#[derive(Debug, Clone)]
pub struct PhaseSpec {
    /// Its name in the report.
    pub name: String,
    /// The load.
    pub load: LoadShape,
    /// Unmeasured load first.
    pub warmup: Duration,
    /// Measured load.
    pub duration: Duration,
    /// Longest wait for deliveries afterwards.
    pub drain_timeout: Duration,
    /// Ordered subscriptions whose deliveries to check against the load's streams
    /// (`/ordered/0` … at the receiver), if any.
    pub ordered: Option<usize>,
}

/// p50, p99, max and mean, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// How many values.
    pub count: u64,
}

impl Percentiles {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        (!histogram.is_empty()).then(|| Self {
            p50: histogram.value_at_quantile(0.50) as f64 / 1_000.0,
            p99: histogram.value_at_quantile(0.99) as f64 / 1_000.0,
            max: histogram.max() as f64 / 1_000.0,
            mean: histogram.mean() / 1_000.0,
            count: histogram.len(),
        })
    }
}

/// A phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// The phase.
    pub name: String,
    /// Its load.
    pub load: LoadShape,
    /// The measured window, in seconds.
    pub measured_seconds: f64,
    /// Requests sent in the window.
    pub sent: u64,
    /// Of them, answered 202.
    pub accepted: u64,
    /// `accepted / measured_seconds`.
    pub accepted_per_sec: f64,
    /// Ingest answer time of the window's requests (from the intended send time when open loop).
    pub ingest_latency_ms: Option<Percentiles>,
    /// The same, of the requests answered 202 only.
    pub ingest_latency_accepted_ms: Option<Percentiles>,
    /// Answers other than 202, by status, and failed requests, by kind (warm-up included).
    pub errors: BTreeMap<String, u64>,
    /// Deliveries first answered 2xx inside the window (whatever event they carry).
    pub delivered_in_window: u64,
    /// `delivered_in_window / measured_seconds`.
    pub delivered_per_sec: f64,
    /// Ingest request sent → the receiver got the delivery's first attempt (window's events).
    pub e2e_latency_ms: Option<Percentiles>,
    /// Ingest request sent → the receiver answered the delivery 2xx (differs under failures).
    pub e2e_delivered_latency_ms: Option<Percentiles>,
    /// Deliveries Warren promised in its 202 answers (warm-up included).
    pub expected_deliveries: u64,
    /// Of them, answered 2xx by the end of the drain.
    pub delivered: u64,
    /// Of them, given up on by Warren (last attempt failed).
    pub dead: u64,
    /// Of them, neither delivered nor dead when the drain ended.
    pub undelivered: u64,
    /// 2xx answers beyond the first for a delivery (at-least-once duplicates).
    pub duplicates: u64,
    /// Deliveries the receiver got of events this phase's load never saw a 202 for: an
    /// earlier phase's, seeded ones, or (under faults) an event whose answer was lost.
    pub unaccounted: u64,
    /// Attempts the receiver got for this phase's deliveries, and how many it answered 500.
    pub receiver_attempts: u64,
    /// Of them, answered 500.
    pub receiver_failures: u64,
    /// Requests the receiver answered during the phase (fewer than its attempts when a
    /// request carries a batch of them).
    pub receiver_requests: u64,
    /// Promised deliveries not yet delivered when the load stopped.
    pub backlog_at_end_of_load: u64,
    /// How long the drain took, in seconds.
    pub drain_seconds: f64,
    /// Whether every promised delivery was delivered or dead before the drain timeout.
    pub drained: bool,
    /// Where the measured window's CPU went.
    pub cpu: CpuBreakdown,
    /// What Warren's PostgreSQL backends were doing in the window, when the database is known.
    pub postgres_activity: Option<Activity>,
    /// What each ordered subscription received, and the order check (`ordered` only).
    pub ordered: Option<OrderFigures>,
    /// The longest stretches without a 202 and without a delivery.
    pub pauses: Pauses,
}

/// Runs one phase.
pub async fn run(ctx: &PhaseContext, spec: &PhaseSpec) -> PhaseResult {
    let counters = &ctx.recorder.counters;
    let finished_before =
        counters.succeeded.load(Ordering::Relaxed) + counters.dead.load(Ordering::Relaxed);
    let requests_before = counters.requests.load(Ordering::Relaxed);
    let window = Window::starting_now(spec.warmup, spec.duration);
    let load = Load::new(
        ctx.client.clone(),
        ctx.ingest_url.clone(),
        ctx.body.clone(),
        window,
        ctx.cancel.clone(),
    );
    let runner = tokio::spawn({
        let (load, shape) = (load.clone(), spec.load);
        async move { load.run(shape).await }
    });
    let activity = ctx
        .database_url
        .clone()
        .map(|url| tokio::spawn(activity::sample(url, window.measure_from, window.end)));
    tokio::time::sleep_until(window.measure_from.into()).await;
    let monitor = match &ctx.database_url {
        Some(url) => database::connect(url).await.ok(),
        None => None,
    };
    let cpu_start = sample(ctx, monitor.as_ref()).await;
    tokio::time::sleep_until(window.end.into()).await;
    let cpu_end = sample(ctx, monitor.as_ref()).await;
    // The load's counts are in `load`; a sender that panicked has said so on stderr.
    let _ = runner.await;
    let (drained, drain_seconds) = drain(ctx, &load, finished_before, spec.drain_timeout).await;
    let tally = load.into_tally();
    let (joined, ordered, pauses) = ctx.recorder.with_deliveries(|deliveries| {
        let ordered = spec
            .ordered
            .map(|lines| order::check(&tally, deliveries, &window, lines));
        let pauses = Pauses::of(&tally, deliveries, &window);
        (Joined::of(&tally, deliveries, &window), ordered, pauses)
    });
    let observed = Observed {
        drained,
        drain_seconds,
        cpu: CpuBreakdown::between(&cpu_start, &cpu_end, ctx.cores),
        activity: match activity {
            Some(task) => task.await.ok().flatten(),
            None => None,
        },
        ordered,
        pauses,
        requests: counters.requests.load(Ordering::Relaxed) - requests_before,
    };
    result(spec, &tally, joined, observed)
}

/// What was watched besides the load and the receiver.
struct Observed {
    drained: bool,
    drain_seconds: f64,
    cpu: CpuBreakdown,
    activity: Option<Activity>,
    ordered: Option<OrderFigures>,
    pauses: Pauses,
    /// Requests the receiver answered.
    requests: u64,
}

/// A CPU sample that tells Warren's database backends from the rest of PostgreSQL.
async fn sample(ctx: &PhaseContext, monitor: Option<&tokio_postgres::Client>) -> CpuSample {
    let mut watched = ctx.watched.clone();
    if let Some(client) = monitor
        && let Ok(rows) = client
            .query(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
    {
        watched.database_backends = rows
            .iter()
            .filter_map(|r| u32::try_from(r.get::<_, i32>(0)).ok())
            .collect();
    }
    CpuSample::take(&watched)
}

/// Waits until the receiver has seen every promised delivery succeed or die, or the timeout.
async fn drain(
    ctx: &PhaseContext,
    load: &Load,
    finished_before: u64,
    timeout: Duration,
) -> (bool, f64) {
    let started = Instant::now();
    let counters = &ctx.recorder.counters;
    loop {
        let finished =
            counters.succeeded.load(Ordering::Relaxed) + counters.dead.load(Ordering::Relaxed);
        let expected = load.expected.load(Ordering::Relaxed);
        // The counters are cheap but also count deliveries of events this load was not
        // answered 202 for (a fault may commit an event and lose its answer); the exact
        // count, only of this load's events, decides.
        if finished.saturating_sub(finished_before) >= expected
            && finished_of_this_load(ctx, load) >= expected
        {
            return (true, started.elapsed().as_secs_f64());
        }
        if started.elapsed() >= timeout || ctx.cancel.is_cancelled() {
            return (false, started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deliveries of this load's accepted events that succeeded or went dead.
fn finished_of_this_load(ctx: &PhaseContext, load: &Load) -> u64 {
    load.with_tally(|tally| {
        ctx.recorder.with_deliveries(|deliveries| {
            deliveries
                .values()
                .filter(|r| r.succeeded_at.is_some() || r.dead)
                .filter(|r| tally.events.contains_key(&r.event_id))
                .count() as u64
        })
    })
}

/// The load's events joined with the receiver's deliveries.
struct Joined {
    delivered_in_window: u64,
    delivered: u64,
    delivered_by_end: u64,
    dead: u64,
    duplicates: u64,
    unaccounted: u64,
    attempts: u64,
    failures: u64,
    e2e_us: Histogram<u64>,
    e2e_delivered_us: Histogram<u64>,
}

impl Joined {
    fn of(
        tally: &Tally,
        deliveries: &std::collections::HashMap<uuid::Uuid, DeliveryRecord>,
        window: &Window,
    ) -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        let mut joined = Self {
            delivered_in_window: 0,
            delivered: 0,
            delivered_by_end: 0,
            dead: 0,
            duplicates: 0,
            unaccounted: 0,
            attempts: 0,
            failures: 0,
            e2e_us: histogram(),
            e2e_delivered_us: histogram(),
        };
        for record in deliveries.values() {
            if record.succeeded_at.is_some_and(|at| window.measures(at)) {
                joined.delivered_in_window += 1;
            }
            match tally.events.get(&record.event_id) {
                Some(event) => joined.add(record, event.intended, event.measured, window),
                None => joined.unaccounted += 1,
            }
        }
        joined
    }

    fn add(&mut self, record: &DeliveryRecord, intended: Instant, measured: bool, window: &Window) {
        self.attempts += u64::from(record.answers);
        self.failures += u64::from(record.answers - record.ok_answers);
        self.duplicates += u64::from(record.ok_answers.saturating_sub(1));
        match record.succeeded_at {
            Some(at) => {
                self.delivered += 1;
                self.delivered_by_end += u64::from(at < window.end);
            }
            None => self.dead += u64::from(record.dead),
        }
        if measured {
            let micros = |at: Instant| {
                u64::try_from(at.saturating_duration_since(intended).as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1)
            };
            // Recording fails only past the histograms' hour, longer than any run waits.
            let _ = self.e2e_us.record(micros(record.first_seen));
            if let Some(at) = record.succeeded_at {
                // As above.
                let _ = self.e2e_delivered_us.record(micros(at));
            }
        }
    }
}

fn result(spec: &PhaseSpec, tally: &Tally, joined: Joined, observed: Observed) -> PhaseResult {
    let seconds = spec.duration.as_secs_f64();
    let expected = tally.expected_deliveries();
    PhaseResult {
        name: spec.name.clone(),
        load: spec.load,
        measured_seconds: seconds,
        sent: tally.sent,
        accepted: tally.accepted,
        accepted_per_sec: tally.accepted as f64 / seconds,
        ingest_latency_ms: Percentiles::of(&tally.latency_us),
        ingest_latency_accepted_ms: Percentiles::of(&tally.accepted_latency_us),
        errors: tally.errors.clone(),
        delivered_in_window: joined.delivered_in_window,
        delivered_per_sec: joined.delivered_in_window as f64 / seconds,
        e2e_latency_ms: Percentiles::of(&joined.e2e_us),
        e2e_delivered_latency_ms: Percentiles::of(&joined.e2e_delivered_us),
        expected_deliveries: expected,
        delivered: joined.delivered,
        dead: joined.dead,
        undelivered: expected.saturating_sub(joined.delivered + joined.dead),
        duplicates: joined.duplicates,
        unaccounted: joined.unaccounted,
        receiver_attempts: joined.attempts,
        receiver_failures: joined.failures,
        receiver_requests: observed.requests,
        backlog_at_end_of_load: expected.saturating_sub(joined.delivered_by_end),
        drain_seconds: observed.drain_seconds,
        drained: observed.drained,
        cpu: observed.cpu,
        postgres_activity: observed.activity,
        ordered: observed.ordered,
        pauses: observed.pauses,
    }
}
