//! Scheduler-level tests: policies over small clusters, reasons, tie-breaking.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::testing::{GI, TestNode, TestPod, expr, term, views};
use super::*;
use crate::model::resources::ScorePluginSpec;

fn scheduler(plugins: &[(&str, u32)]) -> Scheduler {
    let score = plugins
        .iter()
        .map(|&(name, weight)| ScorePluginSpec::new(name, weight))
        .collect();
    Scheduler::new(&SchedulerSpec { score }).unwrap()
}

/// Schedules `count` copies of `pod`, binding each as the engine would, and returns
/// the chosen indices (stopping at the first unschedulable pod).
fn place(
    scheduler: &mut Scheduler,
    nodes: &mut [NodeView],
    pod: &TestPod,
    count: usize,
    seed: u64,
) -> Vec<usize> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for _ in 0..count {
        let Ok(i) = scheduler.schedule(&pod.view(), nodes, &mut rng) else {
            break;
        };
        nodes[i].allocated += pod.requests;
        chosen.push(i);
    }
    chosen
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
    let mut nodes = views(&owned);
    let mut mec = scheduler(&[("TierPriority", 100), ("LeastAllocated", 1)]);
    let chosen = place(&mut mec, &mut nodes, &TestPod::new(1000, GI / 2), 40, 7);
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
    assert!(nodes.iter().all(|n| n.free().cpu_millis == 0));
}

#[test]
fn least_allocated_spreads_evenly() {
    let owned: Vec<TestNode> = (0..5)
        .map(|i| TestNode::new(&format!("n{i}"), 4, 4))
        .collect();
    let mut nodes = views(&owned);
    let mut spread = Scheduler::new(&SchedulerSpec::default()).unwrap();
    let pod = TestPod::new(100, GI / 16);
    let mut rng = Pcg64::seed_from_u64(11);
    for _ in 0..50 {
        let i = spread.schedule(&pod.view(), &nodes, &mut rng).unwrap();
        nodes[i].allocated += pod.requests;
        let cpu: Vec<u64> = nodes.iter().map(|n| n.allocated.cpu_millis).collect();
        assert!(
            cpu.iter().max().unwrap() - cpu.iter().min().unwrap() <= 100,
            "{cpu:?}"
        );
    }
    assert!(nodes.iter().all(|n| n.allocated.cpu_millis == 1000));
}

#[test]
fn most_allocated_packs() {
    let owned: Vec<TestNode> = (0..4)
        .map(|i| TestNode::new(&format!("n{i}"), 4, 4))
        .collect();
    let mut nodes = views(&owned);
    let mut pack = scheduler(&[("MostAllocated", 1)]);
    let chosen = place(&mut pack, &mut nodes, &TestPod::new(1000, GI), 8, 3);
    assert_eq!(chosen.len(), 8);
    let used: Vec<u64> = nodes
        .iter()
        .map(|n| n.allocated.cpu_millis)
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
    let nodes = views(&owned);
    let pod = TestPod::new(100, 0);
    let mut rng = Pcg64::seed_from_u64(1);
    let mut cheap = scheduler(&[("LowestPrice", 2), ("TierPriority", 1)]);
    assert_eq!(cheap.schedule(&pod.view(), &nodes, &mut rng), Ok(1));
    let mut near = scheduler(&[("LowestPrice", 1), ("TierPriority", 2)]);
    assert_eq!(near.schedule(&pod.view(), &nodes, &mut rng), Ok(0));
}

#[test]
fn preferred_affinity_steers_the_default_profile() {
    let owned = [
        TestNode::new("a", 4, 4),
        TestNode::new("b", 4, 4).label("disk", "ssd"),
        TestNode::new("c", 4, 4),
    ];
    let nodes = views(&owned);
    let pod = TestPod::new(100, 0)
        .preferred(vec![(10, term(vec![expr("disk", "In", &["ssd"])], vec![]))]);
    let mut default = Scheduler::new(&SchedulerSpec::default()).unwrap();
    for seed in 0..20 {
        assert_eq!(
            default.schedule(&pod.view(), &nodes, &mut Pcg64::seed_from_u64(seed)),
            Ok(1)
        );
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
    let pod = TestPod::new(2000, 2 * GI).selector("zone", "a");
    let err = scheduler(&[("LeastAllocated", 1)])
        .schedule(&pod.view(), &views(&owned), &mut Pcg64::seed_from_u64(0))
        .unwrap_err();
    assert_eq!(err.num_nodes, 8);
    assert_eq!(
        err.to_string(),
        "0/8 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), \
         1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector, 4 Insufficient cpu."
    );
    let empty = scheduler(&[])
        .schedule(&pod.view(), &[], &mut Pcg64::seed_from_u64(0))
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
    let pod = TestPod::new(500, 0).selector("tier", "edge");
    let err = Scheduler::new(&SchedulerSpec::default())
        .unwrap()
        .schedule(&pod.view(), &views(&owned), &mut Pcg64::seed_from_u64(0))
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
    let mut rng = Pcg64::seed_from_u64(5);
    let mut untouched = rng.clone();
    assert_eq!(
        scheduler(&[("LeastAllocated", 1)]).schedule(
            &TestPod::new(100, 0).view(),
            &views(&owned),
            &mut rng
        ),
        Ok(1)
    );
    assert_eq!(rng.next_u64(), untouched.next_u64());
}

#[test]
fn ties_are_broken_reproducibly_and_uniformly() {
    let owned: Vec<TestNode> = (0..10)
        .map(|i| TestNode::new(&format!("n{i}"), 4, 4))
        .collect();
    let nodes = views(&owned);
    let pod = TestPod::new(100, 0);
    let mut sched = Scheduler::new(&SchedulerSpec::default()).unwrap();
    let mut pick = |seed| {
        sched
            .schedule(&pod.view(), &nodes, &mut Pcg64::seed_from_u64(seed))
            .unwrap()
    };
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
