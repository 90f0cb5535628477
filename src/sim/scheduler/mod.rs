//! The pod scheduler: kube-scheduler's filter-and-score framework, reenacted.
//!
//! For every pod to place, [`Scheduler::schedule`] runs, as kube-scheduler's
//! `schedulePod` does with one worker:
//!
//! 1. **Filter**, walking the nodes in the order of kube's node tree (zones round-robin,
//!    see [`node_tree_order`]) from where the previous pod stopped
//!    (`nextStartNodeIndex`), until [`num_feasible_nodes_to_find`] nodes are feasible
//!    (`percentageOfNodesToScore`; every node below 100 nodes) or every node has been
//!    seen. Filters in the default profile's order: NodeUnschedulable, TaintToleration,
//!    NodeAffinity, NodeResourcesFit, PodTopologySpread. The first plugin that rejects a
//!    node gives its reasons, counted across nodes for the [`Unschedulable`] message
//!    (`0/475 nodes are available: 3 Insufficient cpu, ...`).
//! 2. If exactly one node is feasible, it is chosen without scoring; with no score
//!    plugin at all, the first feasible node found is.
//! 3. **Score**: each enabled score plugin scores the feasible nodes, normalizes the
//!    scores to `0..=`[`MAX_NODE_SCORE`], and a node's total is the sum of
//!    `weight * score`. The default profile is kube-scheduler's as far as kubetwin
//!    models it: `LeastAllocated` 1, `BalancedAllocation` 1, `NodeAffinity` 2,
//!    `PodTopologySpread` 2 (with kube's system default constraints for pods without
//!    their own), `TaintToleration` 3.
//! 4. **Select**: the highest total wins; ties are broken uniformly at random. kube's
//!    `selectHost` draws once per tie (reservoir sampling); kubetwin draws once per pod
//!    among the tied nodes in scan order, the same uniform choice, from the caller's rng
//!    so the choice is reproducible for a given seed.
//!
//! Not modeled: the pod-count limit, host ports, volumes, inter-pod affinity, image
//! locality, nominated nodes, preemption, and kube's default requests for containers
//! without requests (100m CPU, 200 MB) in scoring. PodTopologySpread's limits are on
//! [`PodTopologySpread`].
//!
//! # State and speed
//!
//! The scheduler keeps the cluster's state that placement depends on: each node's
//! allocation and taints, and where each pod template's pods run (the engine calls
//! [`Scheduler::bind`], [`Scheduler::deleting`], [`Scheduler::release`] and
//! [`Scheduler::set_taints`]). Pods of one template (a Deployment) are
//! interchangeable, so what does not change during a run is computed once per template
//! and node: the taint and node-affinity filters, the scores that depend only on the
//! node's labels, taints, price or tier, which nodes count for spreading. The
//! allocation-dependent scores are cached per node for each distinct request size and
//! recomputed for one node when its allocation changes; spreading counts change by one
//! domain per bind. A template that scores its samples (see below for when) keeps the
//! set of nodes that may pass every filter but PodTopologySpread (module `candidates`:
//! a release or a change of taints rechecks the node, a node a bind has filled is
//! dropped when a walk meets it), so the filter walk jumps over the nodes that cannot
//! host the pod instead of looking at each: in a full cluster those are most of them.
//!
//! A pod's cycle does not score its sample node by node. kube normalizes NodeAffinity,
//! TaintToleration and PodTopologySpread over each pod's sample, so the sample decides
//! the winner. But a node's total depends only on its allocation score and its class
//! (its static plugins' raw scores and what spreading reads), and each normalizer reads
//! only each score and the sample's extremes. So each template indexes its feasible
//! nodes by class (module `classes`): segment trees over the node tree's positions give
//! the sample's end, each class's best, and the tied node the draw names in
//! O(classes · log nodes), the node scoring the sample would pick. Binds reach the
//! indexes through a log each template applies when it next schedules, with the
//! reasons each node rejects the template, so a pod that fits nowhere is told why in
//! O(classes) too. A template whose nodes fall into more than 64 classes at once, or a
//! profile whose resource weights overflow the index's `i32` scores, walks and scores
//! as described above; there an unschedulable pod's count of reasons is shared by the
//! pods of its template that fail while nothing changes.

mod balanced_allocation;
mod candidates;
mod classes;
mod cluster;
mod least_allocated;
mod lowest_price;
mod most_allocated;
mod node_affinity;
mod node_unschedulable;
mod pod_topology_spread;
mod registry;
mod resources_fit;
mod sampling;
mod taint_toleration;
mod tier_priority;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Affinity, Taint, Toleration, TopologySpreadConstraint};

use crate::model::resources::{Resources, SchedulerSpec};

pub use balanced_allocation::BalancedAllocation;
pub use least_allocated::LeastAllocated;
pub use lowest_price::LowestPrice;
pub use most_allocated::MostAllocated;
pub use node_affinity::{NodeAffinity, node_matches_requirements};
pub use node_unschedulable::NodeUnschedulable;
pub use pod_topology_spread::{
    HOSTNAME_KEY, PodTopologySpread, ZONE_KEY, system_default_constraints, validate_constraints,
};
pub use registry::{SCORE_PLUGIN_NAMES, SchedulerError, Scorer, default_filters, score_plugin};
pub use resources_fit::NodeResourcesFit;
pub use sampling::{node_tree_order, num_feasible_nodes_to_find};
pub use taint_toleration::{TaintToleration, tolerates};
pub use tier_priority::TierPriority;

use cluster::{Changes, ClassScratch, ResourceScores, Template};
use pod_topology_spread::Domains;

/// The highest score a plugin gives a node after normalization (kube's `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;

/// What the scheduler sees of a node: a borrowed, allocation-free snapshot.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// Node name (`metadata.name`, matched by `matchFields`).
    pub name: &'a str,
    /// Node labels, matched by `nodeSelector`, node affinity and topology keys.
    pub labels: &'a BTreeMap<String, String>,
    /// Node taints (`spec.taints`).
    pub taints: &'a [Taint],
    /// Allocatable resources (Kubernetes' `status.allocatable`).
    pub capacity: Resources,
    /// Sum of the requests of the pods bound to this node.
    pub allocated: Resources,
    /// Price per node-hour, in the scenario's currency (used by `LowestPrice`).
    pub price_per_hour: f64,
    /// Proximity tier: 0 is the local edge (MEC), then regional tiers, then remote cloud.
    pub tier: u32,
    /// Whether the node is cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
}

impl NodeView<'_> {
    /// Resources still free: `capacity - allocated`, zero where allocation exceeds
    /// capacity.
    pub fn free(&self) -> Resources {
        self.capacity.saturating_sub(self.allocated)
    }
}

/// What the scheduler sees of a pod template (a Deployment's pods).
#[derive(Clone, Copy, Debug)]
pub struct PodView<'a> {
    /// The pod's effective requests (see [`crate::k8s::quantity::pod_requests`]).
    pub requests: Resources,
    /// `spec.nodeSelector`: every label must be present on the node with that value.
    pub node_selector: Option<&'a BTreeMap<String, String>>,
    /// `spec.affinity`; only its node affinity is used.
    pub affinity: Option<&'a Affinity>,
    /// `spec.tolerations`.
    pub tolerations: &'a [Toleration],
    /// The pod's labels (matched by spread constraints' selectors).
    pub labels: &'a BTreeMap<String, String>,
    /// The pod's namespace: spread constraints count pods of the same namespace.
    pub namespace: &'a str,
    /// `spec.topologySpreadConstraints`, checked by [`validate_constraints`].
    pub spread_constraints: &'a [TopologySpreadConstraint],
}

/// A filter's verdict: `Err` holds the reasons in kube-scheduler's wording (e.g.
/// `"Insufficient cpu"`), static so that rejecting a node never allocates.
pub type FilterResult = Result<(), &'static [&'static str]>;

/// A hard constraint: a node that any filter rejects cannot host the pod.
pub trait FilterPlugin: Send + Sync {
    /// The plugin's kube-scheduler name, e.g. `NodeResourcesFit`.
    fn name(&self) -> &'static str;
    /// Accept the node, or reject it with reasons.
    fn filter(&self, pod: &PodView, node: &NodeView) -> FilterResult;
}

/// A preference: ranks the feasible nodes.
pub trait ScorePlugin: Send + Sync {
    /// The name users write in [`SchedulerSpec`], e.g. `LeastAllocated`.
    fn name(&self) -> &'static str;
    /// The raw score of one feasible node.
    fn score(&self, pod: &PodView, node: &NodeView) -> i64;
    /// Maps the raw scores of all feasible nodes (in node order) into
    /// `0..=`[`MAX_NODE_SCORE`]. The default leaves them as they are, for plugins whose
    /// raw scores already lie in that range. A node's normalized score may depend only
    /// on its raw score and the smallest and largest raw scores: the scheduler
    /// normalizes one score per class of nodes, not per node.
    fn normalize(&self, scores: &mut [i64]) {
        let _ = scores;
    }
}

/// kube-scheduler's `DefaultNormalizeScore`: scales scores so that the maximum becomes
/// [`MAX_NODE_SCORE`] (integer division); with `reverse`, `MAX_NODE_SCORE - score`. When
/// every score is zero they stay zero, or all become `MAX_NODE_SCORE` with `reverse`.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for score in scores {
        *score = MAX_NODE_SCORE * *score / max;
        if reverse {
            *score = MAX_NODE_SCORE - *score;
        }
    }
}

/// Linear min-max scaling where the **lowest** raw value scores [`MAX_NODE_SCORE`] and
/// the highest scores 0 (integer division); all equal scores become `MAX_NODE_SCORE`.
pub fn lowest_is_best_normalize(scores: &mut [i64]) {
    let (Some(&min), Some(&max)) = (scores.iter().min(), scores.iter().max()) else {
        return;
    };
    for score in scores {
        *score = if max == min {
            MAX_NODE_SCORE
        } else {
            (i128::from(MAX_NODE_SCORE) * (i128::from(max) - i128::from(*score))
                / (i128::from(max) - i128::from(min))) as i64
        };
    }
}

/// No node can host the pod; `Display` gives kube-scheduler's `FailedScheduling` text
/// (without the `preemption:` part, as kubetwin does not preempt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unschedulable {
    /// How many nodes were considered.
    pub num_nodes: usize,
    /// Each rejection reason with the number of nodes it applied to, sorted like
    /// kube-scheduler's message (by the text `"<count> <reason>"`).
    pub reasons: Vec<(&'static str, usize)>,
}

impl fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{} nodes are available:", self.num_nodes)?;
        for (i, (reason, count)) in self.reasons.iter().enumerate() {
            write!(f, "{} {count} {reason}", if i == 0 { "" } else { "," })?;
        }
        f.write_str(".")
    }
}

impl std::error::Error for Unschedulable {}

/// A validated scheduler profile and, once it has a cluster
/// ([`Scheduler::with_cluster`]), the state of that cluster that placement depends on.
/// It is `Send + Sync`; give each simulation run its own.
pub struct Scheduler<'a> {
    scorers: Vec<(Scorer, u32)>,
    /// `percentageOfNodesToScore`; 0 is adaptive.
    percentage: u32,
    nodes: Vec<NodeView<'a>>,
    /// Node indices in the node tree's order.
    order: Vec<u32>,
    /// Each node's position in `order`.
    position: Vec<u32>,
    /// Counts the changes to the cluster's state, so that a cached verdict can tell
    /// whether it still holds.
    generation: u64,
    templates: Vec<Template<'a>>,
    resources: Vec<ResourceScores>,
    domains: Vec<Domains>,
    /// Position in `order` where the next pod's filtering starts.
    next_start: usize,
    feasible: Vec<u32>,
    /// Candidates the walk found failing, removed after it.
    stale: Vec<usize>,
    totals: Vec<i64>,
    plugin_scores: Vec<i64>,
    by_class: ClassScratch,
    changes: Changes,
}

impl fmt::Debug for Scheduler<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field(
                "filters",
                &default_filters()
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>(),
            )
            .field("score", &self.score_plugins().collect::<Vec<_>>())
            .field("percentage_of_nodes_to_score", &self.percentage)
            .field("nodes", &self.nodes.len())
            .field("templates", &self.templates.len())
            .finish_non_exhaustive()
    }
}

impl Scheduler<'static> {
    /// Validates `spec` into a scheduler with the default filters and no cluster yet.
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] for an unknown plugin name (the message lists the known
    /// ones), a plugin listed twice, a weight of 0, or a percentage above 100.
    pub fn new(spec: &SchedulerSpec) -> Result<Self, SchedulerError> {
        let mut scorers: Vec<(Scorer, u32)> = Vec::with_capacity(spec.score.len());
        for (index, plugin) in spec.score.iter().enumerate() {
            let name = || plugin.name.clone();
            let scorer =
                score_plugin(&plugin.name).ok_or_else(|| SchedulerError::UnknownPlugin {
                    index,
                    name: name(),
                })?;
            if scorers.iter().any(|(s, _)| s.name() == scorer.name()) {
                return Err(SchedulerError::DuplicatePlugin {
                    index,
                    name: name(),
                });
            }
            if plugin.weight == 0 {
                return Err(SchedulerError::ZeroWeight {
                    index,
                    name: name(),
                });
            }
            scorers.push((scorer, plugin.weight));
        }
        let percentage = spec.percentage_of_nodes_to_score.unwrap_or(0);
        if percentage > 100 {
            return Err(SchedulerError::Percentage { value: percentage });
        }
        Ok(Scheduler {
            scorers,
            percentage,
            nodes: Vec::new(),
            order: Vec::new(),
            position: Vec::new(),
            generation: 0,
            templates: Vec::new(),
            resources: Vec::new(),
            domains: Vec::new(),
            next_start: 0,
            feasible: Vec::new(),
            stale: Vec::new(),
            totals: Vec::new(),
            plugin_scores: Vec::new(),
            by_class: ClassScratch::default(),
            changes: Changes::default(),
        })
    }
}

impl Scheduler<'_> {
    /// The enabled score plugins with their weights, in configuration order.
    pub fn score_plugins(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.scorers.iter().map(|(s, w)| (s.name(), *w))
    }
}

/// Which of `0..len` are marked in the current round, with a new round in O(1): each
/// slot holds the round that last marked it.
#[derive(Debug, Default)]
struct Marks {
    round: Vec<u32>,
    current: u32,
}

impl Marks {
    /// Starts a round over `0..len` with nothing marked.
    fn start(&mut self, len: usize) {
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.round.fill(0);
            self.current = 1;
        }
        self.round.resize(len, 0);
    }

    /// Marks `i`: whether it was not marked yet this round.
    fn mark(&mut self, i: usize) -> bool {
        let first = self.round[i] != self.current;
        self.round[i] = self.current;
        first
    }
}

/// Adds `nodes` nodes rejected for each of `reasons` to `counts`.
fn count_reasons(counts: &mut Vec<(&'static str, usize)>, reasons: &[&'static str], nodes: usize) {
    for &reason in reasons {
        match counts.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += nodes,
            None => counts.push((reason, nodes)),
        }
    }
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
