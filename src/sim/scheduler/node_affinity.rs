//! NodeAffinity: `nodeSelector` and required node affinity as a filter, preferred node
//! affinity as a score.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeAffinity as NodeAffinitySpec, NodeSelectorRequirement, NodeSelectorTerm,
};

use super::{FilterPlugin, FilterResult, NodeView, PodView, ScorePlugin, default_normalize};

/// kube-scheduler's NodeAffinity plugin.
///
/// Filter ([`node_matches_requirements`]): the node must carry every `nodeSelector`
/// label **and** match `requiredDuringSchedulingIgnoredDuringExecution`. Score: the sum
/// of the weights of the `preferredDuringSchedulingIgnoredDuringExecution` terms the
/// node matches, normalized with [`default_normalize`] so the best node scores 100.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeAffinity;

impl NodeAffinity {
    /// The rejection reason, in kube-scheduler's words.
    pub const REASON: &'static str = "node(s) didn't match Pod's node affinity/selector";
}

/// Whether the node satisfies the pod's hard placement constraints, as
/// component-helpers' `RequiredNodeAffinity.Match`:
///
/// - `nodeSelector`: each key must be a node label with exactly that value;
/// - required node affinity: the `nodeSelectorTerms` are ORed (none matches nothing);
///   within a term, `matchExpressions` and `matchFields` are ANDed, and a term with
///   neither matches nothing;
/// - `matchExpressions` operators on labels: `In`/`NotIn` (non-empty values; `NotIn`
///   also matches an absent label), `Exists`/`DoesNotExist` (no values), `Gt`/`Lt`
///   (exactly one integer value, compared with the label parsed as an integer);
/// - `matchFields`: key `metadata.name` (the node name; any other key reads as `""`)
///   with `In` or `NotIn` and exactly one value.
///
/// A requirement violating these rules (kube rejects it when parsing) makes its term
/// match nothing.
pub fn node_matches_requirements(pod: &PodView, node: &NodeView) -> bool {
    if let Some(selector) = pod.node_selector
        && !selector
            .iter()
            .all(|(key, value)| node.labels.get(key) == Some(value))
    {
        return false;
    }
    match node_affinity(pod).and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) {
        Some(required) => required
            .node_selector_terms
            .iter()
            .any(|term| term_matches(term, node)),
        None => true,
    }
}

fn node_affinity<'a>(pod: &PodView<'a>) -> Option<&'a NodeAffinitySpec> {
    pod.affinity.and_then(|a| a.node_affinity.as_ref())
}

fn term_matches(term: &NodeSelectorTerm, node: &NodeView) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    (!expressions.is_empty() || !fields.is_empty())
        && expressions.iter().all(|r| label_matches(r, node.labels))
        && fields.iter().all(|r| field_matches(r, node.name))
}

fn label_matches(requirement: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = requirement.values.as_deref().unwrap_or(&[]);
    let label = labels.get(&requirement.key);
    match requirement.operator.as_str() {
        "In" => !values.is_empty() && label.is_some_and(|l| values.contains(l)),
        "NotIn" => !values.is_empty() && label.is_none_or(|l| !values.contains(l)),
        "Exists" => values.is_empty() && label.is_some(),
        "DoesNotExist" => values.is_empty() && label.is_none(),
        op @ ("Gt" | "Lt") => {
            let [bound] = values else { return false };
            let (Ok(bound), Some(Ok(actual))) =
                (bound.parse::<i64>(), label.map(|l| l.parse::<i64>()))
            else {
                return false;
            };
            if op == "Gt" {
                actual > bound
            } else {
                actual < bound
            }
        }
        _ => false,
    }
}

fn field_matches(requirement: &NodeSelectorRequirement, node_name: &str) -> bool {
    let actual = if requirement.key == "metadata.name" {
        node_name
    } else {
        ""
    };
    match (requirement.operator.as_str(), requirement.values.as_deref()) {
        ("In", Some([value])) => actual == value,
        ("NotIn", Some([value])) => actual != value,
        _ => false,
    }
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &PodView, node: &NodeView) -> FilterResult {
        if node_matches_requirements(pod, node) {
            Ok(())
        } else {
            Err(&[Self::REASON])
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn score(&self, pod: &PodView, node: &NodeView) -> i64 {
        node_affinity(pod)
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or(&[])
            .iter()
            .filter(|p| p.weight != 0 && term_matches(&p.preference, node))
            .map(|p| i64::from(p.weight))
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{TestNode, TestPod, expr, term};

    fn edge() -> TestNode {
        TestNode::new("edge-1", 4, 8)
            .label("tier", "edge")
            .label("zone", "milan")
            .label("gen", "5")
    }

    fn accepts(pod: &TestPod, node: &TestNode) -> bool {
        NodeAffinity.filter(&pod.view(), &node.view()).is_ok()
    }

    #[test]
    fn node_selector_needs_every_label() {
        let node = edge();
        assert!(accepts(&TestPod::new(0, 0), &node));
        assert!(accepts(
            &TestPod::new(0, 0)
                .selector("tier", "edge")
                .selector("zone", "milan"),
            &node
        ));
        assert!(!accepts(
            &TestPod::new(0, 0)
                .selector("tier", "edge")
                .selector("zone", "rome"),
            &node
        ));
        assert_eq!(
            NodeAffinity.filter(
                &TestPod::new(0, 0).selector("gpu", "yes").view(),
                &node.view()
            ),
            Err(&["node(s) didn't match Pod's node affinity/selector"][..])
        );
    }

    #[test]
    fn operators_on_labels() {
        let node = edge();
        let one = |e| {
            accepts(
                &TestPod::new(0, 0).required(vec![term(vec![e], vec![])]),
                &node,
            )
        };
        assert!(one(expr("tier", "In", &["cloud", "edge"])));
        assert!(!one(expr("tier", "In", &["cloud"])));
        assert!(!one(expr("absent", "In", &["x"])));
        assert!(one(expr("tier", "NotIn", &["cloud"])));
        assert!(one(expr("absent", "NotIn", &["x"])));
        assert!(!one(expr("tier", "NotIn", &["edge"])));
        assert!(one(expr("zone", "Exists", &[])));
        assert!(!one(expr("absent", "Exists", &[])));
        assert!(one(expr("absent", "DoesNotExist", &[])));
        assert!(!one(expr("zone", "DoesNotExist", &[])));
        assert!(one(expr("gen", "Gt", &["4"])));
        assert!(!one(expr("gen", "Gt", &["5"])));
        assert!(one(expr("gen", "Lt", &["6"])));
        assert!(!one(expr("zone", "Lt", &["6"])));
        assert!(!one(expr("absent", "Gt", &["1"])));
    }

    #[test]
    fn invalid_requirements_match_nothing() {
        let node = edge();
        let one = |e| {
            accepts(
                &TestPod::new(0, 0).required(vec![term(vec![e], vec![])]),
                &node,
            )
        };
        assert!(!one(expr("tier", "In", &[])));
        assert!(!one(expr("absent", "NotIn", &[])));
        assert!(!one(expr("zone", "Exists", &["milan"])));
        assert!(!one(expr("gen", "Gt", &["4", "3"])));
        assert!(!one(expr("gen", "Gt", &["four"])));
        assert!(!one(expr("tier", "Equals", &["edge"])));
        assert!(!accepts(
            &TestPod::new(0, 0).required(vec![term(vec![], vec![])]),
            &node
        ));
        assert!(!accepts(&TestPod::new(0, 0).required(vec![]), &node));
    }

    #[test]
    fn terms_are_ored_and_expressions_anded() {
        let node = edge();
        let both = term(
            vec![expr("tier", "In", &["edge"]), expr("zone", "In", &["rome"])],
            vec![],
        );
        assert!(!accepts(
            &TestPod::new(0, 0).required(vec![both.clone()]),
            &node
        ));
        let either = vec![both, term(vec![expr("zone", "In", &["milan"])], vec![])];
        assert!(accepts(&TestPod::new(0, 0).required(either.clone()), &node));
        assert!(!accepts(
            &TestPod::new(0, 0)
                .required(either)
                .selector("tier", "cloud"),
            &node
        ));
    }

    #[test]
    fn match_fields_on_node_name() {
        let node = edge();
        let fields = |e| {
            accepts(
                &TestPod::new(0, 0).required(vec![term(vec![], vec![e])]),
                &node,
            )
        };
        assert!(fields(expr("metadata.name", "In", &["edge-1"])));
        assert!(!fields(expr("metadata.name", "In", &["edge-2"])));
        assert!(fields(expr("metadata.name", "NotIn", &["edge-2"])));
        assert!(!fields(expr("metadata.name", "In", &["edge-1", "edge-2"])));
        assert!(!fields(expr("metadata.name", "Exists", &[])));
        assert!(!fields(expr("metadata.uid", "In", &["edge-1"])));
        let mixed = term(
            vec![expr("tier", "In", &["edge"])],
            vec![expr("metadata.name", "In", &["edge-2"])],
        );
        assert!(!accepts(&TestPod::new(0, 0).required(vec![mixed]), &node));
    }

    #[test]
    fn score_sums_matching_preferred_weights() {
        let nodes = [
            edge(),
            TestNode::new("cloud", 8, 16).label("tier", "cloud"),
            TestNode::new("bare", 1, 1),
        ];
        let pod = TestPod::new(0, 0).preferred(vec![
            (80, term(vec![expr("tier", "In", &["edge"])], vec![])),
            (20, term(vec![expr("tier", "Exists", &[])], vec![])),
            (50, term(vec![], vec![])),
        ]);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| NodeAffinity.score(&pod.view(), &n.view()))
            .collect();
        assert_eq!(scores, [100, 20, 0]);
        NodeAffinity.normalize(&mut scores);
        assert_eq!(scores, [100, 20, 0]);
        let cloud_only = TestPod::new(0, 0).preferred(vec![(
            3,
            term(vec![expr("tier", "In", &["cloud"])], vec![]),
        )]);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| NodeAffinity.score(&cloud_only.view(), &n.view()))
            .collect();
        NodeAffinity.normalize(&mut scores);
        assert_eq!(scores, [0, 100, 0]);
        let mut none = vec![0, 0];
        NodeAffinity.normalize(&mut none);
        assert_eq!(none, [0, 0]);
    }
}
