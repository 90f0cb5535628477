//! Validation of a [`Scenario`] into the engine's [`World`]: resolves every name (locations,
//! clusters, Services by DNS name, Deployments), checks the call graph for cycles and the
//! latency matrix for missing pairs, and validates every distribution. Never panics; each
//! error names the object, its file and line, and the field path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::autoscaler::autoscaler_from_hpa;
use super::time::SimTime;
use super::world::{
    Cluster, DeploymentDef, FlowDef, LbPolicy, Location, Network, NodeDef, Process, RequestType,
    ServiceDef, Settings, Step, World,
};
use crate::fit::Distribution;
use crate::k8s::quantity;
use crate::model::dist::DistSpec;
use crate::model::kinds::{ArrivalSpec, CallStep};
use crate::model::resources::Resources;
use crate::model::{Doc, Scenario, ScenarioError};

/// The Service annotation that selects the load-balancing policy.
pub const LB_ANNOTATION: &str = "kubetwin.io/load-balancing";
/// The Node annotation with the node's price per hour.
pub const PRICE_ANNOTATION: &str = "kubetwin.io/price-per-hour";
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
        tracing::warn!(
            "{object} is checked but not yet simulated: {} keeps its spec.replicas",
            autoscaler.target
        );
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
    for d in &mut deployments {
        d.steps.shrink_to_fit();
    }
    check_cycles(scenario, &deployments, &services)?;

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

    Ok(World {
        autoscalers,
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

fn name_of(name: &Option<String>) -> &str {
    name.as_deref().unwrap_or("")
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn dist<T>(
    doc: &Doc<T>,
    object: &str,
    field: &str,
    spec: &DistSpec,
) -> Result<Distribution, ScenarioError> {
    Distribution::from_spec(spec, &doc.base_dir).map_err(|e| {
        let inner = e.path();
        let path = if inner.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{inner}")
        };
        doc.invalid(object, path, e.message())
    })
}

fn capacity(capacity: &BTreeMap<String, Quantity>) -> Result<Resources, String> {
    let get = |key: &str| capacity.get(key).ok_or_else(|| format!("needs `{key}`"));
    let cpu = quantity::cpu_millis(get("cpu")?).map_err(|e| e.to_string())?;
    let memory = quantity::memory_bytes(get("memory")?).map_err(|e| e.to_string())?;
    Ok(Resources::new(cpu, memory))
}

fn node(
    doc: &Doc<k8s_openapi::api::core::v1::Node>,
    location_ids: &BTreeMap<String, u32>,
    clusters: &mut Vec<Cluster>,
    cluster_ids: &mut BTreeMap<String, u32>,
    locations: &[Location],
) -> Result<NodeDef, ScenarioError> {
    let n = &doc.object;
    let name = name_of(&n.metadata.name).to_owned();
    let object = format!("Node/{name}");
    let mut labels = n.metadata.labels.clone().unwrap_or_default();
    let region = labels.get(REGION_LABEL).ok_or_else(|| {
        doc.invalid(
            &object,
            format!("metadata.labels[{REGION_LABEL}]"),
            "needed: it names the node's location in the Topology",
        )
    })?;
    let loc = *location_ids.get(region).ok_or_else(|| {
        doc.invalid(
            &object,
            format!("metadata.labels[{REGION_LABEL}]"),
            format!("unknown location {region:?}"),
        )
    })?;
    let cluster_name = labels
        .get(CLUSTER_LABEL)
        .cloned()
        .unwrap_or_else(|| region.clone());
    let cluster = match cluster_ids.get(&cluster_name) {
        Some(&c) if clusters[c as usize].location == loc => c,
        Some(_) => {
            return Err(doc.invalid(
                &object,
                format!("metadata.labels[{CLUSTER_LABEL}]"),
                format!("cluster {cluster_name:?} is at another location"),
            ));
        }
        None => {
            let c = clusters.len() as u32;
            clusters.push(Cluster {
                name: cluster_name.clone(),
                location: loc,
            });
            cluster_ids.insert(cluster_name.clone(), c);
            c
        }
    };
    labels.insert(CLUSTER_LABEL.into(), cluster_name);
    labels.insert(TIER_LABEL.into(), locations[loc as usize].tier.to_string());
    labels
        .entry("kubernetes.io/hostname".into())
        .or_insert_with(|| name.clone());
    let status = n.status.as_ref();
    let resources = status
        .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
        .ok_or_else(|| {
            doc.invalid(
                &object,
                "status.allocatable",
                "needed: the node's cpu and memory",
            )
        })?;
    let capacity =
        capacity(resources).map_err(|m| doc.invalid(&object, "status.allocatable", m))?;
    let annotations = n.metadata.annotations.as_ref();
    let price_per_hour = match annotations.and_then(|a| a.get(PRICE_ANNOTATION)) {
        None => 0.0,
        Some(p) => p
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| {
                doc.invalid(
                    &object,
                    format!("metadata.annotations[{PRICE_ANNOTATION}]"),
                    format!("not a price >= 0: {p:?}"),
                )
            })?,
    };
    let spec = n.spec.as_ref();
    Ok(NodeDef {
        name,
        cluster,
        location: loc,
        labels,
        taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
        capacity,
        price_per_hour,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
    })
}

/// Every location pair that may carry traffic needs a latency: from the users to every
/// location with nodes and back, and between any two locations with nodes.
fn check_latency_pairs<T>(
    topo: &Doc<T>,
    tname: &str,
    network: &Network,
    locations: &[Location],
    nodes: &[NodeDef],
    user: u32,
) -> Result<(), ScenarioError> {
    let used: BTreeSet<u32> = nodes.iter().map(|n| n.location).chain([user]).collect();
    for &a in &used {
        for &b in &used {
            if a != b && network.links[a as usize * network.size + b as usize].is_none() {
                let (from, to) = (&locations[a as usize].name, &locations[b as usize].name);
                return Err(topo.invalid(
                    tname,
                    "spec.latency.links",
                    format!("missing latency from {from} to {to}"),
                ));
            }
        }
    }
    Ok(())
}

fn services(scenario: &Scenario) -> Result<Vec<ServiceDef>, ScenarioError> {
    let mut services = Vec::new();
    let mut seen = BTreeSet::new();
    for doc in &scenario.services {
        let name = name_of(&doc.object.metadata.name).to_owned();
        let object = format!("Service/{name}");
        if !seen.insert(name.clone()) {
            return Err(doc.invalid(&object, "metadata.name", "duplicate Service"));
        }
        let selector = doc
            .object
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .filter(|s| !s.is_empty());
        let Some(selector) = selector else {
            return Err(doc.invalid(
                &object,
                "spec.selector",
                "is empty: the Service would have no endpoints",
            ));
        };
        let annotations = doc.object.metadata.annotations.as_ref();
        let policy = match annotations
            .and_then(|a| a.get(LB_ANNOTATION))
            .map(String::as_str)
        {
            None | Some("random") => LbPolicy::Random,
            Some("round-robin") => LbPolicy::RoundRobin,
            Some("least-outstanding") => LbPolicy::LeastOutstanding,
            Some("latency-aware") => LbPolicy::LatencyAware,
            Some(other) => {
                return Err(doc.invalid(&object, format!("metadata.annotations[{LB_ANNOTATION}]"), format!("unknown policy {other:?} (random, round-robin, least-outstanding, latency-aware)")));
            }
        };
        let deployments = scenario
            .deployments
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                let labels = template_labels(d);
                selector
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .map(|(i, _)| i as u32)
            .collect();
        services.push(ServiceDef {
            name,
            policy,
            deployments,
        });
    }
    Ok(services)
}

fn template_labels(
    d: &Doc<k8s_openapi::api::apps::v1::Deployment>,
) -> Option<&BTreeMap<String, String>> {
    d.object.spec.template.metadata.as_ref()?.labels.as_ref()
}

/// Every DNS name a Service answers to: `name`, `name.ns`, `name.ns.svc`,
/// `name.ns.svc.cluster.local` (namespace `default` when unset).
fn dns_names(scenario: &Scenario) -> BTreeMap<String, u32> {
    let mut dns = BTreeMap::new();
    for (i, doc) in scenario.services.iter().enumerate() {
        let name = name_of(&doc.object.metadata.name);
        let ns = doc
            .object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("default");
        for n in [
            name.to_owned(),
            format!("{name}.{ns}"),
            format!("{name}.{ns}.svc"),
            format!("{name}.{ns}.svc.cluster.local"),
        ] {
            dns.insert(n, i as u32);
        }
    }
    dns
}

fn deployments(
    scenario: &Scenario,
    dns: &BTreeMap<String, u32>,
) -> Result<Vec<DeploymentDef>, ScenarioError> {
    let mut models = BTreeMap::new();
    for (i, m) in scenario.service_models.iter().enumerate() {
        let name = name_of(&m.object.metadata.name);
        let target = m.object.spec.deployment.as_deref().unwrap_or(name);
        if let Some(previous) = models.insert(target.to_owned(), i) {
            let other = name_of(&scenario.service_models[previous].object.metadata.name);
            return Err(m.invalid(
                &format!("ServiceModel/{name}"),
                "spec.deployment",
                format!("Deployment {target:?} already has ServiceModel/{other}"),
            ));
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for doc in &scenario.deployments {
        let name = name_of(&doc.object.metadata.name).to_owned();
        let object = format!("Deployment/{name}");
        if !seen.insert(name.clone()) {
            return Err(doc.invalid(&object, "metadata.name", "duplicate Deployment"));
        }
        let spec = &doc.object.spec;
        let replicas = u32::try_from(spec.replicas.unwrap_or(1)).map_err(|_| {
            doc.invalid(
                &object,
                "spec.replicas",
                format!("must be >= 0, got {}", spec.replicas.unwrap_or(1)),
            )
        })?;
        let labels = template_labels(doc).cloned().unwrap_or_default();
        if let Some(selector) = spec.selector.match_labels.as_ref()
            && let Some((k, v)) = selector.iter().find(|(k, v)| labels.get(*k) != Some(v))
        {
            return Err(doc.invalid(
                &object,
                "spec.selector.matchLabels",
                format!("{k}={v} does not match the pod template's labels"),
            ));
        }
        let pod: PodSpec = spec.template.spec.clone().unwrap_or_default();
        let requests = quantity::pod_requests(&pod)
            .map_err(|e| doc.invalid(&object, "spec.template.spec.containers", e.to_string()))?;
        let Some(&mi) = models.get(&name) else {
            return Err(doc.invalid(
                &object,
                "metadata.name",
                "has no kubetwin.io/v1alpha1 ServiceModel describing how its pods serve requests",
            ));
        };
        let mdoc = &scenario.service_models[mi];
        let mname = format!("ServiceModel/{}", name_of(&mdoc.object.metadata.name));
        let m = &mdoc.object.spec;
        if m.workers == 0 {
            return Err(mdoc.invalid(&mname, "spec.workers", "must be >= 1"));
        }
        let service_time = dist(mdoc, &mname, "spec.serviceTime", &m.service_time)?;
        let steps = m
            .calls
            .iter()
            .enumerate()
            .map(|(i, s)| {
                step(s, dns)
                    .map_err(|(f, msg)| mdoc.invalid(&mname, format!("spec.calls[{i}]{f}"), msg))
            })
            .collect::<Result<_, _>>()?;
        out.push(DeploymentDef {
            name,
            replicas,
            labels,
            requests,
            node_selector: pod.node_selector.clone(),
            affinity: pod.affinity.clone(),
            tolerations: pod.tolerations.clone().unwrap_or_default(),
            workers: m.workers,
            queue_capacity: m.queue_capacity.unwrap_or(u32::MAX),
            service_time,
            call_mode: m.call_mode,
            steps,
        });
    }
    for (target, &mi) in &models {
        if !seen.contains(target) {
            let m = &scenario.service_models[mi];
            return Err(m.invalid(
                &format!("ServiceModel/{}", name_of(&m.object.metadata.name)),
                "spec.deployment",
                format!("no Deployment named {target:?}"),
            ));
        }
    }
    Ok(out)
}

/// Resolves one call step; errors are (field suffix, message).
fn step(s: &CallStep, dns: &BTreeMap<String, u32>) -> Result<Step, (String, String)> {
    let resolve = |name: &str, field: String| {
        dns.get(name)
            .copied()
            .ok_or_else(|| (field, format!("unknown service {name:?}")))
    };
    let probability = |p: f64, field: String| {
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err((field, format!("must be in [0, 1], got {p}")))
        }
    };
    match (&s.service, &s.parallel, &s.one_of) {
        (Some(service), None, None) => {
            let p = probability(s.probability.unwrap_or(1.0), ".probability".into())?;
            Ok(Step::Parallel(vec![(resolve(service, ".service".into())?, p)]))
        }
        (None, Some(calls), None) if s.probability.is_none() && !calls.is_empty() => calls
            .iter()
            .enumerate()
            .map(|(i, c)| Ok((resolve(&c.service, format!(".parallel[{i}].service"))?, probability(c.probability, format!(".parallel[{i}].probability"))?)))
            .collect::<Result<_, _>>()
            .map(Step::Parallel),
        (None, None, Some(calls)) if s.probability.is_none() && !calls.is_empty() => {
            let mut cumulative = 0.0;
            let mut out = Vec::new();
            for (i, c) in calls.iter().enumerate() {
                cumulative += probability(c.probability, format!(".oneOf[{i}].probability"))?;
                out.push((resolve(&c.service, format!(".oneOf[{i}].service"))?, cumulative));
            }
            if cumulative > 1.0 + 1e-9 {
                return Err((".oneOf".into(), format!("probabilities sum to {cumulative}, more than 1")));
            }
            Ok(Step::OneOf(out))
        }
        _ => Err((String::new(), "needs exactly one of `service` (with an optional `probability`), a non-empty `parallel` or a non-empty `oneOf`".into())),
    }
}

/// A request must not be able to call a Service that is already on its call path.
fn check_cycles(
    scenario: &Scenario,
    deployments: &[DeploymentDef],
    services: &[ServiceDef],
) -> Result<(), ScenarioError> {
    let callees = |s: usize| -> BTreeSet<u32> {
        services[s]
            .deployments
            .iter()
            .flat_map(|&d| &deployments[d as usize].steps)
            .flat_map(|step| match step {
                Step::Parallel(c) | Step::OneOf(c) => c.iter().map(|&(svc, _)| svc),
            })
            .collect()
    };
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; services.len()];
    fn visit(
        s: usize,
        path: &mut Vec<usize>,
        state: &mut [u8],
        callees: &dyn Fn(usize) -> BTreeSet<u32>,
    ) -> Option<Vec<usize>> {
        state[s] = 1;
        path.push(s);
        for c in callees(s) {
            let c = c as usize;
            if state[c] == 1 {
                let start = path.iter().position(|&p| p == c).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(c);
                return Some(cycle);
            }
            if state[c] == 0
                && let Some(cycle) = visit(c, path, state, callees)
            {
                return Some(cycle);
            }
        }
        path.pop();
        state[s] = 2;
        None
    }
    for s in 0..services.len() {
        if state[s] == 0
            && let Some(cycle) = visit(s, &mut Vec::new(), &mut state, &callees)
        {
            let names: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
            let doc = &scenario.services[cycle[0]];
            return Err(doc.invalid(
                &format!("Service/{}", services[cycle[0]].name),
                "calls",
                format!("cyclic call graph: {}", names.join(" -> ")),
            ));
        }
    }
    Ok(())
}

fn flows(
    workload: &Doc<crate::model::Object<crate::model::kinds::WorkloadSpec>>,
    wname: &str,
) -> Result<Vec<FlowDef>, ScenarioError> {
    let spec = &workload.object.spec;
    if spec.flows.is_empty() {
        return Err(workload.invalid(wname, "spec.flows", "needs at least one flow"));
    }
    let mut flows = Vec::new();
    for (i, f) in spec.flows.iter().enumerate() {
        let field = format!("spec.flows[{i}]");
        let invalid = |suffix: &str, message: String| {
            workload.invalid(wname, format!("{field}.{suffix}"), message)
        };
        if !(f.start_seconds.is_finite() && f.start_seconds >= 0.0) {
            return Err(invalid(
                "startSeconds",
                format!("must be >= 0, got {}", f.start_seconds),
            ));
        }
        if let Some(end) = f.end_seconds
            && !(end.is_finite() && end > f.start_seconds)
        {
            return Err(invalid(
                "endSeconds",
                format!("must be after startSeconds, got {end}"),
            ));
        }
        if f.requests == Some(0) {
            return Err(invalid("requests", "must be > 0".into()));
        }
        let rate = |rate: f64| {
            if rate.is_finite() && rate > 0.0 {
                Ok(rate)
            } else {
                Err(invalid(
                    "arrivals.rate",
                    format!("must be > 0 requests per second, got {rate}"),
                ))
            }
        };
        let process = match &f.arrivals {
            ArrivalSpec::Poisson { rate: r } => Process::Poisson(1000.0 / rate(*r)?),
            ArrivalSpec::Constant { rate: r } => {
                Process::Constant(SimTime::from_secs(1.0 / rate(*r)?).max(SimTime(1)))
            }
            ArrivalSpec::Renewal { inter_arrival } => {
                let d = dist(
                    workload,
                    wname,
                    &format!("{field}.arrivals.interArrival"),
                    inter_arrival,
                )?;
                if d.mean() <= 0.0 {
                    return Err(invalid("arrivals.interArrival", "mean must be > 0".into()));
                }
                Process::Renewal(d)
            }
            ArrivalSpec::Trace { file, column } => Process::Trace(
                trace(&workload.base_dir, file, column.as_deref())
                    .map_err(|m| invalid("arrivals", m))?,
            ),
        };
        flows.push(FlowDef {
            name: f.name.clone().unwrap_or_else(|| format!("flow-{i}")),
            start: SimTime::from_secs(f.start_seconds),
            end: f.end_seconds.map(SimTime::from_secs),
            requests: f.requests,
            process,
        });
    }
    Ok(flows)
}

fn trace(base_dir: &Path, file: &str, column: Option<&str>) -> Result<Arc<[SimTime]>, String> {
    let seconds = crate::fit::read_csv_column(&base_dir.join(file), column)
        .map_err(|e| e.message().to_owned())?;
    if seconds.is_empty() {
        return Err(format!("{file}: the trace has no arrivals"));
    }
    if let Some(i) = seconds.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!(
            "{file}: timestamps must not decrease (row {} after row {}; rows count from 1 after the header)",
            i + 2,
            i + 1
        ));
    }
    if let Some(bad) = seconds.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        return Err(format!(
            "{file}: timestamp {bad} is not a time >= 0 seconds"
        ));
    }
    Ok(seconds.into_iter().map(SimTime::from_secs).collect())
}
