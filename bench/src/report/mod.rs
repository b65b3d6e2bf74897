//! The report: what ran, where, and what it measured, as a table for people and as JSON for
//! tools. Every report names the machine and the versions, and says that everything shares
//! that machine.

mod figures;
mod notes;
mod phases;
mod scenarios;

use serde::Serialize;

pub use self::{
    figures::{BacklogSetup, ReleaseFigures, ReleaseSample, StatsFigures},
    notes::notes,
};
use self::{
    phases::{load_text, phase_table},
    scenarios::{abuse_table, backlog_table, release_table, stats_table},
};
use crate::{
    abuse::AbuseFigures, broker::BrokerInfo, cli::Plan, database::PostgresInfo,
    history::HistoryFigures, machine::MachineInfo, observe::ObserverFigures, phase::PhaseResult,
    table::line, warren::ProcessFigures,
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
    pub history: Option<HistoryFigures>,
    /// With `--observe`: what the live log and the metrics scraper saw.
    pub observers: Option<ObserverFigures>,
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
            line(
                &mut out,
                format_args!(
                    "\nobserved: {} live log lines received, {} /metrics scrapes ({} failed)",
                    seen.live_lines, seen.scrapes, seen.scrape_errors
                ),
            );
        }
        self.processes_table(&mut out);
        for note in &self.notes {
            line(&mut out, format_args!("note: {note}"));
        }
        out
    }

    fn header(&self, out: &mut String) {
        let env = &self.environment;
        let m = &env.machine;
        line(
            out,
            format_args!(
                "{} — scenario {}{} — {}",
                self.tool,
                self.plan.scenario.name(),
                if self.plan.smoke { " (smoke)" } else { "" },
                self.started_at
            ),
        );
        line(
            out,
            format_args!(
                "machine:    {} cores ({}), {} MiB, Linux {}, load average {} at the start",
                m.cores, m.cpu_model, m.memory_mib, m.kernel, m.load_average
            ),
        );
        let pg = env.postgresql.as_ref().map_or("unknown".into(), |p| {
            format!(
                "{} (fsync {}, synchronous_commit {})",
                short(&p.version),
                p.fsync,
                p.synchronous_commit
            )
        });
        line(out, format_args!("postgresql: {pg}"));
        let mq = env.rabbitmq.as_ref().map_or("unknown".into(), |r| {
            format!(
                "RabbitMQ {} on Erlang {}",
                r.rabbitmq_version, r.erlang_version
            )
        });
        line(out, format_args!("rabbitmq:   {mq}"));
        line(out, format_args!("warren:     {}", env.warren));
        line(out, format_args!("{}", env.shared));
        if self.phases.is_empty() {
            return;
        }
        line(
            out,
            format_args!(
                "load:       {}, body {} B, {} subscription(s), warm-up {:.0} s, measured {:.0} s",
                load_text(&self.plan.load),
                self.plan.body_size,
                self.plan.subscriptions,
                self.plan.warmup.as_secs_f64(),
                self.plan.duration.as_secs_f64()
            ),
        );
    }

    fn processes_table(&self, out: &mut String) {
        if self.processes.is_empty() {
            line(
                out,
                format_args!("\n(Warren was not started here: no process figures)"),
            );
            return;
        }
        line(
            out,
            format_args!("\n{:<16} {:>14} {:>12}", "process", "peak RSS MiB", "CPU s"),
        );
        for p in &self.processes {
            line(
                out,
                format_args!(
                    "{:<16} {:>14} {:>12}",
                    p.name,
                    opt(p.peak_rss_mib),
                    opt(p.cpu_seconds)
                ),
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

fn opt(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}
