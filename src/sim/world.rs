//! The checked, indexed form of a scenario that the engine runs: every reference resolved
//! to an index into an arena, every distribution validated. Built by [`super::build()`].

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Affinity, Taint, Toleration, TopologySpreadConstraint};

use super::autoscaler::{Autoscaler, MetricsServer};
use super::service_time::ServiceTime;
use super::time::SimTime;
use crate::fit::Distribution;
use crate::model::Origin;
use crate::model::kinds::CallMode;
use crate::model::resources::{Resources, SchedulerSpec};

/// Index of a location.
pub type LocId = u32;
/// Index of a cluster.
pub type ClusterId = u32;
/// Index of a Service.
pub type SvcId = u32;
/// Index of a Deployment.
pub type DepId = u32;

/// Everything the engine needs, immutable during a run.
#[derive(Clone, Debug)]
pub struct World {
    /// Validated HorizontalPodAutoscalers, at most one per Deployment.
    pub autoscalers: Vec<Autoscaler>,
    /// How metrics-server samples the pods' CPU for them.
    pub metrics_server: MetricsServer,
    /// What the build found questionable but ran anyway, in scenario order.
    pub warnings: Vec<Warning>,
    /// Faults at scheduled times, in time order.
    pub faults: Vec<Fault>,
    /// How the node lifecycle controller handles failed nodes.
    pub node_lifecycle: NodeLifecycle,
    /// What users do about failed and slow attempts.
    pub retry: RetryPolicy,
    /// Locations.
    pub locations: Vec<Location>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Nodes, from node pools and Node objects.
    pub nodes: Vec<NodeDef>,
    /// Latencies.
    pub network: Network,
    /// Deployments with their service models.
    pub deployments: Vec<DeploymentDef>,
    /// Services.
    pub services: Vec<ServiceDef>,
    /// Request types, with cumulative weights for the mix.
    pub request_types: Vec<RequestType>,
    /// Arrival flows.
    pub flows: Vec<FlowDef>,
    /// Where users send from.
    pub user_location: LocId,
    /// Run settings.
    pub settings: Settings,
    /// Score plugins.
    pub scheduler: SchedulerSpec,
}

/// A location.
#[derive(Clone, Debug)]
pub struct Location {
    /// Name.
    pub name: String,
    /// Tier (0 = local edge).
    pub tier: u32,
}

/// A cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Name.
    pub name: String,
    /// Its location.
    pub location: LocId,
}

/// A node.
#[derive(Clone, Debug)]
pub struct NodeDef {
    /// Name.
    pub name: String,
    /// Its cluster.
    pub cluster: ClusterId,
    /// Its cluster's location.
    pub location: LocId,
    /// Labels, including the well-known ones.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable resources.
    pub capacity: Resources,
    /// Price per hour.
    pub price_per_hour: f64,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
}

/// One-way latencies between locations.
#[derive(Clone, Debug)]
pub struct Network {
    /// Number of locations.
    pub size: usize,
    /// `links[from * size + to]`; `None` where the scenario gave no link.
    pub links: Vec<Option<Distribution>>,
    /// Between pods of one cluster, and the default within a location.
    pub intra_cluster: Distribution,
}

impl Network {
    /// The latency distribution between two parties; `same_cluster` when both are pods of
    /// one cluster.
    #[inline]
    pub fn between(&self, from: LocId, to: LocId, same_cluster: bool) -> &Distribution {
        if same_cluster {
            return &self.intra_cluster;
        }
        match &self.links[from as usize * self.size + to as usize] {
            Some(d) => d,
            None => &self.intra_cluster,
        }
    }
}

/// A Deployment and how its pods serve.
#[derive(Clone, Debug)]
pub struct DeploymentDef {
    /// Name.
    pub name: String,
    /// Desired replicas.
    pub replicas: u32,
    /// Pod template labels.
    pub labels: BTreeMap<String, String>,
    /// Pod resource requests.
    pub requests: Resources,
    /// Pods of the scenario already bound to a node at time zero, in scenario order. The
    /// first `replicas` of them start on their nodes; the other replicas go through the
    /// scheduler.
    pub initial_pods: Vec<InitialPod>,
    /// Pod template `nodeSelector`.
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Pod template `affinity`.
    pub affinity: Option<Affinity>,
    /// Pod template `tolerations`.
    pub tolerations: Vec<Toleration>,
    /// Pod template `topologySpreadConstraints`, validated.
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// `metadata.namespace` (`default` when unset).
    pub namespace: String,
    /// Workers per pod.
    pub workers: u32,
    /// How its pods use CPU.
    pub cpu: CpuModel,
    /// Each running container's CPU request (its limit when it has only a limit), read by
    /// `ContainerResource` metrics.
    pub container_cpu_requests: Vec<ContainerCpu>,
    /// Maximum waiting requests per pod (`u32::MAX`: unbounded).
    pub queue_capacity: u32,
    /// Processing time, in milliseconds.
    pub service_time: ServiceTime,
    /// Sync or async downstream calls.
    pub call_mode: CallMode,
    /// Downstream call steps.
    pub steps: Vec<Step>,
    /// Binding to container running, for pods created during the run, in milliseconds.
    pub startup_pending: Option<Distribution>,
    /// Container running to `Ready`, in milliseconds.
    pub startup_readiness: Option<Distribution>,
    /// Pod template `terminationGracePeriodSeconds` (default 30 s): how long a deleted pod
    /// may finish its in-flight work.
    pub termination_grace: SimTime,
    /// Kills per pod per second of running, from `podKill` faults with a rate (0: none).
    pub kill_rate: f64,
    /// How long a container runs until it crashes (and restarts in place), in
    /// milliseconds, from a `containerCrash` fault with a rate or a lifetime.
    pub crash_lifetime: Option<Distribution>,
}

/// A running container's name and CPU request in millicores (`None`: it has none).
pub type ContainerCpu = (String, Option<u64>);

/// How a pod uses CPU: `per_request` millicores for each request processing, capped at
/// `limit` (requests then slow down: see the engine's `cpu` module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuModel {
    /// CPU a request uses while it is processing, in millicores.
    pub per_request: u64,
    /// The pod's CPU limit, in millicores; `None` when a container has none (unlimited).
    pub limit: Option<u64>,
    /// The pod's CPU request as the HPA sums it, in millicores; `None` when a container has
    /// no CPU request, which fails CPU-utilization metrics.
    pub request: Option<u64>,
}

impl CpuModel {
    /// The pod's use, in millicores, while `processing` requests are processing.
    pub fn usage(&self, processing: u32) -> u64 {
        let demand = self.per_request.saturating_mul(u64::from(processing));
        self.limit.map_or(demand, |limit| demand.min(limit))
    }

    /// The speed of each processing request (1 = its service time), `limit / demand` when
    /// the `processing` requests demand more than the limit.
    pub fn rate(&self, processing: u32) -> f64 {
        let demand = self.per_request.saturating_mul(u64::from(processing));
        match self.limit {
            Some(limit) if demand > limit => limit as f64 / demand as f64,
            _ => 1.0,
        }
    }

    /// Whether `workers` requests processing at once can exceed the limit.
    pub fn throttles(&self, workers: u32) -> bool {
        self.rate(workers) < 1.0
    }
}

/// A questionable but valid part of a scenario, reported by the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where the object is defined.
    pub at: Origin,
    /// `Kind/name` of the object.
    pub object: String,
    /// The field path inside the object.
    pub field: String,
    /// What will happen.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.at, self.object, self.field, self.message
        )
    }
}

/// A pod bound to a node at time zero (a `v1` Pod of the scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialPod {
    /// Index of its node.
    pub node: u32,
    /// How far its start-up has got.
    pub state: InitialState,
}

/// How far a pod bound at time zero has got, from its `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialState {
    /// Running and ready (or no status): an endpoint at once.
    Ready,
    /// Running, not ready: ready after the ServiceModel's `startup.readiness` delay.
    Running,
    /// Bound, container not running yet: `startup.pending`, then `startup.readiness`.
    Pending,
}

/// A resolved call step.
#[derive(Clone, Debug)]
pub enum Step {
    /// Independent calls made at once (one call = a sequential step); each with its probability.
    Parallel(Vec<(SvcId, f64)>),
    /// At most one call, by cumulative probability.
    OneOf(Vec<(SvcId, f64)>),
}

/// A load-balancing policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbPolicy {
    /// Uniform random endpoint (kube-proxy iptables mode).
    Random,
    /// Round robin (IPVS default).
    RoundRobin,
    /// Fewest requests in flight; ties at random.
    LeastOutstanding,
    /// Nearest location by mean latency; ties at random.
    LatencyAware,
}

/// A Service.
#[derive(Clone, Debug)]
pub struct ServiceDef {
    /// DNS name.
    pub name: String,
    /// Load-balancing policy.
    pub policy: LbPolicy,
    /// Deployments whose pod template labels match the selector.
    pub deployments: Vec<DepId>,
}

/// A request type.
#[derive(Clone, Debug)]
pub struct RequestType {
    /// Name.
    pub name: String,
    /// Entry Service.
    pub entry: SvcId,
    /// Cumulative probability up to and including this type.
    pub cumulative: f64,
}

/// An arrival flow.
#[derive(Clone, Debug)]
pub struct FlowDef {
    /// Name.
    pub name: String,
    /// First possible arrival.
    pub start: SimTime,
    /// No arrival at or after this time.
    pub end: Option<SimTime>,
    /// At most this many arrivals.
    pub requests: Option<u64>,
    /// The process.
    pub process: Process,
}

/// An arrival process.
#[derive(Clone, Debug)]
pub enum Process {
    /// Exponential inter-arrival times with this mean, in milliseconds.
    Poisson(f64),
    /// Fixed inter-arrival time.
    Constant(SimTime),
    /// Inter-arrival distribution, in milliseconds.
    Renewal(Distribution),
    /// Arrival offsets from the flow's start.
    Trace(Arc<[SimTime]>),
}

/// Run settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Master seed.
    pub seed: u64,
    /// Arrivals before this are not measured.
    pub warmup: SimTime,
    /// Arrivals in the last `cooldown` of arrivals are not measured.
    pub cooldown: SimTime,
    /// Stop admitting after this many arrivals.
    pub stop_requests: Option<u64>,
    /// Stop the clock here.
    pub stop_time: Option<SimTime>,
    /// Time-series interval.
    pub interval: SimTime,
}

/// A scheduled fault.
#[derive(Clone, Debug)]
pub struct Fault {
    /// When it starts.
    pub at: SimTime,
    /// When it ends (`None`: never; a pod kill has no end).
    pub until: Option<SimTime>,
    /// What it does.
    pub kind: FaultKind,
    /// How reports name it, e.g. `node local-dc-pool-3` or `location eu-south-1`.
    pub target: String,
}

/// What a fault does.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Kill `count` scheduled pods of a Deployment, chosen at random.
    KillPods {
        /// The Deployment.
        deployment: DepId,
        /// How many.
        count: u32,
    },
    /// Crash the containers of `count` running pods of a Deployment, chosen at random.
    CrashContainers {
        /// The Deployment.
        deployment: DepId,
        /// How many.
        count: u32,
    },
    /// These nodes fail until the fault ends: they stop answering at once and the node
    /// lifecycle controller marks them `NotReady` after `grace` (see
    /// [`crate::model::faults::FaultSpec::NodeFailure`]).
    NodesDown {
        /// The nodes.
        nodes: Vec<u32>,
        /// The node monitor grace period.
        grace: SimTime,
    },
    /// These ordered location pairs (`from * size + to`) get slower.
    Link {
        /// The pairs.
        pairs: Vec<usize>,
        /// Factor on each sampled latency.
        multiplier: f64,
        /// Added to each sampled latency, in milliseconds.
        added_ms: f64,
    },
}

/// kube-controller-manager's node lifecycle controller settings (its flags of the same
/// names), validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeLifecycle {
    /// `--node-monitor-period`: the time between its passes (> 0).
    pub monitor_period: SimTime,
    /// `--node-eviction-rate`: `NoExecute` taints per second per zone (>= 0).
    pub eviction_rate: f64,
    /// `--secondary-node-eviction-rate`: the same in a large zone in partial disruption.
    pub secondary_eviction_rate: f64,
    /// `--unhealthy-zone-threshold`: the share of `NotReady` nodes of a zone in partial
    /// disruption.
    pub unhealthy_zone_threshold: f64,
    /// `--large-cluster-size-threshold`: a zone with more nodes is large.
    pub large_cluster_size_threshold: u32,
}

/// The users' retry policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// Abandon an attempt unanswered after this long.
    pub per_try_timeout: Option<SimTime>,
    /// Wait before the next attempt.
    pub backoff: SimTime,
}
