//! Simulated time: integer nanoseconds, so that event order never depends on float rounding.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in (or span of) simulated time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of the run.
    pub const ZERO: SimTime = SimTime(0);
    /// Later than any event.
    pub const NEVER: SimTime = SimTime(u64::MAX);

    /// From seconds; negative and NaN become zero, too large saturates.
    pub fn from_secs(seconds: f64) -> Self {
        Self::from_nanos_f64(seconds * 1e9)
    }

    /// From milliseconds; negative and NaN become zero, too large saturates.
    #[inline]
    pub fn from_millis(millis: f64) -> Self {
        Self::from_nanos_f64(millis * 1e6)
    }

    #[inline]
    fn from_nanos_f64(nanos: f64) -> Self {
        // Round half up; `as` saturates and maps NaN and negatives to 0. (f64::round is a
        // libm call, measurable on this hot path.)
        SimTime((nanos + 0.5) as u64)
    }

    /// In seconds.
    pub fn as_secs(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// In milliseconds.
    pub fn as_millis(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add for SimTime {
    type Output = SimTime;
    #[inline]
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimTime;
    #[inline]
    fn sub(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_and_saturate() {
        assert_eq!(SimTime::from_millis(0.1), SimTime(100_000));
        assert_eq!(SimTime::from_secs(1.5), SimTime(1_500_000_000));
        assert_eq!(SimTime::from_millis(-3.0), SimTime::ZERO);
        assert_eq!(SimTime::from_millis(f64::NAN), SimTime::ZERO);
        assert_eq!(SimTime::from_secs(1e300), SimTime::NEVER);
        assert_eq!(SimTime::NEVER + SimTime(1), SimTime::NEVER);
        assert_eq!(SimTime(1) - SimTime(2), SimTime::ZERO);
    }
}
