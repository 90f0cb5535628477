//! The scenario vocabulary: Kubernetes objects (k8s-openapi types, read unchanged) and
//! kubetwin's own kinds, read from YAML with errors that name file, line and field.
//! No behaviour: [`crate::sim::build()`] checks the references between objects and turns
//! a [`Scenario`] into the engine's world.

pub mod dist;
mod error;
pub mod faults;
pub mod kinds;
mod load;
pub mod resources;
mod set;

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};

pub use error::{Origin, SUPPORTED_KINDS, ScenarioError};
pub use kinds::Object;
pub(crate) use load::{Document, read_documents, read_header, read_object, split_documents};
pub use load::{load, load_str};
pub use set::Override;

/// An object of a scenario with where it was read from.
#[derive(Clone, Debug)]
pub struct Doc<T> {
    /// The file and the line where its document starts.
    pub origin: Origin,
    /// The directory relative file references in it are resolved against.
    pub base_dir: PathBuf,
    /// The object.
    pub object: T,
}

/// Every object of a scenario, as read (not yet cross-checked).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `apps/v1` Deployments.
    pub deployments: Vec<Doc<Deployment>>,
    /// `v1` Services.
    pub services: Vec<Doc<Service>>,
    /// `autoscaling/v2` HorizontalPodAutoscalers.
    pub autoscalers: Vec<Doc<HorizontalPodAutoscaler>>,
    /// `v1` Nodes, in addition to the Topology's node pools.
    pub nodes: Vec<Doc<Node>>,
    /// `v1` Pods already bound to a node (`spec.nodeName`): initial replicas of the
    /// Deployment whose selector matches them, started on that node at time zero.
    pub pods: Vec<Doc<Pod>>,
    /// How each Deployment's pods serve requests.
    pub service_models: Vec<Doc<Object<kinds::ServiceModelSpec>>>,
    /// Locations, clusters, latencies.
    pub topology: Doc<Object<kinds::TopologySpec>>,
    /// Arrivals.
    pub workload: Doc<Object<kinds::WorkloadSpec>>,
    /// Run settings (defaults when the scenario has none).
    pub simulation: Doc<Object<kinds::SimulationSpec>>,
}

impl<T> Doc<T> {
    /// An [`ScenarioError::Invalid`] about `field` of this object.
    pub fn invalid(
        &self,
        object: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::Invalid {
            at: self.origin.clone(),
            object: object.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}
