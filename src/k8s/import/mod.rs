//! From Kubernetes objects to a complete scenario: `kubetwin import`.
//!
//! The import has two halves so that a manifest directory and a live cluster share the
//! translation: reading ([`from_manifests`] here, `k8s::live::fetch` with the `operator`
//! feature) produces a plain [`ClusterObjects`]; [`to_scenario`] turns it into scenario
//! YAML. Nothing here is async or talks to a cluster.
//!
//! What Kubernetes does not know — how pods serve requests, who calls whom, how many users
//! arrive, the network latency between locations, node prices — comes, in this order, from
//! a fitted model ([`ImportOptions::model`], the documents `kubetwin fit --prometheus`
//! writes), from `kubetwin.io/*` annotations on the objects ([`annotations`]), or from
//! documented defaults; every default used is a [`Warning`] naming the object and the field,
//! so that the user knows what to measure next. `docs/import.md` is the user guide.

pub mod annotations;
mod autoscale;
mod behaviour;
mod clean;
mod manifests;
mod model_file;
mod render;
mod topology;
mod workloads;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};

use crate::model::{Origin, ScenarioError};

pub use behaviour::USER_LOCATION;
pub use manifests::{Ignored, Manifests, from_manifests};
pub use model_file::{Model, read_prices};

/// The Kubernetes objects an import reads, as k8s-openapi values. Built by
/// [`from_manifests`] or, with the `operator` feature, by listing a live cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterObjects {
    /// `apps/v1` Deployments.
    pub deployments: Vec<Deployment>,
    /// `apps/v1` StatefulSets (simulated as Deployments, see [`crate::k8s::stateful`]).
    pub stateful_sets: Vec<StatefulSet>,
    /// `v1` Services.
    pub services: Vec<Service>,
    /// `autoscaling/v2` HorizontalPodAutoscalers.
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// `v1` Nodes: capacity, labels, taints, location, price.
    pub nodes: Vec<Node>,
    /// `v1` Pods: where the replicas run now, and whether they are ready.
    pub pods: Vec<Pod>,
}

/// Identifies an object for messages: kind, namespace (empty for Nodes) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `Deployment`, `Service`, ...
    pub kind: String,
    /// The namespace as written (empty when unset or cluster-scoped).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

/// Where each object was read (file and line), for messages; empty for a live cluster.
pub type Sources = BTreeMap<ObjectKey, Origin>;

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Fitted ServiceModels, a Workload, a Topology (latency and tiers) and a Simulation,
    /// used before annotations and defaults.
    pub model: Model,
    /// Price per hour by `node.kubernetes.io/instance-type`.
    pub prices: BTreeMap<String, f64>,
    /// Leave the running Pods out: every replica goes through the twin's scheduler at time
    /// zero instead of starting where it runs now.
    pub reschedule: bool,
    /// Where the objects were read, to locate messages.
    pub sources: Sources,
    /// `metadata.name` of the Topology and the Workload written (default `imported`).
    pub name: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            model: Model::default(),
            prices: BTreeMap::new(),
            reschedule: false,
            sources: Sources::new(),
            name: "imported".into(),
        }
    }
}

/// A finding about one field of one object: a default used, something skipped, or (inside
/// [`ImportError::Invalid`]) what makes the input unusable.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// Where the object was read, when known.
    pub at: Option<Origin>,
    /// `Kind/name`, e.g. `Deployment/cart`.
    pub object: String,
    /// The field path, e.g. `metadata.annotations[kubetwin.io/service-time-ms]`.
    pub field: String,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{} {}: {}", self.object, self.field, self.message)
    }
}

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The scenario, as multi-document YAML ready for `kubetwin simulate`.
    pub yaml: String,
    /// One warning per default used and per object skipped, in a stable order.
    pub warnings: Vec<Warning>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A manifest or model file could not be read or parsed.
    #[error(transparent)]
    Read(#[from] ScenarioError),
    /// An object cannot be imported (a malformed quantity, a name used twice, no entry).
    #[error("{0}")]
    Invalid(Warning),
    /// The `--prices` file is not a map from instance type to a price >= 0.
    #[error("{path}: {message}")]
    Prices {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The scenario written does not load or build: a kubetwin bug.
    #[error("the imported scenario is not valid (a kubetwin bug, please report it): {0}")]
    Output(ScenarioError),
}

/// Collects warnings and locates messages.
struct Context<'a> {
    sources: &'a Sources,
    warnings: Vec<Warning>,
}

impl Context<'_> {
    fn finding(&self, key: &ObjectKey, field: &str, message: String) -> Warning {
        Warning {
            at: self.sources.get(key).cloned(),
            object: format!("{}/{}", key.kind, key.name),
            field: field.into(),
            message,
        }
    }

    fn warn(&mut self, key: &ObjectKey, field: &str, message: impl Into<String>) {
        let warning = self.finding(key, field, message.into());
        self.warnings.push(warning);
    }

    fn invalid(&self, key: &ObjectKey, field: &str, message: impl Into<String>) -> ImportError {
        ImportError::Invalid(self.finding(key, field, message.into()))
    }
}

/// The key of an object from its kind and metadata.
fn key(kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    ObjectKey {
        kind: kind.into(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// Translates `objects` into a complete scenario (see the module docs for where each part
/// comes from) and checks that it builds.
///
/// # Errors
/// [`ImportError::Invalid`] naming the object and field: a malformed quantity, a name used
/// in two namespaces, an HPA the twin cannot read, no Node, no entry Service.
pub fn to_scenario(
    objects: &ClusterObjects,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut cx = Context {
        sources: &options.sources,
        warnings: Vec::new(),
    };
    let workloads = workloads::workloads(objects, &mut cx)?;
    let services = workloads::services(objects, &workloads, &mut cx)?;
    let hpas = workloads::autoscalers(objects, &workloads, &mut cx)?;
    let nodes = topology::nodes(objects, &options.prices, &mut cx)?;
    let pods = if options.reschedule {
        Vec::new()
    } else {
        workloads::pods(objects, &workloads, &nodes, &mut cx)
    };
    let models = behaviour::service_models(&workloads, &services, &hpas, &options.model, &mut cx)?;
    let workload = behaviour::workload(&services, options, &mut cx)?;
    let topology = topology::topology(&nodes, &workload.spec.user_location, options, &mut cx);
    let scenario = render::Scenario {
        topology,
        nodes: nodes.into_iter().map(|n| n.node).collect(),
        deployments: workloads.into_iter().map(|w| w.deployment).collect(),
        services,
        hpas,
        pods,
        models,
        workload,
        simulation: options.model.simulation.as_ref().map(|s| s.object.clone()),
    };
    let yaml = render::to_yaml(&scenario)?;
    render::check(&yaml, &cx)?;
    Ok(Imported {
        yaml,
        warnings: cx.warnings,
    })
}
