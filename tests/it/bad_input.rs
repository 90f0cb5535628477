//! Bad scenarios give clear errors naming the file, the line where known, the object and
//! the field path; never a panic. A property test feeds the loader mutated scenarios.

use std::path::Path;

use kubetwin::model;
use kubetwin::sim::{self, BuildOptions};
use proptest::prelude::*;

use crate::common::{error_of, service, topology, workload};

fn valid() -> String {
    topology(0.0)
        + &service(
            "a",
            1,
            "  serviceTime: {type: exponential, mean: 5}\n  calls: [{service: b}]",
        )
        + &service("b", 1, "  serviceTime: {type: exponential, mean: 5}")
        + &workload(
            "a",
            "    - {requests: 100, arrivals: {type: poisson, rate: 10}}",
            "  seed: 1",
        )
}

/// `base` with `from` replaced by `to`; `from` must occur, so no edit silently does nothing.
#[track_caller]
fn edit(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "{from:?} is not in the scenario");
    base.replace(from, to)
}

#[track_caller]
fn rejects(yaml: &str, expected: &[&str]) {
    let error = error_of(yaml);
    for part in expected {
        assert!(error.contains(part), "expected {part:?} in:\n{error}");
    }
}

#[test]
fn the_valid_base_scenario_loads() {
    let s = model::load_str(Path::new("test.yaml"), &valid(), Path::new("."), &[]).unwrap();
    sim::build(&s, BuildOptions::default()).unwrap();
}

#[test]
fn reference_errors_name_object_and_field() {
    rejects(
        &edit(
            &valid(),
            "calls: [{service: b}]",
            "calls: [{service: nope}]",
        ),
        &[
            "test.yaml:",
            "ServiceModel/a spec.calls[0].service",
            "unknown service \"nope\"",
        ],
    );
    rejects(
        &edit(&valid(), "entry: a", "entry: nope"),
        &[
            "Workload/users spec.requestTypes[0].entry",
            "unknown service",
        ],
    );
    rejects(
        &edit(&valid(), "userLocation: lab", "userLocation: mars"),
        &[
            "Workload/users spec.userLocation",
            "unknown location \"mars\"",
        ],
    );
    rejects(
        &edit(&valid(), "location: lab", "location: mars"),
        &[
            "Topology/lab spec.clusters[0].location",
            "unknown location \"mars\"",
        ],
    );
    let cyclic = topology(0.0)
        + &service(
            "a",
            1,
            "  serviceTime: {type: constant, value: 1}\n  calls: [{service: b}]",
        )
        + &service(
            "b",
            1,
            "  serviceTime: {type: constant, value: 1}\n  calls: [{parallel: [{service: c}]}]",
        )
        + &service(
            "c",
            1,
            "  serviceTime: {type: constant, value: 1}\n  calls: [{oneOf: [{service: a, probability: 0.1}]}]",
        )
        + &workload(
            "a",
            "    - {requests: 100, arrivals: {type: poisson, rate: 10}}",
            "  seed: 1",
        );
    rejects(
        &cyclic,
        &["test.yaml:", "cyclic call graph: a -> b -> c -> a"],
    );
    rejects(
        &edit(&valid(), "selector: {app: b}", "selector: {}"),
        &["Service/b spec.selector", "empty"],
    );
    rejects(
        &edit(&valid(), "selector: {app: b}", "selector: {app: zzz}"),
        &["Service/b spec.selector", "selects no Deployment"],
    );
}

#[test]
fn missing_latency_pair_is_named() {
    let yaml = edit(
        &valid(),
        "  locations: [{name: lab}]\n  clusters:\n    - name: lab\n      location: lab",
        "  locations: [{name: lab}, {name: far}]\n  clusters:\n    - name: lab\n      location: far",
    );
    rejects(
        &yaml,
        &[
            "Topology/lab spec.latency.links",
            "missing latency from lab to far",
        ],
    );
}

#[test]
fn value_errors_name_the_field_path() {
    rejects(
        &edit(&valid(), "rate: 10", "rate: -3"),
        &[
            "Workload/users spec.flows[0].arrivals.rate",
            "must be > 0",
            "-3",
        ],
    );
    rejects(
        &edit(&valid(), "rate: 10", "rate: 0"),
        &["spec.flows[0].arrivals.rate", "must be > 0"],
    );
    rejects(
        &edit(
            &valid(),
            "{type: exponential, mean: 5}\n  calls",
            "{type: exponential, mean: -5}\n  calls",
        ),
        &["ServiceModel/a spec.serviceTime.mean"],
    );
    let mixture = "{type: mixture, components: [{weight: 0.5, distribution: {type: constant, value: 1}}, {weight: 0.4, distribution: {type: constant, value: 2}}]}";
    rejects(
        &edit(
            &valid(),
            "{type: exponential, mean: 5}\n  calls",
            &format!("{mixture}\n  calls"),
        ),
        &["ServiceModel/a spec.serviceTime.components", "sum"],
    );
    rejects(
        &edit(
            &valid(),
            "  replicas: 1\n  selector: {matchLabels: {app: a}}",
            "  replicas: -2\n  selector: {matchLabels: {app: a}}",
        ),
        &["Deployment/a spec.replicas", "must be >= 0"],
    );
    rejects(
        &edit(
            &valid(),
            "  serviceTime: {type: exponential, mean: 5}\n  calls",
            "  workers: 0\n  serviceTime: {type: exponential, mean: 5}\n  calls",
        ),
        &["ServiceModel/a spec.workers"],
    );
    rejects(
        &edit(&valid(), "cpu: 100m", "cpu: lots"),
        &["Deployment/a", "lots"],
    );
    rejects(
        &edit(&valid(), "requests: 100, arrivals", "arrivals"),
        &["spec.flows[0]", "never ends"],
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    // An unknown field in a kubetwin kind: the parser knows where it is.
    let yaml = edit(
        &valid(),
        "  serviceTime: {type: exponential, mean: 5}\n  calls",
        "  servceTime: 3\n  serviceTime: {type: exponential, mean: 5}\n  calls",
    );
    let line = yaml.lines().position(|l| l.contains("servceTime")).unwrap() + 1;
    rejects(&yaml, &[&format!("test.yaml:{line}:"), "servceTime"]);
    // An unknown field in a Kubernetes object (which k8s-openapi would silently drop).
    rejects(
        &edit(&valid(), "replicas: 1", "replicas: 1\n  replicaz: 2"),
        &["test.yaml:", "unknown field `spec.replicaz`"],
    );
    rejects(
        &edit(&valid(), "image: x", "image: x, resourcez: {}"),
        &["unknown field `spec.template.spec.containers[0].resourcez`"],
    );
    // A type error.
    let yaml = edit(&valid(), "replicas: 1", "replicas: many");
    let line = yaml
        .lines()
        .position(|l| l.contains("replicas: many"))
        .unwrap()
        + 1;
    rejects(&yaml, &[&format!("test.yaml:{line}:")]);
    // Not YAML at all.
    rejects(
        &edit(
            &valid(),
            "kind: Workload",
            "kind: Workload\n  - [unbalanced",
        ),
        &["test.yaml:"],
    );
    rejects(
        &edit(&valid(), "kind: Workload", "kind: Workflow"),
        &["unsupported object kubetwin.io/v1alpha1/Workflow"],
    );
    rejects(
        &edit(&valid(), "apiVersion: apps/v1\n", ""),
        &["needs `apiVersion` and `kind`"],
    );
}

#[test]
fn overrides_that_match_nothing_are_errors() {
    let o: model::Override = "deployment/zzz:spec.replicas=3".parse().unwrap();
    let e = model::load_str(Path::new("t.yaml"), &valid(), Path::new("."), &[o])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--set deployment/zzz:spec.replicas=3: matches no object"),
        "{e}"
    );
    let o: model::Override = "deployment/a:spec.replicas=lots".parse().unwrap();
    let e = model::load_str(Path::new("t.yaml"), &valid(), Path::new("."), &[o])
        .unwrap_err()
        .to_string();
    assert!(e.contains("after --set"), "{e}");
}

/// One random edit of a line of the scenario.
fn mutate(base: &str, line: usize, edit: u8, junk: &str) -> String {
    let mut lines: Vec<String> = base.lines().map(String::from).collect();
    let i = line % lines.len();
    match edit % 5 {
        0 => {
            lines.remove(i);
        }
        1 => lines[i] = lines[i].replace(|c: char| c.is_ascii_digit(), junk),
        2 => lines.insert(i, junk.to_owned()),
        3 => lines[i] = format!("{}{junk}", lines[i]),
        _ => lines[i] = lines[i].replace(": ", &format!(": {junk}")),
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        // A fixed seed: the same 300 cases on every run, so a failure reproduces.
        rng_seed: proptest::test_runner::RngSeed::Fixed(13),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_loader_never_panics(line in 0usize..200, edit in any::<u8>(), junk in "[-0-9a-z:{}\\[\\], .]{0,8}") {
        let yaml = mutate(&valid(), line, edit, &junk);
        let result = model::load_str(Path::new("fuzz.yaml"), &yaml, Path::new("."), &[])
            .and_then(|s| sim::build(&s, BuildOptions { requests: Some(50), ..Default::default() }));
        if let Ok(world) = result {
            let r = sim::run(&world, &mut |_| {});
            let q = r.requests;
            prop_assert_eq!(q.arrived, q.completed + q.rejected + q.in_flight);
        } else if let Err(e) = result {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn autoscalers_are_checked_with_field_paths() {
    let hpa = |min: i32, target: &str, utilization: i32| {
        format!(
            "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: a}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}
  minReplicas: {min}
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: {utilization}}}}}
"
        )
    };
    let s = model::load_str(
        Path::new("test.yaml"),
        &(valid() + &hpa(1, "a", 60)),
        Path::new("."),
        &[],
    )
    .unwrap();
    let world = sim::build(&s, BuildOptions::default()).unwrap();
    assert_eq!(world.autoscalers.len(), 1);
    assert_eq!(world.autoscalers[0].target, "a");
    rejects(
        &(valid() + &hpa(1, "zzz", 60)),
        &[
            "HorizontalPodAutoscaler/a spec.scaleTargetRef.name",
            "no Deployment named \"zzz\"",
        ],
    );
    rejects(
        &(valid() + &hpa(1, "a", 0)),
        &["HorizontalPodAutoscaler/a spec.metrics[0].resource.target.averageUtilization"],
    );
    rejects(
        &(valid() + &hpa(0, "a", 60)),
        &["HorizontalPodAutoscaler/a spec.minReplicas"],
    );
}

#[test]
fn bad_traces_name_the_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let load = |csv: &str| {
        std::fs::write(dir.path().join("trace.csv"), csv).unwrap();
        let yaml = edit(
            &valid(),
            "{requests: 100, arrivals: {type: poisson, rate: 10}}",
            "{arrivals: {type: trace, file: trace.csv}}",
        );
        model::load_str(Path::new("t.yaml"), &yaml, dir.path(), &[])
            .and_then(|s| sim::build(&s, BuildOptions::default()))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = load("t\n0.5\n0.7\n0.6\n");
    assert!(
        e.contains("spec.flows[0].arrivals") && e.contains("row 3 after row 2"),
        "{e}"
    );
    let e = load("t\n0.5\nsoon\n");
    assert!(e.contains("row 2") && e.contains("soon"), "{e}");
    let e = load("t\n-1\n");
    assert!(e.contains("-1"), "{e}");
}

#[test]
fn draws_that_cannot_fit_the_clock_are_rejected_with_their_field() {
    // N(5, 1e308) once made `simulate` run forever: its draws saturate the nanosecond
    // clock. The loader now names the field and its line.
    let huge = edit(
        &valid(),
        "serviceTime: {type: exponential, mean: 5}\n  calls",
        "serviceTime: {type: normal, mean: 5, stdDev: 1e308}\n  calls",
    );
    rejects(
        &huge,
        &[
            "serviceTime.stdDev",
            "the simulated clock takes draws within",
        ],
    );
    // The loader's errors give the file and the line of the object's document.
    rejects(
        &huge,
        &["test.yaml:", "ServiceModel/a spec.serviceTime.stdDev"],
    );
    let mean = edit(&valid(), "mean: 5}\n  calls", "mean: 1e300}\n  calls");
    rejects(&mean, &["serviceTime.mean", "simulated clock"]);
}

/// A fixed-seed linear congruential generator: the mutants are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn mutated_bundled_scenarios_either_fail_cleanly_or_finish() {
    // 3 scenarios x 80 mutants: one number replaced by NaN, an infinity, a huge or a
    // negative value, or one line dropped. Each must give an error or a finished run of
    // 40 requests; a panic fails the test, and a run that never ends hangs it.
    const BAD: [&str; 8] = [
        ".nan", ".inf", "-.inf", "1e308", "-1e308", "-1", "0", "1e15",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Lcg(13);
    let (mut errors, mut finished) = (0, 0);
    for scenario in [
        "examples/mmc/scenario.yaml",
        "examples/edge-image-recognition/scenario.yaml",
        "examples/edge-image-recognition/autoscaling.yaml",
    ] {
        let text = std::fs::read_to_string(scenario).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..80 {
            let l = rng.below(lines.len());
            let mut mutant: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            if i % 5 == 4 {
                mutant.remove(l);
            } else {
                // The first number at or after line l.
                let Some((k, start, end)) = (l..lines.len()).find_map(|k| {
                    let s = lines[k];
                    let start = s.find(|c: char| c.is_ascii_digit())?;
                    let end = s[start..]
                        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e'))
                        .map_or(s.len(), |e| start + e);
                    Some((k, start, end))
                }) else {
                    continue;
                };
                let bad = BAD[rng.below(BAD.len())];
                mutant[k] = format!("{}{bad}{}", &lines[k][..start], &lines[k][end..]);
            }
            let file = dir.path().join("scenario.yaml");
            std::fs::write(&file, mutant.join("\n")).unwrap();
            let run = model::load(&file, &[])
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    let options = BuildOptions {
                        requests: Some(40),
                        ..Default::default()
                    };
                    sim::build(&s, options).map_err(|e| e.to_string())
                });
            match run {
                Err(e) => {
                    assert!(!e.is_empty());
                    errors += 1;
                }
                Ok(world) => {
                    let report = sim::run(&world, &mut |_| {});
                    let r = report.requests;
                    assert_eq!(r.arrived, r.completed + r.rejected + r.failed + r.in_flight);
                    finished += 1;
                }
            }
        }
    }
    // Both outcomes occur, so the mutations neither all break nor all miss the scenario.
    assert!(
        errors > 20 && finished > 20,
        "{errors} errors, {finished} finished"
    );
}

#[test]
fn load_dependent_service_times_are_checked_field_by_field() {
    let b = "  serviceTime: {type: exponential, mean: 5}\n";
    let levels = |window: &str, first: &str, second: &str| {
        format!(
            "  serviceTimeByLoad:\n    windowSeconds: {window}\n    levels:\n      \
             - {{requestsPerSecond: {first}, serviceTime: {{type: constant, value: 2}}}}\n      \
             - {{requestsPerSecond: {second}, serviceTime: {{type: exponential, mean: -1}}}}\n"
        )
    };
    let with = |body: &str| {
        let yaml = valid();
        let at = yaml.rfind(b).expect("b's serviceTime");
        format!("{}{body}{}", &yaml[..at], &yaml[at + b.len()..])
    };
    rejects(
        &with("  workers: 1\n"),
        &[
            "ServiceModel/b spec.serviceTime",
            "is required (or spec.serviceTimeByLoad)",
        ],
    );
    rejects(
        &with(&format!("{b}{}", levels("10", "1", "2"))),
        &["ServiceModel/b spec.serviceTimeByLoad", "not both"],
    );
    rejects(
        &with(&levels("0", "1", "2")),
        &[
            "spec.serviceTimeByLoad.windowSeconds",
            "must be in (0, 86400], got 0",
        ],
    );
    rejects(
        &with(&levels("10", "1", "2")),
        &["spec.serviceTimeByLoad.levels[1].serviceTime.mean", "-1"],
    );
    let fine = levels("10", "5", "1").replace("mean: -1", "mean: 3");
    rejects(
        &with(&fine),
        &[
            "spec.serviceTimeByLoad.levels[1].requestsPerSecond",
            "must be above the previous level's 5",
        ],
    );
}

#[test]
fn a_cpu_request_above_the_limit_is_refused_and_a_zero_limit_is_no_limit() {
    // The API server refuses requests.cpu > limits.cpu; a limit of 0 sets no CFS quota.
    let yaml = valid().replace(
        "resources: {requests: {cpu: 100m, memory: 64Mi}}",
        "resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: \"0\"}}",
    );
    assert_ne!(yaml, valid(), "the container's resources were not found");
    rejects(
        &yaml,
        &[
            "spec.template.spec.containers[0].resources.requests.cpu",
            "must be less than or equal to the CPU limit (0m), got 100m",
        ],
    );
    let unlimited = yaml.replace(
        "requests: {cpu: 100m, memory: 64Mi}",
        "requests: {memory: 64Mi}",
    );
    let report = crate::common::simulate(&unlimited);
    crate::common::assert_accounted(&report);
    assert_eq!(
        report.requests.in_flight, 0,
        "a zero limit stalled the pods"
    );
}
