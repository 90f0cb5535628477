//! Score BalancedAllocation: prefer nodes whose CPU and memory stay equally used.

use super::{MAX_NODE_SCORE, NodeView, PodView, ScorePlugin};

/// kube-scheduler's NodeResourcesBalancedAllocation for CPU and memory.
///
/// With `fraction = min((allocated + pod request) / capacity, 1)` per resource (resources
/// with zero capacity skipped), the score is `(1 - std) * 100` truncated, where `std` is
/// the standard deviation of the fractions, `|f_cpu - f_memory| / 2` for two resources.
/// A pod that requests nothing scores 0 everywhere (kube skips the plugin for
/// best-effort pods so that they do not pile up on one node). In kube-scheduler's
/// default profile the plugin has weight 1 next to `LeastAllocated`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "BalancedAllocation"
    }

    fn score(&self, pod: &PodView, node: &NodeView) -> i64 {
        if pod.requests.is_zero() {
            return 0;
        }
        let requested = node.allocated.saturating_add(pod.requests);
        let fraction = |used: u64, capacity: u64| {
            (capacity > 0).then(|| (used as f64 / capacity as f64).min(1.0))
        };
        let std = match (
            fraction(requested.cpu_millis, node.capacity.cpu_millis),
            fraction(requested.memory_bytes, node.capacity.memory_bytes),
        ) {
            (Some(cpu), Some(memory)) => (cpu - memory).abs() / 2.0,
            _ => 0.0,
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resources::Resources;
    use crate::sim::scheduler::testing::{GI, TestNode, TestPod};

    #[test]
    fn balanced_use_scores_higher() {
        let pod = TestPod::new(1000, GI);
        let score = |node: TestNode| BalancedAllocation.score(&pod.view(), &node.view());
        assert_eq!(score(TestNode::new("even", 4, 4)), 100);
        // cpu 3/4, memory 1/4: std 0.25.
        assert_eq!(
            score(TestNode::new("cpu-heavy", 4, 4).allocated(2000, 0)),
            75
        );
        // cpu clamped to 1, memory 1/4: std 0.375.
        assert_eq!(score(TestNode::new("over", 4, 4).allocated(8000, 0)), 62);
        assert_eq!(
            score(TestNode {
                capacity: Resources::new(4000, 0),
                ..TestNode::new("no-mem", 0, 0)
            }),
            100
        );
        let best_effort = TestPod::new(0, 0);
        assert_eq!(
            BalancedAllocation.score(&best_effort.view(), &TestNode::new("even", 4, 4).view()),
            0
        );
    }
}
