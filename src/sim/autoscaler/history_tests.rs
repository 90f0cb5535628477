//! Unit tests of `history`: the HPA documentation's policy examples, stabilization windows,
//! `Disabled`, and the legacy normalization, with the arithmetic in comments.

use super::*;
use crate::sim::autoscaler::behavior::ScalingPolicy;

fn at(secs: u64) -> SimTime {
    SimTime(secs * 1_000_000_000)
}

fn bounds(min: u32, max: u32) -> ReplicaBounds {
    ReplicaBounds::new(min, max).unwrap()
}

fn policy(kind: ScalingPolicyKind, value: u32, period_seconds: u32) -> ScalingPolicy {
    ScalingPolicy {
        kind,
        value,
        period_seconds,
    }
}

/// The documentation's scale-down example: 4 pods or 10 % per 60 s, no stabilization.
fn docs_scale_down(select_policy: SelectPolicy) -> Behavior {
    Behavior {
        scale_up: ScalingRules::default_scale_up(),
        scale_down: ScalingRules {
            stabilization_window_seconds: 0,
            select_policy,
            policies: vec![
                policy(ScalingPolicyKind::Pods, 4, 60),
                policy(ScalingPolicyKind::Percent, 10, 60),
            ],
        },
    }
}

/// One sync with a constant desire: rate limit, then record the rescale if any.
fn step(h: &mut HpaHistory, b: &Behavior, current: u32, desired: u32, now: SimTime) -> u32 {
    let (next, _) = h.rate_limit(b, bounds(1, 100), current, desired, now);
    if next != current {
        h.record_scale(b, current, next, now);
    }
    next
}

#[test]
fn docs_scale_down_select_max_80_replicas() {
    // At 80 replicas 10 % (8) beats 4 pods: 80 → 72. Within the same 60 s period the
    // period started at 72 + 8 = 80, so the limit stays 72 until t = 60 s.
    let b = docs_scale_down(SelectPolicy::Max);
    let mut h = HpaHistory::default();
    assert_eq!(step(&mut h, &b, 80, 10, at(0)), 72);
    for t in [15, 30, 45] {
        assert_eq!(step(&mut h, &b, 72, 10, at(t)), 72, "t = {t}");
    }
    // "10 % of 72 is 7.2, rounded up to 8": int(72 × 0.9) = int(64.8) = 64.
    let mut current = step(&mut h, &b, 72, 10, at(60));
    assert_eq!(current, 64);
    // Every 60 s: min(n − 4, int(0.9 n)). 64 → 57 → 51 → 45 → 40 → 36 → 32 → 28, and
    // below 40 four pods is the larger change: 28 → 24 → 20 → 16 → 12 → 10 (the target).
    let mut seen = vec![current];
    for k in 2..16 {
        current = step(&mut h, &b, current, 10, at(60 * k));
        seen.push(current);
    }
    assert_eq!(
        seen,
        [64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10, 10, 10]
    );
}

#[test]
fn docs_scale_down_select_min_takes_the_smaller_change() {
    // selectPolicy Min: max(80 − 4, int(80 × 0.9)) = max(76, 72) = 76; next period
    // max(72, int(68.4)) = 72.
    let b = docs_scale_down(SelectPolicy::Min);
    let mut h = HpaHistory::default();
    assert_eq!(step(&mut h, &b, 80, 10, at(0)), 76);
    assert_eq!(step(&mut h, &b, 76, 10, at(30)), 76);
    assert_eq!(step(&mut h, &b, 76, 10, at(60)), 72);
}

#[test]
fn default_scale_up_is_4_pods_or_100_percent_per_15s() {
    let b = Behavior::default();
    let mut h = HpaHistory::default();
    // From 1: max(1 + 4, ceil(1 × 2)) = 5. From 10: max(14, 20) = 20.
    assert_eq!(h.rate_limit(&b, bounds(1, 100), 1, 50, at(0)).0, 5);
    assert_eq!(step(&mut h, &b, 10, 50, at(0)), 20);
    // 10 s later the period started at 20 − 10 = 10: still at most 20.
    assert_eq!(
        h.rate_limit(&b, bounds(1, 100), 20, 50, at(10)),
        (20, ScalingLimit::ScaleUpLimit)
    );
    // At 15 s the event has left the period (0 is not after 15 − 15): max(24, 40) = 40, and
    // maxReplicas 30 binds first.
    assert_eq!(
        h.rate_limit(&b, bounds(1, 30), 20, 50, at(15)),
        (30, ScalingLimit::TooManyReplicas)
    );
}

#[test]
fn recent_scale_downs_raise_the_scale_up_limit() {
    // Scaled 20 → 10 at 0 s; at 5 s the period started at 10 − 0 + 10 = 20, so the default
    // scale-up allows max(24, 40) = 40 and 30 passes.
    let b = Behavior::default();
    let mut h = HpaHistory::default();
    h.record_scale(&b, 20, 10, at(0));
    assert_eq!(
        h.rate_limit(&b, bounds(1, 100), 10, 30, at(5)),
        (30, ScalingLimit::DesiredWithinRange)
    );
}

#[test]
fn a_limit_below_current_holds_the_count() {
    // 1 pod per 60 s, after +5 at 0 s: 15 − 5 + 1 = 11 < 15, so the limit is 15 itself.
    let b = Behavior {
        scale_up: ScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![policy(ScalingPolicyKind::Pods, 1, 60)],
        },
        ..Behavior::default()
    };
    let mut h = HpaHistory::default();
    h.record_scale(&b, 10, 15, at(0));
    assert_eq!(
        h.rate_limit(&b, bounds(1, 100), 15, 20, at(10)),
        (15, ScalingLimit::ScaleUpLimit)
    );
}

#[test]
fn disabled_direction_never_moves() {
    let mut b = Behavior::default();
    b.scale_down.select_policy = SelectPolicy::Disabled;
    let h = HpaHistory::default();
    assert_eq!(
        h.rate_limit(&b, bounds(1, 100), 10, 2, at(0)),
        (10, ScalingLimit::ScaleDownLimit)
    );
    assert_eq!(
        h.rate_limit(&b, bounds(1, 100), 10, 15, at(0)).0,
        15,
        "scale-up still works"
    );
    b.scale_up.select_policy = SelectPolicy::Disabled;
    assert_eq!(
        h.rate_limit(&b, bounds(1, 100), 10, 15, at(0)),
        (10, ScalingLimit::ScaleUpLimit)
    );
}

#[test]
fn below_min_is_reported_as_too_few_replicas() {
    // 100 % per 15 s allows 0; minReplicas 3 binds.
    let h = HpaHistory::default();
    let b = Behavior::default();
    assert_eq!(
        h.rate_limit(&b, bounds(3, 10), 8, 1, at(0)),
        (3, ScalingLimit::TooFewReplicas)
    );
}

#[test]
fn scale_down_stabilization_takes_the_highest_recent_recommendation() {
    let b = Behavior::default(); // scale-down window 300 s, scale-up window 0
    let mut h = HpaHistory::default();
    h.record_initial(10, at(0));
    // Recommendations 10 (initial), 8, 6: within 300 s the highest is 10, so no scale-down.
    assert_eq!(h.stabilize(&b, 10, 8, at(15)), 10);
    assert_eq!(h.stabilize(&b, 10, 6, at(30)), 10);
    // At 315 s only the 6 recorded at 30 s is newer than 315 − 300 (15 s is not after 15 s).
    assert_eq!(h.stabilize(&b, 10, 6, at(315)), 6);
    // The slot of the 0 s record (older than both windows) was reused.
    assert_eq!(h.recommendations().len(), 3);
    assert!(h.recommendations().iter().all(|r| r.at != at(0)));
}

#[test]
fn scale_up_stabilization_takes_the_lowest_recent_recommendation() {
    let mut b = Behavior::default();
    b.scale_up.stabilization_window_seconds = 60;
    let mut h = HpaHistory::default();
    h.record_initial(4, at(0));
    // Up window: min(12, 4) = 4, so current 4 stays (down window: max(12, 4) = 12).
    assert_eq!(h.stabilize(&b, 4, 12, at(30)), 4);
    // At 61 s the 4 from 0 s has left the window: min(12, 12) = 12.
    assert_eq!(h.stabilize(&b, 4, 12, at(61)), 12);
}

#[test]
fn legacy_stabilization_includes_the_cutoff_instant() {
    // stabilizeRecommendation keeps a record unless it is strictly before now − window.
    let mut h = HpaHistory::default();
    h.record_initial(10, at(0));
    assert_eq!(h.stabilize_legacy(300, 5, at(300)), 10);
    assert_eq!(h.stabilize_legacy(300, 5, at(301)), 5);
}

#[test]
fn legacy_limit_is_bounds_and_twice_current_or_four() {
    // max(2 × 1, 4) = 4; max(2 × 10, 4) = 20; maxReplicas below that: TooManyReplicas.
    assert_eq!(
        legacy_limit(bounds(1, 100), 1, 10),
        (4, ScalingLimit::ScaleUpLimit)
    );
    assert_eq!(
        legacy_limit(bounds(1, 100), 10, 50),
        (20, ScalingLimit::ScaleUpLimit)
    );
    assert_eq!(
        legacy_limit(bounds(1, 12), 10, 50),
        (12, ScalingLimit::TooManyReplicas)
    );
    assert_eq!(
        legacy_limit(bounds(2, 12), 10, 1),
        (2, ScalingLimit::TooFewReplicas)
    );
    // No rate limit downwards.
    assert_eq!(
        legacy_limit(bounds(1, 12), 10, 1),
        (1, ScalingLimit::DesiredWithinRange)
    );
}

#[test]
fn scale_events_reuse_outdated_slots() {
    let b = Behavior::default(); // longest scale-up period 15 s
    let mut h = HpaHistory::default();
    h.record_scale(&b, 1, 5, at(0));
    h.record_scale(&b, 5, 9, at(10));
    assert_eq!(h.scale_up_events().len(), 2);
    // At 100 s both are older than 15 s: marked outdated, the last one's slot is reused.
    h.record_scale(&b, 9, 12, at(100));
    let events = h.scale_up_events();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        ScaleEvent {
            change: 3,
            at: at(100),
            outdated: false
        }
    );
    assert!(events[0].outdated);
    h.record_scale(&b, 12, 7, at(101));
    assert_eq!(
        h.scale_down_events(),
        [ScaleEvent {
            change: 5,
            at: at(101),
            outdated: false
        }]
    );
}
