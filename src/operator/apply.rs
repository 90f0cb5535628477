//! Applying a recommendation's patches and rolling them back: server-side apply with the
//! field manager `kubetwin`, forced (a person approved the change, so it takes the fields
//! over from whoever set them), after recording what the patched fields held.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Map, Value};

use super::FIELD_MANAGER;
use super::crd::PatchSpec;

/// Applies `patches` in `namespace` and returns, for each, what its fields held before
/// (the patch that undoes it).
///
/// # Errors
/// The first refused read or apply (e.g. 403 when RBAC does not allow the patch).
pub async fn apply(
    client: &Client,
    namespace: &str,
    patches: &[PatchSpec],
) -> Result<Vec<PatchSpec>, kube::Error> {
    let mut previous = Vec::with_capacity(patches.len());
    for patch in patches {
        let api = api(client, namespace, patch);
        let config = apply_value(patch)?;
        let live =
            serde_json::to_value(api.get(&patch.name).await?).map_err(kube::Error::SerdeError)?;
        let before = PatchSpec {
            apply: serde_saphyr::to_string(&previous_values(&config, &live))
                .expect("JSON values serialize to YAML"),
            ..patch.clone()
        };
        api.patch(&patch.name, &params(), &Patch::Apply(&config))
            .await?;
        previous.push(before);
    }
    Ok(previous)
}

/// Applies the recorded previous values back.
///
/// # Errors
/// The first refused apply.
pub async fn rollback(
    client: &Client,
    namespace: &str,
    previous: &[PatchSpec],
) -> Result<(), kube::Error> {
    for patch in previous {
        let config = apply_value(patch)?;
        api(client, namespace, patch)
            .patch(&patch.name, &params(), &Patch::Apply(&config))
            .await?;
    }
    Ok(())
}

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn api(client: &Client, namespace: &str, patch: &PatchSpec) -> Api<DynamicObject> {
    let (group, version) = match patch.api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", patch.api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &patch.kind);
    Api::namespaced_with(client.clone(), namespace, &ApiResource::from_gvk(&gvk))
}

fn apply_value(patch: &PatchSpec) -> Result<Value, kube::Error> {
    serde_saphyr::from_str(&patch.apply).map_err(|e| {
        kube::Error::Service(format!("recommendation patch for {}: {e}", patch.name).into())
    })
}

/// The apply configuration that restores `live`'s values of the fields `config` sets:
/// identity kept, each field `config` sets replaced by its live value, fields absent from
/// `live` left out (so that applying it releases them), list items matched by `name`.
pub fn previous_values(config: &Value, live: &Value) -> Value {
    match (config, live) {
        (Value::Object(c), Value::Object(l)) => {
            let mut out = Map::new();
            for (key, value) in c {
                let identity = matches!(key.as_str(), "apiVersion" | "kind")
                    || (key == "name" && value.is_string());
                if identity {
                    out.insert(key.clone(), value.clone());
                } else if key == "metadata" {
                    out.insert(key.clone(), identity_of(value));
                } else if let Some(live_value) = l.get(key) {
                    out.insert(key.clone(), previous_values(value, live_value));
                }
            }
            Value::Object(out)
        }
        (Value::Array(c), Value::Array(l)) if c.iter().all(|v| v.get("name").is_some()) => {
            let items = c
                .iter()
                .filter_map(|item| {
                    let live_item = l.iter().find(|li| li.get("name") == item.get("name"))?;
                    Some(previous_values(item, live_item))
                })
                .collect();
            Value::Array(items)
        }
        (_, live) => live.clone(),
    }
}

fn identity_of(metadata: &Value) -> Value {
    let mut out = Map::new();
    for key in ["name", "namespace"] {
        if let Some(v) = metadata.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::previous_values;

    #[test]
    fn previous_values_keep_identity_and_read_each_set_field_from_the_live_object() {
        let config = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minReplicas": 4, "maxReplicas": 9}
        });
        let live = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop", "uid": "1", "resourceVersion": "7"},
            "spec": {"maxReplicas": 5, "scaleTargetRef": {"name": "web"}},
            "status": {"currentReplicas": 2}
        });
        assert_eq!(
            previous_values(&config, &live),
            json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"maxReplicas": 5}
            })
        );
    }

    #[test]
    fn previous_values_match_containers_by_name() {
        let config = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "main", "resources": {"requests": {"cpu": "2"}}}
        ]}}}});
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "main", "image": "x", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
        ]}}}});
        assert_eq!(
            previous_values(&config, &live),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "main", "resources": {"requests": {"cpu": "500m"}}}
            ]}}}})
        );
    }
}
