//! Which nodes a scheduling cycle looks at: the node tree's order and
//! `percentageOfNodesToScore`.

use super::NodeView;

/// kube-scheduler never stops filtering before this many feasible nodes
/// (`minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage's floor (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// kube-scheduler's `numFeasibleNodesToFind`: how many feasible nodes end the filtering
/// of one pod, out of `nodes`, for `percentageOfNodesToScore` `percentage` (0: adaptive,
/// `50 - nodes/125` but at least 5). Every node below 100 nodes; at least 100 otherwise.
pub fn num_feasible_nodes_to_find(percentage: u32, nodes: usize) -> usize {
    if nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return nodes;
    }
    let percentage = match percentage as usize {
        0 => 50usize
            .saturating_sub(nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
        p => p,
    };
    (nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

const ZONE_LABELS: [&str; 2] = [
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/zone",
];
const REGION_LABELS: [&str; 2] = [
    "failure-domain.beta.kubernetes.io/region",
    "topology.kubernetes.io/region",
];

/// The order in which kube-scheduler's snapshot lists the nodes (its `nodeTree`): nodes
/// are grouped by zone (region and zone labels, the deprecated beta labels first, as
/// `GetZoneKey`), zones in order of their first node, and the list takes one node from
/// each zone in turn. The scheduler's round-robin sampling walks this order, so a sample
/// covers every zone instead of the first nodes listed.
pub fn node_tree_order(nodes: &[NodeView]) -> Vec<u32> {
    fn first<'a>(keys: [&str; 2], node: &NodeView<'a>) -> &'a str {
        keys.iter()
            .find_map(|k| node.labels.get(*k))
            .map_or("", String::as_str)
    }
    let mut zones: Vec<(String, Vec<u32>)> = Vec::new();
    let mut index = std::collections::BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let (region, zone) = (first(REGION_LABELS, node), first(ZONE_LABELS, node));
        let key = if region.is_empty() && zone.is_empty() {
            String::new()
        } else {
            format!("{region}:\0:{zone}")
        };
        let z = *index.entry(key.clone()).or_insert_with(|| {
            zones.push((key, Vec::new()));
            zones.len() - 1
        });
        zones[z].1.push(i as u32);
    }
    let mut order = Vec::with_capacity(nodes.len());
    for round in 0.. {
        if order.len() == nodes.len() {
            break;
        }
        order.extend(zones.iter().filter_map(|(_, members)| members.get(round)));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{TestNode, views};

    #[test]
    fn adaptive_percentage_as_kube_scheduler() {
        let find = |nodes| num_feasible_nodes_to_find(0, nodes);
        assert_eq!(find(0), 0);
        assert_eq!(find(99), 99);
        // 100 nodes: 50 - 0 = 50% of 100 = 50, raised to the minimum of 100.
        assert_eq!(find(100), 100);
        // 1,000 nodes: 50 - 8 = 42%.
        assert_eq!(find(1000), 420);
        // 5,000 nodes: 50 - 40 = 10%.
        assert_eq!(find(5000), 500);
        // 6,000 and more: the 5% floor.
        assert_eq!(find(6000), 300);
        assert_eq!(find(15_000), 750);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
        assert_eq!(num_feasible_nodes_to_find(1, 5000), 100);
        assert_eq!(num_feasible_nodes_to_find(30, 50), 50);
    }

    #[test]
    fn node_tree_interleaves_zones() {
        let zone = |name: &str, z: &str| {
            TestNode::new(name, 1, 1)
                .label("topology.kubernetes.io/region", "eu")
                .label("topology.kubernetes.io/zone", z)
        };
        let nodes = [
            zone("a0", "a"),
            zone("a1", "a"),
            zone("a2", "a"),
            zone("b0", "b"),
            TestNode::new("none", 1, 1),
            zone("c0", "c").label("failure-domain.beta.kubernetes.io/zone", "b"),
        ];
        let order = node_tree_order(&views(&nodes));
        let names: Vec<&str> = order
            .iter()
            .map(|&i| nodes[i as usize].name.as_str())
            .collect();
        assert_eq!(names, ["a0", "b0", "none", "a1", "c0", "a2"]);
    }
}
