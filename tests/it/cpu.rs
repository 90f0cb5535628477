//! CPU as Kubernetes measures it, and the HPA's view of it: CPU is spent while a request
//! processes (not while its worker waits on a callee), capped at the container's limit
//! (which slows processing down), and read through metrics-server's lagged windows. Loads
//! are deterministic (constant arrivals, constant service times, round-robin balancing), so
//! every figure below is exact up to a request at a window's edge.

use crate::common::{assert_close, error_of, hpa, kubetwin, service, simulate, topology, workload};
use kubetwin::model;
use kubetwin::sim::{self, BuildOptions, RunReport};

/// A CPU-utilization HPA at 50 % within [min, max].
fn cpu_hpa(target: &str, min: u32, max: u32) -> String {
    hpa(
        target,
        "    kubetwin.io/autoscaler-rule: kubernetes",
        &format!(
            "  minReplicas: {min}
  maxReplicas: {max}
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}"
        ),
    )
}

/// `service(...)` with the container's resources replaced by `resources` (flow YAML).
fn with_resources(yaml: String, resources: &str) -> String {
    yaml.replace(
        "resources: {requests: {cpu: 100m, memory: 64Mi}}",
        resources,
    )
}

fn round_robin(yaml: String, name: &str) -> String {
    yaml.replace(
        &format!("kind: Service\nmetadata: {{name: {name}}}"),
        &format!(
            "kind: Service\nmetadata: {{name: {name}, annotations: {{kubetwin.io/load-balancing: round-robin}}}}"
        ),
    )
}

/// (time, from, to) of every scaling event.
fn scalings(r: &RunReport) -> Vec<(f64, u32, u32)> {
    r.scaling.iter().map(|s| (s.at, s.from, s.to)).collect()
}

/// The reasons of the HPA's conditions after the last sync.
fn reasons(r: &RunReport) -> Vec<(&'static str, &'static str, &'static str)> {
    (r.autoscalers[0].conditions.iter())
        .map(|c| (c.kind, c.status, c.reason))
        .collect()
}

/// `front` (4 pods of 10 workers, 2 ms of processing, 1 core requested) calls `back`
/// (80 ms) synchronously: each front worker is held 82 ms per request, so at 100 requests
/// per second and pod its workers are 82 % busy, far above the 50 % target. But it
/// processes for 2 ms of each: 100/s × 2 ms × 1 core = 200m of its 1000m, 20 %. The HPA
/// sees 20 % and never scales up; the old busy-worker measure would have asked for
/// ceil(4 × 82/50) = 7 pods.
#[test]
fn a_caller_waiting_on_a_slow_callee_does_not_scale_on_cpu() {
    let front = with_resources(
        service(
            "front",
            4,
            "  workers: 10\n  serviceTime: {type: constant, value: 2}\n  calls: [{service: back}]",
        ),
        "resources: {requests: {cpu: \"1\", memory: 64Mi}}",
    );
    let back = service(
        "back",
        40,
        "  workers: 10\n  serviceTime: {type: constant, value: 80}",
    );
    let yaml = format!(
        "{}{}{}{}{}",
        topology(0.0),
        round_robin(front, "front"),
        round_robin(back, "back"),
        cpu_hpa("front", 1, 20),
        workload(
            "front",
            "    - {endSeconds: 200, arrivals: {type: constant, rate: 400}}",
            "  statisticsIntervalSeconds: 15",
        )
    );
    let r = simulate(&yaml);
    let front = &r.services[0];
    assert_close(
        "front worker utilization",
        front.utilization.unwrap(),
        0.82,
        0.01,
    );
    assert_eq!(r.autoscalers[0].metrics[0].current, Some(20.0));
    // 20 % asks for ceil(4 × 0.4) = 2, which the 300 s scale-down window holds off.
    assert!(r.scaling.is_empty(), "{:?}", scalings(&r));
    assert_eq!(
        reasons(&r),
        [
            ("AbleToScale", "True", "ScaleDownStabilized"),
            ("ScalingActive", "True", "ValidMetricFound"),
            ("ScalingLimited", "False", "DesiredWithinRange"),
        ]
    );
}

/// Two 4-worker pods requesting 500m, kept saturated (1000 requests/s of 10 ms at one core
/// each, 10 may queue). Unlimited, each uses 4 cores: 800 % of its request. With a 2-core
/// limit it uses 2: 400 %, limit / request. The HPA (bounds [2, 2]) reports that, and that
/// `maxReplicas` holds it back.
#[test]
fn utilization_exceeds_100_percent_up_to_limit_over_request() {
    let run = |resources: &str| {
        let app = with_resources(
            service(
                "app",
                2,
                "  workers: 4\n  queueCapacity: 10\n  serviceTime: {type: constant, value: 10}",
            ),
            resources,
        );
        simulate(&format!(
            "{}{}{}{}",
            topology(0.0),
            round_robin(app, "app"),
            cpu_hpa("app", 2, 2),
            workload(
                "app",
                "    - {endSeconds: 60, arrivals: {type: constant, rate: 1000}}",
                "  statisticsIntervalSeconds: 15",
            )
        ))
    };
    let unlimited = run("resources: {requests: {cpu: 500m, memory: 64Mi}}");
    assert_eq!(unlimited.autoscalers[0].metrics[0].current, Some(800.0));
    let limited = run("resources: {requests: {cpu: 500m, memory: 64Mi}, limits: {cpu: \"2\"}}");
    assert_eq!(limited.autoscalers[0].metrics[0].current, Some(400.0));
    assert_eq!(
        reasons(&limited)[2],
        ("ScalingLimited", "True", "TooManyReplicas")
    );
    // Throttled to half speed, each pod completes 2 cores / 10 core-ms = 200 requests/s.
    assert_close(
        "throttled throughput",
        limited.services[0].throughput,
        400.0,
        0.01,
    );
    assert_close(
        "unthrottled throughput",
        unlimited.services[0].throughput,
        800.0,
        0.01,
    );
}

/// One pod, two workers, 10 ms of one core per request, a CPU limit of `limit`. Two flows
/// of 10 requests/s arrive at the same instants, so two requests always process together
/// and alone: both take service time × demand / limit when 2 cores exceed the limit.
fn pairs(limit: &str) -> RunReport {
    let app = with_resources(
        service(
            "app",
            1,
            "  workers: 2\n  serviceTime: {type: constant, value: 10}",
        ),
        &format!("resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{cpu: {limit}}}}}"),
    );
    simulate(&format!(
        "{}{app}{}",
        topology(0.0),
        workload(
            "app",
            "    - {name: a, endSeconds: 10, arrivals: {type: constant, rate: 10}}
    - {name: b, endSeconds: 10, arrivals: {type: constant, rate: 10}}",
            "  seed: 1",
        )
    ))
}

#[test]
fn throttling_stretches_processing_by_demand_over_limit() {
    let ttp = |limit| pairs(limit).services[0].ttp.mean.unwrap();
    assert_close("no throttling at 2 cores", ttp("\"2\""), 10.0, 1e-3);
    assert_close("2 cores on 1: half speed", ttp("\"1\""), 20.0, 1e-3);
    assert_close("2 cores on 500m: quarter speed", ttp("500m"), 40.0, 1e-3);
}

/// Two pods at 20 % CPU; at 60 s the load quadruples (80 %). The sync at 75 s reads the
/// window [52.5, 67.5] s: half before the step, 50 %, within the tolerance; the one at
/// 90 s reads [67.5, 82.5] s, 80 %, and scales to ceil(2 × 1.6) = 4. Scraping at the
/// multiples of 15 s instead, the sync at 75 s reads [60, 75] s and scales at once.
#[test]
fn the_metrics_window_lags_a_step_by_one_sync() {
    let run = |simulation: &str| {
        let app = service(
            "app",
            2,
            "  cpuMillicores: 100\n  serviceTime: {type: constant, value: 10}",
        );
        simulate(&format!(
            "{}{}{}{}",
            topology(0.0),
            round_robin(app, "app"),
            cpu_hpa("app", 1, 10),
            workload(
                "app",
                "    - {name: base, endSeconds: 120, arrivals: {type: constant, rate: 40}}
    - {name: step, startSeconds: 60, endSeconds: 120, arrivals: {type: constant, rate: 120}}",
                simulation,
            )
        ))
    };
    let lagged = run("  seed: 1");
    assert_eq!(scalings(&lagged)[0], (90.0, 2, 4));
    let in_step = run("  metricsServer: {scrapeOffsetSeconds: 0}");
    assert_eq!(scalings(&in_step)[0], (75.0, 2, 4));
}

/// A CPU-utilization HPA (1 to 10 replicas) over `app` (2 pods, 10 ms a request, 150
/// requests a second for 100 s), its Deployment's containers changed by `containers`.
fn cpu_hpa_scenario(containers: impl FnOnce(String) -> String) -> String {
    let app = containers(service(
        "app",
        2,
        "  serviceTime: {type: constant, value: 10}",
    ));
    format!(
        "{}{app}{}{}",
        topology(0.0),
        cpu_hpa("app", 1, 10),
        workload(
            "app",
            "    - {endSeconds: 100, arrivals: {type: constant, rate: 150}}",
            "  seed: 1",
        )
    )
}

/// A CPU-utilization HPA over `app`, whose container `main` requests no CPU.
fn cpu_hpa_without_cpu_requests() -> String {
    cpu_hpa_scenario(|app| with_resources(app, "resources: {requests: {memory: 64Mi}}"))
}

/// An HPA on CPU utilization of pods without a CPU request: the build warns, and the HPA
/// never scales, reporting `FailedGetResourceMetric` as Kubernetes does.
#[test]
fn a_cpu_hpa_on_pods_without_cpu_requests_warns_and_reports_failed_get_resource_metric() {
    let yaml = cpu_hpa_without_cpu_requests();
    let scenario = model::load_str(
        std::path::Path::new("test.yaml"),
        &yaml,
        std::path::Path::new("."),
        &[],
    )
    .unwrap();
    let world = sim::build(&scenario, BuildOptions::default()).unwrap();
    let warnings: Vec<String> = world.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("HorizontalPodAutoscaler/app spec.metrics[0]")
            && warnings[0].contains("container \"main\" of Deployment/app has no CPU request"),
        "{warnings:?}"
    );
    let r = sim::run(&world, &mut |_| {});
    assert!(r.scaling.is_empty(), "{:?}", scalings(&r));
    assert_eq!(
        reasons(&r),
        [
            ("AbleToScale", "True", "SucceededGetScale"),
            ("ScalingActive", "False", "FailedGetResourceMetric"),
        ]
    );
    assert!(
        r.autoscalers[0].conditions[1]
            .message
            .contains("missing request for cpu")
    );
    // A CPU limit alone is the request (the API server defaults it): no warning.
    let limited = yaml.replace(
        "resources: {requests: {memory: 64Mi}}",
        "resources: {limits: {cpu: 200m}}",
    );
    let scenario = model::load_str(
        std::path::Path::new("test.yaml"),
        &limited,
        std::path::Path::new("."),
        &[],
    )
    .unwrap();
    let world = sim::build(&scenario, BuildOptions::default()).unwrap();
    assert!(world.warnings.is_empty(), "{:?}", world.warnings);
}

/// A sidecar without a CPU request (an injected proxy) fails a `Resource` cpu metric, but
/// not a `ContainerResource` one on the app container, which reads that container's request
/// only; a `ContainerResource` metric on a container the pods do not run fails with
/// `FailedGetContainerResourceMetric`. The build warns exactly when the HPA cannot work.
#[test]
fn a_container_resource_hpa_reads_its_container_and_ignores_a_sidecar_without_a_request() {
    let yaml = cpu_hpa_scenario(|app| {
        app.replace(
            "resources: {requests: {cpu: 100m, memory: 64Mi}}}]",
            "resources: {requests: {cpu: 100m, memory: 64Mi}}}, {name: istio-proxy, image: proxy}]",
        )
    });
    let on = |container: &str| {
        yaml.replace(
            "    - type: Resource\n      resource: {name: cpu,",
            &format!(
                "    - type: ContainerResource\n      containerResource: {{name: cpu, container: {container},"
            ),
        )
    };
    let build = |yaml: &str| {
        let scenario = model::load_str(
            std::path::Path::new("test.yaml"),
            yaml,
            std::path::Path::new("."),
            &[],
        )
        .unwrap();
        let world = sim::build(&scenario, BuildOptions::default()).unwrap();
        let warnings: Vec<String> = world.warnings.iter().map(ToString::to_string).collect();
        (warnings, sim::run(&world, &mut |_| {}))
    };

    let (warnings, r) = build(&yaml);
    assert!(
        warnings.len() == 1
            && warnings[0]
                .contains("container \"istio-proxy\" of Deployment/app has no CPU request"),
        "{warnings:?}"
    );
    assert_eq!(
        reasons(&r)[1],
        ("ScalingActive", "False", "FailedGetResourceMetric")
    );

    // 150/s x 10 ms = 1.5 cores over 2 pods: 750m each, 750 % of main's 100m.
    let (warnings, r) = build(&on("main"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        reasons(&r)[1],
        ("ScalingActive", "True", "ValidMetricFound")
    );
    assert_eq!(r.autoscalers[0].replicas, 10, "{:?}", scalings(&r));

    let (warnings, r) = build(&on("web"));
    assert!(
        warnings.len() == 1
            && warnings[0].contains("Deployment/app's pods run no container \"web\""),
        "{warnings:?}"
    );
    assert_eq!(
        reasons(&r)[1],
        ("ScalingActive", "False", "FailedGetContainerResourceMetric")
    );
    assert!(r.scaling.is_empty(), "{:?}", scalings(&r));
}

/// `sweep` and `optimize` print the build's warnings to stderr as `simulate` does, once
/// however many configurations and replications share them.
#[test]
fn sweep_and_optimize_print_the_build_warnings_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.yaml");
    std::fs::write(&file, cpu_hpa_without_cpu_requests()).unwrap();
    let file = file.to_str().unwrap();
    let runs = ["--replications", "2", "--requests", "300"];
    let sweep = ["sweep", file, "--vary", "deployment/app:spec.replicas=2,3"];
    let optimize = [
        "optimize",
        file,
        "--decide",
        "deployment/app:spec.replicas=2,3",
        "--slo",
        "p99<=1s",
    ];
    for command in [&sweep[..], &optimize[..]] {
        let (ok, _, err) = kubetwin(&[command, &runs[..]].concat());
        assert!(ok, "{command:?}: {err}");
        let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
        assert_eq!(warnings.len(), 1, "{command:?}: {err}");
        assert!(
            warnings[0].contains(
                "HorizontalPodAutoscaler/app spec.metrics[0]: targets CPU utilization, but \
                 container \"main\" of Deployment/app has no CPU request: Kubernetes reports \
                 ScalingActive=False (FailedGetResourceMetric: missing request for cpu)"
            ),
            "{command:?}: {err}"
        );
    }
}

/// The online twin's cycle reports the build's warnings of the current configuration
/// (the operator adds them to the import's).
#[cfg(feature = "operator")]
#[test]
fn an_operator_cycle_reports_the_build_warnings() {
    use kubetwin::operator::crd::{Budget, SloMetric, SloSpec, Target, TwinExperimentSpec};
    use kubetwin::operator::cycle::Cycle;

    let spec = TwinExperimentSpec {
        target: Target {
            namespace: None,
            selector: Default::default(),
            entry: "app".into(),
        },
        model: Default::default(),
        workload: Default::default(),
        slo: SloSpec {
            metric: SloMetric::P99,
            threshold_ms: 1000.0,
            confidence: Default::default(),
        },
        objective: Default::default(),
        search_space: Vec::new(),
        cadence: "5m".into(),
        budget: Budget {
            requests: 300,
            replications: 1,
            ..Budget::default()
        },
        approval: Default::default(),
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let outcome = Cycle {
        yaml: &cpu_hpa_without_cpu_requests(),
        spec: &spec,
        overrides: &[],
        seed: 1,
        cancel: &cancel,
    }
    .run()
    .unwrap();
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[0].contains(
            "HorizontalPodAutoscaler/app spec.metrics[0]: targets CPU utilization, but \
             container \"main\" of Deployment/app has no CPU request"
        ),
        "{:?}",
        outcome.warnings
    );
}

#[test]
fn bad_cpu_and_metrics_server_settings_name_their_field() {
    let base = format!(
        "{}{}{}",
        topology(0.0),
        service("app", 1, "  serviceTime: {type: constant, value: 10}"),
        workload(
            "app",
            "    - {endSeconds: 10, arrivals: {type: constant, rate: 1}}",
            "  metricsServer: {metricResolutionSeconds: 15}",
        )
    );
    let e = error_of(&base.replace("  serviceTime:", "  cpuMillicores: 0\n  serviceTime:"));
    assert!(
        e.contains("ServiceModel/app spec.cpuMillicores: must be > 0"),
        "{e}"
    );
    let e = error_of(&base.replace(
        "{metricResolutionSeconds: 15}",
        "{metricResolutionSeconds: 15, scrapeOffsetSeconds: 15}",
    ));
    assert!(
        e.contains("Simulation/run spec.metricsServer.scrapeOffsetSeconds: must be >= 0 and less than the metric resolution (15 s)"),
        "{e}"
    );
    let e = error_of(&base.replace("metricResolutionSeconds: 15", "metricResolutionSeconds: 0"));
    assert!(
        e.contains(
            "spec.metricsServer.metricResolutionSeconds: must be at least 0.001 seconds, got 0"
        ),
        "{e}"
    );
    let e = error_of(&base.replace(
        "resources: {requests: {cpu: 100m, memory: 64Mi}}",
        "resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: lots}}",
    ));
    assert!(
        e.contains("Deployment/app spec.template.spec.containers[0].resources.limits.cpu"),
        "{e}"
    );
}
