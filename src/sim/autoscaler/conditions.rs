//! The HPA's `status.conditions`, as `horizontal.go` sets them during a sync
//! (`setCondition`), so that a run shows why each HPA did or did not scale.
//!
//! | type | set when | reasons |
//! |---|---|---|
//! | `AbleToScale` | every sync | `SucceededGetScale` (the twin always reads the target's scale), then from normalization `ReadyForNewScale`, `ScaleUpStabilized` or `ScaleDownStabilized`, and `SucceededRescale` after a change |
//! | `ScalingActive` | when the count is within the bounds | `ValidMetricFound`, or `False` with the first failed metric's reason (`FailedGetResourceMetric`, `FailedGetContainerResourceMetric`, `FailedGetPodsMetric`, `FailedGetObjectMetric`); `False`/`ScalingDisabled` when the target has 0 replicas |
//! | `ScalingLimited` | after the metrics gave a count | `False`/`DesiredWithinRange`, or `True` with `TooManyReplicas`, `TooFewReplicas`, `ScaleUpLimit`, `ScaleDownLimit` |
//!
//! A type keeps its last value across syncs that do not set it, and its transition time
//! changes only with its status, as in Kubernetes.

use crate::sim::time::SimTime;

/// `HorizontalPodAutoscalerConditionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConditionType {
    /// Whether the HPA can fetch and update the target's scale, and whether a backoff or
    /// stabilization holds it.
    AbleToScale,
    /// Whether the HPA could compute a replica count from its metrics.
    ScalingActive,
    /// Whether the count it wanted was clipped by the bounds or the rate limits.
    ScalingLimited,
}

impl ConditionType {
    /// The name Kubernetes uses (`type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AbleToScale => "AbleToScale",
            Self::ScalingActive => "ScalingActive",
            Self::ScalingLimited => "ScalingLimited",
        }
    }
}

/// One condition as a sync sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// Its type.
    pub kind: ConditionType,
    /// `status: "True"`.
    pub status: bool,
    /// `reason`, one of Kubernetes' (e.g. `FailedGetResourceMetric`).
    pub reason: &'static str,
    /// `message`, worded as Kubernetes words it.
    pub message: String,
}

impl Condition {
    pub(crate) fn new(
        kind: ConditionType,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// A condition held in the status, with its `lastTransitionTime`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldCondition {
    /// The condition.
    pub condition: Condition,
    /// When its status last changed (or it was first set).
    pub last_transition: SimTime,
}

/// An HPA's `status.conditions` across syncs, in the order the types were first set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HpaConditions {
    held: Vec<HeldCondition>,
}

impl HpaConditions {
    /// `setCondition` for each of a sync's conditions, in order, at `now`.
    pub fn apply(&mut self, set: &[Condition], now: SimTime) {
        for c in set {
            match self.held.iter_mut().find(|h| h.condition.kind == c.kind) {
                Some(held) => {
                    if held.condition.status != c.status {
                        held.last_transition = now;
                    }
                    held.condition = c.clone();
                }
                None => self.held.push(HeldCondition {
                    condition: c.clone(),
                    last_transition: now,
                }),
            }
        }
    }

    /// The condition of type `kind`, if one was ever set.
    pub fn get(&self, kind: ConditionType) -> Option<&HeldCondition> {
        self.held.iter().find(|h| h.condition.kind == kind)
    }

    /// Every condition held, in the order first set.
    pub fn held(&self) -> &[HeldCondition] {
        &self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_keeps_its_transition_time_until_its_status_changes() {
        let mut held = HpaConditions::default();
        let active =
            |status, reason| Condition::new(ConditionType::ScalingActive, status, reason, reason);
        let able = Condition::new(ConditionType::AbleToScale, true, "SucceededGetScale", "");
        held.apply(
            &[able.clone(), active(false, "FailedGetResourceMetric")],
            SimTime(1),
        );
        held.apply(&[able, active(false, "FailedGetPodsMetric")], SimTime(2));
        let a = held.get(ConditionType::ScalingActive).unwrap();
        assert_eq!(
            (a.condition.reason, a.last_transition),
            ("FailedGetPodsMetric", SimTime(1))
        );
        held.apply(&[active(true, "ValidMetricFound")], SimTime(3));
        let a = held.get(ConditionType::ScalingActive).unwrap();
        assert_eq!((a.condition.status, a.last_transition), (true, SimTime(3)));
        let order: Vec<_> = held.held().iter().map(|h| h.condition.kind).collect();
        assert_eq!(
            order,
            [ConditionType::AbleToScale, ConditionType::ScalingActive]
        );
        assert_eq!(held.get(ConditionType::ScalingLimited), None);
    }
}
