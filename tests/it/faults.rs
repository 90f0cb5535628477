//! Chaos on the twin: killed pods replaced by their ReplicaSet, node failures and outages on
//! Kubernetes' timeline (unanswered calls until the node lifecycle controller's pass marks
//! the node `NotReady` after the node monitor grace period, eviction after the toleration
//! of the `unreachable:NoExecute` taint the next pass adds, replacements placed
//! elsewhere), container crashes restarted in place with CrashLoopBackOff, degraded links,
//! the users' retries and timeouts, and the accounting identity and determinism under all
//! of them.

use crate::common::{
    assert_accounted, assert_close, error_of, service, simulate, topology, workload,
};

/// `app`: `replicas` pods of one worker with a constant `ms` service time.
fn app(replicas: u32, ms: f64) -> String {
    service(
        "app",
        replicas,
        &format!("  serviceTime: {{type: constant, value: {ms}}}"),
    )
}

fn sim(faults: &str) -> String {
    format!("  statisticsIntervalSeconds: 1\n  faults:\n{faults}")
}

#[test]
fn a_killed_pod_fails_its_requests_and_is_replaced() {
    let flows = "    - {requests: 2000, arrivals: {type: poisson, rate: 25}}";
    let faults = "    - {type: podKill, deployment: app, atSeconds: 20, count: 2}";
    let yaml = format!(
        "{}{}{}",
        topology(1.0),
        app(3, 100.0),
        workload("app", flows, &sim(faults))
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let s = &r.services[0];
    assert_eq!(
        (s.pods_killed, s.pods_created, s.replicas, s.running_pods),
        (2, 2, 3, 3)
    );
    assert_eq!(r.faults.len(), 2);
    assert!(
        r.faults
            .iter()
            .all(|f| f.at == 20.0 && f.what.contains("killed")),
        "{:?}",
        r.faults
    );
    // Without retries every lost call is a failed user request (a one-service chain).
    let q = r.requests;
    assert!(
        q.failed > 0,
        "at 83% utilization the killed pods held work: {q:?}"
    );
    assert_eq!(q.failed, q.failed_pod_lost, "{q:?}");
    assert_eq!(q.in_flight, 0);
}

#[test]
fn retries_recover_requests_lost_to_a_killed_pod() {
    let flows = "    - {requests: 2000, arrivals: {type: poisson, rate: 25}}";
    let faults = "    - {type: podKill, deployment: app, atSeconds: 20, count: 2}";
    let retrying = workload("app", flows, &sim(faults)).replace(
        "  flows:",
        "  retries: {attempts: 2, backoffMs: 10}\n  flows:",
    );
    let yaml = format!("{}{}{}", topology(1.0), app(3, 100.0), retrying);
    let r = simulate(&yaml);
    assert_accounted(&r);
    let q = r.requests;
    assert!(q.failed_pod_lost > 0, "{q:?}");
    assert_eq!(
        q.retries, q.failed_pod_lost,
        "each lost attempt retried once: {q:?}"
    );
    assert_eq!((q.failed, q.completed), (0, q.arrived), "{q:?}");
}

/// With exponential service times and no queueing (a worker per request), an attempt
/// times out with probability p = P(S > timeout) = e^-3; with one retry a request is
/// retried with probability p and fails with probability p^2.
#[test]
fn per_try_timeouts_follow_the_service_time_tail() {
    let model = "  workers: 1000\n  serviceTime: {type: exponential, mean: 10}";
    let flows = "    - {requests: 40000, arrivals: {type: poisson, rate: 200}}";
    let w = workload("app", flows, "  seed: 7").replace(
        "  flows:",
        "  retries: {attempts: 1, perTryTimeoutMs: 30}\n  flows:",
    );
    let r = simulate(&format!(
        "{}{}{}",
        topology(0.0),
        service("app", 1, model),
        w
    ));
    assert_accounted(&r);
    let q = r.requests;
    let (n, p) = (q.arrived as f64, (-3.0f64).exp());
    // Binomial standard deviations: sqrt(n p (1-p)) ~ 43 for retries, ~ 10 for failures;
    // the tolerances are about 4 of them.
    assert_close("retries", q.retries as f64, n * p, 0.09);
    assert_close("failed", q.failed as f64, n * p * p, 0.4);
    assert_eq!(q.timed_out, q.retries + q.failed, "{q:?}");
    assert_eq!(q.completed + q.failed, q.arrived);
    // Completed requests answered within the timeout of their last attempt.
    assert!(r.ttr.max.unwrap() < 30.0 + 30.0 + 1e-6, "{:?}", r.ttr);
}

/// Two locations: `near` (tier 0, 1 ms from the users) and `far` (tier 1, 20 ms), one node
/// each; MEC-first scheduling puts every pod near.
fn two_sites() -> String {
    "apiVersion: kubetwin.io/v1alpha1
kind: Topology
metadata: {name: sites}
spec:
  locations: [{name: near, tier: 0}, {name: far, tier: 1}]
  clusters:
    - {name: near, location: near, nodePools: [{name: pool, count: 1, capacity: {cpu: \"4\", memory: 8Gi}}]}
    - {name: far, location: far, nodePools: [{name: pool, count: 1, capacity: {cpu: \"4\", memory: 8Gi}}]}
  latency:
    intraCluster: {type: constant, value: 0}
    links:
      - {from: near, to: near, distribution: {type: constant, value: 1}}
      - {from: near, to: far, distribution: {type: constant, value: 20}}
      - {from: far, to: far, distribution: {type: constant, value: 1}}
"
    .into()
}

/// The outage on Kubernetes' timeline: the node fails at 20 s, on a pass of the node
/// lifecycle controller (every 5 s), which hears from it last; it is `NotReady` 40 s later
/// (the grace period given), tainted `NoExecute` at the next pass (its zone, one node
/// fully down, keeps the default rate because the other zone is healthy), the pods are
/// evicted 300 s after that (the default toleration) and their replacements go far; they
/// stay there after the recovery (the scheduler does not move running pods).
#[test]
fn a_location_outage_moves_the_pods_and_the_latency_follows() {
    let flows = "    - {endSeconds: 500, arrivals: {type: constant, rate: 20}}";
    let faults = "    - {type: outage, location: near, atSeconds: 20, durationSeconds: 400, nodeMonitorGracePeriodSeconds: 40}";
    let simulation = format!(
        "{}\n  scheduler: {{score: [{{name: TierPriority, weight: 100}}]}}",
        sim(faults)
    );
    let yaml = format!(
        "{}{}{}",
        two_sites(),
        app(2, 10.0),
        workload("app", flows, &simulation).replace("userLocation: lab", "userLocation: near")
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let what: Vec<_> = r
        .faults
        .iter()
        .map(|f| (f.at, f.what.as_str(), f.pods_lost))
        .collect();
    assert_eq!(
        what,
        [
            (20.0, "location near failed", 2),
            (60.0, "node near-pool-0 NotReady (2 pods not ready)", 0),
            (
                60.0,
                "zone near FullDisruption (1 of 1 nodes NotReady): NoExecute taints at 0.1 nodes/s",
                0
            ),
            (
                65.0,
                "node near-pool-0 tainted node.kubernetes.io/unreachable:NoExecute",
                0
            ),
            (365.0, "pod app-0 evicted from node near-pool-0", 1),
            (365.0, "pod app-1 evicted from node near-pool-0", 1),
            (420.0, "location near recovered", 0),
            (
                420.0,
                "zone near Normal (0 of 1 nodes NotReady): NoExecute taints at 0.1 nodes/s",
                0
            )
        ]
    );
    let row = |t: usize| &r.timeseries[t];
    assert_eq!(row(10).services[0].pods_by_tier, [2, 0]);
    assert_eq!(row(400).services[0].pods_by_tier, [0, 2]);
    assert_eq!(row(450).services[0].pods_by_tier, [0, 2]);
    // TTR = 2 x one-way latency + 10 ms of service: 12 ms near, 50 ms far.
    assert_close("TTR near", row(10).ttr_mean.unwrap(), 12.0, 1e-9);
    assert_close("TTR far", row(400).ttr_mean.unwrap(), 50.0, 1e-9);
    assert_eq!(r.clusters[1].pods["app"], 2);
    assert!(!r.clusters[0].pods.contains_key("app"), "{:?}", r.clusters);
    let s = &r.services[0];
    assert_eq!((s.pods_evicted, s.pods_created, s.pods_killed), (2, 2, 0));
}

#[test]
fn a_degraded_link_adds_its_delay_for_the_interval_only() {
    let flows = "    - {endSeconds: 30, arrivals: {type: constant, rate: 10}}";
    let faults = "    - {type: linkDegradation, from: lab, to: lab, atSeconds: 10, durationSeconds: 10, multiplier: 2, addedMs: 5}";
    let yaml = format!(
        "{}{}{}",
        topology(1.0),
        app(1, 10.0),
        workload("app", flows, &sim(faults))
    );
    let r = simulate(&yaml);
    // Users to pod and back: 2 x 1 ms, then 2 x (2 x 1 + 5) ms while degraded.
    assert_close("before", r.timeseries[5].ttr_mean.unwrap(), 12.0, 1e-9);
    assert_close("during", r.timeseries[15].ttr_mean.unwrap(), 24.0, 1e-9);
    assert_close("after", r.timeseries[25].ttr_mean.unwrap(), 12.0, 1e-9);
    assert_eq!(r.faults.len(), 2);
}

/// Crashes at a rate, a node failure, retries and a stop time together: every request is
/// accounted for, and the same seed gives the same bytes.
#[test]
fn faults_keep_the_accounting_and_the_determinism() {
    let flows = "    - {arrivals: {type: poisson, rate: 200}}";
    let faults = "    - {type: podKill, deployment: app, ratePerPodPerHour: 360}
    - {type: nodeFailure, node: lab-pool-0, atSeconds: 30, durationSeconds: 5}";
    let simulation = format!("{}\n  stop: {{timeSeconds: 60}}", sim(faults));
    let w = workload("app", flows, &simulation).replace(
        "  flows:",
        "  retries: {attempts: 1, perTryTimeoutMs: 200, backoffMs: 5}\n  flows:",
    );
    let yaml = format!("{}{}{}", topology(0.5), app(4, 15.0), w);
    let a = simulate(&yaml);
    assert_accounted(&a);
    let s = &a.services[0];
    // 360 kills per pod-hour over 4 pods for 55 s of running: ~22 (Poisson sd 4.7).
    assert!(s.pods_killed >= 10, "{s:?}");
    // The node is back before it is `NotReady`: its 4 containers restart in place.
    assert_eq!((s.restarts, s.pods_evicted), (4, 0), "{s:?}");
    // While the node is down its pods stay endpoints and calls to them go unanswered:
    // the users time out and retry.
    let q = a.requests;
    assert!(
        q.unanswered > 0 && q.failed_pod_lost > 0 && q.retries > 0 && q.timed_out > 0,
        "{q:?}"
    );
    assert_eq!(q.rejected_no_endpoints, 0, "{q:?}");
    // The kills at a rate make one counted line.
    let kills: Vec<_> = a
        .faults
        .iter()
        .filter(|f| f.what.contains("killed"))
        .collect();
    assert_eq!(kills.len(), 1, "{:?}", a.faults);
    assert_eq!(kills[0].count, u64::from(s.pods_killed));
    let json = |r: &kubetwin::sim::RunReport| serde_json::to_string(r).unwrap();
    assert_eq!(json(&a), json(&simulate(&yaml)));
    let other = simulate(&yaml.replace(
        "statisticsIntervalSeconds: 1",
        "statisticsIntervalSeconds: 1\n  seed: 2",
    ));
    assert_ne!(json(&a), json(&other));
}

#[test]
fn bad_faults_name_the_field() {
    let flows = "    - {requests: 10, arrivals: {type: poisson, rate: 1}}";
    let cases = [
        (
            "    - {type: nodeFailure, node: nope, atSeconds: 1}",
            "spec.faults[0].node: no node named \"nope\"",
        ),
        (
            "    - {type: podKill, deployment: app, atSeconds: 1, ratePerPodPerHour: 2}",
            "spec.faults[0]: needs exactly one of `atSeconds`",
        ),
        (
            "    - {type: outage, location: mars, atSeconds: 1}",
            "spec.faults[0].location: unknown location \"mars\" (known: lab)",
        ),
        (
            "    - {type: linkDegradation, from: lab, to: lab, atSeconds: 1, multiplier: -1}",
            "spec.faults[0].multiplier: must be >= 0",
        ),
    ];
    for (fault, expected) in cases {
        let yaml = format!(
            "{}{}{}",
            topology(0.0),
            app(1, 1.0),
            workload("app", flows, &sim(fault))
        );
        let e = error_of(&yaml);
        assert!(e.contains("Simulation/run") && e.contains(expected), "{e}");
    }
}

/// The per-try timeout covers the answer's trip back: 50 ms each way and 60 ms of work
/// take 160 ms, past a 150 ms timeout, so every attempt times out even though the pod
/// finished at 110 ms.
#[test]
fn a_timeout_counts_the_network_time_of_the_answer() {
    let flows = "    - {requests: 100, arrivals: {type: constant, rate: 1}}";
    let w = workload("app", flows, "  seed: 1")
        .replace("  flows:", "  retries: {perTryTimeoutMs: 150}\n  flows:");
    let r = simulate(&format!("{}{}{}", topology(50.0), app(1, 60.0), w));
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!((q.timed_out, q.failed, q.completed), (100, 100, 0), "{q:?}");
}

/// Crashes come at the rate per running pod even when capacity is tight: with room for
/// one pod of two, the running one crashes at 0.1/s and its replacement starts at once.
#[test]
fn crash_rates_apply_to_pods_that_waited_for_a_node() {
    let flows = "    - {endSeconds: 600, arrivals: {type: constant, rate: 1}}";
    let faults = "    - {type: podKill, deployment: app, ratePerPodPerHour: 360}";
    let yaml = format!(
        "{}{}{}",
        topology(0.0).replace("cpu: \"64\"", "cpu: 150m"),
        app(2, 1.0),
        workload("app", flows, &sim(faults))
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    // 600 s x 0.1/s = 60 expected, Poisson sd 7.7: about 2.6 sd either way.
    let killed = r.services[0].pods_killed;
    assert!((40..=80).contains(&killed), "{killed}");
    assert_eq!(r.pending_pods.len(), 1, "the second replica never fits");
}

/// Two replicas near (MEC-first) with constant arrivals once a second from t = 0 to
/// `end` and `faults`; `extra` goes at the end of the Simulation spec.
fn near_pair(end: u32, faults: &str, extra: &str) -> String {
    let flows = format!("    - {{endSeconds: {end}, arrivals: {{type: constant, rate: 1}}}}");
    let simulation = format!(
        "{}\n  scheduler: {{score: [{{name: TierPriority, weight: 100}}]}}{extra}",
        sim(faults)
    );
    format!(
        "{}{}{}",
        two_sites(),
        app(2, 10.0),
        workload("app", &flows, &simulation).replace("userLocation: lab", "userLocation: near")
    )
}

/// Kubernetes' node failure timeline, exact with constant arrivals (one a second, at
/// whole seconds) and the node lifecycle controller's passes every 5 s: failed at 10.5 s,
/// last heard at the pass at 15 s, `NotReady` at the pass 40 s after that (the grace
/// period given), tainted `NoExecute` at the next pass (60 s) and evicted 300 s later
/// (DefaultTolerationSeconds). Until `NotReady` the dead pods are endpoints and the 44
/// requests of 11..=54 s go unanswered (no timeout: failed, not refused); then no endpoint
/// is left until the replacements are ready far away, and the 305 requests of 55..=359 s
/// are rejected (a pass comes before the request of its second).
#[test]
fn a_failed_node_is_not_ready_after_the_grace_period_and_evicted_after_the_toleration() {
    let faults = "    - {type: nodeFailure, node: near-pool-0, atSeconds: 10.5, nodeMonitorGracePeriodSeconds: 40}";
    let r = simulate(&near_pair(400, faults, ""));
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!(
        (
            q.arrived,
            q.unanswered,
            q.failed,
            q.failed_pod_lost,
            q.timed_out
        ),
        (400, 44, 44, 0, 0),
        "{q:?}"
    );
    assert_eq!((q.rejected, q.rejected_no_endpoints), (305, 305), "{q:?}");
    assert_eq!(q.completed, 51, "{q:?}");
    let what: Vec<_> = r.faults.iter().map(|f| (f.at, f.what.as_str())).collect();
    assert_eq!(
        what,
        [
            (10.5, "node near-pool-0 failed"),
            (55.0, "node near-pool-0 NotReady (2 pods not ready)"),
            (
                55.0,
                "zone near FullDisruption (1 of 1 nodes NotReady): NoExecute taints at 0.1 nodes/s"
            ),
            (
                60.0,
                "node near-pool-0 tainted node.kubernetes.io/unreachable:NoExecute"
            ),
            (360.0, "pod app-0 evicted from node near-pool-0"),
            (360.0, "pod app-1 evicted from node near-pool-0"),
        ]
    );
    // Row `t` shows the end of second `t`: the API still calls the dead pods ready until
    // `NotReady`; they are not replaced before the eviction.
    let svc = |t: usize| {
        let s = &r.timeseries[t].services[0];
        (s.pods, s.ready, s.pods_by_tier.clone())
    };
    assert_eq!(svc(30), (2, 2, vec![2, 0]));
    assert_eq!(svc(100), (2, 0, vec![2, 0]));
    assert_eq!(svc(360), (2, 2, vec![0, 2]));
    let s = &r.services[0];
    assert_eq!(
        (s.pods_evicted, s.pods_created, s.pods_killed, s.restarts),
        (2, 2, 0, 0)
    );
    // The evicted pods stay `Terminating` on the dead node: no kubelet confirms.
    assert!(!r.clusters[0].pods.contains_key("app"), "{:?}", r.clusters);
}

/// With a per-try timeout the unanswered calls time out instead: the same 44 requests,
/// now counted as timed out; with a retry the second attempt (after 400 ms, still before
/// `NotReady` for the request of 54 s) meets the same dead endpoints.
#[test]
fn unanswered_calls_time_out() {
    let faults = "    - {type: nodeFailure, node: near-pool-0, atSeconds: 10.5, nodeMonitorGracePeriodSeconds: 40}";
    let yaml = near_pair(400, faults, "").replace(
        "  flows:",
        "  retries: {attempts: 1, perTryTimeoutMs: 400}\n  flows:",
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!((q.unanswered, q.timed_out, q.failed), (88, 88, 44), "{q:?}");
    // Rejections are retried too, and rejected again: 305 requests, 610 attempts.
    assert_eq!(
        (q.rejected, q.rejected_no_endpoints, q.retries),
        (305, 610, 44 + 305),
        "{q:?}"
    );
}

/// The default grace period (50 s, Kubernetes >= 1.32) and the pods' own toleration of
/// the `unreachable` taint (60 s instead of the default 300 s); an outage takes the same
/// path as a node failure: last heard at the pass at 15 s, `NotReady` at 65 s, tainted at
/// 70 s, evicted at 130 s.
#[test]
fn the_pods_toleration_sets_the_eviction_time() {
    let faults = "    - {type: outage, location: near, atSeconds: 10.5}";
    let toleration = "tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 60}]\n      containers:";
    let yaml = near_pair(200, faults, "").replacen("containers:", toleration, 1);
    let r = simulate(&yaml);
    assert_accounted(&r);
    let what: Vec<_> = r.faults.iter().map(|f| (f.at, f.what.as_str())).collect();
    assert_eq!(
        what,
        [
            (10.5, "location near failed"),
            (65.0, "node near-pool-0 NotReady (2 pods not ready)"),
            (
                65.0,
                "zone near FullDisruption (1 of 1 nodes NotReady): NoExecute taints at 0.1 nodes/s"
            ),
            (
                70.0,
                "node near-pool-0 tainted node.kubernetes.io/unreachable:NoExecute"
            ),
            (130.0, "pod app-0 evicted from node near-pool-0"),
            (130.0, "pod app-1 evicted from node near-pool-0"),
        ]
    );
    // Unanswered: the requests of 11..=64 s; rejected: those of 65..=129 s.
    let q = r.requests;
    assert_eq!((q.unanswered, q.rejected), (54, 65), "{q:?}");
}

/// The Simulation's grace period applies to faults that give none: `NotReady` at the pass
/// 20 s after the one at 15 s.
#[test]
fn the_simulation_sets_the_grace_period() {
    let faults = "    - {type: nodeFailure, node: near-pool-0, atSeconds: 10.5}";
    let r = simulate(&near_pair(
        100,
        faults,
        "\n  nodeMonitorGracePeriodSeconds: 20",
    ));
    assert_eq!(r.faults[1].at, 35.0, "{:?}", r.faults);
    assert_eq!(r.requests.unanswered, 24);
}

/// A node back before it is `NotReady`: its pods never left the endpoints, are not
/// replaced, and their containers restart in place.
#[test]
fn a_node_back_before_the_grace_period_restarts_its_pods_in_place() {
    let faults =
        "    - {type: nodeFailure, node: near-pool-0, atSeconds: 10.5, durationSeconds: 20}";
    let r = simulate(&near_pair(100, faults, ""));
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!(
        (q.unanswered, q.rejected, q.completed),
        (20, 0, 80),
        "{q:?}"
    );
    let s = &r.services[0];
    assert_eq!(
        (s.restarts, s.pods_evicted, s.pods_created, s.running_pods),
        (2, 0, 0, 2)
    );
    let what: Vec<_> = r.faults.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        what,
        ["node near-pool-0 failed", "node near-pool-0 recovered"]
    );
}

/// A `NotReady` node has the `unreachable:NoSchedule` taint: pods pinned to it by a node
/// selector have nowhere to go once evicted.
#[test]
fn a_not_ready_node_takes_no_new_pods() {
    let faults = "    - {type: nodeFailure, node: near-pool-0, atSeconds: 10.5, nodeMonitorGracePeriodSeconds: 40}";
    let pinned = "nodeSelector: {kubernetes.io/hostname: near-pool-0}\n      containers:";
    let yaml = near_pair(400, faults, "").replacen("containers:", pinned, 1);
    let r = simulate(&yaml);
    assert_accounted(&r);
    assert_eq!(r.pending_pods.len(), 2, "{:?}", r.pending_pods);
    assert!(
        r.pending_pods.iter().all(|p| p.reason.contains("taint")),
        "{:?}",
        r.pending_pods
    );
    assert_eq!(r.services[0].running_pods, 0);
}

/// `containerCrash` at a time: the crashed container's request in progress fails at once
/// (connection reset, not unanswered), the first restart is immediate, and the pod is not
/// replaced.
#[test]
fn a_crashed_container_fails_its_work_and_restarts_in_place() {
    let flows = "    - {endSeconds: 30, arrivals: {type: constant, rate: 1}}";
    let faults = "    - {type: containerCrash, deployment: app, atSeconds: 10.5}";
    let yaml = format!(
        "{}{}{}",
        topology(0.0),
        app(1, 700.0),
        workload("app", flows, &sim(faults))
    );
    let r = simulate(&yaml);
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!(
        (q.failed, q.failed_pod_lost, q.unanswered, q.completed),
        (1, 1, 0, 29),
        "{q:?}"
    );
    let s = &r.services[0];
    assert_eq!(
        (s.restarts, s.pods_killed, s.pods_created, s.running_pods),
        (1, 0, 0, 1)
    );
    assert_eq!(r.faults[0].what, "container of pod app-0 crashed");
}

/// The single container of `app` crashing `life` seconds after each start until `end`
/// under the kubelet's back-off (immediate, then 10, 20, 40, ... 300 s, reset after more
/// than 600 s of running): the intervals it is down, its restart times, its crashes.
fn crash_loop(life: f64, end: f64) -> (Vec<(f64, f64)>, Vec<f64>, u64) {
    let (mut started, mut window, mut last_restart) = (0.0, 0.0_f64, 0.0);
    let (mut down, mut restarts, mut crashes) = (Vec::new(), Vec::new(), 0);
    loop {
        let crash = started + life;
        if crash > end {
            return (down, restarts, crashes);
        }
        crashes += 1;
        let expired = window == 0.0 || crash - last_restart > 600.0;
        let delay = if expired { 0.0 } else { window };
        window = if expired {
            10.0
        } else {
            (2.0 * window).min(300.0)
        };
        started = crash + delay;
        last_restart = started;
        if started <= end {
            restarts.push(started);
        }
        if delay > 0.0 {
            down.push((crash, started));
        }
    }
}

/// A container that crashes 5 s after every start: the kubelet restarts it at once, then
/// after 10, 20, 40, 80, 160 and 300 s; the pod is ready exactly while its container runs.
/// One that runs 700 s never backs off (each run exceeds 10 minutes); one that runs 550 s
/// does from its second crash on.
#[test]
fn crash_loop_back_off_follows_the_kubelet() {
    for (life, end) in [(5.0, 1200.0), (700.0, 2500.0), (550.0, 2500.0)] {
        let flows = "    - {arrivals: {type: constant, rate: 1}}";
        let faults = format!(
            "    - {{type: containerCrash, deployment: app, lifetime: {{type: constant, value: {}}}}}",
            life * 1000.0
        );
        let simulation = format!("{}\n  stop: {{timeSeconds: {end}}}", sim(&faults));
        let yaml = format!(
            "{}{}{}",
            topology(0.0),
            app(1, 1.0),
            workload("app", flows, &simulation)
        );
        let r = simulate(&yaml);
        assert_accounted(&r);
        let (down, restarts, crashes) = crash_loop(life, end);
        let waits: Vec<f64> = down.iter().map(|d| d.1 - d.0).collect();
        let expected: &[f64] = match life {
            5.0 => &[10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0],
            700.0 => &[],
            _ => &[10.0, 20.0, 40.0],
        };
        assert_eq!(waits, expected, "life {life}");
        assert_eq!(r.services[0].restarts, restarts.len() as u64, "life {life}");
        // Row `t` is the state at the end of second `t`.
        for (t, row) in r.timeseries.iter().enumerate() {
            let at = t as f64 + 1.0 - 1e-9;
            let is_down = down.iter().any(|&(a, b)| a <= at && at < b);
            assert_eq!(
                row.services[0].ready,
                u32::from(!is_down),
                "life {life}, t {t}"
            );
        }
        // Requests arriving while it is down (whole seconds) are rejected; none go
        // unanswered.
        let q = r.requests;
        let down_seconds: f64 = down.iter().map(|(a, b)| b.min(end + 1.0) - a).sum();
        assert_eq!(q.rejected_no_endpoints as f64, down_seconds, "life {life}");
        assert_eq!(q.unanswered, 0);
        // One line counts every crash.
        assert_eq!(r.faults.len(), 1, "{:?}", r.faults);
        assert_eq!(r.faults[0].count, crashes, "{:?}", r.faults);
    }
}

#[test]
fn bad_container_crashes_name_the_field() {
    let flows = "    - {requests: 10, arrivals: {type: poisson, rate: 1}}";
    let cases = [
        (
            "    - {type: containerCrash, deployment: app, ratePerPodPerHour: 1, lifetime: {type: constant, value: 5}}",
            "spec.faults[0]: needs exactly one of `atSeconds`",
        ),
        (
            "    - {type: containerCrash, deployment: nope, atSeconds: 1}",
            "spec.faults[0].deployment: no Deployment named \"nope\"",
        ),
        (
            "    - {type: containerCrash, deployment: app, lifetime: {type: exponential, mean: -1}}",
            "spec.faults[0].lifetime.mean",
        ),
        (
            "    - {type: nodeFailure, node: lab-pool-0, atSeconds: 1, nodeMonitorGracePeriodSeconds: -1}",
            "spec.faults[0].nodeMonitorGracePeriodSeconds: must be >= 0 seconds",
        ),
        (
            "    - {type: containerCrash, deployment: app, ratePerPodPerHour: 1}\n    - {type: containerCrash, deployment: app, ratePerPodPerHour: 2}",
            "spec.faults[1]: a second crash lifetime for Deployment \"app\"",
        ),
    ];
    for (fault, expected) in cases {
        let yaml = format!(
            "{}{}{}",
            topology(0.0),
            app(1, 1.0),
            workload("app", flows, &sim(fault))
        );
        let e = error_of(&yaml);
        assert!(e.contains("Simulation/run") && e.contains(expected), "{e}");
    }
}
