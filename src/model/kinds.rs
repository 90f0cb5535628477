//! kubetwin's own kinds (`kubetwin.io/v1alpha1`): what a scenario needs that Kubernetes
//! objects do not describe.
//!
//! Units are in the field names or docs: durations in seconds (`...Seconds`), rates in
//! requests per second, and every distribution of a time in milliseconds.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dist::DistSpec;
use super::faults::{FaultSpec, RetrySpec, StartupSpec};
use super::resources::SchedulerSpec;

/// The API group and version of kubetwin's kinds.
pub const API_VERSION: &str = "kubetwin.io/v1alpha1";

/// A kubetwin object: `apiVersion`, `kind`, `metadata` and a kind-specific `spec`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Object<S> {
    /// Always `kubetwin.io/v1alpha1`.
    pub api_version: String,
    /// The kind: `Topology`, `ServiceModel`, `Workload` or `Simulation`.
    pub kind: String,
    /// Standard object metadata; only `name` is used.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The kind's specification.
    pub spec: S,
}

/// Where the workloads run: locations, the clusters at them with their node pools, and the
/// network latency between locations.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopologySpec {
    /// Geographic locations (regions, edge sites, the users' site).
    pub locations: Vec<LocationSpec>,
    /// Clusters, each at one location.
    #[serde(default)]
    pub clusters: Vec<ClusterSpec>,
    /// Network latency between and within locations.
    pub latency: LatencySpec,
}

/// A location.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationSpec {
    /// Unique name, e.g. `eu-south-1`.
    pub name: String,
    /// Tier by distance from the users: 0 = local edge, 1 = regional tier 1, 2 = regional
    /// tier 2, 3 = remote cloud. Used by the `TierPriority` score plugin ("MEC first").
    #[serde(default)]
    pub tier: u32,
}

/// Whether a cluster is an edge site or a cloud data centre (informational, and a node label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClusterType {
    /// An edge site near the users.
    Edge,
    /// A cloud data centre.
    #[default]
    Cloud,
}

/// A cluster: nodes at one location.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Unique name. Its nodes carry the label `kubetwin.io/cluster=<name>`.
    pub name: String,
    /// The location's name.
    pub location: String,
    /// Edge or cloud.
    #[serde(default, rename = "type")]
    pub cluster_type: ClusterType,
    /// Groups of identical nodes.
    #[serde(default)]
    pub node_pools: Vec<NodePoolSpec>,
}

/// A group of identical nodes, named `<cluster>-<pool>-<index>`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolSpec {
    /// Pool name, unique within the cluster.
    pub name: String,
    /// Number of nodes.
    pub count: u32,
    /// Allocatable resources of each node: `cpu` and `memory` as Kubernetes quantities.
    pub capacity: BTreeMap<String, Quantity>,
    /// Extra node labels (the well-known ones are added: `kubernetes.io/hostname`,
    /// `topology.kubernetes.io/region`, `kubetwin.io/cluster`, `kubetwin.io/tier`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Price of one node per hour (any currency), for cost objectives.
    #[serde(default)]
    pub price_per_hour: f64,
}

/// Network latency. One-way; every distribution in milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatencySpec {
    /// Between two pods of the same cluster, and by default between two parties at the
    /// same location (override with a link from a location to itself).
    pub intra_cluster: DistSpec,
    /// Between locations. Every pair of locations that communicate needs a link.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

/// Latency from one location to another.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkSpec {
    /// Source location.
    pub from: String,
    /// Destination location.
    pub to: String,
    /// One-way latency, in milliseconds.
    pub distribution: DistSpec,
    /// Also use this distribution from `to` to `from` (unless that direction has its own link).
    #[serde(default = "yes")]
    pub symmetric: bool,
}

/// How the pods of one Deployment serve requests: a G/G/n FIFO queue, and the calls each
/// request makes downstream.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceModelSpec {
    /// The Deployment whose pods behave like this (default: this object's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Worker threads per pod (the `n` of G/G/n), >= 1.
    #[serde(default = "one")]
    pub workers: u32,
    /// Requests that may wait per pod beyond those in service; more are rejected (HTTP 503).
    /// Unbounded when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<u32>,
    /// Processing time of one request, in milliseconds. Required unless
    /// `serviceTimeByLoad` gives it instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_time: Option<DistSpec>,
    /// Processing time that depends on how busy the pod is (instead of `serviceTime`): a
    /// distribution per load level, interpolated between levels and extrapolated beyond
    /// them. Real pods sharing CPUs slow down as they get busier; a twin fitted at one load
    /// mispredicts another without this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_time_by_load: Option<LoadDependentSpec>,
    /// CPU a request uses while it is processing (its own service time, not while its
    /// worker waits for downstream calls), in millicores (default 1000: a busy worker
    /// keeps one core busy). The pod's use is capped at its CPU limit, and processing
    /// slows down when the requests processing at once would need more (docs/scenario.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millicores: Option<u64>,
    /// Whether a worker waits for downstream calls (`sync`, HTTP-style) or is released
    /// when its own processing ends (`async`).
    #[serde(default)]
    pub call_mode: CallMode,
    /// Downstream calls made after processing, in order; each step waits for the previous.
    #[serde(default)]
    pub calls: Vec<CallStep>,
    /// How long pods created during the run take to become ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<StartupSpec>,
}

/// See [`ServiceModelSpec::service_time_by_load`].
///
/// A pod's load is its request rate: arrivals per second, averaged exponentially with time
/// constant `windowSeconds` (as a `rate(...[window])` query would see it, smoothly). A
/// request that starts at load `L` between two levels `a <= L <= b` takes
/// `Q_a(u) + (L - a) / (b - a) * (Q_b(u) - Q_a(u))` for one uniform draw `u`, where `Q` are
/// the levels' quantile functions: every quantile, and so the mean, moves linearly with the
/// load. Below the first level and above the last the nearest two levels' line is
/// extended; a draw never goes below 0.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadDependentSpec {
    /// Time constant of the pod's request-rate average, in seconds (default 10).
    #[serde(default = "ten")]
    pub window_seconds: f64,
    /// At least two levels, by strictly increasing `requestsPerSecond`.
    pub levels: Vec<LoadLevelSpec>,
}

/// The processing time at one load level.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadLevelSpec {
    /// Requests per second per pod.
    pub requests_per_second: f64,
    /// Processing time at that load, in milliseconds.
    pub service_time: DistSpec,
}

/// See [`ServiceModelSpec::call_mode`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CallMode {
    /// The worker is held until all downstream calls have answered.
    #[default]
    Sync,
    /// The worker is released after processing; the answer is sent when calls complete.
    Async,
}

/// One step of a call sequence: exactly one of `service`, `parallel` or `oneOf`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallStep {
    /// Call this Service (by DNS name) and wait for its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// With `service`: probability that the call is made at all (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fan-out: make these calls at once and wait for all of them (fan-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<Call>>,
    /// Exclusive branch: make at most one of these calls, chosen by probability (their sum
    /// must be <= 1; the remainder makes no call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Call>>,
}

/// A call to a Service.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    /// The Service's DNS name.
    pub service: String,
    /// In `parallel`: probability that this call is made; in `oneOf`: probability of this branch.
    #[serde(default = "one_f")]
    pub probability: f64,
}

/// Who sends requests, of which types, and when.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The location the users send from.
    pub user_location: String,
    /// Request types; each arrival picks one with probability proportional to `weight`.
    pub request_types: Vec<RequestTypeSpec>,
    /// Arrival flows; their arrivals are merged.
    pub flows: Vec<FlowSpec>,
    /// What users do about failed and slow attempts (default: no timeout, no retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetrySpec>,
}

/// A request type: which Service users call first (the rest follows the call graph).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestTypeSpec {
    /// Name, used in reports.
    pub name: String,
    /// The entry Service's DNS name.
    pub entry: String,
    /// Relative frequency, > 0.
    #[serde(default = "one_f")]
    pub weight: f64,
}

/// A flow of arrivals.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowSpec {
    /// Name, used in reports (default `flow-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the flow starts, in seconds of simulated time.
    #[serde(default)]
    pub start_seconds: f64,
    /// Stop after this many arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Stop at this time, in seconds of simulated time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_seconds: Option<f64>,
    /// The arrival process.
    pub arrivals: ArrivalSpec,
}

/// An arrival process.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// Poisson arrivals (exponential inter-arrival times).
    Poisson {
        /// Requests per second, > 0.
        rate: f64,
    },
    /// Evenly spaced arrivals.
    Constant {
        /// Requests per second, > 0.
        rate: f64,
    },
    /// Renewal process with any inter-arrival distribution.
    #[serde(rename_all = "camelCase")]
    Renewal {
        /// Inter-arrival time, in milliseconds.
        inter_arrival: DistSpec,
    },
    /// Replay of recorded arrival times: a CSV file (relative to the scenario file) with a
    /// header row; `column` (default: the first) holds seconds since the trace start,
    /// non-decreasing.
    Trace {
        /// The CSV file.
        file: String,
        /// The column with the timestamps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
    },
}

/// Run settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulationSpec {
    /// Master seed of every random stream.
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// Requests that arrive during the first `warmupSeconds` are excluded from statistics.
    #[serde(default)]
    pub warmup_seconds: f64,
    /// Requests that arrive during the last `cooldownSeconds` of arrivals are excluded.
    #[serde(default)]
    pub cooldown_seconds: f64,
    /// When to stop; by default when every flow has ended and every request is answered.
    #[serde(default)]
    pub stop: StopSpec,
    /// Width of a time-series interval, in seconds.
    #[serde(default = "one_f")]
    pub statistics_interval_seconds: f64,
    /// The scheduler's score plugins.
    #[serde(default)]
    pub scheduler: SchedulerSpec,
    /// Faults to inject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// kube-controller-manager's `--node-monitor-grace-period`, in seconds: how long after
    /// the pass that last heard from a failed node the node lifecycle controller marks it
    /// `NotReady`, at its first pass from then on (default 50, Kubernetes' default since
    /// v1.32; it was 40 before). A fault may set its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_monitor_grace_period_seconds: Option<f64>,
    /// kube-controller-manager's `--node-monitor-period`, in seconds (> 0, default 5): how
    /// often the node lifecycle controller checks the nodes. Its passes are at multiples of
    /// the period from time zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_monitor_period_seconds: Option<f64>,
    /// kube-controller-manager's `--node-eviction-rate`, in nodes per second per zone
    /// (>= 0, default 0.1): how fast the node lifecycle controller gives `NotReady` nodes the
    /// `node.kubernetes.io/unreachable:NoExecute` taint that evicts their pods, in a healthy
    /// zone or one whose nodes are all down. 0 lets one node per zone through, then none
    /// (a token bucket that never refills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_eviction_rate: Option<f64>,
    /// kube-controller-manager's `--secondary-node-eviction-rate`, in nodes per second per
    /// zone (>= 0, default 0.01): the rate in a zone in partial disruption with more than
    /// `largeClusterSizeThreshold` nodes (a smaller one gets no taints at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_node_eviction_rate: Option<f64>,
    /// kube-controller-manager's `--unhealthy-zone-threshold`, a fraction (>= 0, default
    /// 0.55): a zone with more than 2 `NotReady` nodes and at least this share of its nodes
    /// `NotReady` is in partial disruption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_zone_threshold: Option<f64>,
    /// kube-controller-manager's `--large-cluster-size-threshold`, in nodes (default 50): a
    /// zone in partial disruption with more nodes than this gets the secondary rate, a
    /// smaller one none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_cluster_size_threshold: Option<u32>,
    /// How metrics-server samples the pods' CPU for the HorizontalPodAutoscalers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_server: Option<MetricsServerSpec>,
}

/// metrics-server's sampling: it scrapes each pod's cumulative CPU counter every
/// `metricResolutionSeconds` and serves the rate between the last two scrapes, so an HPA
/// sees a lagged average.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsServerSpec {
    /// `--metric-resolution`, in seconds (default 15, as in metrics-server's manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_resolution_seconds: Option<f64>,
    /// When the scrapes happen within each resolution, in seconds from time zero, in
    /// `[0, metricResolutionSeconds)` (default half the resolution: the expected phase of
    /// two loops that do not run in step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_offset_seconds: Option<f64>,
}

/// Stop conditions; the first reached ends the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopSpec {
    /// Admit no more than this many arrivals in total, then let those in flight finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Stop the clock at this time, in seconds; requests still in flight are reported so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_seconds: Option<f64>,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn ten() -> f64 {
    10.0
}
