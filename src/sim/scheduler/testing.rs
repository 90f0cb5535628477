//! Test fixtures: owned nodes and pods that lend [`NodeView`]s and [`PodView`]s.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PreferredSchedulingTerm, Taint, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{NodeView, PodView, Scheduler};
use crate::model::resources::Resources;
use crate::model::resources::{SchedulerSpec, ScorePluginSpec};

pub const GI: u64 = 1 << 30;

/// A node owning what a [`NodeView`] borrows.
#[derive(Clone, Debug, Default)]
pub struct TestNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub capacity: Resources,
    pub allocated: Resources,
    pub price_per_hour: f64,
    pub tier: u32,
    pub unschedulable: bool,
}

impl TestNode {
    /// `name` with `cores` CPUs and `gib` GiB of memory, nothing allocated.
    pub fn new(name: &str, cores: u64, gib: u64) -> Self {
        TestNode {
            name: name.into(),
            capacity: Resources::new(cores * 1000, gib * GI),
            ..Default::default()
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.taints.push(taint(key, value, effect));
        self
    }

    pub fn allocated(mut self, cpu_millis: u64, memory_bytes: u64) -> Self {
        self.allocated = Resources::new(cpu_millis, memory_bytes);
        self
    }

    pub fn tier(mut self, tier: u32) -> Self {
        self.tier = tier;
        self
    }

    pub fn price(mut self, price_per_hour: f64) -> Self {
        self.price_per_hour = price_per_hour;
        self
    }

    pub fn view(&self) -> NodeView<'_> {
        NodeView {
            name: &self.name,
            labels: &self.labels,
            taints: &self.taints,
            capacity: self.capacity,
            allocated: self.allocated,
            price_per_hour: self.price_per_hour,
            tier: self.tier,
            unschedulable: self.unschedulable,
        }
    }
}

pub fn views(nodes: &[TestNode]) -> Vec<NodeView<'_>> {
    nodes.iter().map(TestNode::view).collect()
}

/// A pod owning what a [`PodView`] borrows.
#[derive(Clone, Debug, Default)]
pub struct TestPod {
    pub requests: Resources,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Vec<Toleration>,
    pub labels: BTreeMap<String, String>,
    pub namespace: String,
    pub spread: Vec<TopologySpreadConstraint>,
}

impl TestPod {
    pub fn new(cpu_millis: u64, memory_bytes: u64) -> Self {
        TestPod {
            requests: Resources::new(cpu_millis, memory_bytes),
            namespace: "default".into(),
            ..Default::default()
        }
    }

    pub fn pod_label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// A spread constraint selecting pods labelled `app=<app>`.
    pub fn spread(mut self, key: &str, max_skew: i32, when: &str, app: &str) -> Self {
        self.spread.push(TopologySpreadConstraint {
            topology_key: key.into(),
            max_skew,
            when_unsatisfiable: when.into(),
            label_selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), app.to_string())].into()),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        });
        self
    }

    pub fn selector(mut self, key: &str, value: &str) -> Self {
        self.node_selector
            .get_or_insert_default()
            .insert(key.into(), value.into());
        self
    }

    /// Required node affinity with these terms (ORed).
    pub fn required(mut self, terms: Vec<NodeSelectorTerm>) -> Self {
        self.node_affinity()
            .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: terms,
        });
        self
    }

    /// Preferred node affinity with these `(weight, term)` pairs.
    pub fn preferred(mut self, terms: Vec<(i32, NodeSelectorTerm)>) -> Self {
        self.node_affinity()
            .preferred_during_scheduling_ignored_during_execution = Some(
            terms
                .into_iter()
                .map(|(weight, preference)| PreferredSchedulingTerm { weight, preference })
                .collect(),
        );
        self
    }

    pub fn tolerate(
        mut self,
        key: Option<&str>,
        operator: Option<&str>,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Self {
        self.tolerations
            .push(toleration(key, operator, value, effect));
        self
    }

    fn node_affinity(&mut self) -> &mut NodeAffinity {
        self.affinity
            .get_or_insert_default()
            .node_affinity
            .get_or_insert_default()
    }

    pub fn view(&self) -> PodView<'_> {
        PodView {
            requests: self.requests,
            node_selector: self.node_selector.as_ref(),
            affinity: self.affinity.as_ref(),
            tolerations: &self.tolerations,
            labels: &self.labels,
            namespace: &self.namespace,
            spread_constraints: &self.spread,
        }
    }
}

/// The profile of these `(plugin, weight)` pairs, scoring every feasible node.
pub fn spec(plugins: &[(&str, u32)]) -> SchedulerSpec {
    SchedulerSpec {
        score: (plugins.iter())
            .map(|&(name, weight)| ScorePluginSpec::new(name, weight))
            .collect(),
        percentage_of_nodes_to_score: Some(100),
    }
}

/// A scheduler of `spec` over `nodes` and pod templates `pods`.
pub fn cluster<'a>(
    spec: &SchedulerSpec,
    nodes: &'a [TestNode],
    pods: &'a [TestPod],
) -> Scheduler<'a> {
    Scheduler::new(spec)
        .unwrap()
        .with_cluster(views(nodes), pods.iter().map(TestPod::view).collect())
}

pub fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: (!value.is_empty()).then(|| value.into()),
        effect: effect.into(),
        ..Default::default()
    }
}

pub fn toleration(
    key: Option<&str>,
    operator: Option<&str>,
    value: Option<&str>,
    effect: Option<&str>,
) -> Toleration {
    Toleration {
        key: key.map(Into::into),
        operator: operator.map(Into::into),
        value: value.map(Into::into),
        effect: effect.map(Into::into),
        ..Default::default()
    }
}

/// A `matchExpressions` requirement.
pub fn expr(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
    }
}

/// A term with these expressions (ANDed) and fields.
pub fn term(
    expressions: Vec<NodeSelectorRequirement>,
    fields: Vec<NodeSelectorRequirement>,
) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: (!expressions.is_empty()).then_some(expressions),
        match_fields: (!fields.is_empty()).then_some(fields),
    }
}
