//! Services (selectors, load balancing, DNS names), Deployments with their ServiceModels,
//! call steps and the call graph's cycle check.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::k8s::quantity;
use crate::model::dist::DistSpec;
use crate::model::kinds::{CallStep, ServiceModelSpec};
use crate::model::{Doc, Scenario, ScenarioError};
use crate::sim::autoscaler::{Autoscaler, HpaMetric, Rule};
use crate::sim::service_time::{LoadTable, ServiceTime};
use crate::sim::time::SimTime;
use crate::sim::world::{
    ContainerCpu, CpuModel, DeploymentDef, LbPolicy, ServiceDef, Step, Warning,
};

use super::{LB_ANNOTATION, dist, name_of};

/// The longest averaging window of a load-dependent service time: a day.
const MAX_WINDOW_SECONDS: f64 = 86_400.0;

pub(super) fn services(scenario: &Scenario) -> Result<Vec<ServiceDef>, ScenarioError> {
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

pub(super) fn template_labels(
    d: &Doc<k8s_openapi::api::apps::v1::Deployment>,
) -> Option<&BTreeMap<String, String>> {
    d.object.spec.template.metadata.as_ref()?.labels.as_ref()
}

/// Every DNS name a Service answers to: `name`, `name.ns`, `name.ns.svc`,
/// `name.ns.svc.cluster.local` (namespace `default` when unset).
pub(super) fn dns_names(scenario: &Scenario) -> BTreeMap<String, u32> {
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

pub(super) fn deployments(
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
        let spread = pod.topology_spread_constraints.clone().unwrap_or_default();
        crate::sim::scheduler::validate_constraints(&spread).map_err(|(field, message)| {
            let field = format!("spec.template.spec.topologySpreadConstraints{field}");
            doc.invalid(&object, field, message)
        })?;
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
        let service_time = service_time(mdoc, &mname, m)?;
        let per_request = m.cpu_millicores.unwrap_or(1000);
        if per_request == 0 {
            return Err(mdoc.invalid(&mname, "spec.cpuMillicores", "must be > 0"));
        }
        let (cpu, container_cpu_requests) = cpu_model(&pod, per_request)
            .map_err(|(field, message)| doc.invalid(&object, field, message))?;
        let steps = m
            .calls
            .iter()
            .enumerate()
            .map(|(i, s)| {
                step(s, dns)
                    .map_err(|(f, msg)| mdoc.invalid(&mname, format!("spec.calls[{i}]{f}"), msg))
            })
            .collect::<Result<_, _>>()?;
        let startup = m.startup.clone().unwrap_or_default();
        let startup_dist = |field: &str, spec: &Option<DistSpec>| {
            spec.as_ref()
                .map(|d| dist(mdoc, &mname, &format!("spec.startup.{field}"), d))
                .transpose()
        };
        let grace = pod.termination_grace_period_seconds.unwrap_or(30);
        if grace < 0 {
            return Err(doc.invalid(
                &object,
                "spec.template.spec.terminationGracePeriodSeconds",
                format!("must be >= 0, got {grace}"),
            ));
        }
        out.push(DeploymentDef {
            startup_pending: startup_dist("pending", &startup.pending)?,
            startup_readiness: startup_dist("readiness", &startup.readiness)?,
            termination_grace: SimTime::from_secs(grace as f64),
            kill_rate: 0.0,
            crash_lifetime: None,
            name,
            replicas,
            labels,
            requests,
            initial_pods: Vec::new(),
            node_selector: pod.node_selector.clone(),
            affinity: pod.affinity.clone(),
            tolerations: pod.tolerations.clone().unwrap_or_default(),
            topology_spread_constraints: spread,
            namespace: (doc.object.metadata.namespace.clone()).unwrap_or_else(|| "default".into()),
            workers: m.workers,
            cpu,
            container_cpu_requests,
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

/// `spec.serviceTime` or, instead, `spec.serviceTimeByLoad`.
fn service_time<T>(
    doc: &Doc<T>,
    object: &str,
    m: &ServiceModelSpec,
) -> Result<ServiceTime, ScenarioError> {
    let by_load = match (&m.service_time, &m.service_time_by_load) {
        (Some(d), None) => {
            let d = dist(doc, object, "spec.serviceTime", d)?;
            return Ok(ServiceTime::Fixed(d));
        }
        (None, Some(by_load)) => by_load,
        (None, None) => {
            let message = "is required (or spec.serviceTimeByLoad)";
            return Err(doc.invalid(object, "spec.serviceTime", message));
        }
        (Some(_), Some(_)) => {
            let message = "give spec.serviceTime or spec.serviceTimeByLoad, not both";
            return Err(doc.invalid(object, "spec.serviceTimeByLoad", message));
        }
    };
    let window = by_load.window_seconds;
    if !(window.is_finite() && window > 0.0 && window <= MAX_WINDOW_SECONDS) {
        let message = format!("must be in (0, {MAX_WINDOW_SECONDS}], got {window}");
        return Err(doc.invalid(object, "spec.serviceTimeByLoad.windowSeconds", message));
    }
    let levels = (by_load.levels.iter().enumerate())
        .map(|(i, level)| {
            let field = format!("spec.serviceTimeByLoad.levels[{i}].serviceTime");
            Ok((
                level.requests_per_second,
                dist(doc, object, &field, &level.service_time)?,
            ))
        })
        .collect::<Result<Vec<_>, ScenarioError>>()?;
    let table = LoadTable::new(levels, SimTime::from_secs(window)).map_err(|(i, message)| {
        let field = match i {
            Some(i) => format!("spec.serviceTimeByLoad.levels[{i}].requestsPerSecond"),
            None => "spec.serviceTimeByLoad.levels".into(),
        };
        doc.invalid(object, field, message)
    })?;
    Ok(ServiceTime::ByLoad(table))
}

/// The containers that run beside each other for the pod's life: the regular ones and the
/// restartable ("sidecar") init containers, with their field paths.
fn running_containers(pod: &PodSpec) -> impl Iterator<Item = (String, &Container)> {
    let regular = (pod.containers.iter().enumerate())
        .map(|(i, c)| (format!("spec.template.spec.containers[{i}]"), c));
    let sidecars = (pod.init_containers.iter().flatten().enumerate())
        .filter(|(_, c)| c.restart_policy.as_deref() == Some("Always"))
        .map(|(i, c)| (format!("spec.template.spec.initContainers[{i}]"), c));
    regular.chain(sidecars)
}

/// A CPU quantity of `list` (a container's or the pod's `requests` or `limits`); errors are
/// (field, message).
fn cpu_of(
    list: Option<&BTreeMap<String, Quantity>>,
    field: impl FnOnce() -> String,
) -> Result<Option<u64>, (String, String)> {
    list.and_then(|l| l.get("cpu"))
        .map(|q| quantity::cpu_millis(q).map_err(|e| (field(), e.to_string())))
        .transpose()
}

/// How the pod uses CPU. Its limit: the pod-level one, else the sum of its running
/// containers' when each has one (else unlimited). Its request as the HPA sums it: the
/// pod-level one, else the containers' (a container with only a limit requests its limit,
/// as the API server defaults it), `None` when one has neither. Also each running
/// container's name and request so defaulted, for `ContainerResource` metrics. Errors are
/// (field, message).
fn cpu_model(
    pod: &PodSpec,
    per_request: u64,
) -> Result<(CpuModel, Vec<ContainerCpu>), (String, String)> {
    let pod_level = pod.resources.as_ref();
    let pod_field = |kind: &str| format!("spec.template.spec.resources.{kind}.cpu");
    let pod_limit = cpu_of(pod_level.and_then(|r| r.limits.as_ref()), || {
        pod_field("limits")
    })?;
    let pod_request = cpu_of(pod_level.and_then(|r| r.requests.as_ref()), || {
        pod_field("requests")
    })?;
    within_limit(pod_request, pod_limit, || pod_field("requests"))?;
    let (mut limit, mut request) = (Some(0u64), Some(0u64));
    let mut containers = Vec::new();
    for (path, c) in running_containers(pod) {
        let resources = c.resources.as_ref();
        let field = |kind: &str| format!("{path}.resources.{kind}.cpu");
        let own_limit = cpu_of(resources.and_then(|r| r.limits.as_ref()), || {
            field("limits")
        })?;
        let own_request = cpu_of(resources.and_then(|r| r.requests.as_ref()), || {
            field("requests")
        })?;
        within_limit(own_request, own_limit, || field("requests"))?;
        limit = limit
            .zip(unlimited_if_zero(own_limit))
            .map(|(a, b)| a.saturating_add(b));
        request = request
            .zip(own_request.or(own_limit))
            .map(|(a, b)| a.saturating_add(b));
        containers.push((c.name.clone(), own_request.or(own_limit)));
    }
    let model = CpuModel {
        per_request,
        limit: pod_limit.map_or(limit, |l| unlimited_if_zero(Some(l))),
        request: pod_request.or(request),
    };
    Ok((model, containers))
}

/// A CPU limit of 0 sets no CFS quota: the kubelet leaves such a container unlimited.
fn unlimited_if_zero(limit: Option<u64>) -> Option<u64> {
    limit.filter(|&l| l > 0)
}

/// The API server's rule: a CPU request may not exceed the CPU limit. Errors name the
/// request's field.
fn within_limit(
    request: Option<u64>,
    limit: Option<u64>,
    field: impl FnOnce() -> String,
) -> Result<(), (String, String)> {
    match (request, limit) {
        (Some(r), Some(l)) if r > l => Err((
            field(),
            format!("must be less than or equal to the CPU limit ({l}m), got {r}m"),
        )),
        _ => Ok(()),
    }
}

/// One warning per CPU-utilization metric of a Kubernetes-rule HPA that cannot work on its
/// target's pods: the live HPA would report `ScalingActive` `False`
/// (`FailedGetResourceMetric`, or `FailedGetContainerResourceMetric` for a
/// `ContainerResource` metric) and never scale on that metric, and so does the twin. A
/// `Resource` metric fails when a running container has no CPU request (and the pod has
/// none); a `ContainerResource` one when its container has none or does not run.
pub(super) fn cpu_request_warnings(
    scenario: &Scenario,
    autoscalers: &[Autoscaler],
    deployments: &[DeploymentDef],
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for (a, doc) in autoscalers.iter().zip(&scenario.autoscalers) {
        let Rule::Kubernetes(rule) = &a.rule else {
            continue;
        };
        let Some(target) = deployments.iter().find(|d| d.name == a.target) else {
            continue;
        };
        let containers = &target.container_cpu_requests;
        let without_request = |name: Option<&str>| {
            (containers.iter())
                .find(|(n, request)| request.is_none() && name.is_none_or(|name| n == name))
                .map(|(n, _)| n)
        };
        for (i, metric) in rule.metrics.iter().enumerate() {
            let HpaMetric::CpuUtilization {
                container: named, ..
            } = metric
            else {
                continue;
            };
            let problem = match named {
                None if target.cpu.request.is_none() => without_request(None).map(|c| {
                    format!(
                        "container {c:?} of Deployment/{} has no CPU request: Kubernetes \
                         reports ScalingActive=False (FailedGetResourceMetric: missing request \
                         for cpu)",
                        a.target
                    )
                }),
                None => None,
                Some(name) if !containers.iter().any(|(n, _)| n == name) => Some(format!(
                    "Deployment/{}'s pods run no container {name:?}: Kubernetes reports \
                     ScalingActive=False (FailedGetContainerResourceMetric: container {name} \
                     not present in metrics)",
                    a.target
                )),
                Some(name) => without_request(Some(name)).map(|c| {
                    format!(
                        "container {c:?} of Deployment/{} has no CPU request: Kubernetes \
                         reports ScalingActive=False (FailedGetContainerResourceMetric: \
                         missing request for cpu)",
                        a.target
                    )
                }),
            };
            let Some(problem) = problem else {
                continue;
            };
            // An HPA without `spec.metrics` gets Kubernetes' default 80 % cpu utilization.
            let field = match &doc.object.spec.metrics {
                Some(list) if !list.is_empty() => format!("spec.metrics[{i}]"),
                _ => "spec.metrics".into(),
            };
            warnings.push(Warning {
                at: doc.origin.clone(),
                object: format!("HorizontalPodAutoscaler/{}", a.name),
                field,
                message: format!(
                    "targets CPU utilization, but {problem} and never scales on this metric; \
                     so does the twin"
                ),
            });
        }
    }
    warnings
}

/// Resolves one call step; errors are (field suffix, message).
pub(super) fn step(s: &CallStep, dns: &BTreeMap<String, u32>) -> Result<Step, (String, String)> {
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
pub(super) fn check_cycles(
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
