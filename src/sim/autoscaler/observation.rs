//! What the engine shows the Kubernetes rule at a sync: the target's pods as the HPA
//! controller's pod lister sees them, and one metric sample per configured metric.

use crate::sim::time::SimTime;

/// A pod's phase, as far as the HPA controller cares (`v1.PodPhase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Created but not running yet (unscheduled, or scheduled and starting its container).
    Pending,
    /// Its container runs (it may or may not be ready).
    Running,
    /// Crashed or killed for good; ignored by the HPA.
    Failed,
}

/// The pod's `Ready` condition: its status and when it last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyCondition {
    /// `status: "True"`.
    pub ready: bool,
    /// `lastTransitionTime`: when `ready` last changed (for a pod that was never ready,
    /// when the condition was first set, i.e. its start).
    pub last_transition: SimTime,
}

/// One pod selected by the scale target's selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodSample {
    /// `status.phase`.
    pub phase: PodPhase,
    /// `metadata.deletionTimestamp` is set: the pod is terminating (ignored by the HPA).
    pub terminating: bool,
    /// The `Ready` condition; `None` while the pod has none (e.g. still pending).
    pub ready: Option<ReadyCondition>,
    /// `status.startTime`: when the kubelet accepted the pod; `None` before that.
    pub start_time: Option<SimTime>,
    /// The pod's CPU request in millicores (the sum over its containers); `None` when a
    /// container has no CPU request, which fails CPU-utilization metrics as in Kubernetes.
    pub cpu_request_millis: Option<u64>,
}

impl PodSample {
    /// `phase == Running` and `Ready` is true: what `getReadyPodsCount` counts.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running && self.ready.is_some_and(|c| c.ready)
    }

    /// Counted in the scale target's `status.replicas`: neither terminating nor failed.
    pub fn is_active(&self) -> bool {
        !self.terminating && self.phase != PodPhase::Failed
    }
}

/// One pod's metric sample, as metrics-server or a custom-metrics adapter returns it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodMetric {
    /// The value. For CPU ([`super::HpaMetric::CpuUtilization`] and
    /// [`super::HpaMetric::CpuAverageValue`]): the pod's mean CPU use over `window`, in
    /// millicores — for example mean busy workers × CPU request ÷ worker count, so that a
    /// pod whose workers are all busy runs at 100 % of its request. For Pods metrics: the
    /// value in the [`super::TwinMetric`]'s unit.
    pub value: f64,
    /// The end of the sampled window (usually the sync time).
    pub timestamp: SimTime,
    /// The length of the sampled window (metrics-server's `window`).
    pub window: SimTime,
}

/// The engine's measurement of one configured metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricSample<'a> {
    /// For CPU and Pods metrics: one entry per pod, in the order of
    /// [`HpaObservation::pods`]; `None` where the pod has no sample (a *missing* metric).
    PerPod(&'a [Option<PodMetric>]),
    /// For Object metrics: the described object's value in the metric's unit; `None` when
    /// it has none this period (the metric then fails, as a failed custom-metrics query).
    Object(Option<f64>),
}

/// Everything the Kubernetes rule reads at one sync.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HpaObservation<'a> {
    /// The time of the sync.
    pub now: SimTime,
    /// The target's `spec.replicas`: the count it currently asks for.
    pub spec_replicas: u32,
    /// The pods matching the target's selector, in any phase, in a fixed order.
    pub pods: &'a [PodSample],
    /// One sample per entry of [`super::HpaRule::metrics`], in the same order.
    pub metrics: &'a [MetricSample<'a>],
    /// The name and CPU request (millicores; `None`: none) of each running container of
    /// the target's pod template, which all its pods share: `ContainerResource` metrics
    /// read the named container's.
    pub containers: &'a [(String, Option<u64>)],
}

impl HpaObservation<'_> {
    /// The target's `status.replicas`: its pods that are neither terminating nor failed.
    pub fn status_replicas(&self) -> u32 {
        let active = self.pods.iter().filter(|p| p.is_active()).count();
        u32::try_from(active).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Pod fixtures shared by the autoscaler's tests.
    use super::*;

    /// A pod that has been running and ready since t = 0, requesting `cpu_request` millicores.
    pub fn ready_pod(cpu_request: u64) -> PodSample {
        PodSample {
            phase: PodPhase::Running,
            terminating: false,
            ready: Some(ReadyCondition {
                ready: true,
                last_transition: SimTime::ZERO,
            }),
            start_time: Some(SimTime::ZERO),
            cpu_request_millis: Some(cpu_request),
        }
    }

    /// A pod running since t = 0 that has never become ready.
    pub fn unready_pod(cpu_request: u64) -> PodSample {
        PodSample {
            ready: Some(ReadyCondition {
                ready: false,
                last_transition: SimTime::ZERO,
            }),
            ..ready_pod(cpu_request)
        }
    }

    /// A pending pod (no start time, no condition).
    pub fn pending_pod(cpu_request: u64) -> PodSample {
        PodSample {
            phase: PodPhase::Pending,
            ready: None,
            start_time: None,
            ..ready_pod(cpu_request)
        }
    }

    /// A sample of `value` over the minute before `now`.
    pub fn sample(value: f64, now: SimTime) -> Option<PodMetric> {
        Some(PodMetric {
            value,
            timestamp: now,
            window: SimTime::from_secs(60.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn readiness_and_activity_follow_phase_condition_and_deletion() {
        assert!(ready_pod(100).is_running_and_ready());
        assert!(!unready_pod(100).is_running_and_ready());
        assert!(!pending_pod(100).is_running_and_ready());
        let failed = PodSample {
            phase: PodPhase::Failed,
            ..ready_pod(100)
        };
        let leaving = PodSample {
            terminating: true,
            ..ready_pod(100)
        };
        assert!(
            leaving.is_running_and_ready(),
            "getReadyPodsCount ignores deletion"
        );
        let pods = [
            ready_pod(1),
            unready_pod(1),
            pending_pod(1),
            failed,
            leaving,
        ];
        let obs = HpaObservation {
            now: SimTime::ZERO,
            spec_replicas: 4,
            pods: &pods,
            metrics: &[],
            containers: &[],
        };
        assert_eq!(obs.status_replicas(), 3);
    }
}
