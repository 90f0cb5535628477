//! From a scenario back to Kubernetes manifests: `kubetwin export`.
//!
//! The configuration a cluster can apply — Deployments (StatefulSets restored from their
//! marker, see [`crate::k8s::stateful`]), Services and HPAs — and, on request, the cluster
//! state a scenario records: its `v1` Node objects and Pods (node pools are kubetwin's own
//! and have no manifest). kubetwin's kinds are not exported.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde::Serialize;
use serde_json::Value;

use crate::k8s::stateful::{cluster_kind, to_stateful_set};
use crate::model::Scenario;

/// Why manifests could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// An object did not serialize (not expected for Kubernetes types).
    #[error("cannot serialize {object}: {message}")]
    Serialize {
        /// `Kind/name`.
        object: String,
        /// The serializer's message.
        message: String,
    },
}

/// The scenario's Kubernetes objects as JSON values, in scenario order: with
/// `cluster_state`, Nodes first and Pods last around the configuration (Deployments and
/// StatefulSets, Services, HPAs).
///
/// # Errors
/// [`ExportError::Serialize`] if an object does not serialize.
pub fn manifests(scenario: &Scenario, cluster_state: bool) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    if cluster_state {
        for n in &scenario.nodes {
            out.push(value("Node", &n.object.metadata.name, &n.object)?);
        }
    }
    for d in &scenario.deployments {
        let name = &d.object.metadata.name;
        out.push(match to_stateful_set(&d.object) {
            Some(set) => value("StatefulSet", name, &set)?,
            None => value("Deployment", name, &d.object)?,
        });
    }
    for s in &scenario.services {
        out.push(value("Service", &s.object.metadata.name, &s.object)?);
    }
    for h in &scenario.autoscalers {
        let hpa = with_cluster_target(scenario, &h.object);
        out.push(value("HorizontalPodAutoscaler", &hpa.metadata.name, &hpa)?);
    }
    if cluster_state {
        for p in &scenario.pods {
            out.push(value("Pod", &p.object.metadata.name, &p.object)?);
        }
    }
    Ok(out)
}

/// `hpa` with `scaleTargetRef.kind` as in the cluster (StatefulSet for a marked target).
pub fn with_cluster_target(
    scenario: &Scenario,
    hpa: &HorizontalPodAutoscaler,
) -> HorizontalPodAutoscaler {
    let mut hpa = hpa.clone();
    let target = &mut hpa.spec.scale_target_ref;
    let found = (scenario.deployments.iter())
        .find(|d| d.object.metadata.name.as_deref() == Some(target.name.as_str()));
    if let Some(d) = found
        && target.kind == "Deployment"
    {
        target.kind = cluster_kind(&d.object).into();
    }
    hpa
}

fn value(kind: &str, name: &Option<String>, object: &impl Serialize) -> Result<Value, ExportError> {
    serde_json::to_value(object).map_err(|e| ExportError::Serialize {
        object: format!("{kind}/{}", name.as_deref().unwrap_or("")),
        message: e.to_string(),
    })
}

/// The manifests as one YAML stream (`---` between documents), for `kubectl apply -f -`.
///
/// # Errors
/// [`ExportError::Serialize`] if a value does not serialize as YAML.
pub fn to_yaml(manifests: &[Value]) -> Result<String, ExportError> {
    let mut docs = Vec::new();
    for m in manifests {
        let text = serde_saphyr::to_string(m).map_err(|e| ExportError::Serialize {
            object: format!("{}/{}", m["kind"], m["metadata"]["name"]),
            message: e.to_string(),
        })?;
        docs.push(format!("{}\n", text.trim_end()));
    }
    Ok(docs.join("---\n"))
}

/// The manifests as one `v1` List in JSON, as `kubectl get -o json` writes several objects.
pub fn to_json(manifests: &[Value]) -> String {
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": manifests});
    format!("{list:#}\n")
}
