//! The `TwinExperiment` custom resource (`kubetwin.io/v1alpha1`, short name `twin`): what
//! application to twin, where its model comes from, the SLO and the search space (spec),
//! and what the operator fitted, predicted and recommends (status).
//!
//! The CRD in `crds/` and in the Helm chart is generated from these types (`kubetwin crd`);
//! a test fails when it drifts. Field docs are the user docs (`kubectl explain twin.spec`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The annotation whose value (a recommendation id) asks the operator to apply it.
pub const APPROVE: &str = "kubetwin.io/approve";
/// The annotation whose value (an applied recommendation's id) asks the operator to undo it.
pub const ROLLBACK: &str = "kubetwin.io/rollback";

/// A digital twin of one application: the operator keeps a model of it calibrated from
/// Prometheus, simulates the current configuration and the search space on a cadence, and
/// recommends patches that a person approves with `kubectl annotate`.
// clippy reads the repeated `type_ = "string"` of the print columns as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kubetwin.io",
    version = "v1alpha1",
    kind = "TwinExperiment",
    namespaced,
    status = "TwinExperimentStatus",
    shortname = "twin",
    category = "kubetwin",
    derive = "PartialEq",
    doc = "A digital twin of one application, kept calibrated from Prometheus, that \
           recommends HPA and placement patches with their predicted effect on latency.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Observed p99",
        type_ = "string",
        json_path = ".status.current.observed.p99",
        description = "p99 response time at the entry, as Prometheus measured it"
    ),
    printcolumn(
        name = "Predicted p99",
        type_ = "string",
        json_path = ".status.current.predicted.p99",
        description = "p99 response time at the entry, as the twin predicts it"
    ),
    printcolumn(
        name = "Recommendation",
        type_ = "string",
        json_path = ".status.recommendation",
        description = "the pending recommendation, if any"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TwinExperimentSpec {
    /// The application to twin.
    pub target: Target,
    /// Where the twin's distributions (service times, call graph, request rates) come from.
    pub model: ModelSource,
    /// The load to simulate. Default: the request rate Prometheus observed at the entry.
    #[serde(default)]
    pub workload: WorkloadSource,
    /// The service-level objective recommendations must meet.
    pub slo: SloSpec,
    /// What a recommendation minimises among configurations meeting the SLO.
    #[serde(default)]
    pub objective: Objective,
    /// What the operator may change. Empty: it predicts, and recommends nothing.
    #[serde(default)]
    pub search_space: Vec<SearchDimension>,
    /// How often to refit and simulate, as a duration (`30s`, `5m`, `1h`). Default `5m`.
    #[serde(default = "default_cadence")]
    pub cadence: String,
    /// How much simulation one cycle may spend.
    #[serde(default)]
    pub budget: Budget,
    /// Whether recommendations wait for a person's approval.
    #[serde(default)]
    pub approval: Approval,
}

fn default_cadence() -> String {
    "5m".to_owned()
}

/// The application: its Deployments (by label), and the Service users call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The application's namespace. Default: the TwinExperiment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Selects the application's Deployments, StatefulSets and Services by label.
    pub selector: LabelSelector,
    /// The Service users' requests enter by (its name in the namespace).
    pub entry: String,
}

/// Where the model comes from: Prometheus, a ConfigMap of ServiceModel documents, or both
/// (the ConfigMap's documents take precedence over fitted ones).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSource {
    /// Fit service times and the call graph from this Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// The name of a ConfigMap in the target namespace whose key `model.yaml` holds
    /// ServiceModel (and optionally Workload and Topology) documents, as
    /// `kubetwin fit --prometheus --out` writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    /// Changes applied to the imported scenario before every simulation, as
    /// `kubetwin simulate --set` takes them (`serviceModel/frontend:spec.workers=8`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// A Prometheus server and how to read the application's metrics from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSource {
    /// The server's URL, e.g. `http://prometheus.monitoring:9090`. Default: the operator's
    /// `--prometheus-url` (the chart's `prometheus.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The metric names to read: `istio`, `linkerd`, `otel` or `custom`.
    #[serde(default)]
    pub preset: PresetName,
    /// With preset `custom`: the PromQL templates (`${namespace}`, `${window}` are replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<CustomQueries>,
    /// How much history one fit reads, as a Prometheus duration (`30m`, `1h`). Default `30m`.
    #[serde(default = "default_window")]
    pub window: String,
}

fn default_window() -> String {
    "30m".to_owned()
}

/// A metric naming scheme (see `kubetwin fit --preset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PresetName {
    /// Istio's `istio_request_duration_milliseconds` and `istio_requests_total`.
    #[default]
    Istio,
    /// Linkerd's `response_latency_ms` and `request_total`.
    Linkerd,
    /// OpenTelemetry's `http.server.request.duration` (seconds).
    Otel,
    /// The queries given in `queries`.
    Custom,
}

/// PromQL templates for preset `custom`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomQueries {
    /// Bucket counts over the window by workload and `le` (milliseconds).
    pub histogram: String,
    /// Inbound requests per second by workload.
    pub rates: String,
    /// Requests per second by caller and callee, if the metrics have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<String>,
}

/// The load to simulate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSource {
    /// A fixed arrival rate at the entry, in requests per second (Poisson). Default: the
    /// rate Prometheus observed over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
    /// Multiplies the rate, for headroom (`1.2`: plan for 20% more traffic). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_factor: Option<f64>,
}

/// A latency objective at the entry: `metric` of the time to resolution at most
/// `thresholdMs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SloSpec {
    /// `mean`, `p50`, `p90`, `p95`, `p99` or `p999`.
    pub metric: SloMetric,
    /// The bound, in milliseconds.
    pub threshold_ms: f64,
    /// Judge a configuration on the upper bound of the 95% confidence interval of the metric
    /// over the replications (default), or on its mean (`pointEstimate`).
    #[serde(default)]
    pub confidence: SloConfidence,
}

/// The figure an SLO bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SloMetric {
    /// Mean time to resolution.
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
}

/// How an SLO is judged over replications.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SloConfidence {
    /// The 95% confidence interval's upper bound must meet the SLO.
    #[default]
    UpperBound,
    /// The mean over replications must meet it.
    PointEstimate,
}

/// What recommendations minimise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Objective {
    /// The pods' share of their nodes' prices (node annotation `kubetwin.io/price-per-hour`
    /// or the import's price table), per hour.
    #[default]
    Cost,
    /// Reserved CPU, in core-hours.
    CoreHours,
}

/// One thing the operator may change. Exactly one of `hpa` and `deployment` is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchDimension {
    /// An HorizontalPodAutoscaler of the application, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<String>,
    /// With `hpa`: candidate `minReplicas`, an inclusive range `[low, high]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<[i32; 2]>,
    /// With `hpa`: candidate `maxReplicas`, an inclusive range `[low, high]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<[i32; 2]>,
    /// With `hpa`: candidate CPU `averageUtilization` targets, in percent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_cpu_utilization: Vec<i32>,
    /// A Deployment of the application, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// With `deployment` (and no HPA on it): candidate `replicas`, `[low, high]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<[i32; 2]>,
    /// With `deployment`: candidate placements, each a set of node-label values the pods
    /// are required to run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<AffinityChoices>,
}

/// Candidate placements: one required node affinity per value of `key`, plus "anywhere".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AffinityChoices {
    /// The node label, e.g. `topology.kubernetes.io/zone`. Default: the region label.
    #[serde(default = "default_affinity_key")]
    pub key: String,
    /// Candidate values; each candidate requires `key In [value]`.
    pub values: Vec<String>,
}

fn default_affinity_key() -> String {
    "topology.kubernetes.io/region".to_owned()
}

/// How much simulation one cycle may spend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// Requests simulated per run. Default 20,000.
    #[schemars(range(min = 1))]
    pub requests: i64,
    /// Runs per configuration (seeds `seed`, `seed + 1`, ...). Default 5.
    #[schemars(range(min = 1))]
    pub replications: i32,
    /// Configurations evaluated at most per cycle. Default 64.
    #[schemars(range(min = 1))]
    pub configurations: i32,
    /// Wall time one cycle may take, in seconds; a cycle past it is abandoned and reported.
    /// Default 60.
    #[schemars(range(min = 1))]
    pub max_cycle_seconds: i32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            requests: 20_000,
            replications: 5,
            configurations: 64,
            max_cycle_seconds: 60,
        }
    }
}

/// Who approves recommendations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// `Manual` (default): a person annotates `kubetwin.io/approve=<id>`. `Auto`: the
    /// operator applies within the guardrails.
    #[serde(default)]
    pub mode: ApprovalMode,
    /// With `Auto`: the largest change of any replica bound in one apply. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_step: Option<i32>,
    /// With `Auto`: seconds between two applies. Default 900.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_seconds: Option<i64>,
}

/// Approval modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApprovalMode {
    /// Recommend only; apply what a person approves.
    #[default]
    Manual,
    /// Apply recommendations within the guardrails, never below the observed need.
    Auto,
}

/// What the operator found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwinExperimentStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `RecommendationReady`, `UpToDate` (the current configuration meets the SLO and no
    /// candidate is better), `SLOAtRisk` (it misses the SLO and no candidate meets it),
    /// `Applied` or `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `ModelFitted`, `Simulated`, `RecommendationReady`, `Applied`, `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The fitted model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSummary>,
    /// How well the twin predicted the current configuration over the last cycles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    /// The current configuration: observed and predicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CurrentKpis>,
    /// The pending recommendation in one line (`r-3: hpa/frontend minReplicas 2->4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    /// Recommendations, newest last (the last 10 are kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<Recommendation>,
    /// The last cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cycle: Option<CycleSummary>,
}

/// The fitted model, one line per service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    /// When it was fitted.
    pub fitted_at: Time,
    /// The entry's request rate the twin simulates, per second.
    pub requests_per_second: f64,
    /// One entry per service.
    pub services: Vec<ServiceFit>,
    /// What the import and the build found questionable (a default used, an HPA that
    /// cannot work), at most [`MAX_WARNINGS`] of them, the last line saying how many more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The most warnings [`ModelSummary::warnings`] lists.
pub const MAX_WARNINGS: usize = 20;

/// One service's fitted service time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceFit {
    /// The service (workload) name.
    pub name: String,
    /// The best family (`logNormal`, `gamma`, ...), or `configMap` when given.
    pub family: String,
    /// Fitted mean, in milliseconds.
    pub mean_ms: f64,
    /// Fitted p99, in milliseconds.
    pub p99_ms: f64,
    /// Inbound requests per second.
    pub requests_per_second: f64,
}

/// Prediction error of the current configuration, over the last cycles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accuracy {
    /// Cycles compared.
    pub cycles: i32,
    /// Mean absolute error of the predicted mean, in percent of the observed.
    pub mean_error_pct: f64,
    /// Mean absolute error of the predicted p99, in percent of the observed.
    pub p99_error_pct: f64,
}

/// The current configuration's response times at the entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentKpis {
    /// As Prometheus measured them over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Kpis>,
    /// As the twin predicts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Kpis>,
}

/// Response times (strings with units, as `kubectl get` shows them, e.g. `41.2ms`) and
/// their numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Kpis {
    /// Mean, e.g. `21.4ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<String>,
    /// 99th percentile, e.g. `41.2ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<String>,
    /// Mean, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_ms: Option<f64>,
    /// 99th percentile, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Half-width of the 95% confidence interval of `p99Ms` (predictions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ci95_ms: Option<f64>,
    /// Cost per hour of the pods (predictions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_hour: Option<f64>,
}

/// A proposed change, its evidence, and where it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// `r-<n>`, unique within the experiment.
    pub id: String,
    /// `Pending`, `Approved`, `Applied`, `Superseded` or `RolledBack`.
    pub state: RecommendationState,
    /// When it was made.
    pub created_at: Time,
    /// The change in one line.
    pub summary: String,
    /// The objects to patch (server-side apply, field manager `kubetwin`).
    pub patches: Vec<PatchSpec>,
    /// What the patched fields held before the apply; set when applied, used by rollback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<PatchSpec>,
    /// The twin's prediction for the proposed configuration.
    pub predicted: Kpis,
    /// Proposed minus current cost per hour (negative: cheaper).
    pub cost_delta_per_hour: f64,
    /// The command that approves it.
    pub approve: String,
    /// When it was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<Time>,
    /// After an apply: the observed p99 and its error against the prediction, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// A recommendation's life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RecommendationState {
    /// Waiting for approval.
    Pending,
    /// Approved; being applied.
    Approved,
    /// Applied to the cluster.
    Applied,
    /// A newer recommendation replaced it before it was approved.
    Superseded,
    /// Applied, then undone.
    RolledBack,
}

/// One object's server-side-apply patch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchSpec {
    /// `apps/v1`, `autoscaling/v2`.
    pub api_version: String,
    /// `Deployment`, `HorizontalPodAutoscaler`.
    pub kind: String,
    /// The object's name in the target namespace.
    pub name: String,
    /// The apply configuration as YAML (only the fields that change, plus identity).
    pub apply: String,
}

/// What happened after an apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The p99 Prometheus observed after the apply, in milliseconds.
    pub observed_p99_ms: f64,
    /// (predicted - observed) / observed, in percent.
    pub p99_error_pct: f64,
}

/// The last cycle's cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleSummary {
    /// When it finished.
    pub finished_at: Time,
    /// Its wall time, in seconds.
    pub seconds: f64,
    /// Configurations simulated (each with the budget's replications).
    pub configurations: i32,
    /// Whether it ran past `budget.maxCycleSeconds` and was cut short.
    pub over_budget: bool,
    /// A hash of the target's configuration it simulated (workload and HPA generations,
    /// Services, node labels); a change starts a new cycle before the cadence.
    pub fingerprint: String,
}
