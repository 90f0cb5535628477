//! Filter NodeUnschedulable: cordoned nodes take no new pods.

use super::taint_toleration::tolerates_parts;
use super::{FilterPlugin, FilterResult, NodeView, PodView};

/// kube-scheduler's NodeUnschedulable filter: rejects a node with
/// `spec.unschedulable: true` (`kubectl cordon`) unless the pod tolerates the taint
/// `node.kubernetes.io/unschedulable:NoSchedule` (DaemonSet pods carry that toleration).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeUnschedulable;

impl NodeUnschedulable {
    /// The rejection reason, in kube-scheduler's words.
    pub const REASON: &'static str = "node(s) were unschedulable";
    /// The key of the `NoSchedule` taint a pod must tolerate to land on a cordoned node.
    pub const TAINT_KEY: &'static str = "node.kubernetes.io/unschedulable";
}

/// Whether the pod tolerates the taint `node.kubernetes.io/unschedulable:NoSchedule`.
pub(super) fn tolerates_cordon(pod: &PodView) -> bool {
    pod.tolerations
        .iter()
        .any(|t| tolerates_parts(t, NodeUnschedulable::TAINT_KEY, "", "NoSchedule"))
}

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, pod: &PodView, node: &NodeView) -> FilterResult {
        if node.unschedulable && !tolerates_cordon(pod) {
            Err(&[Self::REASON])
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{TestNode, TestPod};

    #[test]
    fn schedulable_nodes_pass() {
        let node = TestNode::new("a", 4, 8);
        assert_eq!(
            NodeUnschedulable.filter(&TestPod::new(100, 0).view(), &node.view()),
            Ok(())
        );
    }

    #[test]
    fn cordoned_nodes_are_rejected() {
        let node = TestNode {
            unschedulable: true,
            ..TestNode::new("a", 4, 8)
        };
        let pod = TestPod::new(100, 0).tolerate(Some("other"), Some("Exists"), None, None);
        assert_eq!(
            NodeUnschedulable.filter(&pod.view(), &node.view()),
            Err(&["node(s) were unschedulable"][..])
        );
        let wrong_effect = TestPod::new(0, 0).tolerate(
            Some(NodeUnschedulable::TAINT_KEY),
            Some("Exists"),
            None,
            Some("NoExecute"),
        );
        assert!(
            NodeUnschedulable
                .filter(&wrong_effect.view(), &node.view())
                .is_err()
        );
    }

    #[test]
    fn tolerating_pods_pass_cordoned_nodes() {
        let node = TestNode {
            unschedulable: true,
            ..TestNode::new("a", 4, 8)
        };
        let daemon = TestPod::new(0, 0).tolerate(
            Some(NodeUnschedulable::TAINT_KEY),
            Some("Exists"),
            None,
            Some("NoSchedule"),
        );
        assert_eq!(
            NodeUnschedulable.filter(&daemon.view(), &node.view()),
            Ok(())
        );
        let everything = TestPod::new(0, 0).tolerate(None, Some("Exists"), None, None);
        assert_eq!(
            NodeUnschedulable.filter(&everything.view(), &node.view()),
            Ok(())
        );
    }
}
