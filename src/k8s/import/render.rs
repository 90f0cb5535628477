//! Writing the imported scenario as YAML, and checking that it loads and builds.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use serde::Serialize;

use super::{Context, ImportError, ObjectKey};
use crate::model::kinds::{Object, ServiceModelSpec, SimulationSpec, TopologySpec, WorkloadSpec};
use crate::model::{ScenarioError, load_str};
use crate::sim::{BuildOptions, build};

/// Every document of the imported scenario, each list in its written order.
pub(super) struct Scenario {
    pub topology: Object<TopologySpec>,
    pub nodes: Vec<Node>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub pods: Vec<Pod>,
    pub models: Vec<Object<ServiceModelSpec>>,
    pub workload: Object<WorkloadSpec>,
    pub simulation: Option<Object<SimulationSpec>>,
}

const HEADER: &str =
    "# Written by `kubetwin import`. What Kubernetes does not know (ServiceModels, the
# Workload, latencies, prices) came from the model, kubetwin.io annotations or defaults;
# the import's warnings name each default. See docs/import.md.
";

/// The scenario as multi-document YAML: Topology, Nodes, Deployments, Services, HPAs,
/// Pods, ServiceModels, Workload, Simulation.
pub(super) fn to_yaml(s: &Scenario) -> Result<String, ImportError> {
    let mut docs = vec![yaml(&s.topology)?];
    docs.extend(all(&s.nodes)?);
    docs.extend(all(&s.deployments)?);
    docs.extend(all(&s.services)?);
    docs.extend(all(&s.hpas)?);
    docs.extend(all(&s.pods)?);
    docs.extend(all(&s.models)?);
    docs.push(yaml(&s.workload)?);
    docs.extend(all(s.simulation.as_slice())?);
    Ok(format!("{HEADER}{}", docs.join("---\n")))
}

fn all<T: Serialize>(objects: &[T]) -> Result<Vec<String>, ImportError> {
    objects.iter().map(yaml).collect()
}

fn yaml<T: Serialize>(value: &T) -> Result<String, ImportError> {
    let text = serde_saphyr::to_string(value).map_err(|e| {
        ImportError::Output(ScenarioError::Syntax {
            at: crate::model::Origin::line("imported.yaml", 0),
            message: format!("cannot write YAML: {e}"),
        })
    })?;
    Ok(format!("{}\n", text.trim_end()))
}

/// Loads and builds `yaml` as `kubetwin simulate` will. What the engine rejects in a
/// Kubernetes object (a selector that does not match its template, negative replicas) is
/// reported on the object as read.
pub(super) fn check(yaml: &str, cx: &Context) -> Result<(), ImportError> {
    let name = Path::new("imported.yaml");
    let scenario = load_str(name, yaml, Path::new("."), &[]).map_err(ImportError::Output)?;
    match build(&scenario, BuildOptions::default()) {
        Ok(_) => Ok(()),
        Err(e) => Err(on_source(e, cx)),
    }
}

/// `e` about the object as the import read it, when it is about a Kubernetes object.
fn on_source(e: ScenarioError, cx: &Context) -> ImportError {
    let ScenarioError::Invalid {
        object,
        field,
        message,
        ..
    } = &e
    else {
        return ImportError::Output(e);
    };
    let Some((kind, name)) = object.split_once('/') else {
        return ImportError::Output(e);
    };
    let kinds: &[&str] = match kind {
        "Deployment" => &["Deployment", "StatefulSet"],
        "Service" | "HorizontalPodAutoscaler" | "Node" | "Pod" => &[kind],
        _ => return ImportError::Output(e),
    };
    let key = (cx.sources.keys())
        .find(|k| kinds.contains(&k.kind.as_str()) && k.name == name)
        .cloned()
        .unwrap_or_else(|| ObjectKey {
            kind: kind.into(),
            namespace: String::new(),
            name: name.into(),
        });
    cx.invalid(&key, field, message.clone())
}
