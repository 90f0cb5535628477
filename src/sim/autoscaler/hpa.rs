//! The `autoscaling/v2` HorizontalPodAutoscaler rule: one sync of kube-controller-manager's
//! `reconcileAutoscaler` (`horizontal.go`) for one HPA.

use super::behavior::Behavior;
use super::conditions::{Condition, ConditionType};
use super::history::{HpaHistory, legacy_limit};
use super::observation::{HpaObservation, MetricSample};
use super::replica_calc::{self, CpuReadiness, CpuRequests, MetricError, MetricProposal};
use super::{ReplicaBounds, ToleranceBand};
use crate::sim::time::SimTime;

/// The quantities the twin can measure for Pods and Object metrics (`metric.name`).
///
/// For a Pods metric the engine supplies one value per pod; for an Object metric one value
/// for the described Service or Deployment (over all its pods).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TwinMetric {
    /// `requests_per_second`: requests arriving per second over the last sync period (per
    /// pod, or in total for an object).
    RequestsPerSecond,
    /// `processing_time_ms`: mean processing time, in milliseconds, of the requests
    /// completed during the last sync period (a pod with no completion has no sample).
    ProcessingTimeMs,
    /// `queue_length`: mean number of requests waiting in the queue over the last sync
    /// period (per pod, or in total for an object).
    QueueLength,
}

impl TwinMetric {
    /// Every metric, in documentation order.
    pub const ALL: [TwinMetric; 3] = [
        Self::RequestsPerSecond,
        Self::ProcessingTimeMs,
        Self::QueueLength,
    ];

    /// The name used in `metric.name`.
    pub fn name(self) -> &'static str {
        match self {
            Self::RequestsPerSecond => "requests_per_second",
            Self::ProcessingTimeMs => "processing_time_ms",
            Self::QueueLength => "queue_length",
        }
    }

    /// The metric called `name`, if the twin measures it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The kinds of object an Object metric may describe in the twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// A `v1` Service: the metric covers the requests sent to it.
    Service,
    /// An `apps/v1` Deployment: the metric covers all its pods.
    Deployment,
}

/// `describedObject` of an Object metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its name (in the HPA's namespace).
    pub name: String,
}

/// The target of an Object metric, in milli-units of the metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectTarget {
    /// `Value`: the object's value should equal this.
    Value(u64),
    /// `AverageValue`: the object's value divided by the replica count should equal this.
    AverageValue(u64),
}

/// One validated entry of `spec.metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HpaMetric {
    /// `Resource` cpu (or `ContainerResource` cpu) with a `Utilization` target: mean use
    /// in percent of the requests.
    CpuUtilization {
        /// `averageUtilization`, in percent (`> 0`).
        target_percent: u32,
        /// `containerResource.container` of a `ContainerResource` metric; `None` for a
        /// `Resource` one. A container's utilization is the pod's use (the twin does not
        /// split it between containers) over that container's request.
        container: Option<String>,
    },
    /// `Resource` cpu (or `ContainerResource` cpu) with an `AverageValue` target.
    CpuAverageValue {
        /// `averageValue`, in millicores (`> 0`).
        target_millicores: u64,
        /// As in [`HpaMetric::CpuUtilization`].
        container: Option<String>,
    },
    /// A `Pods` metric with an `AverageValue` target.
    Pods {
        /// What is measured on each pod.
        metric: TwinMetric,
        /// `averageValue`, in milli-units of the metric (`> 0`).
        target_milli: u64,
    },
    /// An `Object` metric.
    Object {
        /// `describedObject`.
        object: ObjectRef,
        /// What is measured on it.
        metric: TwinMetric,
        /// `target`.
        target: ObjectTarget,
    },
}

impl HpaMetric {
    /// Whether the engine must supply [`MetricSample::PerPod`] (else [`MetricSample::Object`]).
    pub fn is_per_pod(&self) -> bool {
        !matches!(self, Self::Object { .. })
    }

    /// How `ValidMetricFound` names the metric (`metricNameProposal` in `horizontal.go`,
    /// including its `external metric` wording for an Object `AverageValue` target, and
    /// the `(nil)` of the label selector the twin does not read).
    pub fn status_name(&self) -> String {
        match self {
            Self::CpuUtilization {
                container: None, ..
            } => "cpu resource utilization (percentage of request)".into(),
            Self::CpuUtilization {
                container: Some(_), ..
            } => "cpu container resource utilization (percentage of request)".into(),
            Self::CpuAverageValue { .. } => "cpu resource".into(),
            Self::Pods { metric, .. } => format!("pods metric {}", metric.name()),
            Self::Object {
                object,
                metric,
                target: ObjectTarget::Value(_),
            } => {
                let kind = match object.kind {
                    ObjectKind::Service => "Service",
                    ObjectKind::Deployment => "Deployment",
                };
                format!("{kind} metric {}", metric.name())
            }
            Self::Object {
                metric,
                target: ObjectTarget::AverageValue(_),
                ..
            } => format!("external metric {}(nil)", metric.name()),
        }
    }

    /// The `ScalingActive` condition when this metric fails with `error`, worded as
    /// `computeStatusForResourceMetricGeneric` words it ("failed to get cpu utilization",
    /// or "cpu usage" for an `AverageValue` target). A `ContainerResource` metric fails
    /// with its own reason, and its missing request is the named container's, as
    /// `calculatePodRequests` words it.
    fn failed_condition(&self, error: &MetricError) -> Condition {
        let (reason, detail) = match self {
            Self::CpuUtilization { container, .. } | Self::CpuAverageValue { container, .. } => {
                let reason = match container {
                    None => "FailedGetResourceMetric",
                    Some(_) => "FailedGetContainerResourceMetric",
                };
                let error = match (container, error) {
                    (Some(c), MetricError::MissingRequest { pod }) => {
                        format!(
                            "missing request for cpu in container {c} of pod #{pod} of the target"
                        )
                    }
                    _ => error.to_string(),
                };
                let what = match self {
                    Self::CpuAverageValue { .. } => "usage",
                    _ => "utilization",
                };
                (reason, format!("failed to get cpu {what}: {error}"))
            }
            Self::Pods { .. } => ("FailedGetPodsMetric", error.to_string()),
            Self::Object { .. } => ("FailedGetObjectMetric", error.to_string()),
        };
        let message = format!("the HPA was unable to compute the replica count: {detail}");
        Condition::new(ConditionType::ScalingActive, false, reason, message)
    }
}

/// The CPU request of the containers named `name` among `containers`, as
/// `calculatePodRequests` sums it: `None` when one of them has none.
fn container_request(containers: &[(String, Option<u64>)], name: &str) -> Option<u64> {
    (containers.iter())
        .filter(|(n, _)| n == name)
        .try_fold(0, |sum, (_, request)| Some(sum + (*request)?))
}

/// kube-controller-manager flags that shape HPA decisions, at their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerSettings {
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (300 s), in seconds: the
    /// scale-down window of HPAs without `spec.behavior` (read at every sync), and of those
    /// whose `scaleDown` sets no window (copied into [`HpaRule::behavior`] at translation).
    pub downscale_stabilization_seconds: u32,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
    pub cpu_initialization_period: SimTime,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay: SimTime,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        Self {
            downscale_stabilization_seconds: 300,
            cpu_initialization_period: SimTime(300_000_000_000),
            initial_readiness_delay: SimTime(30_000_000_000),
        }
    }
}

/// A validated `autoscaling/v2` HPA (without its bounds, kept in [`super::Autoscaler`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HpaRule {
    /// `spec.metrics` (never empty: Kubernetes defaults to 80 % cpu utilization).
    pub metrics: Vec<HpaMetric>,
    /// `spec.behavior`, defaults filled in; `None` when the HPA has none, in which case the
    /// controller's older normalization applies (see [`HpaRule::reconcile`]).
    pub behavior: Option<Behavior>,
    /// Tolerance on metric ratios: the cluster-wide 10 % (`[0.9, 1.1]`) unless
    /// `behavior.scaleDown/scaleUp.tolerance` or the `kubetwin.io/tolerance` annotation say
    /// otherwise.
    pub tolerance: ToleranceBand,
    /// Controller-wide flags.
    pub controller: ControllerSettings,
}

/// Which limit shaped the final count (the `ScalingLimited` condition's reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalingLimit {
    /// `DesiredWithinRange`: nothing limited it.
    DesiredWithinRange,
    /// `ScaleUpLimit`: the scale-up rate (policies, or `max(2 × current, 4)` without behavior).
    ScaleUpLimit,
    /// `TooManyReplicas`: `maxReplicas`.
    TooManyReplicas,
    /// `ScaleDownLimit`: the scale-down policies.
    ScaleDownLimit,
    /// `TooFewReplicas`: `minReplicas`.
    TooFewReplicas,
}

impl ScalingLimit {
    /// The `ScalingLimited` condition this limit sets: `True` unless nothing limited.
    fn condition(self) -> Condition {
        let (reason, message) = match self {
            Self::DesiredWithinRange => (
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
            ),
            Self::ScaleUpLimit => (
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            ),
            Self::TooManyReplicas => (
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            ),
            Self::ScaleDownLimit => (
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            ),
            Self::TooFewReplicas => (
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            ),
        };
        let limited = self != Self::DesiredWithinRange;
        Condition::new(ConditionType::ScalingLimited, limited, reason, message)
    }
}

/// Why the HPA chose its count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionReason {
    /// `spec.replicas` is 0: autoscaling is disabled for the target (`ScalingDisabled`).
    ScalingDisabled,
    /// `spec.replicas` was above `maxReplicas`.
    AboveMaxReplicas,
    /// `spec.replicas` was below `minReplicas`.
    BelowMinReplicas,
    /// Every metric failed, or some failed while the others asked for fewer replicas: no
    /// change (`FailedComputeMetricsReplicas`).
    InvalidMetrics,
    /// Decided from the metrics.
    Metrics {
        /// The largest metric proposal.
        proposal: u32,
        /// After the stabilization window(s).
        stabilized: u32,
        /// What limited the final count.
        limit: ScalingLimit,
    },
}

/// The outcome of one sync.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaDecision {
    /// The target's replicas after this sync (its `spec.replicas` when not rescaling).
    pub desired_replicas: u32,
    /// Whether `desired_replicas` differs from the target's `spec.replicas`.
    pub rescale: bool,
    /// Why.
    pub reason: DecisionReason,
    /// One outcome per [`HpaRule::metrics`] entry (empty when metrics were not evaluated).
    pub metrics: Vec<Result<MetricProposal, MetricError>>,
    /// The conditions this sync set, in the order `horizontal.go` sets them (apply them
    /// to the HPA's [`super::HpaConditions`]).
    pub conditions: Vec<Condition>,
}

impl HpaRule {
    /// One sync, as `reconcileAutoscaler` does it: the current count is `spec_replicas`;
    /// out-of-bounds counts are brought into the bounds directly; otherwise each metric
    /// proposes a count (`computeReplicasForMetrics`), the largest wins, and it is
    /// normalized — with `spec.behavior`, by the stabilization windows and rate policies
    /// (`normalizeDesiredReplicasWithBehaviors`); without, by the controller's downscale
    /// window and a scale-up cap of `max(2 × current, 4)` (`normalizeDesiredReplicas`).
    ///
    /// Updates `history` (recommendations always, scale events only with a behavior), so
    /// the engine must call this exactly once per sync and apply `desired_replicas`.
    pub fn reconcile(
        &self,
        bounds: ReplicaBounds,
        obs: &HpaObservation<'_>,
        history: &mut HpaHistory,
    ) -> HpaDecision {
        let current = obs.spec_replicas;
        history.record_initial(current, obs.now);
        let mut conditions = vec![Condition::new(
            ConditionType::AbleToScale,
            true,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )];
        let (desired, reason, metrics) = if current == 0 {
            conditions.push(Condition::new(
                ConditionType::ScalingActive,
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            ));
            (0, DecisionReason::ScalingDisabled, Vec::new())
        } else if current > bounds.max() {
            (bounds.max(), DecisionReason::AboveMaxReplicas, Vec::new())
        } else if current < bounds.min() {
            (bounds.min(), DecisionReason::BelowMinReplicas, Vec::new())
        } else {
            let metrics = self.metric_proposals(obs);
            // The first metric with the largest proposal wins (`computeReplicasForMetrics`).
            let winner = metrics
                .iter()
                .enumerate()
                .filter_map(|(i, m)| m.as_ref().ok().map(|p| (i, p.replicas)))
                .fold(None, |best: Option<(usize, u32)>, (i, r)| match best {
                    Some((_, b)) if b >= r => best,
                    _ => Some((i, r)),
                });
            let first_error = metrics
                .iter()
                .zip(&self.metrics)
                .find_map(|(m, spec)| m.as_ref().err().map(|e| spec.failed_condition(e)));
            match (winner, first_error) {
                (Some((i, p)), error) if !(error.is_some() && p < current) => {
                    conditions.push(Condition::new(
                        ConditionType::ScalingActive,
                        true,
                        "ValidMetricFound",
                        format!(
                            "the HPA was able to successfully calculate a replica count from {}",
                            self.metrics[i].status_name()
                        ),
                    ));
                    let (desired, stabilized, limit) =
                        self.normalize(bounds, current, p, obs.now, history);
                    conditions.push(self.stabilization_condition(current, p, stabilized));
                    conditions.push(limit.condition());
                    (
                        desired,
                        DecisionReason::Metrics {
                            proposal: p,
                            stabilized,
                            limit,
                        },
                        metrics,
                    )
                }
                (_, error) => {
                    conditions.extend(error);
                    (current, DecisionReason::InvalidMetrics, metrics)
                }
            }
        };
        let rescale = desired != current;
        if rescale {
            conditions.push(Condition::new(
                ConditionType::AbleToScale,
                true,
                "SucceededRescale",
                format!("the HPA controller was able to update the target scale to {desired}"),
            ));
            if let Some(behavior) = &self.behavior {
                history.record_scale(behavior, current, desired, obs.now);
            }
        }
        HpaDecision {
            desired_replicas: desired,
            rescale,
            reason,
            metrics,
            conditions,
        }
    }

    /// `AbleToScale` after stabilization: whether the windows moved the proposal, and which
    /// way (`stabilizeRecommendationWithBehaviors`; without a behavior only the scale-down
    /// window exists).
    fn stabilization_condition(&self, current: u32, proposal: u32, stabilized: u32) -> Condition {
        let (reason, message) = if stabilized == proposal {
            ("ReadyForNewScale", "recommended size matches current size")
        } else if self.behavior.is_some() && proposal >= current {
            (
                "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation",
            )
        } else {
            (
                "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest recent recommendation",
            )
        };
        Condition::new(ConditionType::AbleToScale, true, reason, message)
    }

    /// `computeReplicasForMetric` for every metric.
    fn metric_proposals(
        &self,
        obs: &HpaObservation<'_>,
    ) -> Vec<Result<MetricProposal, MetricError>> {
        let clock = CpuReadiness {
            now: obs.now,
            initialization_period: self.controller.cpu_initialization_period,
            initial_readiness_delay: self.controller.initial_readiness_delay,
        };
        let (current, tol, pods) = (obs.spec_replicas, self.tolerance, obs.pods);
        self.metrics
            .iter()
            .enumerate()
            .map(|(i, metric)| match (metric, obs.metrics.get(i)) {
                (
                    HpaMetric::CpuUtilization {
                        container: Some(name),
                        ..
                    }
                    | HpaMetric::CpuAverageValue {
                        container: Some(name),
                        ..
                    },
                    _,
                ) if !obs.containers.iter().any(|(n, _)| n == name) => {
                    Err(MetricError::ContainerNotPresent {
                        container: name.clone(),
                    })
                }
                (
                    HpaMetric::CpuUtilization {
                        target_percent,
                        container,
                    },
                    Some(MetricSample::PerPod(s)),
                ) => {
                    let of = match container {
                        None => CpuRequests::Pod,
                        Some(name) => {
                            CpuRequests::Container(container_request(obs.containers, name))
                        }
                    };
                    replica_calc::cpu_utilization(current, *target_percent, tol, pods, s, clock, of)
                }
                (
                    HpaMetric::CpuAverageValue {
                        target_millicores, ..
                    },
                    Some(MetricSample::PerPod(s)),
                ) => replica_calc::average_value(
                    current,
                    milli(*target_millicores),
                    tol,
                    pods,
                    s,
                    Some(clock),
                    1.0,
                ),
                (HpaMetric::Pods { target_milli, .. }, Some(MetricSample::PerPod(s))) => {
                    replica_calc::average_value(
                        current,
                        milli(*target_milli),
                        tol,
                        pods,
                        s,
                        None,
                        1000.0,
                    )
                }
                (
                    HpaMetric::Object {
                        target: ObjectTarget::Value(t),
                        ..
                    },
                    Some(MetricSample::Object(v)),
                ) => replica_calc::object_value(current, *v, milli(*t), tol, pods),
                (
                    HpaMetric::Object {
                        target: ObjectTarget::AverageValue(t),
                        ..
                    },
                    Some(MetricSample::Object(v)),
                ) => replica_calc::object_average_value(obs.status_replicas(), *v, milli(*t), tol),
                (m, _) => Err(MetricError::NotObserved {
                    expected: if m.is_per_pod() { "per-pod" } else { "object" },
                }),
            })
            .collect()
    }

    /// Stabilization then limits: `(desired, stabilized, limit)`.
    fn normalize(
        &self,
        bounds: ReplicaBounds,
        current: u32,
        proposal: u32,
        now: SimTime,
        history: &mut HpaHistory,
    ) -> (u32, u32, ScalingLimit) {
        match &self.behavior {
            Some(behavior) => {
                let stabilized = history.stabilize(behavior, current, proposal, now);
                let (desired, limit) =
                    history.rate_limit(behavior, bounds, current, stabilized, now);
                (desired, stabilized, limit)
            }
            None => {
                let window = self.controller.downscale_stabilization_seconds;
                let stabilized = history.stabilize_legacy(window, proposal, now);
                let (desired, limit) = legacy_limit(bounds, current, stabilized);
                (desired, stabilized, limit)
            }
        }
    }
}

fn milli(target: u64) -> i64 {
    i64::try_from(target).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "hpa_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hpa_conditions_tests.rs"]
mod conditions_tests;
