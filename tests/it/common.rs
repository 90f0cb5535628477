//! Scenario builders shared by the tests: small single-location scenarios written as YAML,
//! so the tests exercise the same loader users do.

use std::path::Path;
use std::process::Command;

use kubetwin::model::{self, Override};
use kubetwin::sim::{self, BuildOptions, RunReport};

/// A one-location topology (zero network delay unless `latency_ms` is given) with one big node.
pub fn topology(latency_ms: f64) -> String {
    lab_topology(
        "    - name: lab
      location: lab
      nodePools: [{name: pool, count: 1, capacity: {cpu: \"64\", memory: 256Gi}}]
",
        latency_ms,
    )
}

/// A topology of one location, `lab`, with the `clusters` given (YAML list items indented
/// by 4) and `latency_ms` within each cluster.
pub fn lab_topology(clusters: &str, latency_ms: f64) -> String {
    format!(
        "apiVersion: kubetwin.io/v1alpha1
kind: Topology
metadata: {{name: lab}}
spec:
  locations: [{{name: lab}}]
  clusters:
{clusters}  latency:
    intraCluster: {{type: constant, value: {latency_ms}}}
"
    )
}

/// A Deployment, its Service and its ServiceModel; `model` is the ServiceModel's spec body
/// (indented by 2).
pub fn service(name: &str, replicas: u32, model: &str) -> String {
    format!(
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: main, image: x, resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {{name: {name}}}
spec:
{model}
"
    )
}

/// A Workload with one request type entering at `entry` and the given flows (YAML list
/// items, indented by 4), plus Simulation settings (YAML mapping body, indented by 2).
pub fn workload(entry: &str, flows: &str, simulation: &str) -> String {
    format!(
        "---
apiVersion: kubetwin.io/v1alpha1
kind: Workload
metadata: {{name: users}}
spec:
  userLocation: lab
  requestTypes: [{{name: req, entry: {entry}}}]
  flows:
{flows}
---
apiVersion: kubetwin.io/v1alpha1
kind: Simulation
metadata: {{name: run}}
spec:
{simulation}
"
    )
}

/// A HorizontalPodAutoscaler of Deployment `target`; `annotations` and `spec` are YAML
/// mapping bodies (indented by 4 and 2).
pub fn hpa(target: &str, annotations: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {target}
  annotations:
{annotations}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}
{spec}
"
    )
}

/// Loads YAML text as a scenario named `test.yaml` in the crate root, builds and runs it.
pub fn simulate(yaml: &str) -> RunReport {
    simulate_with(yaml, &[], BuildOptions::default())
}

/// [`simulate`] with overrides and build options.
pub fn simulate_with(yaml: &str, overrides: &[&str], options: BuildOptions) -> RunReport {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    let scenario = model::load_str(Path::new("test.yaml"), yaml, Path::new("."), &overrides)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let world = sim::build(&scenario, options).unwrap_or_else(|e| panic!("{e}"));
    sim::run(&world, &mut |_| {})
}

/// The error message of loading and building `yaml`.
pub fn error_of(yaml: &str) -> String {
    model::load_str(Path::new("test.yaml"), yaml, Path::new("."), &[])
        .and_then(|s| sim::build(&s, BuildOptions::default()))
        .map(|_| ())
        .expect_err("the scenario should be rejected")
        .to_string()
}

/// Asserts the accounting identity of a run.
pub fn assert_accounted(r: &RunReport) {
    let q = r.requests;
    assert_eq!(
        q.arrived,
        q.completed + q.rejected + q.failed + q.in_flight,
        "{q:?}"
    );
}

/// Asserts `actual` is within `relative` of `expected`.
#[track_caller]
pub fn assert_close(what: &str, actual: f64, expected: f64, relative: f64) {
    let error = (actual - expected).abs() / expected.abs();
    assert!(
        error <= relative,
        "{what}: {actual} vs {expected} (relative error {error:.4} > {relative})"
    );
}

/// Runs the `kubetwin` binary: (success, stdout, stderr).
pub fn kubetwin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubetwin"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
