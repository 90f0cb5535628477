//! The scenario's `v1` Pods: replicas already running on a node at time zero.
//!
//! A Pod belongs to the Deployment of its namespace whose `spec.selector` matches its labels
//! (as a ReplicaSet adopts pods), must name a node of the scenario in `spec.nodeName`, and
//! starts as its `status` says: running and ready (or no status) → ready at once; running,
//! not ready → ready after the ServiceModel's readiness delay; `Pending` → the pending delay
//! first.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::k8s::selector::selects;
use crate::model::{Doc, Scenario, ScenarioError};
use crate::sim::world::{DeploymentDef, InitialPod, InitialState, NodeDef};

use super::name_of;

/// Resolves every Pod of `scenario` to its Deployment (same index in `deployments` as in
/// `scenario.deployments`) and its node, in scenario order.
pub(super) fn initial_pods(
    scenario: &Scenario,
    deployments: &mut [DeploymentDef],
    nodes: &[NodeDef],
) -> Result<(), ScenarioError> {
    let node_ids: BTreeMap<&str, u32> = (nodes.iter().enumerate())
        .map(|(i, n)| (n.name.as_str(), i as u32))
        .collect();
    for doc in &scenario.pods {
        let object = format!("Pod/{}", name_of(&doc.object.metadata.name));
        let spec = doc.object.spec.as_ref();
        let node_name = spec.and_then(|s| s.node_name.as_deref()).ok_or_else(|| {
            doc.invalid(
                &object,
                "spec.nodeName",
                "needed: a Pod in a scenario is a replica already running on that node \
                 (leave unscheduled pods out; the scheduler places the other replicas)",
            )
        })?;
        let node = *node_ids.get(node_name).ok_or_else(|| {
            doc.invalid(
                &object,
                "spec.nodeName",
                format!(
                    "unknown node {node_name:?}: no Node object or node-pool node has that name"
                ),
            )
        })?;
        if doc.object.metadata.deletion_timestamp.is_some() {
            return Err(doc.invalid(
                &object,
                "metadata.deletionTimestamp",
                "a terminating Pod cannot be an initial replica",
            ));
        }
        let state = state(&doc.object).map_err(|m| doc.invalid(&object, "status.phase", m))?;
        let owner = owner(scenario, doc).map_err(|m| doc.invalid(&object, "metadata.labels", m))?;
        deployments[owner]
            .initial_pods
            .push(InitialPod { node, state });
    }
    Ok(())
}

/// How far the pod has got, from `status.phase` and the `Ready` condition.
fn state(pod: &Pod) -> Result<InitialState, String> {
    let Some(status) = &pod.status else {
        return Ok(InitialState::Ready);
    };
    let ready = (status.conditions.iter().flatten())
        .find(|c| c.type_ == "Ready")
        .is_none_or(|c| c.status == "True");
    match status.phase.as_deref() {
        None | Some("Running") if ready => Ok(InitialState::Ready),
        None | Some("Running") => Ok(InitialState::Running),
        Some("Pending") => Ok(InitialState::Pending),
        Some(other) => Err(format!(
            "a {other} Pod cannot be an initial replica (Running or Pending only)"
        )),
    }
}

/// The index of the one Deployment of the pod's namespace whose selector matches it.
fn owner(scenario: &Scenario, pod: &Doc<Pod>) -> Result<usize, String> {
    let namespace = |ns: &Option<String>| ns.clone().unwrap_or_else(|| "default".into());
    let ns = namespace(&pod.object.metadata.namespace);
    let labels = pod.object.metadata.labels.clone().unwrap_or_default();
    let owners: Vec<usize> = (scenario.deployments.iter().enumerate())
        .filter(|(_, d)| {
            namespace(&d.object.metadata.namespace) == ns
                && selects(&d.object.spec.selector, &labels)
        })
        .map(|(i, _)| i)
        .collect();
    let name = |i: usize| name_of(&scenario.deployments[i].object.metadata.name).to_owned();
    match owners.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no Deployment of namespace {ns:?} selects this Pod's labels"
        )),
        [a, b, ..] => Err(format!(
            "the selectors of Deployment/{} and Deployment/{} both match; a Pod has one owner",
            name(*a),
            name(*b)
        )),
    }
}
