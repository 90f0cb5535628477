//! The result of a run: a stable, documented JSON schema (`kubetwin.io/run-report/v1`,
//! described in docs/output.md). Times are in milliseconds unless a field says otherwise;
//! a statistic over no samples is `null`.

use serde::Serialize;

/// Identifies the schema of [`RunReport`].
pub const RUN_REPORT_SCHEMA: &str = "kubetwin.io/run-report/v1";

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Always [`RUN_REPORT_SCHEMA`].
    pub schema: &'static str,
    /// The master seed.
    pub seed: u64,
    /// Simulated time at the end of the run, in seconds.
    pub simulated_seconds: f64,
    /// Events processed.
    pub events: u64,
    /// The measurement window `[start, end]` of arrival times, in seconds: after the
    /// warm-up, before the cool-down.
    pub window_seconds: [f64; 2],
    /// Request accounting: `arrived = completed + rejected + failed + inFlight`.
    pub requests: RequestCounts,
    /// Time to resolution of measured, completed requests (user's send to user's receipt).
    pub ttr: Summary,
    /// The same per request type.
    pub request_types: Vec<RequestTypeReport>,
    /// Per microservice (Deployment with its ServiceModel).
    pub services: Vec<ServiceReport>,
    /// Per cluster.
    pub clusters: Vec<ClusterReport>,
    /// Pods that could not be placed.
    pub pending_pods: Vec<PendingPod>,
    /// Per HorizontalPodAutoscaler.
    pub autoscalers: Vec<AutoscalerReport>,
    /// Every replica change an autoscaler made, in time order.
    pub scaling: Vec<ScalingEvent>,
    /// Every fault injected, in time order.
    pub faults: Vec<FaultEvent>,
    /// What the pods' resources cost over the run, all Deployments together.
    pub cost: Cost,
    /// Per statistics interval; written separately (`--timeseries`), not in the report.
    #[serde(skip)]
    pub timeseries: Vec<IntervalRow>,
}

/// Request accounting over the whole run (not only the measurement window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    /// User requests admitted.
    pub arrived: u64,
    /// Answered successfully.
    pub completed: u64,
    /// Answered with an error (HTTP 503): a queue was full or a Service had no ready
    /// endpoints on the way.
    pub rejected: u64,
    /// Lost to a fault: a pod died while handling the request (or one of its calls), the
    /// connection was refused, every attempt timed out, or (without a timeout) a call went
    /// unanswered.
    pub failed: u64,
    /// Not yet answered when the run stopped.
    pub in_flight: u64,
    /// Arrived inside the measurement window.
    pub measured: u64,
    /// Rejections by a full pod queue (counted at each rejecting pod).
    pub rejected_queue_full: u64,
    /// Calls to a Service without ready endpoints.
    pub rejected_no_endpoints: u64,
    /// Calls lost because their pod or its container died while they were in it (the
    /// connection reset) or on their way to it (refused), counted at each pod.
    pub failed_pod_lost: u64,
    /// Calls held by, or sent to, a pod whose node had failed: never answered (counted at
    /// each pod). Their users time out, or without a timeout count the request failed.
    pub unanswered: u64,
    /// Attempts the users abandoned after their per-try timeout.
    pub timed_out: u64,
    /// Attempts after the first, made by the users' retry policy.
    pub retries: u64,
}

/// A latency distribution summary, in milliseconds. Percentiles come from an HDR
/// histogram with 3 significant digits (relative error <= 0.1%); `mean` is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
}

/// Per request type.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestTypeReport {
    /// Name.
    pub name: String,
    /// Measured TTR.
    pub ttr: Summary,
}

/// Per microservice, over the measurement window.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReport {
    /// The Deployment's name.
    pub name: String,
    /// Desired replicas at the end (the Deployment's, or as its autoscaler last set them).
    pub replicas: u32,
    /// Ready pods at the end.
    pub running_pods: u32,
    /// Pods created during the run (after the initial replicas): scale-ups and replacements.
    pub pods_created: u32,
    /// Pods deleted by scale-downs.
    pub pods_deleted: u32,
    /// Pods killed by faults.
    pub pods_killed: u32,
    /// Pods evicted from `NotReady` nodes by the taint manager.
    pub pods_evicted: u32,
    /// Container restarts of its pods over the run, gone pods included (the sum of
    /// kubectl's RESTARTS).
    pub restarts: u64,
    /// What its pods' resources cost over the run.
    pub cost: Cost,
    /// Calls that reached a pod.
    pub arrivals: u64,
    /// Calls processed (measured).
    pub processed: u64,
    /// Calls rejected by a full queue (measured).
    pub rejected: u64,
    /// Processed calls per second of the window.
    pub throughput: f64,
    /// Busy worker time / available worker time.
    pub utilization: Option<f64>,
    /// Time to process: arrival at the pod to end of processing (queue wait + service).
    pub ttp: Summary,
    /// Queue wait.
    pub wait: Summary,
}

/// Per cluster, at the end of the run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    /// Name.
    pub name: String,
    /// Location.
    pub location: String,
    /// Location tier.
    pub tier: u32,
    /// Nodes.
    pub nodes: u32,
    /// Pods bound to its nodes, per Deployment name (only Deployments with pods here).
    pub pods: std::collections::BTreeMap<String, u32>,
    /// Allocated / allocatable CPU, in cores.
    pub cpu: [f64; 2],
    /// Allocated / allocatable memory, in GiB.
    pub memory_gib: [f64; 2],
}

/// A pod the scheduler could not place.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPod {
    /// Its Deployment.
    pub deployment: String,
    /// Why, in kube-scheduler's words.
    pub reason: String,
}

/// One statistics interval `[start, start + interval)`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalRow {
    /// Start, in seconds.
    pub start: f64,
    /// User arrivals.
    pub arrivals: u64,
    /// User requests answered successfully.
    pub completed: u64,
    /// User requests answered with an error (HTTP 503).
    pub rejected: u64,
    /// User requests lost to a fault.
    pub failed: u64,
    /// Mean TTR of requests answered in the interval.
    pub ttr_mean: Option<f64>,
    /// 99th percentile of the same (2 significant digits: relative error <= 1%).
    pub ttr_p99: Option<f64>,
    /// Per microservice, in the order of [`RunReport::services`].
    pub services: Vec<IntervalService>,
}

/// One microservice in one interval.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalService {
    /// Desired replicas at the end of the interval.
    pub desired: u32,
    /// Pods that exist at the end of the interval and are not terminating: pending,
    /// starting or ready.
    pub pods: u32,
    /// Of those, ready pods (the Service's endpoints).
    pub ready: u32,
    /// Scheduled, not terminating pods per location tier (index = tier) at the end of the
    /// interval.
    pub pods_by_tier: Vec<u32>,
    /// Mean TTP of calls processed in the interval.
    pub ttp_mean: Option<f64>,
    /// Requests waiting in its pods' queues at the end of the interval.
    pub queued: u32,
    /// Busy workers at the end of the interval.
    pub busy: u32,
}

/// One HorizontalPodAutoscaler over the run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerReport {
    /// The HPA's name.
    pub name: String,
    /// The Deployment it scales.
    pub target: String,
    /// `twin` or `kubernetes`.
    pub rule: &'static str,
    /// The twin rule's desired mean processing time, in milliseconds.
    pub desired_processing_time_ms: Option<f64>,
    /// Syncs run.
    pub syncs: u32,
    /// Syncs that changed the replica count upwards.
    pub scale_ups: u32,
    /// Syncs that changed it downwards.
    pub scale_downs: u32,
    /// Replicas at the end.
    pub replicas: u32,
    /// The Kubernetes rule's metrics at its last sync, in `spec.metrics` order (empty for
    /// the twin rule): what `kubectl get hpa` shows as TARGETS.
    pub metrics: Vec<CurrentMetric>,
    /// The Kubernetes rule's `status.conditions` after its last sync, in the order first
    /// set (empty for the twin rule).
    pub conditions: Vec<ConditionReport>,
}

/// One metric of an HPA as its status reports it at the last sync.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentMetric {
    /// The metric as Kubernetes names it, e.g. `cpu resource utilization (percentage of
    /// request)` or `pods metric requests_per_second`.
    pub metric: String,
    /// Its current value: the average utilization in percent of the CPU requests (above
    /// 100 when pods use more than they request) for a CPU utilization target; the average
    /// per pod (millicores for CPU) or the object's value otherwise. `null` when the metric
    /// failed at that sync.
    pub current: Option<f64>,
}

/// One HPA status condition. Kubernetes' own type (`HorizontalPodAutoscalerCondition`)
/// stamps the transition with a wall-clock time; the twin has simulated seconds.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionReport {
    /// `AbleToScale`, `ScalingActive` or `ScalingLimited`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `True` or `False`.
    pub status: &'static str,
    /// Kubernetes' reason, e.g. `ReadyForNewScale`, `FailedGetResourceMetric`,
    /// `TooFewReplicas`.
    pub reason: &'static str,
    /// Kubernetes' message.
    pub message: String,
    /// When the status last changed, in seconds.
    pub last_transition_seconds: f64,
}

/// A replica change made by an autoscaler.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingEvent {
    /// When, in seconds.
    pub at: f64,
    /// The HPA's name.
    pub autoscaler: String,
    /// Replicas before.
    pub from: u32,
    /// Replicas after.
    pub to: u32,
}

/// A fault as it happened. Faults that repeat at a rate (`podKill` and `containerCrash`
/// with a rate or a lifetime) make one line per Deployment that counts them, so that the
/// log does not grow with the length of the run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultEvent {
    /// When (the first time), in seconds.
    pub at: f64,
    /// What happened, e.g. `pod ms1-3 killed`, `node local-dc-pool-4 failed`,
    /// `node local-dc-pool-4 NotReady (2 pods not ready)`, `pod ms1-3 evicted from node
    /// local-dc-pool-4`, `containers of deployment ms1 crashed`, `location eu-south-1
    /// recovered`.
    pub what: String,
    /// Pods lost (killed, evicted, or whose containers stopped), all times together.
    pub pods_lost: u32,
    /// How many times it happened.
    pub count: u64,
    /// The last time, in seconds.
    pub last_at: f64,
}

/// Resources reserved by pods over their time bound to a node (from binding to deletion
/// or the end of the run), and their price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// CPU requests x hours, in core-hours.
    pub cpu_core_hours: f64,
    /// Memory requests x hours, in GiB-hours.
    pub memory_gib_hours: f64,
    /// Each pod's share of its node's price per hour (the larger of its CPU and memory
    /// shares of the node's allocatable) x hours.
    pub price: f64,
}

impl Cost {
    /// Adds `other`.
    pub fn add(&mut self, other: &Cost) {
        self.cpu_core_hours += other.cpu_core_hours;
        self.memory_gib_hours += other.memory_gib_hours;
        self.price += other.price;
    }
}
