//! Filter NodeResourcesFit: the pod's requests must fit in the node's free resources.

use super::{FilterPlugin, FilterResult, NodeView, PodView};

/// kube-scheduler's NodeResourcesFit filter (`fitsRequest`), for CPU and memory.
///
/// A resource is insufficient when the pod requests a positive amount of it and that
/// amount exceeds `allocatable - requested` on the node (`capacity - allocated` here,
/// zero where a node is overcommitted). A pod that requests nothing fits anywhere. Both
/// reasons are reported when both resources are short, as kube-scheduler does. Scoring
/// strategies of the same kube plugin are the separate plugins
/// [`super::LeastAllocated`], [`super::MostAllocated`] and [`super::BalancedAllocation`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeResourcesFit;

impl NodeResourcesFit {
    /// Reason when CPU is short.
    pub const INSUFFICIENT_CPU: &'static str = "Insufficient cpu";
    /// Reason when memory is short.
    pub const INSUFFICIENT_MEMORY: &'static str = "Insufficient memory";
}

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, pod: &PodView, node: &NodeView) -> FilterResult {
        let free = node.free();
        let cpu_short = pod.requests.cpu_millis > 0 && pod.requests.cpu_millis > free.cpu_millis;
        let memory_short =
            pod.requests.memory_bytes > 0 && pod.requests.memory_bytes > free.memory_bytes;
        match (cpu_short, memory_short) {
            (false, false) => Ok(()),
            (true, false) => Err(&[Self::INSUFFICIENT_CPU]),
            (false, true) => Err(&[Self::INSUFFICIENT_MEMORY]),
            (true, true) => Err(&[Self::INSUFFICIENT_CPU, Self::INSUFFICIENT_MEMORY]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{GI, TestNode, TestPod};

    fn verdict(pod: (u64, u64), node: &TestNode) -> FilterResult {
        NodeResourcesFit.filter(&TestPod::new(pod.0, pod.1).view(), &node.view())
    }

    #[test]
    fn fits_exactly_the_free_part() {
        let node = TestNode::new("a", 4, 8).allocated(3000, 6 * GI);
        assert_eq!(verdict((1000, 2 * GI), &node), Ok(()));
        assert_eq!(
            verdict((1001, 2 * GI), &node),
            Err(&["Insufficient cpu"][..])
        );
        assert_eq!(
            verdict((1000, 2 * GI + 1), &node),
            Err(&["Insufficient memory"][..])
        );
        assert_eq!(
            verdict((2000, 3 * GI), &node),
            Err(&["Insufficient cpu", "Insufficient memory"][..])
        );
    }

    #[test]
    fn zero_requests_fit_even_overcommitted_nodes() {
        let node = TestNode::new("a", 1, 1).allocated(1500, 2 * GI);
        assert_eq!(verdict((0, 0), &node), Ok(()));
        assert_eq!(verdict((0, 1), &node), Err(&["Insufficient memory"][..]));
        assert_eq!(verdict((1, 0), &node), Err(&["Insufficient cpu"][..]));
    }
}
