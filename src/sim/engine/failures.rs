//! Failures as Kubernetes handles them.
//!
//! **A node failure** follows the node lifecycle controller and taint-based eviction. At
//! the failure the node stops answering: its containers stop, the work they held and every
//! call sent to its pods afterwards is lost without an answer (the caller waits for its
//! timeout), yet the pods stay `Ready` endpoints, because nothing has noticed. When the
//! controller's monitor pass finds the node silent for the node monitor grace period it
//! marks it `NotReady`: its pods' `Ready` condition turns false (the endpoints controller
//! drops them) and it gets the `node.kubernetes.io/unreachable:NoSchedule` taint (the
//! scheduler avoids it). The `unreachable:NoExecute` taint follows at the next pass or
//! later, at the rate the node's zone allows, and never while every zone is down (see
//! [`super::node_lifecycle`]). The taint manager evicts each pod when its toleration of
//! that taint runs out (300 s, added by the DefaultTolerationSeconds admission plugin,
//! unless the pod spec tolerates the taint itself); the evicted pod is `Terminating` (no
//! kubelet confirms the deletion) and its ReplicaSet replaces it elsewhere. A lifted taint
//! cancels the evictions not yet done. When the node comes back its kubelet finishes the
//! deletions and restarts the other pods' containers in place.
//!
//! **A container crash** under `restartPolicy: Always` restarts the container in place
//! (same pod, same node, same slot): the work it held fails at once (connection reset),
//! the pod is not `Ready` until the restarted container passes its readiness delay, and
//! the kubelet waits [`CrashLoop`]'s back-off before each restart. A `podKill` stays a pod
//! deletion that the ReplicaSet replaces.

use k8s_openapi::api::core::v1::{Taint, Toleration};
use rand_distr::{Distribution as _, Exp};

use super::pods::PodPhase;
use super::{Engine, Event, FAILED, HOLDS_WORKER, Job, JobPhase, LOST, NONE, UNANSWERED};
use crate::sim::report::FaultEvent;
use crate::sim::scheduler::tolerates;
use crate::sim::time::SimTime;

/// The taint the node lifecycle controller puts on a node whose kubelet stopped posting
/// its status (`Ready` condition `Unknown`).
pub(super) const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// The toleration of [`UNREACHABLE`] the DefaultTolerationSeconds admission plugin gives
/// a pod without one, in seconds (`--default-unreachable-toleration-seconds`).
pub(super) const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// The kubelet's back-off before restarting a crashed container (`flowcontrol.Backoff`
/// with kubelet's `backOffPeriod` of 10 s and `MaxContainerBackOff` of 300 s): the first
/// crash restarts at once, then 10 s, doubling up to 300 s. It starts over when the
/// container ran for more than twice the maximum (10 minutes) since its last restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CrashLoop {
    /// The current back-off (zero: no entry yet).
    window: SimTime,
    /// The last restart.
    restarted: SimTime,
    /// The last crash.
    crashed: SimTime,
}

impl CrashLoop {
    /// The first back-off.
    pub const INITIAL: SimTime = SimTime(10_000_000_000);
    /// The largest back-off.
    pub const MAX: SimTime = SimTime(300_000_000_000);

    /// The container crashed at `now`: how long the kubelet waits before restarting it.
    pub fn crashed(&mut self, now: SimTime) -> SimTime {
        self.crashed = now;
        if self.expired() {
            SimTime::ZERO
        } else {
            self.window
        }
    }

    /// The kubelet restarts the container at `now`.
    pub fn restarted(&mut self, now: SimTime) {
        self.window = if self.expired() {
            Self::INITIAL
        } else {
            SimTime(self.window.0.saturating_mul(2)).min(Self::MAX)
        };
        self.restarted = now;
    }

    /// Whether there is no back-off for the last crash (`hasExpired` in `backoff.go`).
    fn expired(&self) -> bool {
        self.window == SimTime::ZERO || self.crashed - self.restarted > SimTime(2 * Self::MAX.0)
    }
}

/// How long after its node got the `unreachable:NoExecute` taint the taint manager evicts
/// a pod with `tolerations` (`None`: never). A pod with no toleration for the key (or for
/// every key) with effect `NoExecute` (or every effect) is admitted with one for
/// [`DEFAULT_TOLERATION_SECONDS`]; otherwise the first toleration that tolerates the taint
/// decides: its `tolerationSeconds`, at once if <= 0, never if unset; none: at once.
pub(super) fn eviction_delay(tolerations: &[Toleration]) -> Option<SimTime> {
    let covers = |t: &Toleration| {
        let key = t.key.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        (key == UNREACHABLE || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
    };
    if !tolerations.iter().any(covers) {
        return Some(SimTime::from_secs(DEFAULT_TOLERATION_SECONDS as f64));
    }
    let taint = unreachable_taint("NoExecute");
    match tolerations.iter().find(|t| tolerates(t, &taint)) {
        None => Some(SimTime::ZERO),
        Some(t) => t
            .toleration_seconds
            .map(|s| SimTime::from_secs(s.max(0) as f64)),
    }
}

fn unreachable_taint(effect: &str) -> Taint {
    Taint {
        key: UNREACHABLE.into(),
        effect: effect.into(),
        ..Taint::default()
    }
}

/// A node's failure state, as its kubelet and the node lifecycle controller see it.
#[derive(Clone, Debug, Default)]
pub(super) struct NodeState {
    /// Active faults holding it down.
    pub down: u16,
    /// While it is down and still `Ready`: the controller's pass that marks it `NotReady`.
    pub not_ready_at: SimTime,
    /// Its `Ready` condition is `Unknown`: marked `NotReady` and not back since.
    pub unknown: bool,
    /// When it got the `unreachable:NoExecute` taint, while it has it.
    pub tainted_at: Option<SimTime>,
}

/// How a stopped container's work is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Loss {
    /// The connections are reset: each caller hears of the failure after the network delay.
    Reset,
    /// The node is gone: nobody answers.
    Unanswered,
}

/// A fault that repeats at a rate, logged as one counted line per Deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Repeated {
    Kill,
    Crash,
}

impl Engine<'_> {
    /// Whether `pod`'s node has failed.
    pub(super) fn node_failed(&self, pod: u32) -> bool {
        let node = self.pods[pod as usize].node;
        node != NONE && self.nodes[node as usize].down > 0
    }

    /// The pods bound to `node`, gone ones excepted, by Deployment and in each
    /// Deployment's order of its pods.
    fn pods_on(&self, node: u32) -> Vec<u32> {
        let mut pods = self.bound[node as usize].clone();
        pods.sort_unstable_by_key(|&p| {
            let p = &self.pods[p as usize];
            (p.deployment, p.index)
        });
        pods
    }

    /// Draws a started container's lifetimes: until its pod is killed (`podKill` with a
    /// rate) and until it crashes (`containerCrash` with a rate or a lifetime). A
    /// lifetime is at least one tick of the clock, so that no container dies at the
    /// instant it starts.
    pub(super) fn schedule_lifetimes(&mut self, pod: u32) {
        let (dep, epoch) = {
            let p = &self.pods[pod as usize];
            (p.deployment as usize, p.epoch)
        };
        let d = &self.w.deployments[dep];
        let tick = SimTime(1);
        if d.kill_rate > 0.0 {
            let life = Exp::new(d.kill_rate)
                .expect("validated by build")
                .sample(&mut self.crash_rngs[dep]);
            let at = self.now + SimTime::from_secs(life).max(tick);
            self.queue.push(at, Event::Kill(pod, epoch));
        }
        if let Some(lifetime) = &d.crash_lifetime {
            let life = SimTime::from_millis(lifetime.sample(&mut self.crash_rngs[dep]));
            self.queue
                .push(self.now + life.max(tick), Event::Crash(pod, epoch));
        }
    }

    /// Stops a pod's container: the work it holds is lost (`loss`), its workers leave the
    /// capacity, and its pending events are void. A pod whose container is not running
    /// only has its events voided.
    pub(super) fn stop_container(&mut self, pod: u32, loss: Loss) {
        let p = &mut self.pods[pod as usize];
        p.epoch += 1;
        if p.down {
            return;
        }
        p.down = true;
        if !matches!(
            p.phase,
            PodPhase::Starting | PodPhase::Ready | PodPhase::Terminating
        ) {
            return;
        }
        let (dep, busy, queued) = (p.deployment as usize, p.busy, p.queue.len());
        p.busy = 0;
        if self.metering {
            p.meter
                .queue
                .change(self.now, -(queued as i64), SimTime::ZERO, SimTime::NEVER);
        }
        let workers = i64::from(self.w.deployments[dep].workers);
        let (start, end) = self.window;
        let run = &mut self.deployments[dep];
        run.capacity.change(self.now, -workers, start, end);
        run.busy.change(self.now, -i64::from(busy), start, end);
        self.drop_work(pod, loss);
    }

    /// The work `pod` holds fails: queued, running and waiting jobs are answered as lost
    /// (`loss`), and the calls its waiting jobs made are abandoned.
    fn drop_work(&mut self, pod: u32, loss: Loss) {
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
        let p = &mut self.pods[pod as usize];
        p.queue.clear();
        // What is left is the calls on their way to it.
        p.outstanding -= lost.len() as u32;
        let (flags, counter) = match loss {
            Loss::Reset => (LOST, &mut self.counts.failed_pod_lost),
            Loss::Unanswered => (LOST | UNANSWERED, &mut self.counts.unanswered),
        };
        *counter += lost.len() as u64;
        for &job in &lost {
            let mut failed = self.jobs[job as usize];
            failed.flags = (failed.flags | flags) & !FAILED & !HOLDS_WORKER;
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
            let delay = match loss {
                Loss::Reset => self.answer_delay(carrier),
                Loss::Unanswered => SimTime::ZERO,
            };
            self.answer(carrier, delay);
        }
    }

    /// A call reaches `pod` while its container is down: refused (crashed container) or
    /// unanswered (failed node).
    pub(super) fn reach_stopped(&mut self, job: u32, pod: u32) {
        self.pods[pod as usize].outstanding -= 1;
        if self.node_failed(pod) {
            self.counts.unanswered += 1;
            self.jobs[job as usize].flags |= LOST | UNANSWERED;
            self.answer(job, SimTime::ZERO);
        } else {
            self.counts.failed_pod_lost += 1;
            self.jobs[job as usize].flags |= LOST;
            let delay = self.answer_delay(job);
            self.answer(job, delay);
        }
    }

    /// A call reaches a gone pod: connection refused. The pod's slot is free once no call
    /// is on its way to it.
    pub(super) fn reach_gone(&mut self, job: u32, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.outstanding -= 1;
        if p.outstanding == 0 {
            self.free_pods.push(pod);
        }
        self.counts.failed_pod_lost += 1;
        self.jobs[job as usize].flags |= LOST;
        let delay = self.answer_delay(job);
        self.answer(job, delay);
    }

    /// Node `node` fails (its first active fault starts): its containers stop, and the node
    /// lifecycle controller marks it `NotReady` after `grace`. Returns the pods whose
    /// containers stopped.
    pub(super) fn fail_node(&mut self, node: u32, grace: SimTime) -> u32 {
        self.lifecycle_node_failed(node, grace);
        let mut stopped = 0;
        for pod in self.pods_on(node) {
            let p = &self.pods[pod as usize];
            stopped += u32::from(!p.down && p.phase >= PodPhase::Starting);
            self.stop_container(pod, Loss::Unanswered);
        }
        stopped
    }

    /// A pod is bound to a failed node: its container cannot start; if the node has the
    /// `NoExecute` taint the taint manager evicts it in due time.
    pub(super) fn bound_to_failed_node(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.down = true;
        if self.nodes[p.node as usize].tainted_at.is_some() {
            self.schedule_eviction(pod);
        }
    }

    fn schedule_eviction(&mut self, pod: u32) {
        let p = &self.pods[pod as usize];
        let tolerations = &self.w.deployments[p.deployment as usize].tolerations;
        if let Some(delay) = eviction_delay(tolerations) {
            self.queue
                .push(self.now + delay, Event::Evict(pod, p.epoch));
        }
    }

    /// Gives the scheduler the node's taints: its own, plus the `unreachable` ones the
    /// node lifecycle controller has put on it.
    fn set_node_taints(&mut self, node: u32) {
        let state = &self.nodes[node as usize];
        let mut taints = self.w.nodes[node as usize].taints.clone();
        if state.unknown {
            taints.push(unreachable_taint("NoSchedule"));
        }
        if state.tainted_at.is_some() {
            taints.push(unreachable_taint("NoExecute"));
        }
        self.scheduler.set_taints(node as usize, &taints);
    }

    /// The node lifecycle controller has marked a failed node `NotReady`: its pods' `Ready`
    /// condition turns false (the endpoints controller drops them) and it gets the
    /// `unreachable:NoSchedule` taint.
    pub(super) fn node_not_ready(&mut self, node: u32) {
        self.set_node_taints(node);
        let mut unready = 0;
        for pod in self.pods_on(node) {
            if self.pods[pod as usize].phase == PodPhase::Ready {
                self.remove_endpoint(pod);
                let p = &mut self.pods[pod as usize];
                p.phase = PodPhase::Starting;
                p.since = self.now;
                p.ready_at = SimTime::NEVER;
                unready += 1;
            }
        }
        let name = &self.w.nodes[node as usize].name;
        self.log_fault(
            format!("node {name} NotReady ({unready} pods not ready)"),
            0,
        );
    }

    /// The node lifecycle controller gives a `NotReady` node the `unreachable:NoExecute`
    /// taint: the taint manager evicts each of its pods when the pod's toleration runs out.
    pub(super) fn taint_no_execute(&mut self, node: u32) {
        self.nodes[node as usize].tainted_at = Some(self.now);
        self.set_node_taints(node);
        for pod in self.pods_on(node) {
            if self.pods[pod as usize].phase < PodPhase::Terminating {
                self.schedule_eviction(pod);
            }
        }
        let name = &self.w.nodes[node as usize].name;
        self.log_fault(format!("node {name} tainted {UNREACHABLE}:NoExecute"), 0);
    }

    /// The node lifecycle controller lifts a node's `NoExecute` taint: the taint manager
    /// cancels the evictions it scheduled.
    pub(super) fn lift_no_execute(&mut self, node: u32) {
        self.nodes[node as usize].tainted_at = None;
        self.set_node_taints(node);
    }

    /// The taint manager deletes a pod from a tainted node; its ReplicaSet replaces it. The
    /// eviction is void if the taint was lifted since (or lifted and put back later).
    pub(super) fn on_evict(&mut self, pod: u32, epoch: u32) {
        let p = &self.pods[pod as usize];
        if p.epoch != epoch || p.phase >= PodPhase::Terminating {
            return;
        }
        let tolerations = &self.w.deployments[p.deployment as usize].tolerations;
        let due = self.nodes[p.node as usize]
            .tainted_at
            .zip(eviction_delay(tolerations))
            .map(|(tainted, delay)| tainted + delay);
        if due.is_none_or(|due| due > self.now) {
            return;
        }
        let p = &mut self.pods[pod as usize];
        p.phase = PodPhase::Terminating;
        p.since = self.now;
        self.scheduler
            .deleting(p.deployment as usize, p.node as usize);
        let dep = p.deployment;
        self.deployments[dep as usize].evicted += 1;
        let name = self.pod_name(pod);
        let node = &self.w.nodes[self.pods[pod as usize].node as usize].name;
        self.log_fault(format!("pod {name} evicted from node {node}"), 1);
        self.reconcile(dep);
    }

    /// Node `node` is back (its last active fault ended): its kubelet finishes the
    /// deletions of its `Terminating` pods, starts its pending pods and restarts the others'
    /// containers.
    pub(super) fn recover_node(&mut self, node: u32) {
        self.lifecycle_node_back(node);
        self.set_node_taints(node);
        for pod in self.pods_on(node) {
            match self.pods[pod as usize].phase {
                PodPhase::Terminating => self.gone(pod),
                PodPhase::Pending => {
                    let p = &mut self.pods[pod as usize];
                    p.down = false;
                    p.epoch += 1;
                    self.start_up(pod, false);
                }
                _ => {
                    // A rebooted kubelet has no back-off history.
                    self.pods[pod as usize].crash_loop = CrashLoop::default();
                    self.restart(pod);
                }
            }
        }
    }

    /// A container restarts in place: not ready until its readiness delay has passed.
    fn restart(&mut self, pod: u32) {
        self.remove_endpoint(pod);
        let p = &mut self.pods[pod as usize];
        p.restarts += 1;
        p.crash_loop.restarted(self.now);
        self.deployments[p.deployment as usize].restarts += 1;
        self.container_started(pod, true);
    }

    /// A container crashes: its pod is not ready, and the kubelet restarts it after the
    /// back-off. A terminating pod is not restarted: it goes.
    pub(super) fn crash(&mut self, pod: u32) {
        if self.pods[pod as usize].phase == PodPhase::Terminating {
            self.kill(pod);
            return;
        }
        self.remove_endpoint(pod);
        self.stop_container(pod, Loss::Reset);
        let now = self.now;
        let p = &mut self.pods[pod as usize];
        p.phase = PodPhase::Starting;
        p.since = now;
        p.ready_at = SimTime::NEVER;
        let delay = p.crash_loop.crashed(now);
        if delay == SimTime::ZERO {
            self.restart(pod);
        } else {
            self.queue.push(now + delay, Event::Restart(pod, p.epoch));
        }
    }

    pub(super) fn on_crash(&mut self, pod: u32, epoch: u32) {
        if self.pods[pod as usize].epoch != epoch {
            return;
        }
        let dep = self.pods[pod as usize].deployment;
        self.crash(pod);
        self.log_repeated(Repeated::Crash, dep);
    }

    pub(super) fn on_restart(&mut self, pod: u32, epoch: u32) {
        if self.pods[pod as usize].epoch == epoch && !self.node_failed(pod) {
            self.restart(pod);
        }
    }

    /// A pod's lifetime under a `podKill` rate ends: it is deleted and replaced.
    pub(super) fn on_kill(&mut self, pod: u32, epoch: u32) {
        let p = &self.pods[pod as usize];
        if p.epoch != epoch || p.phase == PodPhase::Terminating {
            return;
        }
        let dep = p.deployment;
        self.fault_kill(pod);
        self.log_repeated(Repeated::Kill, dep);
        self.reconcile(dep);
    }

    /// Counts a repeated fault on its Deployment's line of the fault log.
    fn log_repeated(&mut self, what: Repeated, deployment: u32) {
        let at = self.now.as_secs();
        if let Some(&line) = self.fault_lines.get(&(what, deployment)) {
            let e = &mut self.fault_log[line];
            e.count += 1;
            e.last_at = at;
            e.pods_lost += 1;
            return;
        }
        let name = &self.w.deployments[deployment as usize].name;
        let what_text = match what {
            Repeated::Kill => format!("pods of deployment {name} killed"),
            Repeated::Crash => format!("containers of deployment {name} crashed"),
        };
        self.fault_lines
            .insert((what, deployment), self.fault_log.len());
        self.fault_log.push(FaultEvent {
            at,
            what: what_text,
            pods_lost: 1,
            count: 1,
            last_at: at,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sim::World;

    /// Four pods on one node, each killed 30 times and crashing 60 times per hour of
    /// running, two requests a second, for `hours`.
    fn crashing(hours: u32) -> World {
        let yaml = format!(
            "apiVersion: kubetwin.io/v1alpha1
kind: Topology
metadata: {{name: lab}}
spec:
  locations: [{{name: lab}}]
  clusters: [{{name: lab, location: lab, nodePools: [{{name: pool, count: 1, capacity: {{cpu: \"64\", memory: 256Gi}}}}]}}]
  latency: {{intraCluster: {{type: constant, value: 1}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers: [{{name: main, image: x, resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: app}}
spec: {{selector: {{app: app}}}}
---
apiVersion: kubetwin.io/v1alpha1
kind: ServiceModel
metadata: {{name: app}}
spec:
  serviceTime: {{type: exponential, mean: 50}}
  startup: {{readiness: {{type: constant, value: 2000}}}}
---
apiVersion: kubetwin.io/v1alpha1
kind: Workload
metadata: {{name: users}}
spec:
  userLocation: lab
  requestTypes: [{{name: req, entry: app}}]
  flows: [{{arrivals: {{type: poisson, rate: 2}}}}]
---
apiVersion: kubetwin.io/v1alpha1
kind: Simulation
metadata: {{name: run}}
spec:
  statisticsIntervalSeconds: 60
  stop: {{timeSeconds: {}}}
  faults:
    - {{type: podKill, deployment: app, ratePerPodPerHour: 30}}
    - {{type: containerCrash, deployment: app, ratePerPodPerHour: 60}}
",
            hours * 3600
        );
        let scenario = crate::model::load_str(Path::new("t.yaml"), &yaml, Path::new("."), &[])
            .expect("valid scenario");
        crate::sim::build(&scenario, crate::sim::BuildOptions::default()).expect("valid world")
    }

    /// What grows with the run must not: pod slots are reused and repeated faults are
    /// counted on one line each, so a day of crashes holds what an hour does.
    #[test]
    fn a_day_of_crashes_keeps_pod_slots_and_the_fault_log_bounded() {
        let measure = |hours| {
            let world = crashing(hours);
            let mut engine = Engine::new(&world, 1);
            engine.place_initial_pods();
            engine.run(&mut |_| {});
            let run = &engine.deployments[0];
            (
                engine.pods.len(),
                engine.fault_log.len(),
                run.killed,
                run.restarts,
            )
        };
        let (slots_1h, log_1h, killed_1h, restarts_1h) = measure(1);
        let (slots_24h, log_24h, killed_24h, restarts_24h) = measure(24);
        // About 120 kills and 240 crashes an hour: a day has 24 times as many (Poisson
        // counts, so well over 20 times).
        assert!(
            killed_1h > 60 && restarts_1h > 120,
            "{killed_1h} {restarts_1h}"
        );
        assert!(
            killed_24h > 20 * killed_1h && restarts_24h > 20 * restarts_1h,
            "{killed_24h} {restarts_24h}"
        );
        // Four live pods, and at most as many gone ones waiting for a call in flight.
        assert!(slots_1h <= 8 && slots_24h <= 8, "{slots_1h} {slots_24h}");
        assert_eq!((log_1h, log_24h), (2, 2));
    }

    fn s(seconds: u64) -> SimTime {
        SimTime(seconds * 1_000_000_000)
    }

    /// Crash one second after every restart: the kubelet restarts at once, then after
    /// 10, 20, 40, 80, 160 s and 300 s from then on.
    #[test]
    fn back_off_doubles_from_ten_seconds_to_five_minutes() {
        let mut loop_ = CrashLoop::default();
        let mut now = s(1);
        let mut delays = Vec::new();
        for _ in 0..9 {
            let delay = loop_.crashed(now);
            delays.push(delay.0 / 1_000_000_000);
            now = now + delay;
            loop_.restarted(now);
            now = now + s(1);
        }
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    /// Ten minutes of running since the last restart reset the back-off; exactly ten do
    /// not (`hasExpired` compares with `>`).
    #[test]
    fn back_off_resets_after_ten_minutes_of_running() {
        let mut loop_ = CrashLoop::default();
        let mut now = s(0);
        for _ in 0..5 {
            now = now + loop_.crashed(now);
            loop_.restarted(now);
        }
        assert_eq!(loop_.window, s(160));
        let restarted = now;
        assert_eq!(loop_.crashed(restarted + s(600)), s(160));
        assert_eq!(loop_.crashed(restarted + s(601)), SimTime::ZERO);
        loop_.restarted(restarted + s(601));
        assert_eq!(loop_.crashed(restarted + s(602)), s(10));
    }

    fn toleration(key: Option<&str>, effect: Option<&str>, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: Some("Exists".into()),
            effect: effect.map(Into::into),
            toleration_seconds: seconds,
            ..Toleration::default()
        }
    }

    #[test]
    fn eviction_waits_for_the_toleration_of_the_unreachable_taint() {
        // DefaultTolerationSeconds: 300 s unless the pod tolerates the taint itself.
        assert_eq!(eviction_delay(&[]), Some(s(300)));
        let other = toleration(Some("gpu"), Some("NoSchedule"), None);
        assert_eq!(eviction_delay(&[other]), Some(s(300)));
        let own = toleration(Some(UNREACHABLE), Some("NoExecute"), Some(60));
        assert_eq!(eviction_delay(&[own]), Some(s(60)));
        let forever = toleration(Some(UNREACHABLE), None, None);
        assert_eq!(eviction_delay(&[forever]), None);
        let negative = toleration(Some(UNREACHABLE), Some("NoExecute"), Some(-5));
        assert_eq!(eviction_delay(&[negative]), Some(SimTime::ZERO));
        // Covers the key for admission, but its value does not match the taint's: the
        // pod tolerates nothing and is evicted at once.
        let mismatch = Toleration {
            operator: Some("Equal".into()),
            value: Some("x".into()),
            ..toleration(Some(UNREACHABLE), Some("NoExecute"), Some(60))
        };
        assert_eq!(eviction_delay(&[mismatch]), Some(SimTime::ZERO));
    }
}
