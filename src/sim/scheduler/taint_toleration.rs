//! TaintToleration: filter on `NoSchedule`/`NoExecute` taints, score on
//! `PreferNoSchedule` ones.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use super::{FilterPlugin, FilterResult, NodeView, PodView, ScorePlugin, default_normalize};

/// Whether `toleration` tolerates `taint`, as `v1.Toleration.ToleratesTaint`:
///
/// - an empty toleration effect matches every effect, otherwise effects must be equal;
/// - an empty toleration key matches every key, otherwise keys must be equal;
/// - operator `Equal` (the default) needs equal values, `Exists` matches any value;
/// - `Lt`/`Gt` (the TaintTolerationComparisonOperators feature, treated as enabled)
///   compare both values as decimal integers: the taint's value must be less/greater
///   than the toleration's;
/// - any other operator matches nothing.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    tolerates_parts(
        toleration,
        &taint.key,
        taint.value.as_deref().unwrap_or(""),
        &taint.effect,
    )
}

/// [`tolerates`] for a taint given by its parts (no `Taint` needs to be built).
pub(crate) fn tolerates_parts(
    toleration: &Toleration,
    key: &str,
    value: &str,
    effect: &str,
) -> bool {
    let wanted = |field: &Option<String>, actual: &str| {
        field.as_deref().is_none_or(|w| w.is_empty() || w == actual)
    };
    if !wanted(&toleration.effect, effect) || !wanted(&toleration.key, key) {
        return false;
    }
    let tolerated_value = toleration.value.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => tolerated_value == value,
        "Exists" => true,
        "Lt" => {
            matches!((decimal_integer(value), decimal_integer(tolerated_value)), (Some(t), Some(v)) if t < v)
        }
        "Gt" => {
            matches!((decimal_integer(value), decimal_integer(tolerated_value)), (Some(t), Some(v)) if t > v)
        }
        _ => false,
    }
}

/// A canonical decimal `i64` (`0` or `-?[1-9][0-9]*`), as apimachinery's
/// `content.IsDecimalInteger` requires before comparing.
fn decimal_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = digits == "0" || (!digits.starts_with('0') && !digits.is_empty());
    if canonical && digits.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// kube-scheduler's TaintToleration plugin.
///
/// Filter: every node taint with effect `NoSchedule` or `NoExecute` must be tolerated by
/// some pod toleration. Score: the number of `PreferNoSchedule` taints that no pod
/// toleration with effect `PreferNoSchedule` or empty tolerates, normalized with
/// [`default_normalize`] reversed, so the node with the fewest such taints scores 100.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaintToleration;

impl TaintToleration {
    /// The rejection reason, in the words of current kube-scheduler releases (older ones
    /// named the taint: `node(s) had untolerated taint {key: value}`).
    pub const REASON: &'static str = "node(s) had untolerated taint(s)";
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, pod: &PodView, node: &NodeView) -> FilterResult {
        let untolerated = node.taints.iter().any(|taint| {
            matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
                && !pod.tolerations.iter().any(|t| tolerates(t, taint))
        });
        if untolerated {
            Err(&[Self::REASON])
        } else {
            Ok(())
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn score(&self, pod: &PodView, node: &NodeView) -> i64 {
        let prefer = |t: &&Toleration| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        };
        node.taints
            .iter()
            .filter(|taint| taint.effect == "PreferNoSchedule")
            .filter(|taint| {
                !pod.tolerations
                    .iter()
                    .filter(prefer)
                    .any(|t| tolerates(t, taint))
            })
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scheduler::testing::{TestNode, TestPod, taint, toleration};

    #[test]
    fn toleration_table() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        let cases = [
            ((Some("dedicated"), None, Some("gpu"), None), true),
            (
                (
                    Some("dedicated"),
                    Some("Equal"),
                    Some("gpu"),
                    Some("NoSchedule"),
                ),
                true,
            ),
            ((Some("dedicated"), Some("Equal"), Some("cpu"), None), false),
            ((Some("dedicated"), Some("Exists"), None, None), true),
            (
                (Some("dedicated"), Some("Exists"), None, Some("NoExecute")),
                false,
            ),
            ((Some("other"), Some("Exists"), None, None), false),
            ((None, Some("Exists"), None, None), true),
            ((Some(""), Some("Exists"), None, Some("NoSchedule")), true),
            ((Some("dedicated"), Some("Bogus"), Some("gpu"), None), false),
        ];
        for ((key, op, value, effect), expected) in cases {
            assert_eq!(
                tolerates(&toleration(key, op, value, effect), &t),
                expected,
                "{key:?} {op:?} {value:?} {effect:?}"
            );
        }
    }

    #[test]
    fn numeric_operators_compare_taint_to_toleration() {
        let sla = taint("sla", "950", "NoSchedule");
        assert!(tolerates(
            &toleration(Some("sla"), Some("Gt"), Some("900"), None),
            &sla
        ));
        assert!(!tolerates(
            &toleration(Some("sla"), Some("Gt"), Some("950"), None),
            &sla
        ));
        assert!(tolerates(
            &toleration(Some("sla"), Some("Lt"), Some("1000"), None),
            &sla
        ));
        assert!(!tolerates(
            &toleration(Some("sla"), Some("Lt"), Some("0950"), None),
            &sla
        ));
        assert!(!tolerates(
            &toleration(Some("sla"), Some("Gt"), Some("-5"), None),
            &taint("sla", "x", "NoSchedule")
        ));
        assert!(tolerates(
            &toleration(Some("sla"), Some("Gt"), Some("-5"), None),
            &taint("sla", "0", "NoSchedule")
        ));
    }

    #[test]
    fn filter_checks_hard_effects_only() {
        let soft = TestNode::new("a", 1, 1).taint("spot", "", "PreferNoSchedule");
        let hard = TestNode::new("b", 1, 1).taint("spot", "", "NoSchedule");
        let evict = TestNode::new("c", 1, 1).taint("edge", "true", "NoExecute");
        let plain = TestPod::new(0, 0);
        assert_eq!(TaintToleration.filter(&plain.view(), &soft.view()), Ok(()));
        assert_eq!(
            TaintToleration.filter(&plain.view(), &hard.view()),
            Err(&[TaintToleration::REASON][..])
        );
        assert!(
            TaintToleration
                .filter(&plain.view(), &evict.view())
                .is_err()
        );
        let tolerant = TestPod::new(0, 0)
            .tolerate(Some("spot"), Some("Exists"), None, None)
            .tolerate(Some("edge"), None, Some("true"), Some("NoExecute"));
        assert_eq!(
            TaintToleration.filter(&tolerant.view(), &hard.view()),
            Ok(())
        );
        assert_eq!(
            TaintToleration.filter(&tolerant.view(), &evict.view()),
            Ok(())
        );
    }

    #[test]
    fn score_prefers_fewer_intolerable_soft_taints() {
        let nodes = [
            TestNode::new("clean", 1, 1),
            TestNode::new("one", 1, 1).taint("spot", "", "PreferNoSchedule"),
            TestNode::new("two", 1, 1)
                .taint("spot", "", "PreferNoSchedule")
                .taint("old", "", "PreferNoSchedule"),
            TestNode::new("hard", 1, 1).taint("x", "", "NoSchedule"),
        ];
        let score = |pod: &TestPod| {
            let mut s: Vec<i64> = nodes
                .iter()
                .map(|n| TaintToleration.score(&pod.view(), &n.view()))
                .collect();
            TaintToleration.normalize(&mut s);
            s
        };
        assert_eq!(score(&TestPod::new(0, 0)), [100, 50, 0, 100]);
        let spot = TestPod::new(0, 0).tolerate(
            Some("spot"),
            Some("Exists"),
            None,
            Some("PreferNoSchedule"),
        );
        assert_eq!(score(&spot), [100, 100, 0, 100]);
        let hard_only =
            TestPod::new(0, 0).tolerate(Some("spot"), Some("Exists"), None, Some("NoSchedule"));
        assert_eq!(score(&hard_only), [100, 50, 0, 100]);
        let everything = TestPod::new(0, 0).tolerate(None, Some("Exists"), None, None);
        assert_eq!(score(&everything), [100, 100, 100, 100]);
    }
}
