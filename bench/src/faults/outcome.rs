//! One fault's outcome: what the receiver got against what ingest answered, and whether
//! Warren kept its promise.

use serde::Serialize;

use super::fault::Fault;
use crate::{pauses::Pauses, phase::PhaseResult};

/// One fault's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct FaultResult {
    /// The fault.
    pub fault: String,
    /// Requests sent.
    pub sent: u64,
    /// Answered 202.
    pub accepted: u64,
    /// Deliveries promised in those answers.
    pub promised: u64,
    /// Promised and never delivered (or given up on) by the end of the drain.
    pub lost: u64,
    /// Delivered though never answered 202, beyond the requests whose answer was lost.
    pub unexpected: u64,
    /// Requests cut off without an answer (connection reset, timeout): may or may not have
    /// been committed.
    pub indeterminate: u64,
    /// Extra 2xx deliveries of the same delivery.
    pub duplicates: u64,
    /// Given up on after the last attempt (the receiver's own failures).
    pub dead: u64,
    /// Answers other than 202, by status or failure kind.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Seconds the drain took.
    pub drain_seconds: f64,
    /// Why the fault could not be injected, if it could not.
    pub injection_error: Option<String>,
    /// What the fault saw, when it has something to say (`receiver-outage`: how soon Warren
    /// disabled the subscription, and how many deliveries it held).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether duplicates are allowed under this fault (not under a graceful stop).
    pub duplicates_allowed: bool,
    /// For a failed fault: the deliveries' states, the queues and the logs' last lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_mortem: Option<String>,
    /// For an ordered fault: first arrivals checked against their stream's order, those out
    /// of it, and those sent before the delivery ahead of them was finished.
    pub order: Option<(u64, u64, u64)>,
    /// The longest stretches without a 202 and without a delivery.
    pub pauses: Pauses,
}

impl FaultResult {
    /// Whether Warren kept its promise under this fault.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.unexpected == 0
            && self.injection_error.is_none()
            && (self.duplicates_allowed || self.duplicates == 0)
            && self
                .order
                .is_none_or(|(checked, out_of_order, overlapping)| {
                    checked > 0 && out_of_order == 0 && overlapping == 0
                })
    }

    /// The outcome of `fault`, from the phase it ran in and what injecting it returned.
    pub(super) fn of(
        fault: Fault,
        phase: &PhaseResult,
        injected: anyhow::Result<Option<String>>,
    ) -> Self {
        let (note, injection_error) = match injected {
            Ok(note) => (note, None),
            Err(error) => (None, Some(format!("{error:#}"))),
        };
        let indeterminate = phase
            .errors
            .iter()
            .filter(|(kind, _)| kind.parse::<u16>().is_err() && kind.as_str() != "connect")
            .map(|(_, n)| n)
            .sum();
        Self {
            fault: fault.name(),
            sent: phase.sent,
            accepted: phase.accepted,
            promised: phase.expected_deliveries,
            lost: fault.lost(phase.undelivered, phase.dead),
            unexpected: phase.unaccounted.saturating_sub(indeterminate),
            indeterminate,
            duplicates: phase.duplicates,
            dead: phase.dead,
            errors: phase.errors.clone(),
            drain_seconds: phase.drain_seconds,
            injection_error,
            note,
            duplicates_allowed: fault.allows_duplicates(),
            post_mortem: None,
            order: phase
                .ordered
                .as_ref()
                .map(|o| (o.checked, o.out_of_order, o.overlapping)),
            pauses: phase.pauses,
        }
    }

    /// One line: the fault and its three numbers.
    pub fn line(&self) -> String {
        format!(
            "{:<28} {} lost={} unexpected={} duplicates={}  (accepted {} of {}, promised {}, indeterminate {}, dead {}, drained in {:.1} s, longest pause: ingest {:.1} s, delivery {:.1} s{})",
            self.fault,
            if self.passed() { "ok  " } else { "FAIL" },
            self.lost,
            self.unexpected,
            self.duplicates,
            self.accepted,
            self.sent,
            self.promised,
            self.indeterminate,
            self.dead,
            self.drain_seconds,
            self.pauses.ingest_seconds,
            self.pauses.delivery_seconds,
            self.order
                .map(|(checked, out_of_order, overlapping)| format!(
                    "; order: {checked} checked, {out_of_order} out of order, {overlapping} overlapping"
                ))
                .unwrap_or_default()
                + &self
                    .injection_error
                    .as_ref()
                    .map(|e| format!("; injection failed: {e}"))
                    .unwrap_or_default()
                + &self
                    .note
                    .as_ref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(order: Option<(u64, u64, u64)>) -> FaultResult {
        FaultResult {
            fault: "ordered-kill-deliver".into(),
            sent: 10,
            accepted: 10,
            promised: 10,
            lost: 0,
            unexpected: 0,
            indeterminate: 0,
            duplicates: 1,
            dead: 0,
            errors: Default::default(),
            drain_seconds: 1.0,
            injection_error: None,
            note: None,
            duplicates_allowed: true,
            post_mortem: None,
            order,
            pauses: Pauses::default(),
        }
    }

    #[test]
    fn an_ordered_fault_fails_on_any_arrival_out_of_order_or_nothing_checked() {
        assert!(result(None).passed());
        assert!(result(Some((10, 0, 0))).passed());
        assert!(!result(Some((10, 1, 0))).passed(), "out of order");
        assert!(!result(Some((10, 0, 1))).passed(), "overlapping");
        assert!(!result(Some((0, 0, 0))).passed(), "nothing checked");
        assert!(result(Some((10, 1, 0))).line().contains("1 out of order"));
    }
}
