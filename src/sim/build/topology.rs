//! Nodes (from pools and Node objects), capacities and the latency pairs a scenario must give.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::k8s::quantity;
use crate::model::resources::Resources;
use crate::model::{Doc, ScenarioError};
use crate::sim::world::{Cluster, Location, Network, NodeDef};

use super::{
    CLUSTER_LABEL, LOCATION_ANNOTATION, PRICE_ANNOTATION, REGION_LABEL, TIER_LABEL, name_of,
};

pub(super) fn capacity(capacity: &BTreeMap<String, Quantity>) -> Result<Resources, String> {
    let get = |key: &str| capacity.get(key).ok_or_else(|| format!("needs `{key}`"));
    let cpu = quantity::cpu_millis(get("cpu")?).map_err(|e| e.to_string())?;
    let memory = quantity::memory_bytes(get("memory")?).map_err(|e| e.to_string())?;
    Ok(Resources::new(cpu, memory))
}

pub(super) fn node(
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
    let annotations = n.metadata.annotations.as_ref();
    let (field, location) = match annotations.and_then(|a| a.get(LOCATION_ANNOTATION)) {
        Some(location) => (
            format!("metadata.annotations[{LOCATION_ANNOTATION}]"),
            location,
        ),
        None => (
            format!("metadata.labels[{REGION_LABEL}]"),
            labels.get(REGION_LABEL).ok_or_else(|| {
                doc.invalid(
                    &object,
                    format!("metadata.labels[{REGION_LABEL}]"),
                    format!(
                        "needed (or the annotation {LOCATION_ANNOTATION}): it names the \
                         node's location in the Topology"
                    ),
                )
            })?,
        ),
    };
    let loc = *location_ids
        .get(location)
        .ok_or_else(|| doc.invalid(&object, field, format!("unknown location {location:?}")))?;
    let location = location.clone();
    let cluster_name = labels.get(CLUSTER_LABEL).cloned().unwrap_or(location);
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
pub(super) fn check_latency_pairs<T>(
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
