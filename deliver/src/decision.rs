//! What follows an attempt: success, another attempt after a wait, or dead. A pure function.

use std::time::Duration;

use warren_shared::retry::RetrySchedule;

/// The fate of a delivery after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A 2xx: done.
    Succeeded,
    /// Failed with attempts left: try again after `wait`.
    Retry {
        /// How long until the next attempt.
        wait: Duration,
        /// Whether the wait came from the receiver's `Retry-After`: then it is kept as is,
        /// not shortened by jitter.
        exact: bool,
    },
    /// Failed with no attempts left.
    Dead,
}

impl Decision {
    /// When the next attempt is due, for a retry decided at `now`.
    pub fn next_attempt_at(self, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        match self {
            Decision::Retry { wait, .. } => Some(now + wait),
            Decision::Succeeded | Decision::Dead => None,
        }
    }

    /// The live log's word for the attempt's outcome.
    pub fn outcome(self) -> &'static str {
        match self {
            Decision::Succeeded => "succeeded",
            Decision::Retry { .. } => "failed",
            Decision::Dead => "dead",
        }
    }
}

/// Decides after attempt number `attempt_in_round` (1-based, counted since the delivery was
/// created or last replayed) of at most `max_attempts`. A receiver's `Retry-After` (on 429
/// and 503) lengthens the wait, up to the schedule's longest.
pub fn decide(
    succeeded: bool,
    attempt_in_round: u32,
    max_attempts: u32,
    schedule: &RetrySchedule,
    retry_after: Option<Duration>,
) -> Decision {
    if succeeded {
        return Decision::Succeeded;
    }
    if attempt_in_round >= max_attempts {
        return Decision::Dead;
    }
    let scheduled = schedule.delay_before(attempt_in_round + 1);
    match retry_after {
        Some(asked) if asked > scheduled => Decision::Retry {
            wait: asked.min(schedule.longest()),
            exact: true,
        },
        _ => Decision::Retry {
            wait: scheduled,
            exact: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_ends_the_delivery() {
        assert_eq!(
            decide(true, 3, 8, &RetrySchedule::default(), None),
            Decision::Succeeded
        );
    }

    fn retry(secs: u64, exact: bool) -> Decision {
        Decision::Retry {
            wait: Duration::from_secs(secs),
            exact,
        }
    }

    #[test]
    fn a_failure_waits_as_the_schedule_says_for_the_next_attempt() {
        let schedule = RetrySchedule::default();
        assert_eq!(decide(false, 1, 8, &schedule, None), retry(5, false));
        assert_eq!(decide(false, 2, 8, &schedule, None), retry(30, false));
        assert_eq!(decide(false, 7, 8, &schedule, None), retry(21_600, false));
    }

    #[test]
    fn a_longer_retry_after_is_honoured_up_to_the_longest_wait() {
        let schedule = RetrySchedule::default();
        let asked = |secs| Some(Duration::from_secs(secs));
        assert_eq!(decide(false, 1, 8, &schedule, asked(120)), retry(120, true));
        assert_eq!(
            decide(false, 1, 8, &schedule, asked(2)),
            retry(5, false),
            "never sooner than the schedule"
        );
        assert_eq!(
            decide(false, 1, 8, &schedule, asked(86_400)),
            retry(21_600, true)
        );
    }

    #[test]
    fn the_last_failure_is_dead() {
        let schedule = RetrySchedule::default();
        assert_eq!(decide(false, 8, 8, &schedule, None), Decision::Dead);
        assert_eq!(decide(false, 1, 1, &schedule, None), Decision::Dead);
    }
}
