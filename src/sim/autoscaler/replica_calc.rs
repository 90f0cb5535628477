//! One metric's replica proposal, as kube-controller-manager's `replica_calculator.go`
//! computes it (`GetResourceReplicas`, `calcPlainMetricReplicas`, `GetObjectMetricReplicas`,
//! `GetObjectPerPodMetricReplicas`, `groupPods`, and `metrics/utilization.go`).
//!
//! Values are handled as Kubernetes handles them: as integer milli-units (`MilliValue()`),
//! with utilization truncated to a whole percent, so that proposals match the live HPA's.

use thiserror::Error;

use super::ToleranceBand;
use super::observation::{PodMetric, PodPhase, PodSample};
use crate::sim::time::SimTime;

/// Why one metric gives no proposal this period (the HPA's `FailedGet*Metric` condition).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MetricError {
    /// The target selects no pod.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// No ready pod has a sample.
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetrics,
    /// A pod has no CPU request, so CPU utilization is undefined.
    #[error("missing request for cpu on pod #{pod} of the target")]
    MissingRequest {
        /// Its index in [`super::HpaObservation::pods`].
        pod: usize,
    },
    /// A `ContainerResource` metric names a container the target's pods do not run.
    #[error("container {container} not present in metrics for the target's pods")]
    ContainerNotPresent {
        /// The metric's `container`.
        container: String,
    },
    /// The pods' CPU requests add up to zero.
    #[error("the cpu requests of the measured pods sum to zero")]
    ZeroRequests,
    /// The Object metric has no value this period.
    #[error("the object's metric has no value")]
    ObjectValueUnavailable,
    /// The engine supplied no sample, or the wrong kind, for this metric (an engine bug).
    #[error("no {expected} sample was supplied for this metric")]
    NotObserved {
        /// `"per-pod"` or `"object"`.
        expected: &'static str,
    },
    /// The per-pod samples do not line up with the pods (an engine bug).
    #[error("{samples} per-pod samples for {pods} pods")]
    Misaligned {
        /// Number of samples supplied.
        samples: usize,
        /// Number of pods.
        pods: usize,
    },
}

/// One metric's proposal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricProposal {
    /// The replica count this metric asks for (before bounds and behavior).
    pub replicas: u32,
    /// The current value as the HPA status reports it: average utilization in percent for
    /// a CPU utilization target; otherwise the average per pod (or the object's value) in
    /// the metric's unit (millicores for CPU).
    pub current: f64,
}

/// The CPU-readiness parameters of `groupPods`: the sync time and two controller flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuReadiness {
    pub now: SimTime,
    pub initialization_period: SimTime,
    pub initial_readiness_delay: SimTime,
}

/// A value in its unit times `scale`, rounded up to an integer like `Quantity.MilliValue()`.
/// Float noise below a millionth of a milli-unit is forgiven (`12.3 × 1000` is 12300, not
/// 12301); negative and NaN values become 0.
pub(crate) fn milli(value: f64, scale: f64) -> i64 {
    let x = value * scale;
    if x > 0.0 { (x - 1e-6).ceil() as i64 } else { 0 }
}

/// `int32(math.Ceil(x))`, saturating at `MaxInt32` as `getUsageRatioReplicaCount` does.
fn ceil_replicas(x: f64) -> i64 {
    x.ceil().min(f64::from(i32::MAX)) as i64
}

fn proposal(replicas: i64, current: f64) -> MetricProposal {
    MetricProposal {
        replicas: u32::try_from(replicas.max(0)).unwrap_or(u32::MAX),
        current,
    }
}

/// `groupPods` followed by `removeMetricsForPods(ignored, unready)`.
struct Groups {
    ready: usize,
    unready: Vec<usize>,
    missing: Vec<usize>,
    /// `(pod index, milli-value)` of the ready pods with a sample.
    metrics: Vec<(usize, i64)>,
}

fn group_pods(
    pods: &[PodSample],
    samples: &[Option<PodMetric>],
    cpu: Option<CpuReadiness>,
    scale: f64,
) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: Vec::new(),
        missing: Vec::new(),
        metrics: Vec::new(),
    };
    for (i, (pod, sample)) in pods.iter().zip(samples).enumerate() {
        if pod.terminating || pod.phase == PodPhase::Failed {
            continue;
        }
        if pod.phase == PodPhase::Pending {
            g.unready.push(i);
            continue;
        }
        let Some(sample) = sample else {
            g.missing.push(i);
            continue;
        };
        if cpu.is_some_and(|clock| cpu_sample_unready(pod, sample, clock)) {
            g.unready.push(i);
            continue;
        }
        g.ready += 1;
        g.metrics.push((i, milli(sample.value, scale)));
    }
    g
}

/// `groupPods`' CPU rule: during the initialization period a sample counts only once the
/// pod is ready and the sample's whole window lies after the readiness transition; after
/// it, only pods that never became ready (unready within the initial readiness delay of
/// their start) are set aside.
fn cpu_sample_unready(pod: &PodSample, sample: &PodMetric, clock: CpuReadiness) -> bool {
    let (Some(condition), Some(start)) = (pod.ready, pod.start_time) else {
        return true;
    };
    if start + clock.initialization_period > clock.now {
        !condition.ready || sample.timestamp < condition.last_transition + sample.window
    } else {
        !condition.ready && start + clock.initial_readiness_delay > condition.last_transition
    }
}

fn check_aligned(pods: &[PodSample], samples: &[Option<PodMetric>]) -> Result<(), MetricError> {
    if samples.len() != pods.len() {
        return Err(MetricError::Misaligned {
            samples: samples.len(),
            pods: pods.len(),
        });
    }
    if pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    Ok(())
}

/// `GetResourceUtilizationRatio`: `(Σ usage × 100) / Σ requests`, truncated to a whole
/// percent, over the target.
fn utilization_ratio(
    metrics: &[(usize, i64)],
    requests: &[i64],
    target: i64,
) -> Result<(f64, i64), MetricError> {
    let usage: i64 = metrics.iter().map(|&(_, v)| v).sum();
    let requested: i64 = metrics.iter().map(|&(i, _)| requests[i]).sum();
    if requested == 0 {
        return Err(MetricError::ZeroRequests);
    }
    let utilization = usage * 100 / requested;
    Ok((utilization as f64 / target as f64, utilization))
}

/// `GetMetricUsageRatio`: the integer average over the target.
fn usage_ratio(metrics: &[(usize, i64)], target: i64) -> (f64, i64) {
    let usage = metrics.iter().map(|&(_, v)| v).sum::<i64>() / metrics.len() as i64;
    (usage as f64 / target as f64, usage)
}

/// The end of both calculators once missing/unready pods were filled in: keep the current
/// count when the new ratio is within tolerance, or when filling in flipped the direction of
/// either the ratio or the resulting count.
fn rebalanced(current: i64, ratio: f64, new_ratio: f64, counted: usize, tol: ToleranceBand) -> i64 {
    if tol.contains(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return current;
    }
    let replicas = ceil_replicas(new_ratio * counted as f64);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return current;
    }
    replicas
}

/// What a CPU utilization is a percentage of (`calculatePodRequests`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CpuRequests {
    /// Each pod's request ([`PodSample::cpu_request_millis`]): a `Resource` metric.
    Pod,
    /// The named container's request, the same in every pod of the target (`None`: it
    /// has none): a `ContainerResource` metric.
    /// The twin does not split a pod's CPU between its containers: the named one is taken
    /// to use all of it.
    Container(Option<u64>),
}

/// `GetResourceReplicas` for cpu: a utilization target in percent of the pods' requests.
///
/// Unready pods (see `cpu_sample_unready`) and pending pods count as 0 % when the ready pods
/// ask for a scale-up and are ignored otherwise; pods without a sample count as using
/// `max(100, target)` % of their request on a scale-down and 0 % on a scale-up; neither may
/// reverse the direction of the change.
pub(crate) fn cpu_utilization(
    current: u32,
    target_percent: u32,
    tol: ToleranceBand,
    pods: &[PodSample],
    samples: &[Option<PodMetric>],
    clock: CpuReadiness,
    of: CpuRequests,
) -> Result<MetricProposal, MetricError> {
    check_aligned(pods, samples)?;
    let g = group_pods(pods, samples, Some(clock), 1.0);
    if g.metrics.is_empty() {
        return Err(MetricError::NoMetrics);
    }
    let requests = pods
        .iter()
        .enumerate()
        .map(|(pod, p)| {
            let request = match of {
                CpuRequests::Pod => p.cpu_request_millis,
                CpuRequests::Container(request) => request,
            };
            request
                .map(|r| r as i64)
                .ok_or(MetricError::MissingRequest { pod })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target = i64::from(target_percent);
    let (ratio, utilization) = utilization_ratio(&g.metrics, &requests, target)?;
    let current = i64::from(current);
    let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        let replicas = if tol.contains(ratio) {
            current
        } else {
            ceil_replicas(ratio * g.ready as f64)
        };
        return Ok(proposal(replicas, utilization as f64));
    }
    let mut metrics = g.metrics;
    if ratio < 1.0 {
        let fallback = target.max(100);
        metrics.extend(g.missing.iter().map(|&i| (i, requests[i] * fallback / 100)));
    } else if ratio > 1.0 {
        metrics.extend(g.missing.iter().map(|&i| (i, 0)));
    }
    if scale_up_with_unready {
        metrics.extend(g.unready.iter().map(|&i| (i, 0)));
    }
    let (new_ratio, _) = utilization_ratio(&metrics, &requests, target)?;
    Ok(proposal(
        rebalanced(current, ratio, new_ratio, metrics.len(), tol),
        utilization as f64,
    ))
}

/// `calcPlainMetricReplicas`: an average-value target per pod, in milli-units.
///
/// For a cpu `AverageValue` target, `cpu` carries the CPU readiness rule and values are in
/// millicores (`scale = 1.0`); for Pods metrics `cpu` is `None` and values are in the
/// metric's unit (`scale = 1000.0`). Pods without a sample count as exactly on target on a
/// scale-down and as 0 on a scale-up.
pub(crate) fn average_value(
    current: u32,
    target_milli: i64,
    tol: ToleranceBand,
    pods: &[PodSample],
    samples: &[Option<PodMetric>],
    cpu: Option<CpuReadiness>,
    scale: f64,
) -> Result<MetricProposal, MetricError> {
    check_aligned(pods, samples)?;
    let g = group_pods(pods, samples, cpu, scale);
    if g.metrics.is_empty() {
        return Err(MetricError::NoMetrics);
    }
    let (ratio, usage) = usage_ratio(&g.metrics, target_milli);
    let shown = usage as f64 / scale;
    let current = i64::from(current);
    let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        let replicas = if tol.contains(ratio) {
            current
        } else {
            ceil_replicas(ratio * g.ready as f64)
        };
        return Ok(proposal(replicas, shown));
    }
    let mut metrics = g.metrics;
    if ratio < 1.0 {
        metrics.extend(g.missing.iter().map(|&i| (i, target_milli)));
    } else if ratio > 1.0 {
        metrics.extend(g.missing.iter().map(|&i| (i, 0)));
    }
    if scale_up_with_unready {
        metrics.extend(g.unready.iter().map(|&i| (i, 0)));
    }
    let (new_ratio, _) = usage_ratio(&metrics, target_milli);
    Ok(proposal(
        rebalanced(current, ratio, new_ratio, metrics.len(), tol),
        shown,
    ))
}

/// `GetObjectMetricReplicas` (`Value` target, milli-units): `ceil(value / target × ready
/// pods)` unless within tolerance of `current` (the target's `spec.replicas`).
pub(crate) fn object_value(
    current: u32,
    value: Option<f64>,
    target_milli: i64,
    tol: ToleranceBand,
    pods: &[PodSample],
) -> Result<MetricProposal, MetricError> {
    let usage = milli(value.ok_or(MetricError::ObjectValueUnavailable)?, 1000.0);
    let ratio = usage as f64 / target_milli as f64;
    let replicas = if current == 0 {
        ceil_replicas(ratio)
    } else if tol.contains(ratio) {
        i64::from(current)
    } else {
        if pods.is_empty() {
            return Err(MetricError::NoPods);
        }
        let ready = pods.iter().filter(|p| p.is_running_and_ready()).count();
        ceil_replicas(ratio * ready as f64)
    };
    Ok(proposal(replicas, usage as f64 / 1000.0))
}

/// `GetObjectPerPodMetricReplicas` (`AverageValue` target, milli-units): `ceil(value /
/// target)` unless `value / (target × status_replicas)` is within tolerance.
pub(crate) fn object_average_value(
    status_replicas: u32,
    value: Option<f64>,
    target_milli: i64,
    tol: ToleranceBand,
) -> Result<MetricProposal, MetricError> {
    let usage = milli(value.ok_or(MetricError::ObjectValueUnavailable)?, 1000.0);
    let status = f64::from(status_replicas);
    let ratio = usage as f64 / (target_milli as f64 * status);
    let replicas = if tol.contains(ratio) {
        i64::from(status_replicas)
    } else {
        ceil_replicas(usage as f64 / target_milli as f64)
    };
    let per_pod = if status_replicas == 0 {
        usage as f64
    } else {
        (usage as f64 / status).ceil()
    };
    Ok(proposal(replicas, per_pod / 1000.0))
}

#[cfg(test)]
#[path = "replica_calc_tests.rs"]
mod tests;
