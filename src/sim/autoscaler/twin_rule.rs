//! The KubeTwin paper's autoscaling rule (twin-model §3): scale so that the mean processing
//! time returns to its desired value, assuming it is inversely proportional to the number
//! of replicas.

use super::{ReplicaBounds, ToleranceBand};

/// `N_desired = ceil(N_current × T_current / T_desired)`, unchanged while
/// `T_current / T_desired` lies inside the tolerance band, clamped to the bounds.
///
/// `T_current` is the mean processing time, over all replicas of the target, of the
/// requests completed during the last sync period (the engine measures it); `T_desired` is
/// configured with the `kubetwin.io/desired-processing-time-ms` annotation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TwinRule {
    desired_processing_time_ms: f64,
    band: ToleranceBand,
}

/// Relative slack under which `ceil` ignores floating-point noise: `20 × 8.8 / 8` evaluates
/// to `22.000000000000004` and must give 22 replicas, not 23.
const CEIL_SLACK: f64 = 1e-9;

impl TwinRule {
    /// The rule for a desired mean processing time in milliseconds (finite and `> 0`), or
    /// `None` if it is not.
    pub fn new(desired_processing_time_ms: f64, band: ToleranceBand) -> Option<Self> {
        (desired_processing_time_ms.is_finite() && desired_processing_time_ms > 0.0).then_some(
            Self {
                desired_processing_time_ms,
                band,
            },
        )
    }

    /// `T_desired`, in milliseconds.
    pub fn desired_processing_time_ms(&self) -> f64 {
        self.desired_processing_time_ms
    }

    /// The tolerance band on `T_current / T_desired`.
    pub fn band(&self) -> ToleranceBand {
        self.band
    }

    /// The replica count for the next period.
    ///
    /// `current` is the target's current replica count (`spec.replicas`);
    /// `current_processing_time_ms` is `T_current` in milliseconds, `None` when no request
    /// completed during the last period (then nothing is known and the count only moves
    /// into the bounds). The result always lies within `bounds`.
    pub fn desired_replicas(
        &self,
        bounds: ReplicaBounds,
        current: u32,
        current_processing_time_ms: Option<f64>,
    ) -> u32 {
        let Some(t_current) = current_processing_time_ms.filter(|t| t.is_finite() && *t >= 0.0)
        else {
            return bounds.clamp(current);
        };
        let ratio = t_current / self.desired_processing_time_ms;
        if self.band.contains(ratio) {
            return bounds.clamp(current);
        }
        let exact = f64::from(current) * ratio;
        let desired = (exact - exact * CEIL_SLACK).ceil();
        // `as` saturates: a huge ratio becomes u32::MAX, then maxReplicas.
        bounds.clamp(desired as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(desired_ms: f64) -> TwinRule {
        TwinRule::new(desired_ms, ToleranceBand::DEFAULT).unwrap()
    }

    fn wide() -> ReplicaBounds {
        ReplicaBounds::new(1, 1000).unwrap()
    }

    #[test]
    fn paper_worked_example_20_replicas_15ms_vs_8ms_gives_38() {
        // ceil(20 × 15 / 8) = ceil(37.5) = 38.
        assert_eq!(rule(8.0).desired_replicas(wide(), 20, Some(15.0)), 38);
    }

    #[test]
    fn scales_down_when_faster_than_desired() {
        // ratio 4 / 8 = 0.5 < 0.9: ceil(20 × 0.5) = 10.
        assert_eq!(rule(8.0).desired_replicas(wide(), 20, Some(4.0)), 10);
        // ratio 6 / 8 = 0.75: ceil(10 × 0.75) = ceil(7.5) = 8.
        assert_eq!(rule(8.0).desired_replicas(wide(), 10, Some(6.0)), 8);
    }

    #[test]
    fn no_change_inside_the_band_and_at_its_edges() {
        let r = rule(8.0);
        // 8.8 / 8 = 1.1 (upper edge, inclusive), 7.2 / 8 = 0.9 (lower edge), 8.4 / 8 = 1.05.
        for t in [8.8, 7.2, 8.4, 8.0] {
            assert_eq!(
                r.desired_replicas(wide(), 20, Some(t)),
                20,
                "T_current = {t}"
            );
        }
        // Just outside: 8.9 / 8 = 1.1125, ceil(20 × 1.1125) = ceil(22.25) = 23.
        assert_eq!(r.desired_replicas(wide(), 20, Some(8.9)), 23);
        // 7.1 / 8 = 0.8875, ceil(20 × 0.8875) = ceil(17.75) = 18.
        assert_eq!(r.desired_replicas(wide(), 20, Some(7.1)), 18);
    }

    #[test]
    fn custom_band_moves_the_edges() {
        let r = TwinRule::new(10.0, ToleranceBand::new(0.5, 2.0).unwrap()).unwrap();
        // 19 / 10 = 1.9 is inside [0.5, 2]: no change; 21 / 10 = 2.1: ceil(4 × 2.1) = 9.
        assert_eq!(r.desired_replicas(wide(), 4, Some(19.0)), 4);
        assert_eq!(r.desired_replicas(wide(), 4, Some(21.0)), 9);
    }

    #[test]
    fn float_noise_does_not_add_a_replica() {
        // 20 × (8.96 / 8) = 22.4 exactly in decimal: 23; 10 × (12 / 8) = 15 exactly: 15.
        let r = rule(8.0);
        assert_eq!(r.desired_replicas(wide(), 20, Some(8.96)), 23);
        assert_eq!(r.desired_replicas(wide(), 10, Some(12.0)), 15);
        // 3 × (2.1 / 0.3) = 21, which f64 evaluates to 21.000000000000004.
        let r = TwinRule::new(0.3, ToleranceBand::DEFAULT).unwrap();
        assert_eq!(r.desired_replicas(wide(), 3, Some(2.1)), 21);
    }

    #[test]
    fn result_is_clamped_to_min_and_max() {
        let bounds = ReplicaBounds::new(10, 50).unwrap();
        let r = rule(8.0);
        // ceil(40 × 15 / 8) = 75 → max 50; ceil(12 × 1 / 8) = 2 → min 10.
        assert_eq!(r.desired_replicas(bounds, 40, Some(15.0)), 50);
        assert_eq!(r.desired_replicas(bounds, 12, Some(1.0)), 10);
        // Inside the band, a count outside the bounds still moves into them.
        assert_eq!(r.desired_replicas(bounds, 60, Some(8.0)), 50);
        // An absurd ratio saturates instead of overflowing.
        assert_eq!(r.desired_replicas(bounds, 40, Some(1e300)), 50);
    }

    #[test]
    fn no_measurement_means_no_change() {
        let bounds = ReplicaBounds::new(2, 8).unwrap();
        assert_eq!(rule(8.0).desired_replicas(bounds, 5, None), 5);
        assert_eq!(rule(8.0).desired_replicas(bounds, 5, Some(f64::NAN)), 5);
        assert_eq!(rule(8.0).desired_replicas(bounds, 1, None), 2);
    }

    #[test]
    fn desired_time_must_be_positive_and_finite() {
        assert!(TwinRule::new(0.0, ToleranceBand::DEFAULT).is_none());
        assert!(TwinRule::new(-1.0, ToleranceBand::DEFAULT).is_none());
        assert!(TwinRule::new(f64::INFINITY, ToleranceBand::DEFAULT).is_none());
        assert_eq!(rule(9.6).desired_processing_time_ms(), 9.6);
    }
}
