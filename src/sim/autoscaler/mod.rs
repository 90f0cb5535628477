//! Pod autoscaling: the decisions a HorizontalPodAutoscaler takes every sync period, as pure
//! functions of what the engine observed.
//!
//! Two rules, selected per HPA (see [`autoscaler_from_hpa`] for the annotations):
//!
//! - [`TwinRule`], the KubeTwin paper's rule: `ceil(N × T_current / T_desired)` on the mean
//!   processing time of the last period, with a tolerance band, clamped to the bounds;
//! - [`HpaRule`], the `autoscaling/v2` HorizontalPodAutoscaler as kube-controller-manager
//!   runs it (`pkg/controller/podautoscaler/horizontal.go` and `replica_calculator.go`):
//!   one replica proposal per metric (Resource cpu, Pods and Object metrics), missing
//!   metrics and not-yet-ready pods, the tolerance, the maximum over metrics, then
//!   stabilization and the `behavior` rate policies.
//!
//! # What the engine does each sync period
//!
//! The engine owns one [`Autoscaler`] and, for the Kubernetes rule, one [`HpaHistory`] per
//! HPA. Every [`Autoscaler::sync_period`] (15 s unless annotated) it:
//!
//! 1. for [`Rule::Twin`]: computes the mean processing time of the target's requests that
//!    completed during the last period and calls [`TwinRule::desired_replicas`];
//! 2. for [`Rule::Kubernetes`]: lists the target's pods as [`PodSample`]s, measures one
//!    [`MetricSample`] per entry of [`HpaRule::metrics`] (same order), and calls
//!    [`HpaRule::reconcile`] with the HPA's [`HpaHistory`], which it updates;
//! 3. sets the target Deployment's replicas to the returned count when it differs.
//!
//! Nothing here reads a clock or keeps hidden state: time comes in as [`SimTime`] and the
//! only memory between periods is the [`HpaHistory`] the engine passes in.

mod behavior;
mod conditions;
mod history;
mod hpa;
mod metrics_server;
mod observation;
mod replica_calc;
mod spec;
mod spec_kubernetes;
mod twin_rule;

pub use behavior::{Behavior, ScalingPolicy, ScalingPolicyKind, ScalingRules, SelectPolicy};
pub use conditions::{Condition, ConditionType, HeldCondition, HpaConditions};
pub use history::{HpaHistory, ScaleEvent, TimestampedRecommendation};
pub use hpa::{
    ControllerSettings, DecisionReason, HpaDecision, HpaMetric, HpaRule, ObjectKind, ObjectRef,
    ObjectTarget, ScalingLimit, TwinMetric,
};
pub use metrics_server::{CpuMeter, DEFAULT_METRIC_RESOLUTION, MetricsServer};
pub use observation::{
    HpaObservation, MetricSample, PodMetric, PodPhase, PodSample, ReadyCondition,
};
pub use replica_calc::{MetricError, MetricProposal};
pub use spec::{
    DESIRED_PROCESSING_TIME_ANNOTATION, RULE_ANNOTATION, SYNC_PERIOD_ANNOTATION, SpecError,
    SpecProblem, TOLERANCE_ANNOTATION, autoscaler_from_hpa,
};
pub use twin_rule::TwinRule;

use crate::sim::time::SimTime;

/// kube-controller-manager's `--horizontal-pod-autoscaler-sync-period` default: 15 s.
pub const DEFAULT_SYNC_PERIOD: SimTime = SimTime(15_000_000_000);

/// A validated autoscaler: what to scale, within which bounds, how often, by which rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Autoscaler {
    /// The HPA's `metadata.name`.
    pub name: String,
    /// The name of the Deployment it scales (`spec.scaleTargetRef.name`).
    pub target: String,
    /// `spec.minReplicas` and `spec.maxReplicas`.
    pub bounds: ReplicaBounds,
    /// Time between two decisions (simulated nanoseconds); [`DEFAULT_SYNC_PERIOD`] unless
    /// annotated with [`SYNC_PERIOD_ANNOTATION`].
    pub sync_period: SimTime,
    /// The decision rule.
    pub rule: Rule,
}

/// Which rule decides the replica count.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// The twin's processing-time rule (KubeTwin paper).
    Twin(TwinRule),
    /// The `autoscaling/v2` HorizontalPodAutoscaler controller.
    Kubernetes(HpaRule),
}

/// `minReplicas ..= maxReplicas`, with `1 <= min <= max` (scale to zero is not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaBounds {
    min: u32,
    max: u32,
}

impl ReplicaBounds {
    /// The bounds, or `None` unless `1 <= min <= max`.
    pub fn new(min: u32, max: u32) -> Option<Self> {
        (min >= 1 && min <= max).then_some(Self { min, max })
    }

    /// `minReplicas` (at least 1).
    pub fn min(self) -> u32 {
        self.min
    }

    /// `maxReplicas` (at least `min`).
    pub fn max(self) -> u32 {
        self.max
    }

    /// `replicas` brought into `min ..= max`.
    pub fn clamp(self, replicas: u32) -> u32 {
        replicas.clamp(self.min, self.max)
    }
}

/// A band `[lower, upper]` around 1.0 of `current / desired` metric ratios inside which an
/// autoscaler leaves the replica count alone.
///
/// Kubernetes' tolerance `t` (10 % by default, `Tolerances.isWithin` in
/// `replica_calculator.go`) is the band `[1 - t_down, 1 + t_up]`; both ends are inclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToleranceBand {
    lower: f64,
    upper: f64,
}

impl ToleranceBand {
    /// `[0.9, 1.1]`: the paper's band, and Kubernetes' default 10 % tolerance.
    pub const DEFAULT: ToleranceBand = ToleranceBand {
        lower: 0.9,
        upper: 1.1,
    };

    /// The band, or `None` unless `0 <= lower <= 1 <= upper` and both are finite.
    pub fn new(lower: f64, upper: f64) -> Option<Self> {
        (lower.is_finite() && upper.is_finite() && (0.0..=1.0).contains(&lower) && upper >= 1.0)
            .then_some(Self { lower, upper })
    }

    /// Kubernetes' `Tolerances{scaleDown, scaleUp}`: `[1 - scale_down, 1 + scale_up]`
    /// (computed with the same floating-point operations as `isWithin`), or `None` unless
    /// `0 <= scale_down <= 1` and `scale_up >= 0`.
    pub fn from_tolerances(scale_down: f64, scale_up: f64) -> Option<Self> {
        if !(0.0..=1.0).contains(&scale_down) || !(0.0..).contains(&scale_up) {
            return None;
        }
        Self::new(1.0 - scale_down, 1.0 + scale_up)
    }

    /// The lowest ratio that causes no scale-down.
    pub fn lower(self) -> f64 {
        self.lower
    }

    /// The highest ratio that causes no scale-up.
    pub fn upper(self) -> f64 {
        self.upper
    }

    /// Whether `lower <= ratio <= upper` (no change). NaN is never inside.
    pub fn contains(self, ratio: f64) -> bool {
        self.lower <= ratio && ratio <= self.upper
    }
}

impl Default for ToleranceBand {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_need_one_le_min_le_max() {
        assert_eq!(
            ReplicaBounds::new(0, 5),
            None,
            "scale to zero is not supported"
        );
        assert_eq!(ReplicaBounds::new(6, 5), None);
        let b = ReplicaBounds::new(2, 5).unwrap();
        assert_eq!((b.min(), b.max()), (2, 5));
        assert_eq!((b.clamp(1), b.clamp(3), b.clamp(9)), (2, 3, 5));
    }

    #[test]
    fn tolerance_band_is_inclusive_and_rejects_nonsense() {
        let band = ToleranceBand::DEFAULT;
        assert!(band.contains(0.9) && band.contains(1.1) && band.contains(1.05));
        assert!(!band.contains(0.89) && !band.contains(1.11) && !band.contains(f64::NAN));
        assert_eq!(ToleranceBand::new(1.1, 0.9), None);
        assert_eq!(ToleranceBand::new(-0.1, 1.1), None);
        assert_eq!(ToleranceBand::new(0.9, f64::INFINITY), None);
        // Kubernetes' default 0.1 both ways is exactly the paper's band.
        assert_eq!(
            ToleranceBand::from_tolerances(0.1, 0.1),
            Some(ToleranceBand::DEFAULT)
        );
        // "scale-down and scale-up tolerances of 5% and 1%": scale below 95 % or above 101 %.
        let asym = ToleranceBand::from_tolerances(0.05, 0.01).unwrap();
        assert!(asym.contains(0.95) && !asym.contains(0.949) && !asym.contains(1.0101));
        assert_eq!(ToleranceBand::from_tolerances(1.5, 0.1), None);
        assert_eq!(ToleranceBand::from_tolerances(0.1, f64::NAN), None);
    }
}
