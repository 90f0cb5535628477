//! The straightforward scheduler the cached one must agree with: every cycle runs every
//! filter plugin on every node it looks at, and PodTopologySpread's PreFilter and
//! PreScore count the bound pods from scratch, as kube-scheduler's code reads.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Taint, TopologySpreadConstraint};
use rand::{Rng, RngExt};

use super::{
    FilterResult, MAX_NODE_SCORE, NodeView, PodTopologySpread, PodView, Scheduler, Scorer,
    TaintToleration, Unschedulable, count_reasons, default_filters, node_matches_requirements,
    node_tree_order, num_feasible_nodes_to_find, score_plugin, system_default_constraints,
};
use crate::k8s::selector::selects;
use crate::model::resources::SchedulerSpec;

/// A bound pod: its template, its node, and whether it is being deleted.
#[derive(Clone, Copy, Debug)]
struct Bound {
    template: usize,
    node: usize,
    deleting: bool,
}

pub struct Reference<'a> {
    scorers: Vec<(Scorer, u32)>,
    percentage: u32,
    pub nodes: Vec<NodeView<'a>>,
    templates: Vec<PodView<'a>>,
    pods: Vec<Bound>,
    next_start: usize,
}

impl<'a> Reference<'a> {
    pub fn new(
        spec: &SchedulerSpec,
        nodes: Vec<NodeView<'a>>,
        templates: Vec<PodView<'a>>,
    ) -> Self {
        // The same validation; the plugins themselves are the unit under test elsewhere.
        Scheduler::new(spec).unwrap();
        Reference {
            scorers: (spec.score.iter())
                .map(|p| (score_plugin(&p.name).unwrap(), p.weight))
                .collect(),
            percentage: spec.percentage_of_nodes_to_score.unwrap_or(0),
            nodes,
            templates,
            pods: Vec::new(),
            next_start: 0,
        }
    }

    pub fn bind(&mut self, template: usize, node: usize) {
        let requests = self.templates[template].requests;
        self.nodes[node].allocated = self.nodes[node].allocated.saturating_add(requests);
        self.pods.push(Bound {
            template,
            node,
            deleting: false,
        });
    }

    /// Marks the `k`-th bound pod as being deleted, unless it is already.
    pub fn deleting(&mut self, k: usize) -> Option<(usize, usize)> {
        let pod = &mut self.pods[k];
        (!std::mem::replace(&mut pod.deleting, true)).then_some((pod.template, pod.node))
    }

    /// Removes the `k`-th bound pod.
    pub fn release(&mut self, k: usize) -> (usize, usize, bool) {
        let pod = self.pods.remove(k);
        let requests = self.templates[pod.template].requests;
        let node = &mut self.nodes[pod.node];
        node.allocated = node.allocated.saturating_sub(requests);
        (pod.template, pod.node, pod.deleting)
    }

    pub fn bound(&self) -> usize {
        self.pods.len()
    }

    pub fn set_taints(&mut self, n: usize, taints: &'a [Taint]) {
        self.nodes[n].taints = taints;
    }

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
        let order = node_tree_order(&self.nodes);
        let to_find = if self.scorers.is_empty() {
            1
        } else {
            num_feasible_nodes_to_find(self.percentage, n)
        };
        let mut feasible = Vec::new();
        let mut reasons = Vec::new();
        let mut processed = 0;
        for i in 0..n {
            if feasible.len() == to_find {
                break;
            }
            let node = order[(self.next_start + i) % n] as usize;
            processed += 1;
            match self.filter(t, node) {
                Ok(()) => feasible.push(node),
                Err(r) => count_reasons(&mut reasons, r, 1),
            }
        }
        self.next_start = (self.next_start + processed) % n;
        match feasible.len() {
            0 => {
                reasons.sort_by_cached_key(|(reason, count)| format!("{count} {reason}"));
                return Err(Unschedulable {
                    num_nodes: n,
                    reasons,
                });
            }
            1 => return Ok(feasible[0]),
            _ => {}
        }
        let pod = self.templates[t];
        let mut totals = vec![0; feasible.len()];
        for (scorer, weight) in &self.scorers {
            let scores = match scorer {
                Scorer::Resource(p) | Scorer::Static(p) => {
                    let mut s: Vec<i64> = (feasible.iter())
                        .map(|&i| p.score(&pod, &self.nodes[i]))
                        .collect();
                    p.normalize(&mut s);
                    s
                }
                Scorer::Spread => self.spread_scores(t, &feasible),
            };
            for (total, score) in totals.iter_mut().zip(scores) {
                assert!((0..=MAX_NODE_SCORE).contains(&score));
                *total += i64::from(*weight) * score;
            }
        }
        let best = *totals.iter().max().unwrap();
        let tied: Vec<usize> = (0..feasible.len()).filter(|&k| totals[k] == best).collect();
        let pick = if tied.len() > 1 {
            rng.random_range(0..tied.len())
        } else {
            0
        };
        Ok(feasible[tied[pick]])
    }

    fn filter(&self, t: usize, node: usize) -> FilterResult {
        let pod = &self.templates[t];
        for f in default_filters() {
            f.filter(pod, &self.nodes[node])?;
        }
        self.spread_filter(t, node)
    }

    /// The template's own constraints of one kind, or the defaults for scoring a pod
    /// without any; whether they are the defaults.
    fn constraints(&self, t: usize, when: &str) -> (Vec<TopologySpreadConstraint>, bool) {
        let own = self.templates[t].spread_constraints;
        if own.is_empty() {
            let defaults = system_default_constraints().to_vec();
            return (
                if when == "ScheduleAnyway" {
                    defaults
                } else {
                    Vec::new()
                },
                true,
            );
        }
        (
            own.iter()
                .filter(|c| c.when_unsatisfiable == when)
                .cloned()
                .collect(),
            false,
        )
    }

    /// Whether a counted pod of template `s` matches constraint `c` of template `t`.
    fn matches(&self, c: &TopologySpreadConstraint, default: bool, t: usize, s: usize) -> bool {
        if default {
            return s == t;
        }
        let (pod, other) = (&self.templates[t], &self.templates[s]);
        let selected = match &c.label_selector {
            None => false,
            Some(sel)
                if sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                    && sel.match_expressions.as_ref().is_none_or(Vec::is_empty) =>
            {
                true
            }
            Some(sel) => selects(sel, other.labels),
        };
        other.namespace == pod.namespace
            && selected
            && c.match_label_keys.iter().flatten().all(|key| {
                if key == "pod-template-hash" {
                    s == t
                } else {
                    pod.labels
                        .get(key)
                        .is_none_or(|v| other.labels.get(key) == Some(v))
                }
            })
    }

    /// Matching pods (not being deleted) on node `m`.
    fn on_node(&self, c: &TopologySpreadConstraint, default: bool, t: usize, m: usize) -> i64 {
        (self.pods.iter())
            .filter(|p| p.node == m && !p.deleting && self.matches(c, default, t, p.template))
            .count() as i64
    }

    /// `matchNodeInclusionPolicies`.
    fn policies(&self, c: &TopologySpreadConstraint, t: usize, m: usize) -> bool {
        let (pod, node) = (&self.templates[t], &self.nodes[m]);
        (c.node_affinity_policy.as_deref() == Some("Ignore")
            || node_matches_requirements(pod, node))
            && (c.node_taints_policy.as_deref() != Some("Honor")
                || super::FilterPlugin::filter(&TaintToleration, pod, node).is_ok())
    }

    fn value(&self, m: usize, key: &str) -> Option<&str> {
        self.nodes[m].labels.get(key).map(String::as_str)
    }

    fn spread_filter(&self, t: usize, node: usize) -> FilterResult {
        let (hard, _) = self.constraints(t, "DoNotSchedule");
        let has_all = |m: usize| {
            hard.iter()
                .all(|c| self.value(m, &c.topology_key).is_some())
        };
        for c in &hard {
            // PreFilter: matching pods per value over the counted nodes.
            let mut per_value: BTreeMap<&str, i64> = BTreeMap::new();
            for m in 0..self.nodes.len() {
                if has_all(m) && self.policies(c, t, m) {
                    let v = self.value(m, &c.topology_key).unwrap();
                    *per_value.entry(v).or_default() += self.on_node(c, false, t, m);
                }
            }
            let Some(v) = self.value(node, &c.topology_key) else {
                return Err(&[PodTopologySpread::REASON_MISSING_LABEL]);
            };
            let min_domains = c.min_domains.unwrap_or(1) as usize;
            let min = if per_value.len() < min_domains {
                0
            } else {
                *per_value.values().min().unwrap()
            };
            let self_match = i64::from(self.matches(c, false, t, t));
            if per_value.get(v).copied().unwrap_or(0) + self_match - min > i64::from(c.max_skew) {
                return Err(&[PodTopologySpread::REASON]);
            }
        }
        Ok(())
    }

    fn spread_scores(&self, t: usize, feasible: &[usize]) -> Vec<i64> {
        let (soft, default) = self.constraints(t, "ScheduleAnyway");
        if soft.is_empty() {
            return vec![0; feasible.len()];
        }
        let has_all = |m: usize| {
            soft.iter()
                .all(|c| self.value(m, &c.topology_key).is_some())
        };
        let ignored = |m: usize| !default && !has_all(m);
        let considered: Vec<usize> = feasible.iter().copied().filter(|&m| !ignored(m)).collect();
        let mut weights = Vec::new();
        let mut counts: Vec<BTreeMap<&str, i64>> = Vec::new();
        for c in &soft {
            let mut per_value: BTreeMap<&str, i64> = BTreeMap::new();
            if c.topology_key != super::HOSTNAME_KEY {
                for &m in &considered {
                    per_value.insert(self.value(m, &c.topology_key).unwrap_or(""), 0);
                }
            }
            let size = if c.topology_key == super::HOSTNAME_KEY {
                considered.len()
            } else {
                per_value.len()
            };
            weights.push(((size + 2) as f64).ln());
            for m in 0..self.nodes.len() {
                if (!default && !has_all(m)) || !self.policies(c, t, m) {
                    continue;
                }
                let v = self.value(m, &c.topology_key).unwrap_or("");
                if let Some(count) = per_value.get_mut(v) {
                    *count += self.on_node(c, default, t, m);
                }
            }
            counts.push(per_value);
        }
        let raw: Vec<Option<i64>> = (feasible.iter())
            .map(|&m| {
                (!ignored(m)).then(|| {
                    let mut score = 0.0;
                    for (i, c) in soft.iter().enumerate() {
                        if let Some(v) = self.value(m, &c.topology_key) {
                            let count = if c.topology_key == super::HOSTNAME_KEY {
                                self.on_node(c, default, t, m)
                            } else {
                                counts[i][v]
                            };
                            score += count as f64 * weights[i] + f64::from(c.max_skew - 1);
                        }
                    }
                    score.round() as i64
                })
            })
            .collect();
        let max = raw.iter().flatten().copied().max().unwrap_or(0);
        let min = raw.iter().flatten().copied().min().unwrap_or(0);
        raw.iter()
            .map(|s| match *s {
                None => 0,
                Some(_) if max == 0 => MAX_NODE_SCORE,
                Some(s) => MAX_NODE_SCORE * (max + min - s) / max,
            })
            .collect()
    }
}
