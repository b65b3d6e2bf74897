//! The latency histogram of the rollups, read back: `warren_latency_bucket` (migration V16)
//! puts a duration of `ms` in bucket `ceil(ln(ms + 1) / ln(1.1))` (capped at 160), so each
//! bucket is 10 % wider than the one before. This is its inverse: the durations a bucket
//! holds, the value reported for it, and percentiles of a histogram.
//!
//! Precision: a bucket is reported as the middle of the whole milliseconds it holds, within
//! 5 % of any duration in it; every duration up to 10 ms has a bucket of its own, so those
//! are exact.

/// The growth of each bucket over the one before.
const RATIO: f64 = 1.1;

/// The whole milliseconds bucket `b` holds, lowest and highest (`lo > hi` for the few small
/// buckets no whole millisecond falls in).
pub fn bounds(b: usize) -> (f64, f64) {
    if b == 0 {
        return (0.0, 0.0);
    }
    let exponent = i32::try_from(b).unwrap_or(i32::MAX);
    let lo = RATIO.powi(exponent - 1).floor();
    let hi = RATIO.powi(exponent).floor() - 1.0;
    (lo, hi)
}

/// The duration reported for bucket `b`: the middle of the milliseconds it holds.
pub fn representative(b: usize) -> f64 {
    let (lo, hi) = bounds(b);
    (lo + hi.max(lo)) / 2.0
}

/// The `q` quantile (0 to 1) of the histogram `counts` (element `b` counts bucket `b`) by
/// nearest rank: the representative of the bucket holding the `ceil(q × total)`-th
/// duration. 0 when the histogram is empty.
pub fn percentile(counts: &[i64], q: f64) -> f64 {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return 0.0;
    }
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (b, &n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return representative(b);
        }
    }
    representative(counts.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL bucket function, as Rust computes it, to check the inverse against (the
    /// integration tests check it against PostgreSQL's).
    fn bucket(ms: i32) -> usize {
        let b = ((f64::from(ms) + 1.0).ln() / RATIO.ln()).ceil();
        b.min(160.0) as usize
    }

    #[test]
    fn each_duration_lies_within_its_buckets_bounds_and_five_percent_of_its_representative() {
        for ms in 0..200_000 {
            let b = bucket(ms);
            let (lo, hi) = bounds(b);
            let ms = f64::from(ms);
            assert!(lo <= ms && ms <= hi, "{ms} in bucket {b} ({lo}..={hi})");
            let off = (representative(b) - ms).abs();
            assert!(
                off <= 0.05 * ms + 1e-9,
                "{ms}: reported as {}",
                representative(b)
            );
        }
    }

    #[test]
    fn durations_up_to_ten_ms_are_exact() {
        for ms in 0..=10 {
            assert_eq!(representative(bucket(ms)), f64::from(ms));
        }
    }

    #[test]
    fn percentiles_go_by_nearest_rank() {
        let mut counts = vec![0; bucket(100) + 1];
        counts[bucket(1)] = 50;
        counts[bucket(5)] = 45;
        counts[bucket(100)] = 5;
        assert_eq!(percentile(&counts, 0.5), 1.0);
        assert_eq!(percentile(&counts, 0.95), 5.0);
        let p99 = percentile(&counts, 0.99);
        assert!((95.0..=105.0).contains(&p99), "{p99}");
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
