//! kube-controller-manager's node lifecycle controller with taint-based eviction
//! (`node_lifecycle_controller.go`): when a failed node becomes `NotReady`, and how fast
//! its pods are evicted, zone by zone.
//!
//! **Monitor passes** run every `--node-monitor-period` (5 s), at multiples of the period
//! from time zero. The first pass at or after a node's failure is the last to hear from its
//! kubelet (the twin does not model the kubelet's heartbeat period: its last heartbeat is at
//! the failure); the first pass at least `--node-monitor-grace-period` after that one marks
//! the node `NotReady` (`Ready` condition `Unknown`). Then, without any rate limit, its
//! pods' `Ready` conditions turn false (the endpoints controller drops them) and it gets the
//! `node.kubernetes.io/unreachable:NoSchedule` taint (from the controller's node worker, a
//! few milliseconds later in Kubernetes).
//!
//! **The `NoExecute` taint is rate-limited.** A pass acts on each node's condition as it
//! read it before updating it, so a node marked `NotReady` joins its zone's taint queue
//! (`zoneNoExecuteTainter`) at the next pass. The queue lets a node through for each token
//! of a token bucket with a burst of 1, and the tainter looks every 100 ms
//! (`NodeEvictionPeriod`): after a quiet spell the first node is tainted at once, the
//! next ones one every `1 / rate` seconds. The twin's tainter looks at multiples of 100 ms
//! from time zero, and only when a token is due, so its taint times are Kubernetes' to
//! within those 100 ms (Kubernetes' tainter runs at a phase of its own; when a token falls
//! due at the instant of a pass, the two loops, independent in Kubernetes, run in the order
//! their events were scheduled). Each pass takes the waiting nodes off the queue and puts
//! them back in the order its parallel workers reach them; the twin takes them in node
//! order. A node that comes back leaves the queue at the next pass; if the token comes
//! first, it is spent on that node without a taint, as `RateLimitedTimedQueue.Try` does.
//! Once a node has the taint, the taint manager evicts each of its pods when the pod's
//! toleration runs out (see [`super::failures`]).
//!
//! **Zone states.** At the end of each pass (`handleDisruption`) each zone — the nodes
//! sharing region and zone labels (`GetZoneKey`: the deprecated
//! `failure-domain.beta.kubernetes.io` labels first, then `topology.kubernetes.io`; nodes
//! with neither make one zone) — is in `FullDisruption` when none of its nodes is `Ready`,
//! in `PartialDisruption` when more than 2 and at least `--unhealthy-zone-threshold` (55%)
//! of them are `NotReady`, else `Normal` (`ComputeZoneState`). A zone whose state changes
//! gets its state's rate (`setLimiterInZone`): `--node-eviction-rate` (0.1 nodes/s) in
//! `Normal` and `FullDisruption`; in `PartialDisruption` `--secondary-node-eviction-rate`
//! (0.01) if the zone has more than `--large-cluster-size-threshold` (50) nodes, else none.
//! A new bucket starts with its token if the old one had one, empty otherwise; a stopped
//! queue reports 1 node/s, so a new rate of exactly 1 leaves it stopped (`SwapLimiter` and
//! client-go's `fakeNeverRateLimiter`). When **every** zone is in `FullDisruption` the
//! controller assumes its own network is at fault: it lifts every `NoExecute` taint (the
//! taint manager cancels the evictions it had scheduled), empties the queues and stops
//! them, until some zone has a `Ready` node again, when every zone gets its state's rate.
//!
//! Not modelled: the `node.kubernetes.io/exclude-disruption` label (every node counts),
//! and the `NoExecute` taint outliving a node's return until the next pass: the twin lifts
//! it at once, so an eviction due in between (at most one period) does not happen.

use std::collections::{BTreeMap, BTreeSet};

use super::{Engine, Event};
use crate::sim::time::SimTime;
use crate::sim::world::{NodeDef, NodeLifecycle};

/// `NodeEvictionPeriod`: how often the controller's tainter looks at its zones' queues.
const TAINTER_PERIOD: SimTime = SimTime(100_000_000);

/// A zone's health as `ComputeZoneState` judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ZoneState {
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// The state of a zone of `size` nodes of which `not_ready` are `NotReady`, with
/// `--unhealthy-zone-threshold` `threshold` (compared in `float32`, as Kubernetes does).
pub(super) fn zone_state(not_ready: u32, size: u32, threshold: f64) -> ZoneState {
    if not_ready == size && size > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f32 / size as f32 >= threshold as f32 {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// The `NoExecute` taints per second a zone of `size` nodes gets in `state`
/// (`HealthyQPSFunc`, `ReducedQPSFunc`).
pub(super) fn zone_rate(state: ZoneState, size: u32, settings: &NodeLifecycle) -> f64 {
    match state {
        ZoneState::Normal | ZoneState::FullDisruption => settings.eviction_rate,
        ZoneState::PartialDisruption if size > settings.large_cluster_size_threshold => {
            settings.secondary_eviction_rate
        }
        ZoneState::PartialDisruption => 0.0,
    }
}

/// A node's zone (`GetZoneKey`): its region and zone labels, each the deprecated beta label
/// if present, else the `topology.kubernetes.io` one.
pub(super) fn zone_key(labels: &BTreeMap<String, String>) -> (String, String) {
    let label = |beta: &str, stable: &str| {
        labels
            .get(beta)
            .or_else(|| labels.get(stable))
            .cloned()
            .unwrap_or_default()
    };
    (
        label(
            "failure-domain.beta.kubernetes.io/region",
            "topology.kubernetes.io/region",
        ),
        label(
            "failure-domain.beta.kubernetes.io/zone",
            "topology.kubernetes.io/zone",
        ),
    )
}

/// The first multiple of `period` at or after `t`.
fn grid_ceil(t: SimTime, period: SimTime) -> SimTime {
    SimTime(t.0.div_ceil(period.0).saturating_mul(period.0))
}

/// A zone's rate limiter (client-go's `flowcontrol.RateLimiter`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Limiter {
    /// `NewFakeNeverRateLimiter`: accepts nothing.
    Never,
    /// `NewTokenBucketRateLimiter(qps, 1)`: its one token is there from `next` on.
    Bucket { qps: f64, next: SimTime },
}

impl Limiter {
    /// A full bucket.
    fn new(qps: f64) -> Self {
        Limiter::Bucket {
            qps,
            next: SimTime::ZERO,
        }
    }

    /// Its `QPS()`: 1 for the never limiter, as client-go has it.
    fn qps(&self) -> f64 {
        match *self {
            Limiter::Never => 1.0,
            Limiter::Bucket { qps, .. } => qps,
        }
    }

    /// `TryAccept`: takes the token if it is there. A bucket of 0 per second never refills.
    fn try_accept(&mut self, now: SimTime) -> bool {
        match self {
            Limiter::Bucket { qps, next } if now >= *next => {
                *next = now + SimTime::from_secs(1.0 / *qps);
                true
            }
            _ => false,
        }
    }

    /// `SwapLimiter`: a limiter of `qps` per second (none if `qps <= 0`) unless it has that
    /// rate already; a new bucket is full if the old limiter had a token, else empty.
    fn swap(&mut self, qps: f64, now: SimTime) {
        if self.qps() == qps {
            return;
        }
        *self = if qps <= 0.0 {
            Limiter::Never
        } else {
            let mut new = Limiter::new(qps);
            if !self.try_accept(now) {
                new.try_accept(now);
            }
            new
        };
    }

    /// When its next token comes (`None`: never).
    fn next(&self) -> Option<SimTime> {
        match *self {
            Limiter::Bucket { next, .. } if next != SimTime::NEVER => Some(next),
            _ => None,
        }
    }
}

/// A zone of nodes and its taint queue.
struct Zone {
    /// How the fault log names it: `region/zone`.
    name: String,
    size: u32,
    /// Its nodes whose `Ready` condition is `Unknown`.
    not_ready: u32,
    /// As of the last pass.
    state: ZoneState,
    limiter: Limiter,
    /// `NotReady` nodes waiting for their `NoExecute` taint.
    queue: BTreeSet<u32>,
    /// When its tainter looks next (`None`: not until something changes).
    pending: Option<SimTime>,
    /// Voids its stale [`Event::ZoneTaint`]s.
    generation: u32,
}

/// The controller's state: its zones and the nodes it keeps an eye on.
pub(super) struct Lifecycle {
    /// Each node's zone.
    zone_of: Vec<u32>,
    zones: Vec<Zone>,
    /// Nodes down, `NotReady`, or back since the last pass.
    watched: BTreeSet<u32>,
    last_pass: Option<SimTime>,
    /// Whether the next pass is in the event queue. Passes stop while every node is up and
    /// every zone `Normal`, when they would change nothing.
    monitoring: bool,
}

impl Lifecycle {
    /// Every zone `Normal` with a full bucket at `eviction_rate`.
    pub fn new(nodes: &[NodeDef], eviction_rate: f64) -> Self {
        let keys: Vec<(String, String)> = nodes.iter().map(|n| zone_key(&n.labels)).collect();
        let ids: BTreeMap<&(String, String), u32> = keys
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .zip(0..)
            .collect();
        let mut zones: Vec<Zone> = ids
            .keys()
            .map(|(region, zone)| Zone {
                name: match (region.is_empty(), zone.is_empty()) {
                    (false, false) => format!("{region}/{zone}"),
                    (true, true) => "\"\"".into(),
                    _ => format!("{region}{zone}"),
                },
                size: 0,
                not_ready: 0,
                state: ZoneState::Normal,
                limiter: Limiter::new(eviction_rate),
                queue: BTreeSet::new(),
                pending: None,
                generation: 0,
            })
            .collect();
        let zone_of: Vec<u32> = keys.iter().map(|k| ids[k]).collect();
        for &z in &zone_of {
            zones[z as usize].size += 1;
        }
        Lifecycle {
            zone_of,
            zones,
            watched: BTreeSet::new(),
            last_pass: None,
            monitoring: false,
        }
    }
}

impl Engine<'_> {
    /// Node `node` fails now, with node monitor grace period `grace`: the pass that will
    /// mark it `NotReady` is the first at least `grace` after the first pass at or after now.
    pub(super) fn lifecycle_node_failed(&mut self, node: u32, grace: SimTime) {
        let period = self.w.node_lifecycle.monitor_period;
        self.nodes[node as usize].not_ready_at =
            grid_ceil(grid_ceil(self.now, period) + grace, period);
        self.lifecycle.watched.insert(node);
        self.start_monitoring();
    }

    /// Node `node` is back: its kubelet posts `Ready` again and the twin lifts its taints.
    /// The next pass takes it off its zone's queue.
    pub(super) fn lifecycle_node_back(&mut self, node: u32) {
        let state = &mut self.nodes[node as usize];
        state.tainted_at = None;
        if std::mem::take(&mut state.unknown) {
            let zone = self.lifecycle.zone_of[node as usize];
            self.lifecycle.zones[zone as usize].not_ready -= 1;
        }
        self.start_monitoring();
    }

    fn start_monitoring(&mut self) {
        let lifecycle = &mut self.lifecycle;
        if lifecycle.monitoring {
            return;
        }
        let period = self.w.node_lifecycle.monitor_period;
        let mut at = grid_ceil(self.now, period);
        if lifecycle.last_pass == Some(at) {
            at = at + period;
        }
        lifecycle.monitoring = true;
        self.queue.push(at, Event::NodeMonitor);
    }

    /// A monitor pass (`monitorNodeHealth`): marks the nodes due `NotReady`, queues the
    /// `NotReady` nodes it read as such for their `NoExecute` taint and takes the others off
    /// the queues, then updates the zones' states and rates.
    pub(super) fn on_node_monitor(&mut self) {
        let now = self.now;
        self.lifecycle.last_pass = Some(now);
        let watched: Vec<u32> = self.lifecycle.watched.iter().copied().collect();
        for node in watched {
            let zone = self.lifecycle.zone_of[node as usize] as usize;
            let state = &mut self.nodes[node as usize];
            let observed_unknown = state.unknown;
            if state.down > 0 && !observed_unknown && now >= state.not_ready_at {
                state.unknown = true;
                self.lifecycle.zones[zone].not_ready += 1;
                self.node_not_ready(node);
            }
            let state = &self.nodes[node as usize];
            let queue = &mut self.lifecycle.zones[zone].queue;
            if !observed_unknown {
                queue.remove(&node);
            } else if state.tainted_at.is_none() {
                queue.insert(node);
            }
            if state.down == 0 {
                self.lifecycle.watched.remove(&node);
            }
        }
        self.handle_disruption();
        for zone in 0..self.lifecycle.zones.len() {
            self.schedule_tainter(zone as u32);
        }
        let lifecycle = &mut self.lifecycle;
        if lifecycle.watched.is_empty()
            && lifecycle.zones.iter().all(|z| z.state == ZoneState::Normal)
        {
            lifecycle.monitoring = false;
        } else {
            let period = self.w.node_lifecycle.monitor_period;
            self.queue.push(now + period, Event::NodeMonitor);
        }
    }

    /// `handleDisruption`: each zone's new state and, where it changed, its rate; every
    /// `NoExecute` taint lifted and every queue stopped when all zones are fully disrupted.
    fn handle_disruption(&mut self) {
        let now = self.now;
        let settings = self.w.node_lifecycle;
        let states: Vec<ZoneState> = self
            .lifecycle
            .zones
            .iter()
            .map(|z| zone_state(z.not_ready, z.size, settings.unhealthy_zone_threshold))
            .collect();
        let full = |s: &ZoneState| *s == ZoneState::FullDisruption;
        let all_are = states.iter().all(full);
        let all_were = self
            .lifecycle
            .zones
            .iter()
            .map(|z| z.state)
            .all(|s| full(&s));
        if all_are && all_were {
            return;
        }
        if all_are {
            let tainted: Vec<u32> = self
                .lifecycle
                .watched
                .iter()
                .copied()
                .filter(|&n| self.nodes[n as usize].tainted_at.is_some())
                .collect();
            for &node in &tainted {
                self.lift_no_execute(node);
            }
            for zone in &mut self.lifecycle.zones {
                zone.queue.clear();
                zone.limiter.swap(0.0, now);
                zone.state = ZoneState::FullDisruption;
            }
            self.log_fault(
                format!(
                    "every zone FullDisruption: NoExecute taints stopped, {} lifted",
                    tainted.len()
                ),
                0,
            );
            return;
        }
        for (i, state) in states.into_iter().enumerate() {
            let zone = &mut self.lifecycle.zones[i];
            if !all_were && zone.state == state {
                continue;
            }
            zone.limiter
                .swap(zone_rate(state, zone.size, &settings), now);
            zone.state = state;
            let rate = match zone.limiter {
                Limiter::Never => "NoExecute taints stopped".to_owned(),
                Limiter::Bucket { qps, .. } => format!("NoExecute taints at {qps} nodes/s"),
            };
            let line = format!(
                "zone {} {state:?} ({} of {} nodes NotReady): {rate}",
                zone.name, zone.not_ready, zone.size
            );
            self.log_fault(line, 0);
        }
    }

    /// Makes sure the zone's tainter looks again when its bucket next has a token, at the
    /// tainter's next 100 ms tick, if a node is waiting.
    fn schedule_tainter(&mut self, zone: u32) {
        let now = self.now;
        let z = &mut self.lifecycle.zones[zone as usize];
        let at = if z.queue.is_empty() {
            None
        } else {
            z.limiter
                .next()
                .map(|next| grid_ceil(next.max(now), TAINTER_PERIOD))
        };
        if at == z.pending {
            return;
        }
        z.pending = at;
        z.generation += 1;
        if let Some(at) = at {
            self.queue.push(at, Event::ZoneTaint(zone, z.generation));
        }
    }

    /// The tainter's look at a zone (`doNoExecuteTaintingPass`): the first node waiting
    /// takes the bucket's token, if it is there, and gets the `NoExecute` taint, unless it
    /// is `Ready` again.
    pub(super) fn on_zone_taint(&mut self, zone: u32, generation: u32) {
        let now = self.now;
        let z = &mut self.lifecycle.zones[zone as usize];
        if z.generation != generation {
            return;
        }
        z.pending = None;
        if let Some(&node) = z.queue.first()
            && z.limiter.try_accept(now)
        {
            z.queue.remove(&node);
            if self.nodes[node as usize].unknown {
                self.taint_no_execute(node);
            }
        }
        self.schedule_tainter(zone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: u64) -> SimTime {
        SimTime(seconds * 1_000_000_000)
    }

    #[test]
    fn zone_states_follow_compute_zone_state() {
        // No node ready: full disruption, whatever the size.
        assert_eq!(zone_state(1, 1, 0.55), ZoneState::FullDisruption);
        assert_eq!(zone_state(2, 2, 0.55), ZoneState::FullDisruption);
        // Partial needs more than 2 NotReady nodes and at least the threshold.
        assert_eq!(zone_state(2, 3, 0.55), ZoneState::Normal);
        assert_eq!(zone_state(3, 5, 0.55), ZoneState::PartialDisruption);
        assert_eq!(zone_state(4, 5, 0.55), ZoneState::PartialDisruption);
        assert_eq!(zone_state(3, 10, 0.55), ZoneState::Normal);
        // Exactly the threshold counts (11 / 20 = 0.55 in float32 too); just below does not.
        assert_eq!(zone_state(11, 20, 0.55), ZoneState::PartialDisruption);
        assert_eq!(zone_state(10, 20, 0.55), ZoneState::Normal);
        assert_eq!(zone_state(0, 4, 0.55), ZoneState::Normal);
    }

    #[test]
    fn partial_disruption_slows_large_zones_and_stops_small_ones() {
        let settings = NodeLifecycle {
            monitor_period: s(5),
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
        };
        let rate = |state, size| zone_rate(state, size, &settings);
        assert_eq!(rate(ZoneState::Normal, 5), 0.1);
        assert_eq!(rate(ZoneState::FullDisruption, 5), 0.1);
        assert_eq!(rate(ZoneState::PartialDisruption, 50), 0.0);
        assert_eq!(rate(ZoneState::PartialDisruption, 51), 0.01);
    }

    #[test]
    fn zones_are_region_and_zone_labels_beta_first() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let key = |pairs: &[(&str, &str)]| zone_key(&labels(pairs));
        assert_eq!(key(&[]), (String::new(), String::new()));
        assert_eq!(
            key(&[
                ("topology.kubernetes.io/region", "eu"),
                ("topology.kubernetes.io/zone", "a"),
            ]),
            ("eu".into(), "a".into())
        );
        assert_eq!(
            key(&[
                ("failure-domain.beta.kubernetes.io/zone", "old"),
                ("topology.kubernetes.io/zone", "a"),
            ]),
            (String::new(), "old".into())
        );
    }

    #[test]
    fn a_bucket_lets_one_through_per_interval() {
        let mut bucket = Limiter::new(0.1);
        assert!(bucket.try_accept(s(7)));
        assert!(!bucket.try_accept(s(16)));
        assert_eq!(bucket.next(), Some(s(17)));
        assert!(bucket.try_accept(s(17)));
        // No refill at 0 per second: one token, then none.
        let mut empty = Limiter::new(0.0);
        assert!(empty.try_accept(s(1)));
        assert_eq!(empty.next(), None);
        assert!(!empty.try_accept(s(1_000_000)));
    }

    /// `SwapLimiter`: a new bucket keeps the old one's token if it had one, starts empty
    /// otherwise; stopping makes a never limiter, whose reported rate is 1.
    #[test]
    fn swapping_limiters_keeps_or_drains_the_token() {
        let mut full = Limiter::new(0.1);
        full.swap(0.01, s(3));
        assert!(full.try_accept(s(3)));
        assert_eq!(full.next(), Some(s(103)));
        let mut drained = Limiter::new(0.1);
        assert!(drained.try_accept(s(0)));
        drained.swap(0.01, s(3));
        assert_eq!(drained.next(), Some(s(103)));
        let mut stopped = Limiter::new(0.1);
        stopped.swap(0.0, s(3));
        assert_eq!(stopped, Limiter::Never);
        stopped.swap(0.1, s(50));
        assert_eq!(stopped.next(), Some(s(60)));
        // The same rate is no change; a never limiter reports 1 per second.
        let mut same = Limiter::new(0.1);
        assert!(same.try_accept(s(0)));
        same.swap(0.1, s(3));
        assert_eq!(same.next(), Some(s(10)));
        let mut never = Limiter::Never;
        never.swap(1.0, s(3));
        assert_eq!(never, Limiter::Never);
    }

    #[test]
    fn grid_rounds_up_to_the_period() {
        assert_eq!(grid_ceil(s(0), s(5)), s(0));
        assert_eq!(grid_ceil(SimTime(10_500_000_000), s(5)), s(15));
        assert_eq!(grid_ceil(s(15), s(5)), s(15));
        assert_eq!(grid_ceil(SimTime::NEVER, s(5)), SimTime::NEVER);
    }
}
