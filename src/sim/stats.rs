//! Streaming statistics: HDR histograms and running sums, so memory does not grow with the
//! number of requests.

use hdrhistogram::Histogram;

use super::report::Summary;
use super::time::SimTime;

/// A latency recorder in nanoseconds: exact count and mean, histogram percentiles.
#[derive(Clone, Debug)]
pub struct Recorder {
    histogram: Histogram<u64>,
    sum: u128,
}

/// The largest duration a histogram resolves, in nanoseconds (about 73 minutes); longer
/// durations are counted at this value in percentiles (the mean stays exact).
pub const MAX_RECORDED: u64 = 1 << 42;

impl Default for Recorder {
    /// 3 significant digits (relative error <= 0.1%): a constant ~256 KiB.
    fn default() -> Self {
        Self::with_digits(3)
    }
}

impl Recorder {
    /// A recorder resolving `digits` significant decimal digits. Per-interval recorders use
    /// 2 (1%): they are cleared and scanned every interval, and 2 digits are 8x smaller.
    pub fn with_digits(digits: u8) -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_RECORDED, digits).expect("valid bounds");
        Recorder { histogram, sum: 0 }
    }

    /// Records one duration.
    #[inline]
    pub fn record(&mut self, value: SimTime) {
        self.histogram.saturating_record(value.0);
        self.sum += u128::from(value.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Exact mean, in milliseconds.
    pub fn mean_ms(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum as f64 / n as f64 / 1e6)
    }

    /// The `q` quantile, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (self.count() > 0).then(|| self.histogram.value_at_quantile(q) as f64 / 1e6)
    }

    /// The summary of what was recorded.
    pub fn summary(&self) -> Summary {
        let q = |q| self.quantile_ms(q);
        Summary {
            count: self.count(),
            mean: self.mean_ms(),
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: (self.count() > 0).then(|| self.histogram.max() as f64 / 1e6),
        }
    }

    /// Forgets everything recorded (keeps the allocation).
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.sum = 0;
    }
}

/// The time integral of a level (busy workers, available workers) over a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Area {
    level: u64,
    since: SimTime,
    area: f64,
}

impl Area {
    /// Changes the level at `now` by `delta`, counting only time inside `[start, end)`.
    #[inline]
    pub fn change(&mut self, now: SimTime, delta: i64, start: SimTime, end: SimTime) {
        let from = self.since.max(start);
        let to = now.min(end);
        if to > from {
            self.area += self.level as f64 * (to - from).0 as f64;
        }
        self.since = now;
        self.level = self.level.saturating_add_signed(delta);
    }

    /// The current level.
    pub fn level(&self) -> u64 {
        self.level
    }

    /// The integral up to `now`, in level x nanoseconds.
    pub fn total(&self, now: SimTime, start: SimTime, end: SimTime) -> f64 {
        let mut copy = *self;
        copy.change(now, 0, start, end);
        copy.area
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_mean_is_exact_and_quantiles_are_within_precision() {
        let mut r = Recorder::default();
        for ms in 1..=1000 {
            r.record(SimTime::from_millis(ms as f64));
        }
        assert_eq!(r.mean_ms(), Some(500.5));
        let p99 = r.quantile_ms(0.99).unwrap();
        assert!((p99 - 990.0).abs() / 990.0 < 1e-3, "{p99}");
        r.reset();
        assert_eq!(r.summary(), Summary::default());
    }

    #[test]
    fn area_counts_only_the_window() {
        let mut a = Area::default();
        let (start, end) = (SimTime(10), SimTime(20));
        a.change(SimTime(0), 2, start, end);
        a.change(SimTime(15), -1, start, end);
        // level 2 over [10,15) and level 1 over [15,20): 10 + 5.
        assert_eq!(a.total(SimTime(30), start, end), 15.0);
    }
}
