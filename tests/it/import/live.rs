//! `kubetwin import --from-cluster` against the project's real control plane: the shop
//! applied to a namespace, its pods scheduled onto KWOK's fake nodes by kube-scheduler,
//! then imported, simulated, and its replicas started on the nodes Kubernetes chose.

use std::collections::BTreeMap;
use std::path::Path;

use kubetwin::model;

use crate::cluster::{Namespace, block_on, eventually, shared};
use crate::common::kubetwin;

/// `name -> nodeName` of the namespace's Running pods.
fn running(namespace: &str) -> BTreeMap<String, String> {
    let json = shared().kubectl(&["get", "pods", "-n", namespace, "-o", "json"], "");
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    (list["items"].as_array().unwrap().iter())
        .filter(|p| p["status"]["phase"] == "Running")
        .map(|p| {
            let name = p["metadata"]["name"].as_str().unwrap().to_owned();
            (
                name,
                p["spec"]["nodeName"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the control plane"]
fn the_shop_imports_from_a_live_cluster() {
    let cluster = shared();
    let namespace = block_on(Namespace::create("import"));
    let ns = namespace.name.as_str();
    let manifests = std::fs::read_to_string(Path::new(super::MANIFESTS).join("rendered/shop.yaml"))
        .unwrap()
        .replace("namespace: shop", &format!("namespace: {ns}"));
    cluster.kubectl(&["apply", "-n", ns, "-f", "-"], &manifests);
    // payment's nodeSelector, recommendation's zones and redis' unbound volume keep those
    // pending on KWOK's nodes (region eu-south-1, no `workload` label): the other 14 run.
    let pods = block_on(eventually("14 Running pods", 300, || async {
        let pods = running(ns);
        (pods.len() == 14).then_some(pods)
    }));
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.yaml");
    let out = file.to_str().unwrap();
    let args = [
        "import",
        "--from-cluster",
        "--kubeconfig",
        kubeconfig,
        "-n",
        ns,
        "-o",
        out,
    ];
    let (ok, _, stderr) = kubetwin(&args);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("Deployment/ad metadata.annotations[kubetwin.io/service-time-ms]"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let scenario = model::load_str(&file, &text, dir.path(), &[]).unwrap();
    assert_eq!(scenario.deployments.len(), 11);
    assert_eq!(scenario.autoscalers.len(), 3);
    assert!(scenario.nodes.len() >= 3, "KWOK's nodes");
    // Every imported Pod is one that runs, on the node kube-scheduler bound it to.
    let imported: BTreeMap<String, String> = (scenario.pods.iter())
        .map(|p| {
            let name = p.object.metadata.name.clone().unwrap();
            let spec = p.object.spec.as_ref().unwrap();
            (name, spec.node_name.clone().unwrap())
        })
        .collect();
    assert_eq!(imported.len(), 14, "{imported:?}");
    for (name, node) in &imported {
        assert_eq!(pods.get(name), Some(node), "{name}");
    }
    let (ok, json, stderr) = kubetwin(&["simulate", out, "--requests", "1000", "-o", "json"]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["requests"]["arrived"], 1000);
}
