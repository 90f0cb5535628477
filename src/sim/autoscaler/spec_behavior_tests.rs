//! Unit tests of `spec_kubernetes`: `spec.behavior` of real HPA objects.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
};

use super::*;
use crate::sim::autoscaler::spec::TOLERANCE_ANNOTATION;
use crate::sim::autoscaler::spec::tests::testing::{error_text, hpa, kubernetes_rule, q};

fn policy(type_: &str, value: i32, period_seconds: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds,
    }
}

fn with_behavior(
    up: Option<HPAScalingRules>,
    down: Option<HPAScalingRules>,
) -> HorizontalPodAutoscaler {
    let mut h = hpa(&[]);
    h.spec.behavior = Some(HorizontalPodAutoscalerBehavior {
        scale_up: up,
        scale_down: down,
    });
    h
}

#[test]
fn an_empty_behavior_means_all_defaults_but_no_behavior_means_legacy() {
    assert_eq!(kubernetes_rule(&hpa(&[])).behavior, None);
    assert_eq!(
        kubernetes_rule(&with_behavior(None, None)).behavior,
        Some(Behavior::default())
    );
}

#[test]
fn a_partial_behavior_fills_the_rest_with_defaults() {
    // Only scaleDown.policies given: window from the controller flag (300 s), selectPolicy Max.
    let down = HPAScalingRules {
        policies: Some(vec![policy("Pods", 4, 60), policy("Percent", 10, 60)]),
        ..Default::default()
    };
    let up = HPAScalingRules {
        select_policy: Some("Disabled".into()),
        stabilization_window_seconds: Some(120),
        ..Default::default()
    };
    let b = kubernetes_rule(&with_behavior(Some(up), Some(down)))
        .behavior
        .unwrap();
    assert_eq!(
        b.scale_down,
        ScalingRules {
            stabilization_window_seconds: 300,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    kind: ScalingPolicyKind::Pods,
                    value: 4,
                    period_seconds: 60
                },
                ScalingPolicy {
                    kind: ScalingPolicyKind::Percent,
                    value: 10,
                    period_seconds: 60
                },
            ],
        }
    );
    assert_eq!(b.scale_up.select_policy, SelectPolicy::Disabled);
    assert_eq!(b.scale_up.stabilization_window_seconds, 120);
    assert_eq!(
        b.scale_up.policies,
        ScalingRules::default_scale_up().policies
    );
}

#[test]
fn behavior_tolerances_override_the_band_per_direction() {
    // "scale-down and scale-up tolerances of 5% and 1%": band [0.95, 1.01].
    let rules = |t: &str| {
        Some(HPAScalingRules {
            tolerance: Some(q(t)),
            ..Default::default()
        })
    };
    let r = kubernetes_rule(&with_behavior(rules("0.01"), rules("0.05")));
    assert_eq!(
        r.tolerance,
        ToleranceBand::new(1.0 - 0.05, 1.0 + 0.01).unwrap()
    );
    // Only scale-up set: the lower end comes from the annotation.
    let mut h = with_behavior(rules("0"), None);
    h.metadata.annotations = Some([(TOLERANCE_ANNOTATION.to_owned(), "0.8,1.2".to_owned())].into());
    assert_eq!(
        kubernetes_rule(&h).tolerance,
        ToleranceBand::new(0.8, 1.0).unwrap()
    );
    // A scale-down tolerance above 1 means never scaling down: lower end 0.
    assert_eq!(
        kubernetes_rule(&with_behavior(None, rules("1.5")))
            .tolerance
            .lower(),
        0.0
    );
}

#[test]
fn behavior_errors_name_the_field() {
    let text = |up: HPAScalingRules| error_text(&with_behavior(Some(up), None));
    let policies = |p: HPAScalingPolicy| HPAScalingRules {
        policies: Some(vec![policy("Pods", 1, 15), p]),
        ..Default::default()
    };
    assert_eq!(
        text(policies(policy("Pods", 4, 0))),
        "spec.behavior.scaleUp.policies[1].periodSeconds: must be between 1 and 1800"
    );
    assert!(text(policies(policy("Pods", 4, 1801))).contains("policies[1].periodSeconds"));
    assert_eq!(
        text(policies(policy("Pods", 0, 15))),
        "spec.behavior.scaleUp.policies[1].value: must be > 0"
    );
    assert!(
        text(policies(policy("Replicas", 1, 15)))
            .starts_with("spec.behavior.scaleUp.policies[1].type: unsupported value")
    );
    let select = HPAScalingRules {
        select_policy: Some("Sometimes".into()),
        ..Default::default()
    };
    assert_eq!(
        text(select),
        "spec.behavior.scaleUp.selectPolicy: \
         unsupported value \"Sometimes\"; expected one of: Max, Min, Disabled"
    );
    let window = HPAScalingRules {
        stabilization_window_seconds: Some(3601),
        ..Default::default()
    };
    assert_eq!(
        text(window),
        "spec.behavior.scaleUp.stabilizationWindowSeconds: must be between 0 and 3600"
    );
    let none = HPAScalingRules {
        policies: Some(Vec::new()),
        ..Default::default()
    };
    assert_eq!(
        error_text(&with_behavior(None, Some(none))),
        "spec.behavior.scaleDown.policies: must specify at least one policy"
    );
    let negative = HPAScalingRules {
        tolerance: Some(q("-0.1")),
        ..Default::default()
    };
    assert_eq!(
        text(negative),
        "spec.behavior.scaleUp.tolerance: must be >= 0"
    );
}
