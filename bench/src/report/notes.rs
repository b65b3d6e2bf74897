//! The notes a report ends with: what a reader should not miss in the figures.

use crate::{order::OrderFigures, phase::PhaseResult};

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
