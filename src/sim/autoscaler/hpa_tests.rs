//! Unit tests of `hpa`: whole syncs of the Kubernetes rule, with the arithmetic in comments.

use super::*;
use crate::sim::autoscaler::behavior::{Behavior, ScalingRules};
use crate::sim::autoscaler::observation::testing::{ready_pod, sample};
use crate::sim::autoscaler::observation::{PodMetric, PodSample};

/// `secs` after the first sync, which happens 1000 s into the run: the fixture pods
/// (running and ready since 0 s) are past kube-controller-manager's 5 min CPU
/// initialization period, so their CPU samples count.
fn at(secs: u64) -> SimTime {
    SimTime((1000 + secs) * 1_000_000_000)
}

fn bounds(min: u32, max: u32) -> ReplicaBounds {
    ReplicaBounds::new(min, max).unwrap()
}

fn rule(metrics: Vec<HpaMetric>, behavior: Option<Behavior>) -> HpaRule {
    HpaRule {
        metrics,
        behavior,
        tolerance: ToleranceBand::DEFAULT,
        controller: ControllerSettings::default(),
    }
}

fn cpu50() -> HpaMetric {
    HpaMetric::CpuUtilization {
        target_percent: 50,
        container: None,
    }
}

fn rps(target: u64) -> HpaMetric {
    HpaMetric::Pods {
        metric: TwinMetric::RequestsPerSecond,
        target_milli: target * 1000,
    }
}

/// `n` ready pods requesting 1000m, each with the same sample `value`.
fn fleet(n: usize, value: f64, now: SimTime) -> (Vec<PodSample>, Vec<Option<PodMetric>>) {
    (vec![ready_pod(1000); n], vec![sample(value, now); n])
}

/// One sync where every metric is per-pod and every pod reports `value`.
fn sync(
    r: &HpaRule,
    b: ReplicaBounds,
    current: u32,
    value: f64,
    now: SimTime,
    h: &mut HpaHistory,
) -> HpaDecision {
    let (pods, samples) = fleet(current as usize, value, now);
    let metrics = vec![MetricSample::PerPod(&samples); r.metrics.len()];
    r.reconcile(
        b,
        &HpaObservation {
            now,
            spec_replicas: current,
            pods: &pods,
            metrics: &metrics,
            containers: &[],
        },
        h,
    )
}

#[test]
fn without_behavior_scale_up_is_capped_at_twice_current_or_four() {
    let r = rule(vec![cpu50()], None);
    let mut h = HpaHistory::default();
    // 2 pods at 1000m of 1000m: 100 % / 50 % = 2 → ceil(2 × 2) = 4 = max(2 × 2, 4).
    let d = sync(&r, bounds(1, 20), 2, 1000.0, at(0), &mut h);
    assert_eq!((d.desired_replicas, d.rescale), (4, true));
    assert_eq!(
        d.reason,
        DecisionReason::Metrics {
            proposal: 4,
            stabilized: 4,
            limit: ScalingLimit::DesiredWithinRange
        }
    );
    // 4 pods at 2000m: 200 % → 4 → ceil(4 × 4) = 16, capped at max(2 × 4, 4) = 8.
    let d = sync(&r, bounds(1, 20), 4, 2000.0, at(15), &mut h);
    assert_eq!(d.desired_replicas, 8);
    assert_eq!(
        d.reason,
        DecisionReason::Metrics {
            proposal: 16,
            stabilized: 16,
            limit: ScalingLimit::ScaleUpLimit
        }
    );
    // No scale events are kept without a behavior.
    assert!(h.scale_up_events().is_empty());
}

#[test]
fn without_behavior_scale_down_waits_for_the_300s_window() {
    let r = rule(vec![cpu50()], None);
    let mut h = HpaHistory::default();
    assert_eq!(
        sync(&r, bounds(1, 20), 2, 1000.0, at(0), &mut h).desired_replicas,
        4
    );
    // Then load vanishes: 100m of 1000m is 10 % → 0.2 → ceil(0.8) = 1, but the 4 recorded at
    // 0 s stays in the window through 300 s (stabilizeRecommendation keeps the cutoff).
    for t in (15..=300).step_by(15) {
        let d = sync(&r, bounds(1, 20), 4, 100.0, at(t), &mut h);
        assert_eq!((d.desired_replicas, d.rescale), (4, false), "t = {t}");
    }
    let d = sync(&r, bounds(1, 20), 4, 100.0, at(315), &mut h);
    assert_eq!((d.desired_replicas, d.rescale), (1, true));
}

#[test]
fn with_default_behavior_a_new_hpa_waits_before_scaling_down() {
    let r = rule(vec![cpu50()], Some(Behavior::default()));
    let mut h = HpaHistory::default();
    // First sync at 10 replicas, 10 % use: proposal ceil(0.2 × 10) = 2, but the initial
    // recommendation (10) is in the 300 s scale-down window.
    let d = sync(&r, bounds(1, 20), 10, 100.0, at(0), &mut h);
    assert_eq!(
        d.reason,
        DecisionReason::Metrics {
            proposal: 2,
            stabilized: 10,
            limit: ScalingLimit::DesiredWithinRange
        }
    );
    assert!(!d.rescale);
    // At 300 s the 0 s records are no longer after 300 − 300: 100 % per 15 s allows 2.
    let d = sync(&r, bounds(1, 20), 10, 100.0, at(300), &mut h);
    assert_eq!((d.desired_replicas, d.rescale), (2, true));
    assert_eq!(h.scale_down_events()[0].change, 8);
}

#[test]
fn step_load_rises_within_two_periods() {
    // 4 pods at 5× their target: proposal 20 each period; default scale-up allows
    // max(4 + 4, 2 × 4) = 8 at 0 s, then max(12, 16) = 16 at 15 s, then 20.
    let r = rule(vec![rps(10)], Some(Behavior::default()));
    let mut h = HpaHistory::default();
    let mut current = 4;
    let mut seen = Vec::new();
    for t in [0, 15, 30] {
        let (pods, samples) = fleet(current as usize, 50.0 * 4.0 / f64::from(current), at(t));
        let obs = HpaObservation {
            now: at(t),
            spec_replicas: current,
            pods: &pods,
            metrics: &[MetricSample::PerPod(&samples)],
            containers: &[],
        };
        current = r.reconcile(bounds(1, 50), &obs, &mut h).desired_replicas;
        seen.push(current);
    }
    // Load 200 rps in total: 4 pods → 50 each → 5 × 4 = 20; 8 pods → 25 → 2.5 × 8 = 20.
    assert_eq!(seen, [8, 16, 20]);
}

#[test]
fn the_largest_metric_proposal_wins() {
    let r = rule(vec![cpu50(), rps(10)], Some(Behavior::default()));
    let now = at(0);
    let pods = vec![ready_pod(1000); 3];
    let cpu = vec![sample(500.0, now); 3]; // 50 % → on target → 3
    let rps = vec![sample(20.0, now); 3]; // 20 / 10 = 2 → 6
    let metrics = [MetricSample::PerPod(&cpu), MetricSample::PerPod(&rps)];
    let obs = HpaObservation {
        now,
        spec_replicas: 3,
        pods: &pods,
        metrics: &metrics,
        containers: &[],
    };
    let d = r.reconcile(bounds(1, 10), &obs, &mut HpaHistory::default());
    assert_eq!(d.desired_replicas, 6);
    let proposals: Vec<u32> = d
        .metrics
        .iter()
        .map(|m| m.as_ref().unwrap().replicas)
        .collect();
    assert_eq!(proposals, [3, 6]);
}

#[test]
fn a_failed_metric_blocks_scale_down_but_not_scale_up() {
    let no_window = Behavior {
        scale_down: ScalingRules::default_scale_down(0),
        ..Behavior::default()
    };
    let r = rule(vec![cpu50(), rps(10)], Some(no_window));
    let now = at(0);
    let pods = vec![ready_pod(1000); 4];
    let missing: Vec<Option<PodMetric>> = vec![None; 4];
    let low = vec![sample(1.0, now); 4]; // 1 / 10 → ceil(0.1 × 4) = 1
    let high = vec![sample(20.0, now); 4]; // 2 → 8
    for (samples, expected, reason_is_invalid) in [(&low, 4, true), (&high, 8, false)] {
        let metrics = [
            MetricSample::PerPod(&missing),
            MetricSample::PerPod(samples),
        ];
        let obs = HpaObservation {
            now,
            spec_replicas: 4,
            pods: &pods,
            metrics: &metrics,
            containers: &[],
        };
        let d = r.reconcile(bounds(1, 10), &obs, &mut HpaHistory::default());
        assert_eq!(d.desired_replicas, expected);
        assert_eq!(
            d.reason == DecisionReason::InvalidMetrics,
            reason_is_invalid
        );
        assert_eq!(d.metrics[0], Err(MetricError::NoMetrics));
    }
}

#[test]
fn out_of_bounds_counts_move_straight_into_bounds() {
    let r = rule(vec![cpu50()], Some(Behavior::default()));
    let mut h = HpaHistory::default();
    let d = sync(&r, bounds(2, 5), 9, 0.0, at(0), &mut h);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (5, DecisionReason::AboveMaxReplicas)
    );
    assert!(d.metrics.is_empty());
    assert_eq!(h.scale_down_events()[0].change, 4);
    let d = sync(&r, bounds(2, 5), 1, 0.0, at(15), &mut h);
    assert_eq!(
        (d.desired_replicas, d.reason),
        (2, DecisionReason::BelowMinReplicas)
    );
}

#[test]
fn zero_replicas_disables_scaling() {
    let r = rule(vec![cpu50()], None);
    let d = r.reconcile(
        bounds(1, 5),
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
        (d.desired_replicas, d.rescale, d.reason),
        (0, false, DecisionReason::ScalingDisabled)
    );
}

#[test]
fn objects_use_object_samples_and_average_value_uses_status_replicas() {
    let target = ObjectRef {
        kind: ObjectKind::Service,
        name: "front".into(),
    };
    let object = |t| HpaMetric::Object {
        object: target.clone(),
        metric: TwinMetric::RequestsPerSecond,
        target: t,
    };
    let r = rule(
        vec![object(ObjectTarget::AverageValue(50_000))],
        Some(Behavior::default()),
    );
    let now = at(0);
    // 3 active pods (the terminating one does not count): 400 / (50 × 3) = 2.67, so
    // ceil(400 / 50) = 8, which the default scale-up policies cut to max(3 + 4, 2 × 3) = 7.
    let pods = [
        ready_pod(0),
        ready_pod(0),
        ready_pod(0),
        PodSample {
            terminating: true,
            ..ready_pod(0)
        },
    ];
    let metrics = [MetricSample::Object(Some(400.0))];
    let obs = HpaObservation {
        now,
        spec_replicas: 3,
        pods: &pods,
        metrics: &metrics,
        containers: &[],
    };
    let d = r.reconcile(bounds(1, 20), &obs, &mut HpaHistory::default());
    assert_eq!(d.desired_replicas, 7);
    assert_eq!(
        d.reason,
        DecisionReason::Metrics {
            proposal: 8,
            stabilized: 8,
            limit: ScalingLimit::ScaleUpLimit
        }
    );
    // The ratio uses status replicas (3), not spec replicas (4): 160 / (50 × 3) = 1.07 is
    // within tolerance, so the proposal is 3 (with 4, 160 / 200 = 0.8 would give 4).
    let metrics = [MetricSample::Object(Some(160.0))];
    let obs4 = HpaObservation {
        spec_replicas: 4,
        metrics: &metrics,
        ..obs
    };
    let d = r.reconcile(bounds(1, 20), &obs4, &mut HpaHistory::default());
    assert_eq!(d.metrics[0].as_ref().map(|p| p.replicas), Ok(3));
    // A per-pod sample for an object metric is an engine error.
    let samples = vec![sample(1.0, now); 4];
    let wrong = [MetricSample::PerPod(&samples)];
    let obs = HpaObservation {
        metrics: &wrong,
        ..obs
    };
    let d = r.reconcile(bounds(1, 20), &obs, &mut HpaHistory::default());
    assert_eq!(
        d.metrics[0],
        Err(MetricError::NotObserved { expected: "object" })
    );
    assert_eq!(
        (d.desired_replicas, d.reason),
        (3, DecisionReason::InvalidMetrics)
    );
    assert!(!object(ObjectTarget::Value(1)).is_per_pod() && cpu50().is_per_pod());
}

#[test]
fn twin_metric_names_round_trip() {
    for m in TwinMetric::ALL {
        assert_eq!(TwinMetric::from_name(m.name()), Some(m));
    }
    assert_eq!(TwinMetric::from_name("cpu"), None);
}
