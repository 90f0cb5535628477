//! Label selectors (`metav1.LabelSelector`): which pods a Deployment or StatefulSet owns.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects an object with `labels`, as apimachinery's
/// `LabelSelectorAsSelector` evaluates it: every `matchLabels` pair and every
/// `matchExpressions` requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`) must hold.
///
/// A selector with neither `matchLabels` nor `matchExpressions` selects nothing here: the
/// API server rejects such a workload selector, and matching every pod would be the
/// surprising reading. A requirement with an unknown operator selects nothing either.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector.match_labels.as_ref().filter(|m| !m.is_empty());
    let expressions = selector
        .match_expressions
        .as_ref()
        .filter(|e| !e.is_empty());
    if pairs.is_none() && expressions.is_none() {
        return false;
    }
    let pairs_hold = pairs
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_hold = expressions.into_iter().flatten().all(|r| {
        let value = labels.get(&r.key);
        let listed = |v: &String| r.values.iter().flatten().any(|x| x == v);
        match r.operator.as_str() {
            "In" => value.is_some_and(listed),
            "NotIn" => !value.is_some_and(listed),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    pairs_hold && expressions_hold
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_need_every_pair() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "cart"), ("tier", "web")])),
            ..LabelSelector::default()
        };
        assert!(selects(
            &selector,
            &labels(&[("app", "cart"), ("tier", "web"), ("x", "y")])
        ));
        assert!(!selects(&selector, &labels(&[("app", "cart")])));
        assert!(!selects(
            &selector,
            &labels(&[("app", "cart"), ("tier", "db")])
        ));
    }

    #[test]
    fn expressions_follow_apimachinery() {
        let with = |r| LabelSelector {
            match_expressions: Some(vec![r]),
            ..LabelSelector::default()
        };
        let pod = labels(&[("app", "cart"), ("track", "stable")]);
        assert!(selects(
            &with(requirement("app", "In", &["cart", "ad"])),
            &pod
        ));
        assert!(!selects(&with(requirement("app", "In", &["ad"])), &pod));
        assert!(selects(&with(requirement("app", "NotIn", &["ad"])), &pod));
        assert!(selects(&with(requirement("zone", "NotIn", &["a"])), &pod));
        assert!(!selects(
            &with(requirement("app", "NotIn", &["cart"])),
            &pod
        ));
        assert!(selects(&with(requirement("track", "Exists", &[])), &pod));
        assert!(!selects(
            &with(requirement("track", "DoesNotExist", &[])),
            &pod
        ));
        assert!(!selects(&with(requirement("app", "Gt", &["1"])), &pod));
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        assert!(!selects(
            &LabelSelector::default(),
            &labels(&[("app", "x")])
        ));
        let empty = LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(Vec::new()),
        };
        assert!(!selects(&empty, &labels(&[("app", "x")])));
    }
}
