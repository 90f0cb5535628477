//! Deployments and StatefulSets, the Services that select them, their HPAs and their
//! running Pods, cleaned of what the API server assigns and checked the way the twin will
//! read them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::Metadata;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{CrossVersionObjectReference, HorizontalPodAutoscaler};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodCondition, PodSpec, PodStatus, Service, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::topology::ImportedNode;
use super::{ClusterObjects, Context, ImportError, ObjectKey, clean, key};
use crate::k8s::{quantity, selector, stateful};

/// A Deployment or StatefulSet, as the scenario's Deployment.
pub(super) struct Workload {
    /// Its kind in the cluster, namespace and name.
    pub key: ObjectKey,
    /// The cleaned Deployment (a StatefulSet converted and marked).
    pub deployment: Deployment,
}

impl Workload {
    fn namespace(&self) -> &str {
        namespace(&self.deployment.metadata)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let template = self.deployment.spec.template.metadata.as_ref();
        template.and_then(|m| m.labels.clone()).unwrap_or_default()
    }

    fn containers(&self) -> &[Container] {
        let spec = self.deployment.spec.template.spec.as_ref();
        spec.map_or(&[], |s| s.containers.as_slice())
    }
}

/// `metadata.namespace`, `default` when unset (as the scenario's DNS names read it).
fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

/// `objects` by namespace and name.
fn sorted<T: Metadata<Ty = ObjectMeta>>(objects: &[T]) -> Vec<&T> {
    let mut sorted: Vec<&T> = objects.iter().collect();
    sorted.sort_by_key(|o| (namespace(o.metadata()), o.metadata().name.as_deref()));
    sorted
}

/// Every Deployment and StatefulSet, sorted by namespace and name, checked for unique
/// names and valid resource quantities.
pub(super) fn workloads(
    objects: &ClusterObjects,
    cx: &mut Context,
) -> Result<Vec<Workload>, ImportError> {
    let mut out = Vec::new();
    for d in &objects.deployments {
        out.push(Workload {
            key: key("Deployment", &d.metadata),
            deployment: d.clone(),
        });
    }
    for s in &objects.stateful_sets {
        let key = key("StatefulSet", &s.metadata);
        cx.warn(
            &key,
            "kind",
            "simulated as a Deployment: stable pod identities, ordered start-up and volumes \
             are not modelled",
        );
        out.push(Workload {
            key,
            deployment: stateful::to_deployment(s),
        });
    }
    out.sort_by(|a, b| (&a.key.namespace, &a.key.name).cmp(&(&b.key.namespace, &b.key.name)));
    let mut names: BTreeMap<String, ObjectKey> = BTreeMap::new();
    for w in &mut out {
        let d = &mut w.deployment;
        d.metadata = clean::meta(&d.metadata);
        d.spec.template = clean::template(&d.spec.template);
        d.status = None;
        if w.key.name.is_empty() {
            return Err(cx.invalid(&w.key, "metadata.name", "is required"));
        }
        if let Some(other) = names.insert(w.key.name.clone(), w.key.clone()) {
            return Err(cx.invalid(
                &w.key,
                "metadata.name",
                format!(
                    "{}/{} of namespace {:?} has the same name; a scenario names workloads \
                     uniquely, so import one namespace at a time",
                    other.kind, other.name, other.namespace
                ),
            ));
        }
        let pod = d.spec.template.spec.clone().unwrap_or_default();
        quantity::pod_requests(&pod)
            .map_err(|e| cx.invalid(&w.key, "spec.template.spec", e.to_string()))?;
    }
    Ok(out)
}

/// The Services the twin can route through, cleaned; the others are reported and left out.
pub(super) fn services(
    objects: &ClusterObjects,
    workloads: &[Workload],
    cx: &mut Context,
) -> Result<Vec<Service>, ImportError> {
    let mut out: Vec<Service> = Vec::new();
    let mut selected = vec![false; workloads.len()];
    for s in sorted(&objects.services) {
        let key = key("Service", &s.metadata);
        let mut spec = s.spec.clone().unwrap_or_default();
        let selector = spec.selector.clone().unwrap_or_default();
        if spec.type_.as_deref() == Some("ExternalName") {
            cx.warn(
                &key,
                "spec.type",
                "an ExternalName Service names a host outside the cluster; left out",
            );
            continue;
        }
        if selector.is_empty() {
            cx.warn(
                &key,
                "spec.selector",
                "no selector: its endpoints are managed outside Kubernetes; left out",
            );
            continue;
        }
        if spec.cluster_ip.as_deref() == Some("None") {
            cx.warn(
                &key,
                "spec.clusterIP",
                "a headless Service (clusterIP: None) has no virtual IP to balance; left out",
            );
            continue;
        }
        let ns = namespace(&s.metadata);
        let mine: Vec<usize> = (0..workloads.len())
            .filter(|&i| workloads[i].namespace() == ns)
            .filter(|&i| {
                let labels = workloads[i].labels();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .collect();
        if mine.is_empty() {
            cx.warn(
                &key,
                "spec.selector",
                "selects no imported Deployment or StatefulSet; left out",
            );
            continue;
        }
        if let Some(other) = out.iter().find(|o| o.metadata.name == s.metadata.name) {
            return Err(cx.invalid(
                &key,
                "metadata.name",
                format!(
                    "the Service of namespace {:?} has the same name; a scenario names Services \
                     uniquely, so import one namespace at a time",
                    namespace(&other.metadata)
                ),
            ));
        }
        check_target_ports(&key, &spec, &mine, workloads, cx);
        for &i in &mine {
            selected[i] = true;
        }
        (
            spec.cluster_ip,
            spec.cluster_ips,
            spec.health_check_node_port,
        ) = (None, None, None);
        (spec.ip_families, spec.ip_family_policy) = (None, None);
        for port in spec.ports.iter_mut().flatten() {
            port.node_port = None;
        }
        out.push(Service {
            metadata: clean::meta(&s.metadata),
            spec: Some(spec),
            status: None,
        });
    }
    for (w, _) in workloads.iter().zip(&selected).filter(|(_, s)| !**s) {
        cx.warn(
            &w.key,
            "spec.template.metadata.labels",
            "no imported Service selects its pods: nothing can call it",
        );
    }
    Ok(out)
}

/// A named `targetPort` must be a port of the selected pods' containers.
fn check_target_ports(
    key: &ObjectKey,
    spec: &ServiceSpec,
    selected: &[usize],
    workloads: &[Workload],
    cx: &mut Context,
) {
    for (i, port) in spec.ports.iter().flatten().enumerate() {
        let Some(IntOrString::String(name)) = &port.target_port else {
            continue;
        };
        for w in selected.iter().map(|&w| &workloads[w]) {
            let declared = (w.containers().iter())
                .flat_map(|c| c.ports.iter().flatten())
                .any(|p| p.name.as_deref() == Some(name.as_str()));
            if !declared {
                cx.warn(
                    key,
                    &format!("spec.ports[{i}].targetPort"),
                    format!(
                        "no container of {}/{} has a port named {name:?}: Kubernetes would \
                         send it no traffic",
                        w.key.kind, w.key.name
                    ),
                );
            }
        }
    }
}

/// The HPAs of imported workloads, their targets written as the scenario's Deployments.
pub(super) fn autoscalers(
    objects: &ClusterObjects,
    workloads: &[Workload],
    cx: &mut Context,
) -> Result<Vec<HorizontalPodAutoscaler>, ImportError> {
    let mut out: Vec<HorizontalPodAutoscaler> = Vec::new();
    for h in sorted(&objects.hpas) {
        let key = key("HorizontalPodAutoscaler", &h.metadata);
        let target = &h.spec.scale_target_ref;
        let found = workloads.iter().find(|w| {
            w.key.kind == target.kind
                && w.key.name == target.name
                && w.namespace() == namespace(&h.metadata)
        });
        if found.is_none() {
            let message = format!(
                "targets {}/{}, which is not among the imported Deployments and StatefulSets; \
                 left out",
                target.kind, target.name
            );
            cx.warn(&key, "spec.scaleTargetRef", message);
            continue;
        }
        if let Some(other) = out
            .iter()
            .find(|o| o.spec.scale_target_ref.name == target.name)
        {
            let message = format!(
                "{}/{} is already scaled by HorizontalPodAutoscaler/{}; left out",
                target.kind,
                target.name,
                other.metadata.name.as_deref().unwrap_or("")
            );
            cx.warn(&key, "spec.scaleTargetRef", message);
            continue;
        }
        let mut hpa = HorizontalPodAutoscaler {
            metadata: clean::meta(&h.metadata),
            spec: h.spec.clone(),
            status: None,
        };
        hpa.spec.scale_target_ref = CrossVersionObjectReference {
            api_version: Some("apps/v1".into()),
            kind: "Deployment".into(),
            name: target.name.clone(),
        };
        if super::autoscale::readable(&key, &mut hpa, cx)? {
            out.push(hpa);
        }
    }
    Ok(out)
}

/// The running Pods of imported workloads on imported Nodes, as the scenario's Pods.
pub(super) fn pods(
    objects: &ClusterObjects,
    workloads: &[Workload],
    nodes: &[ImportedNode],
    cx: &mut Context,
) -> Vec<Pod> {
    let known: BTreeSet<&str> = (nodes.iter())
        .filter_map(|n| n.node.metadata.name.as_deref())
        .collect();
    let mut out = Vec::new();
    let mut bound = vec![0; workloads.len()];
    for p in sorted(&objects.pods) {
        let key = key("Pod", &p.metadata);
        let status = p.status.clone().unwrap_or_default();
        let spec = p.spec.clone().unwrap_or_default();
        let finished = matches!(
            status.phase.as_deref(),
            Some("Succeeded" | "Failed" | "Unknown")
        );
        let Some(node) = spec.node_name.clone() else {
            continue;
        };
        if finished || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let owners: Vec<usize> = (0..workloads.len())
            .filter(|&i| workloads[i].namespace() == namespace(&p.metadata))
            .filter(|&i| selector::selects(&workloads[i].deployment.spec.selector, &labels))
            .collect();
        let owner = match owners.as_slice() {
            [] => continue,
            [one] => *one,
            [a, b, ..] => {
                let (a, b) = (&workloads[*a].key, &workloads[*b].key);
                let message = format!(
                    "selected by both {}/{} and {}/{}; left out",
                    a.kind, a.name, b.kind, b.name
                );
                cx.warn(&key, "metadata.labels", message);
                continue;
            }
        };
        if !known.contains(node.as_str()) {
            let message = format!(
                "runs on node {node:?}, which is not among the imported Nodes; this replica goes \
                 through the scheduler"
            );
            cx.warn(&key, "spec.nodeName", message);
            continue;
        }
        bound[owner] += 1;
        let ready = (status.conditions.iter().flatten())
            .filter(|c| c.type_ == "Ready")
            .map(|c| PodCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                ..PodCondition::default()
            });
        out.push(Pod {
            metadata: ObjectMeta {
                name: p.metadata.name.clone(),
                namespace: p.metadata.namespace.clone(),
                labels: p.metadata.labels.clone(),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node),
                containers: (spec.containers.iter())
                    .map(|c| Container {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        resources: c.resources.clone(),
                        ..Container::default()
                    })
                    .collect(),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: status.phase.clone(),
                conditions: Some(ready.collect()).filter(|c: &Vec<_>| !c.is_empty()),
                ..PodStatus::default()
            }),
        });
    }
    for (w, &n) in workloads.iter().zip(&bound) {
        let replicas = w.deployment.spec.replicas.unwrap_or(1);
        if n > replicas {
            let message = format!(
                "{n} running Pods for {replicas} replicas (a rollout?): the first {replicas} by \
                 name start where they run"
            );
            cx.warn(&w.key, "spec.replicas", message);
        }
    }
    out
}
