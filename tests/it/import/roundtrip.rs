//! Round trips: import(export(s)) equals s on the Kubernetes parts, for generated clusters
//! (a property test with a fixed seed) and for the shop; every exported object is its
//! k8s-openapi type exactly.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kubetwin::k8s::export;
use kubetwin::k8s::import::{self, ClusterObjects, ImportOptions};
use kubetwin::model::{self, Scenario};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A generated workload: (stateful, replicas, cpu millicores, zone selector, tolerates the
/// taint, HPA bounds, pods on nodes).
type WorkloadCase = (
    bool,
    i32,
    u32,
    Option<usize>,
    bool,
    Option<(i32, i32)>,
    Vec<usize>,
);
/// A generated node: (zone, cpu cores, tainted).
type NodeCase = (usize, u32, bool);

const ZONES: [&str; 3] = ["z-a", "z-b", "z-c"];

fn workload(i: usize, n: usize, case: &WorkloadCase) -> Vec<Value> {
    let (stateful, replicas, cpu, zone, tolerates, hpa, _) = case;
    let name = format!("w{i}");
    // Each workload calls the next, so the call graph is a chain.
    let calls = if i + 1 < n {
        format!("w{}", i + 1)
    } else {
        String::new()
    };
    let mut pod = json!({"containers": [{"name": "main", "image": format!("img/{name}:1"),
        "resources": {"requests": {"cpu": format!("{cpu}m"), "memory": "64Mi"}}}]});
    if let Some(z) = zone {
        pod["nodeSelector"] = json!({"topology.kubernetes.io/zone": ZONES[*z]});
    }
    if *tolerates {
        pod["tolerations"] =
            json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]);
    }
    let kind = if *stateful {
        "StatefulSet"
    } else {
        "Deployment"
    };
    let mut spec = json!({"replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": pod}});
    if *stateful {
        spec["serviceName"] = json!(name);
    }
    let mut out = vec![
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "ns",
            "annotations": {"kubetwin.io/service-time-ms": "2", "kubetwin.io/calls": calls}}, "spec": spec}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns",
            "annotations": {"kubetwin.io/entry-rate": "10"}},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}),
    ];
    if let Some((min, extra)) = hpa {
        out.push(
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
                "minReplicas": min, "maxReplicas": min + extra,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60 + extra}}}]}}),
        );
    }
    out
}

fn node(i: usize, (zone, cpu, tainted): &NodeCase) -> Value {
    let mut spec = json!({});
    if *tainted {
        spec["taints"] = json!([{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]);
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}"),
        "labels": {"topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": ZONES[*zone]}},
        "spec": spec, "status": {"allocatable": {"cpu": cpu.to_string(), "memory": "16Gi"}}})
}

fn pod(workload: usize, ordinal: usize, node: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("w{workload}-{ordinal}"),
        "namespace": "ns", "labels": {"app": format!("w{workload}")}},
        "spec": {"nodeName": format!("node-{node}"), "containers": [{"name": "main"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ordinal.is_multiple_of(2) { "True" } else { "False" }}]}})
}

fn typed<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn objects(workloads: &[WorkloadCase], nodes: &[NodeCase]) -> ClusterObjects {
    let mut o = ClusterObjects::default();
    for (i, n) in nodes.iter().enumerate() {
        o.nodes.push(typed(node(i, n)));
    }
    for (i, w) in workloads.iter().enumerate() {
        for v in workload(i, workloads.len(), w) {
            match v["kind"].as_str().unwrap() {
                "Deployment" => o.deployments.push(typed(v)),
                "StatefulSet" => o.stateful_sets.push(typed(v)),
                "Service" => o.services.push(typed(v)),
                _ => o.hpas.push(typed(v)),
            }
        }
        for (ordinal, &n) in w.6.iter().enumerate() {
            o.pods.push(typed(pod(i, ordinal, n % nodes.len())));
        }
    }
    o
}

fn load(yaml: &str) -> Scenario {
    model::load_str(Path::new("s.yaml"), yaml, Path::new("."), &[])
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// The Kubernetes parts of a scenario, as JSON.
fn kubernetes(s: &Scenario) -> Vec<Value> {
    fn all<T: Serialize>(docs: &[model::Doc<T>]) -> Vec<Value> {
        docs.iter()
            .map(|d| serde_json::to_value(&d.object).unwrap())
            .collect()
    }
    [
        all(&s.deployments),
        all(&s.services),
        all(&s.autoscalers),
        all(&s.nodes),
        all(&s.pods),
    ]
    .concat()
}

/// `value` read as `T` and written again is `value`: no field unknown to k8s-openapi, none lost.
fn exactly<T: DeserializeOwned + Serialize>(value: &Value) {
    let object: T =
        serde_path_to_error::deserialize(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
    assert_eq!(&serde_json::to_value(object).unwrap(), value);
}

/// Exports `yaml` with its cluster state, checks each object's type, imports it again.
fn round_trip(yaml: &str, options: &ImportOptions) -> String {
    let scenario = load(yaml);
    let manifests = export::manifests(&scenario, true).unwrap();
    for m in &manifests {
        match m["kind"].as_str().unwrap() {
            "Deployment" => exactly::<Deployment>(m),
            "StatefulSet" => exactly::<StatefulSet>(m),
            "Service" => exactly::<Service>(m),
            "HorizontalPodAutoscaler" => exactly::<HorizontalPodAutoscaler>(m),
            "Node" => exactly::<Node>(m),
            "Pod" => exactly::<Pod>(m),
            other => panic!("exported a {other}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exported.yaml");
    std::fs::write(&file, export::to_yaml(&manifests).unwrap()).unwrap();
    let read = import::from_manifests(&[PathBuf::from(&file)]).unwrap();
    assert_eq!(read.ignored.summary(), None);
    import::to_scenario(&read.objects, options)
        .unwrap_or_else(|e| panic!("{e}"))
        .yaml
}

fn workload_case() -> impl Strategy<Value = WorkloadCase> {
    (
        any::<bool>(),
        1..4i32,
        (1..40u32).prop_map(|c| c * 25),
        prop::option::of(0..3usize),
        any::<bool>(),
        prop::option::of((1..3i32, 0..5i32)),
        prop::collection::vec(0..8usize, 0..4),
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(20_261_129),
        ..ProptestConfig::default()
    })]

    #[test]
    fn import_of_export_is_the_identity_on_kubernetes_objects(
        workloads in prop::collection::vec(workload_case(), 1..5),
        nodes in prop::collection::vec((0..3usize, 2..16u32, any::<bool>()), 1..6),
    ) {
        let options = ImportOptions::default();
        let first = import::to_scenario(&objects(&workloads, &nodes), &options).unwrap_or_else(|e| panic!("{e}"));
        let second = round_trip(&first.yaml, &options);
        prop_assert_eq!(kubernetes(&load(&first.yaml)), kubernetes(&load(&second)));
        // And the rest follows from the same annotations and defaults: the same bytes.
        prop_assert_eq!(first.yaml, second);
    }
}

#[test]
fn the_shop_survives_export_and_import() {
    let first = super::import_shop(false);
    let options = ImportOptions {
        prices: import::read_prices(Path::new(super::PRICES)).unwrap(),
        ..ImportOptions::default()
    };
    let second = round_trip(&first.yaml, &options);
    assert_eq!(kubernetes(&load(&first.yaml)), kubernetes(&load(&second)));
    assert_eq!(first.yaml, second);
}
