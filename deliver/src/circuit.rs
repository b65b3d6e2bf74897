//! The circuit breaker of a subscription, as pure functions: whether an attempt may go
//! out, and what an attempt's result does to the breaker.
//!
//! Closed: deliveries flow. After `failures` consecutive failures the circuit opens and no
//! request reaches the target until `recovery` has passed; then it is half-open and one
//! probe at a time goes out; `successes` probes in a row close it, any failure opens it
//! again. After `disable_after` consecutive failures, or a `410 Gone`, the subscription is
//! disabled until a person enables it. The state lives in PostgreSQL, so it survives a
//! restart of the workers.

use std::time::Duration;

use time::OffsetDateTime;
use warren_shared::model::CircuitState;

/// The breaker's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Consecutive failures that open a closed circuit.
    pub failures: u32,
    /// How long an open circuit stays open before a probe.
    pub recovery: Duration,
    /// Probes in a row that close a half-open circuit.
    pub successes: u32,
    /// Consecutive failures that disable the subscription.
    pub disable_after: u32,
}

/// A subscription's breaker as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// The circuit's state.
    pub state: CircuitState,
    /// When it last opened.
    pub opened_at: Option<OffsetDateTime>,
    /// Failures in a row, across open and half-open periods.
    pub failures: u32,
    /// Successful probes in a row while half-open.
    pub successes: u32,
}

/// Whether an attempt may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The circuit is closed.
    Pass,
    /// The circuit is (or may now become) half-open: the attempt must claim the probe.
    Probe,
    /// The circuit is open for this much longer.
    Wait(Duration),
}

/// What an attempt's result tells the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A 2xx.
    Success,
    /// Any other failure.
    Failure,
    /// `410 Gone`: the target is gone for good.
    Gone,
}

/// The breaker after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The new breaker.
    pub breaker: Breaker,
    /// Why the subscription must be disabled, if it must.
    pub disable: Option<String>,
}

impl Transition {
    /// Whether anything changed that must be stored.
    pub fn changes(&self, before: &Breaker) -> bool {
        self.breaker != *before || self.disable.is_some()
    }
}

/// Whether an attempt may go out at `now`.
pub fn gate(breaker: &Breaker, thresholds: &Thresholds, now: OffsetDateTime) -> Gate {
    match breaker.state {
        CircuitState::Closed => Gate::Pass,
        CircuitState::HalfOpen => Gate::Probe,
        CircuitState::Open => {
            let reopens = breaker.opened_at.unwrap_or(now) + thresholds.recovery;
            match Duration::try_from(reopens - now) {
                Ok(wait) if !wait.is_zero() => Gate::Wait(wait),
                _ => Gate::Probe,
            }
        }
    }
}

/// The breaker after an attempt that ended with `signal` at `now`.
pub fn after(
    breaker: &Breaker,
    signal: Signal,
    thresholds: &Thresholds,
    now: OffsetDateTime,
) -> Transition {
    let open = |failures| Breaker {
        state: CircuitState::Open,
        opened_at: Some(now),
        failures,
        successes: 0,
    };
    match signal {
        Signal::Success => {
            let successes = breaker.successes + 1;
            let breaker = match breaker.state {
                CircuitState::HalfOpen if successes < thresholds.successes => Breaker {
                    failures: 0,
                    successes,
                    ..*breaker
                },
                _ => Breaker {
                    state: CircuitState::Closed,
                    opened_at: None,
                    failures: 0,
                    successes: 0,
                },
            };
            Transition {
                breaker,
                disable: None,
            }
        }
        Signal::Failure => {
            let failures = breaker.failures + 1;
            let trips = breaker.state != CircuitState::Closed || failures >= thresholds.failures;
            let breaker = if trips {
                open(failures)
            } else {
                Breaker {
                    failures,
                    successes: 0,
                    ..*breaker
                }
            };
            let disable = (failures >= thresholds.disable_after)
                .then(|| format!("{failures} consecutive failed attempts"));
            Transition { breaker, disable }
        }
        Signal::Gone => Transition {
            breaker: open(breaker.failures + 1),
            disable: Some("the target answered 410 Gone".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        failures: 5,
        recovery: Duration::from_secs(60),
        successes: 3,
        disable_after: 100,
    };

    fn closed() -> Breaker {
        Breaker {
            state: CircuitState::Closed,
            opened_at: None,
            failures: 0,
            successes: 0,
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a time")
    }

    fn run(mut breaker: Breaker, signals: &[Signal]) -> Breaker {
        for signal in signals {
            breaker = after(&breaker, *signal, &T, now()).breaker;
        }
        breaker
    }

    #[test]
    fn five_failures_in_a_row_open_the_circuit_and_a_success_in_between_resets_the_count() {
        use Signal::*;
        assert_eq!(run(closed(), &[Failure; 4]).state, CircuitState::Closed);
        assert_eq!(run(closed(), &[Failure; 5]).state, CircuitState::Open);
        let interrupted = run(
            closed(),
            &[Failure, Failure, Failure, Failure, Success, Failure],
        );
        assert_eq!(
            (interrupted.state, interrupted.failures),
            (CircuitState::Closed, 1)
        );
    }

    #[test]
    fn an_open_circuit_holds_attempts_until_the_recovery_time_then_asks_for_a_probe() {
        let open = run(closed(), &[Signal::Failure; 5]);
        assert_eq!(gate(&open, &T, now()), Gate::Wait(Duration::from_secs(60)));
        assert_eq!(
            gate(&open, &T, now() + Duration::from_secs(59)),
            Gate::Wait(Duration::from_secs(1))
        );
        assert_eq!(
            gate(&open, &T, now() + Duration::from_secs(60)),
            Gate::Probe
        );
        assert_eq!(gate(&closed(), &T, now()), Gate::Pass);
    }

    #[test]
    fn three_good_probes_close_a_half_open_circuit_and_a_bad_one_reopens_it() {
        let half_open = Breaker {
            state: CircuitState::HalfOpen,
            ..run(closed(), &[Signal::Failure; 5])
        };
        let two = run(half_open, &[Signal::Success, Signal::Success]);
        assert_eq!((two.state, two.successes), (CircuitState::HalfOpen, 2));
        assert_eq!(run(two, &[Signal::Success]).state, CircuitState::Closed);
        let reopened = after(&two, Signal::Failure, &T, now() + Duration::from_secs(5)).breaker;
        assert_eq!(reopened.state, CircuitState::Open);
        assert_eq!(reopened.opened_at, Some(now() + Duration::from_secs(5)));
    }

    #[test]
    fn a_hundred_failures_in_a_row_or_a_410_disable_the_subscription() {
        let ninety_nine = Breaker {
            failures: 99,
            ..run(closed(), &[Signal::Failure; 5])
        };
        let hundredth = after(&ninety_nine, Signal::Failure, &T, now());
        assert_eq!(
            hundredth.disable.as_deref(),
            Some("100 consecutive failed attempts")
        );
        let gone = after(&closed(), Signal::Gone, &T, now());
        assert!(gone.disable.expect("disabled").contains("410"));
    }

    #[test]
    fn a_success_on_a_healthy_circuit_changes_nothing_to_store() {
        let transition = after(&closed(), Signal::Success, &T, now());
        assert!(!transition.changes(&closed()));
        assert!(after(&closed(), Signal::Failure, &T, now()).changes(&closed()));
    }
}
