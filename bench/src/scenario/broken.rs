//! Whether a run broke: what ends `warren-bench` with a failure, never a judgement on a
//! figure.

use crate::report::Report;

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
