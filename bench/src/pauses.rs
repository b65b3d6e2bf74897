//! How long ingest and delivery paused during a phase, read from the load's and the
//! receiver's own records (no sampling of Warren): a fault that stops either shows as the
//! longest stretch without progress.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde::Serialize;
use uuid::Uuid;

use crate::{
    load::{Tally, Window},
    receiver::DeliveryRecord,
};

/// The longest pauses of a phase, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pauses {
    /// The longest stretch without a 202: the longest gap between the send times of two
    /// accepted events of the load (requests refused in between), or the slowest 202
    /// (requests held), whichever is longer.
    pub ingest_seconds: f64,
    /// The longest gap between two deliveries' first successes at the receiver, the first
    /// of them before the load ended (afterwards only retries trickle in).
    pub delivery_seconds: f64,
}

impl Pauses {
    /// The pauses of the load in `tally`, whose deliveries the receiver recorded.
    pub fn of(tally: &Tally, deliveries: &HashMap<Uuid, DeliveryRecord>, window: &Window) -> Self {
        let sent = tally.events.values().map(|event| event.intended).collect();
        let slowest_202 = Duration::from_micros(tally.accepted_latency_us.max());
        let delivered = deliveries
            .values()
            .filter(|record| tally.events.contains_key(&record.event_id))
            .filter_map(|record| record.succeeded_at)
            .collect();
        Self {
            ingest_seconds: longest_gap(sent, window.end).max(slowest_202).as_secs_f64(),
            delivery_seconds: longest_gap(delivered, window.end).as_secs_f64(),
        }
    }
}

/// The longest gap between consecutive `times` whose earlier end is before `until`.
fn longest_gap(mut times: Vec<Instant>, until: Instant) -> Duration {
    times.sort_unstable();
    times
        .windows(2)
        .filter(|pair| pair[0] < until)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_gap_counts_only_gaps_that_start_before_the_end() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let times = vec![at(0), at(10), at(2_010), at(2_020), at(9_000)];
        assert_eq!(
            longest_gap(times.clone(), at(2_015)),
            Duration::from_secs(2)
        );
        // The gap from 2 020 ms starts before the end: a pause still running when the load
        // stopped counts whole.
        assert_eq!(longest_gap(times, at(2_100)), Duration::from_millis(6_980));
        assert_eq!(longest_gap(vec![at(5)], at(10)), Duration::ZERO);
    }
}
