//! Translation between Kubernetes values and the model: resource quantities and pod
//! resource requests, label selectors; sweeps as Indexed Jobs.

pub mod job;
pub mod quantity;
pub mod selector;
