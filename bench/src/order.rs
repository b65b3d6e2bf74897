//! The `ordered` scenario's check of what each ordered (FIFO) subscription received.
//!
//! Concurrent requests commit in an order the load generator cannot see, so the check is
//! per stream: each sender sends its own numbered events one after the other, each only once
//! the one before it was answered 202, so the events of one stream committed in the order of
//! their numbers. At every ordered subscription, the first arrivals of one stream's events
//! must therefore come in increasing number ([`out_of_order`] counts those that do not).
//! And a FIFO subscription gets one delivery at a time: each delivery's first attempt must
//! come after the delivery before it was answered 2xx or given up on ([`overlapping`]
//! counts those that do not).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use uuid::Uuid;

use crate::{
    load::{StreamPosition, Tally, Window},
    receiver::DeliveryRecord,
};

/// What one ordered subscription received.
#[derive(Debug, Clone, Serialize)]
pub struct LineFigures {
    /// Its number (`/ordered/{line}` at the receiver).
    pub line: u32,
    /// Deliveries that reached it, whatever event they carry.
    pub deliveries: u64,
    /// Of them, first answered 2xx inside the measured window.
    pub delivered_in_window: u64,
    /// `delivered_in_window / measured seconds`.
    pub delivered_per_sec: f64,
    /// First arrivals of this load's events checked against their stream's order.
    pub checked: u64,
    /// First arrivals that came after a later event of the same stream.
    pub out_of_order: u64,
    /// First arrivals that came before the delivery before them was finished.
    pub overlapping: u64,
}

/// What every ordered subscription received, and the order check.
#[derive(Debug, Clone, Serialize)]
pub struct OrderFigures {
    /// Ordered subscriptions.
    pub subscriptions: usize,
    /// Deliveries first answered 2xx in the window at all of them, divided by their number
    /// and the window: what one ordered subscription sustained.
    pub delivered_per_sec_per_subscription: f64,
    /// The slowest subscription's delivered/s.
    pub slowest_per_sec: f64,
    /// The fastest subscription's delivered/s.
    pub fastest_per_sec: f64,
    /// First arrivals checked against their stream's order, at all of them.
    pub checked: u64,
    /// First arrivals out of their stream's order, at all of them (must be 0).
    pub out_of_order: u64,
    /// First arrivals before the delivery before them was finished, at all of them (must
    /// be 0).
    pub overlapping: u64,
    /// Each subscription.
    pub lines: Vec<LineFigures>,
}

/// Counts the first arrivals, given in the order they arrived at one subscription, whose
/// number is not above the highest number of their stream that arrived before them.
pub fn out_of_order(first_arrivals: impl IntoIterator<Item = StreamPosition>) -> u64 {
    let mut highest: HashMap<u32, u64> = HashMap::new();
    let mut late = 0;
    for StreamPosition { stream, seq } in first_arrivals {
        match highest.get_mut(&stream) {
            Some(top) if seq <= *top => late += 1,
            Some(top) => *top = seq,
            None => {
                highest.insert(stream, seq);
            }
        }
    }
    late
}

/// Counts the deliveries, given as `(first attempt, finishing attempt)` places in the order
/// their first attempts arrived at one subscription, whose first attempt came before the
/// delivery before them was finished (or while it never was).
pub fn overlapping(deliveries: &[(u64, Option<u64>)]) -> u64 {
    deliveries
        .windows(2)
        .filter(|pair| {
            let ((_, finished), (first, _)) = (pair[0], pair[1]);
            finished.is_none_or(|finished| finished > first)
        })
        .count() as u64
}

/// Checks every ordered subscription's deliveries (`line` below `subscriptions`) against the
/// load's streams.
pub fn check(
    tally: &Tally,
    deliveries: &HashMap<Uuid, DeliveryRecord>,
    window: &Window,
    subscriptions: usize,
) -> OrderFigures {
    let seconds = window.end.duration_since(window.measure_from).as_secs_f64();
    let mut by_line: BTreeMap<u32, Vec<&DeliveryRecord>> = (0..subscriptions)
        .map(|line| (u32::try_from(line).unwrap_or(u32::MAX), Vec::new()))
        .collect();
    for record in deliveries.values() {
        if let Some(records) = record.line.and_then(|line| by_line.get_mut(&line)) {
            records.push(record);
        }
    }
    let lines: Vec<LineFigures> = by_line
        .into_iter()
        .map(|(line, mut records)| {
            records.sort_by_key(|r| r.first_arrival);
            let positions: Vec<StreamPosition> = records
                .iter()
                .filter_map(|r| tally.events.get(&r.event_id).and_then(|e| e.stream))
                .collect();
            let places: Vec<(u64, Option<u64>)> = records
                .iter()
                .map(|r| (r.first_arrival, r.finished_arrival))
                .collect();
            let delivered_in_window = records
                .iter()
                .filter(|r| r.succeeded_at.is_some_and(|at| window.measures(at)))
                .count() as u64;
            LineFigures {
                line,
                deliveries: records.len() as u64,
                delivered_in_window,
                delivered_per_sec: per_sec(delivered_in_window, seconds),
                checked: positions.len() as u64,
                out_of_order: out_of_order(positions),
                overlapping: overlapping(&places),
            }
        })
        .collect();
    let rates = || lines.iter().map(|l| l.delivered_per_sec);
    let delivered: u64 = lines.iter().map(|l| l.delivered_in_window).sum();
    OrderFigures {
        subscriptions,
        delivered_per_sec_per_subscription: per_sec(delivered, seconds)
            / subscriptions.max(1) as f64,
        slowest_per_sec: rates().reduce(f64::min).unwrap_or(0.0),
        fastest_per_sec: rates().reduce(f64::max).unwrap_or(0.0),
        checked: lines.iter().map(|l| l.checked).sum(),
        out_of_order: lines.iter().map(|l| l.out_of_order).sum(),
        overlapping: lines.iter().map(|l| l.overlapping).sum(),
        lines,
    }
}

fn per_sec(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::SentEvent;

    fn at(stream: u32, seq: u64) -> StreamPosition {
        StreamPosition { stream, seq }
    }

    #[test]
    fn streams_in_order_interleaved_any_way_pass() {
        let arrivals = [at(0, 0), at(1, 0), at(1, 1), at(0, 1), at(2, 5), at(0, 2)];
        assert_eq!(out_of_order(arrivals), 0);
        assert_eq!(out_of_order([]), 0);
    }

    #[test]
    fn an_event_after_a_later_one_of_its_stream_is_out_of_order() {
        // 0:2 arrives after 0:3; 1:0 after 1:1; the others are in order.
        let arrivals = [
            at(0, 0),
            at(0, 1),
            at(0, 3),
            at(1, 1),
            at(0, 2),
            at(1, 0),
            at(0, 4),
        ];
        assert_eq!(out_of_order(arrivals), 2);
        // The same event twice is not an increase either.
        assert_eq!(out_of_order([at(3, 7), at(3, 7)]), 1);
    }

    #[test]
    fn a_delivery_before_the_last_finished_overlaps() {
        assert_eq!(overlapping(&[(0, Some(0)), (1, Some(3)), (4, Some(4))]), 0);
        // The second came at 1 while the first was finished only at 2; the third came while
        // the second never finished.
        assert_eq!(overlapping(&[(0, Some(2)), (1, None), (3, Some(3))]), 2);
    }

    #[test]
    fn the_check_joins_the_receiver_with_the_streams() {
        let window = Window::starting_now(Duration::ZERO, Duration::from_secs(2));
        let mut tally = Tally::new();
        let mut deliveries = HashMap::new();
        // Stream 0 sent events a, b, c; line 0 got them a, c, b; line 1 in order.
        let events: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for (seq, id) in events.iter().enumerate() {
            let event = SentEvent {
                intended: window.start,
                measured: true,
                deliveries: 2,
                stream: Some(at(0, seq as u64)),
            };
            tally.events.insert(*id, event);
        }
        let mut place = 0;
        for (line, order) in [(0u32, [0, 2, 1]), (1, [0, 1, 2])] {
            for i in order {
                let record = DeliveryRecord {
                    event_id: events[i],
                    first_seen: window.start,
                    succeeded_at: Some(window.start),
                    answers: 1,
                    ok_answers: 1,
                    dead: false,
                    line: Some(line),
                    first_arrival: place,
                    finished_arrival: Some(place),
                };
                deliveries.insert(Uuid::new_v4(), record);
                place += 1;
            }
        }
        let figures = check(&tally, &deliveries, &window, 2);
        assert_eq!(figures.checked, 6);
        assert_eq!(figures.out_of_order, 1);
        assert_eq!(figures.lines[0].out_of_order, 1);
        assert_eq!(figures.lines[1].out_of_order, 0);
        assert_eq!(figures.overlapping, 0);
        assert_eq!(figures.delivered_per_sec_per_subscription, 1.5);
    }
}
