//! Nodes and the Topology: a location per zone (else region), node prices, and the latency
//! between locations from the model, Node annotations or defaults.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::annotations::{self, LATENCY};
use super::{ClusterObjects, Context, ImportError, ImportOptions, ObjectKey, Warning, clean, key};
use crate::k8s::quantity;
use crate::model::dist::DistSpec;
use crate::model::kinds::{API_VERSION, LatencySpec, LinkSpec, LocationSpec, Object, TopologySpec};
use crate::sim::build::{LOCATION_ANNOTATION, PRICE_ANNOTATION, REGION_LABEL};

/// The well-known zone label; a zone is a location of the Topology.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The well-known label with the node's instance type, the key of `--prices`.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
/// Latency within a location when nothing says otherwise, in milliseconds.
pub const DEFAULT_INTRA_LOCATION_MS: f64 = 0.2;
/// Between two zones of one region, in milliseconds.
pub const DEFAULT_CROSS_ZONE_MS: f64 = 1.0;
/// Between two regions, in milliseconds.
pub const DEFAULT_CROSS_REGION_MS: f64 = 30.0;
/// Between the users and a location, in milliseconds.
pub const DEFAULT_USER_MS: f64 = 20.0;
/// A node's location when it has neither a zone nor a region label.
pub const DEFAULT_LOCATION: &str = "default";

/// A Node as the scenario writes it, with what the Topology needs to know about it.
pub(super) struct ImportedNode {
    pub key: ObjectKey,
    pub node: Node,
    pub location: String,
    pub region: String,
    /// `kubetwin.io/latency-ms`: to other locations, in milliseconds.
    pub latencies: Vec<(String, f64)>,
}

/// Every Node, sorted by name, with its location and price.
pub(super) fn nodes(
    objects: &ClusterObjects,
    prices: &BTreeMap<String, f64>,
    cx: &mut Context,
) -> Result<Vec<ImportedNode>, ImportError> {
    let mut sorted: Vec<&Node> = objects.nodes.iter().collect();
    sorted.sort_by_key(|n| n.metadata.name.as_deref());
    if sorted.is_empty() {
        return Err(ImportError::Invalid(Warning {
            at: None,
            object: "scenario".into(),
            field: "nodes".into(),
            message: "no Node to run pods on: add the nodes (kubectl get nodes -o yaml)".into(),
        }));
    }
    let mut out = Vec::new();
    for n in sorted {
        let key = key("Node", &n.metadata);
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let mut kept = clean::annotations(n.metadata.annotations.as_ref(), |k| {
            k.starts_with("kubetwin.io/")
        })
        .unwrap_or_default();
        let location = match (kept.get(LOCATION_ANNOTATION), labels.get(ZONE_LABEL)) {
            (Some(location), _) | (None, Some(location)) => location.clone(),
            (None, None) => labels.get(REGION_LABEL).cloned().unwrap_or_else(|| {
                let field = format!("metadata.labels[{ZONE_LABEL}]");
                let message = format!(
                    "no zone or region label; the node is at location {DEFAULT_LOCATION:?}"
                );
                cx.warn(&key, &field, message);
                DEFAULT_LOCATION.into()
            }),
        };
        kept.insert(LOCATION_ANNOTATION.into(), location.clone());
        let status = n.status.clone().unwrap_or_default();
        let allocatable = status.allocatable.or(status.capacity).ok_or_else(|| {
            cx.invalid(
                &key,
                "status.allocatable",
                "needed: the node's cpu and memory",
            )
        })?;
        for (resource, convert) in [
            ("cpu", quantity::cpu_millis as fn(&_) -> _),
            ("memory", quantity::memory_bytes),
        ] {
            let field = format!("status.allocatable.{resource}");
            let q = allocatable
                .get(resource)
                .ok_or_else(|| cx.invalid(&key, &field, "is required"))?;
            convert(q).map_err(|e| cx.invalid(&key, &field, e.to_string()))?;
        }
        price(&key, &labels, &mut kept, prices, cx)?;
        let latencies = match kept.get(LATENCY) {
            Some(value) => annotations::latencies(value)
                .map_err(|m| cx.invalid(&key, &annotations::field(LATENCY), m))?,
            None => Vec::new(),
        };
        let spec = n.spec.clone().unwrap_or_default();
        let spec = NodeSpec {
            taints: spec.taints,
            unschedulable: spec.unschedulable,
            ..NodeSpec::default()
        };
        out.push(ImportedNode {
            region: labels
                .get(REGION_LABEL)
                .cloned()
                .unwrap_or_else(|| location.clone()),
            node: Node {
                metadata: ObjectMeta {
                    name: n.metadata.name.clone(),
                    labels: n.metadata.labels.clone(),
                    annotations: Some(kept),
                    ..ObjectMeta::default()
                },
                spec: (spec != NodeSpec::default()).then_some(spec),
                status: Some(NodeStatus {
                    allocatable: Some(allocatable),
                    ..NodeStatus::default()
                }),
            },
            key,
            location,
            latencies,
        });
    }
    Ok(out)
}

/// The price annotation as given, else from `prices` by instance type, else none (0) with
/// a warning.
fn price(
    key: &ObjectKey,
    labels: &BTreeMap<String, String>,
    kept: &mut BTreeMap<String, String>,
    prices: &BTreeMap<String, f64>,
    cx: &mut Context,
) -> Result<(), ImportError> {
    let field = annotations::field(PRICE_ANNOTATION);
    if let Some(p) = kept.get(PRICE_ANNOTATION) {
        return match p.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(()),
            _ => Err(cx.invalid(key, &field, format!("{p:?} is not a price >= 0"))),
        };
    }
    let instance_type = labels.get(INSTANCE_TYPE_LABEL);
    match instance_type.and_then(|t| prices.get(t)) {
        Some(p) => {
            kept.insert(PRICE_ANNOTATION.into(), p.to_string());
        }
        None => {
            let why = match instance_type {
                Some(t) => format!("instance type {t:?} is not in --prices"),
                None => format!("no {INSTANCE_TYPE_LABEL} label"),
            };
            cx.warn(key, &field, format!("no price ({why}); using 0 per hour"));
        }
    }
    Ok(())
}

/// The Topology: one location per node location plus the users', the model's tiers and
/// latencies, then Node annotations, then defaults (each one warned).
pub(super) fn topology(
    nodes: &[ImportedNode],
    user_location: &str,
    options: &ImportOptions,
    cx: &mut Context,
) -> Object<TopologySpec> {
    let me = ObjectKey {
        kind: "Topology".into(),
        namespace: String::new(),
        name: options.name.clone(),
    };
    let mut names: BTreeSet<&str> = nodes.iter().map(|n| n.location.as_str()).collect();
    names.insert(user_location);
    let model = options.model.topology.as_ref();
    let model_spec = model.map(|m| &m.object.spec);
    let tier = |name: &str| {
        (model_spec.into_iter().flat_map(|s| &s.locations))
            .find(|l| l.name == name)
            .map_or(0, |l| l.tier)
    };
    let locations = (names.iter())
        .map(|&name| LocationSpec {
            name: name.into(),
            tier: tier(name),
        })
        .collect();
    let intra_cluster = match model_spec {
        Some(spec) => spec.latency.intra_cluster.clone(),
        None => {
            let message = format!(
                "no latency measured within a location; using a constant {DEFAULT_INTRA_LOCATION_MS} ms"
            );
            cx.warn(&me, "spec.latency.intraCluster", message);
            DistSpec::Constant {
                value: DEFAULT_INTRA_LOCATION_MS,
            }
        }
    };
    let mut links = Vec::new();
    let model_links: Vec<&LinkSpec> =
        model_spec.map_or_else(Vec::new, |s| s.latency.links.iter().collect());
    if let Some(m) = model {
        for (i, l) in model_links.iter().enumerate() {
            if let Some(unknown) = [&l.from, &l.to]
                .into_iter()
                .find(|x| !names.contains(x.as_str()))
            {
                cx.warnings.push(Warning {
                    at: Some(m.origin.clone()),
                    object: format!(
                        "Topology/{}",
                        m.object.metadata.name.as_deref().unwrap_or("")
                    ),
                    field: format!("spec.latency.links[{i}]"),
                    message: format!(
                        "location {unknown:?} has no imported node and is not the users'; left out"
                    ),
                });
            }
        }
    }
    // A link from a location to itself (parties at one location, in different clusters).
    links.extend(
        (model_links.iter())
            .filter(|l| l.from == l.to && names.contains(l.from.as_str()))
            .map(|l| (*l).clone()),
    );
    for (i, &a) in names.iter().enumerate() {
        for &b in names.iter().skip(i + 1) {
            let pair = |l: &&&LinkSpec| (l.from == a && l.to == b) || (l.from == b && l.to == a);
            let given: Vec<LinkSpec> = model_links
                .iter()
                .filter(pair)
                .map(|l| (*l).clone())
                .collect();
            if !given.is_empty() {
                links.extend(given);
                continue;
            }
            let annotated = |from: &str, to: &str| {
                (nodes.iter().filter(|n| n.location == from))
                    .flat_map(|n| &n.latencies)
                    .find(|(location, _)| location == to)
                    .map(|(_, ms)| *ms)
            };
            let ms = annotated(a, b)
                .or_else(|| annotated(b, a))
                .unwrap_or_else(|| {
                    let region = |l: &str| {
                        nodes
                            .iter()
                            .find(|n| n.location == l)
                            .map(|n| n.region.as_str())
                    };
                    let ms = if a == user_location || b == user_location {
                        DEFAULT_USER_MS
                    } else if region(a) == region(b) {
                        DEFAULT_CROSS_ZONE_MS
                    } else {
                        DEFAULT_CROSS_REGION_MS
                    };
                    let message = format!(
                        "no latency measured between {a} and {b}; using a constant {ms} ms \
                     (annotate a Node with {LATENCY}: {b}=MS, or give a model Topology)"
                    );
                    cx.warn(&me, "spec.latency.links", message);
                    ms
                });
            links.push(LinkSpec {
                from: a.into(),
                to: b.into(),
                distribution: DistSpec::Constant { value: ms },
                symmetric: true,
            });
        }
    }
    for n in nodes {
        for (location, _) in n
            .latencies
            .iter()
            .filter(|(l, _)| !names.contains(l.as_str()))
        {
            let message = format!(
                "location {location:?} has no imported node and is not the users'; ignored"
            );
            cx.warn(&n.key, &annotations::field(LATENCY), message);
        }
    }
    Object {
        api_version: API_VERSION.into(),
        kind: "Topology".into(),
        metadata: ObjectMeta {
            name: Some(options.name.clone()),
            ..ObjectMeta::default()
        },
        spec: TopologySpec {
            locations,
            clusters: Vec::new(),
            latency: LatencySpec {
                intra_cluster,
                links,
            },
        },
    }
}
