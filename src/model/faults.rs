//! Chaos on the twin: faults a Simulation injects at scheduled times, and the users' retry
//! policy that decides what a failed request costs them.
//!
//! ```yaml
//! faults:
//!   - {type: podKill, deployment: ms2, atSeconds: 30}
//!   - {type: podKill, deployment: ms1, ratePerPodPerHour: 6}
//!   - {type: containerCrash, deployment: ms1, lifetime: {type: constant, value: 60000}}
//!   - {type: nodeFailure, node: local-dc-pool-3, atSeconds: 40, durationSeconds: 60}
//!   - {type: outage, location: eu-south-1, atSeconds: 60, durationSeconds: 30}
//!   - {type: linkDegradation, from: eu-south-1, to: eu-central-1, atSeconds: 10,
//!      durationSeconds: 20, multiplier: 2, addedMs: 5}
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dist::DistSpec;

/// A fault, written `{type: <kind>, ...}`. Times are seconds of simulated time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultSpec {
    /// Kill pods of a Deployment, either `count` of them at `atSeconds` (chosen at random
    /// among its scheduled pods) or each pod after an exponential lifetime with
    /// `ratePerPodPerHour`. The pods are deleted; their ReplicaSet replaces them through the
    /// scheduler.
    #[serde(rename_all = "camelCase")]
    PodKill {
        /// The Deployment's name.
        deployment: String,
        /// When to kill.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_seconds: Option<f64>,
        /// With `atSeconds`: how many pods (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        /// Instead of `atSeconds`: crashes per pod per hour of its life (> 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_per_pod_per_hour: Option<f64>,
    },
    /// The containers of a Deployment's pods crash and, as under `restartPolicy: Always`,
    /// the kubelet restarts them in place (same pod, same node) after the CrashLoopBackOff
    /// delay. Either `count` running containers at `atSeconds` (chosen at random), or every
    /// container after a lifetime: exponential with `ratePerPodPerHour`, or drawn from
    /// `lifetime`.
    #[serde(rename_all = "camelCase")]
    ContainerCrash {
        /// The Deployment's name.
        deployment: String,
        /// When to crash.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_seconds: Option<f64>,
        /// With `atSeconds`: how many containers (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        /// Instead of `atSeconds`: crashes per container per hour of running (> 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_per_pod_per_hour: Option<f64>,
        /// Instead of `atSeconds`: how long each container runs until it crashes, in
        /// milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lifetime: Option<DistSpec>,
    },
    /// A node fails as Kubernetes sees it: it stops answering at once (its pods stay
    /// endpoints; calls to them are lost), the node lifecycle controller marks it `NotReady`
    /// after the node monitor grace period (its pods leave the endpoints; it gets the
    /// `node.kubernetes.io/unreachable:NoSchedule` taint) and gives it the
    /// `unreachable:NoExecute` taint as fast as its zone's eviction rate allows (not at all
    /// while most of a small zone, or every zone, is down), and its pods are evicted after
    /// their toleration of that taint (300 s by default), when their ReplicaSet replaces
    /// them elsewhere.
    #[serde(rename_all = "camelCase")]
    NodeFailure {
        /// The node's name.
        node: String,
        /// When it fails.
        at_seconds: f64,
        /// How long until it recovers (default: never).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<f64>,
        /// kube-controller-manager's `--node-monitor-grace-period` for this fault, in
        /// seconds (default: the Simulation's `nodeMonitorGracePeriodSeconds`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node_monitor_grace_period_seconds: Option<f64>,
    },
    /// Every node of a location or of a cluster fails for an interval (exactly one of
    /// `location` and `cluster`), each as in `nodeFailure`.
    #[serde(rename_all = "camelCase")]
    Outage {
        /// A location of the Topology.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        /// A cluster of the Topology.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster: Option<String>,
        /// When it starts.
        at_seconds: f64,
        /// How long until it ends (default: never).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<f64>,
        /// As for `nodeFailure`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node_monitor_grace_period_seconds: Option<f64>,
    },
    /// The latency from `from` to `to` becomes `multiplier × RV(from, to) + addedMs` for an
    /// interval (both directions unless `symmetric: false`).
    #[serde(rename_all = "camelCase")]
    LinkDegradation {
        /// Sending location.
        from: String,
        /// Receiving location.
        to: String,
        /// When it starts.
        at_seconds: f64,
        /// How long until it ends (default: never).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<f64>,
        /// Factor on each sampled latency (>= 0, default 1).
        #[serde(default = "one")]
        multiplier: f64,
        /// Milliseconds added to each sampled latency (>= 0, default 0).
        #[serde(default)]
        added_ms: f64,
        /// Degrade `to -> from` as well (default true).
        #[serde(default = "yes")]
        symmetric: bool,
    },
}

/// What users do when an attempt fails or takes too long (Istio's `retries` semantics):
/// an attempt answered with an error, or unanswered after `perTryTimeoutMs`, is retried
/// after `backoffMs`, at most `attempts` times. An abandoned attempt keeps running in the
/// cluster; its late answer is dropped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrySpec {
    /// Retries after the first attempt (default 0).
    #[serde(default)]
    pub attempts: u32,
    /// Give up on an attempt after this many milliseconds (default: wait forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout_ms: Option<f64>,
    /// Wait between an attempt's failure and the next attempt, in milliseconds (default 0).
    #[serde(default)]
    pub backoff_ms: f64,
}

/// How long a pod created during the run takes to become ready. Pods of the initial
/// replicas are ready at time zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartupSpec {
    /// From binding to a node to the container running (sandbox, image pull, start), in
    /// milliseconds (default 0). Until then the pod is `Pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<DistSpec>,
    /// From the container running to `Ready` (readiness probe), in milliseconds (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<DistSpec>,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}
