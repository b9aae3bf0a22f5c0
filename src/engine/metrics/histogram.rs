//! Latency and size distributions: recorded on the task's own core into a histogram the task owns (no lock, no
//! atomic per value), and merged into the shared copy the REST thread reads at most once per second.
//!
//! Values are kept by hdrhistogram at three significant digits, so every quantile read back is within 0.1% of
//! the value recorded; the Prometheus histogram buckets are counted from the same data.

use hdrhistogram::Histogram;

/// Significant decimal digits kept: a quantile is within 0.1% of a recorded value.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// The quantiles `/metrics` shows for every distribution.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

/// A distribution of non-negative integers (microseconds, records) between 1 and `highest`, with their exact sum.
#[derive(Debug, Clone)]
pub struct Distribution {
    histogram: Histogram<u64>,
    /// Exact, unlike a sum derived from the histogram's buckets (Prometheus `_sum`).
    sum: u64,
}

impl Distribution {
    /// A distribution of values up to `highest`; larger values are kept as `highest`.
    pub fn new(highest: u64) -> Self {
        let histogram = Histogram::new_with_bounds(1, highest.max(2), SIGNIFICANT_DIGITS)
            .unwrap_or_else(|_| Histogram::new(SIGNIFICANT_DIGITS).expect("3 digits is in 0..=5"));
        Self { histogram, sum: 0 }
    }

    pub fn record(&mut self, value: u64) {
        self.histogram.saturating_record(value);
        self.sum = self.sum.saturating_add(value);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn sum(&self) -> u64 {
        self.sum
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The value at `quantile` (0..=1): the highest value equivalent, at the kept precision, to the one
    /// recorded there.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        self.histogram.value_at_quantile(quantile)
    }

    /// How many values are at most each of `bounds` (ascending): Prometheus's cumulative `le` buckets.
    pub fn cumulative_counts(&self, bounds: &[u64]) -> Vec<u64> {
        let mut counts = vec![0u64; bounds.len()];
        for bucket in self.histogram.iter_recorded() {
            // A value sits in a range of equivalent values (the kept precision); a bucket's bound counts it if
            // the range starts at or below the bound, so a value recorded exactly at a bound is counted there.
            let value = self.histogram.lowest_equivalent(bucket.value_iterated_to());
            if let Some(first) = bounds.iter().position(|bound| value <= *bound) {
                counts[first] += bucket.count_at_value();
            }
        }
        let mut running = 0;
        for count in &mut counts {
            running += *count;
            *count = running;
        }
        counts
    }

    /// Adds everything `other` holds to this one and empties `other`.
    pub fn drain_from(&mut self, other: &mut Distribution) {
        if other.is_empty() {
            return;
        }
        // Both have the same bounds (made by the same constructor), so adding cannot fail; if it did, the
        // values stay in `other` for the next publish rather than being lost.
        if self.histogram.add(&other.histogram).is_ok() {
            self.sum = self.sum.saturating_add(other.sum);
            other.histogram.reset();
            other.sum = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_exact_within_the_kept_precision() {
        let mut d = Distribution::new(3_600_000_000);
        for value in 1..=100_000u64 {
            d.record(value);
        }
        for (quantile, expected) in [
            (0.5, 50_000u64),
            (0.9, 90_000),
            (0.99, 99_000),
            (0.999, 99_900),
            (0.9999, 99_990),
        ] {
            let got = d.value_at_quantile(quantile);
            let error = got.abs_diff(expected) as f64 / expected as f64;
            assert!(
                error <= 0.001,
                "p{quantile}: {got}, expected {expected} within 0.1%"
            );
        }
        assert_eq!(d.count(), 100_000);
        assert_eq!(d.sum(), 100_000 * 100_001 / 2);
    }

    #[test]
    fn buckets_are_cumulative_and_end_with_every_value() {
        let mut d = Distribution::new(1_000_000);
        for value in [1, 5, 10, 50, 100, 500, 2_000_000] {
            d.record(value);
        }
        // 2_000_000 is above the highest trackable value and is kept as the highest.
        assert_eq!(
            d.cumulative_counts(&[1, 10, 100, u64::MAX]),
            vec![1, 3, 5, 7]
        );
        // Where the kept precision is coarser than 1, a value recorded at a bound still counts there.
        let mut coarse = Distribution::new(1_000_000);
        coarse.record(100_000);
        coarse.record(100_100);
        assert_eq!(coarse.cumulative_counts(&[100_000, 200_000]), vec![1, 2]);
    }

    #[test]
    fn draining_moves_every_value_and_the_sum() {
        let mut shared = Distribution::new(1_000);
        let mut local = Distribution::new(1_000);
        local.record(7);
        local.record(9);
        shared.drain_from(&mut local);
        assert!(local.is_empty());
        assert_eq!((shared.count(), shared.sum()), (2, 16));
        local.record(1);
        shared.drain_from(&mut local);
        assert_eq!((shared.count(), shared.sum()), (3, 17));
    }
}
