//! Diffs of a small scenario against itself with one override at a time: each changeable
//! field gives exactly its patch, everything else a note or nothing.

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::model::{Override, load_str};

const SCENARIO: &str = r#"
apiVersion: kubetwin.io/v1alpha1
kind: Topology
metadata: {name: lab}
spec:
  locations: [{name: lab}]
  clusters: [{name: lab, location: lab, nodePools: [{name: pool, count: 2, capacity: {cpu: "8", memory: 32Gi}, labels: {disk: ssd}}]}]
  latency: {intraCluster: {type: constant, value: 0}}
---
apiVersion: kubetwin.io/v1alpha1
kind: Workload
metadata: {name: users}
spec:
  userLocation: lab
  requestTypes: [{name: r, entry: web}]
  flows: [{requests: 10, arrivals: {type: poisson, rate: 10}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: main, image: web:1, resources: {requests: {cpu: 100m, memory: 64Mi}}}
        - {name: proxy, image: envoy:1, resources: {requests: {cpu: 50m}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
  namespace: shop
  annotations: {kubetwin.io/stateful-set: db-headless}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: db, image: db:1, resources: {requests: {cpu: 200m}}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {selector: {app: db}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {name: web}
spec: {serviceTime: {type: constant, value: 1}, calls: [{service: db}]}
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {name: db}
spec: {serviceTime: {type: constant, value: 1}}
"#;

fn scenario(overrides: &[&str]) -> Scenario {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    load_str(Path::new("diff.yaml"), SCENARIO, Path::new("."), &overrides).unwrap()
}

/// The diff of the scenario against itself with `overrides`.
fn diff_with(overrides: &[&str]) -> Recommendation {
    diff(&scenario(&[]), &scenario(overrides))
}

/// The only patch, as (kind, apply, merge, fields).
fn only(r: &Recommendation) -> (&str, &Value, &Value, &[String]) {
    assert_eq!(r.patches.len(), 1, "{r:#?}");
    let p = &r.patches[0];
    (p.target.kind.as_str(), &p.apply, &p.merge, &p.fields)
}

fn identity(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "shop"}})
}

/// `identity` with `spec` merged in.
fn with_spec(mut id: Value, spec: Value) -> Value {
    id["spec"] = spec;
    id
}

#[test]
fn equal_configurations_give_no_patch() {
    let r = diff_with(&[]);
    assert!(r.is_empty() && r.notes.is_empty(), "{r:#?}");
    assert_eq!(to_apply_yaml(&r).unwrap(), "# no changes\n");
    assert_eq!(to_kubectl(&r), "# no changes\n");
}

#[test]
fn hpa_bounds_metrics_and_behavior() {
    let hpa = |spec| {
        with_spec(
            identity("autoscaling/v2", "HorizontalPodAutoscaler", "web"),
            spec,
        )
    };
    let r = diff_with(&["HorizontalPodAutoscaler/web:spec.minReplicas=3"]);
    assert_eq!(
        only(&r),
        (
            "HorizontalPodAutoscaler",
            &hpa(json!({"minReplicas": 3})),
            &json!({"spec": {"minReplicas": 3}}),
            &["spec.minReplicas".to_string()][..]
        )
    );
    let r = diff_with(&["HorizontalPodAutoscaler/web:spec.maxReplicas=9"]);
    assert_eq!(only(&r).1, &hpa(json!({"maxReplicas": 9})));
    // Metrics are an atomic list: the whole proposed list is sent.
    let r = diff_with(&[
        "HorizontalPodAutoscaler/web:spec.metrics[0].resource.target.averageUtilization=50",
    ]);
    let metrics = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]);
    assert_eq!(only(&r).1, &hpa(json!({"metrics": metrics})));
    assert_eq!(only(&r).2, &json!({"spec": {"metrics": metrics}}));
    let r = diff_with(&[
        "HorizontalPodAutoscaler/web:spec.behavior.scaleDown.stabilizationWindowSeconds=60",
    ]);
    let behavior = json!({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}});
    assert_eq!(only(&r).1, &hpa(behavior.clone()));
    assert_eq!(only(&r).2, &json!({"spec": behavior}));
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn replicas_are_patched_unless_an_hpa_owns_them() {
    let r = diff_with(&["deployment/db:spec.replicas=3"]);
    let (kind, apply, merge, fields) = only(&r);
    assert_eq!(
        kind, "StatefulSet",
        "the marker makes it a StatefulSet again"
    );
    assert_eq!(
        apply,
        &with_spec(
            identity("apps/v1", "StatefulSet", "db"),
            json!({"replicas": 3})
        )
    );
    assert_eq!(
        (merge, fields),
        (
            &json!({"spec": {"replicas": 3}}),
            &["spec.replicas".to_string()][..]
        )
    );
    let r = diff_with(&["deployment/web:spec.replicas=4"]);
    assert!(r.is_empty(), "{r:#?}");
    assert_eq!(r.notes.len(), 1);
    assert!(r.notes[0].contains("Deployment/web (namespace shop) spec.replicas is not patched: a HorizontalPodAutoscaler owns it"), "{}", r.notes[0]);
    assert!(
        to_apply_yaml(&r)
            .unwrap()
            .contains("# note: Deployment/web")
    );
}

#[test]
fn node_selector_and_node_affinity() {
    let r = diff_with(&["deployment/web:spec.template.spec.nodeSelector.disk=ssd"]);
    let spec = json!({"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}});
    assert_eq!(
        only(&r).1,
        &with_spec(identity("apps/v1", "Deployment", "web"), spec.clone())
    );
    assert_eq!(only(&r).2, &json!({"spec": spec}));
    // Removing a key: a merge patch nulls it; an apply configuration cannot, so a note says so.
    let r = diff_with(&["deployment/db:spec.template.spec.nodeSelector={}"]);
    assert_eq!(
        only(&r).2,
        &json!({"spec": {"template": {"spec": {"nodeSelector": {"disk": null}}}}})
    );
    assert_eq!(only(&r).1, &identity("apps/v1", "StatefulSet", "db"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("spec.template.spec.nodeSelector.disk is removed")),
        "{:?}",
        r.notes
    );
    let term =
        "{nodeSelectorTerms: [{matchExpressions: [{key: disk, operator: In, values: [ssd]}]}]}";
    let r = diff_with(&[&format!(
        "deployment/web:spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution={term}"
    )]);
    let affinity = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}});
    assert_eq!(
        only(&r).2,
        &json!({"spec": {"template": {"spec": {"affinity": affinity}}}})
    );
    assert_eq!(only(&r).3, ["spec.template.spec.affinity.nodeAffinity"]);
}

#[test]
fn container_requests_are_keyed_by_name() {
    let r =
        diff_with(&["deployment/web:spec.template.spec.containers[1].resources.requests.cpu=150m"]);
    let (_, apply, merge, fields) = only(&r);
    let keyed = json!({"template": {"spec": {"containers": [{"name": "proxy", "resources": {"requests": {"cpu": "150m"}}}]}}});
    assert_eq!(
        apply,
        &with_spec(identity("apps/v1", "Deployment", "web"), keyed.clone())
    );
    assert_eq!(r.patches[0].strategic, json!({"spec": keyed}));
    assert_eq!(
        fields,
        ["spec.template.spec.containers[proxy].resources.requests"]
    );
    // A merge patch replaces the list: every container, as proposed.
    let containers = &merge["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(2));
    assert_eq!(containers[0]["image"], "web:1");
    assert_eq!(containers[1]["resources"]["requests"]["cpu"], "150m");
    assert!(
        to_kubectl(&r)
            .contains("kubectl patch deployment 'web' --namespace 'shop' --type strategic"),
        "{}",
        to_kubectl(&r)
    );
}

#[test]
fn other_changes_are_notes_not_patches() {
    let r = diff_with(&[
        "deployment/web:spec.template.spec.containers[0].image=web:2",
        "service/web:metadata.labels.tier=front",
        "servicemodel/web:spec.workers=4",
    ]);
    assert!(r.is_empty(), "{r:#?}");
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(
        r.notes[0]
            .contains("Deployment/web also differs in spec.template.spec.containers[0].image"),
        "{}",
        r.notes[0]
    );
    assert!(r.notes[1].contains("Service/web differs"), "{}", r.notes[1]);
}

#[test]
fn several_overrides_give_exactly_their_fields() {
    let r = diff_with(&[
        "HorizontalPodAutoscaler/web:spec.maxReplicas=8",
        "deployment/db:spec.replicas=2",
        "deployment/db:spec.template.spec.containers[0].resources.requests.memory=1Gi",
    ]);
    let fields: Vec<(String, Vec<String>)> = (r.patches.iter())
        .map(|p| {
            (
                format!("{}/{}", p.target.kind, p.target.name),
                p.fields.clone(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            (
                "HorizontalPodAutoscaler/web".to_string(),
                vec!["spec.maxReplicas".to_string()]
            ),
            (
                "StatefulSet/db".to_string(),
                vec![
                    "spec.replicas".to_string(),
                    "spec.template.spec.containers[db].resources.requests".to_string()
                ]
            ),
        ]
    );
    let merge = to_merge_json(&r);
    let parsed: Value = serde_json::from_str(&merge).unwrap();
    assert_eq!(parsed["patches"][1]["patch"]["spec"]["replicas"], 2);
    assert_eq!(parsed["patches"][0]["kind"], "HorizontalPodAutoscaler");
}
