//! Unit tests of `spec`: kubetwin's annotations, bounds and the scale target.

use super::*;

pub(crate) mod testing {
    //! HPA fixtures shared by the spec tests.
    use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::sim::autoscaler::HpaRule;

    /// `name` scaling Deployment `web` between 2 and 10 replicas, no metrics, no behavior.
    pub fn hpa(annotations: &[(&str, &str)]) -> HorizontalPodAutoscaler {
        let annotations = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        HorizontalPodAutoscaler {
            metadata: ObjectMeta {
                name: Some("web-hpa".into()),
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: "Deployment".into(),
                    name: "web".into(),
                },
                min_replicas: Some(2),
                max_replicas: 10,
                ..Default::default()
            },
            status: None,
        }
    }

    /// A quantity.
    pub fn q(s: &str) -> Quantity {
        Quantity(s.to_owned())
    }

    /// The Kubernetes rule of `h`, which must translate.
    pub fn kubernetes_rule(h: &HorizontalPodAutoscaler) -> HpaRule {
        match autoscaler_from_hpa(h).unwrap().rule {
            Rule::Kubernetes(r) => r,
            Rule::Twin(_) => panic!("expected the Kubernetes rule"),
        }
    }

    /// The error's `path: problem` text.
    pub fn error_text(hpa: &HorizontalPodAutoscaler) -> String {
        autoscaler_from_hpa(hpa).unwrap_err().to_string()
    }
}

mod cases {
    use super::testing::{error_text, hpa};
    use super::*;
    use crate::sim::autoscaler::{ControllerSettings, HpaMetric};

    #[test]
    fn plain_hpa_gets_kubernetes_defaults() {
        let a = autoscaler_from_hpa(&hpa(&[])).unwrap();
        assert_eq!((a.name.as_str(), a.target.as_str()), ("web-hpa", "web"));
        assert_eq!(
            (a.bounds.min(), a.bounds.max(), a.sync_period),
            (2, 10, DEFAULT_SYNC_PERIOD)
        );
        let Rule::Kubernetes(r) = a.rule else {
            panic!("expected the Kubernetes rule")
        };
        assert_eq!(
            r.metrics,
            [HpaMetric::CpuUtilization {
                target_percent: 80,
                container: None
            }]
        );
        assert_eq!((r.behavior, r.tolerance), (None, ToleranceBand::DEFAULT));
        assert_eq!(r.controller, ControllerSettings::default());
    }

    #[test]
    fn twin_rule_from_annotations() {
        let a = autoscaler_from_hpa(&hpa(&[
            (RULE_ANNOTATION, "twin"),
            (DESIRED_PROCESSING_TIME_ANNOTATION, "9.6"),
            (TOLERANCE_ANNOTATION, " 0.8 , 1.25 "),
            (SYNC_PERIOD_ANNOTATION, "30"),
        ]))
        .unwrap();
        let band = ToleranceBand::new(0.8, 1.25).unwrap();
        assert_eq!(a.rule, Rule::Twin(TwinRule::new(9.6, band).unwrap()));
        assert_eq!(a.sync_period, SimTime::from_secs(30.0));
        let a = autoscaler_from_hpa(&hpa(&[
            (RULE_ANNOTATION, "twin"),
            (DESIRED_PROCESSING_TIME_ANNOTATION, "8"),
        ]));
        assert_eq!(
            a.unwrap().rule,
            Rule::Twin(TwinRule::new(8.0, ToleranceBand::DEFAULT).unwrap())
        );
    }

    #[test]
    fn the_tolerance_annotation_sets_the_kubernetes_band() {
        let a = autoscaler_from_hpa(&hpa(&[(TOLERANCE_ANNOTATION, "0.95,1.05")])).unwrap();
        let Rule::Kubernetes(r) = a.rule else {
            panic!("expected the Kubernetes rule")
        };
        assert_eq!(r.tolerance, ToleranceBand::new(0.95, 1.05).unwrap());
    }

    #[test]
    fn annotation_errors_name_the_annotation() {
        assert_eq!(
            error_text(&hpa(&[(RULE_ANNOTATION, "twin")])),
            "metadata.annotations[\"kubetwin.io/desired-processing-time-ms\"]: is required"
        );
        assert_eq!(
            error_text(&hpa(&[(RULE_ANNOTATION, "magic")])),
            "metadata.annotations[\"kubetwin.io/autoscaler-rule\"]: \
             unsupported value \"magic\"; expected one of: kubernetes, twin"
        );
        let bad_time = [
            (RULE_ANNOTATION, "twin"),
            (DESIRED_PROCESSING_TIME_ANNOTATION, "-3"),
        ];
        assert!(
            error_text(&hpa(&bad_time)).contains("\"-3\" is not a positive number of milliseconds")
        );
        for band in ["1.1,0.9", "0.9", "a,b", "0.9,inf"] {
            let text = error_text(&hpa(&[(TOLERANCE_ANNOTATION, band)]));
            assert!(
                text.starts_with("metadata.annotations[\"kubetwin.io/tolerance\"]: "),
                "{text}"
            );
        }
        assert!(error_text(&hpa(&[(SYNC_PERIOD_ANNOTATION, "0")])).contains("sync-period-seconds"));
        let typo = error_text(&hpa(&[("kubetwin.io/tolerence", "0.9,1.1")]));
        assert!(typo.starts_with(
            "metadata.annotations[\"kubetwin.io/tolerence\"]: unknown kubetwin.io annotation"
        ));
    }

    #[test]
    fn bounds_and_target_are_checked() {
        let mut h = hpa(&[]);
        h.spec.min_replicas = Some(0);
        assert_eq!(
            error_text(&h),
            "spec.minReplicas: must be >= 1 (scaling to zero is not supported by the twin)"
        );
        h.spec.min_replicas = None;
        h.spec.max_replicas = 0;
        assert_eq!(
            error_text(&h),
            "spec.maxReplicas: must be >= minReplicas (1)"
        );
        let mut h = hpa(&[]);
        h.spec.scale_target_ref.kind = "StatefulSet".into();
        assert!(
            error_text(&h)
                .starts_with("spec.scaleTargetRef.kind: unsupported value \"StatefulSet\"")
        );
        let mut h = hpa(&[]);
        h.metadata.name = None;
        assert_eq!(error_text(&h), "metadata.name: is required");
    }
}
