//! The memory of an HPA between syncs and the algorithms that read it, as `horizontal.go`
//! implements them: stabilization (`stabilizeRecommendationWithBehaviors`), rate policies
//! (`convertDesiredReplicasWithBehaviorRate`, `calculateScaleUpLimitWithScalingRules`,
//! `calculateScaleDownLimitWithBehaviors`), scale events (`storeScaleEvent`), and the
//! controller's older normalization for HPAs without `spec.behavior`
//! (`stabilizeRecommendation`, `convertDesiredReplicasWithRules`).

use super::ReplicaBounds;
use super::behavior::{Behavior, ScalingPolicyKind, ScalingRules, SelectPolicy};
use super::hpa::ScalingLimit;
use crate::sim::time::SimTime;

/// A replica count the metrics recommended at a sync, before stabilization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampedRecommendation {
    /// The recommended count.
    pub replicas: u32,
    /// When.
    pub at: SimTime,
}

/// A change of the target's replicas made by the HPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    /// How many pods were added (scale-up list) or removed (scale-down list).
    pub change: u32,
    /// When.
    pub at: SimTime,
    /// Older than the longest policy period at the last store: its slot may be reused.
    pub outdated: bool,
}

/// The memory of one HPA between syncs (the controller's `recommendations`,
/// `scaleUpEvents` and `scaleDownEvents` maps, for one key). The engine keeps one per HPA,
/// starting from `HpaHistory::default()`, and passes it to every
/// [`super::HpaRule::reconcile`]. It stays small: old entries are overwritten in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HpaHistory {
    recommendations: Vec<TimestampedRecommendation>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
}

/// Seconds to nanoseconds.
fn ns(seconds: u32) -> u128 {
    u128::from(seconds) * 1_000_000_000
}

/// Go's `at.After(now - window)`.
fn after_cutoff(at: SimTime, now: SimTime, window_seconds: u32) -> bool {
    u128::from(at.0) + ns(window_seconds) > u128::from(now.0)
}

/// Go's `at.Before(now - window)`.
fn before_cutoff(at: SimTime, now: SimTime, window_seconds: u32) -> bool {
    u128::from(at.0) + ns(window_seconds) < u128::from(now.0)
}

/// Stores `value` in place of the last slot for which `stale` holds, or appends it.
fn replace_last_or_push<T: Copy>(list: &mut Vec<T>, value: T, stale: impl Fn(&T) -> bool) {
    match list.iter().rposition(stale) {
        Some(i) => list[i] = value,
        None => list.push(value),
    }
}

impl HpaHistory {
    /// The recorded recommendations (unstabilized), oldest slots reused.
    pub fn recommendations(&self) -> &[TimestampedRecommendation] {
        &self.recommendations
    }

    /// The recorded scale-up events.
    pub fn scale_up_events(&self) -> &[ScaleEvent] {
        &self.scale_up_events
    }

    /// The recorded scale-down events.
    pub fn scale_down_events(&self) -> &[ScaleEvent] {
        &self.scale_down_events
    }

    /// `recordInitialRecommendation`: on the first sync, the current count is the first
    /// recommendation (so a fresh HPA does not scale down before a full window).
    pub(crate) fn record_initial(&mut self, current: u32, now: SimTime) {
        if self.recommendations.is_empty() {
            self.recommendations.push(TimestampedRecommendation {
                replicas: current,
                at: now,
            });
        }
    }

    /// `stabilizeRecommendationWithBehaviors`: the current count brought within [lowest
    /// recommendation of the scale-up window, highest of the scale-down window] (both
    /// windows include `desired`), then `desired` is recorded.
    pub(crate) fn stabilize(
        &mut self,
        behavior: &Behavior,
        current: u32,
        desired: u32,
        now: SimTime,
    ) -> u32 {
        let (up_window, down_window) = (
            behavior.scale_up.stabilization_window_seconds,
            behavior.scale_down.stabilization_window_seconds,
        );
        let (mut up, mut down) = (desired, desired);
        for rec in &self.recommendations {
            if after_cutoff(rec.at, now, up_window) {
                up = up.min(rec.replicas);
            }
            if after_cutoff(rec.at, now, down_window) {
                down = down.max(rec.replicas);
            }
        }
        let stabilized = current.max(up).min(down);
        let record = TimestampedRecommendation {
            replicas: desired,
            at: now,
        };
        replace_last_or_push(&mut self.recommendations, record, |r| {
            before_cutoff(r.at, now, up_window) && before_cutoff(r.at, now, down_window)
        });
        stabilized
    }

    /// `stabilizeRecommendation` (no `spec.behavior`): the highest recommendation not older
    /// than the controller's downscale window, then `desired` is recorded.
    pub(crate) fn stabilize_legacy(
        &mut self,
        window_seconds: u32,
        desired: u32,
        now: SimTime,
    ) -> u32 {
        let highest = self
            .recommendations
            .iter()
            .filter(|r| !before_cutoff(r.at, now, window_seconds))
            .fold(desired, |m, r| m.max(r.replicas));
        let record = TimestampedRecommendation {
            replicas: desired,
            at: now,
        };
        replace_last_or_push(&mut self.recommendations, record, |r| {
            before_cutoff(r.at, now, window_seconds)
        });
        highest
    }

    /// `storeScaleEvent`: after a rescale from `previous` to `new`, with `spec.behavior`.
    pub(crate) fn record_scale(
        &mut self,
        behavior: &Behavior,
        previous: u32,
        new: u32,
        now: SimTime,
    ) {
        let (events, rules, change) = if new > previous {
            (
                &mut self.scale_up_events,
                &behavior.scale_up,
                new - previous,
            )
        } else {
            (
                &mut self.scale_down_events,
                &behavior.scale_down,
                previous - new,
            )
        };
        let longest = rules.longest_period();
        for e in events.iter_mut() {
            if before_cutoff(e.at, now, longest) {
                e.outdated = true;
            }
        }
        replace_last_or_push(
            events,
            ScaleEvent {
                change,
                at: now,
                outdated: false,
            },
            |e| e.outdated,
        );
    }

    /// `getReplicasChangePerPeriod` over both lists: (added, removed) within the period.
    fn changes_within(&self, period_seconds: u32, now: SimTime) -> (i64, i64) {
        let sum = |events: &[ScaleEvent]| -> i64 {
            events
                .iter()
                .filter(|e| after_cutoff(e.at, now, period_seconds))
                .map(|e| i64::from(e.change))
                .sum()
        };
        (sum(&self.scale_up_events), sum(&self.scale_down_events))
    }

    /// `calculateScaleUpLimitWithScalingRules`: the most replicas the policies allow now.
    pub(crate) fn scale_up_limit(&self, rules: &ScalingRules, current: u32, now: SimTime) -> i64 {
        let current = i64::from(current);
        let pick: fn(i64, i64) -> i64 = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => i64::min,
            SelectPolicy::Max => i64::max,
        };
        let start = if rules.select_policy == SelectPolicy::Min {
            i64::MAX
        } else {
            i64::MIN
        };
        rules.policies.iter().fold(start, |limit, p| {
            let (added, removed) = self.changes_within(p.period_seconds, now);
            let period_start = current - added + removed;
            let proposed = match p.kind {
                ScalingPolicyKind::Pods => period_start + i64::from(p.value),
                // Rounded up, or a small percentage of few pods would never add one.
                ScalingPolicyKind::Percent => {
                    (period_start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                }
            };
            pick(limit, proposed)
        })
    }

    /// `calculateScaleDownLimitWithBehaviors`: the fewest replicas the policies allow now.
    pub(crate) fn scale_down_limit(&self, rules: &ScalingRules, current: u32, now: SimTime) -> i64 {
        let current = i64::from(current);
        let pick: fn(i64, i64) -> i64 = match rules.select_policy {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => i64::max,
            SelectPolicy::Max => i64::min,
        };
        let start = if rules.select_policy == SelectPolicy::Min {
            i64::MIN
        } else {
            i64::MAX
        };
        rules.policies.iter().fold(start, |limit, p| {
            let (added, removed) = self.changes_within(p.period_seconds, now);
            let period_start = current - added + removed;
            let proposed = match p.kind {
                ScalingPolicyKind::Pods => period_start - i64::from(p.value),
                // Truncated toward zero, as Go's int32() conversion.
                ScalingPolicyKind::Percent => {
                    (period_start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64
                }
            };
            pick(limit, proposed)
        })
    }

    /// `convertDesiredReplicasWithBehaviorRate`: `desired` limited by the policies of its
    /// direction and by the bounds.
    pub(crate) fn rate_limit(
        &self,
        behavior: &Behavior,
        bounds: ReplicaBounds,
        current: u32,
        desired: u32,
        now: SimTime,
    ) -> (u32, ScalingLimit) {
        let (max, min) = (i64::from(bounds.max()), i64::from(bounds.min()));
        let desired_i = i64::from(desired);
        if desired > current {
            let limit = self
                .scale_up_limit(&behavior.scale_up, current, now)
                .max(i64::from(current));
            let (allowed, reason) = if max > limit {
                (limit, ScalingLimit::ScaleUpLimit)
            } else {
                (max, ScalingLimit::TooManyReplicas)
            };
            if desired_i > allowed {
                return (to_u32(allowed), reason);
            }
        } else if desired < current {
            let limit = self
                .scale_down_limit(&behavior.scale_down, current, now)
                .min(i64::from(current));
            let (allowed, reason) = if min < limit {
                (limit, ScalingLimit::ScaleDownLimit)
            } else {
                (min, ScalingLimit::TooFewReplicas)
            };
            if desired_i < allowed {
                return (to_u32(allowed), reason);
            }
        }
        (desired, ScalingLimit::DesiredWithinRange)
    }
}

fn to_u32(replicas: i64) -> u32 {
    u32::try_from(replicas.max(0)).unwrap_or(u32::MAX)
}

/// `convertDesiredReplicasWithRules` (no `spec.behavior`): within the bounds, and never
/// more than `max(2 × current, 4)`.
pub(crate) fn legacy_limit(
    bounds: ReplicaBounds,
    current: u32,
    desired: u32,
) -> (u32, ScalingLimit) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as u32;
    let (allowed, reason) = if bounds.max() > scale_up_limit {
        (scale_up_limit, ScalingLimit::ScaleUpLimit)
    } else {
        (bounds.max(), ScalingLimit::TooManyReplicas)
    };
    if desired < bounds.min() {
        (bounds.min(), ScalingLimit::TooFewReplicas)
    } else if desired > allowed {
        (allowed, reason)
    } else {
        (desired, ScalingLimit::DesiredWithinRange)
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
