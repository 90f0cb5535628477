//! What of an object's metadata a scenario keeps: the identity and what scheduling and the
//! twin read (labels, annotations), not what the API server assigns (uid, resourceVersion,
//! managedFields, timestamps, owner references, status).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Annotations written by tools about the object's history, not its configuration.
const HISTORY_ANNOTATIONS: [&str; 3] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "autoscaling.alpha.kubernetes.io/conditions",
];

/// `meta` with only name, namespace, labels and annotations (without history annotations).
pub(super) fn meta(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone().filter(|l| !l.is_empty()),
        annotations: annotations(meta.annotations.as_ref(), |k| {
            !HISTORY_ANNOTATIONS.contains(&k)
        }),
        ..ObjectMeta::default()
    }
}

/// The annotations whose key `keep` accepts; `None` when none is left.
pub(super) fn annotations(
    annotations: Option<&BTreeMap<String, String>>,
    keep: impl Fn(&str) -> bool,
) -> Option<BTreeMap<String, String>> {
    let kept: BTreeMap<String, String> = annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// A pod template with its metadata cleaned like an object's (kubectl writes
/// `creationTimestamp: null` there).
pub(super) fn template(template: &PodTemplateSpec) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: template.metadata.as_ref().map(meta),
        spec: template.spec.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_fields_and_history_go_configuration_stays() {
        let annotations: BTreeMap<String, String> = [
            ("kubectl.kubernetes.io/last-applied-configuration", "{...}"),
            ("deployment.kubernetes.io/revision", "4"),
            ("kubetwin.io/workers", "4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let raw = ObjectMeta {
            name: Some("cart".into()),
            namespace: Some("shop".into()),
            uid: Some("1234".into()),
            resource_version: Some("99".into()),
            generation: Some(3),
            annotations: Some(annotations),
            labels: Some(BTreeMap::new()),
            ..ObjectMeta::default()
        };
        let clean = meta(&raw);
        assert_eq!(clean.name.as_deref(), Some("cart"));
        assert_eq!(clean.namespace.as_deref(), Some("shop"));
        assert_eq!(clean.uid, None);
        assert_eq!(clean.resource_version, None);
        assert_eq!(clean.generation, None);
        assert_eq!(clean.labels, None);
        let kept: Vec<&String> = clean.annotations.as_ref().unwrap().keys().collect();
        assert_eq!(kept, ["kubetwin.io/workers"]);
        assert_eq!(meta(&clean), clean, "cleaning is idempotent");
    }
}
