//! The pod scheduler: kube-scheduler's filter-and-score framework, reenacted as pure
//! functions.
//!
//! For every pod to place, [`Scheduler::schedule`] runs, as kube-scheduler's
//! `schedulePod` does:
//!
//! 1. **Filter**: every [`FilterPlugin`] must accept the node, in the default profile's
//!    order NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit. The first
//!    plugin that rejects a node gives its reasons, which are counted across nodes for the
//!    [`Unschedulable`] message (`0/475 nodes are available: 3 Insufficient cpu, ...`).
//! 2. If exactly one node is feasible, it is chosen without scoring.
//! 3. **Score**: each enabled [`ScorePlugin`] scores every feasible node, normalizes the
//!    scores to `0..=`[`MAX_NODE_SCORE`], and the node's total is the sum of
//!    `weight * score`.
//! 4. **Select**: the highest total wins; ties are broken uniformly at random by reservoir
//!    sampling, as in kube-scheduler's `selectHost`, drawing from the caller's rng so the
//!    choice is reproducible for a given seed.
//!
//! Not modeled: `percentageOfNodesToScore` (kubetwin scores every feasible node, as
//! kube-scheduler does with the setting at 100), the pod-count limit, host ports,
//! volumes, inter-pod affinity, topology spread, and preemption.
//!
//! # Caller's duties
//!
//! The scheduler is pure: it never changes a node. The engine keeps one [`NodeView`] per
//! node for the whole run (labels and taints borrowed from the scenario) and, after
//! binding a pod to `nodes[i]`, does `nodes[i].allocated += pod.requests`; when the pod
//! terminates it subtracts them again. See [`Scheduler::schedule`] for buffer reuse.

mod balanced_allocation;
mod least_allocated;
mod lowest_price;
mod most_allocated;
mod node_affinity;
mod node_unschedulable;
mod registry;
mod resources_fit;
mod taint_toleration;
mod tier_priority;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Affinity, PodSpec, Taint, Toleration};
use rand::{Rng, RngExt};

use crate::model::resources::{Resources, SchedulerSpec};

pub use balanced_allocation::BalancedAllocation;
pub use least_allocated::LeastAllocated;
pub use lowest_price::LowestPrice;
pub use most_allocated::MostAllocated;
pub use node_affinity::{NodeAffinity, node_matches_requirements};
pub use node_unschedulable::NodeUnschedulable;
pub use registry::{SCORE_PLUGIN_NAMES, SchedulerError, default_filters, score_plugin};
pub use resources_fit::NodeResourcesFit;
pub use taint_toleration::{TaintToleration, tolerates};
pub use tier_priority::TierPriority;

/// The highest score a plugin gives a node after normalization (kube's `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;

/// What the scheduler sees of a node: a borrowed, allocation-free snapshot.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// Node name (`metadata.name`, matched by `matchFields`).
    pub name: &'a str,
    /// Node labels, matched by `nodeSelector` and node affinity.
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

/// What the scheduler sees of a pod.
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
}

impl<'a> PodView<'a> {
    /// The view of `spec` with already computed `requests`.
    pub fn from_spec(spec: &'a PodSpec, requests: Resources) -> Self {
        PodView {
            requests,
            node_selector: spec.node_selector.as_ref(),
            affinity: spec.affinity.as_ref(),
            tolerations: spec.tolerations.as_deref().unwrap_or(&[]),
        }
    }
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
    /// raw scores already lie in that range.
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

/// A validated scheduler: the always-on filters, the weighted score plugins, and scratch
/// buffers reused across calls. It is `Send + Sync`; give each simulation run its own.
pub struct Scheduler {
    filters: Vec<Box<dyn FilterPlugin>>,
    scorers: Vec<(Box<dyn ScorePlugin>, u32)>,
    feasible: Vec<usize>,
    plugin_scores: Vec<i64>,
    totals: Vec<i64>,
    reasons: Vec<(&'static str, usize)>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field(
                "filters",
                &self.filters.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field("score", &self.score_plugins().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Validates `spec` into a scheduler with the default filters.
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] for an unknown plugin name (the message lists the known
    /// ones), a plugin listed twice, or a weight of 0.
    pub fn new(spec: &SchedulerSpec) -> Result<Self, SchedulerError> {
        let mut scorers: Vec<(Box<dyn ScorePlugin>, u32)> = Vec::with_capacity(spec.score.len());
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
        Ok(Scheduler {
            filters: default_filters(),
            scorers,
            feasible: Vec::new(),
            plugin_scores: Vec::new(),
            totals: Vec::new(),
            reasons: Vec::new(),
        })
    }

    /// The enabled score plugins with their weights, in configuration order.
    pub fn score_plugins(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.scorers.iter().map(|(s, w)| (s.name(), *w))
    }

    /// Index (into `nodes`) of the node the pod binds to.
    ///
    /// Takes `&mut self` only to reuse internal buffers: once they have grown to the
    /// largest node set, a call allocates nothing unless the pod is unschedulable. The
    /// rng is drawn from only to break ties among equally best nodes (none when there is
    /// a single best node), so a given rng state gives a given choice.
    ///
    /// # Errors
    ///
    /// [`Unschedulable`] with per-reason node counts when every node is filtered out.
    pub fn schedule<R: Rng + ?Sized>(
        &mut self,
        pod: &PodView,
        nodes: &[NodeView],
        rng: &mut R,
    ) -> Result<usize, Unschedulable> {
        self.feasible.clear();
        self.reasons.clear();
        for (index, node) in nodes.iter().enumerate() {
            match self
                .filters
                .iter()
                .map(|f| f.filter(pod, node))
                .find(Result::is_err)
            {
                Some(Err(reasons)) => count_reasons(&mut self.reasons, reasons),
                _ => self.feasible.push(index),
            }
        }
        match self.feasible.len() {
            0 => return Err(self.unschedulable(nodes.len())),
            1 => return Ok(self.feasible[0]),
            _ => {}
        }
        self.totals.clear();
        self.totals.resize(self.feasible.len(), 0);
        for (plugin, weight) in &self.scorers {
            self.plugin_scores.clear();
            self.plugin_scores
                .extend(self.feasible.iter().map(|&i| plugin.score(pod, &nodes[i])));
            plugin.normalize(&mut self.plugin_scores);
            for (total, &score) in self.totals.iter_mut().zip(&self.plugin_scores) {
                debug_assert!(
                    (0..=MAX_NODE_SCORE).contains(&score),
                    "{} scored {score}",
                    plugin.name()
                );
                *total += i64::from(*weight) * score.clamp(0, MAX_NODE_SCORE);
            }
        }
        let mut best = 0;
        let mut ties = 0u32;
        for (k, &total) in self.totals.iter().enumerate() {
            if k == 0 || total > self.totals[best] {
                best = k;
                ties = 1;
            } else if total == self.totals[best] {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = k;
                }
            }
        }
        Ok(self.feasible[best])
    }

    fn unschedulable(&self, num_nodes: usize) -> Unschedulable {
        let mut reasons = self.reasons.clone();
        reasons.sort_by_cached_key(|(reason, count)| format!("{count} {reason}"));
        Unschedulable { num_nodes, reasons }
    }
}

fn count_reasons(counts: &mut Vec<(&'static str, usize)>, reasons: &[&'static str]) {
    for &reason in reasons {
        match counts.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => counts.push((reason, 1)),
        }
    }
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
