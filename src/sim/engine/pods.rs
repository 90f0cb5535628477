//! Pods over their life: created by a ReplicaSet, placed by the scheduler, `Pending` until
//! their container runs, `Ready` (an endpoint of their Services) after the readiness
//! delay, then deleted gracefully by a scale-down or killed by a fault.

use std::cmp::Reverse;
use std::collections::VecDeque;

use rand_distr::{Distribution as _, Exp};

use super::{Engine, Event, FAILED, Job, JobPhase, LOST, NONE, Pod};
use crate::sim::report::Cost;
use crate::sim::rng::stream;
use crate::sim::scheduler::{NodeView, PodView};
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
    pub busy: Area,
    pub queue: Area,
    pub arrivals: u64,
    pub ttp_sum: u128,
    pub ttp_n: u64,
}

impl Meter {
    /// The totals up to `now`.
    pub fn totals(&self, now: SimTime) -> MeterTotals {
        MeterTotals {
            busy: self.busy.total(now, SimTime::ZERO, SimTime::NEVER),
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
    /// Busy workers x nanoseconds.
    pub busy: f64,
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
            busy: self.busy - before.busy,
            queue: self.queue - before.queue,
            arrivals: self.arrivals - before.arrivals,
            ttp_sum: self.ttp_sum - before.ttp_sum,
            ttp_n: self.ttp_n - before.ttp_n,
        }
    }

    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &MeterTotals) {
        self.busy += other.busy;
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
        }
    }

    /// A new, unscheduled pod of `deployment`; `initial` pods are not counted as created
    /// during the run.
    fn new_pod(&mut self, deployment: u32, initial: bool) -> u32 {
        let d = &self.w.deployments[deployment as usize];
        let run = &mut self.deployments[deployment as usize];
        let id = self.pods.len() as u32;
        let ordinal = run.spawned;
        run.spawned += 1;
        run.created += u32::from(!initial);
        run.pods.push(id);
        self.pods.push(Pod {
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
            queue: VecDeque::new(),
            rng: stream(self.seed, &format!("pod/{}/{ordinal}", d.name)),
            ordinal,
            meter: Meter::default(),
            unscheduled_reason: None,
        });
        id
    }

    /// Runs the scheduler for an unscheduled pod; binds it if a node fits.
    fn schedule(&mut self, pod: u32) -> bool {
        let w = self.w;
        let d = &w.deployments[self.pods[pod as usize].deployment as usize];
        let nodes: Vec<NodeView> = w
            .nodes
            .iter()
            .zip(&self.allocated)
            .zip(&self.node_down)
            .map(|((n, &allocated), &down)| NodeView {
                name: &n.name,
                labels: &n.labels,
                taints: &n.taints,
                capacity: n.capacity,
                allocated,
                price_per_hour: n.price_per_hour,
                tier: w.locations[n.location as usize].tier,
                // A failed node is NotReady: the node lifecycle controller taints it so
                // that nothing new is scheduled there.
                unschedulable: n.unschedulable || down > 0,
            })
            .collect();
        let view = PodView {
            requests: d.requests,
            node_selector: d.node_selector.as_ref(),
            affinity: d.affinity.as_ref(),
            tolerations: &d.tolerations,
        };
        match self
            .scheduler
            .schedule(&view, &nodes, &mut self.scheduler_rng)
        {
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
        let node = &w.nodes[n];
        p.node = n as u32;
        p.location = node.location;
        p.cluster = node.cluster;
        p.phase = PodPhase::Pending;
        p.since = self.now;
        p.bound = self.now;
        p.unscheduled_reason = None;
    }

    /// A freshly bound pod: its container starts after the pending delay.
    fn start_up(&mut self, pod: u32, initial: bool) {
        let dep = self.pods[pod as usize].deployment as usize;
        let delay = match (&self.w.deployments[dep].startup_pending, initial) {
            (Some(dist), false) => SimTime::from_millis(dist.sample(&mut self.startup_rngs[dep])),
            _ => SimTime::ZERO,
        };
        if delay == SimTime::ZERO {
            self.run_container(pod, !initial);
        } else {
            self.queue.push(self.now + delay, Event::PodRunning(pod));
        }
    }

    pub(super) fn on_pod_running(&mut self, pod: u32) {
        self.run_container(pod, true);
    }

    /// The pod's container runs; it becomes ready after the readiness delay (`probe`) or
    /// at once.
    fn run_container(&mut self, pod: u32, probe: bool) {
        let p = &mut self.pods[pod as usize];
        if p.phase != PodPhase::Pending {
            return;
        }
        p.phase = PodPhase::Starting;
        p.since = self.now;
        let dep = p.deployment as usize;
        let d = &self.w.deployments[dep];
        if d.crash_rate > 0.0 {
            // A running container's life until its crash.
            let life = Exp::new(d.crash_rate)
                .expect("validated by build")
                .sample(&mut self.crash_rngs[dep]);
            self.queue
                .push(self.now + SimTime::from_secs(life), Event::Crash(pod));
        }
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
            self.on_pod_ready(pod);
        } else {
            self.queue.push(self.now + delay, Event::PodReady(pod));
        }
    }

    pub(super) fn on_pod_ready(&mut self, pod: u32) {
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
                self.services[s].endpoints.push(pod);
            }
        }
    }

    /// Stops routing to `pod`.
    fn remove_endpoint(&mut self, pod: u32) {
        if self.pods[pod as usize].phase != PodPhase::Ready {
            return;
        }
        let dep = self.pods[pod as usize].deployment;
        for (s, svc) in self.w.services.iter().enumerate() {
            if svc.deployments.contains(&dep) {
                self.services[s].endpoints.retain(|&e| e != pod);
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
        let mut ranked: Vec<_> = live
            .iter()
            .map(|&p| {
                let pod = &self.pods[p as usize];
                let colocated = live
                    .iter()
                    .filter(|&&q| pod.node != NONE && self.pods[q as usize].node == pod.node)
                    .count();
                (deletion_key(pod, colocated), p)
            })
            .collect();
        ranked.sort();
        for &(_, p) in &ranked[..live.len() - desired] {
            self.delete_pod(p);
        }
    }

    /// Deletes a pod gracefully: it leaves the endpoints at once and goes when its
    /// in-flight work is done or its grace period ends.
    fn delete_pod(&mut self, pod: u32) {
        let dep = self.pods[pod as usize].deployment;
        self.deployments[dep as usize].deleted += 1;
        self.remove_endpoint(pod);
        let p = &mut self.pods[pod as usize];
        if p.phase == PodPhase::Unscheduled || p.outstanding == 0 {
            self.gone(pod);
            return;
        }
        p.phase = PodPhase::Terminating;
        p.since = self.now;
        let grace = self.w.deployments[dep as usize].termination_grace;
        self.queue.push(self.now + grace, Event::GraceEnd(pod));
    }

    /// A job leaves `pod` (answered or rejected); a terminating pod goes once it is idle.
    pub(super) fn leave_pod(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.outstanding -= 1;
        if p.outstanding == 0 && p.phase == PodPhase::Terminating {
            self.gone(pod);
        }
    }

    pub(super) fn on_grace_end(&mut self, pod: u32) {
        if self.pods[pod as usize].phase == PodPhase::Terminating {
            self.kill(pod);
        }
    }

    pub(super) fn on_crash(&mut self, pod: u32) {
        let p = &self.pods[pod as usize];
        if matches!(
            p.phase,
            PodPhase::Unscheduled | PodPhase::Terminating | PodPhase::Gone
        ) {
            return;
        }
        let dep = p.deployment;
        let name = format!("pod {}", self.pod_name(pod));
        self.fault_kill(pod);
        self.log_fault(format!("{name} crashed"), 1);
        self.reconcile(dep);
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
        let mut waiting = Vec::new();
        let mut lost = Vec::new();
        for (id, j) in self.jobs.iter().enumerate() {
            if j.pod != pod {
                continue;
            }
            match j.phase {
                JobPhase::Queued | JobPhase::Running => lost.push(id as u32),
                JobPhase::Waiting => {
                    waiting.push(id as u32);
                    lost.push(id as u32);
                }
                _ => {}
            }
        }
        if !waiting.is_empty() {
            // `waiting` is sorted: the scan above is in id order.
            for j in &mut self.jobs {
                if j.phase != JobPhase::Free && waiting.binary_search(&j.parent).is_ok() {
                    j.parent = NONE;
                }
            }
        }
        self.counts.failed_pod_lost += lost.len() as u64;
        for &job in &lost {
            let mut failed = self.jobs[job as usize];
            failed.flags = (failed.flags | LOST) & !FAILED & !super::HOLDS_WORKER;
            failed.phase = JobPhase::Replying;
            let carrier = if self.jobs[job as usize].phase == JobPhase::Running {
                // Its `Done` is still queued: that slot frees itself then; the failure
                // travels in a new one.
                self.jobs[job as usize].phase = JobPhase::Zombie;
                self.jobs[job as usize].parent = NONE;
                self.new_job(Job { ..failed })
            } else {
                self.jobs[job as usize] = failed;
                job
            };
            let delay = self.answer_delay(carrier);
            self.answer(carrier, delay);
        }
        self.pods[pod as usize].queue.clear();
        self.gone(pod);
    }

    /// Removes a pod for good and frees its node's resources.
    fn gone(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        let previous = p.phase;
        p.phase = PodPhase::Gone;
        p.since = self.now;
        let dep = p.deployment as usize;
        let (busy, node) = (p.busy, p.node);
        p.busy = 0;
        let run = &mut self.deployments[dep];
        run.pods.retain(|&q| q != pod);
        if previous >= PodPhase::Starting {
            let workers = i64::from(self.w.deployments[dep].workers);
            let (start, end) = self.window;
            run.capacity.change(self.now, -workers, start, end);
            run.busy.change(self.now, -i64::from(busy), start, end);
        }
        if node != NONE {
            let cost = self.pod_cost(pod);
            self.deployments[dep].cost.add(&cost);
            self.allocated[node as usize] -= self.w.deployments[dep].requests;
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

    /// The scheduler retries unschedulable pods when resources free up.
    pub(super) fn schedule_unscheduled(&mut self) {
        let waiting: Vec<u32> = self
            .deployments
            .iter()
            .flat_map(|run| run.pods.iter().copied())
            .filter(|&p| self.pods[p as usize].phase == PodPhase::Unscheduled)
            .collect();
        for pod in waiting {
            if self.schedule(pod) {
                self.start_up(pod, false);
            }
        }
    }

    /// Kills every pod on `node` (a node failure).
    pub(super) fn kill_node(&mut self, node: u32) -> u32 {
        let victims: Vec<u32> = self
            .deployments
            .iter()
            .flat_map(|run| run.pods.iter().copied())
            .filter(|&p| self.pods[p as usize].node == node)
            .collect();
        for &pod in &victims {
            self.fault_kill(pod);
        }
        victims.len() as u32
    }
}
