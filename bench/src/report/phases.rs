//! A phase's table: its load, throughput, latencies, deliveries, the ordered subscriptions'
//! figures, CPU and PostgreSQL activity.

use crate::{
    activity::Activity,
    machine::CpuBreakdown,
    order::OrderFigures,
    phase::PhaseResult,
    settings::LoadShape,
    table::{line, percentiles, row},
};

/// The load as words.
pub fn load_text(load: &LoadShape) -> String {
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

/// One phase's table.
pub fn phase_table(out: &mut String, p: &PhaseResult) {
    line(
        out,
        format_args!("\n== {} ({}) ==", p.name, load_text(&p.load)),
    );
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
        line(
            out,
            format_args!(
                "    /ordered/{:<3} {:>7} deliveries, {:>6.0}/s in the window, out of order {}, overlapping {}",
                l.line, l.deliveries, l.delivered_per_sec, l.out_of_order, l.overlapping
            ),
        );
    }
}

fn activity_table(out: &mut String, a: &Activity) {
    line(
        out,
        format_args!(
            "  PostgreSQL backends active on average: {:.2} ({} samples); the busiest:",
            a.average_active, a.samples
        ),
    );
    for r in &a.top {
        line(
            out,
            format_args!(
                "    {:>5.2}  {:<24} {}",
                r.average_active, r.wait, r.statement
            ),
        );
    }
}

fn cpu_table(out: &mut String, cpu: &CpuBreakdown) {
    line(
        out,
        format_args!(
            "  CPU over the measured window: machine {:.0} % busy; iowait {:.1} s, interrupts {:.1} s, steal {:.1} s",
            cpu.machine_busy_percent,
            cpu.machine_iowait_seconds,
            cpu.machine_softirq_seconds,
            cpu.machine_steal_seconds
        ),
    );
    for g in &cpu.groups {
        line(
            out,
            format_args!(
                "    {:<28} {:>7.1} % of a core  ({:.1} s)",
                g.name, g.percent_of_one_core, g.cpu_seconds
            ),
        );
    }
}
