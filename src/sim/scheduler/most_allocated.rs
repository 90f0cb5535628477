//! Score MostAllocated: pack pods onto the fullest nodes (bin packing).

use super::{MAX_NODE_SCORE, NodeView, PodView, ScorePlugin};

/// kube-scheduler's NodeResourcesFit scoring strategy `MostAllocated`, with CPU and
/// memory weighted 1 each.
///
/// Per resource, with `requested = allocated + pod request` clamped to the capacity:
/// `requested * 100 / capacity`, or 0 when the capacity is 0 (`mostRequestedScore`);
/// the node's score is the integer mean of the two, already in `0..=100`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MostAllocated;

/// `min(requested, capacity) * 100 / capacity`, 0 if `capacity` is 0.
fn most_requested_score(requested: u64, capacity: u64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    (u128::from(requested.min(capacity)) * MAX_NODE_SCORE as u128 / u128::from(capacity)) as i64
}

impl ScorePlugin for MostAllocated {
    fn name(&self) -> &'static str {
        "MostAllocated"
    }

    fn score(&self, pod: &PodView, node: &NodeView) -> i64 {
        let requested = node.allocated.saturating_add(pod.requests);
        let cpu = most_requested_score(requested.cpu_millis, node.capacity.cpu_millis);
        let memory = most_requested_score(requested.memory_bytes, node.capacity.memory_bytes);
        (cpu + memory) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{GI, TestNode, TestPod};

    #[test]
    fn fuller_nodes_score_higher() {
        let pod = TestPod::new(1000, GI);
        let score = |node: TestNode| MostAllocated.score(&pod.view(), &node.view());
        assert_eq!(score(TestNode::new("empty", 4, 4)), 25);
        assert_eq!(score(TestNode::new("half", 4, 4).allocated(1000, GI)), 50);
        // cpu 3/4 = 75, memory 2/8 = 25: mean 50.
        assert_eq!(score(TestNode::new("mixed", 4, 8).allocated(2000, GI)), 50);
        assert_eq!(
            score(TestNode::new("full", 4, 4).allocated(3000, 3 * GI)),
            100
        );
        assert_eq!(
            score(TestNode::new("over", 4, 4).allocated(9000, 9 * GI)),
            100
        );
        assert_eq!(score(TestNode::new("none", 0, 0)), 0);
    }
}
