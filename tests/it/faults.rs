//! Chaos on the twin: killed pods replaced by their ReplicaSet, a location outage that
//! moves the pods elsewhere, degraded links, the users' retries and timeouts, and the
//! accounting identity and determinism under all of them.

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

#[test]
fn a_location_outage_moves_the_pods_and_the_latency_follows() {
    let flows = "    - {endSeconds: 60, arrivals: {type: constant, rate: 20}}";
    let faults = "    - {type: outage, location: near, atSeconds: 20, durationSeconds: 20}";
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
            (40.0, "location near recovered", 0)
        ]
    );
    let row = |t: usize| &r.timeseries[t];
    assert_eq!(row(10).services[0].pods_by_tier, [2, 0]);
    // Replaced at once on the only node left; they stay there after the recovery (the
    // scheduler does not move running pods).
    assert_eq!(row(30).services[0].pods_by_tier, [0, 2]);
    assert_eq!(row(50).services[0].pods_by_tier, [0, 2]);
    // TTR = 2 x one-way latency + 10 ms of service: 12 ms near, 50 ms far.
    assert_close("TTR near", row(10).ttr_mean.unwrap(), 12.0, 1e-9);
    assert_close("TTR far", row(30).ttr_mean.unwrap(), 50.0, 1e-9);
    assert_eq!(r.clusters[1].pods["app"], 2);
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
    assert!(
        s.pods_killed >= 4 + 10,
        "4 by the node failure, ~24 crashes: {s:?}"
    );
    // While the only node is down no endpoint is left: calls are rejected (and retried).
    let q = a.requests;
    assert!(
        q.rejected_no_endpoints > 0 && q.failed_pod_lost > 0 && q.retries > 0,
        "{q:?}"
    );
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
