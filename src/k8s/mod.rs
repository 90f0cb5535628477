//! Translation between Kubernetes values and the model: resource quantities and pod
//! resource requests; sweeps as Indexed Jobs.

pub mod job;
pub mod quantity;
