//! The tables of what the `backlog`, `stats`, `release` and `abuse` scenarios measured
//! besides their phases.

use crate::{
    abuse::{AbuseFigures, HEALTHZ_P99_BUDGET_MS, ProbeFigures},
    phase::{Percentiles, PhaseResult},
    table::{line, percentiles, row},
};

use super::figures::{BacklogSetup, ReleaseFigures, StatsFigures};

/// Parking the backlog.
pub fn backlog_table(out: &mut String, b: &BacklogSetup) {
    line(out, format_args!("\n== backlog setup =="));
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

/// The stats calls.
pub fn stats_table(out: &mut String, s: &StatsFigures) {
    line(out, format_args!("\n== stats (window=7d) =="));
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

/// The release, and subscription B beside it.
pub fn release_table(out: &mut String, r: &ReleaseFigures, phases: &[PhaseResult]) {
    line(out, format_args!("\n== release =="));
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

/// One of a phase's latencies.
type Latency = fn(&PhaseResult) -> Option<Percentiles>;

/// `/healthz`, the legitimate events and the attack, without and during it.
pub fn abuse_table(out: &mut String, a: &AbuseFigures, phases: &[PhaseResult]) {
    let attack = &a.attack;
    let s = &attack.settings;
    line(
        out,
        format_args!(
            "\n== abuse: {} attackers, bodies of {} B, {} signature candidates ==",
            s.attackers, s.max_body_bytes, s.candidates
        ),
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
    let pick = |i: usize, f: Latency| {
        phases
            .get(i)
            .and_then(f)
            .map_or("-".into(), |p| format!("p50 {:.2} p99 {:.2}", p.p50, p.p99))
    };
    let latencies: [(&str, Latency); 2] = [
        ("legit ingest ms, without → during", |p| {
            p.ingest_latency_ms
        }),
        ("legit e2e ms, without → during", |p| p.e2e_latency_ms),
    ];
    for (name, latency) in latencies {
        row(
            out,
            name,
            format!("{}  →  {}", pick(0, latency), pick(1, latency)),
        );
    }
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
