//! The plugin registry: the always-on filters, and score plugins by name.

use thiserror::Error;

use super::{
    BalancedAllocation, FilterPlugin, LeastAllocated, LowestPrice, MostAllocated, NodeAffinity,
    NodeResourcesFit, NodeUnschedulable, PodTopologySpread, ScorePlugin, TaintToleration,
    TierPriority,
};

/// A [`crate::model::resources::SchedulerSpec`] that cannot become a scheduler. The
/// messages name the field path inside the spec (`score[1].name`).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SchedulerError {
    /// No score plugin has this name.
    #[error("score[{index}].name: unknown score plugin {name:?}; known plugins: {}", SCORE_PLUGIN_NAMES.join(", "))]
    UnknownPlugin {
        /// Position in the `score` list.
        index: usize,
        /// The name as written.
        name: String,
    },
    /// The plugin appears earlier in the list already.
    #[error("score[{index}].name: score plugin {name:?} is listed twice")]
    DuplicatePlugin {
        /// Position of the second occurrence in the `score` list.
        index: usize,
        /// The plugin name.
        name: String,
    },
    /// A weight of 0 would disable the plugin silently.
    #[error(
        "score[{index}].weight: must be >= 1 (plugin {name:?}); remove the plugin to disable it"
    )]
    ZeroWeight {
        /// Position in the `score` list.
        index: usize,
        /// The plugin name.
        name: String,
    },
    /// `percentageOfNodesToScore` is a percentage.
    #[error("percentageOfNodesToScore: must be between 0 and 100, got {value}")]
    Percentage {
        /// The value as written.
        value: u32,
    },
}

/// A score plugin as the scheduler runs it, by what its score depends on.
pub enum Scorer {
    /// Reads the node's allocation (LeastAllocated, MostAllocated, BalancedAllocation):
    /// recomputed for a node when its allocation changes.
    Resource(Box<dyn ScorePlugin>),
    /// Reads only the pod template and the node's labels, taints, price or tier
    /// (NodeAffinity, TaintToleration, LowestPrice, TierPriority): computed once per
    /// template and node; normalized over the nodes being scored.
    Static(Box<dyn ScorePlugin>),
    /// PodTopologySpread: reads where matching pods run and which nodes are scored.
    Spread,
}

impl Scorer {
    /// The name users write in [`crate::model::resources::SchedulerSpec`].
    pub fn name(&self) -> &'static str {
        match self {
            Scorer::Resource(p) | Scorer::Static(p) => p.name(),
            Scorer::Spread => PodTopologySpread::NAME,
        }
    }
}

type Constructor = fn() -> Scorer;

const SCORE_PLUGINS: [(&str, Constructor); 8] = [
    ("LeastAllocated", || {
        Scorer::Resource(Box::new(LeastAllocated))
    }),
    ("MostAllocated", || {
        Scorer::Resource(Box::new(MostAllocated))
    }),
    ("BalancedAllocation", || {
        Scorer::Resource(Box::new(BalancedAllocation))
    }),
    ("NodeAffinity", || Scorer::Static(Box::new(NodeAffinity))),
    ("TaintToleration", || {
        Scorer::Static(Box::new(TaintToleration))
    }),
    (PodTopologySpread::NAME, || Scorer::Spread),
    ("LowestPrice", || Scorer::Static(Box::new(LowestPrice))),
    ("TierPriority", || Scorer::Static(Box::new(TierPriority))),
];

/// The names [`score_plugin`] knows, in documentation order.
pub const SCORE_PLUGIN_NAMES: [&str; 8] = {
    let mut names = [""; 8];
    let mut i = 0;
    while i < SCORE_PLUGINS.len() {
        names[i] = SCORE_PLUGINS[i].0;
        i += 1;
    }
    names
};

/// The score plugin called `name` (case-sensitive), or `None` if there is none.
pub fn score_plugin(name: &str) -> Option<Scorer> {
    SCORE_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, make)| make())
}

/// The filters of kube-scheduler's default profile that kubetwin models and that judge
/// a node alone, in that profile's order: NodeUnschedulable, TaintToleration,
/// NodeAffinity, NodeResourcesFit. PodTopologySpread, which reads where other pods run,
/// follows them. The order decides which plugin's reason a rejected node reports.
pub fn default_filters() -> Vec<Box<dyn FilterPlugin>> {
    vec![
        Box::new(NodeUnschedulable),
        Box::new(TaintToleration),
        Box::new(NodeAffinity),
        Box::new(NodeResourcesFit),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resources::{SchedulerSpec, ScorePluginSpec};
    use crate::sim::scheduler::Scheduler;

    #[test]
    fn every_registered_name_builds_that_plugin() {
        for name in SCORE_PLUGIN_NAMES {
            assert_eq!(score_plugin(name).map(|p| p.name()), Some(name));
        }
        assert!(score_plugin("leastAllocated").is_none());
        let filters: Vec<_> = default_filters().iter().map(|f| f.name()).collect();
        assert_eq!(
            filters,
            [
                "NodeUnschedulable",
                "TaintToleration",
                "NodeAffinity",
                "NodeResourcesFit"
            ]
        );
    }

    fn error(score: Vec<ScorePluginSpec>) -> String {
        Scheduler::new(&SchedulerSpec {
            score,
            percentage_of_nodes_to_score: None,
        })
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn unknown_plugin_lists_known_names() {
        assert_eq!(
            error(vec![
                ScorePluginSpec::new("TierPriority", 10),
                ScorePluginSpec::new("Spread", 1)
            ]),
            "score[1].name: unknown score plugin \"Spread\"; known plugins: LeastAllocated, MostAllocated, \
             BalancedAllocation, NodeAffinity, TaintToleration, PodTopologySpread, LowestPrice, TierPriority"
        );
    }

    #[test]
    fn zero_weight_and_duplicates_are_rejected() {
        assert_eq!(
            error(vec![ScorePluginSpec::new("LowestPrice", 0)]),
            "score[0].weight: must be >= 1 (plugin \"LowestPrice\"); remove the plugin to disable it"
        );
        assert_eq!(
            error(vec![
                ScorePluginSpec::new("LeastAllocated", 1),
                ScorePluginSpec::new("LeastAllocated", 2)
            ]),
            "score[1].name: score plugin \"LeastAllocated\" is listed twice"
        );
    }

    #[test]
    fn valid_specs_keep_order_and_weights() {
        let scheduler = Scheduler::new(&SchedulerSpec::default()).unwrap();
        let plugins: Vec<_> = scheduler.score_plugins().collect();
        assert_eq!(
            plugins,
            [
                ("LeastAllocated", 1),
                ("BalancedAllocation", 1),
                ("NodeAffinity", 2),
                ("PodTopologySpread", 2),
                ("TaintToleration", 3)
            ]
        );
        let spec = |score, percentage| SchedulerSpec {
            score,
            percentage_of_nodes_to_score: Some(percentage),
        };
        assert!(Scheduler::new(&spec(vec![], 100)).is_ok());
        assert_eq!(
            Scheduler::new(&spec(vec![], 101)).unwrap_err().to_string(),
            "percentageOfNodesToScore: must be between 0 and 100, got 101"
        );
    }
}
