//! `spec.behavior`: per direction, a stabilization window and rate policies, with the
//! defaults of `pkg/apis/autoscaling/v2/defaults.go`. The algorithms that apply them live in
//! [`super::history`].

/// How a policy measures the permitted change (`HPAScalingPolicy.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalingPolicyKind {
    /// `Pods`: an absolute number of pods.
    Pods,
    /// `Percent`: a percentage of the replicas at the start of the period.
    Percent,
}

/// One `HPAScalingPolicy`: at most `value` pods (or percent) per `period_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// `type`.
    pub kind: ScalingPolicyKind,
    /// `value` (`> 0`): pods, or percent.
    pub value: u32,
    /// `periodSeconds` (`1 ..= 1800`), in seconds.
    pub period_seconds: u32,
}

/// `selectPolicy`: which policy wins when several apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// `HPAScalingRules` for one direction, with Kubernetes' defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalingRules {
    /// `stabilizationWindowSeconds` (`0 ..= 3600`), in seconds.
    pub stabilization_window_seconds: u32,
    /// `selectPolicy`.
    pub select_policy: SelectPolicy,
    /// `policies` (at least one).
    pub policies: Vec<ScalingPolicy>,
}

impl ScalingRules {
    /// The defaults for scale-up: no stabilization, the larger of 4 pods or 100 % per 15 s.
    pub fn default_scale_up() -> Self {
        Self {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    kind: ScalingPolicyKind::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                ScalingPolicy {
                    kind: ScalingPolicyKind::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
        }
    }

    /// The defaults for scale-down: 100 % per 15 s, with the given stabilization window
    /// (the controller's `--horizontal-pod-autoscaler-downscale-stabilization`, 300 s).
    pub fn default_scale_down(stabilization_window_seconds: u32) -> Self {
        Self {
            stabilization_window_seconds,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                kind: ScalingPolicyKind::Percent,
                value: 100,
                period_seconds: 15,
            }],
        }
    }

    /// The longest `periodSeconds` (`getLongestPolicyPeriod`), 0 without policies.
    pub(crate) fn longest_period(&self) -> u32 {
        self.policies
            .iter()
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0)
    }
}

/// `spec.behavior` with both directions filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Behavior {
    /// `scaleUp`.
    pub scale_up: ScalingRules,
    /// `scaleDown`.
    pub scale_down: ScalingRules,
}

impl Default for Behavior {
    /// Kubernetes' defaults with a 300 s scale-down stabilization window.
    fn default() -> Self {
        Self {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kubernetes_defaults() {
        // defaults.go: scale-up 4 pods or 100 % per 15 s, Max, no window; scale-down 100 %
        // per 15 s, Max, the controller's window.
        let b = Behavior::default();
        assert_eq!(b.scale_up.stabilization_window_seconds, 0);
        assert_eq!(b.scale_up.select_policy, SelectPolicy::Max);
        assert_eq!(
            b.scale_up.policies,
            [
                ScalingPolicy {
                    kind: ScalingPolicyKind::Pods,
                    value: 4,
                    period_seconds: 15
                },
                ScalingPolicy {
                    kind: ScalingPolicyKind::Percent,
                    value: 100,
                    period_seconds: 15
                },
            ]
        );
        assert_eq!(b.scale_down, ScalingRules::default_scale_down(300));
        assert_eq!(b.scale_down.policies[0].value, 100);
    }

    #[test]
    fn longest_period_spans_all_policies() {
        let mut rules = ScalingRules::default_scale_down(0);
        assert_eq!(rules.longest_period(), 15);
        rules.policies.push(ScalingPolicy {
            kind: ScalingPolicyKind::Pods,
            value: 1,
            period_seconds: 600,
        });
        assert_eq!(rules.longest_period(), 600);
        rules.policies.clear();
        assert_eq!(rules.longest_period(), 0);
    }
}
