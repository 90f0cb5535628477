//! Control loops in the engine: autoscalers reacting to step loads (both rules), pod
//! start-up delays in the time series, and the Kubernetes rule's scale-down
//! stabilization. Loads are deterministic (constant arrivals, constant service times,
//! round-robin balancing), so utilizations and decisions are exact.

use crate::common::{assert_accounted, assert_close, hpa, service, simulate, topology, workload};
use kubetwin::sim::RunReport;

/// The Deployment `app` with `replicas` pods of one worker and a constant 10 ms service
/// time, behind a round-robin Service; `startup` is extra ServiceModel YAML.
fn app(replicas: u32, startup: &str) -> String {
    service(
        "app",
        replicas,
        &format!("  serviceTime: {{type: constant, value: 10}}\n{startup}"),
    )
    .replace(
        "metadata: {name: app}\nspec:\n  selector",
        "metadata: {name: app, annotations: {kubetwin.io/load-balancing: round-robin}}\nspec:\n  selector",
    )
}

const TWIN: &str = "    kubetwin.io/autoscaler-rule: twin
    kubetwin.io/desired-processing-time-ms: \"12\"
    kubetwin.io/sync-period-seconds: \"15\"";

/// (time, from, to) of every scaling event.
fn scalings(r: &RunReport) -> Vec<(f64, u32, u32)> {
    r.scaling.iter().map(|s| (s.at, s.from, s.to)).collect()
}

/// 100/s throughout, plus 300/s during [60 s, 150 s); simulation settings `sim`.
fn step_load(sim: &str) -> String {
    workload(
        "app",
        "    - {name: base, endSeconds: 400, arrivals: {type: constant, rate: 100}}
    - {name: step, startSeconds: 60, endSeconds: 150, arrivals: {type: constant, rate: 300}}",
        sim,
    )
}

#[test]
fn twin_rule_scales_up_within_two_periods_of_a_step_and_back_down_after_it() {
    let yaml = format!(
        "{}{}{}{}",
        topology(0.0),
        app(2, ""),
        hpa("app", TWIN, "  minReplicas: 2\n  maxReplicas: 20"),
        step_load("  statisticsIntervalSeconds: 5")
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let events = scalings(&r);
    // Before the step each pod is a D/D/1 queue at 50%: TTP is exactly 10 ms, below the
    // band around 12 ms, but the count is already at minReplicas.
    let first = events[0];
    assert!(
        first.0 > 60.0 && first.0 <= 90.0 && first.2 > first.1,
        "the first decision after the step at 60 s must be a scale-up within two 15 s periods: {events:?}"
    );
    // 400/s of 10 ms work needs 4 busy pods (so at least 5 to bring TTP back into the
    // band). Measured exactly: by the first sync after the step, 15 s of a 2-pod backlog
    // have pushed TTP so far above the band that the rule asks for more than maxReplicas,
    // and the one decision is 2 -> 20, the cap. Exact, not `>= 5`: deterministic seed.
    let peak = events.iter().map(|e| e.2).max().unwrap();
    assert_eq!((first.1, peak), (2, 20), "{events:?}");
    // After the step ends (150 s) TTP drops to the bare 10 ms (ratio 0.83 < 0.9): every
    // sync scales down to ceil(N x 10/12), which stops at 5 = ceil(5 x 10/12): the rule's
    // ceiling cannot take the last step down to the 2 replicas the load needs.
    let downs: Vec<_> = events.iter().filter(|e| e.0 > 150.0).collect();
    assert!(!downs.is_empty(), "{events:?}");
    assert!(
        downs
            .iter()
            .all(|e| e.0 <= 150.0 + 15.0 * 10.0 && e.2 < e.1)
    );
    assert!(downs[0].0 <= 180.0, "{events:?}");
    for e in &downs {
        assert_eq!(
            e.2,
            ((e.1 as f64 * 10.0 / 12.0).ceil() as u32).max(2),
            "{e:?}"
        );
    }
    assert_eq!(r.services[0].replicas, 5);
    assert_eq!(r.autoscalers[0].replicas, 5);
    assert_eq!(
        r.autoscalers[0].syncs,
        400 / 15,
        "one sync per period until the end"
    );
}

#[test]
fn new_pods_become_endpoints_only_after_their_start_up_delay() {
    let startup = "  startup:
    pending: {type: constant, value: 5000}
    readiness: {type: constant, value: 1000}";
    let yaml = format!(
        "{}{}{}{}",
        topology(0.0),
        app(2, startup),
        hpa("app", TWIN, "  minReplicas: 2\n  maxReplicas: 20"),
        step_load("  statisticsIntervalSeconds: 1")
    );
    let r = simulate(&yaml);
    let (at, from, to) = scalings(&r)[0];
    assert!(to > from);
    let row = |t: f64| {
        let i = r.timeseries.iter().position(|row| row.start == t).unwrap();
        &r.timeseries[i].services[0]
    };
    // Created at the sync: desired and pods rise at once, ready 6 s later (5 s pending,
    // 1 s readiness); the interval [t, t+1) shows the state at its end.
    assert_eq!((row(at - 1.0).desired, row(at - 1.0).ready), (from, from));
    assert_eq!(
        (row(at).desired, row(at).pods, row(at).ready),
        (to, to, from)
    );
    assert_eq!(
        row(at + 5.0).ready,
        from,
        "ready only after pending + readiness"
    );
    assert_eq!(row(at + 6.0).ready, to);
    assert_eq!(
        r.services[0].pods_created,
        r.services[0].pods_deleted + r.services[0].replicas - 2
    );
}

/// The autoscaling/v2 rule on CPU: a busy worker uses `cpuMillicores` (here 100m, the
/// pod's request), so utilization is the pod's server utilization, as metrics-server serves
/// it: the mean between its last two scrapes (every 15 s, at 7.5 s past each multiple).
#[test]
fn kubernetes_cpu_rule_matches_the_utilization_formula_and_waits_out_the_stabilization_window() {
    let spec = "  minReplicas: 1
  maxReplicas: 20
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}";
    let yaml = format!(
        "{}{}{}{}",
        topology(0.0),
        app(4, "  cpuMillicores: 100"),
        hpa("app", "    kubetwin.io/autoscaler-rule: kubernetes", spec),
        workload(
            "app",
            "    - {name: high, endSeconds: 120, arrivals: {type: constant, rate: 256}}
    - {name: base, endSeconds: 600, arrivals: {type: constant, rate: 64}}",
            "  statisticsIntervalSeconds: 15",
        )
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let events = scalings(&r);
    // The sync at 15 s finds no rate yet (the first scrape, at 7.5 s, came too early in
    // the containers' life), so it reports FailedGetResourceMetric and waits. The one at
    // 30 s reads [7.5, 22.5] s: 320/s x 10 ms on 4 pods, 80% each against a 50% target,
    // so ceil(4 x 80/50) = 7.
    assert_eq!(events[0], (30.0, 4, 7), "{events:?}");
    // 7 pods at 320/s: 45.7% each, within the 10% tolerance: no change until the load
    // drops at 120 s. The sync at 135 s reads [112.5, 127.5] s, half of it before the drop:
    // 27.4% (28 once each pod's 27.43m is rounded up to whole millicores), so
    // ceil(7 x 28/50) = 4; later syncs read 9.14% (10): ceil(7 x 10/50) = 2. The default
    // 300 s scale-down stabilization keeps the highest recommendation of the window: the
    // 7 of the sync at 120 s rules until it is older than 300 s, then the 4 of 135 s for
    // one more sync.
    assert_eq!(events[1..], [(435.0, 7, 4), (450.0, 4, 2)], "{events:?}");
    let a = &r.autoscalers[0];
    assert_eq!(a.rule, "kubernetes");
    // 64/s x 10 ms on 2 pods: 32%.
    assert_eq!(a.metrics[0].current, Some(32.0));
    let active = &a.conditions[1];
    assert_eq!(
        (active.kind, active.reason, active.last_transition_seconds),
        ("ScalingActive", "ValidMetricFound", 30.0),
        "valid since the second sync"
    );
}

#[test]
fn two_autoscalers_on_one_deployment_are_rejected() {
    let yaml = format!(
        "{}{}{}{}{}",
        topology(0.0),
        app(2, ""),
        hpa("app", TWIN, "  minReplicas: 2\n  maxReplicas: 20"),
        hpa("app", TWIN, "  minReplicas: 2\n  maxReplicas: 20")
            .replace("name: app\n  annotations", "name: other\n  annotations"),
        step_load("  statisticsIntervalSeconds: 5")
    );
    let e = crate::common::error_of(&yaml);
    assert!(
        e.contains("HorizontalPodAutoscaler/other spec.scaleTargetRef.name")
            && e.contains("already scaled by HorizontalPodAutoscaler/app"),
        "{e}"
    );
}

/// Cost: each pod's requests times its bound time, priced at its dominant share of the
/// node's price. Here 0.1 of 64 cores (the larger share, vs 64 MiB of 256 GiB) of a node
/// at 6.4/hour: 0.01 per pod-hour.
#[test]
fn cost_counts_requests_and_price_share_over_bound_time() {
    let yaml = format!(
        "{}{}{}",
        topology(0.0).replace("memory: 256Gi}", "memory: 256Gi}, pricePerHour: 6.4"),
        app(3, ""),
        workload(
            "app",
            "    - {endSeconds: 7200, arrivals: {type: constant, rate: 1}}",
            "  seed: 1"
        )
    );
    let r = simulate(&yaml);
    let hours = r.simulated_seconds / 3600.0;
    assert_close("core-hours", r.cost.cpu_core_hours, 3.0 * 0.1 * hours, 1e-9);
    assert_close(
        "GiB-hours",
        r.cost.memory_gib_hours,
        3.0 / 16.0 * hours,
        1e-9,
    );
    assert_close("price", r.cost.price, 3.0 * 0.01 * hours, 1e-9);
    assert_eq!(r.services[0].cost, r.cost);
}

/// An Object metric on another Deployment reads only what happened since the last sync:
/// `back` targets 5 requests/s per replica of `front`'s 10/s, so 2 replicas, and stays.
#[test]
fn object_metrics_on_another_deployment_read_one_period_at_a_time() {
    let spec = "  minReplicas: 1
  maxReplicas: 30
  metrics:
    - type: Object
      object:
        describedObject: {apiVersion: apps/v1, kind: Deployment, name: front}
        metric: {name: requests_per_second}
        target: {type: AverageValue, averageValue: \"5\"}";
    let front = service(
        "front",
        1,
        "  workers: 100\n  serviceTime: {type: constant, value: 1}\n  calls: [{service: back}]",
    );
    let yaml = format!(
        "{}{front}{}{}{}",
        topology(0.0),
        service(
            "back",
            1,
            "  workers: 100\n  serviceTime: {type: constant, value: 1}"
        ),
        hpa("back", "    kubetwin.io/autoscaler-rule: kubernetes", spec),
        workload(
            "front",
            "    - {endSeconds: 300, arrivals: {type: constant, rate: 10}}",
            "  seed: 1"
        )
    );
    let r = simulate(&yaml);
    assert_eq!(scalings(&r), [(15.0, 1, 2)]);
    let e = crate::common::error_of(&yaml.replace(
        "kind: Deployment, name: front}",
        "kind: Deployment, name: nope}",
    ));
    assert!(
        e.contains("HorizontalPodAutoscaler/back spec.metrics[0].object.describedObject.name: no Deployment named \"nope\""),
        "{e}"
    );
}
