//! `kubetwin operator` end to end, as a user meets it: the CRD installed in a real API
//! server, an application (Deployments, Services, an HPA on KWOK's fake nodes), a real
//! Prometheus holding the application's Istio metrics for the last two hours, and the
//! operator as a separate process. A TwinExperiment gets its model fitted, the current
//! configuration simulated and a recommendation; `kubectl annotate ... approve` changes the
//! HPA under the field manager `kubetwin`; rollback restores it; a second operator does not
//! act while the first holds the Lease; with Prometheus gone the experiment is `Degraded`
//! and nothing is applied.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::cluster::{Cluster, Namespace, block_on, eventually, shared};
use crate::openmetrics::{Truth, istio_text};
use crate::server;

const CRD: &str = include_str!("../../crds/twinexperiments.kubetwin.io.yaml");

/// Users call `frontend` (40 ms median, log-normal), which calls `backend` (12 ms).
const WORKLOADS: [Truth; 2] = [
    Truth {
        name: "frontend",
        rate: 20.0,
        median_ms: 40.0,
        sigma: 0.5,
    },
    Truth {
        name: "backend",
        rate: 20.0,
        median_ms: 12.0,
        sigma: 0.35,
    },
];
const EDGES: [(&str, &str, f64); 2] =
    [("unknown", "frontend", 20.0), ("frontend", "backend", 20.0)];

fn application(namespace: &str) -> String {
    let workload = |name: &str, replicas: u32| {
        format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app.kubernetes.io/part-of: shop}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: main
          image: registry.example/{name}:1
          resources: {{requests: {{cpu: 500m, memory: 256Mi}}}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app.kubernetes.io/part-of: shop}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"
        )
    };
    format!(
        "{}{}---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: frontend
  namespace: {namespace}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: frontend}}
  minReplicas: 3
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 60}}}}
",
        workload("frontend", 3),
        workload("backend", 2)
    )
}

fn experiment(namespace: &str, prometheus: &str) -> String {
    format!(
        "apiVersion: kubetwin.io/v1alpha1
kind: TwinExperiment
metadata: {{name: shop, namespace: {namespace}}}
spec:
  target:
    selector: {{matchLabels: {{app.kubernetes.io/part-of: shop}}}}
    entry: frontend
  model:
    prometheus: {{url: \"{prometheus}\", preset: istio, window: 30m}}
  slo: {{metric: p99, thresholdMs: 600}}
  searchSpace:
    - {{hpa: frontend, minReplicas: [1, 3], maxReplicas: [1, 3]}}
  cadence: 10m
  budget: {{requests: 4000, replications: 3, configurations: 9, maxCycleSeconds: 60}}
"
    )
}

/// An operator process; killed when dropped.
struct Operator {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    fn start(
        cluster: &Cluster,
        kubeconfig: &std::path::Path,
        namespace: &str,
        identity: &str,
    ) -> Operator {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = cluster
            .dir
            .join(format!("logs/operator-{namespace}-{identity}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kubetwin"))
            .args(["operator", "--kubeconfig"])
            .arg(kubeconfig)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--namespace", namespace, "--lease-namespace", namespace])
            .args(["--identity", identity])
            .env("RUST_LOG", "kubetwin=debug,info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the operator starts");
        Operator { child, port, log }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let code = answer.split_whitespace().nth(1)?.parse().ok()?;
        let body = answer.split_once("\r\n\r\n")?.1.to_owned();
        Some((code, body))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn twin(cluster: &Cluster, namespace: &str) -> Value {
    let json = cluster.kubectl(&["get", "twin", "shop", "-n", namespace, "-o", "json"], "");
    serde_json::from_str(&json).unwrap()
}

/// Merge-patches the TwinExperiment `shop` with `patch` (JSON).
fn patch_twin(cluster: &Cluster, namespace: &str, patch: &str) {
    let args = [
        "patch",
        "twin",
        "shop",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        patch,
    ];
    cluster.kubectl(&args, "");
}

fn condition(twin: &Value, type_: &str) -> Option<(String, String, String)> {
    let c = twin["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    Some((s("status"), s("reason"), s("message")))
}

fn hpa(cluster: &Cluster, namespace: &str) -> Value {
    let json = cluster.kubectl(
        &[
            "get",
            "hpa",
            "frontend",
            "-n",
            namespace,
            "-o",
            "json",
            "--show-managed-fields",
        ],
        "",
    );
    serde_json::from_str(&json).unwrap()
}

#[test]
#[ignore = "needs the control plane"]
fn the_operator_fits_predicts_recommends_applies_and_rolls_back() {
    block_on(async {
        let cluster = shared();
        let ns = Namespace::create("operator").await;
        cluster.kubectl(&["apply", "--server-side", "-f", "-"], CRD);
        cluster.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "crd/twinexperiments.kubetwin.io",
            ],
            "",
        );
        cluster.kubectl(&["apply", "-f", "-"], &application(&ns.name));
        let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() as i64;
        let prometheus = server::start_with(&istio_text(&ns.name, now - 60, &WORKLOADS, &EDGES));

        // The operator authenticates as the chart's ServiceAccount, so the chart's RBAC is
        // what this test exercises (no pods: KWOK would only pretend to run them).
        let helm_home = tempfile::tempdir().unwrap();
        let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/kubetwin");
        let installed = cluster
            .command("helm")
            .env("HOME", helm_home.path())
            .args(["install", "kubetwin", chart, "-n", &ns.name, "--skip-crds"])
            .args([
                "--set",
                "rbac.scope=namespaced",
                "--set",
                &format!("watchNamespace={}", ns.name),
            ])
            .args(["--set", "replicaCount=0"])
            .output()
            .unwrap();
        assert!(
            installed.status.success(),
            "{}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let token = cluster.kubectl(
            &[
                "create",
                "token",
                "kubetwin",
                "-n",
                &ns.name,
                "--duration=1h",
            ],
            "",
        );
        let kubeconfig = helm_home.path().join("operator.kubeconfig");
        let yaml = serde_json::to_string(&cluster.kubeconfig_with_token(token.trim())).unwrap();
        std::fs::write(&kubeconfig, yaml).unwrap();
        let first = Operator::start(cluster, &kubeconfig, &ns.name, "operator-1");
        cluster.kubectl(
            &["apply", "-f", "-"],
            &experiment(&ns.name, &prometheus.url),
        );

        // Fitted, simulated, and a recommendation with its evidence.
        let status = eventually("a recommendation", 600, || async {
            let t = twin(cluster, &ns.name);
            condition(&t, "RecommendationReady")
                .filter(|c| c.0 == "True")
                .map(|_| t)
        })
        .await;
        let log = first.log();
        assert_eq!(
            condition(&status, "ModelFitted").unwrap().0,
            "True",
            "{log}"
        );
        assert_eq!(condition(&status, "Simulated").unwrap().0, "True", "{log}");
        assert_eq!(condition(&status, "Degraded").unwrap().0, "False", "{log}");
        let s = &status["status"];
        assert_eq!(s["phase"], "RecommendationReady");
        assert_eq!(s["observedGeneration"], status["metadata"]["generation"]);
        let services: Vec<&str> = s["model"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(services, ["backend", "frontend"]);
        // The import's and the build's warnings are listed, as many as the condition counts.
        let fitted = condition(&status, "ModelFitted").unwrap().2;
        let count: usize = fitted
            .split("; ")
            .nth(1)
            .and_then(|w| w.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no warning count in {fitted:?}"));
        let listed = s["model"]["warnings"].as_array().map_or(0, Vec::len);
        assert!(
            count > 0 && listed == count,
            "{count} warnings, {listed} listed: {s}"
        );
        assert!(
            s["current"]["observed"]["p99Ms"].as_f64().unwrap() > 0.0,
            "{s}"
        );
        assert!(
            s["current"]["predicted"]["p99Ms"].as_f64().unwrap() > 0.0,
            "{s}"
        );
        let rec = &s["recommendations"][0];
        assert_eq!(
            (rec["id"].as_str(), rec["state"].as_str()),
            (Some("r-1"), Some("Pending"))
        );
        assert!(
            rec["predicted"]["p99Ms"].as_f64().unwrap() <= 600.0,
            "{rec}"
        );
        assert_eq!(
            rec["approve"].as_str().unwrap(),
            format!(
                "kubectl annotate twin shop -n {} kubetwin.io/approve=r-1 --overwrite",
                ns.name
            )
        );
        let apply = rec["patches"][0]["apply"].as_str().unwrap();
        let proposed: Value =
            serde_json::to_value(serde_saphyr::from_str::<Value>(apply).unwrap()).unwrap();
        assert_eq!(rec["patches"][0]["kind"], "HorizontalPodAutoscaler");

        // kubectl get twin shows the print columns.
        let table = cluster.kubectl(&["get", "twin", "-n", &ns.name], "");
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAME",
                "PHASE",
                "OBSERVED",
                "P99",
                "PREDICTED",
                "P99",
                "RECOMMENDATION",
                "AGE"
            ]
        );
        assert!(
            table.contains("RecommendationReady") && table.contains("r-1:"),
            "{table}"
        );

        // The operator's metrics carry the prediction and its error.
        let (code, metrics) = first.get("/metrics").unwrap();
        assert_eq!(code, 200);
        assert!(
            metrics.contains(&format!(
                "kubetwin_prediction_error_ratio{{experiment=\"{}/shop\",quantile=\"0.99\"}}",
                ns.name
            )),
            "{metrics}"
        );
        assert!(
            metrics.contains("kubetwin_recommendation_info{"),
            "{metrics}"
        );

        // A second operator waits for the Lease and does nothing.
        let second = Operator::start(cluster, &kubeconfig, &ns.name, "operator-2");
        let holder = cluster.kubectl(
            &[
                "get",
                "lease",
                "kubetwin-leader",
                "-n",
                &ns.name,
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
            "",
        );
        assert_eq!(holder, "operator-1");
        let standby = (200, "ok: standby, waiting for the Lease".to_owned());
        let ready = eventually("the second operator's /readyz", 100, || async {
            second.get("/readyz")
        })
        .await;
        assert_eq!(ready, standby);

        // Approve: the HPA takes the recommended values under the field manager `kubetwin`.
        let before = hpa(cluster, &ns.name);
        cluster.kubectl(
            &[
                "annotate",
                "twin",
                "shop",
                "-n",
                &ns.name,
                "kubetwin.io/approve=r-1",
            ],
            "",
        );
        let after = eventually("the approved patch applied", 300, || async {
            let h = hpa(cluster, &ns.name);
            let managers: Vec<String> = h["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["manager"].as_str().map(str::to_owned))
                .collect();
            managers.iter().any(|m| m == "kubetwin").then_some(h)
        })
        .await;
        for field in ["minReplicas", "maxReplicas"] {
            if let Some(v) = proposed["spec"].get(field) {
                assert_eq!(&after["spec"][field], v, "{field}");
            }
        }
        let t = eventually("the recommendation marked Applied", 100, || async {
            let t = twin(cluster, &ns.name);
            (t["status"]["recommendations"][0]["state"] == "Applied").then_some(t)
        })
        .await;
        assert_eq!(condition(&t, "Applied").unwrap().0, "True");
        let events = cluster.kubectl(
            &[
                "get",
                "events",
                "-n",
                &ns.name,
                "--field-selector",
                "reason=Applied",
                "-o",
                "name",
            ],
            "",
        );
        assert!(!events.trim().is_empty(), "an Applied event");

        // Roll back: the previous values return.
        cluster.kubectl(
            &[
                "annotate",
                "twin",
                "shop",
                "-n",
                &ns.name,
                "kubetwin.io/rollback=r-1",
            ],
            "",
        );
        // The apply changed the HPA, which starts a cycle; the rollback waits for it, up to
        // budget.maxCycleSeconds (60 s), so allow three times that.
        eventually("the rollback applied", 900, || async {
            let h = hpa(cluster, &ns.name);
            (h["spec"]["minReplicas"] == before["spec"]["minReplicas"]
                && h["spec"]["maxReplicas"] == before["spec"]["maxReplicas"])
                .then_some(())
        })
        .await;
        eventually("the recommendation marked RolledBack", 100, || async {
            (twin(cluster, &ns.name)["status"]["recommendations"][0]["state"] == "RolledBack")
                .then_some(())
        })
        .await;
        assert_eq!(
            second.get("/readyz").unwrap(),
            standby,
            "the second operator still waits"
        );
        let (_, metrics) = second.get("/metrics").unwrap();
        assert!(
            !metrics.contains("kubetwin_reconciles_total{"),
            "the standby reconciled:\n{metrics}"
        );

        // An SLO nothing meets: no recommendation, and the phase says the SLO is at risk.
        patch_twin(
            cluster,
            &ns.name,
            r#"{"spec":{"slo":{"metric":"p99","thresholdMs":1}}}"#,
        );
        let at_risk = eventually("the cycle of the 1 ms SLO", 900, || async {
            let t = twin(cluster, &ns.name);
            (t["status"]["observedGeneration"] == t["metadata"]["generation"]).then_some(t)
        })
        .await;
        assert_eq!(at_risk["status"]["phase"], "SLOAtRisk", "{at_risk}");
        let ready = condition(&at_risk, "RecommendationReady").unwrap();
        assert_eq!(
            (ready.0.as_str(), ready.1.as_str()),
            ("False", "NoFeasibleConfiguration")
        );

        // Prometheus gone: Degraded, and nothing applied.
        drop(prometheus);
        let hpa_before = hpa(cluster, &ns.name)["spec"].clone();
        patch_twin(cluster, &ns.name, r#"{"spec":{"cadence":"11m"}}"#);
        let degraded = eventually("Degraded", 300, || async {
            let t = twin(cluster, &ns.name);
            condition(&t, "Degraded").filter(|c| c.0 == "True")
        })
        .await;
        assert_eq!(degraded.1, "PrometheusUnreachable", "{}", degraded.2);
        assert_eq!(hpa(cluster, &ns.name)["spec"], hpa_before);
        drop(second);
        drop(first);
    });
}
