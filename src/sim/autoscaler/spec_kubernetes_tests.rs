//! Unit tests of `spec_kubernetes`: `spec.metrics` of real HPA objects.

use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricSource, CrossVersionObjectReference, ExternalMetricSource,
    HorizontalPodAutoscaler, ObjectMetricSource, PodsMetricSource, ResourceMetricSource,
};

use super::*;
use crate::sim::autoscaler::spec::tests::testing::{error_text, hpa, kubernetes_rule, q};

fn target(type_: &str) -> MetricTarget {
    MetricTarget {
        type_: type_.into(),
        ..Default::default()
    }
}

fn utilization(percent: i32) -> MetricTarget {
    MetricTarget {
        average_utilization: Some(percent),
        ..target("Utilization")
    }
}

fn average(value: &str) -> MetricTarget {
    MetricTarget {
        average_value: Some(q(value)),
        ..target("AverageValue")
    }
}

fn value(value: &str) -> MetricTarget {
    MetricTarget {
        value: Some(q(value)),
        ..target("Value")
    }
}

fn resource(name: &str, target: MetricTarget) -> MetricSpec {
    let resource = ResourceMetricSource {
        name: name.into(),
        target,
    };
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(resource),
        ..Default::default()
    }
}

fn id(name: &str) -> MetricIdentifier {
    MetricIdentifier {
        name: name.into(),
        selector: None,
    }
}

fn pods(name: &str, target: MetricTarget) -> MetricSpec {
    let pods = PodsMetricSource {
        metric: id(name),
        target,
    };
    MetricSpec {
        type_: "Pods".into(),
        pods: Some(pods),
        ..Default::default()
    }
}

fn object(kind: &str, name: &str, target: MetricTarget) -> MetricSpec {
    let described_object = CrossVersionObjectReference {
        api_version: None,
        kind: kind.into(),
        name: "front".into(),
    };
    let object = ObjectMetricSource {
        described_object,
        metric: id(name),
        target,
    };
    MetricSpec {
        type_: "Object".into(),
        object: Some(object),
        ..Default::default()
    }
}

fn with_metrics(metrics: Vec<MetricSpec>) -> HorizontalPodAutoscaler {
    let mut h = hpa(&[]);
    h.spec.metrics = Some(metrics);
    h
}

#[test]
fn every_supported_metric_translates() {
    let container = ContainerResourceMetricSource {
        container: "app".into(),
        name: "cpu".into(),
        target: utilization(70),
    };
    let h = with_metrics(vec![
        resource("cpu", utilization(60)),
        resource("cpu", average("500m")),
        MetricSpec {
            type_: "ContainerResource".into(),
            container_resource: Some(container),
            ..Default::default()
        },
        pods("processing_time_ms", average("9.6")),
        object("Service", "requests_per_second", value("200")),
        object("Deployment", "queue_length", average("2.5")),
    ]);
    let front = |kind| ObjectRef {
        kind,
        name: "front".into(),
    };
    assert_eq!(
        kubernetes_rule(&h).metrics,
        [
            HpaMetric::CpuUtilization {
                target_percent: 60,
                container: None
            },
            HpaMetric::CpuAverageValue {
                target_millicores: 500,
                container: None
            },
            HpaMetric::CpuUtilization {
                target_percent: 70,
                container: Some("app".into())
            },
            HpaMetric::Pods {
                metric: TwinMetric::ProcessingTimeMs,
                target_milli: 9600
            },
            HpaMetric::Object {
                object: front(ObjectKind::Service),
                metric: TwinMetric::RequestsPerSecond,
                target: ObjectTarget::Value(200_000),
            },
            HpaMetric::Object {
                object: front(ObjectKind::Deployment),
                metric: TwinMetric::QueueLength,
                target: ObjectTarget::AverageValue(2500),
            },
        ]
    );
}

#[test]
fn metric_errors_name_the_field() {
    let target = |type_: &str| MetricTarget {
        type_: type_.into(),
        ..Default::default()
    };
    let both = MetricTarget {
        average_value: Some(q("1")),
        ..utilization(50)
    };
    let source = |type_: &str| MetricSpec {
        type_: type_.into(),
        ..Default::default()
    };
    let mismatched = MetricSpec {
        type_: "Pods".into(),
        ..resource("cpu", utilization(50))
    };
    let cases = [
        (
            resource("cpu", utilization(0)),
            "resource.target.averageUtilization: must be > 0",
        ),
        (
            resource("memory", utilization(50)),
            "resource.name: the twin measures only the cpu resource, not \"memory\"",
        ),
        (
            pods("latency_p99", average("1")),
            "pods.metric.name: unknown metric \"latency_p99\"; \
             the twin measures: requests_per_second, processing_time_ms, queue_length",
        ),
        (
            pods("queue_length", value("1")),
            "pods.target.type: unsupported value \"Value\"; expected one of: AverageValue",
        ),
        (
            object("Ingress", "queue_length", value("1")),
            "object.describedObject.kind: unsupported value \"Ingress\"; \
             expected one of: Service, Deployment",
        ),
        (
            resource("cpu", average("-1")),
            "resource.target.averageValue: must be > 0",
        ),
        (
            resource("cpu", average("0")),
            "resource.target.averageValue: must be > 0",
        ),
        (
            resource("cpu", value("1")),
            "resource.target.type: unsupported value \"Value\"; \
             expected one of: Utilization, AverageValue",
        ),
        (
            resource("cpu", both),
            "resource.target: may not set more than one target value",
        ),
        (
            resource("cpu", target("Utilization")),
            "resource.target.averageUtilization: is required",
        ),
        (mismatched, "resource: must not be set when type is Pods"),
        (source("Object"), "object: is required"),
    ];
    for (metric, expected) in cases {
        let text = error_text(&with_metrics(vec![metric]));
        assert_eq!(text, format!("spec.metrics[0].{expected}"));
    }
    let text = |m: MetricSpec| error_text(&with_metrics(vec![m]));
    assert!(text(source("Magic")).starts_with("spec.metrics[0].type: unsupported value"));
    let unparsable = text(resource("cpu", average("ten")));
    assert!(unparsable.starts_with("spec.metrics[0].resource.target.averageValue: \"ten\""));
}

#[test]
fn external_metrics_are_rejected_with_the_supported_list() {
    let external = ExternalMetricSource {
        metric: id("queue_depth"),
        target: value("30"),
    };
    let h = with_metrics(vec![
        resource("cpu", utilization(50)),
        MetricSpec {
            type_: "External".into(),
            external: Some(external),
            ..Default::default()
        },
    ]);
    assert_eq!(
        error_text(&h),
        "spec.metrics[1].type: External metrics are not supported by the twin \
         (supported: Resource, ContainerResource, Pods, Object)"
    );
}
