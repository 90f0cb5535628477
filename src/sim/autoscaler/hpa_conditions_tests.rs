//! The conditions each sync sets, in the situations where `horizontal.go` sets them.

use super::*;
use crate::sim::autoscaler::behavior::{Behavior, ScalingRules};
use crate::sim::autoscaler::observation::testing::{ready_pod, sample};
use crate::sim::autoscaler::{HpaConditions, PodMetric, PodSample};

/// Past the 5 min CPU initialization period of pods ready since 0 s.
fn at(secs: u64) -> SimTime {
    SimTime((1000 + secs) * 1_000_000_000)
}

fn rule(behavior: Option<Behavior>) -> HpaRule {
    HpaRule {
        metrics: vec![HpaMetric::CpuUtilization {
            target_percent: 50,
            container: None,
        }],
        behavior,
        tolerance: ToleranceBand::DEFAULT,
        controller: ControllerSettings::default(),
    }
}

/// No scale-down stabilization, default rate policies.
fn no_down_window() -> Behavior {
    Behavior {
        scale_down: ScalingRules::default_scale_down(0),
        ..Behavior::default()
    }
}

/// One sync of `current` pods requesting 1000m, each using `millicores`, within [min, max].
fn sync(
    r: &HpaRule,
    (min, max): (u32, u32),
    current: u32,
    millicores: f64,
    now: SimTime,
    h: &mut HpaHistory,
) -> HpaDecision {
    let pods = vec![ready_pod(1000); current as usize];
    let samples = vec![sample(millicores, now); current as usize];
    let metrics = [MetricSample::PerPod(&samples)];
    let obs = HpaObservation {
        now,
        spec_replicas: current,
        pods: &pods,
        metrics: &metrics,
        containers: &[],
    };
    r.reconcile(ReplicaBounds::new(min, max).unwrap(), &obs, h)
}

/// The status after applying `d` to fresh conditions: (type, status, reason) in order.
fn status(d: &HpaDecision) -> Vec<(&'static str, bool, &'static str)> {
    let mut held = HpaConditions::default();
    held.apply(&d.conditions, at(0));
    held.held()
        .iter()
        .map(|h| {
            (
                h.condition.kind.name(),
                h.condition.status,
                h.condition.reason,
            )
        })
        .collect()
}

#[test]
fn a_steady_load_on_target_is_ready_valid_and_within_range() {
    // 4 pods at 50 % of their request: ratio 1.0, proposal 4.
    let d = sync(
        &rule(None),
        (1, 10),
        4,
        500.0,
        at(0),
        &mut HpaHistory::default(),
    );
    assert!(!d.rescale);
    assert_eq!(
        status(&d),
        [
            ("AbleToScale", true, "ReadyForNewScale"),
            ("ScalingActive", true, "ValidMetricFound"),
            ("ScalingLimited", false, "DesiredWithinRange"),
        ]
    );
    assert_eq!(
        d.conditions[1].message,
        "the HPA was able to successfully calculate a replica count from \
         cpu resource utilization (percentage of request)"
    );
}

/// A first sync of `r` at 0 s, within [1, 10], over two pods with these CPU `samples`,
/// their template's containers `containers` (name, request).
fn sync_two(
    r: &HpaRule,
    pods: [PodSample; 2],
    samples: [Option<PodMetric>; 2],
    containers: &[(String, Option<u64>)],
) -> HpaDecision {
    let metrics = [MetricSample::PerPod(&samples)];
    let obs = HpaObservation {
        now: at(0),
        spec_replicas: 2,
        pods: &pods,
        metrics: &metrics,
        containers,
    };
    r.reconcile(
        ReplicaBounds::new(1, 10).unwrap(),
        &obs,
        &mut HpaHistory::default(),
    )
}

/// A ready pod requesting 1000m, or none with `None`.
fn pod_requesting(cpu: Option<u64>) -> PodSample {
    PodSample {
        cpu_request_millis: cpu,
        ..ready_pod(1000)
    }
}

/// One sync of `r` over two pods at 200 % of their request, the second without one.
fn sync_with_a_pod_without_a_cpu_request(r: &HpaRule) -> HpaDecision {
    let pods = [pod_requesting(Some(1000)), pod_requesting(None)];
    sync_two(r, pods, [sample(2000.0, at(0)); 2], &[])
}

#[test]
fn a_pod_without_a_cpu_request_fails_the_cpu_metric_and_nothing_scales() {
    let d = sync_with_a_pod_without_a_cpu_request(&rule(None));
    assert_eq!((d.desired_replicas, d.rescale), (2, false));
    // The sync stops at the metrics: no stabilization, no ScalingLimited.
    assert_eq!(
        status(&d),
        [
            ("AbleToScale", true, "SucceededGetScale"),
            ("ScalingActive", false, "FailedGetResourceMetric"),
        ]
    );
    let message = &d.conditions[1].message;
    assert!(
        message.starts_with(
            "the HPA was unable to compute the replica count: failed to get cpu utilization: \
             missing request for cpu"
        ),
        "{message}"
    );
}

/// One sync of a `ContainerResource` cpu metric (target 50 %) on `container`, over two
/// pods using 1000m each whose template runs `containers` (name, request). The pods'
/// summed request is missing, as it is when any container has none.
fn sync_container(container: &str, containers: &[(String, Option<u64>)]) -> HpaDecision {
    let r = HpaRule {
        metrics: vec![HpaMetric::CpuUtilization {
            target_percent: 50,
            container: Some(container.into()),
        }],
        ..rule(None)
    };
    let pods = [pod_requesting(None); 2];
    sync_two(&r, pods, [sample(1000.0, at(0)); 2], containers)
}

fn containers(list: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
    list.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect()
}

/// `calculatePodRequests` with a container name reads that container's request only: a
/// sidecar without one does not fail the metric, and the utilization is the named
/// container's (1000m of 500m: 200 %, ratio 4, 2 pods -> 8, which the legacy scale-up
/// limit of max(2 x 2, 4) caps at 4).
#[test]
fn a_container_resource_metric_reads_only_its_container_request() {
    let d = sync_container(
        "app",
        &containers(&[("app", Some(500)), ("istio-proxy", None)]),
    );
    assert_eq!((d.desired_replicas, d.rescale), (4, true));
    assert_eq!(status(&d)[1], ("ScalingActive", true, "ValidMetricFound"));
    assert_eq!(d.metrics[0].as_ref().map(|p| p.current), Ok(200.0));
}

/// A `ContainerResource` metric fails with its own reason when its container has no
/// request ("missing request for cpu in container app of Pod ...") or is not in the pods
/// ("container app not present in metrics for pod ...").
#[test]
fn a_container_resource_metric_fails_with_its_own_reason_naming_the_container() {
    let failed = |d: &HpaDecision| {
        assert_eq!((d.desired_replicas, d.rescale), (2, false));
        assert_eq!(
            status(d),
            [
                ("AbleToScale", true, "SucceededGetScale"),
                ("ScalingActive", false, "FailedGetContainerResourceMetric"),
            ]
        );
        d.conditions[1].message.clone()
    };
    let prefix = "the HPA was unable to compute the replica count: failed to get cpu utilization:";
    let d = sync_container(
        "app",
        &containers(&[("app", None), ("istio-proxy", Some(100))]),
    );
    assert_eq!(
        failed(&d),
        format!("{prefix} missing request for cpu in container app of pod #0 of the target")
    );
    let d = sync_container("web", &containers(&[("app", Some(500))]));
    assert_eq!(
        failed(&d),
        format!("{prefix} container web not present in metrics for the target's pods")
    );
}

#[test]
fn a_rescale_ends_the_sync_with_succeeded_rescale() {
    // 2 pods at 100 %: ratio 2 → 4 = max(2 × 2, 4), within the legacy cap.
    let d = sync(
        &rule(None),
        (1, 10),
        2,
        1000.0,
        at(0),
        &mut HpaHistory::default(),
    );
    assert_eq!((d.desired_replicas, d.rescale), (4, true));
    let last = d.conditions.last().unwrap();
    assert_eq!(
        (last.reason, last.message.as_str()),
        (
            "SucceededRescale",
            "the HPA controller was able to update the target scale to 4"
        )
    );
    assert_eq!(status(&d)[0], ("AbleToScale", true, "SucceededRescale"));
}

#[test]
fn bounds_and_rate_limits_set_scaling_limited_true_with_the_limit_as_reason() {
    let h = HpaHistory::default;
    // 4 pods at 10 %: proposal ceil(0.2 × 4) = 1, below minReplicas 3 (the 100 % per
    // 15 s scale-down policy would allow 0).
    let d = sync(
        &rule(Some(no_down_window())),
        (3, 10),
        4,
        100.0,
        at(0),
        &mut h(),
    );
    assert_eq!(d.desired_replicas, 3);
    assert_eq!(status(&d)[2], ("ScalingLimited", true, "TooFewReplicas"));
    // 4 pods at 300 %: proposal 24; the policies allow max(4 + 4, 2 × 4) = 8, more than
    // maxReplicas 5.
    let d = sync(
        &rule(Some(Behavior::default())),
        (1, 5),
        4,
        3000.0,
        at(0),
        &mut h(),
    );
    assert_eq!(d.desired_replicas, 5);
    assert_eq!(status(&d)[2], ("ScalingLimited", true, "TooManyReplicas"));
    // Without a behavior: 4 pods at 200 % propose 16, capped at max(2 × 4, 4) = 8 < 20.
    let d = sync(&rule(None), (1, 20), 4, 2000.0, at(0), &mut h());
    assert_eq!(d.desired_replicas, 8);
    assert_eq!(status(&d)[2], ("ScalingLimited", true, "ScaleUpLimit"));
    // A policy of 1 pod per minute down: 10 pods at 10 % propose 2, allowed 9.
    let one_pod = Behavior {
        scale_down: ScalingRules {
            policies: vec![crate::sim::autoscaler::ScalingPolicy {
                kind: crate::sim::autoscaler::ScalingPolicyKind::Pods,
                value: 1,
                period_seconds: 60,
            }],
            ..ScalingRules::default_scale_down(0)
        },
        ..Behavior::default()
    };
    let d = sync(&rule(Some(one_pod)), (1, 20), 10, 100.0, at(0), &mut h());
    assert_eq!(d.desired_replicas, 9);
    assert_eq!(status(&d)[2], ("ScalingLimited", true, "ScaleDownLimit"));
}

#[test]
fn stabilization_windows_hold_the_count_and_say_which_way() {
    // Default behavior: the first sync records the current 10, which the 300 s scale-down
    // window keeps although 10 % use proposes 2.
    let mut h = HpaHistory::default();
    let d = sync(
        &rule(Some(Behavior::default())),
        (1, 20),
        10,
        100.0,
        at(0),
        &mut h,
    );
    assert_eq!(d.desired_replicas, 10);
    assert_eq!(status(&d)[0], ("AbleToScale", true, "ScaleDownStabilized"));
    // The same without a behavior (the controller's 300 s window).
    let d = sync(
        &rule(None),
        (1, 20),
        10,
        100.0,
        at(0),
        &mut HpaHistory::default(),
    );
    assert_eq!(status(&d)[0], ("AbleToScale", true, "ScaleDownStabilized"));
    // A 60 s scale-up window: on target at 0 s (4), then 100 % at 15 s proposes 8, but the
    // lowest recommendation of the last minute is 4.
    let up_window = Behavior {
        scale_up: ScalingRules {
            stabilization_window_seconds: 60,
            ..ScalingRules::default_scale_up()
        },
        ..Behavior::default()
    };
    let r = rule(Some(up_window));
    let mut h = HpaHistory::default();
    sync(&r, (1, 20), 4, 500.0, at(0), &mut h);
    let d = sync(&r, (1, 20), 4, 1000.0, at(15), &mut h);
    assert_eq!((d.desired_replicas, d.rescale), (4, false));
    assert_eq!(status(&d)[0], ("AbleToScale", true, "ScaleUpStabilized"));
}

#[test]
fn zero_replicas_report_scaling_disabled() {
    let d = rule(None).reconcile(
        ReplicaBounds::new(1, 5).unwrap(),
        &HpaObservation {
            now: at(0),
            spec_replicas: 0,
            pods: &[],
            metrics: &[],
            containers: &[],
        },
        &mut HpaHistory::default(),
    );
    assert_eq!(
        status(&d),
        [
            ("AbleToScale", true, "SucceededGetScale"),
            ("ScalingActive", false, "ScalingDisabled"),
        ]
    );
}

#[test]
fn out_of_bounds_syncs_keep_the_metric_conditions_of_earlier_syncs() {
    // Kubernetes sets no ScalingActive or ScalingLimited while bringing the count into
    // the bounds: the previous sync's stay.
    let r = rule(None);
    let mut h = HpaHistory::default();
    let mut held = HpaConditions::default();
    let d = sync(&r, (2, 5), 4, 500.0, at(0), &mut h);
    held.apply(&d.conditions, at(0));
    let d = sync(&r, (2, 5), 9, 500.0, at(15), &mut h);
    assert_eq!(d.desired_replicas, 5);
    held.apply(&d.conditions, at(15));
    let reasons: Vec<_> = held.held().iter().map(|h| h.condition.reason).collect();
    assert_eq!(
        reasons,
        ["SucceededRescale", "ValidMetricFound", "DesiredWithinRange"]
    );
}

#[test]
fn metric_names_follow_horizontal_go() {
    let object = |target| HpaMetric::Object {
        object: ObjectRef {
            kind: ObjectKind::Service,
            name: "front".into(),
        },
        metric: TwinMetric::RequestsPerSecond,
        target,
    };
    let names = [
        HpaMetric::CpuUtilization {
            target_percent: 1,
            container: Some("app".into()),
        }
        .status_name(),
        HpaMetric::CpuAverageValue {
            target_millicores: 1,
            container: None,
        }
        .status_name(),
        HpaMetric::Pods {
            metric: TwinMetric::QueueLength,
            target_milli: 1,
        }
        .status_name(),
        object(ObjectTarget::Value(1)).status_name(),
        object(ObjectTarget::AverageValue(1)).status_name(),
    ];
    assert_eq!(
        names,
        [
            "cpu container resource utilization (percentage of request)",
            "cpu resource",
            "pods metric queue_length",
            "Service metric requests_per_second",
            "external metric requests_per_second(nil)",
        ]
    );
}

/// An `AverageValue` cpu target fails as "failed to get cpu usage", a `Utilization` one
/// as "failed to get cpu utilization" (`computeStatusForResourceMetricGeneric`).
#[test]
fn a_failed_cpu_average_value_metric_is_worded_as_usage() {
    let r = HpaRule {
        metrics: vec![HpaMetric::CpuAverageValue {
            target_millicores: 500,
            container: None,
        }],
        ..rule(None)
    };
    let d = sync_two(&r, [ready_pod(1000); 2], [None, None], &[]);
    assert_eq!(
        status(&d)[1],
        ("ScalingActive", false, "FailedGetResourceMetric")
    );
    assert_eq!(
        d.conditions[1].message,
        "the HPA was unable to compute the replica count: failed to get cpu usage: \
         did not receive metrics for targeted pods (pods might be unready)"
    );
}
