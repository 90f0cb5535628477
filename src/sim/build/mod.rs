//! Validation of a [`Scenario`] into the engine's [`World`]: resolves every name (locations,
//! clusters, Services by DNS name, Deployments), checks the call graph for cycles and the
//! latency matrix for missing pairs, and validates every distribution. Never panics; each
//! error names the object, its file and line, and the field path.

use std::collections::BTreeMap;

mod faults;
mod pods;
mod services;
mod topology;
mod workload;

use crate::fit::Distribution;
use crate::model::dist::DistSpec;
use crate::model::{Doc, Scenario, ScenarioError};
use crate::sim::autoscaler::{DEFAULT_METRIC_RESOLUTION, MetricsServer, autoscaler_from_hpa};
use crate::sim::time::SimTime;
use crate::sim::world::{
    Cluster, FlowDef, Location, Network, NodeDef, Process, RequestType, ServiceDef, Settings, World,
};
use services::{check_cycles, cpu_request_warnings, deployments, dns_names, services};
use topology::{capacity, check_latency_pairs, node};
use workload::flows;

/// The Service annotation that selects the load-balancing policy.
pub const LB_ANNOTATION: &str = "kubetwin.io/load-balancing";
/// The Node annotation with the node's price per hour.
pub const PRICE_ANNOTATION: &str = "kubetwin.io/price-per-hour";
/// The Node annotation naming the node's Topology location (default: its region label).
pub const LOCATION_ANNOTATION: &str = "kubetwin.io/location";
/// The node label naming the node's cluster.
pub const CLUSTER_LABEL: &str = "kubetwin.io/cluster";
/// The node label with the node's location tier.
pub const TIER_LABEL: &str = "kubetwin.io/tier";
/// The well-known node label naming the node's region (its location).
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Run-time overrides that are not plain field changes.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// Replace the seed.
    pub seed: Option<u64>,
    /// Stop after this many arrivals in total; flows' own request limits are lifted.
    pub requests: Option<u64>,
}

/// Checks `scenario` and builds the engine's world.
///
/// # Errors
/// The first inconsistency found, naming object, file, line and field.
pub fn build(scenario: &Scenario, options: BuildOptions) -> Result<World, ScenarioError> {
    let topo = &scenario.topology;
    let tname = format!("Topology/{}", name_of(&topo.object.metadata.name));
    let spec = &topo.object.spec;

    let mut locations = Vec::new();
    let mut location_ids = BTreeMap::new();
    for (i, l) in spec.locations.iter().enumerate() {
        if location_ids.insert(l.name.clone(), i as u32).is_some() {
            return Err(topo.invalid(
                &tname,
                format!("spec.locations[{i}].name"),
                format!("duplicate location {:?}", l.name),
            ));
        }
        locations.push(Location {
            name: l.name.clone(),
            tier: l.tier,
        });
    }
    let location = |name: &str, field: String| {
        location_ids.get(name).copied().ok_or_else(|| {
            topo.invalid(
                &tname,
                field,
                format!(
                    "unknown location {name:?} (known: {})",
                    join(location_ids.keys())
                ),
            )
        })
    };

    let mut clusters = Vec::new();
    let mut cluster_ids = BTreeMap::new();
    let mut nodes = Vec::new();
    for (ci, c) in spec.clusters.iter().enumerate() {
        let field = format!("spec.clusters[{ci}]");
        let loc = location(&c.location, format!("{field}.location"))?;
        if cluster_ids.insert(c.name.clone(), ci as u32).is_some() {
            return Err(topo.invalid(
                &tname,
                format!("{field}.name"),
                format!("duplicate cluster {:?}", c.name),
            ));
        }
        clusters.push(Cluster {
            name: c.name.clone(),
            location: loc,
        });
        for (pi, pool) in c.node_pools.iter().enumerate() {
            let field = format!("{field}.nodePools[{pi}]");
            let capacity = capacity(&pool.capacity)
                .map_err(|m| topo.invalid(&tname, format!("{field}.capacity"), m))?;
            if !(pool.price_per_hour.is_finite() && pool.price_per_hour >= 0.0) {
                return Err(topo.invalid(
                    &tname,
                    format!("{field}.pricePerHour"),
                    "must be a number >= 0",
                ));
            }
            for n in 0..pool.count {
                let name = format!("{}-{}-{n}", c.name, pool.name);
                let mut labels = pool.labels.clone();
                labels.insert("kubernetes.io/hostname".into(), name.clone());
                labels.insert(REGION_LABEL.into(), c.location.clone());
                labels.insert(CLUSTER_LABEL.into(), c.name.clone());
                labels.insert(TIER_LABEL.into(), locations[loc as usize].tier.to_string());
                nodes.push(NodeDef {
                    name,
                    cluster: ci as u32,
                    location: loc,
                    labels,
                    taints: pool.taints.clone(),
                    capacity,
                    price_per_hour: pool.price_per_hour,
                    unschedulable: false,
                });
            }
        }
    }
    for doc in &scenario.nodes {
        nodes.push(node(
            doc,
            &location_ids,
            &mut clusters,
            &mut cluster_ids,
            &locations,
        )?);
    }

    let links_field = "spec.latency.links";
    let size = locations.len();
    let mut links: Vec<Option<Distribution>> = vec![None; size * size];
    let mut explicit = vec![false; size * size];
    for (i, link) in spec.latency.links.iter().enumerate() {
        let field = format!("{links_field}[{i}]");
        let from = location(&link.from, format!("{field}.from"))? as usize;
        let to = location(&link.to, format!("{field}.to"))? as usize;
        let d = dist(
            topo,
            &tname,
            &format!("{field}.distribution"),
            &link.distribution,
        )?;
        if explicit[from * size + to] {
            return Err(topo.invalid(
                &tname,
                field,
                format!("a second link from {} to {}", link.from, link.to),
            ));
        }
        explicit[from * size + to] = true;
        if link.symmetric && !explicit[to * size + from] {
            links[to * size + from] = Some(d.clone());
        }
        links[from * size + to] = Some(d);
    }
    let intra_cluster = dist(
        topo,
        &tname,
        "spec.latency.intraCluster",
        &spec.latency.intra_cluster,
    )?;
    let network = Network {
        size,
        links,
        intra_cluster,
    };

    let workload = &scenario.workload;
    let wname = format!("Workload/{}", name_of(&workload.object.metadata.name));
    let user_location = location_ids
        .get(&workload.object.spec.user_location)
        .copied()
        .ok_or_else(|| {
            workload.invalid(
                &wname,
                "spec.userLocation",
                format!(
                    "unknown location {:?} (known: {})",
                    workload.object.spec.user_location,
                    join(location_ids.keys())
                ),
            )
        })?;
    check_latency_pairs(topo, &tname, &network, &locations, &nodes, user_location)?;

    let mut autoscalers = Vec::new();
    for doc in &scenario.autoscalers {
        let object = format!(
            "HorizontalPodAutoscaler/{}",
            name_of(&doc.object.metadata.name)
        );
        let autoscaler = autoscaler_from_hpa(&doc.object)
            .map_err(|e| doc.invalid(&object, e.path.clone(), e.problem.to_string()))?;
        let known = scenario
            .deployments
            .iter()
            .any(|d| d.object.metadata.name.as_deref() == Some(autoscaler.target.as_str()));
        if !known {
            return Err(doc.invalid(
                &object,
                "spec.scaleTargetRef.name",
                format!(
                    "no Deployment named {:?} in the scenario",
                    autoscaler.target
                ),
            ));
        }
        if let Some(other) = autoscalers
            .iter()
            .find(|a: &&crate::sim::autoscaler::Autoscaler| a.target == autoscaler.target)
        {
            return Err(doc.invalid(
                &object,
                "spec.scaleTargetRef.name",
                format!(
                    "Deployment {:?} is already scaled by HorizontalPodAutoscaler/{} \
                     (Kubernetes refuses ambiguous autoscalers too)",
                    autoscaler.target, other.name
                ),
            ));
        }
        autoscalers.push(autoscaler);
    }
    let services = services(scenario)?;
    let dns = dns_names(scenario);
    let mut deployments = deployments(scenario, &dns)?;
    for (si, svc) in services.iter().enumerate() {
        if svc.deployments.is_empty() {
            let doc = &scenario.services[si];
            return Err(doc.invalid(
                &format!("Service/{}", svc.name),
                "spec.selector",
                "selects no Deployment's pods",
            ));
        }
    }
    let services: Vec<ServiceDef> = services;
    pods::initial_pods(scenario, &mut deployments, &nodes)?;
    for d in &mut deployments {
        d.steps.shrink_to_fit();
    }
    check_cycles(scenario, &deployments, &services)?;
    check_described_objects(scenario, &autoscalers, &deployments, &services)?;

    let w = &workload.object.spec;
    if w.request_types.is_empty() {
        return Err(workload.invalid(
            &wname,
            "spec.requestTypes",
            "needs at least one request type",
        ));
    }
    let total: f64 = w.request_types.iter().map(|t| t.weight).sum();
    let mut cumulative = 0.0;
    let mut request_types = Vec::new();
    for (i, t) in w.request_types.iter().enumerate() {
        let field = format!("spec.requestTypes[{i}]");
        if !(t.weight.is_finite() && t.weight > 0.0) {
            return Err(workload.invalid(
                &wname,
                format!("{field}.weight"),
                format!("must be > 0, got {}", t.weight),
            ));
        }
        let entry = *dns.get(t.entry.as_str()).ok_or_else(|| {
            workload.invalid(
                &wname,
                format!("{field}.entry"),
                format!("unknown service {:?}", t.entry),
            )
        })?;
        cumulative += t.weight / total;
        request_types.push(RequestType {
            name: t.name.clone(),
            entry,
            cumulative,
        });
    }
    if let Some(last) = request_types.last_mut() {
        last.cumulative = 1.0;
    }

    let sim = &scenario.simulation;
    let sname = format!("Simulation/{}", name_of(&sim.object.metadata.name));
    let s = &sim.object.spec;
    let seconds = |value: f64, field: &str, positive: bool| {
        if value.is_finite() && (value > 0.0 || (!positive && value == 0.0)) {
            Ok(SimTime::from_secs(value))
        } else {
            let bound = if positive { "> 0" } else { ">= 0" };
            Err(sim.invalid(
                &sname,
                field,
                format!("must be {bound} seconds, got {value}"),
            ))
        }
    };
    let mut settings = Settings {
        seed: options.seed.unwrap_or(s.seed),
        warmup: seconds(s.warmup_seconds, "spec.warmupSeconds", false)?,
        cooldown: seconds(s.cooldown_seconds, "spec.cooldownSeconds", false)?,
        stop_requests: s.stop.requests,
        stop_time: s
            .stop
            .time_seconds
            .map(|t| seconds(t, "spec.stop.timeSeconds", true))
            .transpose()?,
        interval: seconds(
            s.statistics_interval_seconds,
            "spec.statisticsIntervalSeconds",
            true,
        )?,
    };
    if settings.interval == SimTime::ZERO {
        return Err(sim.invalid(
            &sname,
            "spec.statisticsIntervalSeconds",
            "must be at least 1 nanosecond",
        ));
    }
    if settings.stop_requests == Some(0) {
        return Err(sim.invalid(&sname, "spec.stop.requests", "must be > 0"));
    }
    let mut flows = flows(workload, &wname)?;
    if let Some(n) = options.requests {
        settings.stop_requests = Some(n);
        for f in &mut flows {
            f.requests = None;
        }
    }
    let bounded = |f: &FlowDef| {
        f.requests.is_some() || f.end.is_some() || matches!(f.process, Process::Trace(_))
    };
    if settings.stop_requests.is_none()
        && settings.stop_time.is_none()
        && let Some(i) = flows.iter().position(|f| !bounded(f))
    {
        return Err(workload.invalid(
            &wname,
            format!("spec.flows[{i}]"),
            "never ends: give `requests` or `endSeconds`, or a stop condition in the Simulation",
        ));
    }
    crate::sim::scheduler::Scheduler::new(&s.scheduler)
        .map_err(|e| sim.invalid(&sname, "spec.scheduler", e.to_string()))?;
    let names = faults::Names {
        locations: &location_ids,
        clusters: &cluster_ids,
        nodes: &nodes,
    };
    let faults = faults::faults(sim, &sname, &names, &mut deployments)?;
    let node_lifecycle = faults::node_lifecycle(sim, &sname)?;
    let retry = faults::retry_policy(workload, &wname)?;
    let metrics_server = metrics_server(sim, &sname)?;
    let warnings = cpu_request_warnings(scenario, &autoscalers, &deployments);

    Ok(World {
        autoscalers,
        metrics_server,
        warnings,
        faults,
        node_lifecycle,
        retry,
        locations,
        clusters,
        nodes,
        network,
        deployments,
        services,
        request_types,
        flows,
        user_location,
        settings,
        scheduler: s.scheduler.clone(),
    })
}

/// The Simulation's `spec.metricsServer`, with metrics-server's defaults.
fn metrics_server(
    sim: &Doc<crate::model::kinds::Object<crate::model::kinds::SimulationSpec>>,
    sname: &str,
) -> Result<MetricsServer, ScenarioError> {
    let spec = sim.object.spec.metrics_server.clone().unwrap_or_default();
    let field = "spec.metricsServer.metricResolutionSeconds";
    let resolution = match spec.metric_resolution_seconds {
        None => DEFAULT_METRIC_RESOLUTION,
        Some(r) if r.is_finite() && r >= 1e-3 => SimTime::from_secs(r),
        Some(r) => {
            let message = format!("must be at least 0.001 seconds, got {r}");
            return Err(sim.invalid(sname, field, message));
        }
    };
    let offset = match spec.scrape_offset_seconds {
        None => Some(SimTime(resolution.0 / 2)),
        Some(o) if o.is_finite() && o >= 0.0 => Some(SimTime::from_secs(o)),
        Some(_) => None,
    };
    offset
        .and_then(|offset| MetricsServer::new(resolution, offset))
        .ok_or_else(|| {
            let message = format!(
                "must be >= 0 and less than the metric resolution ({} s)",
                resolution.as_secs()
            );
            sim.invalid(sname, "spec.metricsServer.scrapeOffsetSeconds", message)
        })
}

/// Every Object metric must describe a Deployment or Service of the scenario.
fn check_described_objects(
    scenario: &Scenario,
    autoscalers: &[crate::sim::autoscaler::Autoscaler],
    deployments: &[crate::sim::world::DeploymentDef],
    services: &[ServiceDef],
) -> Result<(), ScenarioError> {
    use crate::sim::autoscaler::{HpaMetric, ObjectKind, Rule};
    for (a, doc) in autoscalers.iter().zip(&scenario.autoscalers) {
        let Rule::Kubernetes(rule) = &a.rule else {
            continue;
        };
        for (i, metric) in rule.metrics.iter().enumerate() {
            let HpaMetric::Object { object, .. } = metric else {
                continue;
            };
            let (kind, known) = match object.kind {
                ObjectKind::Deployment => (
                    "Deployment",
                    deployments.iter().any(|d| d.name == object.name),
                ),
                ObjectKind::Service => ("Service", services.iter().any(|s| s.name == object.name)),
            };
            if !known {
                return Err(doc.invalid(
                    &format!("HorizontalPodAutoscaler/{}", a.name),
                    format!("spec.metrics[{i}].object.describedObject.name"),
                    format!("no {kind} named {:?} in the scenario", object.name),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn name_of(name: &Option<String>) -> &str {
    name.as_deref().unwrap_or("")
}

pub(super) fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

pub(super) fn dist<T>(
    doc: &Doc<T>,
    object: &str,
    field: &str,
    spec: &DistSpec,
) -> Result<Distribution, ScenarioError> {
    Distribution::for_simulation(spec, &doc.base_dir).map_err(|e| {
        let inner = e.path();
        let path = if inner.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{inner}")
        };
        doc.invalid(object, path, e.message())
    })
}
