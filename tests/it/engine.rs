//! Engine behaviour on small scenarios whose answers are known exactly or nearly:
//! call graphs (chains, fan-out/fan-in, branches), load balancing, placement, workloads,
//! measurement windows, stop conditions, request accounting and determinism.

use kubetwin::model;
use kubetwin::sim::{self, BuildOptions};

use crate::common::{
    assert_accounted, assert_close, service, simulate, simulate_with, topology, workload,
};

const CONSTANT_FLOW: &str = "    - {requests: 1000, arrivals: {type: constant, rate: 10}}";

#[test]
fn synchronous_chain_adds_processing_and_network() {
    // Constant times: user->a 1 ms, a 2 ms, a->b 1 ms, b 3 ms, b->a 1 ms, a->user 1 ms.
    let yaml = topology(1.0)
        + &service(
            "a",
            1,
            "  serviceTime: {type: constant, value: 2}\n  calls: [{service: b}]",
        )
        + &service("b", 1, "  serviceTime: {type: constant, value: 3}")
        + &workload("a", CONSTANT_FLOW, "  seed: 1");
    let r = simulate(&yaml);
    assert_accounted(&r);
    assert_eq!(r.requests.completed, 1000);
    assert_close("TTR", r.ttr.mean.unwrap(), 9.0, 1e-9);
    assert_close("TTR max", r.ttr.max.unwrap(), 9.0, 1e-3);
    // Sync: a's worker is held 2 + 1 + 3 + 1 = 7 ms of every 100 ms.
    assert_close(
        "a utilization",
        r.services[0].utilization.unwrap(),
        0.07,
        1e-6,
    );
}

#[test]
fn parallel_fan_out_waits_for_the_slowest_branch() {
    let yaml = topology(0.0)
        + &service(
            "a",
            1,
            "  serviceTime: {type: constant, value: 1}\n  calls: [{parallel: [{service: b}, {service: c}]}, {service: b}]",
        )
        + &service("b", 2, "  serviceTime: {type: constant, value: 2}")
        + &service("c", 1, "  serviceTime: {type: constant, value: 5}")
        + &workload("a", CONSTANT_FLOW, "  seed: 1");
    let r = simulate(&yaml);
    // a 1 ms, then max(b 2, c 5), then b 2 ms.
    assert_close("TTR", r.ttr.mean.unwrap(), 8.0, 1e-9);
    assert_eq!(r.services[1].processed, 2000);
    assert_eq!(r.services[2].processed, 1000);
}

#[test]
fn branch_probabilities_are_honoured() {
    // oneOf: b with 0.3, c with 0.5, nothing with 0.2; an optional call to d with 0.25.
    let yaml = topology(0.0)
        + &service(
            "a",
            4,
            "  serviceTime: {type: constant, value: 1}\n  calls:\n    - oneOf: [{service: b, probability: 0.3}, {service: c, probability: 0.5}]\n    - {service: d, probability: 0.25}",
        )
        + &service("b", 1, "  serviceTime: {type: constant, value: 1}")
        + &service("c", 1, "  serviceTime: {type: constant, value: 1}")
        + &service("d", 1, "  serviceTime: {type: constant, value: 1}")
        + &workload(
            "a",
            "    - {requests: 40000, arrivals: {type: constant, rate: 100}}",
            "  seed: 3",
        );
    let r = simulate(&yaml);
    let share = |i: usize| r.services[i].processed as f64 / 40_000.0;
    // Binomial standard errors at n = 40,000 are <= 0.0025; tolerance 0.01 absolute.
    for (i, p) in [(1, 0.3), (2, 0.5), (3, 0.25)] {
        assert!(
            (share(i) - p).abs() < 0.01,
            "service {i}: {} vs {p}",
            share(i)
        );
    }
}

#[test]
fn round_robin_and_least_outstanding_balance_pods_exactly() {
    for policy in ["round-robin", "least-outstanding"] {
        let yaml = topology(0.0)
            + &service("a", 4, "  serviceTime: {type: constant, value: 5}")
            + &workload(
                "a",
                "    - {requests: 4000, arrivals: {type: constant, rate: 400}}",
                "  seed: 1",
            );
        let yaml = yaml.replace("metadata: {name: a}\nspec:\n  selector", &format!("metadata: {{name: a, annotations: {{kubetwin.io/load-balancing: {policy}}}}}\nspec:\n  selector"));
        assert!(yaml.contains(policy));
        let r = simulate(&yaml);
        // 400/s to 4 pods with 5 ms each: spread evenly, nobody ever waits.
        assert_eq!(r.services[0].wait.max, Some(0.0), "{policy}");
    }
    // Random balancing makes some requests wait at this load.
    let yaml = topology(0.0)
        + &service("a", 4, "  serviceTime: {type: constant, value: 5}")
        + &workload(
            "a",
            "    - {requests: 4000, arrivals: {type: constant, rate: 400}}",
            "  seed: 1",
        );
    assert!(simulate(&yaml).services[0].wait.max.unwrap() > 0.0);
}

#[test]
fn latency_aware_balancing_prefers_the_nearest_location() {
    let yaml = std::fs::read_to_string("examples/edge-image-recognition/scenario.yaml").unwrap();
    let yaml = yaml.replace("  name: ms2\nspec:\n  selector", "  name: ms2\n  annotations: {kubetwin.io/load-balancing: latency-aware}\nspec:\n  selector");
    // Put half of ms2 in Paris: a second Deployment behind the same Service.
    let paris_yaml = "---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ms2-paris}
spec:
  replicas: 4
  selector: {matchLabels: {app: ms2}}
  template:
    metadata: {labels: {app: ms2}}
    spec:
      nodeSelector: {topology.kubernetes.io/region: eu-west-3}
      containers: [{name: ms2, image: x, resources: {requests: {cpu: \"1\", memory: 1Gi}}}]
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {name: ms2-paris}
spec:
  serviceTime: {type: constant, value: 9}
";
    let r = simulate(&(yaml.clone() + paris_yaml));
    let paris = r.services.iter().find(|s| s.name == "ms2-paris").unwrap();
    assert_eq!(paris.processed, 0, "latency-aware never crosses to Paris");
    assert!(
        r.clusters
            .iter()
            .any(|c| c.name == "tier1-paris" && c.pods.get("ms2-paris") == Some(&4))
    );
    // With the default (random) policy about half the calls go to Paris.
    let r = simulate(
        &(yaml.replace(
            "  annotations: {kubetwin.io/load-balancing: latency-aware}\n",
            "",
        ) + paris_yaml),
    );
    let paris = r.services.iter().find(|s| s.name == "ms2-paris").unwrap();
    assert!(paris.processed > 3000, "{}", paris.processed);
}

#[test]
fn mec_first_scheduling_fills_the_local_dc_then_spills_and_reports_pending_pods() {
    let path = std::path::Path::new("examples/edge-image-recognition/scenario.yaml");
    let run = |overrides: &[&str]| {
        let overrides: Vec<_> = overrides.iter().map(|o| o.parse().unwrap()).collect();
        let s = model::load(path, &overrides).unwrap();
        sim::run(
            &sim::build(
                &s,
                BuildOptions {
                    requests: Some(100),
                    ..Default::default()
                },
            )
            .unwrap(),
            &mut |_| {},
        )
    };
    let r = run(&[]);
    let local = r.clusters.iter().find(|c| c.name == "local-dc").unwrap();
    assert_eq!(
        local.pods.values().sum::<u32>(),
        8,
        "all 8 pods at the edge: {:?}",
        r.clusters
    );
    // 25 local nodes x 100 CPU = 2500 cores; 60 ms2 pods of 60 CPU: one per node locally
    // (60 + 60 > 100), so 25 stay local and 35 spill to tier 1.
    let r = run(&["deployment/ms2:spec.replicas=60"]);
    let pods = |name: &str| {
        r.clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .pods
            .get("ms2")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(pods("local-dc"), 25);
    assert_eq!(pods("tier1-frankfurt") + pods("tier1-paris"), 35);
    // A pod bigger than any node stays Pending, with the scheduler's reason.
    // (Its limit too: the API server refuses a request above the limit.)
    let r = run(&[
        "deployment/ms1:spec.template.spec.containers[0].resources.requests.cpu=500",
        "deployment/ms1:spec.template.spec.containers[0].resources.limits.cpu=500",
    ]);
    assert_eq!(r.pending_pods.len(), 4);
    assert!(
        r.pending_pods[0].reason.contains("Insufficient cpu"),
        "{}",
        r.pending_pods[0].reason
    );
    // No endpoints: every request is rejected, and accounted for.
    assert_eq!(r.requests.rejected, 100);
    assert_eq!(r.requests.rejected_no_endpoints, 100);
}

#[test]
fn warm_up_and_cool_down_exclude_arrivals_by_time() {
    // Constant 10/s from t = 0: arrivals at 0.0, 0.1, ..., 99.9 s. Window [10, 99.9 - 10].
    let yaml = topology(0.0)
        + &service("a", 1, "  serviceTime: {type: constant, value: 1}")
        + &workload(
            "a",
            CONSTANT_FLOW,
            "  warmupSeconds: 10\n  cooldownSeconds: 10",
        );
    let r = simulate(&yaml);
    assert_close("window end", r.window_seconds[1], 89.9, 1e-9);
    // Arrivals at 10.0 .. 89.9 s inclusive.
    assert_eq!(r.requests.measured, 800);
    assert_eq!(r.ttr.count, 800);
}

#[test]
fn sum_of_flows_and_the_time_series_follow_the_rates() {
    let flows = "    - {requests: 300, arrivals: {type: constant, rate: 10}}
    - {startSeconds: 10, requests: 200, arrivals: {type: constant, rate: 20}}";
    let yaml = topology(0.0)
        + &service("a", 1, "  serviceTime: {type: constant, value: 1}")
        + &workload("a", flows, "  statisticsIntervalSeconds: 5");
    let r = simulate(&yaml);
    assert_eq!(r.requests.arrived, 500);
    let arrivals: Vec<u64> = r.timeseries.iter().map(|row| row.arrivals).collect();
    // 0-10 s: 10/s; 10-20 s: 10/s + 20/s; 20-30 s: 10/s.
    assert_eq!(arrivals[..6], [50, 50, 150, 150, 50, 50]);
    assert_eq!(arrivals.iter().sum::<u64>(), 500);
}

#[test]
fn trace_replay_and_renewal_arrivals() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trace.csv"), "t\n0.5\n0.5\n1.25\n7\n").unwrap();
    let yaml = topology(0.0)
        + &service("a", 1, "  serviceTime: {type: constant, value: 100}")
        + &workload(
            "a",
            "    - {startSeconds: 1, arrivals: {type: trace, file: trace.csv, column: t}}",
            "  seed: 1",
        );
    let s = model::load_str(std::path::Path::new("t.yaml"), &yaml, dir.path(), &[]).unwrap();
    let r = sim::run(
        &sim::build(&s, BuildOptions::default()).unwrap(),
        &mut |_| {},
    );
    assert_eq!(r.requests.completed, 4);
    // The second arrival waits 100 ms behind the first.
    assert_close("TTR max", r.ttr.max.unwrap(), 200.0, 1e-3);
    assert_close("simulated end", r.simulated_seconds, 8.1, 1e-9);

    let yaml = topology(0.0)
        + &service("a", 8, "  serviceTime: {type: constant, value: 1}")
        + &workload(
            "a",
            "    - {requests: 100000, arrivals: {type: renewal, interArrival: {type: uniform, min: 1, max: 3}}}",
            "  seed: 1",
        );
    let r = simulate(&yaml);
    // Mean gap 2 ms: the last arrival is near 200 s (sd of the sum ~ 0.18 s).
    assert_close("renewal span", r.simulated_seconds, 200.0, 0.005);
}

#[test]
fn every_request_is_accounted_for_under_each_stop_condition() {
    let yaml = topology(0.5)
        + &service(
            "a",
            2,
            "  queueCapacity: 3\n  serviceTime: {type: exponential, mean: 20}\n  calls: [{service: b}]",
        )
        + &service(
            "b",
            1,
            "  queueCapacity: 2\n  serviceTime: {type: exponential, mean: 15}",
        )
        + &workload(
            "a",
            "    - {arrivals: {type: poisson, rate: 80}}",
            "  seed: 9\n  stop: {timeSeconds: 60}",
        );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let q = r.requests;
    assert!(
        q.rejected > 0 && q.in_flight > 0 && q.completed > 0,
        "{q:?}"
    );
    assert_close("stopped at the horizon", r.simulated_seconds, 60.0, 1e-9);
    // Without the horizon, the request cap governs and every admitted request drains.
    let r = simulate_with(
        &yaml,
        &["simulation:spec.stop.timeSeconds=null"],
        BuildOptions {
            requests: Some(5000),
            ..Default::default()
        },
    );
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!((q.arrived, q.in_flight), (5000, 0), "{q:?}");
    assert!(q.rejected > 0, "{q:?}");
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let path = std::path::Path::new("examples/edge-image-recognition/scenario.yaml");
    let json = |seed| {
        let s = model::load(path, &[]).unwrap();
        let r = sim::run(
            &sim::build(
                &s,
                BuildOptions {
                    seed: Some(seed),
                    requests: Some(5000),
                },
            )
            .unwrap(),
            &mut |_| {},
        );
        (
            serde_json::to_string(&r).unwrap(),
            serde_json::to_string(&r.timeseries).unwrap(),
        )
    };
    assert_eq!(json(7), json(7));
    assert_ne!(json(7).0, json(8).0);
}

#[test]
fn bundled_scenarios_run_and_meet_expectations() {
    let s = model::load(
        std::path::Path::new("examples/edge-image-recognition/scenario.yaml"),
        &[],
    )
    .unwrap();
    let r = sim::run(
        &sim::build(&s, BuildOptions::default()).unwrap(),
        &mut |_| {},
    );
    assert_accounted(&r);
    assert_eq!(r.requests.arrived, 10_000);
    assert_eq!(r.requests.in_flight, 0);
    // About 80 s of arrivals after removing 10 s at each end, at 100/s.
    assert!(
        (7_500..8_500).contains(&r.requests.measured),
        "{}",
        r.requests.measured
    );
    // TTR is at least the access round trip (2 x 2 ms) plus both services' means (4.8 + 9.2 ms).
    // The README's 10-replication sweep gives this configuration (4 replicas each) mean
    // 24.04 ± 0.18 ms and p99 60.22 ± 1.41 ms (95% CIs), i.e. one run's standard deviation
    // is about 0.25 ms for the mean and 2.0 ms for p99 (half-width x sqrt(10) / 2.26).
    // Tolerance: 3 of those (this seed gives 24.03 and 60.29).
    let (mean, p99) = (r.ttr.mean.unwrap(), r.ttr.p99.unwrap());
    assert!(mean > 18.0 && (mean - 24.04).abs() <= 0.75, "{:?}", r.ttr);
    assert!((p99 - 60.22).abs() <= 6.0, "{:?}", r.ttr);
}

#[test]
fn node_objects_taints_and_tolerations_steer_placement() {
    // Two v1 Node objects besides the pool; the pool is tainted, so only pods that
    // tolerate the taint may land there.
    let nodes = "---
apiVersion: v1
kind: Node
metadata:
  name: gpu-1
  labels: {topology.kubernetes.io/region: lab, kubetwin.io/cluster: gpu, accelerator: gpu}
  annotations: {kubetwin.io/price-per-hour: \"2.5\"}
status:
  allocatable: {cpu: \"4\", memory: 16Gi}
---
apiVersion: v1
kind: Node
metadata:
  name: gpu-2
  labels: {topology.kubernetes.io/region: lab, kubetwin.io/cluster: gpu, accelerator: gpu}
spec:
  unschedulable: true
status:
  allocatable: {cpu: \"4\", memory: 16Gi}
";
    let tainted = topology(0.0).replace(
        "count: 1, capacity",
        "count: 1, taints: [{key: dedicated, value: batch, effect: NoSchedule}], capacity",
    );
    assert!(tainted.contains("dedicated"));
    let selector = "      nodeSelector: {accelerator: gpu}\n      containers";
    let tolerate = "      tolerations: [{key: dedicated, operator: Equal, value: batch, effect: NoSchedule}]\n      containers";
    let yaml = tainted
        + nodes
        + &service("on-gpu", 3, "  serviceTime: {type: constant, value: 1}").replacen(
            "      containers",
            selector,
            1,
        )
        + &service("tolerant", 2, "  serviceTime: {type: constant, value: 1}").replacen(
            "      containers",
            tolerate,
            1,
        )
        + &service("plain", 1, "  serviceTime: {type: constant, value: 1}")
        + &workload("on-gpu", CONSTANT_FLOW, "  seed: 1");
    let r = simulate(&yaml);
    let cluster = |name: &str| r.clusters.iter().find(|c| c.name == name).unwrap();
    // gpu-2 is cordoned: all 3 on-gpu pods on gpu-1 (4 CPU, 100m each).
    assert_eq!(cluster("gpu").nodes, 2);
    assert_eq!(cluster("gpu").pods.get("on-gpu"), Some(&3));
    // Nothing that does not tolerate the taint is on the tainted pool.
    let on_pool = &cluster("lab").pods;
    assert!(on_pool.keys().all(|d| d == "tolerant"), "{on_pool:?}");
    // The pool is tainted: `plain` cannot go there, so it lands on gpu-1 (no taint);
    // `tolerant` may go anywhere schedulable.
    assert_eq!(cluster("gpu").pods.get("plain"), Some(&1));
    let tolerant: u32 = ["lab", "gpu"]
        .iter()
        .map(|c| cluster(c).pods.get("tolerant").copied().unwrap_or(0))
        .sum();
    assert_eq!(tolerant, 2);
    assert!(r.pending_pods.is_empty(), "{:?}", r.pending_pods);
}

#[test]
fn request_types_are_mixed_by_weight_and_reported_apart() {
    let yaml = topology(0.0)
        + &service("a", 1, "  serviceTime: {type: constant, value: 1}")
        + &service("b", 1, "  serviceTime: {type: constant, value: 3}")
        + &workload(
            "a",
            "    - {requests: 40000, arrivals: {type: constant, rate: 100}}",
            "  seed: 2",
        );
    let yaml = yaml.replace(
        "requestTypes: [{name: req, entry: a}]",
        "requestTypes: [{name: light, entry: a, weight: 3}, {name: heavy, entry: b.default.svc.cluster.local}]",
    );
    assert!(yaml.contains("heavy"));
    let r = simulate(&yaml);
    // Weights 3:1; binomial sd at n = 40,000 is 0.0022, tolerance 0.01.
    let light = r.services[0].processed as f64 / 40_000.0;
    assert!((light - 0.75).abs() < 0.01, "{light}");
    assert_eq!(r.services[0].processed + r.services[1].processed, 40_000);
    let ttr = |name: &str| r.request_types.iter().find(|t| t.name == name).unwrap().ttr;
    assert_close("light TTR", ttr("light").mean.unwrap(), 1.0, 1e-9);
    assert_close("heavy TTR", ttr("heavy").mean.unwrap(), 3.0, 1e-9);
    assert_eq!(ttr("light").count + ttr("heavy").count, r.ttr.count);
}
