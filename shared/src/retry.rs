//! The retry schedule: how long a failed delivery waits before its next attempt. Pure
//! functions, so the backoff can be tested without a broker. Which wait queue (tier) holds
//! it meanwhile is the topology's (`topology::Topology::tier_for`).

use std::{fmt, str::FromStr, time::Duration};

use rand::Rng;

/// The waits between attempts, in order: `delays[0]` is the wait before attempt 2.
///
/// Attempts past the end of the list keep using its last (largest) wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

/// The share of a wait that jitter may take off. Jitter only ever shortens a wait, because
/// the tier's TTL is a ceiling a message cannot outlast.
const JITTER_FRACTION: f64 = 0.2;

impl Default for RetrySchedule {
    /// Immediately, 5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h: eight attempts over about ten hours.
    fn default() -> Self {
        let secs = [5, 30, 120, 600, 3_600, 10_800, 21_600];
        Self::new(secs.into_iter().map(Duration::from_secs).collect())
            .expect("the default schedule is valid")
    }
}

impl RetrySchedule {
    /// A schedule from its waits; they must be non-empty, non-zero and never decreasing
    /// (so that a long wait can never sit in front of a shorter one in the same tier).
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError("the schedule needs at least one wait".into()));
        }
        if delays.iter().any(|d| d.is_zero()) {
            return Err(ScheduleError("a wait must be longer than zero".into()));
        }
        if delays.windows(2).any(|w| w[1] < w[0]) {
            return Err(ScheduleError("waits must never decrease".into()));
        }
        Ok(Self { delays })
    }

    /// The waits, in order.
    pub fn waits(&self) -> &[Duration] {
        &self.delays
    }

    /// The nominal wait before `attempt` (1-based within the current round of attempts).
    /// Attempt 1 goes out immediately.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let Some(index) = attempt.checked_sub(2) else {
            return Duration::ZERO;
        };
        let last = self.delays.len() - 1;
        self.delays[(index as usize).min(last)]
    }

    /// The longest wait of the schedule, the cap for a receiver's `Retry-After`.
    pub fn longest(&self) -> Duration {
        *self
            .delays
            .last()
            .expect("a schedule has at least one wait")
    }
}

/// Takes up to a fifth off `delay` at random, so the retries of a burst of failures spread
/// out instead of hitting the receiver again all at once.
pub fn jittered(delay: Duration, rng: &mut impl Rng) -> Duration {
    let keep = 1.0 - rng.random_range(0.0..JITTER_FRACTION);
    delay.mul_f64(keep)
}

/// A wait's text form, also its tier's name: the largest whole unit that expresses it (`500ms`, `5s`, `2m`, `1h`).
pub fn tier_name(ttl: Duration) -> String {
    let ms = ttl.as_millis();
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// Parses one duration written as a tier name (`250ms`, `5s`, `2m`, `1h`).
pub fn parse_duration(text: &str) -> Result<Duration, ScheduleError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| ScheduleError(format!("`{text}` has no unit (ms, s, m or h)")))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| ScheduleError(format!("`{text}` does not start with a number")))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(ScheduleError(format!(
                "`{unit}` is not a unit (ms, s, m or h)"
            )));
        }
    };
    Ok(Duration::from_millis(number * millis))
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Parses a comma-separated list of waits, e.g. `5s,30s,2m,10m,1h,3h,6h`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let delays = text
            .split(',')
            .map(parse_duration)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(delays)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.delays.iter().map(|&d| tier_name(d)).collect();
        f.write_str(&names.join(","))
    }
}

/// A schedule that cannot be used, with the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid retry schedule: {0}")]
pub struct ScheduleError(String);

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_default_schedule_waits_as_the_design_says() {
        let schedule = RetrySchedule::default();
        let waits: Vec<Duration> = (1..=8).map(|a| schedule.delay_before(a)).collect();
        assert_eq!(waits, [0, 5, 30, 120, 600, 3_600, 10_800, 21_600].map(secs));
    }

    #[test]
    fn attempts_past_the_schedule_keep_the_longest_wait() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.delay_before(20), secs(21_600));
    }

    #[test]
    fn jitter_only_ever_shortens_a_wait_by_at_most_a_fifth() {
        let mut rng = rand::rng();
        for _ in 0..1_000 {
            let wait = jittered(secs(30), &mut rng);
            assert!(wait <= secs(30) && wait >= secs(24), "{wait:?}");
        }
    }

    #[test]
    fn a_schedule_round_trips_through_its_text_form() {
        let schedule: RetrySchedule = "250ms,1s,2m,1h".parse().expect("valid");
        assert_eq!(schedule.to_string(), "250ms,1s,2m,1h");
        assert_eq!(schedule.delay_before(2), Duration::from_millis(250));
    }

    #[test]
    fn a_decreasing_or_empty_or_unitless_schedule_is_refused() {
        assert!("30s,5s".parse::<RetrySchedule>().is_err());
        assert!("".parse::<RetrySchedule>().is_err());
        assert!("5".parse::<RetrySchedule>().is_err());
        assert!("0s".parse::<RetrySchedule>().is_err());
        assert!("5d".parse::<RetrySchedule>().is_err());
    }
}
