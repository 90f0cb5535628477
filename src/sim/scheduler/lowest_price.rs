//! Score LowestPrice: prefer cheaper nodes.

use super::{NodeView, PodView, ScorePlugin, lowest_is_best_normalize};

/// kubetwin's cost policy from the KubeTwin paper ("lowest price"), not a kube-scheduler
/// plugin: among the feasible nodes, the cheapest per node-hour scores 100, the most
/// expensive 0, linearly in between (all equal: 100).
///
/// Raw scores are prices in millionths of the currency unit, so prices closer than
/// that count as equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct LowestPrice;

impl ScorePlugin for LowestPrice {
    fn name(&self) -> &'static str {
        "LowestPrice"
    }

    fn score(&self, _pod: &PodView, node: &NodeView) -> i64 {
        (node.price_per_hour * 1e6).round() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        lowest_is_best_normalize(scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{TestNode, TestPod};

    fn scores(prices: &[f64]) -> Vec<i64> {
        let pod = TestPod::new(0, 0);
        let mut s: Vec<i64> = prices
            .iter()
            .map(|&p| LowestPrice.score(&pod.view(), &TestNode::new("n", 1, 1).price(p).view()))
            .collect();
        LowestPrice.normalize(&mut s);
        s
    }

    #[test]
    fn cheapest_is_best_linearly() {
        assert_eq!(scores(&[0.10, 0.20, 0.50, 0.30]), [100, 75, 0, 50]);
        assert_eq!(scores(&[1.0, 0.0]), [0, 100]);
        assert_eq!(scores(&[0.42, 0.42]), [100, 100]);
        assert_eq!(scores(&[0.42]), [100]);
        assert_eq!(scores(&[0.1, 0.1000000001]), [100, 100]);
    }
}
