//! The operator's packaging: the Helm chart (charts/kubetwin), the plain manifests rendered
//! from it (deploy/kubetwin.yaml) and the example TwinExperiments (deploy/examples), checked
//! with the real helm and kubectl against the local control plane (tests/it/cluster.rs):
//! lint, server-side dry runs, the CRD's validation, explain and print columns, RBAC as the
//! API server's authorizer answers it, and an install whose pods run on KWOK's fake nodes.
//!
//! Every test here needs helm (built with the control plane by tests/e2e/cluster/build.sh),
//! so all are ignored by default except those that read files only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kubetwin::operator::crd::{TwinExperiment, TwinExperimentSpec};
use serde_json::Value;

use crate::cluster::{Namespace, block_on, eventually, shared};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = "charts/kubetwin";
const CRD: &str = "crds/twinexperiments.kubetwin.io.yaml";
const EXAMPLES: [&str; 2] = [
    "deploy/examples/edge-image-recognition.yaml",
    "deploy/examples/shop-twin.yaml",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The YAML documents of a stream, as JSON values (comment-only documents dropped).
fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{yaml}"))
        .into_iter()
        .filter(Value::is_object)
        .collect()
}

/// The directory of helm and kubectl (tests/e2e/cluster/build.sh, which builds them once).
fn tools() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg(format!("{ROOT}/tests/e2e/cluster/build.sh"))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "tests/e2e/cluster/build.sh failed (it builds helm and kubectl):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// helm with a HOME of its own (no user configuration or repositories), in the crate root.
fn helm_command(mut cmd: Command) -> Command {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    let home = HOME.get_or_init(|| tempfile::tempdir().unwrap()).path();
    cmd.current_dir(ROOT)
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    cmd
}

/// helm without a cluster (`KUBECONFIG=/nonexistent`).
fn helm(args: &[&str]) -> Output {
    let mut cmd = helm_command(Command::new(tools().join("helm")));
    cmd.env("KUBECONFIG", "/nonexistent").args(args);
    cmd.output().expect("helm runs")
}

/// helm against the test cluster; panics with its output if it fails.
fn cluster_helm(args: &[&str]) -> String {
    let out = helm_command(shared().command("helm"))
        .args(args)
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template RELEASE charts/kubetwin -n NAMESPACE ARGS...`; panics if it fails.
fn render(release: &str, namespace: &str, args: &[&str]) -> String {
    let mut all = vec!["template", release, CHART, "--namespace", namespace];
    all.extend_from_slice(args);
    let out = helm(&all);
    assert!(
        out.status.success(),
        "helm {}: {}",
        all.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// The chart's CRD installed (server-side, as a user would), once per test binary.
fn crd_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let cluster = shared();
        let crd = read(CRD);
        cluster.kubectl(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            &crd,
        );
        cluster.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "crd/twinexperiments.kubetwin.io",
                "--timeout=30s",
            ],
            "",
        );
    });
}

/// A Helm release, uninstalled when dropped (namespace deletion would leave its
/// ClusterRole and ClusterRoleBinding behind).
struct Release {
    name: String,
    namespace: String,
}

impl Release {
    fn install(name: &str, namespace: &str, args: &[&str]) -> (Release, String) {
        let mut all = vec!["install", name, CHART, "--namespace", namespace];
        all.extend_from_slice(args);
        let out = cluster_helm(&all);
        let release = Release {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        };
        (release, out)
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = helm_command(shared().command("helm"))
            .args(["uninstall", &self.name, "--namespace", &self.namespace])
            .output();
    }
}

#[test]
#[ignore = "needs the control plane"]
fn helm_lint_strict_passes_with_defaults_and_with_every_option_on() {
    for values in [
        vec![],
        vec![
            "--set",
            "rbac.scope=namespaced,watchNamespace=shop,rbac.namespaces={edge,shop}",
            "--set",
            "serviceMonitor.enabled=true,podDisruptionBudget.enabled=true",
            "--set",
            "prometheus.url=http://prometheus.monitoring:9090",
        ],
    ] {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend_from_slice(&values);
        let out = helm(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
            "helm {}:\n{stdout}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.contains("[WARNING]"), "{stdout}");
    }
}

#[test]
#[ignore = "needs the control plane"]
fn values_that_cannot_work_are_refused_with_the_reason() {
    for (set, reason) in [
        (
            "rbac.scope=namespaced",
            "rbac.scope=namespaced needs watchNamespace",
        ),
        (
            "rbac.scope=namespace",
            "rbac.scope must be cluster or namespaced, not \"namespace\"",
        ),
    ] {
        let out = helm(&["template", "kubetwin", CHART, "--set", set]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--set {set} rendered");
        assert!(stderr.contains(reason), "--set {set}: {stderr}");
    }
}

/// Every rule of every (Cluster)Role, as (namespace or "", apiGroup/resource, verbs).
fn rules(docs: &[Value]) -> Vec<(String, String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for role in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        let namespace = role["metadata"]["namespace"].as_str().unwrap_or("");
        for rule in role["rules"].as_array().unwrap() {
            let verbs: BTreeSet<String> = strings(&rule["verbs"])
                .into_iter()
                .map(Into::into)
                .collect();
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    out.push((
                        namespace.to_owned(),
                        format!("{group}/{resource}"),
                        verbs.clone(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
#[ignore = "needs the control plane"]
fn the_rendered_rbac_grants_writes_only_where_the_operator_needs_them() {
    let read_only = BTreeSet::from(["get", "list", "watch"].map(String::from));
    // What the operator may do beyond reading, and nothing else.
    let writes: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("apps/deployments", &["patch"][..]),
        ("autoscaling/horizontalpodautoscalers", &["patch"][..]),
        ("kubetwin.io/twinexperiments", &["patch", "update"][..]),
        (
            "kubetwin.io/twinexperiments/status",
            &["patch", "update"][..],
        ),
        ("events.k8s.io/events", &["create", "patch"][..]),
        ("/events", &["create", "patch"][..]),
        (
            "coordination.k8s.io/leases",
            &["create", "get", "update"][..],
        ),
    ]);
    let reads = [
        "/nodes",
        "/pods",
        "/services",
        "/configmaps",
        "apps/deployments",
        "apps/statefulsets",
        "autoscaling/horizontalpodautoscalers",
        "kubetwin.io/twinexperiments",
    ];
    for (scope, args) in [
        ("cluster", vec![]),
        (
            "namespaced",
            vec![
                "--set",
                "rbac.scope=namespaced,watchNamespace=shop,rbac.namespaces={edge}",
            ],
        ),
    ] {
        let docs = documents(&render("kubetwin", "ops", &args));
        let rules = rules(&docs);
        for (namespace, resource, verbs) in &rules {
            assert!(
                !resource.contains('*') && !verbs.contains("*"),
                "{scope}: wildcard in {resource} {verbs:?}"
            );
            let extra: Vec<&String> = verbs.difference(&read_only).collect();
            if !extra.is_empty() {
                let allowed = writes
                    .get(resource.as_str())
                    .unwrap_or_else(|| panic!("{scope}: {resource} gets {extra:?}"));
                assert!(
                    extra.iter().all(|v| allowed.contains(&v.as_str())),
                    "{scope}: {resource} gets {extra:?}, allowed {allowed:?}"
                );
            }
            if resource == "coordination.k8s.io/leases" {
                assert_eq!(
                    namespace, "ops",
                    "{scope}: leases outside the release namespace"
                );
            }
            assert!(!resource.contains("secrets"), "{scope}: {resource}");
        }
        // Where each read is granted: cluster-wide, or in the watched and listed namespaces.
        let expected_namespaces: BTreeSet<&str> = if scope == "cluster" {
            BTreeSet::from([""])
        } else {
            BTreeSet::from(["shop", "edge"])
        };
        for read in reads {
            let granted: BTreeSet<&str> = rules
                .iter()
                .filter(|(_, r, verbs)| r == read && verbs.is_superset(&read_only))
                .map(|(ns, _, _)| ns.as_str())
                .collect();
            let expected = if read == "/nodes" {
                BTreeSet::from([""])
            } else {
                expected_namespaces.clone()
            };
            assert_eq!(granted, expected, "{scope}: get/list/watch {read}");
        }
        // The lease rule that updates is limited to the operator's own Lease.
        let lease_role = of_kind(&docs, "Role")
            .into_iter()
            .find(|r| r["metadata"]["name"] == "kubetwin-leader-election")
            .expect("the leader-election Role");
        for rule in lease_role["rules"].as_array().unwrap() {
            if strings(&rule["verbs"]).contains(&"update") {
                assert_eq!(strings(&rule["resourceNames"]), ["kubetwin-leader"]);
            }
        }
    }
}

#[test]
#[ignore = "needs the control plane"]
fn the_rendered_deployment_runs_the_operator_non_root_with_probes_and_limits() {
    let docs = documents(&render(
        "kubetwin",
        "ops",
        &[
            "--set",
            "prometheus.url=http://prometheus.monitoring:9090,watchNamespace=shop",
        ],
    ));
    let deployments = of_kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    let deployment = deployments[0];
    assert_eq!(deployment["metadata"]["namespace"], "ops");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "kubetwin");

    // The image the crate's version names: the chart's appVersion, the sweep Job's default.
    let chart: Value = serde_saphyr::from_str(&read("charts/kubetwin/Chart.yaml")).unwrap();
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"));
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        concat!("ghcr.io/kubetwin/kubetwin:", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        strings(&container["args"]),
        [
            "operator",
            "--listen=0.0.0.0:8080",
            "--prometheus-url=http://prometheus.monitoring:9090",
            "--namespace=shop",
            "--lease-namespace=ops",
            "--lease-name=kubetwin-leader",
            "--max-concurrent-cycles=2",
        ]
    );
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(env["RUST_LOG"]["value"], "info");

    assert_eq!(container["ports"][0]["name"], "http-metrics");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "resources.{kind}.{resource} unset"
            );
        }
    }
    assert_eq!(container["resources"]["requests"]["cpu"], "100m");
    assert_eq!(container["resources"]["requests"]["memory"], "128Mi");

    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["runAsUser"], 65532);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );

    // /tmp is the only writable place, an emptyDir.
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/tmp");
    let volume = &pod["volumes"][0];
    assert_eq!(volume["name"], container["volumeMounts"][0]["name"]);
    assert!(volume["emptyDir"].is_object(), "{volume}");

    let service = of_kind(&docs, "Service")[0];
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["ports"][0]["name"], "http-metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert!(
        of_kind(&docs, "ServiceMonitor").is_empty(),
        "off by default"
    );

    let monitored = documents(&render(
        "kubetwin",
        "ops",
        &["--set", "serviceMonitor.enabled=true"],
    ));
    let monitor = of_kind(&monitored, "ServiceMonitor")[0];
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http-metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    // The ServiceMonitor selects the Service, which selects the operator's pods.
    let selector = serde_json::json!({
        "app.kubernetes.io/name": "kubetwin",
        "app.kubernetes.io/instance": "kubetwin",
    });
    assert_eq!(monitor["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(service["spec"]["selector"], selector);
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], selector);
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(&service["metadata"]["labels"][key], value);
        assert_eq!(
            &deployment["spec"]["template"]["metadata"]["labels"][key],
            value
        );
    }
}

#[test]
#[ignore = "needs the control plane"]
fn deploy_kubetwin_yaml_is_the_charts_fresh_rendering() {
    let mut cmd = helm_command(Command::new("bash"));
    let path = format!(
        "{}:{}",
        tools().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cmd
        .arg("deploy/render.sh")
        .env("PATH", path)
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "deploy/render.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = String::from_utf8(out.stdout).unwrap();
    let committed = read("deploy/kubetwin.yaml");
    let first_difference = fresh
        .lines()
        .zip(committed.lines())
        .position(|(a, b)| a != b)
        .map_or_else(|| "its length".to_owned(), |i| format!("line {}", i + 1));
    assert!(
        fresh == committed,
        "deploy/kubetwin.yaml is stale (first difference: {first_difference}): regenerate it \
         with `deploy/render.sh > deploy/kubetwin.yaml`"
    );
    // What it holds: the Namespace, the CRD, and the chart's objects in that namespace.
    let docs = documents(&fresh);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[..2], ["Namespace", "CustomResourceDefinition"]);
    for kind in ["ServiceAccount", "ClusterRole", "Deployment", "Service"] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    for doc in &docs[2..] {
        let namespaced = !doc["kind"].as_str().unwrap().starts_with("Cluster");
        if namespaced {
            assert_eq!(doc["metadata"]["namespace"], "kubetwin", "{}", doc["kind"]);
        }
    }
}

/// The examples as the operator reads them: every field known to the types in crd.rs.
#[test]
fn the_examples_deserialize_into_the_operators_types_without_unknown_fields() {
    use kube::Resource;
    for path in EXAMPLES {
        let doc: Value = serde_saphyr::from_str(&read(path)).unwrap();
        assert_eq!(doc["apiVersion"], TwinExperiment::api_version(&()).as_ref());
        assert_eq!(doc["kind"], TwinExperiment::kind(&()).as_ref());
        let mut unknown = Vec::new();
        let spec: TwinExperimentSpec =
            serde_ignored::deserialize(doc["spec"].clone(), |p| unknown.push(p.to_string()))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(unknown.is_empty(), "{path}: unknown fields {unknown:?}");
        assert!(!spec.search_space.is_empty(), "{path}: nothing to search");
    }
}

#[test]
#[ignore = "needs the control plane"]
fn the_rendered_chart_passes_a_server_side_dry_run_in_both_rbac_scopes() {
    block_on(async {
        crd_installed();
        let cluster = shared();
        let release = Namespace::create("dry-release").await;
        let watched = Namespace::create("dry-watched").await;
        let other = Namespace::create("dry-other").await;
        // The restricted Pod Security Standard warns about any pod template breaking it.
        cluster.kubectl(
            &[
                "label",
                "namespace",
                &release.name,
                "pod-security.kubernetes.io/warn=restricted",
            ],
            "",
        );
        let namespaced = format!(
            "rbac.scope=namespaced,watchNamespace={},rbac.namespaces={{{}}}",
            watched.name, other.name
        );
        for args in [vec![], vec!["--set", namespaced.as_str()]] {
            let manifests = render("kubetwin", &release.name, &args);
            let out = cluster.try_kubectl(&["apply", "--dry-run=server", "-f", "-"], &manifests);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{args:?}: {stderr}");
            assert!(!stderr.contains("PodSecurity"), "{args:?}: {stderr}");
            let accepted = stdout.matches("(server dry run)").count();
            assert_eq!(
                accepted,
                documents(&manifests).len(),
                "{args:?}: every object accepted:\n{stdout}"
            );
        }
        let namespaced_out = render("kubetwin", &release.name, &["--set", &namespaced]);
        for ns in [&watched.name, &other.name] {
            assert!(
                documents(&namespaced_out)
                    .iter()
                    .any(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == ns.as_str()),
                "no Role in {ns}"
            );
        }
    });
}

#[test]
#[ignore = "needs the control plane"]
fn the_examples_are_accepted_and_wrong_fields_are_refused_by_name() {
    block_on(async {
        crd_installed();
        let cluster = shared();
        let ns = Namespace::create("examples").await;
        let dry_run = [
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-n",
            &ns.name,
            "-f",
            "-",
        ];
        for path in EXAMPLES {
            let out = cluster.kubectl(&dry_run, &read(path));
            assert!(out.contains("created (server dry run)"), "{path}: {out}");
        }
        let shop = read("deploy/examples/shop-twin.yaml");
        assert!(shop.contains("thresholdMs: 60") && shop.contains("metric: p99"));
        for (wrong, message) in [
            (
                shop.replace("thresholdMs: 60", "thresholdMillis: 60"),
                "unknown field \"spec.slo.thresholdMillis\"",
            ),
            (
                shop.replace("thresholdMs: 60", "thresholdMs: sixty"),
                "spec.slo.thresholdMs in body must be of type number",
            ),
            (
                shop.replace("metric: p99", "metric: p98"),
                "spec.slo.metric: Unsupported value: \"p98\"",
            ),
        ] {
            let out = cluster.try_kubectl(&dry_run, &wrong);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "accepted: {message}");
            assert!(stderr.contains(message), "wanted {message:?} in: {stderr}");
        }
    });
}

/// Whitespace collapsed, as `kubectl explain` rewraps descriptions.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
#[ignore = "needs the control plane"]
fn kubectl_explains_the_fields_and_get_twin_shows_the_print_columns() {
    block_on(async {
        crd_installed();
        let cluster = shared();
        let crd: Value = documents(&read(CRD)).remove(0);
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        for (field, schema) in [
            ("spec", &schema["properties"]["spec"]),
            (
                "spec.slo",
                &schema["properties"]["spec"]["properties"]["slo"],
            ),
        ] {
            // The API server publishes a new CRD's OpenAPI a moment after it is Established.
            let path = format!("twinexperiment.{field}");
            let explained = eventually(&format!("kubectl explain {path}"), 100, || async {
                let out = cluster.try_kubectl(&["explain", &path], "");
                out.status
                    .success()
                    .then(|| String::from_utf8(out.stdout).unwrap())
            })
            .await;
            let flat = words(&explained);
            let description = schema["description"].as_str().expect("documented");
            assert!(flat.contains(&words(description)), "{explained}");
            let properties = schema["properties"].as_object().unwrap();
            assert!(properties.len() >= 3, "{field}: {properties:?}");
            for (name, property) in properties {
                assert!(
                    explained.contains(&format!("\n  {name}\t<")),
                    "{field}.{name} missing:\n{explained}"
                );
                let description = property["description"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{field}.{name} has no description"));
                let description = words(description);
                assert!(
                    flat.contains(&description),
                    "{field}.{name}: {description:?} missing:\n{explained}"
                );
            }
        }

        let ns = Namespace::create("columns").await;
        cluster.kubectl(
            &["apply", "-n", &ns.name, "-f", "-"],
            &read("deploy/examples/edge-image-recognition.yaml"),
        );
        let status = serde_json::json!({"status": {
            "phase": "RecommendationReady",
            "current": {"observed": {"p99": "71.3ms"}, "predicted": {"p99": "69.8ms"}},
            "recommendation": "r-3",
        }});
        cluster.kubectl(
            &[
                "patch",
                "twin",
                "edge-image-recognition",
                "-n",
                &ns.name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status.to_string(),
            ],
            "",
        );
        // By short name, and by the kubetwin category.
        for resource in ["twin", "kubetwin"] {
            let table = cluster.kubectl(&["get", resource, "-n", &ns.name], "");
            let lines: Vec<Vec<&str>> = table
                .lines()
                .map(|l| {
                    l.split("  ")
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .collect()
                })
                .collect();
            assert_eq!(lines.len(), 2, "{table}");
            assert_eq!(
                lines[0],
                [
                    "NAME",
                    "PHASE",
                    "OBSERVED P99",
                    "PREDICTED P99",
                    "RECOMMENDATION",
                    "AGE"
                ],
                "{table}"
            );
            assert_eq!(
                lines[1][..5],
                [
                    "edge-image-recognition",
                    "RecommendationReady",
                    "71.3ms",
                    "69.8ms",
                    "r-3"
                ],
                "{table}"
            );
        }
    });
}

/// `kubectl auth can-i ARGS --as SERVICE_ACCOUNT`: true for "yes", false for "no".
fn can_i(service_account: &str, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--as", service_account]);
    let out = shared().try_kubectl(&all, "");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl {}: {answer:?} {}",
        all.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    answer == "yes"
}

#[test]
#[ignore = "needs the control plane"]
fn the_installed_service_account_may_do_what_the_operator_needs_and_no_more() {
    block_on(async {
        crd_installed();
        let release_ns = Namespace::create("rbac").await;
        let app = Namespace::create("rbac-app").await;
        let (_release, _) = Release::install("kubetwin", &release_ns.name, &[]);
        let sa = format!("system:serviceaccount:{}:kubetwin", release_ns.name);
        let (r, a) = (release_ns.name.as_str(), app.name.as_str());
        let lease = "leases.coordination.k8s.io/kubetwin-leader";
        for (args, expected) in [
            (
                &["patch", "horizontalpodautoscalers.autoscaling", "-n", a][..],
                true,
            ),
            (&["patch", "deployments.apps", "-n", a], true),
            (&["list", "deployments.apps", "--all-namespaces"], true),
            (&["watch", "statefulsets.apps", "-n", a], true),
            (&["list", "nodes"], true),
            (&["get", "configmaps", "-n", a], true),
            (&["watch", "twinexperiments.kubetwin.io", "-n", a], true),
            (
                &[
                    "update",
                    "twinexperiments.kubetwin.io",
                    "--subresource=status",
                    "-n",
                    a,
                ],
                true,
            ),
            (&["create", "events.events.k8s.io", "-n", a], true),
            (&["create", "events", "-n", a], true),
            (&["create", "leases.coordination.k8s.io", "-n", r], true),
            (&["update", lease, "-n", r], true),
            (&["get", lease, "-n", r], true),
            // What it must not do.
            (&["patch", "services", "-n", a], false),
            (&["patch", "statefulsets.apps", "-n", a], false),
            (&["create", "deployments.apps", "-n", a], false),
            (&["delete", "deployments.apps", "-n", a], false),
            (
                &["delete", "horizontalpodautoscalers.autoscaling", "-n", a],
                false,
            ),
            (&["delete", "twinexperiments.kubetwin.io", "-n", a], false),
            (&["get", "secrets", "-n", r], false),
            (&["get", "secrets", "-n", a], false),
            (&["patch", "nodes"], false),
            (&["update", lease, "-n", a], false),
            (&["create", "leases.coordination.k8s.io", "-n", a], false),
            (
                &[
                    "update",
                    "leases.coordination.k8s.io/another-lease",
                    "-n",
                    r,
                ],
                false,
            ),
        ] {
            assert_eq!(can_i(&sa, args), expected, "can-i {args:?}");
        }
    });
}

#[test]
#[ignore = "needs the control plane"]
fn namespaced_rbac_reaches_only_the_watched_and_listed_namespaces() {
    block_on(async {
        crd_installed();
        let release_ns = Namespace::create("nsrbac").await;
        let watched = Namespace::create("nsrbac-watched").await;
        let target = Namespace::create("nsrbac-target").await;
        let elsewhere = Namespace::create("nsrbac-elsewhere").await;
        let set = format!(
            "rbac.scope=namespaced,watchNamespace={},rbac.namespaces={{{}}}",
            watched.name, target.name
        );
        let (_release, _) = Release::install("kubetwin", &release_ns.name, &["--set", &set]);
        let sa = format!("system:serviceaccount:{}:kubetwin", release_ns.name);
        for ns in [&watched.name, &target.name] {
            assert!(can_i(&sa, &["patch", "deployments.apps", "-n", ns]));
            assert!(can_i(
                &sa,
                &["list", "horizontalpodautoscalers.autoscaling", "-n", ns]
            ));
            assert!(can_i(
                &sa,
                &["watch", "twinexperiments.kubetwin.io", "-n", ns]
            ));
        }
        for ns in [&elsewhere.name, &release_ns.name] {
            assert!(!can_i(&sa, &["list", "deployments.apps", "-n", ns]), "{ns}");
            assert!(!can_i(
                &sa,
                &["patch", "horizontalpodautoscalers.autoscaling", "-n", ns]
            ));
        }
        assert!(!can_i(
            &sa,
            &["list", "deployments.apps", "--all-namespaces"]
        ));
        assert!(!can_i(
            &sa,
            &["list", "twinexperiments.kubetwin.io", "--all-namespaces"]
        ));
        // Nodes are cluster-scoped: read through a ClusterRole in either scope.
        assert!(can_i(&sa, &["list", "nodes"]));
        assert!(can_i(
            &sa,
            &[
                "update",
                "leases.coordination.k8s.io/kubetwin-leader",
                "-n",
                &release_ns.name
            ]
        ));
    });
}

#[test]
#[ignore = "needs the control plane"]
fn helm_install_runs_the_operator_on_kwok_nodes_under_restricted_pod_security() {
    block_on(async {
        crd_installed();
        let cluster = shared();
        let ns = Namespace::create("install").await;
        cluster.kubectl(
            &[
                "label",
                "namespace",
                &ns.name,
                "pod-security.kubernetes.io/enforce=restricted",
            ],
            "",
        );
        // The namespace does enforce it: a pod running as root is refused.
        let root_pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        });
        let out = cluster.try_kubectl(
            &["apply", "--dry-run=server", "-n", &ns.name, "-f", "-"],
            &root_pod.to_string(),
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("violates PodSecurity \"restricted"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let (_release, notes) = Release::install(
            "kubetwin",
            &ns.name,
            &[
                "--set",
                "prometheus.url=http://prometheus.monitoring:9090",
                "--wait",
                "--timeout=60s",
            ],
        );
        assert!(notes.contains("STATUS: deployed"), "{notes}");
        // NOTES.txt: the next commands.
        for next in [
            "kubectl apply -n shop -f deploy/examples/shop-twin.yaml",
            "kubectl get twin -A",
            "kubectl describe twin shop -n shop",
            "kubectl annotate twin shop -n shop kubetwin.io/approve=<id>",
        ] {
            assert!(notes.contains(next), "NOTES lack {next:?}:\n{notes}");
        }
        assert!(!notes.contains("No default Prometheus"), "{notes}");

        let pods: Value = serde_json::from_str(&cluster.kubectl(
            &[
                "get",
                "pods",
                "-n",
                &ns.name,
                "-l",
                "app.kubernetes.io/instance=kubetwin",
                "-o",
                "json",
            ],
            "",
        ))
        .unwrap();
        let pods = pods["items"].as_array().unwrap();
        assert_eq!(pods.len(), 2, "replicaCount 2");
        for pod in pods {
            let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
            assert!(node.starts_with("kwok-node-"), "bound to {node:?}");
            assert_eq!(pod["spec"]["serviceAccountName"], "kubetwin");
            let ready = pod["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .expect("a Ready condition");
            assert_eq!(ready["status"], "True", "{}", pod["metadata"]["name"]);
        }
        let deployment: Value = serde_json::from_str(&cluster.kubectl(
            &[
                "get",
                "deployment",
                "kubetwin",
                "-n",
                &ns.name,
                "-o",
                "json",
            ],
            "",
        ))
        .unwrap();
        assert_eq!(deployment["status"]["readyReplicas"], 2);
    });
}

/// Removes what deploy/kubetwin.yaml created, except the CRD that other tests use.
struct PlainInstall;

impl Drop for PlainInstall {
    fn drop(&mut self) {
        let cluster = shared();
        let _ = cluster.try_kubectl(
            &[
                "delete",
                "clusterrole,clusterrolebinding",
                "kubetwin-kubetwin",
                "--wait=false",
            ],
            "",
        );
        let _ = cluster.try_kubectl(&["delete", "namespace", "kubetwin", "--wait=false"], "");
    }
}

#[test]
#[ignore = "needs the control plane"]
fn deploy_kubetwin_yaml_installs_with_kubectl_alone() {
    crd_installed();
    let cluster = shared();
    let _cleanup = PlainInstall;
    let applied = cluster.kubectl(
        &["apply", "--server-side", "-f", "-"],
        &read("deploy/kubetwin.yaml"),
    );
    for object in [
        "namespace/kubetwin",
        "customresourcedefinition.apiextensions.k8s.io/twinexperiments.kubetwin.io",
        "deployment.apps/kubetwin",
        "clusterrole.rbac.authorization.k8s.io/kubetwin-kubetwin",
    ] {
        assert!(applied.contains(object), "{object} not applied:\n{applied}");
    }
    // The Namespace enforces restricted Pod Security; the pods are admitted and Ready.
    let labels = cluster.kubectl(
        &[
            "get",
            "namespace",
            "kubetwin",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
        "",
    );
    assert!(
        labels.contains(r#""pod-security.kubernetes.io/enforce":"restricted""#),
        "{labels}"
    );
    cluster.kubectl(
        &[
            "rollout",
            "status",
            "deployment/kubetwin",
            "-n",
            "kubetwin",
            "--timeout=60s",
        ],
        "",
    );
    let ready = cluster.kubectl(
        &[
            "get",
            "deployment",
            "kubetwin",
            "-n",
            "kubetwin",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
        "",
    );
    assert_eq!(ready, "2");
}
