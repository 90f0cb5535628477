//! Scheduler-level tests: policies over small clusters, reasons, tie-breaking, sampling,
//! spreading.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::testing::{GI, TestNode, TestPod, cluster, expr, spec, taint, term};
use super::*;

/// Schedules `count` pods of template `t`, binding each, and returns the chosen
/// indices (stopping at the first unschedulable pod).
fn place(scheduler: &mut Scheduler, t: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for _ in 0..count {
        let Ok(i) = scheduler.schedule(t, &mut rng) else {
            break;
        };
        scheduler.bind(t, i);
        chosen.push(i);
    }
    chosen
}

fn zoned(name: &str, zone: &str) -> TestNode {
    TestNode::new(name, 4, 4)
        .label("topology.kubernetes.io/region", "eu")
        .label(ZONE_KEY, zone)
        .label(HOSTNAME_KEY, name)
}

#[test]
fn mec_first_fills_the_edge_then_spills_tier_by_tier() {
    let owned = [
        TestNode::new("cloud-a", 8, 8).tier(3),
        TestNode::new("regional-a", 4, 4).tier(1),
        TestNode::new("edge-a", 4, 4).tier(0),
        TestNode::new("regional-b", 4, 4).tier(1),
        TestNode::new("edge-b", 4, 4).tier(0),
        TestNode::new("cloud-b", 8, 8).tier(3),
    ];
    let pods = [TestPod::new(1000, GI / 2)];
    let mut mec = cluster(
        &spec(&[("TierPriority", 100), ("LeastAllocated", 1)]),
        &owned,
        &pods,
    );
    let chosen = place(&mut mec, 0, 40, 7);
    let tiers: Vec<u32> = chosen.iter().map(|&i| owned[i].tier).collect();
    let expected: Vec<u32> = [0; 8].into_iter().chain([1; 8]).chain([3; 16]).collect();
    assert_eq!(tiers, expected);
    // Within the edge tier LeastAllocated alternates between the two nodes.
    let edge: Vec<&str> = chosen[..4]
        .iter()
        .map(|&i| owned[i].name.as_str())
        .collect();
    assert!(
        edge.contains(&"edge-a") && edge.contains(&"edge-b"),
        "{edge:?}"
    );
    assert!((0..owned.len()).all(|n| mec.allocated(n).cpu_millis == owned[n].capacity.cpu_millis));
}

#[test]
fn the_default_profile_spreads_evenly() {
    let owned: Vec<TestNode> = (0..5)
        .map(|i| TestNode::new(&format!("n{i}"), 4, 4))
        .collect();
    let pods = [TestPod::new(100, GI / 16)];
    let mut spread = cluster(&SchedulerSpec::default(), &owned, &pods);
    let mut rng = Pcg64::seed_from_u64(11);
    for _ in 0..50 {
        let i = spread.schedule(0, &mut rng).unwrap();
        spread.bind(0, i);
        let cpu: Vec<u64> = (0..5).map(|n| spread.allocated(n).cpu_millis).collect();
        assert!(
            cpu.iter().max().unwrap() - cpu.iter().min().unwrap() <= 100,
            "{cpu:?}"
        );
    }
    assert!((0..5).all(|n| spread.allocated(n).cpu_millis == 1000));
}

#[test]
fn most_allocated_packs() {
    let owned: Vec<TestNode> = (0..4)
        .map(|i| TestNode::new(&format!("n{i}"), 4, 4))
        .collect();
    let pods = [TestPod::new(1000, GI)];
    let mut pack = cluster(&spec(&[("MostAllocated", 1)]), &owned, &pods);
    let chosen = place(&mut pack, 0, 8, 3);
    assert_eq!(chosen.len(), 8);
    let used: Vec<u64> = (0..4)
        .map(|n| pack.allocated(n).cpu_millis)
        .filter(|&c| c > 0)
        .collect();
    assert_eq!(used, [4000, 4000]);
}

#[test]
fn weights_trade_price_against_proximity() {
    let owned = [
        TestNode::new("edge", 4, 4).tier(0).price(0.9),
        TestNode::new("cloud", 4, 4).tier(3).price(0.1),
    ];
    let pods = [TestPod::new(100, 0)];
    let mut rng = Pcg64::seed_from_u64(1);
    let mut cheap = cluster(
        &spec(&[("LowestPrice", 2), ("TierPriority", 1)]),
        &owned,
        &pods,
    );
    assert_eq!(cheap.schedule(0, &mut rng), Ok(1));
    let mut near = cluster(
        &spec(&[("LowestPrice", 1), ("TierPriority", 2)]),
        &owned,
        &pods,
    );
    assert_eq!(near.schedule(0, &mut rng), Ok(0));
}

#[test]
fn preferred_affinity_steers_the_default_profile() {
    let owned = [
        TestNode::new("a", 4, 4),
        TestNode::new("b", 4, 4).label("disk", "ssd"),
        TestNode::new("c", 4, 4),
    ];
    let pods = [TestPod::new(100, 0)
        .preferred(vec![(10, term(vec![expr("disk", "In", &["ssd"])], vec![]))])];
    let mut default = cluster(&SchedulerSpec::default(), &owned, &pods);
    for seed in 0..20 {
        assert_eq!(default.schedule(0, &mut Pcg64::seed_from_u64(seed)), Ok(1));
    }
}

#[test]
fn unschedulable_counts_the_first_failing_filter_per_node() {
    let owned = [
        TestNode::new("small-1", 1, 8),
        TestNode::new("small-2", 1, 8),
        TestNode::new("tiny", 1, 1),
        TestNode::new("gpu-1", 8, 8).taint("gpu", "", "NoSchedule"),
        TestNode {
            unschedulable: true,
            ..TestNode::new("cordoned-small", 1, 1)
        },
        TestNode::new("other-zone-1", 8, 8).label("zone", "b"),
        TestNode::new("other-zone-2", 8, 8)
            .label("zone", "b")
            .allocated(8000, 0),
        TestNode::new("full", 8, 8).allocated(8000, 0),
    ];
    let owned: Vec<TestNode> = owned
        .into_iter()
        .map(|n| {
            if n.labels.is_empty() {
                n.label("zone", "a")
            } else {
                n
            }
        })
        .collect();
    let pods = [TestPod::new(2000, 2 * GI).selector("zone", "a")];
    let err = cluster(&spec(&[("LeastAllocated", 1)]), &owned, &pods)
        .schedule(0, &mut Pcg64::seed_from_u64(0))
        .unwrap_err();
    assert_eq!(err.num_nodes, 8);
    assert_eq!(
        err.to_string(),
        "0/8 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), \
         1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector, 4 Insufficient cpu."
    );
    let empty = cluster(&spec(&[]), &[], &pods)
        .schedule(0, &mut Pcg64::seed_from_u64(0))
        .unwrap_err();
    assert_eq!(empty.to_string(), "no nodes available to schedule pods");
}

#[test]
fn unschedulable_message_matches_kube_wording_at_scale() {
    let mut owned: Vec<TestNode> = (0..3)
        .map(|i| {
            TestNode::new(&format!("edge-{i}"), 4, 4)
                .label("tier", "edge")
                .allocated(4000, 0)
        })
        .collect();
    owned.extend(
        (0..472).map(|i| TestNode::new(&format!("cloud-{i}"), 8, 8).label("tier", "cloud")),
    );
    let pods = [TestPod::new(500, 0).selector("tier", "edge")];
    let err = cluster(&SchedulerSpec::default(), &owned, &pods)
        .schedule(0, &mut Pcg64::seed_from_u64(0))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/475 nodes are available: 3 Insufficient cpu, 472 node(s) didn't match Pod's node affinity/selector."
    );
}

#[test]
fn a_single_feasible_node_is_chosen_without_drawing() {
    let owned = [
        TestNode::new("a", 1, 1).allocated(1000, 0),
        TestNode::new("b", 1, 1),
    ];
    let pods = [TestPod::new(100, 0)];
    let mut rng = Pcg64::seed_from_u64(5);
    let mut untouched = rng.clone();
    assert_eq!(
        cluster(&spec(&[("LeastAllocated", 1)]), &owned, &pods).schedule(0, &mut rng),
        Ok(1)
    );
    assert_eq!(rng.next_u64(), untouched.next_u64());
}

#[test]
fn ties_are_broken_reproducibly_and_uniformly() {
    let owned: Vec<TestNode> = (0..10)
        .map(|i| TestNode::new(&format!("n{i}"), 4, 4))
        .collect();
    let pods = [TestPod::new(100, 0)];
    let mut sched = cluster(&SchedulerSpec::default(), &owned, &pods);
    let mut pick = |seed| sched.schedule(0, &mut Pcg64::seed_from_u64(seed)).unwrap();
    for seed in 0..20 {
        assert_eq!(pick(seed), pick(seed), "seed {seed}");
    }
    let mut counts = [0u32; 10];
    for seed in 0..2000 {
        counts[pick(seed)] += 1;
    }
    // Binomial(2000, 0.1): mean 200, sd 13.4; the bounds are about 5 sd wide.
    assert!(
        counts.iter().all(|&c| (130..=270).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn without_score_plugins_the_first_feasible_node_wins() {
    let owned: Vec<TestNode> = (0..4)
        .map(|i| TestNode::new(&format!("n{i}"), 1, 1))
        .collect();
    let pods = [TestPod::new(400, 0)];
    let mut first = cluster(&spec(&[]), &owned, &pods);
    // Each cycle looks at one feasible node and the next starts after it.
    assert_eq!(place(&mut first, 0, 9, 1), [0, 1, 2, 3, 0, 1, 2, 3]);
}

#[test]
fn a_sample_of_the_nodes_is_scored_round_robin() {
    // 250 identical nodes in two zones: the adaptive percentage is 50 - 2 = 48%, so 120
    // feasible nodes end each pod's filtering, in the node tree's order (zones
    // alternating), and the next pod starts after them.
    let owned: Vec<TestNode> = (0..250)
        .map(|i| zoned(&format!("n{i}"), if i < 125 { "a" } else { "b" }))
        .collect();
    assert_eq!(num_feasible_nodes_to_find(0, 250), 120);
    let adaptive = SchedulerSpec {
        percentage_of_nodes_to_score: None,
        ..spec(&[("LeastAllocated", 1)])
    };
    let pods = [TestPod::new(100, 0)];
    let mut sampled = cluster(&adaptive, &owned, &pods);
    let order = node_tree_order(&testing::views(&owned));
    assert_eq!(&order[..4], [0, 125, 1, 126]);
    let mut rng = Pcg64::seed_from_u64(3);
    for window in 0..6 {
        let start = window * 120 % 250;
        let seen: Vec<u32> = (0..120).map(|i| order[(start + i) % 250]).collect();
        let chosen = sampled.schedule(0, &mut rng).unwrap() as u32;
        assert!(seen.contains(&chosen), "pod {window} chose {chosen}");
    }
    // A full node is skipped: the window reaches one node further.
    let pods = [TestPod::new(4000, 0)];
    let mut full = cluster(&adaptive, &owned, &pods);
    full.bind(0, order[0] as usize);
    let mut picks = Vec::new();
    for _ in 0..2 {
        picks.push(full.schedule(0, &mut rng).unwrap() as u32);
    }
    let second: Vec<u32> = (121..241).map(|i| order[i]).collect();
    assert!(second.contains(&picks[1]), "{picks:?}");
}

#[test]
fn default_constraints_spread_replicas_across_zones() {
    // Zone a has three times the nodes of b and c. While every zone has empty nodes, the
    // default profile puts each pod on an empty node of the zone with the fewest: an
    // extra pod in a zone costs `ln(3 + 2) = 1.6` raw points (a tenth of the maximum),
    // 2 x 10 after normalizing, more than LeastAllocated and BalancedAllocation tell
    // identical empty nodes apart (0).
    let mut owned: Vec<TestNode> = (0..12).map(|i| zoned(&format!("a{i}"), "a")).collect();
    owned.extend((0..4).map(|i| zoned(&format!("b{i}"), "b")));
    owned.extend((0..4).map(|i| zoned(&format!("c{i}"), "c")));
    let zone_counts = |chosen: &[usize]| {
        let mut counts = [0; 3];
        for &i in chosen {
            counts[(owned[i].labels[ZONE_KEY].as_bytes()[0] - b'a') as usize] += 1;
        }
        counts
    };
    let pods = [TestPod::new(100, GI / 8)];
    let mut spread = cluster(&SchedulerSpec::default(), &owned, &pods);
    let mut rng = Pcg64::seed_from_u64(9);
    let mut chosen = Vec::new();
    for _ in 0..12 {
        let i = spread.schedule(0, &mut rng).unwrap();
        spread.bind(0, i);
        chosen.push(i);
        let counts = zone_counts(&chosen);
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "{counts:?}"
        );
    }
    assert_eq!(zone_counts(&chosen), [4, 4, 4]);
    // LeastAllocated alone picks empty nodes uniformly: zone a gets 12 x 12/20 = 7.2 of
    // them on average (hypergeometric, sd 1.4).
    let mut by_node = cluster(&spec(&[("LeastAllocated", 1)]), &owned, &pods);
    let counts = zone_counts(&place(&mut by_node, 0, 12, 9));
    assert!(counts[0] >= 6, "{counts:?}");
}

#[test]
fn do_not_schedule_filters_with_kube_reasons() {
    let owned = [
        zoned("a", "a"),
        zoned("b", "b").allocated(4000, 0),
        TestNode::new("bare", 4, 4),
    ];
    let pods =
        [TestPod::new(1000, 0)
            .pod_label("app", "web")
            .spread(ZONE_KEY, 1, "DoNotSchedule", "web")];
    let mut hard = cluster(&SchedulerSpec::default(), &owned, &pods);
    let mut rng = Pcg64::seed_from_u64(0);
    assert_eq!(hard.schedule(0, &mut rng), Ok(0));
    hard.bind(0, 0);
    // Zone a would hold 2 to zone b's 0: a skew of 2 > 1.
    assert_eq!(
        hard.schedule(0, &mut rng).unwrap_err().to_string(),
        "0/3 nodes are available: 1 Insufficient cpu, \
         1 node(s) didn't match pod topology spread constraints, \
         1 node(s) didn't match pod topology spread constraints (missing required label)."
    );
    // Once the pod is being deleted it no longer counts.
    hard.deleting(0, 0);
    assert_eq!(hard.schedule(0, &mut rng), Ok(0));
}

#[test]
fn min_domains_treats_missing_domains_as_empty() {
    let owned = [zoned("a", "a"), zoned("b", "b")];
    let mut pod =
        TestPod::new(100, 0)
            .pod_label("app", "web")
            .spread(ZONE_KEY, 2, "DoNotSchedule", "web");
    pod.spread[0].min_domains = Some(3);
    let pods = [pod];
    let mut hard = cluster(&SchedulerSpec::default(), &owned, &pods);
    // Two domains < minDomains 3: the global minimum is 0, so each zone takes 2 pods.
    assert_eq!(place(&mut hard, 0, 10, 4).len(), 4);
}

#[test]
fn node_taints_change_verdicts_and_spreading() {
    let owned = [zoned("a", "a"), zoned("b", "b")];
    let pods = [TestPod::new(100, 0)];
    let mut sched = cluster(&SchedulerSpec::default(), &owned, &pods);
    let not_ready = [taint("node.kubernetes.io/unreachable", "", "NoSchedule")];
    sched.set_taints(0, &not_ready);
    let mut rng = Pcg64::seed_from_u64(2);
    assert_eq!(place(&mut sched, 0, 3, 2), [1, 1, 1]);
    sched.set_taints(0, &[]);
    assert_eq!(sched.schedule(0, &mut rng), Ok(0));
}

#[test]
fn normalizers() {
    let mut s = [10, 5, 0];
    default_normalize(&mut s, false);
    assert_eq!(s, [100, 50, 0]);
    let mut s = [3, 1, 0];
    default_normalize(&mut s, true);
    assert_eq!(s, [0, 67, 100]);
    let mut s = [0, 0];
    default_normalize(&mut s, true);
    assert_eq!(s, [100, 100]);
    let mut s = [i64::MIN, i64::MAX];
    lowest_is_best_normalize(&mut s);
    assert_eq!(s, [100, 0]);
}

/// The class index serves the templates of the default profile, with preferred
/// affinity, soft taints and both kinds of spreading constraints, through a run with
/// deletions and a taint change; a pod that fits nowhere still gets kube's reasons.
#[test]
fn the_default_profile_places_through_the_class_index() {
    let owned: Vec<TestNode> = (0..300)
        .map(|i| {
            let node = zoned(&format!("n{i}"), ["a", "b", "c"][i % 3]);
            if i % 7 == 0 {
                node.label("disk", "ssd")
                    .taint("spot", "", "PreferNoSchedule")
            } else {
                node
            }
        })
        .collect();
    let pods = [
        TestPod::new(100, GI / 16),
        TestPod::new(200, GI / 8)
            .pod_label("app", "web")
            .preferred(vec![(10, term(vec![expr("disk", "In", &["ssd"])], vec![]))]),
        TestPod::new(300, GI / 8)
            .pod_label("app", "db")
            .spread(ZONE_KEY, 1, "DoNotSchedule", "db")
            .spread(HOSTNAME_KEY, 1, "ScheduleAnyway", "db"),
    ];
    let mut scheduler = cluster(&SchedulerSpec::default(), &owned, &pods);
    let mut placed = Vec::new();
    for t in [0, 1, 2, 0, 1, 2] {
        placed.extend(place(&mut scheduler, t, 100, 5).into_iter().map(|n| (t, n)));
    }
    assert_eq!(placed.len(), 600);
    for &(t, n) in placed.iter().step_by(3) {
        scheduler.deleting(t, n);
        scheduler.release(t, n, true);
    }
    scheduler.set_taints(
        1,
        &[taint("node.kubernetes.io/unreachable", "", "NoSchedule")],
    );
    assert_eq!(place(&mut scheduler, 2, 50, 6).len(), 50);
    assert_eq!(scheduler.indexed(), [true, true, true]);
    let huge = [TestPod::new(64_000, GI)];
    let mut full = cluster(&SchedulerSpec::default(), &owned, &huge);
    let err = full.schedule(0, &mut Pcg64::seed_from_u64(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/300 nodes are available: 300 Insufficient cpu."
    );
}
