//! `kubetwin import`, `export` and `diff` on a ten-service shop: manifests (Helm output,
//! `kubectl get -o yaml` Lists) into a scenario that simulates, with one warning per
//! default used; placement at time zero; round trips; patches; bad input.

mod bad_input;
#[cfg(feature = "operator")]
mod live;
mod placement;
mod roundtrip;

use std::path::{Path, PathBuf};

use kubetwin::k8s::import::{self, ImportOptions, Imported, Manifests};
use kubetwin::model;
use kubetwin::sim::{self, BuildOptions};

use crate::common::{assert_accounted, kubetwin};

const MANIFESTS: &str = "tests/fixtures/shop/manifests";
const PRICES: &str = "tests/fixtures/shop/prices.yaml";

/// The shop's manifests, read.
fn shop() -> Manifests {
    import::from_manifests(&[PathBuf::from(MANIFESTS)]).unwrap()
}

/// Imports the shop with its prices.
fn import_shop(reschedule: bool) -> Imported {
    let manifests = shop();
    let options = ImportOptions {
        prices: import::read_prices(Path::new(PRICES)).unwrap(),
        sources: manifests.sources,
        reschedule,
        ..ImportOptions::default()
    };
    import::to_scenario(&manifests.objects, &options).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn noise_is_ignored_with_one_summary_line() {
    let manifests = shop();
    assert_eq!(
        manifests.ignored.summary().unwrap(),
        "ignored 5 objects of kinds kubetwin does not model: 2 ConfigMap (v1), \
         1 Ingress (networking.k8s.io/v1), 1 Secret (v1), 1 ServiceAccount (v1)"
    );
    let o = &manifests.objects;
    let counts = [
        o.deployments.len(),
        o.stateful_sets.len(),
        o.services.len(),
        o.hpas.len(),
    ];
    assert_eq!(counts, [10, 1, 14, 3]);
    assert_eq!((o.nodes.len(), o.pods.len()), (7, 21));
}

#[test]
fn every_default_is_warned_with_object_and_field() {
    let imported = import_shop(false);
    let named: Vec<String> = (imported.warnings.iter())
        .map(|w| format!("{} {}", w.object, w.field))
        .collect();
    let service_time = "metadata.annotations[kubetwin.io/service-time-ms]";
    let workers = "metadata.annotations[kubetwin.io/workers]";
    let calls = "metadata.annotations[kubetwin.io/calls]";
    let startup = "metadata.annotations[kubetwin.io/startup-ms]";
    let mut expected = vec![
        "StatefulSet/redis kind".to_string(),
        "Service/legacy-db spec.selector".into(),
        "Service/payments-gateway spec.type".into(),
        "Service/redis-headless spec.clusterIP".into(),
        "HorizontalPodAutoscaler/checkout spec.metrics[0]".into(),
        "Node/ip-10-0-3-33 metadata.annotations[kubetwin.io/price-per-hour]".into(),
    ];
    for (object, fields) in [
        ("Deployment/ad", vec![service_time, workers, calls]),
        ("Deployment/email", vec![service_time, workers, calls]),
        ("Deployment/frontend", vec![startup]),
        ("Deployment/recommendation", vec![workers, startup]),
        ("StatefulSet/redis", vec![workers]),
        ("Deployment/shipping", vec![service_time, workers, calls]),
    ] {
        expected.extend(fields.iter().map(|f| format!("{object} {f}")));
    }
    expected.push("Topology/imported spec.latency.intraCluster".into());
    expected.extend(std::iter::repeat_n(
        "Topology/imported spec.latency.links".to_string(),
        4,
    ));
    assert_eq!(named, expected);
    // Messages say which default was used and where the object was read.
    let ad = &imported.warnings[6];
    assert_eq!(
        ad.to_string(),
        "tests/fixtures/shop/manifests/rendered/shop.yaml:495: Deployment/ad \
         metadata.annotations[kubetwin.io/service-time-ms]: no service time measured; \
         using an exponential with mean 10 ms"
    );
    let links: Vec<&str> = (imported.warnings.iter())
        .filter(|w| w.field == "spec.latency.links")
        .map(|w| w.message.split(';').next().unwrap())
        .collect();
    assert_eq!(
        links,
        [
            "no latency measured between eu-west-1a and eu-west-1c",
            "no latency measured between eu-west-1b and eu-west-1c",
            "no latency measured between eu-west-1b and users",
            "no latency measured between eu-west-1c and users",
        ]
    );
    let price = &imported.warnings[5];
    assert!(
        price.message.contains("\"c6g.large\" is not in --prices"),
        "{price}"
    );
    assert!(
        price
            .to_string()
            .starts_with("tests/fixtures/shop/manifests/nodes.yaml:"),
        "{price}"
    );
}

#[test]
fn the_imported_shop_simulates_through_the_library() {
    let imported = import_shop(false);
    let scenario = model::load_str(Path::new("shop.yaml"), &imported.yaml, Path::new("."), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.deployments.len(), 11);
    assert_eq!(scenario.services.len(), 11, "three Services are left out");
    assert_eq!(scenario.autoscalers.len(), 3);
    assert_eq!(scenario.nodes.len(), 7);
    assert_eq!(
        scenario.pods.len(),
        18,
        "bound, running or pending Pods of imported workloads"
    );
    let options = BuildOptions {
        requests: Some(3_000),
        ..BuildOptions::default()
    };
    let world = sim::build(&scenario, options).unwrap();
    let report = sim::run(&world, &mut |_| {});
    assert_accounted(&report);
    assert_eq!(report.requests.arrived, 3_000);
    // frontend's calls reach every Service but the entry: catalog and currency on every
    // request, checkout's callees one in ten.
    let processed = |name: &str| {
        let s = report.services.iter().find(|s| s.name == name).unwrap();
        s.arrivals
    };
    assert_eq!(processed("frontend"), 3_000);
    assert_eq!(
        processed("catalog"),
        processed("frontend") + processed("recommendation")
    );
    assert_eq!(processed("payment"), processed("checkout"));
    assert!(processed("checkout") > 200 && processed("checkout") < 400);
    // The price from --prices: m5.xlarge at 0.214 per hour.
    assert!(
        imported
            .yaml
            .contains("kubetwin.io/price-per-hour: '0.214'")
            || imported
                .yaml
                .contains("kubetwin.io/price-per-hour: \"0.214\"")
    );
}

#[test]
fn the_imported_shop_simulates_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.yaml");
    let out = file.to_str().unwrap();
    let args = [
        "import",
        "--from-manifests",
        MANIFESTS,
        "--prices",
        PRICES,
        "-o",
        out,
    ];
    let (ok, stdout, stderr) = kubetwin(&args);
    assert!(ok, "{stderr}");
    assert!(stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("ignored 5 objects of kinds kubetwin does not model:"),
        "{stderr}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("warning: ")).count(),
        24,
        "{stderr}"
    );
    assert_eq!(lines.last().unwrap(), &format!("wrote {out} (24 warnings)"));
    // The same bytes as the library writes, and as a second run writes.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        import_shop(false).yaml
    );
    let (ok, again, _) = kubetwin(&["import", "--from-manifests", MANIFESTS, "--prices", PRICES]);
    assert!(ok);
    assert_eq!(again, import_shop(false).yaml);
    let (ok, json, stderr) = kubetwin(&["simulate", out, "--requests", "2000", "-o", "json"]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["requests"]["arrived"], 2000);
    assert_eq!(report["services"].as_array().unwrap().len(), 11);
}

#[test]
fn the_order_of_the_inputs_does_not_change_the_output() {
    let files = [
        format!("{MANIFESTS}/rendered/shop.yaml"),
        format!("{MANIFESTS}/pods.yaml"),
        format!("{MANIFESTS}/nodes.yaml"),
    ];
    let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    let manifests = import::from_manifests(&paths).unwrap();
    let options = ImportOptions {
        prices: import::read_prices(Path::new(PRICES)).unwrap(),
        ..ImportOptions::default()
    };
    let imported = import::to_scenario(&manifests.objects, &options).unwrap();
    assert_eq!(imported.yaml, import_shop(false).yaml);
}

#[test]
fn a_fitted_model_comes_before_annotations_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.yaml");
    std::fs::write(
        &model,
        "apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {name: email}
spec:
  workers: 3
  serviceTime: {type: logNormal, mu: 1.0, sigma: 0.2}
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {name: gone}
spec: {serviceTime: {type: constant, value: 1}}
---
apiVersion: kubetwin.io/v1alpha1
kind: Workload
metadata: {name: shop}
spec:
  userLocation: eu-west-1a
  requestTypes: [{name: browse, entry: frontend}]
  flows: [{requests: 500, arrivals: {type: poisson, rate: 20}}]
",
    )
    .unwrap();
    let manifests = shop();
    let options = ImportOptions {
        model: import::Model::read(&model).unwrap(),
        ..ImportOptions::default()
    };
    let imported = import::to_scenario(&manifests.objects, &options).unwrap();
    let about = |object: &str| {
        (imported.warnings.iter())
            .filter(|w| w.object == object)
            .map(|w| w.field.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        about("Deployment/email").is_empty(),
        "the model describes email"
    );
    assert_eq!(
        about("Deployment/shipping").len(),
        3,
        "shipping still uses defaults"
    );
    assert_eq!(about("ServiceModel/gone"), ["spec.deployment"]);
    let gone = imported
        .warnings
        .iter()
        .find(|w| w.object == "ServiceModel/gone")
        .unwrap();
    assert!(
        gone.to_string().contains("model.yaml:8: ServiceModel/gone"),
        "{gone}"
    );
    // Users at eu-west-1a: no `users` location, so no link to it is needed or warned.
    assert!(!imported.yaml.contains("name: users"));
    let scenario =
        model::load_str(Path::new("s.yaml"), &imported.yaml, Path::new("."), &[]).unwrap();
    let email = (scenario.service_models.iter())
        .find(|m| m.object.metadata.name.as_deref() == Some("email"))
        .unwrap();
    assert_eq!(email.object.spec.workers, 3);
    assert_eq!(scenario.workload.object.spec.flows[0].requests, Some(500));
}

#[test]
fn export_renders_manifests_kubectl_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, import_shop(false).yaml).unwrap();
    let path = file.to_str().unwrap();
    let (ok, yaml, stderr) = kubetwin(&["export", path]);
    assert!(ok, "{stderr}");
    let kinds: Vec<&str> = (yaml.lines())
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 10);
    assert_eq!(kinds.iter().filter(|k| **k == "StatefulSet").count(), 1);
    assert_eq!(
        kinds.len(),
        10 + 1 + 11 + 3,
        "no Nodes, Pods or kubetwin kinds: {kinds:?}"
    );
    assert!(!yaml.contains("kubetwin.io/stateful-set"));
    let (ok, json, _) = kubetwin(&["export", path, "-o", "json", "--cluster-state"]);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 25 + 7 + 18);
    let items = list["items"].as_array().unwrap();
    let redis = items
        .iter()
        .find(|i| i["metadata"]["name"] == "redis" && i["kind"] != "Service" && i["kind"] != "Pod")
        .unwrap();
    assert_eq!(
        (
            redis["kind"].as_str(),
            redis["spec"]["serviceName"].as_str()
        ),
        (Some("StatefulSet"), Some("redis-headless"))
    );
}

#[test]
fn diff_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, import_shop(false).yaml).unwrap();
    let path = file.to_str().unwrap();
    let (ok, same, stderr) = kubetwin(&["diff", path, path]);
    assert!(ok, "{stderr}");
    assert_eq!(same, "# no changes\n");
    let sets = [
        "--set",
        "horizontalpodautoscaler/frontend:spec.maxReplicas=12",
        "--set",
        "deployment/frontend:spec.replicas=6",
        "--set",
        "deployment/redis:spec.replicas=2",
    ];
    let (ok, apply, stderr) = kubetwin(&[&["diff", path, path][..], &sets].concat());
    assert!(ok, "{stderr}");
    assert_eq!(
        apply,
        "# note: Deployment/frontend (namespace shop) spec.replicas is not patched: a \
HorizontalPodAutoscaler owns it (change its minReplicas/maxReplicas instead)
# apply with: kubectl apply --server-side --field-manager=kubetwin -f -
---
# HorizontalPodAutoscaler/frontend (namespace shop): spec.maxReplicas
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: frontend
  namespace: shop
spec:
  maxReplicas: 12
---
# StatefulSet/redis (namespace shop): spec.replicas
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: redis
  namespace: shop
spec:
  replicas: 2
"
    );
    let (ok, kubectl, _) = kubetwin(&[&["diff", path, path, "-o", "kubectl"][..], &sets].concat());
    assert!(ok);
    assert!(
        kubectl.contains(
            "kubectl patch statefulset 'redis' --namespace 'shop' --type strategic \
         --field-manager=kubetwin -p '{\"spec\":{\"replicas\":2}}'"
        ),
        "{kubectl}"
    );
    let (ok, merge, _) = kubetwin(&[&["diff", path, path, "-o", "merge"][..], &sets].concat());
    assert!(ok);
    let merge: serde_json::Value = serde_json::from_str(&merge).unwrap();
    assert_eq!(
        merge["patches"][0]["patch"],
        serde_json::json!({"spec": {"maxReplicas": 12}})
    );
    assert_eq!(merge["notes"].as_array().unwrap().len(), 1);
}
