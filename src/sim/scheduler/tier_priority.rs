//! Score TierPriority: "MEC first", the closest tier to the users wins.

use super::{NodeView, PodView, ScorePlugin, lowest_is_best_normalize};

/// kubetwin's proximity policy from the KubeTwin paper ("MEC first"), not a
/// kube-scheduler plugin: the lowest tier number among the feasible nodes scores 100,
/// the highest 0, linearly in the tier number in between (all equal: 100).
///
/// Tiers follow the reference scenario: 0 local edge (MEC), 1 and 2 regional, 3 remote
/// cloud. With a large weight (e.g. 100 beside `LeastAllocated` at 1) the scheduler fills
/// the lowest tier with room before spilling to the next, spreading within a tier.
#[derive(Clone, Copy, Debug, Default)]
pub struct TierPriority;

impl ScorePlugin for TierPriority {
    fn name(&self) -> &'static str {
        "TierPriority"
    }

    fn score(&self, _pod: &PodView, node: &NodeView) -> i64 {
        i64::from(node.tier)
    }

    fn normalize(&self, scores: &mut [i64]) {
        lowest_is_best_normalize(scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{TestNode, TestPod};

    fn scores(tiers: &[u32]) -> Vec<i64> {
        let pod = TestPod::new(0, 0);
        let mut s: Vec<i64> = tiers
            .iter()
            .map(|&t| TierPriority.score(&pod.view(), &TestNode::new("n", 1, 1).tier(t).view()))
            .collect();
        TierPriority.normalize(&mut s);
        s
    }

    #[test]
    fn lowest_feasible_tier_is_best() {
        assert_eq!(scores(&[0, 1, 2, 3]), [100, 66, 33, 0]);
        assert_eq!(scores(&[3, 1, 1, 2]), [0, 100, 100, 50]);
        assert_eq!(scores(&[2, 2]), [100, 100]);
        assert_eq!(scores(&[]), Vec::<i64>::new());
        assert_eq!(scores(&[0, u32::MAX]), [100, 0]);
    }
}
