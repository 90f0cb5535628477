//! The node lifecycle controller's eviction rate limits and zone disruption modes, on
//! Kubernetes' timeline: passes every 5 s, the `NoExecute` taint one node at a time per
//! zone (0.1 nodes/s in a healthy zone, 0.01 in a large zone in partial disruption, none in
//! a small one), and no taint at all while every zone is down.

use kubetwin::sim::{BuildOptions, RunReport};

use crate::common::{
    assert_accounted, error_of, lab_topology, service, simulate, simulate_with, workload,
};

/// One location, `lab`, with a cluster per `(cluster, zone, nodes)`: a pool of nodes
/// (`CLUSTER-pool-I`) with room for one pod each, labelled with the zone.
fn topology(clusters: &[(&str, &str, u32)]) -> String {
    let clusters: String = clusters
        .iter()
        .map(|(name, zone, count)| {
            format!(
                "    - {{name: {name}, location: lab, nodePools: [{{name: pool, count: {count}, \
                 capacity: {{cpu: 100m, memory: 64Mi}}, labels: {{topology.kubernetes.io/zone: {zone}}}}}]}}\n"
            )
        })
        .collect();
    lab_topology(&clusters, 0.0)
}

/// `nodes` fail at 10.5 s, for `duration` seconds (`None`: for good).
fn failures(nodes: &[&str], duration: Option<f64>) -> String {
    let duration = duration.map_or(String::new(), |d| format!(", durationSeconds: {d}"));
    nodes
        .iter()
        .map(|n| format!("    - {{type: nodeFailure, node: {n}, atSeconds: 10.5{duration}}}\n"))
        .collect()
}

/// `replicas` pods that tolerate the `unreachable` taint for `toleration` seconds (`None`:
/// the default 300 s), one request a second until `end`, `faults` and `extra` Simulation
/// fields.
fn scenario(
    topology: &str,
    replicas: u32,
    toleration: Option<u32>,
    end: u32,
    faults: &str,
    extra: &str,
) -> String {
    let flows = format!("    - {{endSeconds: {end}, arrivals: {{type: constant, rate: 1}}}}");
    let simulation = format!("  statisticsIntervalSeconds: 1\n  faults:\n{faults}{extra}");
    let mut app = service("app", replicas, "  serviceTime: {type: constant, value: 1}");
    if let Some(seconds) = toleration {
        let tolerations = format!(
            "tolerations: [{{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: {seconds}}}]\n      containers:"
        );
        app = app.replacen("containers:", &tolerations, 1);
    }
    format!("{topology}{app}{}", workload("app", &flows, &simulation))
}

/// The fault log's lines that end with `suffix` naming a node after `prefix`: (time, node).
fn node_lines(r: &RunReport, prefix: &str, suffix: &str) -> Vec<(f64, String)> {
    r.faults
        .iter()
        .filter_map(|f| {
            let rest = f.what.strip_prefix(prefix)?;
            let node = rest.strip_suffix(suffix)?;
            Some((f.at, node.split(' ').next()?.to_owned()))
        })
        .collect()
}

fn taints(r: &RunReport) -> Vec<(f64, String)> {
    node_lines(
        r,
        "node ",
        " tainted node.kubernetes.io/unreachable:NoExecute",
    )
}

fn evictions(r: &RunReport) -> Vec<(f64, String)> {
    r.faults
        .iter()
        .filter_map(|f| {
            let (_, node) = f.what.split_once(" evicted from node ")?;
            Some((f.at, node.to_owned()))
        })
        .collect()
}

/// The fault log's lines about zones: (time, text).
fn zone_lines(r: &RunReport) -> Vec<(f64, &str)> {
    r.faults
        .iter()
        .filter(|f| f.what.starts_with("zone ") || f.what.starts_with("every zone "))
        .map(|f| (f.at, f.what.as_str()))
        .collect()
}

fn at(times: &[(f64, &str)]) -> Vec<(f64, String)> {
    times.iter().map(|&(t, n)| (t, n.to_owned())).collect()
}

/// Three of a zone's ten nodes fail at once: 30% `NotReady` is under the 55% threshold, so
/// the zone stays `Normal` and its bucket lets one node through every 10 s (0.1 nodes/s),
/// the first at once. All three are `NotReady` at the pass at 65 s (last heard at the pass
/// at 15 s, plus the 50 s grace period), queued at the next pass, tainted at 70, 80 and
/// 90 s, and their pods evicted 300 s after their own node's taint: the third node's pods go
/// 20 s after the first's.
#[test]
fn a_healthy_zone_taints_one_node_every_ten_seconds() {
    let failing = failures(&["a-pool-0", "a-pool-1", "a-pool-2"], None);
    let yaml = scenario(&topology(&[("a", "a", 10)]), 10, None, 400, &failing, "");
    let r = simulate(&yaml);
    assert_accounted(&r);
    let not_ready = node_lines(&r, "node ", " pods not ready)");
    assert_eq!(
        not_ready,
        at(&[(65.0, "a-pool-0"), (65.0, "a-pool-1"), (65.0, "a-pool-2")])
    );
    assert_eq!(
        taints(&r),
        at(&[(70.0, "a-pool-0"), (80.0, "a-pool-1"), (90.0, "a-pool-2")])
    );
    assert_eq!(
        evictions(&r),
        at(&[
            (370.0, "a-pool-0"),
            (380.0, "a-pool-1"),
            (390.0, "a-pool-2")
        ])
    );
    assert_eq!(zone_lines(&r), []);
    let s = &r.services[0];
    // Their replacements find no room: the other nodes hold a pod each.
    assert_eq!((s.pods_evicted, s.pods_created), (3, 3));

    // The Simulation's rate and period: passes every 2 s (last heard at 12 s, `NotReady`
    // at 62 s, queued at 64 s) and a node every 2 s.
    let r = simulate(&yaml.replace(
        "  faults:",
        "  nodeEvictionRate: 0.5\n  nodeMonitorPeriodSeconds: 2\n  faults:",
    ));
    assert_eq!(
        taints(&r),
        at(&[(64.0, "a-pool-0"), (66.0, "a-pool-1"), (68.0, "a-pool-2")])
    );
}

/// Four of a five-node zone fail: more than 2 and at least 55% `NotReady` is partial
/// disruption, and a zone of no more than 50 nodes then gets no `NoExecute` taint at all.
/// The pods tolerate the taint for only 60 s, yet they stay, not ready and not replaced,
/// as long as their nodes are down.
#[test]
fn a_small_zone_in_partial_disruption_evicts_nothing() {
    let failing = failures(&["a-pool-0", "a-pool-1", "a-pool-2", "a-pool-3"], None);
    let yaml = scenario(&topology(&[("a", "a", 5)]), 5, Some(60), 1000, &failing, "");
    let r = simulate(&yaml);
    assert_accounted(&r);
    assert_eq!(
        zone_lines(&r),
        [(
            65.0,
            "zone lab/a PartialDisruption (4 of 5 nodes NotReady): NoExecute taints stopped"
        )]
    );
    assert_eq!((taints(&r), evictions(&r)), (vec![], vec![]));
    let s = &r.services[0];
    assert_eq!(
        (s.pods_evicted, s.pods_created, s.replicas, s.running_pods),
        (0, 0, 5, 1)
    );
    // With the threshold above 80% the zone stays `Normal` and evicts at the usual pace.
    let r = simulate(&yaml.replace("  faults:", "  unhealthyZoneThreshold: 0.9\n  faults:"));
    assert_eq!(
        evictions(&r),
        at(&[
            (130.0, "a-pool-0"),
            (140.0, "a-pool-1"),
            (150.0, "a-pool-2"),
            (160.0, "a-pool-3")
        ])
    );
}

/// Two of the four come back at 210.5 s: the pass at 215 s finds 2 of 5 `NotReady`, a
/// `Normal` zone again, and restarts the stopped queue at 0.1 nodes/s with an empty bucket
/// (`SwapLimiter` drains the new bucket when the old limiter had no token): the first taint
/// comes 10 s after that pass, not at once.
#[test]
fn a_zone_back_from_partial_disruption_restarts_its_queue_empty() {
    let failing = failures(&["a-pool-0", "a-pool-1"], Some(200.0))
        + &failures(&["a-pool-2", "a-pool-3"], None);
    let yaml = scenario(&topology(&[("a", "a", 5)]), 5, Some(60), 400, &failing, "");
    let r = simulate(&yaml);
    assert_accounted(&r);
    assert_eq!(
        zone_lines(&r),
        [
            (
                65.0,
                "zone lab/a PartialDisruption (4 of 5 nodes NotReady): NoExecute taints stopped"
            ),
            (
                215.0,
                "zone lab/a Normal (2 of 5 nodes NotReady): NoExecute taints at 0.1 nodes/s"
            )
        ]
    );
    assert_eq!(taints(&r), at(&[(225.0, "a-pool-2"), (235.0, "a-pool-3")]));
    assert_eq!(
        evictions(&r),
        at(&[(285.0, "a-pool-2"), (295.0, "a-pool-3")])
    );
    let s = &r.services[0];
    assert_eq!((s.pods_evicted, s.restarts), (2, 2));
}

/// Every zone down: zone `a` fails first and, fully down beside a healthy zone, is tainted
/// at the usual rate (70 and 80 s); when zone `b` is down too (`NotReady` at 155 s) the
/// controller blames its own network, lifts both taints (cancelling the evictions due at
/// 370 and 380 s) and taints nothing more. Once `b` is back (the pass at 405 s) every zone
/// gets its rate again, from an empty bucket: `a`'s nodes are tainted at 415 and 425 s and
/// their pods evicted 300 s later.
#[test]
fn every_zone_down_stops_evictions() {
    let failing = failures(&["a-pool-0", "a-pool-1"], None)
        + &failures(&["b-pool-0", "b-pool-1"], Some(300.0)).replace("10.5", "100.5");
    let clusters = topology(&[("a", "a", 2), ("b", "b", 2)]);
    let r = simulate(&scenario(&clusters, 4, None, 800, &failing, ""));
    assert_accounted(&r);
    assert_eq!(
        zone_lines(&r),
        [
            (
                65.0,
                "zone lab/a FullDisruption (2 of 2 nodes NotReady): NoExecute taints at 0.1 nodes/s"
            ),
            (
                155.0,
                "every zone FullDisruption: NoExecute taints stopped, 2 lifted"
            ),
            (
                405.0,
                "zone lab/a FullDisruption (2 of 2 nodes NotReady): NoExecute taints at 0.1 nodes/s"
            ),
            (
                405.0,
                "zone lab/b Normal (0 of 2 nodes NotReady): NoExecute taints at 0.1 nodes/s"
            )
        ]
    );
    assert_eq!(
        taints(&r),
        at(&[
            (70.0, "a-pool-0"),
            (80.0, "a-pool-1"),
            (415.0, "a-pool-0"),
            (425.0, "a-pool-1")
        ])
    );
    assert_eq!(
        evictions(&r),
        at(&[(715.0, "a-pool-0"), (725.0, "a-pool-1")])
    );
    assert_eq!(r.services[0].pods_evicted, 2);
}

/// A large zone (60 nodes, over the threshold of 50) with 40 nodes down is in partial
/// disruption and gets the secondary rate, 0.01 nodes/s: its bucket still had its token,
/// so the first taint comes at once (70 s), the next ones 100 s apart. The pods tolerate
/// the taint for 0 s: evicted as their node is tainted. A threshold of 60 makes the zone
/// small: no taint at all.
#[test]
fn a_large_zone_in_partial_disruption_evicts_at_the_secondary_rate() {
    let clusters = topology(&[("x", "a", 40), ("y", "a", 20)]);
    let outage = "    - {type: outage, cluster: x, atSeconds: 10.5}\n";
    let yaml = scenario(&clusters, 60, Some(0), 400, outage, "");
    let r = simulate(&yaml);
    assert_accounted(&r);
    assert_eq!(
        zone_lines(&r),
        [(
            65.0,
            "zone lab/a PartialDisruption (40 of 60 nodes NotReady): NoExecute taints at 0.01 nodes/s"
        )]
    );
    let expected = at(&[
        (70.0, "x-pool-0"),
        (170.0, "x-pool-1"),
        (270.0, "x-pool-2"),
        (370.0, "x-pool-3"),
    ]);
    assert_eq!(taints(&r), expected);
    assert_eq!(evictions(&r), expected);
    assert_eq!(r.services[0].pods_evicted, 4);

    let r = simulate_with(
        &yaml,
        &["simulation:spec.largeClusterSizeThreshold=60"],
        BuildOptions::default(),
    );
    assert_eq!((taints(&r), evictions(&r)), (vec![], vec![]));
}

#[test]
fn bad_controller_settings_name_the_field() {
    let cases = [
        (
            "nodeEvictionRate: -1",
            "spec.nodeEvictionRate: must be >= 0, got -1",
        ),
        (
            "secondaryNodeEvictionRate: -0.01",
            "spec.secondaryNodeEvictionRate: must be >= 0, got -0.01",
        ),
        (
            "unhealthyZoneThreshold: -0.5",
            "spec.unhealthyZoneThreshold: must be >= 0, got -0.5",
        ),
        (
            "nodeMonitorPeriodSeconds: 0",
            "spec.nodeMonitorPeriodSeconds: must be > 0 seconds, got 0",
        ),
    ];
    for (field, expected) in cases {
        let yaml = scenario(
            &topology(&[("a", "a", 1)]),
            1,
            None,
            10,
            "    - {type: nodeFailure, node: a-pool-0, atSeconds: 1}\n",
            &format!("  {field}\n"),
        );
        let e = error_of(&yaml);
        assert!(e.contains("Simulation/run") && e.contains(expected), "{e}");
    }
}
