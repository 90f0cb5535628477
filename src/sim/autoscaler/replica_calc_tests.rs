//! Unit tests of `replica_calc`: the Kubernetes HPA documentation's examples and cases
//! modelled on `replica_calculator_test.go`, each with its arithmetic.

use super::*;
use crate::sim::autoscaler::observation::testing::{pending_pod, ready_pod, sample, unready_pod};
use crate::sim::autoscaler::observation::{PodSample, ReadyCondition};

const TOL: ToleranceBand = ToleranceBand::DEFAULT;

fn at(secs: f64) -> SimTime {
    SimTime::from_secs(secs)
}

/// Kubernetes' default flags: 5 min CPU initialization period, 30 s readiness delay.
fn clock(now: SimTime) -> CpuReadiness {
    CpuReadiness {
        now,
        initialization_period: at(300.0),
        initial_readiness_delay: at(30.0),
    }
}

fn samples(values: &[Option<f64>], now: SimTime) -> Vec<Option<PodMetric>> {
    values
        .iter()
        .map(|v| v.and_then(|v| sample(v, now)))
        .collect()
}

/// CPU utilization proposal at t = 1000 s (after every pod's initialization period).
fn cpu(
    current: u32,
    target: u32,
    pods: &[PodSample],
    usage: &[Option<f64>],
) -> Result<MetricProposal, MetricError> {
    let now = at(1000.0);
    cpu_utilization(
        current,
        target,
        TOL,
        pods,
        &samples(usage, now),
        clock(now),
        CpuRequests::Pod,
    )
}

/// Pods-metric proposal (values in the metric's unit, target in milli-units).
fn pods_metric(current: u32, target_milli: i64, pods: &[PodSample], values: &[Option<f64>]) -> u32 {
    let now = at(1000.0);
    average_value(
        current,
        target_milli,
        TOL,
        pods,
        &samples(values, now),
        None,
        1000.0,
    )
    .unwrap()
    .replicas
}

#[test]
fn docs_200m_vs_100m_doubles_50m_halves_105m_stays() {
    // desiredReplicas = ceil(currentReplicas × currentMetricValue / desiredMetricValue).
    let pods = [ready_pod(1000); 4];
    // 200m / 100m = 2.0: ceil(4 × 2) = 8.
    assert_eq!(pods_metric(4, 100, &pods, &[Some(0.2); 4]), 8);
    // 50m / 100m = 0.5: ceil(4 × 0.5) = 2.
    assert_eq!(pods_metric(4, 100, &pods, &[Some(0.05); 4]), 2);
    // 105m / 100m = 1.05, within the 10 % tolerance: stays at 4.
    assert_eq!(pods_metric(4, 100, &pods, &[Some(0.105); 4]), 4);
}

#[test]
fn cpu_utilization_relative_to_requests() {
    // (500 + 700 + 900) × 100 / 3000 = 70 %; 70 / 50 = 1.4; ceil(1.4 × 3) = ceil(4.2) = 5.
    let p = cpu(
        3,
        50,
        &[ready_pod(1000); 3],
        &[Some(500.0), Some(700.0), Some(900.0)],
    )
    .unwrap();
    assert_eq!((p.replicas, p.current), (5, 70.0));
    // Same as an AverageValue of 500m: average 700m / 500m = 1.4 → 5.
    let now = at(1000.0);
    let s = samples(&[Some(500.0), Some(700.0), Some(900.0)], now);
    let p = average_value(
        3,
        500,
        TOL,
        &[ready_pod(1000); 3],
        &s,
        Some(clock(now)),
        1.0,
    )
    .unwrap();
    assert_eq!((p.replicas, p.current), (5, 700.0));
}

#[test]
fn utilization_is_truncated_to_a_whole_percent_before_the_tolerance() {
    // (300 + 300 + 415) × 100 / 3000 = 33.83 → 33 %; 33 / 30 = 1.1 is within tolerance: 3.
    // (Rounded, 34 / 30 = 1.133 would have given ceil(3.4) = 4.)
    let usage = [Some(300.0), Some(300.0), Some(415.0)];
    let p = cpu(3, 30, &[ready_pod(1000); 3], &usage).unwrap();
    assert_eq!((p.replicas, p.current), (3, 33.0));
}

#[test]
fn unready_pods_count_as_zero_on_scale_up() {
    // As TestReplicaCalcScaleUpUnreadyLessScale: ready (500 + 700) / 2000 = 60 % → ratio 2;
    // the unready pod at 0 %: 1200 × 100 / 3000 = 40 % → 1.333; ceil(1.333 × 3) = 4.
    let pods = [unready_pod(1000), ready_pod(1000), ready_pod(1000)];
    let p = cpu(3, 30, &pods, &[Some(300.0), Some(500.0), Some(700.0)]).unwrap();
    assert_eq!((p.replicas, p.current), (4, 60.0));
    // Pending pods likewise: (900 + 900) / 2000 = 90 % → 1.8; 1800 / 3000 = 60 % → 1.2;
    // ceil(1.2 × 3) = 4.
    let pods = [pending_pod(1000), ready_pod(1000), ready_pod(1000)];
    assert_eq!(
        cpu(3, 50, &pods, &[None, Some(900.0), Some(900.0)])
            .unwrap()
            .replicas,
        4
    );
}

#[test]
fn unready_pods_are_ignored_on_scale_down() {
    // As TestReplicaCalcScaleDownIncludeUnreadyPods: ready (100 + 300 + 500) / 3000 = 30 %;
    // 30 / 50 = 0.6; ceil(0.6 × 3) = ceil(1.8) = 2 (the two unready pods do not count).
    let pods = [
        ready_pod(1000),
        ready_pod(1000),
        ready_pod(1000),
        unready_pod(1000),
        unready_pod(1000),
    ];
    let usage = [
        Some(100.0),
        Some(300.0),
        Some(500.0),
        Some(250.0),
        Some(250.0),
    ];
    assert_eq!(cpu(5, 50, &pods, &usage).unwrap().replicas, 2);
}

#[test]
fn missing_metrics_count_as_100_percent_on_scale_down() {
    // Measured 300 / 3000 = 10 % → 0.2; the missing pod at 100 % of its request:
    // 1300 × 100 / 4000 = 32 % → 0.64; ceil(0.64 × 4) = ceil(2.56) = 3.
    let p = cpu(
        4,
        50,
        &[ready_pod(1000); 4],
        &[Some(100.0), Some(100.0), Some(100.0), None],
    )
    .unwrap();
    assert_eq!((p.replicas, p.current), (3, 10.0));
    // With a 150 % target the fallback is the target: 300 + 1500 = 1800 / 4000 = 45 %;
    // 45 / 150 = 0.3; ceil(0.3 × 4) = ceil(1.2) = 2.
    let p = cpu(
        4,
        150,
        &[ready_pod(1000); 4],
        &[Some(100.0), Some(100.0), Some(100.0), None],
    )
    .unwrap();
    assert_eq!(p.replicas, 2);
    // Pods metric: missing pods count as exactly on target. (1 + 1 + 1) / 3 = 1 vs 2 → 0.5;
    // with the missing pod at 2: 5000 / 4 = 1250 milli → 0.625; ceil(0.625 × 4) = 3.
    assert_eq!(
        pods_metric(
            4,
            2000,
            &[ready_pod(0); 4],
            &[Some(1.0), Some(1.0), Some(1.0), None]
        ),
        3
    );
}

#[test]
fn missing_metrics_count_as_zero_on_scale_up() {
    // 2700 / 3000 = 90 % → 1.8; the missing pod at 0: 2700 × 100 / 4000 = 67 % → 1.34;
    // ceil(1.34 × 4) = ceil(5.36) = 6.
    let p = cpu(
        4,
        50,
        &[ready_pod(1000); 4],
        &[Some(900.0), Some(900.0), Some(900.0), None],
    )
    .unwrap();
    assert_eq!(p.replicas, 6);
}

#[test]
fn filling_in_may_not_reverse_the_direction() {
    // 560 / 1000 = 56 % → 1.12 (scale up); the missing pod at 0: 560 / 2000 = 28 % → 0.56
    // would scale down instead: keep 2.
    assert_eq!(
        cpu(2, 50, &[ready_pod(1000); 2], &[Some(560.0), None])
            .unwrap()
            .replicas,
        2
    );
    // Filling in lands within tolerance: 1200 / 2000 = 60 % → 1.2; with the missing pod at 0:
    // 1200 / 2500 = 48 % → 0.96, within [0.9, 1.1] and reversed: keep 3.
    let pods = [ready_pod(1000), ready_pod(1000), ready_pod(500)];
    assert_eq!(
        cpu(3, 50, &pods, &[Some(600.0), Some(600.0), None])
            .unwrap()
            .replicas,
        3
    );
    // And the other way: 400 / 1000 = 40 % → 0.8 (scale down); the two missing pods at 100 %:
    // 2400 / 3000 = 80 % → 1.6 would scale up instead: keep 3.
    let usage = [Some(400.0), None, None];
    assert_eq!(
        cpu(3, 50, &[ready_pod(1000); 3], &usage).unwrap().replicas,
        3
    );
    // Nor may a pod count that differs from spec.replicas: 4 pods for spec 2, one missing.
    // 300 / 3000 = 10 % → 0.2; with the missing pod at 100 %: 1300 / 4000 = 32 % → 0.64,
    // but ceil(0.64 × 4) = 3 > 2 would be a scale-up: keep 2.
    let usage = [Some(100.0), Some(100.0), Some(100.0), None];
    assert_eq!(
        cpu(2, 50, &[ready_pod(1000); 4], &usage).unwrap().replicas,
        2
    );
    // 3 pods for spec 10: 1800 / 2000 = 90 % → 1.8; 1800 / 3000 = 60 % → 1.2, but
    // ceil(1.2 × 3) = 4 < 10 would be a scale-down: keep 10.
    let usage = [Some(900.0), Some(900.0), None];
    assert_eq!(
        cpu(10, 50, &[ready_pod(1000); 3], &usage).unwrap().replicas,
        10
    );
}

#[test]
fn terminating_and_failed_pods_are_ignored() {
    let leaving = PodSample {
        terminating: true,
        ..ready_pod(1000)
    };
    let failed = PodSample {
        phase: PodPhase::Failed,
        ..ready_pod(1000)
    };
    // Only the first two count: (800 + 800) / 2000 = 80 % → 1.6; ceil(1.6 × 2) = 4.
    let pods = [ready_pod(1000), ready_pod(1000), leaving, failed];
    let usage = [Some(800.0), Some(800.0), Some(0.0), Some(0.0)];
    assert_eq!(cpu(2, 50, &pods, &usage).unwrap().replicas, 4);
}

#[test]
fn cpu_samples_taken_before_readiness_are_set_aside_during_initialization() {
    let now = at(100.0);
    let ready_since = |secs| PodSample {
        ready: Some(ReadyCondition {
            ready: true,
            last_transition: at(secs),
        }),
        ..ready_pod(1000)
    };
    // Started at 0, inside the 300 s initialization period. Ready since 90 s: its 60 s
    // window (40..100 s) began before readiness → set aside. Ready since 30 s → counted.
    let pods = [ready_since(90.0), ready_since(30.0)];
    let s = samples(&[Some(100.0), Some(900.0)], now);
    // Only the second pod: 900 / 1000 = 90 % → 1.8; the other at 0: 900 / 2000 = 45 % →
    // 0.9, within tolerance → keep 2.
    assert_eq!(
        cpu_utilization(2, 50, TOL, &pods, &s, clock(now), CpuRequests::Pod)
            .unwrap()
            .replicas,
        2
    );
    // Had both counted: 1000 / 2000 = 50 % → exactly on target, also 2; so check the
    // grouping directly.
    let g = group_pods(&pods, &s, Some(clock(now)), 1.0);
    assert_eq!((g.ready, g.unready.as_slice()), (1, &[0][..]));
}

#[test]
fn after_initialization_only_never_ready_pods_are_set_aside() {
    let now = at(1000.0);
    // Ready once, unready since 350 s (after start + 30 s): its sample is used.
    let flapped = PodSample {
        ready: Some(ReadyCondition {
            ready: false,
            last_transition: at(350.0),
        }),
        ..ready_pod(1000)
    };
    // Unready since 20 s, i.e. within 30 s of its start: never became ready, set aside.
    let never = PodSample {
        ready: Some(ReadyCondition {
            ready: false,
            last_transition: at(20.0),
        }),
        ..ready_pod(1000)
    };
    let pods = [flapped, never];
    let g = group_pods(
        &pods,
        &samples(&[Some(1.0), Some(1.0)], now),
        Some(clock(now)),
        1.0,
    );
    assert_eq!((g.ready, g.unready.as_slice()), (1, &[1][..]));
    // Pods metrics never look at readiness, only at the phase.
    let g = group_pods(&pods, &samples(&[Some(1.0), Some(1.0)], now), None, 1000.0);
    assert_eq!(g.ready, 2);
}

#[test]
fn errors_follow_the_controller() {
    assert_eq!(cpu(1, 50, &[], &[]), Err(MetricError::NoPods));
    assert_eq!(
        cpu(2, 50, &[pending_pod(1000); 2], &[None, None]),
        Err(MetricError::NoMetrics)
    );
    let no_request = PodSample {
        cpu_request_millis: None,
        ..pending_pod(0)
    };
    assert_eq!(
        cpu(2, 50, &[ready_pod(1000), no_request], &[Some(1.0), None]),
        Err(MetricError::MissingRequest { pod: 1 })
    );
    assert_eq!(
        cpu(1, 50, &[ready_pod(0)], &[Some(1.0)]),
        Err(MetricError::ZeroRequests)
    );
    assert_eq!(
        cpu(2, 50, &[ready_pod(1000); 2], &[Some(1.0)]),
        Err(MetricError::Misaligned {
            samples: 1,
            pods: 2
        })
    );
}

#[test]
fn object_value_scales_with_ready_pods() {
    let pods = [ready_pod(0), ready_pod(0), unready_pod(0)];
    // 300 / 100 = 3; 2 ready pods: ceil(3 × 2) = 6.
    let p = object_value(3, Some(300.0), 100_000, TOL, &pods).unwrap();
    assert_eq!((p.replicas, p.current), (6, 300.0));
    // 105 / 100 within tolerance: spec replicas (3).
    assert_eq!(
        object_value(3, Some(105.0), 100_000, TOL, &pods)
            .unwrap()
            .replicas,
        3
    );
    // 0.5 × 2 ready = 1.
    assert_eq!(
        object_value(3, Some(50.0), 100_000, TOL, &pods)
            .unwrap()
            .replicas,
        1
    );
    assert_eq!(
        object_value(3, None, 100_000, TOL, &pods),
        Err(MetricError::ObjectValueUnavailable)
    );
    assert_eq!(
        object_value(3, Some(300.0), 100_000, TOL, &[]),
        Err(MetricError::NoPods)
    );
}

#[test]
fn object_average_value_divides_by_the_target() {
    // 500 over 3 replicas vs 100 each: 500 / 300 = 1.67 → ceil(500 / 100) = 5; status shows
    // ceil(500000 / 3) milli = 166.667.
    let p = object_average_value(3, Some(500.0), 100_000, TOL).unwrap();
    assert_eq!(p.replicas, 5);
    assert!((p.current - 166.667).abs() < 1e-9);
    // 310 / 300 = 1.033 within tolerance: stays at 3.
    assert_eq!(
        object_average_value(3, Some(310.0), 100_000, TOL)
            .unwrap()
            .replicas,
        3
    );
    // As TestReplicaCalcScaleDownPerPodCMExternal: 8.6 vs 2.867 per pod over 5: ceil(3.0) = 3.
    assert_eq!(
        object_average_value(5, Some(8.6), 2867, TOL)
            .unwrap()
            .replicas,
        3
    );
}

#[test]
fn milli_rounds_up_but_forgives_float_noise() {
    assert_eq!(milli(12.3, 1000.0), 12_300);
    assert_eq!(milli(523.4, 1.0), 524);
    assert_eq!(milli(-1.0, 1000.0), 0);
    assert_eq!(milli(f64::NAN, 1000.0), 0);
}
