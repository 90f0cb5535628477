//! Bad manifests: located errors or warnings naming the object, never a panic.

use std::path::{Path, PathBuf};

use kubetwin::k8s::import::{self, ImportError, ImportOptions, Imported};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use crate::common::kubetwin;

/// A Deployment `name` with a cpu request, and (when `service`) its Service.
fn app(name: &str, cpu: &str, service: bool) -> String {
    let mut yaml = format!(
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: main, image: x, resources: {{requests: {{cpu: \"{cpu}\"}}}}}}]
"
    );
    if service {
        yaml.push_str(&format!(
            "---
apiVersion: v1
kind: Service
metadata: {{name: {name}, annotations: {{kubetwin.io/entry-rate: \"5\"}}}}
spec: {{selector: {{app: {name}}}}}
"
        ));
    }
    yaml
}

const NODE: &str = "---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/zone: z}}
status: {allocatable: {cpu: \"4\", memory: 8Gi}}
";

/// Writes `yaml` to `cluster.yaml` in a temporary directory and imports it; an error's
/// message names the file without the directory.
fn import_yaml(yaml: &str) -> Result<Imported, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, yaml).unwrap();
    let relative = |e: ImportError| {
        let prefix = format!("{}/", dir.path().display());
        e.to_string().replace(&prefix, "")
    };
    let manifests = import::from_manifests(std::slice::from_ref(&file)).map_err(relative)?;
    let options = ImportOptions {
        sources: manifests.sources,
        ..ImportOptions::default()
    };
    import::to_scenario(&manifests.objects, &options).map_err(relative)
}

fn error(yaml: &str) -> String {
    import_yaml(yaml).expect_err("should fail")
}

/// Asserts that importing `yaml` fails with a message containing `expected`.
#[track_caller]
fn fails_with(yaml: &str, expected: &str) {
    let message = error(yaml);
    assert!(message.contains(expected), "{expected}\nnot in\n{message}");
}

/// The line where the document holding `needle` starts (its `---` is the line before).
fn document_line(yaml: &str, needle: &str) -> usize {
    yaml.lines().position(|l| l.contains(needle)).unwrap()
}

fn warnings(yaml: &str) -> Vec<String> {
    let imported = import_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    imported
        .warnings
        .iter()
        .map(|w| format!("{} {}: {}", w.object, w.field, w.message))
        .collect()
}

#[test]
fn unknown_kinds_are_counted_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noise.yaml");
    let noise = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: a}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {anything: [1, 2]}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: b}\n";
    std::fs::write(&file, format!("{noise}{NODE}{}", app("web", "100m", true))).unwrap();
    let manifests = import::from_manifests(&[file]).unwrap();
    assert_eq!(
        manifests.ignored.summary().unwrap(),
        "ignored 3 objects of kinds kubetwin does not model: 2 PodDisruptionBudget (policy/v1), 1 Widget (example.com/v1)"
    );
}

#[test]
fn workloads_and_services_that_do_not_meet_are_warned() {
    let yaml = format!(
        "{NODE}{}{}---
apiVersion: v1
kind: Service
metadata: {{name: ghost}}
spec: {{selector: {{app: ghost}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: gone}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: gone}}
  maxReplicas: 3
",
        app("web", "100m", true),
        app("lonely", "100m", false)
    );
    let warnings = warnings(&yaml);
    let expected = [
        "Deployment/lonely spec.template.metadata.labels: no imported Service selects its pods: nothing can call it",
        "Service/ghost spec.selector: selects no imported Deployment or StatefulSet; left out",
        "HorizontalPodAutoscaler/gone spec.scaleTargetRef: targets Deployment/gone, which is not among the imported Deployments and StatefulSets; left out",
    ];
    for e in expected {
        assert!(
            warnings.iter().any(|w| w == e),
            "{e}\nnot in\n{warnings:#?}"
        );
    }
}

#[test]
fn malformed_quantities_name_object_field_and_line() {
    let yaml = format!("{NODE}{}", app("web", "12x", true));
    let line = document_line(&yaml, "kind: Deployment");
    assert_eq!(
        error(&yaml),
        format!(
            "cluster.yaml:{line}: Deployment/web spec.template.spec: containers[main].resources.requests.cpu: \
             \"12x\" is not a valid quantity: unknown suffix (expected n u m k M G T P E, \
             Ki..Ei or e<exponent>)"
        )
    );
    let node = NODE.replace("cpu: \"4\"", "cpu: four");
    assert!(
        error(&format!("{node}{}", app("web", "1", true)))
            .starts_with("cluster.yaml:2: Node/n1 status.allocatable.cpu: \"four\""),
        "{}",
        error(&format!("{node}{}", app("web", "1", true)))
    );
}

#[test]
fn syntax_and_type_errors_are_located() {
    let web = app("web", "1", true);
    let yaml = format!(
        "{NODE}{}",
        web.replace("selector: {matchLabels", "selector: [matchLabels")
    );
    let line = yaml
        .lines()
        .position(|l| l.contains("[matchLabels"))
        .unwrap()
        + 1;
    fails_with(
        &yaml,
        &format!("cluster.yaml:{line}:13: mismatched bracket"),
    );
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: a}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n  spec: {replicas: many}\n";
    fails_with(list, "cluster.yaml:7: items[1].spec.replicas: invalid type");
    fails_with(
        "kind: Deployment\n",
        "every document needs `apiVersion` and `kind`",
    );
    let twice = format!("{NODE}{web}{}", app("web", "1", false));
    fails_with(
        &twice,
        "Deployment/web metadata.name: defined twice; also at cluster.yaml:7",
    );
}

#[test]
fn what_cannot_become_a_scenario_is_an_error() {
    let web = app("web", "1", true);
    assert_eq!(
        error(&web),
        "scenario nodes: no Node to run pods on: add the nodes (kubectl get nodes -o yaml)"
    );
    let rate = "annotations: {kubetwin.io/entry-rate: \"5\"}";
    for (from, to, expected) in [
        (
            rate,
            "annotations: {}",
            "Workload/imported spec.requestTypes: no entry Service",
        ),
        (
            "\"5\"",
            "\"fast\"",
            "Service/web metadata.annotations[kubetwin.io/entry-rate]: \"fast\" is not a number > 0",
        ),
        (
            "metadata: {name: web}",
            "metadata: {name: web, annotations: {kubetwin.io/service-time-ms: \"{type: gamma}\"}}",
            "Deployment/web metadata.annotations[kubetwin.io/service-time-ms]: \"{type: gamma}\"",
        ),
    ] {
        fails_with(&format!("{NODE}{}", web.replace(from, to)), expected);
    }
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.yaml");
    std::fs::write(&prices, "m5.large: -1\n").unwrap();
    let message = import::read_prices(&prices).unwrap_err().to_string();
    assert!(
        message.ends_with("prices.yaml: m5.large: price -1 is not a number >= 0"),
        "{message}"
    );
}

#[test]
fn the_binary_reports_bad_input_and_exits_non_zero() {
    let (ok, _, stderr) = kubetwin(&["import"]);
    assert!(!ok);
    assert!(stderr.contains("give --from-manifests PATH..."), "{stderr}");
    #[cfg(feature = "operator")]
    {
        let (ok, _, stderr) = kubetwin(&["import", "--from-manifests", "x", "-n", "shop"]);
        assert!(!ok);
        assert!(
            stderr.contains("apply only with --from-cluster"),
            "{stderr}"
        );
        let (ok, _, stderr) = kubetwin(&["import", "--from-manifests", "x", "--from-cluster"]);
        assert!(!ok);
        assert!(stderr.contains("not both"), "{stderr}");
    }
    let (ok, _, stderr) = kubetwin(&["import", "--from-manifests", "tests/fixtures/shop/nope"]);
    assert!(!ok);
    assert!(
        stderr.contains("tests/fixtures/shop/nope: No such file"),
        "{stderr}"
    );
    let (ok, _, stderr) = kubetwin(&[
        "import",
        "--from-manifests",
        super::MANIFESTS,
        "--model",
        super::PRICES,
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("prices.yaml:1: a model holds kubetwin.io/v1alpha1 ServiceModel"),
        "{stderr}"
    );
}

/// The shop's rendered manifests with one line changed.
fn mutate(base: &str, line: usize, edit: u8, junk: &str) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
    let i = line % lines.len();
    match edit % 4 {
        0 => lines[i] = junk.to_owned(),
        1 => lines[i].push_str(junk),
        2 => {
            lines.remove(i);
        }
        _ => lines.insert(i, junk.to_owned()),
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(42),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_import_never_panics(line in 0usize..700, edit in any::<u8>(), junk in "[-0-9a-z:{}\\[\\], .\"]{0,8}") {
        let base = std::fs::read_to_string(Path::new(super::MANIFESTS).join("rendered/shop.yaml")).unwrap();
        let nodes = std::fs::read_to_string(Path::new(super::MANIFESTS).join("nodes.yaml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shop.yaml"), mutate(&base, line, edit, &junk)).unwrap();
        std::fs::write(dir.path().join("nodes.yaml"), nodes).unwrap();
        match import::from_manifests(&[PathBuf::from(dir.path())]) {
            Ok(m) => {
                if let Err(e) = import::to_scenario(&m.objects, &ImportOptions::default()) {
                    prop_assert!(!e.to_string().is_empty());
                    prop_assert!(!matches!(e, ImportError::Output(_)), "an invalid scenario written: {e}");
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("shop.yaml:") || e.to_string().contains("nodes.yaml:"), "{e}"),
        }
    }
}

#[test]
fn what_the_engine_rejects_is_reported_on_the_object_read() {
    let yaml = format!(
        "{NODE}{}",
        app("web", "1", true)
            .replace("{app: web}}\n    spec", "{app: other}}\n    spec")
            .replace("selector: {app: web}", "selector: {app: other}")
    );
    let line = document_line(&yaml, "kind: Deployment");
    assert_eq!(
        error(&yaml),
        format!(
            "cluster.yaml:{line}: Deployment/web spec.selector.matchLabels: app=web does not match the pod template's labels"
        )
    );
}
