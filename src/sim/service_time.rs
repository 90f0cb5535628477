//! A pod's processing time: one distribution, or one per load level
//! ([`crate::model::kinds::LoadDependentSpec`]) drawn at the pod's current request rate.

use rand::{Rng, RngExt};

use crate::fit::Distribution;
use crate::sim::SimTime;

/// How long one request takes to process, in milliseconds.
#[derive(Clone, Debug)]
pub enum ServiceTime {
    /// The same distribution at every load.
    Fixed(Distribution),
    /// A distribution per load level.
    ByLoad(LoadTable),
}

impl ServiceTime {
    /// Draws one processing time for a request that starts at `load` requests per second
    /// (ignored by [`ServiceTime::Fixed`]).
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, load: f64, rng: &mut R) -> f64 {
        match self {
            ServiceTime::Fixed(d) => d.sample(rng),
            ServiceTime::ByLoad(t) => t.sample(load, rng),
        }
    }

    /// The mean processing time at `load`.
    pub fn mean(&self, load: f64) -> f64 {
        match self {
            ServiceTime::Fixed(d) => d.mean(),
            ServiceTime::ByLoad(t) => {
                let (i, w) = t.segment(load);
                let (a, b) = (t.levels[i].mean(), t.levels[i + 1].mean());
                (a + w * (b - a)).max(0.0)
            }
        }
    }

    /// The time constant of the pod's load average, when the time depends on the load.
    pub fn window(&self) -> Option<SimTime> {
        match self {
            ServiceTime::Fixed(_) => None,
            ServiceTime::ByLoad(t) => Some(t.window),
        }
    }
}

/// Distributions at increasing loads; see [`crate::model::kinds::LoadDependentSpec`].
#[derive(Clone, Debug)]
pub struct LoadTable {
    /// Requests per second per pod, strictly increasing; at least two.
    loads: Box<[f64]>,
    levels: Box<[Distribution]>,
    window: SimTime,
}

impl LoadTable {
    /// A table from `(load, distribution)` levels and the rate average's time constant.
    ///
    /// # Errors
    /// `(index, message)` for the first level whose load is not finite, negative or not
    /// above the previous one (`index` is `None` for fewer than two levels).
    pub fn new(
        levels: Vec<(f64, Distribution)>,
        window: SimTime,
    ) -> Result<LoadTable, (Option<usize>, String)> {
        if levels.len() < 2 {
            return Err((
                None,
                format!("needs at least 2 levels, got {}", levels.len()),
            ));
        }
        let mut previous = f64::NEG_INFINITY;
        for (i, (load, _)) in levels.iter().enumerate() {
            if !load.is_finite() || *load < 0.0 {
                return Err((Some(i), format!("must be a finite rate >= 0, got {load}")));
            }
            if *load <= previous {
                let message = format!("must be above the previous level's {previous}");
                return Err((Some(i), message));
            }
            previous = *load;
        }
        let (loads, levels) = levels.into_iter().unzip::<_, _, Vec<_>, Vec<_>>();
        Ok(LoadTable {
            loads: loads.into(),
            levels: levels.into(),
            window,
        })
    }

    /// The segment `(i, w)` whose line gives `load`: levels `i` and `i + 1`, weight `w` of
    /// the upper one (below 0 or above 1 when extrapolating).
    fn segment(&self, load: f64) -> (usize, f64) {
        let last = self.loads.len() - 2;
        let i = self.loads.partition_point(|&l| l <= load).saturating_sub(1);
        let i = i.min(last);
        let (a, b) = (self.loads[i], self.loads[i + 1]);
        (i, (load - a) / (b - a))
    }

    #[inline]
    fn sample<R: Rng + ?Sized>(&self, load: f64, rng: &mut R) -> f64 {
        let (i, w) = self.segment(load);
        // Open interval: quantile(0) of an unbounded-below family is -inf.
        let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let (a, b) = (self.levels[i].quantile(u), self.levels[i + 1].quantile(u));
        (a + w * (b - a)).max(0.0)
    }
}

/// A pod's request rate, averaged exponentially over a time constant: each arrival adds
/// `1 / window` to an estimate that decays as `exp(-elapsed / window)`, so under a steady
/// rate `λ` the estimate's mean is `λ`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadMeter {
    rate: f64,
    last: SimTime,
}

impl LoadMeter {
    /// Counts an arrival at `now`.
    #[inline]
    pub fn arrive(&mut self, now: SimTime, window: SimTime) {
        self.rate = self.at(now, window) + 1.0 / window.as_secs();
        self.last = now;
    }

    /// The estimate at `now` (no later arrival counted).
    #[inline]
    pub fn at(&self, now: SimTime, window: SimTime) -> f64 {
        let elapsed = (now - self.last).as_secs();
        self.rate * (-elapsed / window.as_secs()).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dist::DistSpec;
    use crate::sim::rng;
    use std::path::Path;

    fn dist(spec: DistSpec) -> Distribution {
        Distribution::from_spec(&spec, Path::new(".")).expect("valid")
    }

    fn table() -> LoadTable {
        let levels = vec![
            (10.0, dist(DistSpec::Exponential { mean: 4.0 })),
            (20.0, dist(DistSpec::Exponential { mean: 6.0 })),
            (40.0, dist(DistSpec::Exponential { mean: 14.0 })),
        ];
        LoadTable::new(levels, SimTime::from_secs(10.0)).expect("valid")
    }

    #[test]
    fn the_mean_moves_linearly_between_levels_and_beyond_them() {
        let t = ServiceTime::ByLoad(table());
        for (load, mean) in [
            (10.0, 4.0),
            (15.0, 5.0),
            (30.0, 10.0),
            (50.0, 18.0),
            (0.0, 2.0),
        ] {
            assert!(
                (t.mean(load) - mean).abs() < 1e-12,
                "{load}: {}",
                t.mean(load)
            );
        }
        // Extrapolated below the first level the line reaches 0 at load 0 - 10 = -10.
        assert_eq!(t.mean(-30.0), 0.0);
    }

    #[test]
    fn draws_have_the_interpolated_mean() {
        // Exponential quantiles are proportional to the mean, so a draw at load 15 is an
        // exponential with mean 5: the sample mean of n = 200,000 is within 4 standard
        // errors (4 * 5 / sqrt(n) = 0.045).
        let t = ServiceTime::ByLoad(table());
        let mut rng = rng::stream(7, "load");
        let n = 200_000;
        let mean = (0..n).map(|_| t.sample(15.0, &mut rng)).sum::<f64>() / f64::from(n);
        assert!((mean - 5.0).abs() < 0.045, "{mean}");
    }

    #[test]
    fn levels_must_increase() {
        let d = || dist(DistSpec::Constant { value: 1.0 });
        let w = SimTime::from_secs(1.0);
        let err = LoadTable::new(vec![(1.0, d())], w).unwrap_err();
        assert_eq!(err, (None, "needs at least 2 levels, got 1".into()));
        let err = LoadTable::new(vec![(1.0, d()), (1.0, d())], w).unwrap_err();
        assert_eq!(err.0, Some(1));
        let err = LoadTable::new(vec![(f64::NAN, d()), (1.0, d())], w).unwrap_err();
        assert_eq!(err.0, Some(0));
    }

    #[test]
    fn the_meter_averages_a_steady_rate() {
        // Arrivals exactly every 50 ms (20/s) for 200 s with a 10 s window: the estimate
        // just after an arrival is (1/τ) / (1 - exp(-Δ/τ)) = 20.05 for Δ = 0.05, τ = 10,
        // less the start-up transient, a factor exp(-200 s / τ) = 2e-9 of it.
        let window = SimTime::from_secs(10.0);
        let mut m = LoadMeter::default();
        for i in 0..4000 {
            m.arrive(SimTime::from_millis(f64::from(i) * 50.0), window);
        }
        let now = SimTime::from_millis(3999.0 * 50.0);
        let expected = 0.1 / (1.0 - (-0.005f64).exp());
        assert!(
            (m.at(now, window) - expected).abs() < 1e-7,
            "{}",
            m.at(now, window)
        );
        // Ten seconds of silence divide it by e.
        let later = now + SimTime::from_secs(10.0);
        assert!((m.at(later, window) - expected / std::f64::consts::E).abs() < 1e-7);
    }
}
