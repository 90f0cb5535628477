//! Translation between Kubernetes objects and the model: resource quantities and pod
//! resource requests, label selectors, importing objects into a scenario, StatefulSets
//! as Deployments; sweeps as Indexed Jobs.

pub mod diff;
pub mod export;
pub mod import;
pub mod job;
#[cfg(feature = "operator")]
pub mod live;
pub mod quantity;
pub mod selector;
pub mod stateful;
