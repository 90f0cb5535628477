//! Translation between Kubernetes values and the model: resource quantities and pod
//! resource requests.

pub mod quantity;
