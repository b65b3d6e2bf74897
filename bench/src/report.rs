//! The report: what ran, where, and what it measured, as a table for people and as JSON for
//! tools. Every report names the machine and the versions, and says that everything shares
//! that machine.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    abuse::{AbuseFigures, HEALTHZ_P99_BUDGET_MS, ProbeFigures},
    activity::Activity,
    broker::BrokerInfo,
    cli::Plan,
    database::PostgresInfo,
    machine::{CpuBreakdown, MachineInfo},
    order::OrderFigures,
    phase::{Percentiles, PhaseResult},
    settings::LoadShape,
    table::{percentiles, row},
    warren::ProcessFigures,
};

/// The sentence every report carries.
pub const SHARED: &str = "The load generator, the receiver, Warren, PostgreSQL and RabbitMQ all share this one machine (everything on loopback).";

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// The machine.
    pub machine: MachineInfo,
    /// PostgreSQL, if it answered.
    pub postgresql: Option<PostgresInfo>,
    /// RabbitMQ, if its management API answered.
    pub rabbitmq: Option<BrokerInfo>,
    /// [`SHARED`].
    pub shared: &'static str,
    /// Which Warren: started here (with its settings) or the one at a URL.
    pub warren: String,
}

/// What parking the backlog took.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogSetup {
    /// Deliveries parked.
    pub parked: u64,
    /// The wait queues they were parked in.
    pub queues: Vec<String>,
    /// Seconds spent writing their rows to PostgreSQL.
    pub database_seconds: f64,
    /// Seconds spent publishing their envelopes to RabbitMQ.
    pub publish_seconds: f64,
    /// Messages in those queues after parking, as the management API counted them.
    pub messages_in_queues: u64,
}

/// The `stats` scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct StatsFigures {
    /// Attempt rows inserted for the subscription.
    pub attempts: u64,
    /// Seconds spent inserting them (and vacuuming).
    pub seed_seconds: f64,
    /// The `total` the stats answered (should equal `attempts`).
    pub reported_total: u64,
    /// The first call after seeding, in ms.
    pub first_call_ms: f64,
    /// The calls after it, one at a time.
    pub latency_ms: Option<Percentiles>,
}

/// One look at a release under way.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReleaseSample {
    /// Seconds since the subscription was enabled.
    pub seconds: f64,
    /// Its `held_count` then.
    pub held_count: i64,
    /// Deliveries its receiver had answered 2xx by then.
    pub delivered: u64,
}

/// The `release` scenario's figures: the release of subscription A's held deliveries, and
/// what it did to subscription B's end-to-end latency (the run's two phases).
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseFigures {
    /// Held deliveries written for A while it was paused.
    pub held: u64,
    /// A's rate limit, deliveries a second, which paces its release.
    pub rate_limit_per_sec: u32,
    /// Seconds spent writing them (and vacuuming).
    pub seed_seconds: f64,
    /// A's `held_count` before it was enabled.
    pub held_count_before: i64,
    /// Seconds from enabling A until its `held_count` was 0 (all released).
    pub held_count_zero_seconds: Option<f64>,
    /// Seconds from enabling A until its receiver had answered every one 2xx.
    pub all_delivered_seconds: Option<f64>,
    /// Of the held deliveries, those A's receiver answered 2xx.
    pub delivered: u64,
    /// 2xx answers beyond the first for one of them.
    pub duplicates: u64,
    /// `held / all_delivered_seconds`.
    pub delivered_per_sec: Option<f64>,
    /// Whether B's measured window during the release ended before the release did, so all
    /// of it was measured while A's deliveries went out.
    pub window_inside_release: bool,
    /// B's end-to-end p50 during the release over its p50 without one.
    pub p50_ratio: Option<f64>,
    /// B's end-to-end p99 during the release over its p99 without one.
    pub p99_ratio: Option<f64>,
    /// `held_count` and A's deliveries, about every second of the release.
    pub timeline: Vec<ReleaseSample>,
}

impl ReleaseFigures {
    /// Whether B's end-to-end p99 during the release stayed within twice its value without.
    pub fn within_twice(&self) -> Option<bool> {
        self.p99_ratio.map(|r| r <= 2.0)
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `warren-bench <version>`.
    pub tool: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// The plan, every default applied.
    pub plan: Plan,
    /// Where it ran.
    pub environment: Environment,
    /// Each measured phase.
    pub phases: Vec<PhaseResult>,
    /// `backlog` only.
    pub backlog: Option<BacklogSetup>,
    /// `stats` only.
    pub stats: Option<StatsFigures>,
    /// `release` only.
    pub release: Option<ReleaseFigures>,
    /// `abuse` only: `/healthz` without and during the attack, and the attack.
    pub abuse: Option<AbuseFigures>,
    /// `history` only.
    pub history: Option<crate::history::HistoryFigures>,
    /// With `--observe`: what the live log and the metrics scraper saw.
    pub observers: Option<crate::observe::ObserverFigures>,
    /// The started Warren processes, read at the end of the run.
    pub processes: Vec<ProcessFigures>,
    /// Observations worth a reader's attention (the load generator near its limit, deliveries
    /// left over, errors).
    pub notes: Vec<String>,
}

impl Report {
    /// The report as text.
    pub fn table(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        for phase in &self.phases {
            phase_table(&mut out, phase);
        }
        if let Some(backlog) = &self.backlog {
            backlog_table(&mut out, backlog);
        }
        if let Some(stats) = &self.stats {
            stats_table(&mut out, stats);
        }
        if let Some(release) = &self.release {
            release_table(&mut out, release, &self.phases);
        }
        if let Some(abuse) = &self.abuse {
            abuse_table(&mut out, abuse, &self.phases);
        }
        if let Some(history) = &self.history {
            history.table(&mut out);
        }
        if let Some(seen) = &self.observers {
            let _ = writeln!(
                out,
                "\nobserved: {} live log lines received, {} /metrics scrapes ({} failed)",
                seen.live_lines, seen.scrapes, seen.scrape_errors
            );
        }
        self.processes_table(&mut out);
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    fn header(&self, out: &mut String) {
        let env = &self.environment;
        let m = &env.machine;
        let _ = writeln!(
            out,
            "{} — scenario {}{} — {}",
            self.tool,
            self.plan.scenario.name(),
            if self.plan.smoke { " (smoke)" } else { "" },
            self.started_at
        );
        let _ = writeln!(
            out,
            "machine:    {} cores ({}), {} MiB, Linux {}, load average {} at the start",
            m.cores, m.cpu_model, m.memory_mib, m.kernel, m.load_average
        );
        let pg = env.postgresql.as_ref().map_or("unknown".into(), |p| {
            format!(
                "{} (fsync {}, synchronous_commit {})",
                short(&p.version),
                p.fsync,
                p.synchronous_commit
            )
        });
        let _ = writeln!(out, "postgresql: {pg}");
        let mq = env.rabbitmq.as_ref().map_or("unknown".into(), |r| {
            format!(
                "RabbitMQ {} on Erlang {}",
                r.rabbitmq_version, r.erlang_version
            )
        });
        let _ = writeln!(out, "rabbitmq:   {mq}");
        let _ = writeln!(out, "warren:     {}", env.warren);
        let _ = writeln!(out, "{}", env.shared);
        if self.phases.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "load:       {}, body {} B, {} subscription(s), warm-up {:.0} s, measured {:.0} s",
            load_text(&self.plan.load),
            self.plan.body_size,
            self.plan.subscriptions,
            self.plan.warmup.as_secs_f64(),
            self.plan.duration.as_secs_f64()
        );
    }

    fn processes_table(&self, out: &mut String) {
        if self.processes.is_empty() {
            let _ = writeln!(out, "\n(Warren was not started here: no process figures)");
            return;
        }
        let _ = writeln!(
            out,
            "\n{:<16} {:>14} {:>12}",
            "process", "peak RSS MiB", "CPU s"
        );
        for p in &self.processes {
            let _ = writeln!(
                out,
                "{:<16} {:>14} {:>12}",
                p.name,
                opt(p.peak_rss_mib),
                opt(p.cpu_seconds)
            );
        }
    }
}

/// `PostgreSQL 15.20 (Debian …) on …` → `PostgreSQL 15.20`.
fn short(version: &str) -> String {
    version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn load_text(load: &LoadShape) -> String {
    match load {
        LoadShape::Closed { concurrency } => format!("closed loop, {concurrency} senders"),
        LoadShape::Open {
            rate,
            max_in_flight,
        } => format!("open loop, {rate} events/s (≤ {max_in_flight} in flight)"),
        LoadShape::Streams { streams, rate } => {
            format!("{rate} events/s from {streams} senders, one stream each")
        }
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}

fn phase_table(out: &mut String, p: &PhaseResult) {
    let _ = writeln!(out, "\n== {} ({}) ==", p.name, load_text(&p.load));
    row(
        out,
        "accepted events/s",
        format!(
            "{:.0}  ({} of {} sent in {:.0} s)",
            p.accepted_per_sec, p.accepted, p.sent, p.measured_seconds
        ),
    );
    row(out, "ingest latency ms", percentiles(p.ingest_latency_ms));
    row(
        out,
        "ingest latency ms (202s only)",
        percentiles(p.ingest_latency_accepted_ms),
    );
    row(
        out,
        "delivered/s (in the window)",
        format!("{:.0}", p.delivered_per_sec),
    );
    row(
        out,
        "end-to-end ms (first arrival)",
        percentiles(p.e2e_latency_ms),
    );
    row(
        out,
        "end-to-end ms (answered 2xx)",
        percentiles(p.e2e_delivered_latency_ms),
    );
    let errors: u64 = p.errors.values().sum();
    let detail: Vec<String> = p.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    row(
        out,
        "errors (non-202)",
        if errors == 0 {
            "0".into()
        } else {
            format!("{errors} ({})", detail.join(", "))
        },
    );
    row(
        out,
        "deliveries promised / delivered",
        format!(
            "{} / {}  (dead {}, undelivered {})",
            p.expected_deliveries, p.delivered, p.dead, p.undelivered
        ),
    );
    row(out, "duplicates", p.duplicates.to_string());
    row(
        out,
        "receiver attempts / answered 500",
        format!(
            "{} / {}  (in {} requests)",
            p.receiver_attempts, p.receiver_failures, p.receiver_requests
        ),
    );
    row(
        out,
        "backlog when the load stopped",
        p.backlog_at_end_of_load.to_string(),
    );
    row(
        out,
        "drain",
        format!(
            "{:.1} s{}",
            p.drain_seconds,
            if p.drained { "" } else { " (timed out)" }
        ),
    );
    if let Some(ordered) = &p.ordered {
        ordered_table(out, ordered);
    }
    cpu_table(out, &p.cpu);
    if let Some(activity) = &p.postgres_activity {
        activity_table(out, activity);
    }
}

fn ordered_table(out: &mut String, o: &OrderFigures) {
    row(
        out,
        "ordered subscriptions",
        format!("{} (FIFO)", o.subscriptions),
    );
    row(
        out,
        "delivered/s per ordered subscription",
        format!(
            "{:.0}  (slowest {:.0}, fastest {:.0})",
            o.delivered_per_sec_per_subscription, o.slowest_per_sec, o.fastest_per_sec
        ),
    );
    row(
        out,
        "out of order / overlapping",
        format!(
            "{} / {}  (of {} first arrivals checked against their stream)",
            o.out_of_order, o.overlapping, o.checked
        ),
    );
    for l in &o.lines {
        let _ = writeln!(
            out,
            "    /ordered/{:<3} {:>7} deliveries, {:>6.0}/s in the window, out of order {}, overlapping {}",
            l.line, l.deliveries, l.delivered_per_sec, l.out_of_order, l.overlapping
        );
    }
}

fn activity_table(out: &mut String, a: &Activity) {
    let _ = writeln!(
        out,
        "  PostgreSQL backends active on average: {:.2} ({} samples); the busiest:",
        a.average_active, a.samples
    );
    for r in &a.top {
        let _ = writeln!(
            out,
            "    {:>5.2}  {:<24} {}",
            r.average_active, r.wait, r.statement
        );
    }
}

fn cpu_table(out: &mut String, cpu: &CpuBreakdown) {
    let _ = writeln!(
        out,
        "  CPU over the measured window: machine {:.0} % busy; iowait {:.1} s, interrupts {:.1} s, steal {:.1} s",
        cpu.machine_busy_percent,
        cpu.machine_iowait_seconds,
        cpu.machine_softirq_seconds,
        cpu.machine_steal_seconds
    );
    for g in &cpu.groups {
        let _ = writeln!(
            out,
            "    {:<28} {:>7.1} % of a core  ({:.1} s)",
            g.name, g.percent_of_one_core, g.cpu_seconds
        );
    }
}

fn backlog_table(out: &mut String, b: &BacklogSetup) {
    let _ = writeln!(out, "\n== backlog setup ==");
    row(
        out,
        "parked deliveries",
        format!("{} in {}", b.parked, b.queues.join(", ")),
    );
    row(
        out,
        "rows written / published in",
        format!("{:.1} s / {:.1} s", b.database_seconds, b.publish_seconds),
    );
    row(
        out,
        "messages in those queues",
        b.messages_in_queues.to_string(),
    );
}

fn stats_table(out: &mut String, s: &StatsFigures) {
    let _ = writeln!(out, "\n== stats (window=7d) ==");
    row(
        out,
        "attempt rows",
        format!(
            "{} (answered total {}), inserted in {:.1} s",
            s.attempts, s.reported_total, s.seed_seconds
        ),
    );
    row(out, "first call ms", format!("{:.2}", s.first_call_ms));
    row(out, "calls ms", percentiles(s.latency_ms));
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("not within the wait".into(), |v| format!("{v:.1} s"))
}

fn release_table(out: &mut String, r: &ReleaseFigures, phases: &[PhaseResult]) {
    let _ = writeln!(out, "\n== release ==");
    row(
        out,
        "held deliveries",
        format!(
            "{} (held_count {}), written in {:.1} s; rate limit {}/s",
            r.held, r.held_count_before, r.seed_seconds, r.rate_limit_per_sec
        ),
    );
    row(
        out,
        "held_count 0 after",
        seconds(r.held_count_zero_seconds),
    );
    row(
        out,
        "all delivered after",
        format!(
            "{}  ({} of {} delivered, {}/s on average, duplicates {})",
            seconds(r.all_delivered_seconds),
            r.delivered,
            r.held,
            r.delivered_per_sec
                .map_or("-".into(), |v| format!("{v:.0}")),
            r.duplicates
        ),
    );
    let e2e = |i: usize| phases.get(i).and_then(|p| p.e2e_latency_ms);
    let pair = |pick: fn(&Percentiles) -> f64, ratio: Option<f64>| match (e2e(0), e2e(1)) {
        (Some(before), Some(during)) => format!(
            "{:.2} → {:.2}  (×{:.2})",
            pick(&before),
            pick(&during),
            ratio.unwrap_or(f64::NAN)
        ),
        _ => "-".into(),
    };
    row(
        out,
        "B e2e p50 ms, without → during",
        pair(|p| p.p50, r.p50_ratio),
    );
    row(
        out,
        "B e2e p99 ms, without → during",
        pair(|p| p.p99, r.p99_ratio),
    );
    row(
        out,
        "B's p99 within 2×",
        match r.within_twice() {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "-".into(),
        },
    );
    row(
        out,
        "B's window inside the release",
        if r.window_inside_release {
            "yes".into()
        } else {
            "no: the release ended first (part of the window had nothing released)".into()
        },
    );
}

fn probe_text(p: &ProbeFigures) -> String {
    format!(
        "{}  ({} failed, {} ticks skipped)",
        percentiles(p.latency_ms),
        p.failures,
        p.skipped
    )
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB/s", bytes / (1024.0 * 1024.0))
}

fn abuse_table(out: &mut String, a: &AbuseFigures, phases: &[PhaseResult]) {
    let attack = &a.attack;
    let s = &attack.settings;
    let _ = writeln!(
        out,
        "\n== abuse: {} attackers, bodies of {} B, {} signature candidates ==",
        s.attackers, s.max_body_bytes, s.candidates
    );
    row(out, "healthz ms, no attack", probe_text(&a.healthz_without));
    row(
        out,
        "healthz ms, under attack",
        probe_text(&a.healthz_during),
    );
    row(
        out,
        &format!("healthz p99 < {HEALTHZ_P99_BUDGET_MS} ms under attack"),
        match a.healthz_p99_under_budget {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "-".into(),
        },
    );
    let pick = |i: usize, f: fn(&PhaseResult) -> Option<Percentiles>| {
        phases
            .get(i)
            .and_then(f)
            .map_or("-".into(), |p| format!("p50 {:.2} p99 {:.2}", p.p50, p.p99))
    };
    row(
        out,
        "legit ingest ms, without → during",
        format!(
            "{}  →  {}",
            pick(0, |p| p.ingest_latency_ms),
            pick(1, |p| p.ingest_latency_ms)
        ),
    );
    row(
        out,
        "legit e2e ms, without → during",
        format!(
            "{}  →  {}",
            pick(0, |p| p.e2e_latency_ms),
            pick(1, |p| p.e2e_latency_ms)
        ),
    );
    let counts = |i: usize| {
        phases.get(i).map_or("-".into(), |p| {
            format!(
                "{}/{} accepted, {}/{} delivered",
                p.accepted, p.sent, p.delivered, p.expected_deliveries
            )
        })
    };
    row(
        out,
        "legit, without → during",
        format!("{}  →  {}", counts(0), counts(1)),
    );
    row(
        out,
        "attack requests/s",
        format!(
            "{:.0}  ({} in {:.0} s, {}; answer {})",
            attack.requests_per_sec,
            attack.requests,
            attack.measured_seconds,
            mib(attack.bytes_per_sec),
            percentiles(attack.latency_ms)
        ),
    );
    for (status, f) in &attack.by_status {
        row(
            out,
            &format!("  answered {status}"),
            format!(
                "{:.0}/s, {}  ({})",
                f.requests_per_sec,
                mib(f.bytes_per_sec),
                f.requests
            ),
        );
    }
    for k in &attack.mix {
        let answers: Vec<_> = k.answers.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        row(
            out,
            &format!("  {} ({:.0} %)", k.kind.name(), k.share * 100.0),
            format!(
                "{} B, ~{} headers → {}",
                k.bytes_per_request,
                k.headers,
                answers.join(", ")
            ),
        );
    }
}

/// Whether the ordered subscriptions were the bottleneck: each event goes to each of them, so
/// each was offered the accepted rate; if each delivered about as much, they kept up and
/// their delivered/s is the offered rate, not their ceiling. If they fell behind, their
/// delivered/s is what they sustained with that much waiting, which is not a fixed ceiling
/// either (BENCHMARKS.md: it falls as the offered rate rises).
fn ordered_note(p: &PhaseResult, o: &OrderFigures) -> String {
    let offered = p.accepted_per_sec;
    let per_line = o.delivered_per_sec_per_subscription;
    if per_line < 0.9 * offered {
        format!(
            "{}: each ordered subscription was offered {offered:.0} events/s and delivered {per_line:.0}/s: \
             the lines fell behind; {per_line:.0}/s is what one sustained at this offered rate",
            p.name
        )
    } else {
        format!(
            "{}: the ordered subscriptions kept up with the {offered:.0} events/s offered: \
             {per_line:.0}/s is the offered rate, not their ceiling (raise --rate)",
            p.name
        )
    }
}

/// Notes a reader should not miss, from the figures.
pub fn notes(phases: &[PhaseResult], cores: usize) -> Vec<String> {
    let mut notes = Vec::new();
    for p in phases {
        if let Some(load) = p
            .cpu
            .groups
            .iter()
            .find(|g| g.name == "bench load generator")
        {
            let verdict = if load.percent_of_one_core > 50.0 * cores as f64 {
                "it may be a bottleneck"
            } else {
                "not the bottleneck"
            };
            notes.push(format!(
                "{}: the load generator used {:.0} % of one core ({} cores): {verdict}",
                p.name, load.percent_of_one_core, cores
            ));
        }
        if let Some(top) = p
            .cpu
            .groups
            .iter()
            .filter(|g| g.name != "everything else")
            .max_by(|a, b| a.cpu_seconds.total_cmp(&b.cpu_seconds))
        {
            notes.push(format!(
                "{}: busiest: {} at {:.0} % of one core; the machine was {:.0} % busy",
                p.name, top.name, top.percent_of_one_core, p.cpu.machine_busy_percent
            ));
        }
        if let Some(ordered) = &p.ordered {
            notes.push(ordered_note(p, ordered));
        }
        if p.undelivered > 0 {
            notes.push(format!(
                "{}: {} deliveries were still undelivered when the drain ended",
                p.name, p.undelivered
            ));
        }
    }
    notes
}
