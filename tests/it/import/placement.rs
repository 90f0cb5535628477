//! Pods start where they run: a scenario's `v1` Pods bind their replicas to their nodes at
//! time zero, in the state their status gives; `--reschedule` leaves them to the scheduler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubetwin::k8s::import::{self, ImportOptions};
use kubetwin::model;
use kubetwin::sim::{self, BuildOptions, RunReport};

use crate::common::{error_of, kubetwin, simulate, simulate_with};

/// Three equal nodes in three locations, a Deployment `web` of 3 replicas (1 CPU each) and
/// 600 requests at 100/s; `pods` are appended.
fn zones(pods: &str) -> String {
    let node = |name: &str, location: &str| {
        format!(
            "---
apiVersion: v1
kind: Node
metadata:
  name: {name}
  annotations: {{kubetwin.io/location: {location}}}
  labels: {{topology.kubernetes.io/zone: {location}}}
status:
  allocatable: {{cpu: \"4\", memory: 8Gi}}
"
        )
    };
    let link = |a: &str, b: &str| {
        format!("{{from: {a}, to: {b}, distribution: {{type: constant, value: 1}}}}")
    };
    format!(
        "apiVersion: kubetwin.io/v1alpha1
kind: Topology
metadata: {{name: zones}}
spec:
  locations: [{{name: a}}, {{name: b}}, {{name: c}}]
  latency:
    intraCluster: {{type: constant, value: 0}}
    links: [{}, {}, {}]
{}{}{}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: main, image: web, resources: {{requests: {{cpu: \"1\", memory: 1Gi}}}}}}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations: {{kubetwin.io/entry-rate: \"100\"}}
spec: {{selector: {{app: web}}}}
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {{name: web}}
spec:
  workers: 2
  serviceTime: {{type: constant, value: 5}}
  startup: {{pending: {{type: constant, value: 1200}}, readiness: {{type: constant, value: 2500}}}}
---
apiVersion: kubetwin.io/v1alpha1
kind: Workload
metadata: {{name: users}}
spec:
  userLocation: a
  requestTypes: [{{name: r, entry: web}}]
  flows: [{{requests: 600, arrivals: {{type: constant, rate: 100}}}}]
{pods}",
        link("a", "b"),
        link("a", "c"),
        link("b", "c"),
        node("n-a", "a"),
        node("n-b", "b"),
        node("n-c", "c"),
    )
}

/// A Pod of `web` on `node`; `status` is a YAML mapping body (indented by 2) or empty.
fn pod(name: &str, node: &str, status: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: web, pod-template-hash: x}}}}
spec:
  nodeName: {node}
  containers: [{{name: main}}]
{status}"
    )
}

/// `web` pods per location at the end of the run.
fn placement(report: &RunReport) -> BTreeMap<String, u32> {
    (report.clusters.iter())
        .map(|c| (c.location.clone(), c.pods.get("web").copied().unwrap_or(0)))
        .collect()
}

fn at(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(l, n)| (l.to_string(), *n)).collect()
}

fn pinned() -> String {
    zones(
        &[
            pod("web-0", "n-b", ""),
            pod("web-1", "n-a", ""),
            pod("web-2", "n-a", ""),
        ]
        .concat(),
    )
}

#[test]
fn pods_start_on_their_nodes_and_the_rest_through_the_scheduler() {
    // The scheduler alone spreads three equal pods over three equal nodes.
    assert_eq!(
        placement(&simulate(&zones(""))),
        at(&[("a", 1), ("b", 1), ("c", 1)])
    );
    let report = simulate(&pinned());
    assert_eq!(placement(&report), at(&[("a", 2), ("b", 1), ("c", 0)]));
    assert_eq!(
        report.services[0].pods_created, 0,
        "initial pods are not created during the run"
    );
    // Fewer replicas than Pods: the first Pods in scenario order.
    let one = simulate_with(
        &pinned(),
        &["deployment/web:spec.replicas=1"],
        BuildOptions::default(),
    );
    assert_eq!(placement(&one), at(&[("a", 0), ("b", 1), ("c", 0)]));
    // More replicas than Pods: the others go through the scheduler, which sees the bound
    // pods' allocation (LeastAllocated puts the first on the empty node, the second on b
    // or c, never on the fuller a).
    let five = simulate_with(
        &pinned(),
        &["deployment/web:spec.replicas=5"],
        BuildOptions::default(),
    );
    let five = placement(&five);
    assert_eq!((five["a"], five["b"] + five["c"]), (2, 3), "{five:?}");
    assert!(five["c"] >= 1, "{five:?}");
}

#[test]
fn the_world_binds_each_pod_to_its_node() {
    let scenario = model::load_str(Path::new("z.yaml"), &pinned(), Path::new("."), &[]).unwrap();
    let world = sim::build(&scenario, BuildOptions::default()).unwrap();
    let nodes: Vec<&str> = (world.deployments[0].initial_pods.iter())
        .map(|p| world.nodes[p.node as usize].name.as_str())
        .collect();
    assert_eq!(nodes, ["n-b", "n-a", "n-a"]);
}

#[test]
fn status_decides_when_a_bound_pod_is_ready() {
    let not_ready = "status:\n  phase: Running\n  conditions: [{type: Ready, status: \"False\"}]\n";
    let pending = "status: {phase: Pending}\n";
    let yaml = zones(
        &[
            pod("web-0", "n-a", ""),
            pod("web-1", "n-b", not_ready),
            pod("web-2", "n-c", pending),
        ]
        .concat(),
    );
    let report = simulate(&yaml);
    // Ready at once; running but not ready until 2.5 s; pending until 1.2 s, then ready
    // 2.5 s later (3.7 s).
    let ready: Vec<u32> = report
        .timeseries
        .iter()
        .take(5)
        .map(|row| row.services[0].ready)
        .collect();
    assert_eq!(ready, [1, 1, 2, 3, 3]);
    let pods: Vec<u32> = report
        .timeseries
        .iter()
        .take(5)
        .map(|row| row.services[0].pods)
        .collect();
    assert_eq!(pods, [3, 3, 3, 3, 3]);
    assert!(
        report.requests.rejected == 0,
        "one ready pod suffices at 100/s"
    );
}

#[test]
fn bad_pods_are_located_errors() {
    let line_of =
        |yaml: &str, needle: &str| yaml.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let yaml = zones(&pod("web-0", "n-z", ""));
    let start = line_of(&yaml, "kind: Pod") - 1;
    assert_eq!(
        error_of(&yaml),
        format!(
            "test.yaml:{start}: Pod/web-0 spec.nodeName: unknown node \"n-z\": no Node object or node-pool node has that name"
        )
    );
    let stray = zones(&pod("web-0", "n-a", "").replace("app: web,", "app: api,"));
    assert!(error_of(&stray).contains("Pod/web-0 metadata.labels: no Deployment of namespace \"default\" selects this Pod's labels"), "{}", error_of(&stray));
    let unbound = zones(&pod("web-0", "n-a", "").replace("  nodeName: n-a\n", ""));
    assert!(
        error_of(&unbound).contains("Pod/web-0 spec.nodeName: needed"),
        "{}",
        error_of(&unbound)
    );
    let done = zones(&pod("web-0", "n-a", "status: {phase: Succeeded}\n"));
    assert!(
        error_of(&done)
            .contains("Pod/web-0 status.phase: a Succeeded Pod cannot be an initial replica"),
        "{}",
        error_of(&done)
    );
    let typo = zones(&pod("web-0", "n-a", "").replace("nodeName", "nodeNmae"));
    assert!(
        error_of(&typo).contains("unknown field `spec.nodeNmae`"),
        "{}",
        error_of(&typo)
    );
}

#[test]
fn import_keeps_the_placement_unless_rescheduled() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    // The cluster's objects: the scenario's Kubernetes documents only.
    let kubernetes: String = (pinned().split("---\n"))
        .filter(|d| !d.contains("kubetwin.io/v1alpha1"))
        .map(|d| format!("---\n{d}"))
        .collect();
    std::fs::write(&file, kubernetes).unwrap();
    let manifests = import::from_manifests(&[PathBuf::from(&file)]).unwrap();
    let run = |reschedule| {
        let options = ImportOptions {
            reschedule,
            ..ImportOptions::default()
        };
        let imported = import::to_scenario(&manifests.objects, &options).unwrap();
        simulate(&imported.yaml)
    };
    assert_eq!(placement(&run(false)), at(&[("a", 2), ("b", 1), ("c", 0)]));
    assert_eq!(placement(&run(true)), at(&[("a", 1), ("b", 1), ("c", 1)]));
}

#[test]
fn the_shop_starts_where_its_pods_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shop.yaml");
    let file = out.to_str().unwrap();
    let zone_pods = |reschedule: bool| {
        let mut args = vec!["import", "--from-manifests", super::MANIFESTS, "-o", file];
        if reschedule {
            args.push("--reschedule");
        }
        let (ok, _, stderr) = kubetwin(&args);
        assert!(ok, "{stderr}");
        let (ok, json, stderr) = kubetwin(&["simulate", file, "--requests", "2000", "-o", "json"]);
        assert!(ok, "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let clusters = report["clusters"].as_array().unwrap().clone();
        (clusters.iter())
            .map(|c| {
                (
                    c["location"].as_str().unwrap().to_owned(),
                    c["pods"].clone(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let pinned = zone_pods(false);
    // From pods.yaml: the zone of each running Pod's node (recommendation's second replica
    // was unschedulable, so the twin's scheduler places it in zone a or b).
    let expected = |pairs: &[(&str, u64)]| {
        serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
        )
    };
    let mut a = pinned["eu-west-1a"].clone();
    let mut b = pinned["eu-west-1b"].clone();
    let recommendation =
        a["recommendation"].as_u64().unwrap_or(0) + b["recommendation"].as_u64().unwrap_or(0);
    assert_eq!(recommendation, 2);
    for zone in [&mut a, &mut b] {
        zone.as_object_mut().unwrap().remove("recommendation");
    }
    assert_eq!(
        a,
        expected(&[
            ("cart", 1),
            ("checkout", 1),
            ("currency", 1),
            ("frontend", 1),
            ("payment", 1)
        ])
    );
    assert_eq!(
        b,
        expected(&[
            ("cart", 1),
            ("catalog", 1),
            ("currency", 1),
            ("frontend", 1),
            ("payment", 1),
            ("redis", 1)
        ])
    );
    assert_eq!(
        pinned["eu-west-1c"],
        expected(&[
            ("ad", 1),
            ("catalog", 1),
            ("checkout", 1),
            ("email", 1),
            ("frontend", 1),
            ("shipping", 1)
        ])
    );
    assert_ne!(
        zone_pods(true),
        pinned,
        "the twin's scheduler places them otherwise"
    );
}
