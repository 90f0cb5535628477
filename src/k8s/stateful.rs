//! StatefulSets in a scenario. The engine runs Deployments only, so an imported StatefulSet
//! is written as a Deployment that carries the annotation [`STATEFUL_SET_ANNOTATION`] (its
//! `spec.serviceName`); export and diff turn it back into the StatefulSet it came from.
//!
//! What a StatefulSet adds to a Deployment — stable pod identities, ordered start-up,
//! volume claim templates, its update strategy — is not simulated and not kept.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};

/// The Deployment annotation that marks an imported StatefulSet; its value is the
/// StatefulSet's `spec.serviceName` (possibly empty).
pub const STATEFUL_SET_ANNOTATION: &str = "kubetwin.io/stateful-set";

/// The Deployment a StatefulSet is simulated as: same metadata (plus the marker), replicas,
/// selector, pod template, `minReadySeconds` and `revisionHistoryLimit`.
pub fn to_deployment(set: &StatefulSet) -> Deployment {
    let mut metadata = set.metadata.clone();
    let spec = set.spec.clone();
    metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            STATEFUL_SET_ANNOTATION.into(),
            spec.service_name.clone().unwrap_or_default(),
        );
    Deployment {
        metadata,
        spec: DeploymentSpec {
            replicas: spec.replicas,
            selector: spec.selector,
            template: spec.template,
            min_ready_seconds: spec.min_ready_seconds,
            revision_history_limit: spec.revision_history_limit,
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

/// The StatefulSet a marked Deployment came from, without the marker; `None` for a plain
/// Deployment.
pub fn to_stateful_set(deployment: &Deployment) -> Option<StatefulSet> {
    let mut metadata = deployment.metadata.clone();
    let annotations = metadata.annotations.as_mut()?;
    let service_name = annotations.remove(STATEFUL_SET_ANNOTATION)?;
    if annotations.is_empty() {
        metadata.annotations = None;
    }
    let spec = deployment.spec.clone();
    Some(StatefulSet {
        metadata,
        spec: StatefulSetSpec {
            replicas: spec.replicas,
            selector: spec.selector,
            template: spec.template,
            min_ready_seconds: spec.min_ready_seconds,
            revision_history_limit: spec.revision_history_limit,
            service_name: (!service_name.is_empty()).then_some(service_name),
            ..StatefulSetSpec::default()
        },
        status: None,
    })
}

/// `StatefulSet` for a marked Deployment, else `Deployment`: the kind a scenario's
/// Deployment has in the cluster.
pub fn cluster_kind(deployment: &Deployment) -> &'static str {
    let marked = (deployment.metadata.annotations.as_ref())
        .is_some_and(|a| a.contains_key(STATEFUL_SET_ANNOTATION));
    if marked { "StatefulSet" } else { "Deployment" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn a_stateful_set_survives_the_round_trip() {
        let set = StatefulSet {
            metadata: ObjectMeta {
                name: Some("db".into()),
                namespace: Some("shop".into()),
                ..ObjectMeta::default()
            },
            spec: StatefulSetSpec {
                replicas: Some(3),
                service_name: Some("db-headless".into()),
                min_ready_seconds: Some(5),
                ..StatefulSetSpec::default()
            },
            status: None,
        };
        let deployment = to_deployment(&set);
        assert_eq!(cluster_kind(&deployment), "StatefulSet");
        assert_eq!(deployment.spec.replicas, Some(3));
        assert_eq!(to_stateful_set(&deployment), Some(set));
        let plain = Deployment::default();
        assert_eq!(cluster_kind(&plain), "Deployment");
        assert_eq!(to_stateful_set(&plain), None);
    }
}
