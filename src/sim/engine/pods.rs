//! Pods over their life: created by a ReplicaSet, placed by the scheduler, `Pending` until
//! their container runs, `Ready` (an endpoint of their Services) after the readiness
//! delay, then deleted gracefully by a scale-down or killed by a fault (see [`super::failures`]
//! for crashes and node failures). A gone pod's slot is reused once no job refers to it.

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};

use super::failures::CrashLoop;
use super::{Engine, Event, NONE, Pod};
use crate::sim::report::Cost;
use crate::sim::rng::stream;
use crate::sim::service_time::LoadMeter;
use crate::sim::stats::Area;
use crate::sim::time::SimTime;
use crate::sim::world::InitialState;

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PodPhase {
    /// No node fits it yet.
    Unscheduled,
    /// Bound to a node; its container is not running yet.
    Pending,
    /// Running, not ready: not an endpoint yet.
    Starting,
    /// Ready: an endpoint of its Services.
    Ready,
    /// Deleted: finishing its in-flight work, no longer an endpoint.
    Terminating,
    /// Gone.
    Gone,
}

/// A pod's cumulative load, read by the Kubernetes autoscaler rule (kept only when one
/// exists). Areas are level x nanoseconds since the pod's creation.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Meter {
    pub queue: Area,
    pub arrivals: u64,
    pub ttp_sum: u128,
    pub ttp_n: u64,
}

impl Meter {
    /// The totals up to `now`.
    pub fn totals(&self, now: SimTime) -> MeterTotals {
        MeterTotals {
            queue: self.queue.total(now, SimTime::ZERO, SimTime::NEVER),
            arrivals: self.arrivals,
            ttp_sum: self.ttp_sum,
            ttp_n: self.ttp_n,
        }
    }
}

/// A [`Meter`]'s totals at one time, or the difference of two.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct MeterTotals {
    /// Waiting requests x nanoseconds.
    pub queue: f64,
    pub arrivals: u64,
    pub ttp_sum: u128,
    pub ttp_n: u64,
}

impl MeterTotals {
    /// What was added since `before`.
    pub fn minus(&self, before: &MeterTotals) -> MeterTotals {
        MeterTotals {
            queue: self.queue - before.queue,
            arrivals: self.arrivals - before.arrivals,
            ttp_sum: self.ttp_sum - before.ttp_sum,
            ttp_n: self.ttp_n - before.ttp_n,
        }
    }

    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &MeterTotals) {
        self.queue += other.queue;
        self.arrivals += other.arrivals;
        self.ttp_sum += other.ttp_sum;
        self.ttp_n += other.ttp_n;
    }
}

/// The ReplicaSet controller's order of deletion (`ActivePodsWithRanks.Less` in
/// `controller_utils.go`): unscheduled before scheduled, pending before running, not
/// ready before ready, more replicas on the same node first, ready for less time first,
/// newer first. Smaller keys are deleted first.
pub(super) fn deletion_key(
    pod: &Pod,
    colocated: usize,
) -> (
    bool,
    bool,
    bool,
    Reverse<usize>,
    Reverse<SimTime>,
    Reverse<SimTime>,
) {
    (
        pod.phase != PodPhase::Unscheduled,
        pod.phase > PodPhase::Pending,
        pod.phase == PodPhase::Ready,
        Reverse(colocated),
        Reverse(pod.ready_at),
        Reverse(pod.created),
    )
}

impl Engine<'_> {
    /// Creates every Deployment's replicas, ready at time zero: first the scenario's Pods on
    /// their nodes (every Deployment's, so that the scheduler sees their nodes' allocation),
    /// then the other replicas through the scheduler.
    pub(super) fn place_initial_pods(&mut self) {
        let w = self.w;
        for (d, def) in w.deployments.iter().enumerate() {
            for pod in def.initial_pods.iter().take(def.replicas as usize) {
                let id = self.new_pod(d as u32, true);
                self.bind(id, pod.node as usize);
                match pod.state {
                    InitialState::Ready => self.start_up(id, true),
                    InitialState::Running => self.run_container(id, true),
                    InitialState::Pending => self.start_up(id, false),
                }
            }
        }
        for (d, def) in w.deployments.iter().enumerate() {
            let bound = def.initial_pods.len().min(def.replicas as usize) as u32;
            for _ in bound..def.replicas {
                self.create_pod(d as u32, true);
            }
        }
    }

    /// Creates a pod of `deployment` and tries to schedule it; `initial` pods skip the
    /// start-up delay.
    fn create_pod(&mut self, deployment: u32, initial: bool) {
        let id = self.new_pod(deployment, initial);
        if self.schedule(id) {
            self.start_up(id, initial);
        } else {
            self.unscheduled.push((id, self.pods[id as usize].epoch));
        }
    }

    /// A new, unscheduled pod of `deployment`; `initial` pods are not counted as created
    /// during the run.
    fn new_pod(&mut self, deployment: u32, initial: bool) -> u32 {
        let d = &self.w.deployments[deployment as usize];
        let run = &mut self.deployments[deployment as usize];
        let id = self.free_pods.pop().unwrap_or(self.pods.len() as u32);
        let ordinal = run.spawned;
        run.spawned += 1;
        run.created += u32::from(!initial);
        let index = run.pods.len() as u32;
        run.pods.push(id);
        // A reused slot: its old pod's events must stay void, and the autoscalers' last
        // reading of it is not this pod's.
        let (epoch, queue) = match self.pods.get_mut(id as usize) {
            Some(old) => {
                for a in &mut self.autoscalers {
                    if let Some(last) = a.last.get_mut(id as usize) {
                        *last = None;
                    }
                }
                (old.epoch + 1, std::mem::take(&mut old.queue))
            }
            None => (0, VecDeque::new()),
        };
        let pod = Pod {
            deployment,
            node: NONE,
            location: NONE,
            cluster: NONE,
            phase: PodPhase::Unscheduled,
            created: self.now,
            since: self.now,
            bound: SimTime::NEVER,
            ready_at: SimTime::NEVER,
            busy: 0,
            outstanding: 0,
            queue,
            rng: stream(self.seed, &format!("pod/{}/{ordinal}", d.name)),
            ordinal,
            meter: Meter::default(),
            unscheduled_reason: None,
            load: LoadMeter::default(),
            epoch,
            down: false,
            restarts: 0,
            crash_loop: CrashLoop::default(),
            index,
            at_node: NONE,
        };
        match self.pods.get_mut(id as usize) {
            Some(slot) => *slot = pod,
            None => self.pods.push(pod),
        }
        id
    }

    /// Runs the scheduler for an unscheduled pod; binds it if a node fits.
    fn schedule(&mut self, pod: u32) -> bool {
        let d = self.pods[pod as usize].deployment as usize;
        match self.scheduler.schedule(d, &mut self.scheduler_rng) {
            Ok(n) => {
                self.bind(pod, n);
                true
            }
            Err(reason) => {
                self.pods[pod as usize].unscheduled_reason = Some(reason.to_string());
                false
            }
        }
    }

    /// Binds `pod` to node `n`: it is `Pending` there.
    fn bind(&mut self, pod: u32, n: usize) {
        let w = self.w;
        let p = &mut self.pods[pod as usize];
        self.allocated[n] += w.deployments[p.deployment as usize].requests;
        self.scheduler.bind(p.deployment as usize, n);
        let node = &w.nodes[n];
        p.node = n as u32;
        p.at_node = self.bound[n].len() as u32;
        self.bound[n].push(pod);
        p.location = node.location;
        p.cluster = node.cluster;
        p.phase = PodPhase::Pending;
        p.since = self.now;
        p.bound = self.now;
        p.unscheduled_reason = None;
    }

    /// A freshly bound pod: its container starts after the pending delay (once its node
    /// is back, on a failed node).
    pub(super) fn start_up(&mut self, pod: u32, initial: bool) {
        if self.node_failed(pod) {
            self.bound_to_failed_node(pod);
            return;
        }
        let dep = self.pods[pod as usize].deployment as usize;
        let delay = match (&self.w.deployments[dep].startup_pending, initial) {
            (Some(dist), false) => SimTime::from_millis(dist.sample(&mut self.startup_rngs[dep])),
            _ => SimTime::ZERO,
        };
        if delay == SimTime::ZERO {
            self.run_container(pod, !initial);
        } else {
            let epoch = self.pods[pod as usize].epoch;
            self.queue
                .push(self.now + delay, Event::PodRunning(pod, epoch));
        }
    }

    pub(super) fn on_pod_running(&mut self, pod: u32, epoch: u32) {
        if self.pods[pod as usize].epoch == epoch {
            self.run_container(pod, true);
        }
    }

    /// The pod's container runs; it becomes ready after the readiness delay (`probe`) or
    /// at once.
    fn run_container(&mut self, pod: u32, probe: bool) {
        if self.pods[pod as usize].phase == PodPhase::Pending {
            self.container_started(pod, probe);
        }
    }

    /// A container starts (the first time or after a restart): the pod is running, not
    /// ready, and ready after the readiness delay (`probe`) or at once.
    pub(super) fn container_started(&mut self, pod: u32, probe: bool) {
        let p = &mut self.pods[pod as usize];
        p.phase = PodPhase::Starting;
        p.since = self.now;
        p.down = false;
        p.epoch += 1;
        let dep = p.deployment as usize;
        self.schedule_lifetimes(pod);
        self.cpu_container_started(pod);
        let d = &self.w.deployments[dep];
        self.deployments[dep].capacity.change(
            self.now,
            i64::from(d.workers),
            self.window.0,
            self.window.1,
        );
        let delay = match (&d.startup_readiness, probe) {
            (Some(dist), true) => SimTime::from_millis(dist.sample(&mut self.startup_rngs[dep])),
            _ => SimTime::ZERO,
        };
        if delay == SimTime::ZERO {
            self.ready(pod);
        } else {
            let epoch = self.pods[pod as usize].epoch;
            self.queue
                .push(self.now + delay, Event::PodReady(pod, epoch));
        }
    }

    pub(super) fn on_pod_ready(&mut self, pod: u32, epoch: u32) {
        if self.pods[pod as usize].epoch == epoch {
            self.ready(pod);
        }
    }

    /// The readiness probe succeeds: the pod becomes an endpoint of its Services.
    fn ready(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        if p.phase != PodPhase::Starting {
            return;
        }
        p.phase = PodPhase::Ready;
        p.since = self.now;
        p.ready_at = self.now;
        let dep = p.deployment;
        for (s, svc) in self.w.services.iter().enumerate() {
            if svc.deployments.contains(&dep) {
                let run = &mut self.services[s];
                run.positions.insert(pod, run.endpoints.len() as u32);
                run.endpoints.push(pod);
            }
        }
    }

    /// Stops routing to `pod`.
    pub(super) fn remove_endpoint(&mut self, pod: u32) {
        if self.pods[pod as usize].phase != PodPhase::Ready {
            return;
        }
        let dep = self.pods[pod as usize].deployment;
        for (s, svc) in self.w.services.iter().enumerate() {
            if svc.deployments.contains(&dep) {
                let run = &mut self.services[s];
                let Some(i) = run.positions.remove(&pod) else {
                    continue;
                };
                run.endpoints.swap_remove(i as usize);
                if let Some(&moved) = run.endpoints.get(i as usize) {
                    run.positions.insert(moved, i);
                }
            }
        }
    }

    /// The ReplicaSet controller: creates or deletes pods until the live (not terminating)
    /// pods match the desired count.
    pub(super) fn reconcile(&mut self, deployment: u32) {
        let run = &self.deployments[deployment as usize];
        let live: Vec<u32> = run
            .pods
            .iter()
            .copied()
            .filter(|&p| self.pods[p as usize].phase < PodPhase::Terminating)
            .collect();
        let desired = run.desired as usize;
        if live.len() < desired {
            for _ in live.len()..desired {
                self.create_pod(deployment, false);
            }
            return;
        }
        let mut on_node: HashMap<u32, usize> = HashMap::new();
        for &p in &live {
            let node = self.pods[p as usize].node;
            if node != NONE {
                *on_node.entry(node).or_default() += 1;
            }
        }
        let mut ranked: Vec<_> = live
            .iter()
            .map(|&p| {
                let pod = &self.pods[p as usize];
                let colocated = on_node.get(&pod.node).copied().unwrap_or(0);
                (deletion_key(pod, colocated), p)
            })
            .collect();
        let excess = live.len() - desired;
        if excess < ranked.len() {
            ranked.select_nth_unstable(excess);
        }
        let doomed = &mut ranked[..excess];
        doomed.sort_unstable();
        for &(_, p) in doomed.iter() {
            self.delete_pod(p);
        }
    }

    /// Deletes a pod gracefully: it leaves the endpoints at once and goes when its
    /// in-flight work is done or its grace period ends. On a failed node it stays
    /// `Terminating` until the node is back (no kubelet confirms the deletion).
    fn delete_pod(&mut self, pod: u32) {
        let dep = self.pods[pod as usize].deployment;
        self.deployments[dep as usize].deleted += 1;
        self.remove_endpoint(pod);
        let failed = self.node_failed(pod);
        let p = &mut self.pods[pod as usize];
        if !failed && (p.phase == PodPhase::Unscheduled || p.outstanding == 0 || p.down) {
            self.gone(pod);
            return;
        }
        p.phase = PodPhase::Terminating;
        p.since = self.now;
        self.scheduler.deleting(dep as usize, p.node as usize);
        if !failed {
            let grace = self.w.deployments[dep as usize].termination_grace;
            let epoch = p.epoch;
            self.queue
                .push(self.now + grace, Event::GraceEnd(pod, epoch));
        }
    }

    /// A job leaves `pod` (answered or rejected); a terminating pod goes once it is idle.
    pub(super) fn leave_pod(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.outstanding -= 1;
        if p.outstanding == 0 && p.phase == PodPhase::Terminating {
            self.gone(pod);
        }
    }

    pub(super) fn on_grace_end(&mut self, pod: u32, epoch: u32) {
        let p = &self.pods[pod as usize];
        if p.epoch == epoch && p.phase == PodPhase::Terminating {
            self.kill(pod);
        }
    }

    /// A pod's name: its Deployment's name and the pod's ordinal.
    pub(super) fn pod_name(&self, pod: u32) -> String {
        let p = &self.pods[pod as usize];
        format!(
            "{}-{}",
            self.w.deployments[p.deployment as usize].name, p.ordinal
        )
    }

    /// Kills a pod by a fault, counting it as killed (unless it was being deleted, which
    /// counted it already).
    pub(super) fn fault_kill(&mut self, pod: u32) {
        let p = &self.pods[pod as usize];
        if p.phase != PodPhase::Terminating {
            self.deployments[p.deployment as usize].killed += 1;
        }
        self.kill(pod);
    }

    /// Kills a pod at once: the work it holds fails (its callers see the connection
    /// reset), its calls in progress are abandoned.
    pub(super) fn kill(&mut self, pod: u32) {
        self.remove_endpoint(pod);
        self.stop_container(pod, super::failures::Loss::Reset);
        self.gone(pod);
    }

    /// Removes a pod for good and frees its node's resources; its slot is reused once no
    /// call is on its way to it.
    pub(super) fn gone(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        let previous = p.phase;
        p.phase = PodPhase::Gone;
        p.since = self.now;
        p.epoch += 1;
        let dep = p.deployment as usize;
        let (busy, node, down) = (p.busy, p.node, p.down);
        p.busy = 0;
        let unreferenced = p.outstanding == 0;
        let (index, at_node) = (p.index as usize, p.at_node as usize);
        let run = &mut self.deployments[dep];
        run.pods.swap_remove(index);
        if let Some(&moved) = run.pods.get(index) {
            self.pods[moved as usize].index = index as u32;
        }
        if node != NONE {
            let bound = &mut self.bound[node as usize];
            bound.swap_remove(at_node);
            if let Some(&moved) = bound.get(at_node) {
                self.pods[moved as usize].at_node = at_node as u32;
            }
        }
        let run = &mut self.deployments[dep];
        if previous >= PodPhase::Starting && !down {
            let workers = i64::from(self.w.deployments[dep].workers);
            let (start, end) = self.window;
            run.capacity.change(self.now, -workers, start, end);
            run.busy.change(self.now, -i64::from(busy), start, end);
        }
        if unreferenced {
            self.free_pods.push(pod);
        }
        if node != NONE {
            let cost = self.pod_cost(pod);
            self.deployments[dep].cost.add(&cost);
            self.allocated[node as usize] -= self.w.deployments[dep].requests;
            let deleting = previous == PodPhase::Terminating;
            self.scheduler.release(dep, node as usize, deleting);
            self.schedule_unscheduled();
        }
    }

    /// What a bound pod's reservation has cost from its binding until now.
    pub(super) fn pod_cost(&self, pod: u32) -> Cost {
        let p = &self.pods[pod as usize];
        let node = &self.w.nodes[p.node as usize];
        let requests = self.w.deployments[p.deployment as usize].requests;
        let hours = (self.now - p.bound).as_secs() / 3600.0;
        let share = |used: u64, capacity: u64| {
            if capacity == 0 {
                0.0
            } else {
                used as f64 / capacity as f64
            }
        };
        let dominant = share(requests.cpu_millis, node.capacity.cpu_millis)
            .max(share(requests.memory_bytes, node.capacity.memory_bytes));
        Cost {
            cpu_core_hours: requests.cpu_millis as f64 / 1000.0 * hours,
            memory_gib_hours: requests.memory_bytes as f64 / f64::from(1u32 << 30) * hours,
            price: node.price_per_hour * dominant * hours,
        }
    }

    /// The scheduler retries unschedulable pods, oldest failure first, when resources
    /// free up.
    pub(super) fn schedule_unscheduled(&mut self) {
        for (pod, epoch) in std::mem::take(&mut self.unscheduled) {
            let p = &self.pods[pod as usize];
            if p.epoch != epoch || p.phase != PodPhase::Unscheduled {
                continue;
            }
            if self.schedule(pod) {
                self.start_up(pod, false);
            } else {
                self.unscheduled.push((pod, epoch));
            }
        }
    }
}
