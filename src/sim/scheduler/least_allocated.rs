//! Score LeastAllocated: spread pods to the emptiest nodes.

use super::{MAX_NODE_SCORE, NodeView, PodView, ScorePlugin};

/// kube-scheduler's NodeResourcesFit scoring strategy `LeastAllocated` (the default),
/// with CPU and memory weighted 1 each.
///
/// Per resource, with `requested = allocated + pod request`:
/// `(capacity - requested) * 100 / capacity`, or 0 when the capacity is 0 or exceeded
/// (`leastRequestedScore`); the node's score is the integer mean of the two. The
/// result is already in `0..=100`, so there is no normalization.
///
/// kube-scheduler scores containers without requests as if they asked for 100m CPU
/// and 200 MB; kubetwin uses the pod's requests as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeastAllocated;

/// `(capacity - requested) * 100 / capacity`, 0 if `capacity` is 0 or exceeded.
fn least_requested_score(requested: u64, capacity: u64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (u128::from(capacity - requested) * MAX_NODE_SCORE as u128 / u128::from(capacity)) as i64
}

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "LeastAllocated"
    }

    fn score(&self, pod: &PodView, node: &NodeView) -> i64 {
        let requested = node.allocated.saturating_add(pod.requests);
        let cpu = least_requested_score(requested.cpu_millis, node.capacity.cpu_millis);
        let memory = least_requested_score(requested.memory_bytes, node.capacity.memory_bytes);
        (cpu + memory) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{GI, TestNode, TestPod};

    #[test]
    fn emptier_nodes_score_higher() {
        let pod = TestPod::new(1000, GI);
        let score = |node: TestNode| LeastAllocated.score(&pod.view(), &node.view());
        assert_eq!(score(TestNode::new("empty", 4, 4)), 75);
        assert_eq!(score(TestNode::new("half", 4, 4).allocated(1000, GI)), 50);
        // cpu (4-3)/4 = 25, memory (8-2)/8 = 75: mean 50.
        assert_eq!(score(TestNode::new("mixed", 4, 8).allocated(2000, GI)), 50);
        assert_eq!(
            score(TestNode::new("full", 4, 4).allocated(3000, 3 * GI)),
            0
        );
        assert_eq!(score(TestNode::new("over", 4, 4).allocated(3500, 0)), 37);
        assert_eq!(score(TestNode::new("none", 0, 0)), 0);
    }

    #[test]
    fn integer_division_rounds_down() {
        assert_eq!(least_requested_score(1, 3), 66);
        assert_eq!(least_requested_score(3, 3), 0);
        assert_eq!(least_requested_score(0, u64::MAX), 100);
    }
}
