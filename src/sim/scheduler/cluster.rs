//! The scheduler over a cluster: per-template caches, the scheduling cycle, and the
//! state changes the engine reports.

use std::mem::take;
use std::ops::ControlFlow;

use rand::{Rng, RngExt};

use super::node_unschedulable::tolerates_cordon;
use k8s_openapi::api::core::v1::Taint;

use super::candidates::PositionSet;
use super::classes::{Best, ClassIndex};
use super::pod_topology_spread::Spread;
use super::{
    FilterPlugin, FilterResult, MAX_NODE_SCORE, Marks, NodeAffinity, NodeResourcesFit,
    NodeUnschedulable, NodeView, PodView, Scheduler, Scorer, TaintToleration, Unschedulable,
    count_reasons, node_tree_order, num_feasible_nodes_to_find,
};
use crate::model::resources::Resources;
use crate::sim::world::World;

/// What the scheduler keeps for one pod template.
pub(super) struct Template<'a> {
    pod: PodView<'a>,
    /// Whether the pod tolerates cordoned nodes.
    tolerates_cordon: bool,
    /// Per node: the verdict of the filters that read only the node's taints and labels
    /// (TaintToleration, then NodeAffinity).
    fixed: Vec<FilterResult>,
    /// Without an index: the positions in the node tree's order whose node may pass
    /// every filter but PodTopologySpread's ([`Scheduler::node_filter`]); the others do
    /// not. A bind can only make a candidate fail, so it is found out when the walk
    /// reaches it; a release or a change of taints can make any node pass, so it updates
    /// the node's candidacy. Built when the template loses its index.
    candidates: PositionSet,
    /// Why the last pod of this template found no node, while nothing has changed since
    /// (the [`Scheduler`]'s `generation` then).
    diagnosis: Option<(u64, Unschedulable)>,
    /// Per scorer (same index): for a score that reads only the node's labels, taints,
    /// price or tier, the raw score of every node.
    fixed_scores: Vec<FixedScore>,
    /// Per node: this template's pods there that count for spreading.
    on_node: Vec<u32>,
    /// Index into the scheduler's [`ResourceScores`].
    resources: usize,
    spread: Option<Spread>,
    /// The feasible nodes by score class, when a node's score depends only on its
    /// allocation score and its class (see the classes module): then a pod finds the
    /// best node of its sample without scoring the sample.
    index: Option<ClassIndex>,
    /// While there is an index: why the filters before PodTopologySpread's reject each
    /// node, counted.
    rejections: Rejections,
    /// How far into the scheduler's [`Changes`] the index is, or `None` before its
    /// first sync.
    synced: Option<u64>,
}

/// Per node, the first failing filter's reasons, and how many nodes give each reason.
pub(super) struct Rejections {
    verdicts: Vec<FilterResult>,
    counts: Vec<(&'static str, usize)>,
}

impl Rejections {
    fn new(nodes: usize) -> Self {
        Rejections {
            verdicts: vec![Ok(()); nodes],
            counts: Vec::new(),
        }
    }

    fn set(&mut self, n: usize, verdict: FilterResult) {
        let old = std::mem::replace(&mut self.verdicts[n], verdict);
        if old == verdict {
            return;
        }
        if let Err(reasons) = old {
            for reason in reasons {
                if let Some((_, count)) = self.counts.iter_mut().find(|(r, _)| r == reason) {
                    *count -= 1;
                }
            }
        }
        if let Err(reasons) = verdict {
            count_reasons(&mut self.counts, reasons, 1);
        }
    }
}

/// Scratch for placing a pod through a [`ClassIndex`]: a node's class key, a sample's
/// cover, the classes that pass DoNotSchedule constraints, each class's best, and the
/// tied classes.
#[derive(Default)]
pub(super) struct ClassScratch {
    key: Vec<i64>,
    cover: Vec<usize>,
    among: Vec<usize>,
    bests: Vec<Best>,
    tied: Vec<(usize, i32)>,
}

/// The nodes whose allocation, taints or pods changed, in order, for the class indexes
/// to catch up with. Bounded: past twice the node count it starts again, and the
/// indexes behind rebuild.
#[derive(Default)]
pub(super) struct Changes {
    /// The log's position of `nodes[0]`.
    base: u64,
    nodes: Vec<u32>,
    /// Scratch for [`Scheduler::sync`]: the nodes it has seen.
    seen: Marks,
}

/// A plugin's raw scores of every node for one template.
enum FixedScore {
    /// The plugin is not a static one.
    None,
    /// Every node scores the same, so the plugin cannot change the ranking.
    Constant(i64),
    PerNode(Vec<i64>),
}

impl FixedScore {
    fn of(raw: Vec<i64>) -> Self {
        match raw.first() {
            Some(&first) if raw.iter().all(|&r| r == first) => FixedScore::Constant(first),
            Some(_) => FixedScore::PerNode(raw),
            None => FixedScore::Constant(0),
        }
    }

    /// Node `n` of `nodes` now scores `raw`.
    fn set(&mut self, n: usize, nodes: usize, raw: i64) {
        match self {
            FixedScore::Constant(c) if *c != raw => {
                let mut all = vec![*c; nodes];
                all[n] = raw;
                *self = FixedScore::PerNode(all);
            }
            FixedScore::PerNode(all) => all[n] = raw,
            FixedScore::None | FixedScore::Constant(_) => {}
        }
    }
}

/// The weighted sum of the allocation-dependent scores (LeastAllocated,
/// MostAllocated, BalancedAllocation) of every node for one request size.
pub(super) struct ResourceScores {
    /// A template with these requests, whose view the plugins score.
    template: usize,
    total: Vec<i64>,
}

impl Scheduler<'_> {
    /// This scheduler for a cluster of `nodes` (their `allocated` is the starting
    /// allocation, usually zero) and the pod `templates` that will be scheduled, by
    /// index, with [`Scheduler::schedule`]. Nodes are taken in the node tree's order
    /// ([`node_tree_order`]); the first pod's filtering starts at the first of them.
    pub fn with_cluster<'b>(
        self,
        nodes: Vec<NodeView<'b>>,
        templates: Vec<PodView<'b>>,
    ) -> Scheduler<'b> {
        let mut domains = Vec::new();
        let mut resources: Vec<ResourceScores> = Vec::new();
        let mut cached = Vec::with_capacity(templates.len());
        for (t, pod) in templates.iter().enumerate() {
            let fixed = nodes
                .iter()
                .map(|node| {
                    TaintToleration
                        .filter(pod, node)
                        .and_then(|()| NodeAffinity.filter(pod, node))
                })
                .collect();
            let fixed_scores: Vec<_> = (self.scorers.iter())
                .map(|(scorer, _)| match scorer {
                    Scorer::Static(plugin) => {
                        FixedScore::of(nodes.iter().map(|n| plugin.score(pod, n)).collect())
                    }
                    Scorer::Resource(_) | Scorer::Spread => FixedScore::None,
                })
                .collect();
            let shared = resources
                .iter()
                .position(|r| templates[r.template].requests == pod.requests);
            let resources = shared.unwrap_or_else(|| {
                resources.push(ResourceScores {
                    template: t,
                    total: vec![0; nodes.len()],
                });
                resources.len() - 1
            });
            let spread = Spread::new(t, &templates, &nodes, &mut domains);
            let by_class = resource_scores_fit_i32(&self.scorers);
            cached.push(Template {
                pod: *pod,
                tolerates_cordon: tolerates_cordon(pod),
                fixed,
                candidates: PositionSet::new(nodes.len()),
                diagnosis: None,
                fixed_scores,
                on_node: vec![0; nodes.len()],
                resources,
                spread,
                index: by_class.then(|| ClassIndex::new(nodes.len())),
                rejections: Rejections::new(if by_class { nodes.len() } else { 0 }),
                synced: None,
            });
        }
        let order = node_tree_order(&nodes);
        let mut position = vec![0; nodes.len()];
        for (at, &n) in order.iter().enumerate() {
            position[n as usize] = at as u32;
        }
        let mut scheduler = Scheduler {
            scorers: self.scorers,
            percentage: self.percentage,
            order,
            position,
            generation: 0,
            nodes,
            templates: cached,
            resources,
            domains,
            next_start: 0,
            feasible: Vec::new(),
            stale: Vec::new(),
            totals: Vec::new(),
            plugin_scores: Vec::new(),
            by_class: ClassScratch::default(),
            changes: Changes::default(),
        };
        for n in 0..scheduler.nodes.len() {
            scheduler.rescore(n);
            scheduler.recheck(n);
        }
        scheduler
    }

    /// This scheduler for the nodes and Deployments of `world`, nothing bound yet.
    pub fn for_world<'b>(self, world: &'b World) -> Scheduler<'b> {
        let nodes = (world.nodes.iter())
            .map(|n| NodeView {
                name: &n.name,
                labels: &n.labels,
                taints: &n.taints,
                capacity: n.capacity,
                allocated: Resources::ZERO,
                price_per_hour: n.price_per_hour,
                tier: world.locations[n.location as usize].tier,
                unschedulable: n.unschedulable,
            })
            .collect();
        let templates = (world.deployments.iter())
            .map(|d| PodView {
                requests: d.requests,
                node_selector: d.node_selector.as_ref(),
                affinity: d.affinity.as_ref(),
                tolerations: &d.tolerations,
                labels: &d.labels,
                namespace: &d.namespace,
                spread_constraints: &d.topology_spread_constraints,
            })
            .collect();
        self.with_cluster(nodes, templates)
    }

    /// The node (an index into the cluster's nodes) a pod of template `t` binds to.
    ///
    /// The rng is drawn from only to break ties among equally best nodes (none when
    /// there is a single best node), so a given rng state gives a given choice. Once
    /// its buffers have grown, a call allocates nothing unless the pod is
    /// unschedulable. The caller binds the pod with [`Scheduler::bind`].
    ///
    /// # Errors
    ///
    /// [`Unschedulable`] with per-reason node counts when every node is filtered out.
    ///
    /// # Panics
    ///
    /// If `t` is not a template of [`Scheduler::with_cluster`].
    pub fn schedule<R: Rng + ?Sized>(
        &mut self,
        t: usize,
        rng: &mut R,
    ) -> Result<usize, Unschedulable> {
        let n = self.nodes.len();
        if n == 0 {
            return Err(Unschedulable {
                num_nodes: 0,
                reasons: Vec::new(),
            });
        }
        let to_find = if self.scorers.is_empty() {
            1
        } else {
            num_feasible_nodes_to_find(self.percentage, n)
        };
        if let Some(placed) = self.schedule_by_class(t, to_find, rng) {
            return placed;
        }
        // The walk passes over the nodes that are not candidates: they fail a filter.
        let (mut feasible, mut stale) = (take(&mut self.feasible), take(&mut self.stale));
        feasible.clear();
        let (start, mut processed) = (self.next_start, n);
        self.templates[t].candidates.walk(start, n, |at| {
            let node = self.order[at];
            if self.node_filter(t, node as usize).is_err() {
                stale.push(at);
            } else if self.spread_filter(t, node as usize).is_ok() {
                feasible.push(node);
                if feasible.len() == to_find {
                    processed = (at + n - start) % n + 1;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        for at in stale.drain(..) {
            self.templates[t].candidates.set(at, false);
        }
        (self.feasible, self.stale) = (feasible, stale);
        self.next_start = (self.next_start + processed) % n;
        match self.feasible.len() {
            0 => return Err(self.unschedulable(t)),
            1 => return Ok(self.feasible[0] as usize),
            _ => {}
        }
        self.score(t);
        let best = self.totals.iter().copied().max().unwrap_or(0);
        let ties = self.totals.iter().filter(|&&s| s == best).count();
        let pick = if ties > 1 {
            rng.random_range(0..ties)
        } else {
            0
        };
        let k = (self.totals.iter().enumerate())
            .filter(|&(_, &s)| s == best)
            .nth(pick)
            .map_or(0, |(k, _)| k);
        Ok(self.feasible[k] as usize)
    }

    /// [`Self::schedule`] with template `t`'s [`ClassIndex`], if it has one: the same
    /// node for the same draws, in O(classes · log nodes), or the same reasons.
    fn schedule_by_class<R: Rng + ?Sized>(
        &mut self,
        t: usize,
        to_find: usize,
        rng: &mut R,
    ) -> Option<Result<usize, Unschedulable>> {
        self.templates[t].index.as_ref()?;
        self.sync(t);
        let Scheduler {
            scorers,
            templates,
            domains,
            order,
            next_start,
            by_class:
                ClassScratch {
                    cover,
                    among,
                    bests,
                    tied,
                    ..
                },
            totals,
            plugin_scores,
            ..
        } = self;
        let template = &mut templates[t];
        let index = template.index.as_ref()?;
        // The keys: the static plugins' raw scores, then spreading's part.
        let spread_offset = (scorers.iter())
            .filter(|(scorer, _)| matches!(scorer, Scorer::Static(_)))
            .count();
        // With DoNotSchedule constraints, only the classes that pass them are feasible.
        let among = match &template.spread {
            Some(spread) if spread.filters() => {
                among.clear();
                among.extend(
                    (index.keys().enumerate())
                        .filter(|(_, key)| spread.class_filter(&key[spread_offset..]).is_ok())
                        .map(|(c, _)| c),
                );
                Some(&among[..])
            }
            _ => None,
        };
        let (n, start) = (order.len(), *next_start);
        let feasible = index.count(among).min(to_find);
        if feasible == 0 {
            let mut reasons = template.rejections.counts.clone();
            if let Some(spread) = &template.spread {
                for (c, key) in index.keys().enumerate() {
                    if let Err(failed) = spread.class_filter(&key[spread_offset..]) {
                        count_reasons(&mut reasons, failed, index.members_of(c));
                    }
                }
            }
            reasons.retain(|&(_, count)| count > 0);
            sort_reasons(&mut reasons);
            return Some(Err(Unschedulable {
                num_nodes: n,
                reasons,
            }));
        }
        let last = index.nth(start, feasible - 1, among);
        let processed = if feasible == to_find {
            (last + n - start) % n + 1
        } else {
            n
        };
        *next_start = (start + processed) % n;
        if feasible == 1 {
            return Some(Ok(order[last] as usize));
        }
        let last = if feasible == to_find {
            last
        } else {
            (start + n - 1) % n
        };
        index.cover(start, last, cover);
        bests.clear();
        bests.extend((0..index.keys().count()).map(|c| {
            if among.is_none_or(|among| among.contains(&c)) {
                index.best(c, cover)
            } else {
                Best::NONE
            }
        }));
        // The classes the sample has, with their keys, in the index's order.
        let present = || {
            (index.keys().zip(bests.iter()))
                .enumerate()
                .filter(|(_, (_, best))| best.count > 0)
        };
        totals.clear();
        totals.extend(present().map(|(_, (_, best))| i64::from(best.score)));
        let mut add = |weight: u32, scores: &[i64]| {
            for (total, &score) in totals.iter_mut().zip(scores) {
                *total += i64::from(weight) * score.clamp(0, MAX_NODE_SCORE);
            }
        };
        let mut statics = 0;
        for (k, (scorer, weight)) in scorers.iter().enumerate() {
            match scorer {
                Scorer::Resource(_) => {}
                Scorer::Static(plugin) => {
                    // Its normalization reads only each score and the sample's extremes,
                    // which the sample's classes have too.
                    if let FixedScore::PerNode(_) = template.fixed_scores[k] {
                        plugin_scores.clear();
                        plugin_scores.extend(present().map(|(_, (key, _))| key[statics]));
                        plugin.normalize(plugin_scores);
                        add(*weight, plugin_scores);
                    }
                    statics += 1;
                }
                Scorer::Spread => {
                    if let Some(spread) = template.spread.as_mut().filter(|s| s.scores()) {
                        let classes =
                            present().map(|(_, (key, best))| (&key[spread_offset..], best.members));
                        spread.class_scores(classes, domains, plugin_scores);
                        add(*weight, plugin_scores);
                    }
                }
            }
        }
        let best = (totals.iter().copied().max())
            .expect("a sample of two nodes or more has a class with members");
        tied.clear();
        tied.extend(
            (present().zip(totals.iter()))
                .filter(|&(_, &total)| total == best)
                .map(|((c, (_, b)), _)| (c, b.score)),
        );
        let ties: u32 = tied.iter().map(|&(c, _)| bests[c].count).sum();
        let pick = if ties > 1 {
            rng.random_range(0..ties)
        } else {
            0
        };
        let at = index.nth_tied(tied, cover, pick);
        Some(Ok(order[at] as usize))
    }

    /// Per template: whether it still places pods through its class index.
    #[cfg(test)]
    pub(super) fn indexed(&self) -> Vec<bool> {
        self.templates.iter().map(|t| t.index.is_some()).collect()
    }

    /// The filters' verdict on node `n` for a pod of template `t`, in the default
    /// profile's order.
    fn filter(&self, t: usize, n: usize) -> FilterResult {
        self.node_filter(t, n)?;
        self.spread_filter(t, n)
    }

    /// The verdict of the filters that read only node `n` and the template:
    /// NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit.
    fn node_filter(&self, t: usize, n: usize) -> FilterResult {
        let template = &self.templates[t];
        let node = &self.nodes[n];
        if node.unschedulable && !template.tolerates_cordon {
            return Err(&[NodeUnschedulable::REASON]);
        }
        template.fixed[n]?;
        NodeResourcesFit.filter(&template.pod, node)
    }

    /// PodTopologySpread's verdict, which reads where the template's peers run.
    fn spread_filter(&self, t: usize, n: usize) -> FilterResult {
        match &self.templates[t].spread {
            Some(spread) => spread.filter(n, &self.domains),
            None => Ok(()),
        }
    }

    /// Every node's first failing filter, counted, when no node is feasible. Failing
    /// changes nothing, so the pods of a template that wait in a row share one count.
    fn unschedulable(&mut self, t: usize) -> Unschedulable {
        if let Some((generation, diagnosis)) = &self.templates[t].diagnosis
            && *generation == self.generation
        {
            return diagnosis.clone();
        }
        let mut reasons = Vec::new();
        for n in 0..self.nodes.len() {
            if let Err(r) = self.filter(t, n) {
                count_reasons(&mut reasons, r, 1);
            }
        }
        sort_reasons(&mut reasons);
        let diagnosis = Unschedulable {
            num_nodes: self.nodes.len(),
            reasons,
        };
        self.templates[t].diagnosis = Some((self.generation, diagnosis.clone()));
        diagnosis
    }

    /// Node `n` may now host pods it could not: the candidacy there of every template
    /// without an index is checked again.
    fn recheck(&mut self, n: usize) {
        for t in 0..self.templates.len() {
            if self.templates[t].index.is_none() {
                self.recheck_one(t, n);
            }
        }
    }

    fn recheck_one(&mut self, t: usize, n: usize) {
        let member = self.node_filter(t, n).is_ok();
        let at = self.position[n] as usize;
        self.templates[t].candidates.set(at, member);
    }

    /// Node `n`'s allocation, taints or pods have changed. The class indexes learn it
    /// when their template next schedules ([`Self::sync`]), so a bind costs one entry in
    /// the log of changes, whatever the number of templates.
    fn changed(&mut self, n: usize) {
        let log = &mut self.changes;
        if log.nodes.len() == 2 * self.nodes.len() {
            log.base += log.nodes.len() as u64;
            log.nodes.clear();
        }
        log.nodes.push(n as u32);
    }

    /// Brings template `t`'s [`ClassIndex`] up to date with the nodes changed since its
    /// last sync, each once, or every node if the log has dropped some of them: at most
    /// O(log nodes) per change, amortized.
    fn sync(&mut self, t: usize) {
        let (base, end) = {
            let log = &self.changes;
            (log.base, log.base + log.nodes.len() as u64)
        };
        match self.templates[t].synced {
            Some(synced) if synced >= base => {
                self.changes.seen.start(self.nodes.len());
                for i in (synced - base) as usize..self.changes.nodes.len() {
                    let n = self.changes.nodes[i] as usize;
                    if self.changes.seen.mark(n) {
                        self.reindex(t, n);
                    }
                }
            }
            _ => {
                for n in 0..self.nodes.len() {
                    self.reindex(t, n);
                }
            }
        }
        self.templates[t].synced = Some(end);
    }

    /// Node `n`'s entry in template `t`'s [`ClassIndex`]. A template that meets more
    /// classes than the index keeps scores its samples from then on.
    fn reindex(&mut self, t: usize, n: usize) {
        let Some(index) = &self.templates[t].index else {
            return;
        };
        let at = self.position[n] as usize;
        let verdict = self.node_filter(t, n);
        let feasible = verdict.is_ok();
        let member = index.has(at);
        let template = &mut self.templates[t];
        template.rejections.set(n, verdict);
        if !feasible && !member {
            return;
        }
        // The key: each static plugin's raw score, in the profile's order, then what
        // spreading reads.
        let key = &mut self.by_class.key;
        key.clear();
        for ((scorer, _), fixed) in self.scorers.iter().zip(&template.fixed_scores) {
            match (scorer, fixed) {
                (Scorer::Static(_), FixedScore::PerNode(raw)) => key.push(raw[n]),
                (Scorer::Static(_), FixedScore::Constant(c)) => key.push(*c),
                _ => {}
            }
        }
        if let Some(spread) = &template.spread {
            spread.class_key(n, &self.domains, key);
        }
        let score = self.resources[template.resources].total[n] as i32;
        let index = template.index.as_mut().expect("checked above");
        if index
            .set(at, feasible.then_some((&key[..], score)))
            .is_err()
        {
            template.index = None;
            for n in 0..self.nodes.len() {
                self.recheck_one(t, n);
            }
        }
    }

    /// Fills `totals` with the weighted scores of the feasible nodes.
    fn score(&mut self, t: usize) {
        let Scheduler {
            scorers,
            templates,
            resources,
            domains,
            feasible,
            totals,
            plugin_scores,
            ..
        } = self;
        let template = &mut templates[t];
        totals.clear();
        totals.resize(feasible.len(), 0);
        let mut add = |weight: u32, scores: &[i64], name: &str| {
            for (total, &score) in totals.iter_mut().zip(scores) {
                debug_assert!(
                    (0..=MAX_NODE_SCORE).contains(&score),
                    "{name} scored {score}"
                );
                *total += i64::from(weight) * score.clamp(0, MAX_NODE_SCORE);
            }
        };
        let mut any_resource = false;
        for (k, (scorer, weight)) in scorers.iter().enumerate() {
            match scorer {
                Scorer::Resource(_) => any_resource = true,
                Scorer::Static(plugin) => {
                    if let FixedScore::PerNode(raw) = &template.fixed_scores[k] {
                        plugin_scores.clear();
                        plugin_scores.extend(feasible.iter().map(|&n| raw[n as usize]));
                        plugin.normalize(plugin_scores);
                        add(*weight, plugin_scores, plugin.name());
                    }
                }
                Scorer::Spread => {
                    if let Some(spread) = template.spread.as_mut().filter(|s| s.scores()) {
                        spread.score(feasible, domains, plugin_scores);
                        add(*weight, plugin_scores, scorer.name());
                    }
                }
            }
        }
        if any_resource {
            let cached = &resources[template.resources].total;
            for (total, &n) in totals.iter_mut().zip(feasible.iter()) {
                *total += cached[n as usize];
            }
        }
    }

    /// Recomputes node `n`'s allocation-dependent scores for every request size.
    fn rescore(&mut self, n: usize) {
        let node = &self.nodes[n];
        for r in &mut self.resources {
            let pod = &self.templates[r.template].pod;
            r.total[n] = (self.scorers.iter())
                .filter_map(|(scorer, weight)| match scorer {
                    Scorer::Resource(plugin) => {
                        let score = plugin.score(pod, node);
                        debug_assert!(
                            (0..=MAX_NODE_SCORE).contains(&score),
                            "{} scored {score}",
                            plugin.name()
                        );
                        Some(i64::from(*weight) * score.clamp(0, MAX_NODE_SCORE))
                    }
                    Scorer::Static(_) | Scorer::Spread => None,
                })
                .sum();
        }
    }

    /// A pod of template `t` is bound to node `n`: its requests are allocated there and
    /// it counts for spreading.
    pub fn bind(&mut self, t: usize, n: usize) {
        let requests = self.templates[t].pod.requests;
        self.allocate(n, requests, true);
        self.count(t, n, 1);
        self.changed(n);
    }

    /// A pod of template `t` on node `n` is being deleted: it no longer counts for
    /// spreading (kube skips terminating pods) but keeps its requests until
    /// [`Scheduler::release`].
    pub fn deleting(&mut self, t: usize, n: usize) {
        self.count(t, n, -1);
        self.changed(n);
    }

    /// A pod of template `t` on node `n` is gone: its requests are free again, and it
    /// stops counting for spreading unless [`Scheduler::deleting`] said so already.
    pub fn release(&mut self, t: usize, n: usize, was_deleting: bool) {
        let requests = self.templates[t].pod.requests;
        self.allocate(n, requests, false);
        if !was_deleting {
            self.count(t, n, -1);
        }
        self.changed(n);
    }

    /// Node `n`'s taints are now `taints` (a `NotReady` node gets the `unreachable`
    /// ones, and loses them when it is back): its filter verdicts and static scores are
    /// recomputed for every template, and spreading recounts its pods where a
    /// constraint honours taints.
    pub fn set_taints(&mut self, n: usize, taints: &[Taint]) {
        let node = NodeView {
            taints,
            ..self.nodes[n]
        };
        let nodes = self.nodes.len();
        for template in &mut self.templates {
            let pod = &template.pod;
            template.fixed[n] = TaintToleration
                .filter(pod, &node)
                .and_then(|()| NodeAffinity.filter(pod, &node));
            for ((scorer, _), fixed) in self.scorers.iter().zip(&mut template.fixed_scores) {
                if let Scorer::Static(plugin) = scorer {
                    fixed.set(n, nodes, plugin.score(pod, &node));
                }
            }
        }
        self.generation += 1;
        self.recheck(n);
        let on_node: Vec<u32> = self.templates.iter().map(|t| t.on_node[n]).collect();
        for template in &mut self.templates {
            if let Some(spread) = &mut template.spread {
                spread.retaint(&template.pod, &node, n, &on_node, &self.domains);
            }
        }
        self.changed(n);
    }

    /// The requests allocated on node `n`: the sum of its bound pods'.
    pub fn allocated(&self, n: usize) -> Resources {
        self.nodes[n].allocated
    }

    fn allocate(&mut self, n: usize, requests: Resources, add: bool) {
        let node = &mut self.nodes[n];
        node.allocated = if add {
            node.allocated.saturating_add(requests)
        } else {
            node.allocated.saturating_sub(requests)
        };
        self.rescore(n);
        self.generation += 1;
        if !add {
            self.recheck(n);
        }
    }

    fn count(&mut self, t: usize, n: usize, delta: i32) {
        self.generation += 1;
        let on_node = &mut self.templates[t].on_node[n];
        *on_node = on_node.strict_add_signed(delta);
        let domains = &self.domains;
        for template in &mut self.templates {
            if let Some(spread) = &mut template.spread {
                spread.bound(t, n, delta, domains);
            }
        }
    }
}

/// Whether the resource plugins' weighted sum fits the [`ClassIndex`]'s `i32` scores.
fn resource_scores_fit_i32(scorers: &[(Scorer, u32)]) -> bool {
    let weights: i64 = (scorers.iter())
        .filter(|(scorer, _)| matches!(scorer, Scorer::Resource(_)))
        .map(|&(_, weight)| i64::from(weight))
        .sum();
    weights * MAX_NODE_SCORE <= i64::from(i32::MAX)
}

/// The order of kube's message: by count, then reason, as text.
fn sort_reasons(reasons: &mut [(&'static str, usize)]) {
    reasons.sort_by_cached_key(|(reason, count)| format!("{count} {reason}"));
}
