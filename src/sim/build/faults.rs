//! Faults of the Simulation and the Workload's retry policy.

use std::collections::BTreeMap;

use crate::model::dist::DistSpec;
use crate::model::faults::FaultSpec;
use crate::model::kinds::{SimulationSpec, WorkloadSpec};
use crate::model::{Doc, Object, ScenarioError};
use crate::sim::time::SimTime;
use crate::sim::world::{DeploymentDef, Fault, FaultKind, NodeDef, NodeLifecycle, RetryPolicy};

use super::{dist, join};

/// kube-controller-manager's default `--node-monitor-grace-period`, in seconds: 50 since
/// Kubernetes v1.32 (kubernetes/kubernetes#126287), 40 before.
const NODE_MONITOR_GRACE_PERIOD_SECONDS: f64 = 50.0;

/// kube-controller-manager's defaults for the node lifecycle controller's other flags:
/// `--node-monitor-period` 5 s, `--node-eviction-rate` 0.1, `--secondary-node-eviction-rate`
/// 0.01, `--unhealthy-zone-threshold` 0.55, `--large-cluster-size-threshold` 50.
const DEFAULT_NODE_LIFECYCLE: NodeLifecycle = NodeLifecycle {
    monitor_period: SimTime(5_000_000_000),
    eviction_rate: 0.1,
    secondary_eviction_rate: 0.01,
    unhealthy_zone_threshold: 0.55,
    large_cluster_size_threshold: 50,
};

/// The names faults refer to.
pub(super) struct Names<'a> {
    pub locations: &'a BTreeMap<String, u32>,
    pub clusters: &'a BTreeMap<String, u32>,
    pub nodes: &'a [NodeDef],
}

/// Resolves `spec.faults`, sorted by start time; rate-based pod kills become each
/// Deployment's `kill_rate`, container crashes with a rate or a lifetime its
/// `crash_lifetime`.
pub(super) fn faults(
    sim: &Doc<Object<SimulationSpec>>,
    sname: &str,
    names: &Names<'_>,
    deployments: &mut [DeploymentDef],
) -> Result<Vec<Fault>, ScenarioError> {
    let grace_default = match sim.object.spec.node_monitor_grace_period_seconds {
        None => SimTime::from_secs(NODE_MONITOR_GRACE_PERIOD_SECONDS),
        Some(g) => {
            grace(g).map_err(|m| sim.invalid(sname, "spec.nodeMonitorGracePeriodSeconds", m))?
        }
    };
    let mut out = Vec::new();
    for (i, f) in sim.object.spec.faults.iter().enumerate() {
        let field = format!("spec.faults[{i}]");
        let invalid = |suffix: &str, message: String| {
            sim.invalid(sname, format!("{field}.{suffix}"), message)
        };
        let at = |value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(SimTime::from_secs(value))
            } else {
                Err(invalid(
                    "atSeconds",
                    format!("must be >= 0 seconds, got {value}"),
                ))
            }
        };
        let until = |start: SimTime, duration: Option<f64>| match duration {
            None => Ok(None),
            Some(d) if d.is_finite() && d > 0.0 => Ok(Some(start + SimTime::from_secs(d))),
            Some(d) => Err(invalid(
                "durationSeconds",
                format!("must be > 0 seconds, got {d}"),
            )),
        };
        let deployment_id = |deployments: &[DeploymentDef], name: &str| {
            deployments
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| {
                    invalid(
                        "deployment",
                        format!(
                            "no Deployment named {name:?} (known: {})",
                            join(deployments.iter().map(|d| &d.name))
                        ),
                    )
                })
        };
        let grace_of = |g: Option<f64>| match g {
            None => Ok(grace_default),
            Some(g) => grace(g).map_err(|m| invalid("nodeMonitorGracePeriodSeconds", m)),
        };
        let fault = match f {
            FaultSpec::PodKill {
                deployment,
                at_seconds,
                count,
                rate_per_pod_per_hour,
            } => {
                let d = deployment_id(deployments, deployment)?;
                match (at_seconds, rate_per_pod_per_hour) {
                    (Some(t), None) => {
                        let count = count.unwrap_or(1);
                        if count == 0 {
                            return Err(invalid("count", "must be >= 1".into()));
                        }
                        let start = at(*t)?;
                        Fault {
                            at: start,
                            until: None,
                            kind: FaultKind::KillPods {
                                deployment: d as u32,
                                count,
                            },
                            target: format!("deployment {deployment}"),
                        }
                    }
                    (None, Some(rate)) if count.is_none() => {
                        if !(rate.is_finite() && *rate > 0.0) {
                            return Err(invalid(
                                "ratePerPodPerHour",
                                format!("must be > 0, got {rate}"),
                            ));
                        }
                        deployments[d].kill_rate += rate / 3600.0;
                        continue;
                    }
                    _ => {
                        return Err(sim.invalid(
                            sname,
                            field,
                            "needs exactly one of `atSeconds` (with an optional `count`) and `ratePerPodPerHour`",
                        ));
                    }
                }
            }
            FaultSpec::ContainerCrash {
                deployment,
                at_seconds,
                count,
                rate_per_pod_per_hour,
                lifetime,
            } => {
                let d = deployment_id(deployments, deployment)?;
                let life = match (at_seconds, rate_per_pod_per_hour, lifetime, count) {
                    (Some(t), None, None, _) => {
                        let count = count.unwrap_or(1);
                        if count == 0 {
                            return Err(invalid("count", "must be >= 1".into()));
                        }
                        let start = at(*t)?;
                        out.push(Fault {
                            at: start,
                            until: None,
                            kind: FaultKind::CrashContainers {
                                deployment: d as u32,
                                count,
                            },
                            target: format!("deployment {deployment}"),
                        });
                        continue;
                    }
                    (None, Some(rate), None, None) => {
                        if !(rate.is_finite() && *rate > 0.0) {
                            return Err(invalid(
                                "ratePerPodPerHour",
                                format!("must be > 0, got {rate}"),
                            ));
                        }
                        let mean_ms = DistSpec::Exponential {
                            mean: 3600e3 / rate,
                        };
                        dist(sim, sname, &format!("{field}.ratePerPodPerHour"), &mean_ms)?
                    }
                    (None, None, Some(spec), None) => {
                        dist(sim, sname, &format!("{field}.lifetime"), spec)?
                    }
                    _ => {
                        return Err(sim.invalid(
                            sname,
                            field,
                            "needs exactly one of `atSeconds` (with an optional `count`), \
                             `ratePerPodPerHour` and `lifetime`",
                        ));
                    }
                };
                if deployments[d].crash_lifetime.is_some() {
                    return Err(sim.invalid(
                        sname,
                        field,
                        format!(
                            "a second crash lifetime for Deployment {deployment:?}: give one \
                             `containerCrash` with a rate or a lifetime per Deployment"
                        ),
                    ));
                }
                deployments[d].crash_lifetime = Some(life);
                continue;
            }
            FaultSpec::NodeFailure {
                node,
                at_seconds,
                duration_seconds,
                node_monitor_grace_period_seconds,
            } => {
                let n = names
                    .nodes
                    .iter()
                    .position(|n| &n.name == node)
                    .ok_or_else(|| invalid("node", format!("no node named {node:?}")))?;
                let start = at(*at_seconds)?;
                Fault {
                    at: start,
                    until: until(start, *duration_seconds)?,
                    kind: FaultKind::NodesDown {
                        nodes: vec![n as u32],
                        grace: grace_of(*node_monitor_grace_period_seconds)?,
                    },
                    target: format!("node {node}"),
                }
            }
            FaultSpec::Outage {
                location,
                cluster,
                at_seconds,
                duration_seconds,
                node_monitor_grace_period_seconds,
            } => {
                let (target, nodes): (String, Vec<u32>) = match (location, cluster) {
                    (Some(l), None) => {
                        let id = lookup(names.locations, l, "location")
                            .map_err(|m| invalid("location", m))?;
                        (
                            format!("location {l}"),
                            nodes_where(names.nodes, |n| n.location == id),
                        )
                    }
                    (None, Some(c)) => {
                        let id = lookup(names.clusters, c, "cluster")
                            .map_err(|m| invalid("cluster", m))?;
                        (
                            format!("cluster {c}"),
                            nodes_where(names.nodes, |n| n.cluster == id),
                        )
                    }
                    _ => {
                        return Err(sim.invalid(
                            sname,
                            field,
                            "needs exactly one of `location` and `cluster`",
                        ));
                    }
                };
                let start = at(*at_seconds)?;
                Fault {
                    at: start,
                    until: until(start, *duration_seconds)?,
                    kind: FaultKind::NodesDown {
                        nodes,
                        grace: grace_of(*node_monitor_grace_period_seconds)?,
                    },
                    target,
                }
            }
            FaultSpec::LinkDegradation {
                from,
                to,
                at_seconds,
                duration_seconds,
                multiplier,
                added_ms,
                symmetric,
            } => {
                let size = names.locations.len();
                let a = lookup(names.locations, from, "location").map_err(|m| invalid("from", m))?
                    as usize;
                let b =
                    lookup(names.locations, to, "location").map_err(|m| invalid("to", m))? as usize;
                if !(multiplier.is_finite() && *multiplier >= 0.0) {
                    return Err(invalid(
                        "multiplier",
                        format!("must be >= 0, got {multiplier}"),
                    ));
                }
                if !(added_ms.is_finite() && *added_ms >= 0.0) {
                    return Err(invalid(
                        "addedMs",
                        format!("must be >= 0 milliseconds, got {added_ms}"),
                    ));
                }
                let mut pairs = vec![a * size + b];
                if *symmetric && a != b {
                    pairs.push(b * size + a);
                }
                let start = at(*at_seconds)?;
                Fault {
                    at: start,
                    until: until(start, *duration_seconds)?,
                    kind: FaultKind::Link {
                        pairs,
                        multiplier: *multiplier,
                        added_ms: *added_ms,
                    },
                    target: format!("link {from} -> {to}"),
                }
            }
        };
        out.push(fault);
    }
    out.sort_by_key(|f| f.at);
    Ok(out)
}

/// The node lifecycle controller's settings: the Simulation's `nodeMonitorPeriodSeconds`,
/// `nodeEvictionRate`, `secondaryNodeEvictionRate`, `unhealthyZoneThreshold` and
/// `largeClusterSizeThreshold`, with kube-controller-manager's defaults.
pub(super) fn node_lifecycle(
    sim: &Doc<Object<SimulationSpec>>,
    sname: &str,
) -> Result<NodeLifecycle, ScenarioError> {
    let spec = &sim.object.spec;
    let d = DEFAULT_NODE_LIFECYCLE;
    let at_least_zero = |value: Option<f64>, default: f64, field: &str| match value {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Some(v) => Err(sim.invalid(sname, field, format!("must be >= 0, got {v}"))),
    };
    let monitor_period = match spec.node_monitor_period_seconds {
        None => d.monitor_period,
        Some(p) if p.is_finite() && SimTime::from_secs(p) > SimTime::ZERO => SimTime::from_secs(p),
        Some(p) => {
            return Err(sim.invalid(
                sname,
                "spec.nodeMonitorPeriodSeconds",
                format!("must be > 0 seconds, got {p}"),
            ));
        }
    };
    Ok(NodeLifecycle {
        monitor_period,
        eviction_rate: at_least_zero(
            spec.node_eviction_rate,
            d.eviction_rate,
            "spec.nodeEvictionRate",
        )?,
        secondary_eviction_rate: at_least_zero(
            spec.secondary_node_eviction_rate,
            d.secondary_eviction_rate,
            "spec.secondaryNodeEvictionRate",
        )?,
        unhealthy_zone_threshold: at_least_zero(
            spec.unhealthy_zone_threshold,
            d.unhealthy_zone_threshold,
            "spec.unhealthyZoneThreshold",
        )?,
        large_cluster_size_threshold: spec
            .large_cluster_size_threshold
            .unwrap_or(d.large_cluster_size_threshold),
    })
}

/// A node monitor grace period in seconds, `>= 0`.
fn grace(seconds: f64) -> Result<SimTime, String> {
    if seconds.is_finite() && seconds >= 0.0 {
        Ok(SimTime::from_secs(seconds))
    } else {
        Err(format!("must be >= 0 seconds, got {seconds}"))
    }
}

fn lookup(ids: &BTreeMap<String, u32>, name: &str, what: &str) -> Result<u32, String> {
    ids.get(name)
        .copied()
        .ok_or_else(|| format!("unknown {what} {name:?} (known: {})", join(ids.keys())))
}

fn nodes_where(nodes: &[NodeDef], keep: impl Fn(&NodeDef) -> bool) -> Vec<u32> {
    (0..nodes.len() as u32)
        .filter(|&i| keep(&nodes[i as usize]))
        .collect()
}

/// The Workload's `retries`.
pub(super) fn retry_policy(
    workload: &Doc<Object<WorkloadSpec>>,
    wname: &str,
) -> Result<RetryPolicy, ScenarioError> {
    let Some(r) = &workload.object.spec.retries else {
        return Ok(RetryPolicy::default());
    };
    let ms = |value: f64, field: &str, positive: bool| {
        if value.is_finite() && (value > 0.0 || (!positive && value == 0.0)) {
            Ok(SimTime::from_millis(value))
        } else {
            let bound = if positive { "> 0" } else { ">= 0" };
            Err(workload.invalid(
                wname,
                format!("spec.retries.{field}"),
                format!("must be {bound} milliseconds, got {value}"),
            ))
        }
    };
    Ok(RetryPolicy {
        attempts: r.attempts,
        per_try_timeout: r
            .per_try_timeout_ms
            .map(|t| ms(t, "perTryTimeoutMs", true))
            .transpose()?,
        backoff: ms(r.backoff_ms, "backoffMs", false)?,
    })
}
