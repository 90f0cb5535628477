//! PodTopologySpread: `topologySpreadConstraints` with `DoNotSchedule` as a filter, with
//! `ScheduleAnyway` (or the system defaults) as a score.

use std::collections::BTreeMap;
use std::mem::take;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::Marks;
use super::{
    FilterPlugin, FilterResult, MAX_NODE_SCORE, NodeView, PodView, TaintToleration,
    node_matches_requirements,
};
use crate::k8s::selector::selects;

/// kube-scheduler's PodTopologySpread plugin, reenacted over kubetwin's pods.
///
/// **Which pods count.** A constraint's `labelSelector` (absent: no pod; `{}`: every pod)
/// is matched against the template labels of the bound pods of the pod's namespace;
/// `matchLabelKeys` add `key = <the pod's value>` for each key the pod's labels have.
/// kubetwin pods carry no `pod-template-hash` label, but each Deployment has exactly one
/// ReplicaSet, so that key in `matchLabelKeys` restricts the count to the pod's own
/// Deployment, as it does in Kubernetes. Pods being deleted do not count (kube skips
/// terminating pods).
///
/// **Which nodes count.** A node's pods count toward its domain (its value of
/// `topologyKey`) if the node has every topology key of the pod's constraints of that
/// kind and passes the inclusion policies: `nodeAffinityPolicy` (default `Honor`: the
/// node must match the pod's `nodeSelector` and required node affinity) and
/// `nodeTaintsPolicy` (default `Ignore`; `Honor`: the pod must tolerate the node's
/// `NoSchedule`/`NoExecute` taints).
///
/// **Filter** (`DoNotSchedule` constraints): a node without the topology key is rejected
/// ([`Self::REASON_MISSING_LABEL`]); otherwise `matching pods in the node's domain + 1
/// (if the pod matches its own selector) - global minimum` must not exceed `maxSkew`,
/// the global minimum being the smallest count over the domains of the counted nodes,
/// or 0 when there are fewer such domains than `minDomains` (default 1).
///
/// **Score** (`ScheduleAnyway` constraints; with none of its own, the pod gets the
/// system defaults [`system_default_constraints`], which select the pods of its own
/// ReplicaSet): for each constraint whose key the node has, `count * ln(domains + 2) +
/// maxSkew - 1`, summed and rounded, where `count` is the matching pods in the node's
/// domain (for `kubernetes.io/hostname`, on the node itself) and `domains` the number of
/// distinct values among the feasible nodes being scored (for the hostname key, the
/// number of those nodes). Normalized as `100 * (max + min - score) / max` over the
/// scored nodes, so the emptiest domain scores 100. With the pod's own constraints,
/// feasible nodes lacking one of their keys score 0; with the system defaults, a node
/// without a zone label is still spread by hostname.
#[derive(Clone, Copy, Debug, Default)]
pub struct PodTopologySpread;

impl PodTopologySpread {
    /// The plugin's name in kube-scheduler and in [`crate::model::resources::SchedulerSpec`].
    pub const NAME: &'static str = "PodTopologySpread";
    /// The filter's reason when a domain would exceed `maxSkew`.
    pub const REASON: &'static str = "node(s) didn't match pod topology spread constraints";
    /// The filter's reason when the node lacks the topology key.
    pub const REASON_MISSING_LABEL: &'static str =
        "node(s) didn't match pod topology spread constraints (missing required label)";
}

/// The well-known hostname label, spread per node.
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
/// The well-known zone label.
pub const ZONE_KEY: &str = "topology.kubernetes.io/zone";

/// kube-scheduler's system default constraints (`systemDefaultConstraints` in the
/// plugin), applied as `ScheduleAnyway` to pods without constraints of their own:
/// hostname with `maxSkew` 3, zone with `maxSkew` 5.
pub fn system_default_constraints() -> [TopologySpreadConstraint; 2] {
    let soft = |key: &str, max_skew| TopologySpreadConstraint {
        topology_key: key.into(),
        max_skew,
        when_unsatisfiable: "ScheduleAnyway".into(),
        ..TopologySpreadConstraint::default()
    };
    [soft(HOSTNAME_KEY, 3), soft(ZONE_KEY, 5)]
}

/// Checks a pod template's `topologySpreadConstraints` as the API server would, so that
/// the scheduler never meets one it cannot evaluate.
///
/// # Errors
///
/// `(field path below the constraints list, message)`, e.g.
/// `("[1].maxSkew", "must be >= 1, got 0")`.
pub fn validate_constraints(
    constraints: &[TopologySpreadConstraint],
) -> Result<(), (String, String)> {
    for (i, c) in constraints.iter().enumerate() {
        let err = |field: &str, message: String| Err((format!("[{i}].{field}"), message));
        if c.max_skew < 1 {
            return err("maxSkew", format!("must be >= 1, got {}", c.max_skew));
        }
        if c.topology_key.is_empty() {
            return err("topologyKey", "must not be empty".into());
        }
        let hard = match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" => true,
            "ScheduleAnyway" => false,
            other => {
                return err(
                    "whenUnsatisfiable",
                    format!("must be DoNotSchedule or ScheduleAnyway, got {other:?}"),
                );
            }
        };
        match c.min_domains {
            Some(m) if m < 1 => return err("minDomains", format!("must be >= 1, got {m}")),
            Some(_) if !hard => {
                return err(
                    "minDomains",
                    "may only be set with whenUnsatisfiable: DoNotSchedule".into(),
                );
            }
            _ => {}
        }
        for (field, policy) in [
            ("nodeAffinityPolicy", &c.node_affinity_policy),
            ("nodeTaintsPolicy", &c.node_taints_policy),
        ] {
            if let Some(p) = policy.as_deref()
                && p != "Honor"
                && p != "Ignore"
            {
                return err(field, format!("must be Honor or Ignore, got {p:?}"));
            }
        }
        let expressions = (c.label_selector.iter())
            .flat_map(|s| s.match_expressions.iter().flatten())
            .enumerate();
        for (j, r) in expressions {
            let values = r.values.as_deref().unwrap_or(&[]);
            let ok = match r.operator.as_str() {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            if !ok {
                return err(
                    &format!("labelSelector.matchExpressions[{j}]"),
                    format!(
                        "operator {:?} with {} value(s): In and NotIn need values, Exists \
                         and DoesNotExist none",
                        r.operator,
                        values.len()
                    ),
                );
            }
        }
        if let Some(j) = constraints[..i].iter().position(|d| {
            d.topology_key == c.topology_key && d.when_unsatisfiable == c.when_unsatisfiable
        }) {
            return err(
                "topologyKey",
                format!("constraint [{j}] has the same topologyKey and whenUnsatisfiable already"),
            );
        }
    }
    Ok(())
}

/// The node label values of one topology key as dense ids (in node order of first
/// appearance); a node without the label gets the id of `""`, as kube reads it.
#[derive(Debug)]
pub(super) struct Domains {
    pub key: String,
    /// Per node: its domain id.
    pub of: Vec<u32>,
    /// Per node: whether it has the label at all.
    pub has: Vec<bool>,
    /// Number of distinct ids.
    pub len: usize,
    /// Per id: how many nodes have it.
    size: Vec<u32>,
    /// Scratch for counting distinct domains in a sample.
    seen: Marks,
}

impl Domains {
    pub fn new(key: &str, nodes: &[NodeView]) -> Self {
        let mut ids: BTreeMap<&str, u32> = BTreeMap::new();
        let mut of = Vec::with_capacity(nodes.len());
        let mut has = Vec::with_capacity(nodes.len());
        for node in nodes {
            let value = node.labels.get(key);
            has.push(value.is_some());
            let next = ids.len() as u32;
            of.push(*ids.entry(value.map_or("", String::as_str)).or_insert(next));
        }
        let mut size = vec![0; ids.len()];
        for &id in &of {
            size[id as usize] += 1;
        }
        Domains {
            key: key.into(),
            len: ids.len(),
            size,
            seen: Marks::default(),
            of,
            has,
        }
    }
}

/// One constraint of one pod template, resolved against the cluster, with the counts of
/// matching pods that [`Spread::bound`] keeps current.
#[derive(Debug)]
struct Constraint {
    max_skew: i64,
    min_domains: u32,
    /// Index into the domains list.
    key: usize,
    hostname: bool,
    /// Per template: whether its pods match the selector.
    matches: Vec<bool>,
    /// Whether the pod matches its own selector.
    self_match: bool,
    /// Per node: whether its pods count toward its domain.
    include: Vec<bool>,
    /// Per node: whether it would count but for its taints (the keys and node affinity
    /// allow it).
    eligible: Vec<bool>,
    /// Whether `nodeTaintsPolicy` is `Honor`.
    honor_taints: bool,
    /// Matching pods per domain, over the included nodes.
    counts: Vec<u32>,
    /// Filters only: how many domains of included nodes have each count (index), the
    /// number of such domains and the smallest count among them, and per domain the
    /// number of included nodes.
    histogram: Vec<u32>,
    members: Vec<u32>,
    domains: u32,
    min: u32,
    /// Hostname scores only: matching pods per node, included or not.
    on_node: Vec<u32>,
}

impl Constraint {
    /// The smallest count over the domains of counted nodes, or 0 with fewer such
    /// domains than `minDomains`.
    fn global_min(&self) -> i64 {
        if self.domains < self.min_domains {
            0
        } else {
            i64::from(self.min)
        }
    }

    /// Adds `delta` matching pods to domain `d`.
    fn add(&mut self, d: usize, delta: i64) {
        let present = self.members.get(d).is_some_and(|&m| m > 0);
        self.set(d, delta, present, present);
    }

    /// Adds `delta` to domain `d`'s count, which was (`was`) and is (`now`) a domain
    /// of counted nodes or not, keeping the filter's histogram and minimum.
    fn set(&mut self, d: usize, delta: i64, was: bool, now: bool) {
        let before = self.counts[d];
        let after = u32::try_from(i64::from(before) + delta).expect("pod counts stay >= 0");
        self.counts[d] = after;
        if self.histogram.is_empty() {
            return;
        }
        if was {
            self.histogram[before as usize] -= 1;
        }
        if now {
            if self.histogram.len() <= after as usize {
                self.histogram.resize(after as usize + 1, 0);
            }
            self.histogram[after as usize] += 1;
            self.min = self.min.min(after);
        }
        self.domains = self.domains + u32::from(now) - u32::from(was);
        while (self.min as usize) < self.histogram.len() - 1
            && self.histogram[self.min as usize] == 0
        {
            self.min += 1;
        }
    }
}

/// The spreading state of one pod template: its filtering and scoring constraints.
#[derive(Debug)]
pub(super) struct Spread {
    hard: Vec<Constraint>,
    soft: Vec<Constraint>,
    /// Per node: whether it is scored at all (it has every key of the pod's own soft
    /// constraints); `None` with the system defaults, which score every node.
    scored: Option<Vec<bool>>,
    /// Scratch for [`Spread::score`]: each soft constraint's normalizing weight.
    weights: Vec<f64>,
}

/// Resolves template `t`'s constraints of one kind (`DoNotSchedule` or
/// `ScheduleAnyway`), with the system defaults for a pod without constraints.
fn rules(pod: &PodView, when: &str) -> (Vec<TopologySpreadConstraint>, bool) {
    if pod.spread_constraints.is_empty() {
        let defaults = if when == "ScheduleAnyway" {
            system_default_constraints().to_vec()
        } else {
            Vec::new()
        };
        return (defaults, true);
    }
    let own = pod.spread_constraints.iter();
    (
        own.filter(|c| c.when_unsatisfiable == when)
            .cloned()
            .collect(),
        false,
    )
}

/// Whether a constraint's label selector matches `labels`: an absent selector matches
/// nothing and an empty one everything, as apimachinery's `LabelSelectorAsSelector`.
fn selector_matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    match selector {
        None => false,
        Some(s)
            if s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                && s.match_expressions.as_ref().is_none_or(Vec::is_empty) =>
        {
            true
        }
        Some(s) => selects(s, labels),
    }
}

/// Per template: whether its pods count for constraint `c` of template `t`.
fn matching_templates(
    c: &TopologySpreadConstraint,
    system_default: bool,
    t: usize,
    templates: &[PodView],
) -> Vec<bool> {
    let pod = &templates[t];
    (0..templates.len())
        .map(|s| {
            if system_default {
                // The default selector is that of the pod's ReplicaSet and Services;
                // the ReplicaSet's `pod-template-hash` makes it select its own pods only.
                return s == t;
            }
            let other = &templates[s];
            let keys = c.match_label_keys.iter().flatten();
            other.namespace == pod.namespace
                && selector_matches(c.label_selector.as_ref(), other.labels)
                && keys.into_iter().all(|key| {
                    if key == "pod-template-hash" {
                        s == t
                    } else {
                        pod.labels
                            .get(key)
                            .is_none_or(|v| other.labels.get(key) == Some(v))
                    }
                })
        })
        .collect()
}

/// The index of `key` in `domains`, added if new.
fn domain_index(domains: &mut Vec<Domains>, key: &str, nodes: &[NodeView]) -> usize {
    match domains.iter().position(|d| d.key == key) {
        Some(i) => i,
        None => {
            domains.push(Domains::new(key, nodes));
            domains.len() - 1
        }
    }
}

impl Spread {
    /// The state of template `t` in an empty cluster, or `None` if it has no
    /// constraints (its own or the defaults) of either kind.
    pub fn new(
        t: usize,
        templates: &[PodView],
        nodes: &[NodeView],
        domains: &mut Vec<Domains>,
    ) -> Option<Self> {
        let pod = &templates[t];
        let build = |when: &str, domains: &mut Vec<Domains>| -> (Vec<Constraint>, bool) {
            let (list, system_default) = rules(pod, when);
            let keys: Vec<usize> = (list.iter())
                .map(|c| domain_index(domains, &c.topology_key, nodes))
                .collect();
            let has_all = |n: usize| keys.iter().all(|&k| domains[k].has[n]);
            let constraints = list
                .iter()
                .zip(&keys)
                .map(|(c, &key)| {
                    let matches = matching_templates(c, system_default, t, templates);
                    let honor_affinity = c.node_affinity_policy.as_deref() != Some("Ignore");
                    let honor_taints = c.node_taints_policy.as_deref() == Some("Honor");
                    // The defaults score nodes without a zone label too (kube requires
                    // every key only for the pod's own constraints or for filtering).
                    let require_all = when == "DoNotSchedule" || !system_default;
                    let eligible: Vec<bool> = (nodes.iter().enumerate())
                        .map(|(n, node)| {
                            (!require_all || has_all(n))
                                && (!honor_affinity || node_matches_requirements(pod, node))
                        })
                        .collect();
                    let include: Vec<bool> = (nodes.iter().zip(&eligible))
                        .map(|(node, &e)| {
                            e && (!honor_taints || TaintToleration.filter(pod, node).is_ok())
                        })
                        .collect();
                    let d = &domains[key];
                    let mut members = vec![0; d.len];
                    for (n, &inc) in include.iter().enumerate() {
                        members[d.of[n] as usize] += u32::from(inc);
                    }
                    let count = members.iter().filter(|&&m| m > 0).count() as u32;
                    let hard = when == "DoNotSchedule";
                    let hostname = c.topology_key == HOSTNAME_KEY;
                    Constraint {
                        max_skew: i64::from(c.max_skew),
                        min_domains: c.min_domains.map_or(1, |m| m as u32),
                        key,
                        hostname,
                        self_match: matches[t],
                        matches,
                        include,
                        eligible,
                        honor_taints,
                        counts: vec![0; d.len],
                        histogram: if hard { vec![count] } else { Vec::new() },
                        members: if hard { members } else { Vec::new() },
                        domains: count,
                        min: 0,
                        on_node: if hostname && when == "ScheduleAnyway" {
                            vec![0; nodes.len()]
                        } else {
                            Vec::new()
                        },
                    }
                })
                .collect();
            (constraints, system_default)
        };
        let (hard, _) = build("DoNotSchedule", domains);
        let (soft, system_default) = build("ScheduleAnyway", domains);
        if hard.is_empty() && soft.is_empty() {
            return None;
        }
        let scored = (!system_default && !soft.is_empty()).then(|| {
            (0..nodes.len())
                .map(|n| soft.iter().all(|c| domains[c.key].has[n]))
                .collect()
        });
        Some(Spread {
            hard,
            soft,
            scored,
            weights: Vec::new(),
        })
    }

    /// Whether the pod has `ScheduleAnyway` constraints (or the defaults) to score.
    pub fn scores(&self) -> bool {
        !self.soft.is_empty()
    }

    /// A pod of template `s` starts (`delta = 1`) or stops (`-1`) counting on node `n`.
    pub fn bound(&mut self, s: usize, n: usize, delta: i32, domains: &[Domains]) {
        for c in &mut self.hard {
            if c.matches[s] && c.include[n] {
                c.add(domains[c.key].of[n] as usize, i64::from(delta));
            }
        }
        for c in &mut self.soft {
            if !c.matches[s] {
                continue;
            }
            if c.hostname {
                c.on_node[n] = c.on_node[n].strict_add_signed(delta);
            } else if c.include[n] {
                c.add(domains[c.key].of[n] as usize, i64::from(delta));
            }
        }
    }

    /// Node `n` (of template `pod`) has new taints (`node`): constraints that honour
    /// taints include or exclude it now, with `on_node[s]` pods of each template `s`.
    pub fn retaint(
        &mut self,
        pod: &PodView,
        node: &NodeView,
        n: usize,
        on_node: &[u32],
        domains: &[Domains],
    ) {
        let tolerated = TaintToleration.filter(pod, node).is_ok();
        for c in self.hard.iter_mut().chain(&mut self.soft) {
            if !c.honor_taints || c.include[n] == (c.eligible[n] && tolerated) {
                continue;
            }
            let include = !c.include[n];
            c.include[n] = include;
            let pods: u32 = (c.matches.iter().zip(on_node))
                .filter(|&(&m, _)| m)
                .map(|(_, &k)| k)
                .sum();
            let delta = if include { 1 } else { -1 };
            let d = domains[c.key].of[n] as usize;
            if let Some(members) = c.members.get_mut(d) {
                let was = *members > 0;
                *members = members.strict_add_signed(delta);
                let now = *members > 0;
                c.set(d, i64::from(delta) * i64::from(pods), was, now);
            } else if c.on_node.is_empty() {
                // (A soft hostname constraint counts the node's own pods, included or
                // not.)
                c.add(d, i64::from(delta) * i64::from(pods));
            }
        }
    }

    /// The `DoNotSchedule` verdict for node `n`.
    pub fn filter(&self, n: usize, domains: &[Domains]) -> FilterResult {
        for c in &self.hard {
            let d = &domains[c.key];
            if !d.has[n] {
                return Err(&[PodTopologySpread::REASON_MISSING_LABEL]);
            }
            let skew =
                i64::from(c.counts[d.of[n] as usize]) + i64::from(c.self_match) - c.global_min();
            if skew > c.max_skew {
                return Err(&[PodTopologySpread::REASON]);
            }
        }
        Ok(())
    }

    /// The normalized scores of the `feasible` nodes, in their order, into `out`
    /// (PreScore, Score and NormalizeScore at once).
    pub fn score(&mut self, feasible: &[u32], domains: &mut [Domains], out: &mut Vec<i64>) {
        out.clear();
        let scored = |n: usize| self.scored.as_ref().is_none_or(|s| s[n]);
        let considered = feasible.iter().filter(|&&n| scored(n as usize)).count();
        self.weights.clear();
        for c in &self.soft {
            let size = if c.hostname {
                considered
            } else {
                let d = &mut domains[c.key];
                let ids = (feasible.iter())
                    .filter(|&&n| scored(n as usize))
                    .map(|&n| d.of[n as usize]);
                distinct(&mut d.seen, d.len, ids)
            };
            self.weights.push(((size + 2) as f64).ln());
        }
        for &n in feasible {
            let n = n as usize;
            out.push(if scored(n) {
                raw(&self.soft, &self.weights, |_, c| {
                    let d = &domains[c.key];
                    d.has[n].then(|| {
                        if c.hostname {
                            c.on_node[n]
                        } else {
                            c.counts[d.of[n] as usize]
                        }
                    })
                })
            } else {
                INVALID
            });
        }
        normalize(out);
    }

    /// Appends to `key` what node `n`'s score and verdict depend on besides the cluster's
    /// counts per domain. Per `ScheduleAnyway` constraint: its matching pods for a
    /// hostname one ([`NO_KEY`] without the label), or its domain id for another (twice
    /// the id, plus one if the node has the key). Per `DoNotSchedule` constraint: its
    /// domain's id and 0, or, for a domain of this node alone, [`ALONE`] and its count
    /// ([`NO_KEY`] and 0 without the label).
    pub fn class_key(&self, n: usize, domains: &[Domains], key: &mut Vec<i64>) {
        key.extend(self.soft.iter().map(|c| {
            let d = &domains[c.key];
            match (c.hostname, d.has[n]) {
                (true, true) => i64::from(c.on_node[n]),
                (true, false) => NO_KEY,
                (false, has) => i64::from(d.of[n]) << 1 | i64::from(has),
            }
        }));
        for c in &self.hard {
            let d = &domains[c.key];
            let id = d.of[n] as usize;
            key.extend(match (d.has[n], d.size[id]) {
                (false, _) => [NO_KEY, 0],
                (true, 1) => [ALONE, i64::from(c.counts[id])],
                (true, _) => [id as i64, 0],
            });
        }
    }

    /// Whether the pod has `DoNotSchedule` constraints.
    pub fn filters(&self) -> bool {
        !self.hard.is_empty()
    }

    /// The `DoNotSchedule` verdict for the nodes of a class (by key, as
    /// [`Self::class_key`]): [`Self::filter`]'s for each of them.
    pub fn class_filter(&self, key: &[i64]) -> FilterResult {
        let hard = &key[self.soft.len()..];
        for (c, domain) in self.hard.iter().zip(hard.chunks_exact(2)) {
            let count = match domain[0] {
                NO_KEY => return Err(&[PodTopologySpread::REASON_MISSING_LABEL]),
                ALONE => domain[1],
                id => i64::from(c.counts[id as usize]),
            };
            if count + i64::from(c.self_match) - c.global_min() > c.max_skew {
                return Err(&[PodTopologySpread::REASON]);
            }
        }
        Ok(())
    }

    /// The normalized scores, into `out`, of the nodes of each class of a sample that
    /// has `members` nodes of each class (`(key, members)`, the key as
    /// [`Self::class_key`]) and no others: what [`Self::score`] gives each of them.
    pub fn class_scores<'k>(
        &mut self,
        classes: impl Iterator<Item = (&'k [i64], u32)> + Clone,
        domains: &mut [Domains],
        out: &mut Vec<i64>,
    ) {
        // With the pod's own constraints, a node lacking one of their keys is not scored.
        let system_default = self.scored.is_none();
        let scored = |key: &[i64]| {
            system_default
                || (self.soft.iter().zip(key))
                    .all(|(c, &k)| if c.hostname { k != NO_KEY } else { k & 1 == 1 })
        };
        let considered: u32 = (classes.clone())
            .filter(|(key, _)| scored(key))
            .map(|(_, members)| members)
            .sum();
        let mut weights = take(&mut self.weights);
        weights.clear();
        for (i, c) in self.soft.iter().enumerate() {
            let size = if c.hostname {
                considered as usize
            } else {
                let d = &mut domains[c.key];
                let ids = (classes.clone())
                    .filter(|(key, _)| scored(key))
                    .map(|(key, _)| (key[i] >> 1) as u32);
                distinct(&mut d.seen, d.len, ids)
            };
            weights.push(((size + 2) as f64).ln());
        }
        out.clear();
        out.extend(classes.map(|(key, _)| {
            if !scored(key) {
                return INVALID;
            }
            raw(&self.soft, &weights, |i, c| match (c.hostname, key[i]) {
                (true, NO_KEY) => None,
                (true, pods) => Some(pods as u32),
                (false, k) => (k & 1 == 1).then(|| c.counts[(k >> 1) as usize]),
            })
        }));
        self.weights = weights;
        normalize(out);
    }
}

/// A class key for a node without the topology key.
const NO_KEY: i64 = -1;
/// A `DoNotSchedule` class key for a domain of one node, followed by its count.
const ALONE: i64 = -2;

/// How many distinct domain `ids` (below `len`) there are, with `seen` as scratch.
fn distinct(seen: &mut Marks, len: usize, ids: impl Iterator<Item = u32>) -> usize {
    seen.start(len);
    ids.filter(|&id| seen.mark(id as usize)).count()
}

/// A node's raw score, from the `ScheduleAnyway` constraints with their `weights` and
/// `count(i, constraint)`: the matching pods that count for the `i`th, or `None` if the
/// node lacks its key.
fn raw(
    soft: &[Constraint],
    weights: &[f64],
    count: impl Fn(usize, &Constraint) -> Option<u32>,
) -> i64 {
    let mut score = 0.0;
    for (i, (c, &w)) in soft.iter().zip(weights).enumerate() {
        if let Some(count) = count(i, c) {
            score += f64::from(count) * w + (c.max_skew - 1) as f64;
        }
    }
    round(score)
}

/// NormalizeScore: `100 * (max + min - score) / max` over the scored nodes, 0 for the
/// others ([`INVALID`]).
fn normalize(scores: &mut [i64]) {
    let (mut min, mut max) = (i64::MAX, 0);
    for &s in scores.iter().filter(|&&s| s != INVALID) {
        min = min.min(s);
        max = max.max(s);
    }
    for s in scores {
        *s = if *s == INVALID {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *s) / max
        };
    }
}

/// kube's `invalidScore`: a node the plugin does not score.
const INVALID: i64 = -1;

/// `x.round() as i64` (half away from zero, as Go's `math.Round`) for `0 <= x < 2^63`,
/// without the call to libm's `round` that baseline x86-64 makes for `f64::round`: it
/// took an eighth of placing pods at scale. `x - trunc(x)` is exact for such `x`.
fn round(x: f64) -> i64 {
    let whole = x as i64;
    whole + i64::from(x - whole as f64 >= 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_matches_f64_round_on_nonnegative_scores() {
        let below_half = 0.5f64.next_down();
        let mut xs = vec![
            0.0,
            below_half,
            0.5,
            1.5,
            2.5,
            2.0f64.next_down(),
            4503599627370495.5,
        ];
        xs.extend((0..100_000).map(|i| f64::from(i) * 0.173_205_080_756_887_72));
        xs.extend((0..1000).map(|i| f64::from(i) + 0.5));
        xs.extend((0..1000).map(|i| (f64::from(i) + 0.5).next_down()));
        for x in xs {
            assert_eq!(round(x), x.round() as i64, "{x:e}");
        }
    }
    use crate::sim::scheduler::testing::{TestNode, TestPod, views};

    fn constraint(key: &str, skew: i32, when: &str) -> TopologySpreadConstraint {
        TopologySpreadConstraint {
            topology_key: key.into(),
            max_skew: skew,
            when_unsatisfiable: when.into(),
            label_selector: Some(LabelSelector::default()),
            ..TopologySpreadConstraint::default()
        }
    }

    #[test]
    fn defaults_are_kube_schedulers() {
        let [host, zone] = system_default_constraints();
        assert_eq!(
            (host.topology_key.as_str(), host.max_skew),
            (HOSTNAME_KEY, 3)
        );
        assert_eq!((zone.topology_key.as_str(), zone.max_skew), (ZONE_KEY, 5));
        assert_eq!(zone.when_unsatisfiable, "ScheduleAnyway");
    }

    #[test]
    fn validation_names_the_field() {
        let ok = constraint(ZONE_KEY, 1, "DoNotSchedule");
        assert_eq!(validate_constraints(std::slice::from_ref(&ok)), Ok(()));
        let bad = |c: TopologySpreadConstraint| validate_constraints(&[ok.clone(), c]).unwrap_err();
        assert_eq!(
            bad(constraint(HOSTNAME_KEY, 0, "DoNotSchedule")),
            ("[1].maxSkew".into(), "must be >= 1, got 0".into())
        );
        assert_eq!(
            bad(constraint(HOSTNAME_KEY, 1, "Never")).0,
            "[1].whenUnsatisfiable"
        );
        assert_eq!(bad(constraint("", 1, "DoNotSchedule")).0, "[1].topologyKey");
        assert_eq!(
            bad(constraint(ZONE_KEY, 2, "DoNotSchedule")),
            (
                "[1].topologyKey".into(),
                "constraint [0] has the same topologyKey and whenUnsatisfiable already".into()
            )
        );
        let soft_min = TopologySpreadConstraint {
            min_domains: Some(2),
            ..constraint(HOSTNAME_KEY, 1, "ScheduleAnyway")
        };
        assert_eq!(bad(soft_min).0, "[1].minDomains");
        let policy = TopologySpreadConstraint {
            node_taints_policy: Some("honor".into()),
            ..constraint(HOSTNAME_KEY, 1, "ScheduleAnyway")
        };
        assert_eq!(bad(policy).0, "[1].nodeTaintsPolicy");
    }

    fn zoned(name: &str, zone: Option<&str>) -> TestNode {
        let node = TestNode::new(name, 4, 4).label(HOSTNAME_KEY, name);
        match zone {
            Some(z) => node.label(ZONE_KEY, z),
            None => node,
        }
    }

    /// The normalized scores of every node for a pod of template 0, after binding one
    /// pod of template 0 on each of `bound`.
    fn scores(nodes: &[TestNode], pod: TestPod, bound: &[usize]) -> Vec<i64> {
        let nodes = views(nodes);
        let templates = [pod.view()];
        let mut domains = Vec::new();
        let mut spread = Spread::new(0, &templates, &nodes, &mut domains).unwrap();
        for &n in bound {
            spread.bound(0, n, 1, &domains);
        }
        let all: Vec<u32> = (0..nodes.len() as u32).collect();
        let mut out = Vec::new();
        spread.score(&all, &mut domains, &mut out);
        out
    }

    #[test]
    fn default_scores_follow_kube_formula() {
        // Weights: hostname ln(3 + 2) = 1.609, zone (a, b) ln(2 + 2) = 1.386. Raw: n1 holds
        // the pod, 1.609 + 2 + 1.386 + 4 = 9.0 -> 9; n2 shares its zone, 2 + 1.386 + 4 =
        // 7.4 -> 7; n3 has neither, 6. Normalized 100 (9 + 6 - s) / 9.
        let nodes = [
            zoned("n1", Some("a")),
            zoned("n2", Some("a")),
            zoned("n3", Some("b")),
        ];
        assert_eq!(scores(&nodes, TestPod::new(100, 0), &[0]), [66, 88, 100]);
        // A node without a zone is still spread by hostname, and its "" zone counts as a
        // domain. Weights: hostname ln(4 + 2) = 1.792, zone ln(3 + 2) = 1.609. Raw: n1
        // 1.792 + 2 + 1.609 + 4 = 9.4 -> 9; n2 7.6 -> 8; n3 6; n4 (hostname only) 2.
        let mut four = nodes.to_vec();
        four.push(zoned("n4", None));
        assert_eq!(scores(&four, TestPod::new(100, 0), &[0]), [22, 33, 55, 100]);
        // The pod's own soft constraint on zones ignores nodes without the label: zone
        // weight ln(2 + 2), raw 1.386 -> 1 in zone a, 0 in b.
        let own = TestPod::new(100, 0).pod_label("app", "web").spread(
            ZONE_KEY,
            1,
            "ScheduleAnyway",
            "web",
        );
        assert_eq!(scores(&four, own, &[0]), [0, 0, 100, 0]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(13),
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Scoring a sample's classes gives each node what scoring its nodes does, with
        /// the defaults or the pod's own constraints, nodes lacking keys, and counts
        /// high enough for every weight to matter.
        #[test]
        fn classes_score_as_their_nodes(
            labels in proptest::collection::vec((0u8..10, 0u8..4), 2..40),
            own in proptest::option::of((1i32..4, 1i32..4, proptest::bool::ANY)),
            bound in proptest::collection::vec(0usize..40, 0..300),
            sampled in proptest::collection::vec(proptest::bool::ANY, 40),
        ) {
            let nodes: Vec<TestNode> = (labels.iter().enumerate())
                .map(|(i, &(host, zone))| {
                    let name = format!("n{i}");
                    let mut node = TestNode::new(&name, 4, 4);
                    if host > 0 {
                        node = node.label(HOSTNAME_KEY, &name);
                    }
                    if zone > 0 {
                        node = node.label(ZONE_KEY, &format!("z{zone}"));
                    }
                    node
                })
                .collect();
            let mut pod = TestPod::new(100, 0).pod_label("app", "web");
            if let Some((host_skew, zone_skew, both)) = own {
                pod = pod.spread(ZONE_KEY, zone_skew, "ScheduleAnyway", "web");
                if both {
                    pod = pod.spread(HOSTNAME_KEY, host_skew, "ScheduleAnyway", "web");
                }
            }
            let views = views(&nodes);
            let templates = [pod.view()];
            let mut domains = Vec::new();
            let mut spread = Spread::new(0, &templates, &views, &mut domains).unwrap();
            for &n in &bound {
                spread.bound(0, n % nodes.len(), 1, &domains);
            }
            let mut sample: Vec<u32> = (0..nodes.len() as u32)
                .filter(|&n| sampled[n as usize])
                .collect();
            if sample.is_empty() {
                sample.push(0);
            }
            let mut by_node = Vec::new();
            spread.score(&sample, &mut domains, &mut by_node);
            let mut classes: Vec<(Vec<i64>, u32)> = Vec::new();
            let mut class_of = Vec::new();
            for &n in &sample {
                let mut key = Vec::new();
                spread.class_key(n as usize, &domains, &mut key);
                let c = classes.iter().position(|(k, _)| *k == key).unwrap_or_else(|| {
                    classes.push((key, 0));
                    classes.len() - 1
                });
                classes[c].1 += 1;
                class_of.push(c);
            }
            let mut by_class = Vec::new();
            let keys = classes.iter().map(|(key, members)| (&key[..], *members));
            spread.class_scores(keys, &mut domains, &mut by_class);
            let expected: Vec<i64> = class_of.iter().map(|&c| by_class[c]).collect();
            proptest::prop_assert_eq!(by_node, expected);
        }
    }

    #[test]
    fn selectors_follow_apimachinery() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "a".to_string())].into();
        assert!(!selector_matches(None, &labels));
        assert!(selector_matches(Some(&LabelSelector::default()), &labels));
        let other = LabelSelector {
            match_labels: Some([("app".to_string(), "b".to_string())].into()),
            ..LabelSelector::default()
        };
        assert!(!selector_matches(Some(&other), &labels));
    }
}
