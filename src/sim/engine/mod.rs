//! The event loop: a closed set of events dispatched to handlers that move requests
//! through pods, Services and the network, and to the control loops that move the pods.
//!
//! A user request is a tree of *jobs*: the root job is the call from the user to the entry
//! Service; each downstream call is a child job. A job is sent (load balancer picks a pod,
//! the network delays it), reaches the pod (served by a free worker, queued, or rejected),
//! is processed, makes its call steps (each step's calls at once; the next step when all
//! have answered), and answers its caller over the network. Jobs live in an arena with a
//! free list, so the hot path does not allocate. A user's attempts (retries after errors
//! and timeouts) are tracked per request, apart from the jobs.
//!
//! The handlers live by concern: [`requests`] (the request path), [`pods`] (pod lifecycle,
//! ReplicaSets, pod deaths), [`failures`] (node failures and container crashes as
//! Kubernetes handles them), [`node_lifecycle`] (the node lifecycle controller: `NotReady`
//! nodes, eviction rate limits, zone disruption), [`control`] (autoscaler syncs and faults)
//! and [`summary`] (time series and the final report).

mod control;
mod cpu;
mod failures;
mod node_lifecycle;
mod pods;
mod requests;
mod summary;

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::autoscaler::{HpaConditions, HpaHistory};
use super::queue::EventQueue;
use super::report::{Cost, FaultEvent, IntervalRow, RequestCounts, ScalingEvent};
use super::rng::{Rng, stream};
use super::scheduler::Scheduler;
use super::service_time::LoadMeter;
use super::stats::{Area, Recorder};
use super::time::SimTime;
use super::workload::{FlowState, last_arrival};
use super::world::World;
use crate::model::resources::Resources;
use pods::{Meter, MeterTotals, PodPhase};

/// What can happen.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// The next user request of a flow.
    Arrival(u32),
    /// A job reaches its pod.
    Reach(u32),
    /// A job's processing ends.
    Done(u32),
    /// The next request of a CPU-throttled pod may be done: (pod, the generation of its
    /// CPU state when the event was made; void if it has changed since).
    CpuDone(u32, u32),
    /// A job's answer reaches its calling job.
    Reply(u32),
    /// A user request's next attempt.
    Retry(u32),
    /// A user gives up waiting for an attempt: (request, attempt id).
    Timeout(u32, u32),
    /// A pod's container is running: (pod, its epoch when the event was made; the event
    /// is void if the epoch has changed since, as for every pod event).
    PodRunning(u32, u32),
    /// A pod becomes ready.
    PodReady(u32, u32),
    /// A terminating pod's grace period ends.
    GraceEnd(u32, u32),
    /// A pod is killed (a `podKill` fault with a rate).
    Kill(u32, u32),
    /// A pod's container crashes (a `containerCrash` fault with a rate or a lifetime).
    Crash(u32, u32),
    /// The kubelet restarts a crashed container.
    Restart(u32, u32),
    /// The node lifecycle controller's monitor pass.
    NodeMonitor,
    /// The node lifecycle controller's tainter looks at a zone's queue: (zone, the zone's
    /// generation when the event was made; void if it has changed since).
    ZoneTaint(u32, u32),
    /// The taint manager evicts a pod from a tainted node.
    Evict(u32, u32),
    /// An autoscaler's sync.
    Sync(u32),
    /// A fault starts.
    FaultStart(u32),
    /// A fault ends.
    FaultEnd(u32),
}

const NONE: u32 = u32::MAX;
/// A root job's `parent` is `ROOT | request`.
const ROOT: u32 = 1 << 31;

/// Job flags.
const MEASURED: u8 = 1;
/// Answered with an error (HTTP 503).
const FAILED: u8 = 2;
const HOLDS_WORKER: u8 = 4;
/// Lost to a fault (pod died, connection refused, timeout).
const LOST: u8 = 8;
/// Lost without an answer (its pod's node failed): its caller never hears back.
const UNANSWERED: u8 = 16;

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobPhase {
    /// On the network to its pod (`Reach` pending).
    ToPod,
    /// In its pod's queue.
    Queued,
    /// Being processed (`Done` pending).
    Running,
    /// Waiting for its calls' answers.
    Waiting,
    /// Its answer is on the network (`Reply` pending).
    Replying,
    /// Its pod died while it ran: its `Done` is still pending and will free it.
    Zombie,
    /// In the free list.
    Free,
}

#[derive(Clone, Copy, Debug)]
struct Job {
    /// The calling job, `ROOT | request` for a user's call, or `NONE` once abandoned.
    parent: u32,
    pod: u32,
    /// When the call reached the pod.
    reached: SimTime,
    request_type: u16,
    step: u16,
    pending: u16,
    flags: u8,
    phase: JobPhase,
}

/// A user request across its attempts.
#[derive(Clone, Copy, Debug)]
struct Request {
    /// The first attempt's send time.
    sent: SimTime,
    /// The current attempt's send time.
    attempt_sent: SimTime,
    /// The current attempt's root job, or `NONE` between attempts.
    job: u32,
    /// Identifies the current attempt for its timeout.
    attempt_id: u32,
    /// Attempts made so far.
    attempts: u32,
    request_type: u16,
    flags: u8,
}

struct Pod {
    deployment: u32,
    /// Its node, or `NONE` while unscheduled.
    node: u32,
    location: u32,
    cluster: u32,
    phase: PodPhase,
    created: SimTime,
    /// When the pod entered its current phase.
    since: SimTime,
    /// When it was bound to its node.
    bound: SimTime,
    /// When it became ready (for the ReplicaSet's deletion order).
    ready_at: SimTime,
    busy: u32,
    outstanding: u32,
    queue: VecDeque<u32>,
    rng: Rng,
    meter: Meter,
    /// Its number among its Deployment's pods (names it, keys its random stream).
    ordinal: u32,
    /// Why the scheduler could not place it, while unscheduled.
    unscheduled_reason: Option<String>,
    /// Counts the changes that void the pod's pending events: a container stopping or
    /// starting, the pod going (its slot is reused with the next epoch).
    epoch: u32,
    /// Its container is not running: crashed and waiting for its restart, or its node
    /// failed. The pod keeps its phase as the API server sees it.
    down: bool,
    /// Container restarts (kubectl's RESTARTS).
    restarts: u32,
    /// The kubelet's CrashLoopBackOff state for its container.
    crash_loop: failures::CrashLoop,
    /// Its request rate, for a load-dependent service time.
    load: LoadMeter,
    /// Its position in its Deployment's [`DeploymentRun::pods`].
    index: u32,
    /// Its position in its node's list in [`Engine::bound`], once bound.
    at_node: u32,
}

#[derive(Default)]
struct DeploymentRun {
    /// The ReplicaSet's desired replicas (the autoscaler changes them).
    desired: u32,
    /// Pods that are not gone (a gone pod's place is taken by the last one).
    pods: Vec<u32>,
    busy: Area,
    capacity: Area,
    arrivals: u64,
    processed: u64,
    rejected: u64,
    ttp: Recorder,
    wait: Recorder,
    interval_ttp: (u128, u64),
    /// Since the last autoscaler sync.
    period_ttp: (u128, u64),
    /// Pods ever made (initial ones included).
    spawned: u32,
    /// Pods made during the run.
    created: u32,
    deleted: u32,
    killed: u32,
    /// Pods evicted from `NotReady` nodes.
    evicted: u32,
    /// Container restarts of its pods, gone ones included.
    restarts: u64,
    /// Of its pods that are gone.
    cost: Cost,
}

struct ServiceRun {
    /// Its ready pods (a removed pod's place is taken by the last one).
    endpoints: Vec<u32>,
    /// Each endpoint's position in `endpoints`, by pod.
    positions: HashMap<u32, u32>,
    cursor: usize,
    rng: Rng,
}

struct AutoscalerRun {
    deployment: u32,
    history: HpaHistory,
    last_sync: SimTime,
    /// Each pod's meter at the last sync, by pod id.
    last: Vec<Option<MeterTotals>>,
    syncs: u32,
    scale_ups: u32,
    scale_downs: u32,
    /// The HPA's `status.conditions` (Kubernetes rule).
    conditions: HpaConditions,
    /// Each metric's current value at the last sync, as the HPA's status reports it.
    current_metrics: Vec<Option<f64>>,
}

/// Progress of a run, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// User requests admitted so far.
    pub arrived: u64,
    /// Simulated time.
    pub now: SimTime,
}

/// Runs the simulation of `world` to its end. `progress` is called every 65,536 events.
///
/// # Panics
/// If `world` holds a scheduler configuration or an autoscaler target that
/// [`super::build()`] would have rejected (a `World` is meant to come from `build`).
pub fn run(world: &World, progress: &mut dyn FnMut(Progress)) -> super::report::RunReport {
    run_seeded(world, world.settings.seed, progress)
}

/// [`run`] with another master seed than the world's (replications of one world).
///
/// # Panics
/// As [`run`].
pub fn run_seeded(
    world: &World,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> super::report::RunReport {
    let mut engine = Engine::new(world, seed);
    engine.place_initial_pods();
    engine.run(progress);
    engine.report()
}

struct Engine<'w> {
    w: &'w World,
    seed: u64,
    now: SimTime,
    events: u64,
    queue: EventQueue<Event>,
    jobs: Vec<Job>,
    free_jobs: Vec<u32>,
    requests: Vec<Request>,
    free_requests: Vec<u32>,
    next_attempt_id: u32,
    pods: Vec<Pod>,
    /// Slots of gone pods that no job refers to any more, for reuse.
    free_pods: Vec<u32>,
    /// Pods the scheduler could not place, with their epochs, in the order they failed
    /// (kube-scheduler's queue of unschedulable pods); a pod gone since is skipped.
    unscheduled: Vec<(u32, u32)>,
    /// Each pod slot's CPU use and throttling, by pod id (grown on first use).
    cpu: Vec<cpu::PodCpu>,
    deployments: Vec<DeploymentRun>,
    services: Vec<ServiceRun>,
    autoscalers: Vec<AutoscalerRun>,
    /// Whether pods keep the per-pod meters the Kubernetes rule reads.
    metering: bool,
    flows: Vec<FlowState>,
    /// Flows with an arrival in the event queue.
    arrivals_pending: u32,
    network_rngs: Vec<Rng>,
    /// `(multiplier, added ms)` per ordered location pair while a link is degraded.
    link_faults: Option<Vec<(f64, f64)>>,
    active_link_faults: Vec<u32>,
    /// Mean latency between locations, and within a cluster, for latency-aware balancing.
    mean_latency: Vec<f64>,
    mean_intra_cluster: f64,
    mix_rng: Rng,
    call_rngs: Vec<Rng>,
    startup_rngs: Vec<Rng>,
    crash_rngs: Vec<Rng>,
    fault_rng: Rng,
    scheduler: Scheduler<'w>,
    scheduler_rng: Rng,
    allocated: Vec<Resources>,
    /// Per node, the pods bound to it, gone ones excepted, in no particular order.
    bound: Vec<Vec<u32>>,
    /// Each node's failure state.
    nodes: Vec<failures::NodeState>,
    /// The node lifecycle controller's zones and taint queues.
    lifecycle: node_lifecycle::Lifecycle,
    admitted: u64,
    stop_requests: u64,
    horizon: SimTime,
    window: (SimTime, SimTime),
    live_requests: u64,
    late: u64,
    counts: RequestCounts,
    ttr: Recorder,
    ttr_by_type: Vec<Recorder>,
    interval: IntervalCounts,
    rows: Vec<IntervalRow>,
    scaling: Vec<ScalingEvent>,
    fault_log: Vec<FaultEvent>,
    /// The line of `fault_log` that counts each repeated fault: (what, deployment).
    fault_lines: BTreeMap<(failures::Repeated, u32), usize>,
}

/// User requests in the current statistics interval.
struct IntervalCounts {
    arrivals: u64,
    completed: u64,
    rejected: u64,
    failed: u64,
    ttr: Recorder,
}

impl<'w> Engine<'w> {
    fn new(w: &'w World, seed: u64) -> Self {
        let s = &w.settings;
        let size = w.network.size;
        let names = |i: usize| &w.locations[i].name;
        let network_rngs = (0..size * size)
            .map(|i| {
                stream(
                    seed,
                    &format!("network/{}/{}", names(i / size), names(i % size)),
                )
            })
            .collect();
        let mean_latency = (0..size * size)
            .map(|i| {
                w.network
                    .between((i / size) as u32, (i % size) as u32, false)
                    .mean()
            })
            .collect();
        let per_deployment = |what: &str| -> Vec<Rng> {
            w.deployments
                .iter()
                .map(|d| stream(seed, &format!("{what}/{}", d.name)))
                .collect()
        };
        // The run's seed, not the world's: replication r of a sweep (`seed + r`) must be
        // the run `simulate --seed SEED+r` makes, measurement window included.
        let window_end = last_arrival(&w.flows, s, seed).map_or(SimTime::ZERO, |t| t - s.cooldown);
        let autoscalers = w
            .autoscalers
            .iter()
            .map(|a| AutoscalerRun {
                deployment: w
                    .deployments
                    .iter()
                    .position(|d| d.name == a.target)
                    .expect("validated by build") as u32,
                history: HpaHistory::default(),
                last_sync: SimTime::ZERO,
                last: Vec::new(),
                syncs: 0,
                scale_ups: 0,
                scale_downs: 0,
                conditions: HpaConditions::default(),
                current_metrics: Vec::new(),
            })
            .collect();
        let mut engine = Engine {
            w,
            seed,
            now: SimTime::ZERO,
            events: 0,
            queue: EventQueue::default(),
            jobs: Vec::with_capacity(1024),
            free_jobs: Vec::with_capacity(1024),
            requests: Vec::with_capacity(1024),
            free_requests: Vec::with_capacity(1024),
            next_attempt_id: 0,
            pods: Vec::new(),
            free_pods: Vec::new(),
            unscheduled: Vec::new(),
            cpu: Vec::new(),
            deployments: w
                .deployments
                .iter()
                .map(|d| DeploymentRun {
                    desired: d.replicas,
                    ..DeploymentRun::default()
                })
                .collect(),
            services: w
                .services
                .iter()
                .map(|svc| ServiceRun {
                    endpoints: Vec::new(),
                    positions: HashMap::new(),
                    cursor: 0,
                    rng: stream(seed, &format!("service/{}", svc.name)),
                })
                .collect(),
            autoscalers,
            metering: w
                .autoscalers
                .iter()
                .any(|a| matches!(a.rule, super::autoscaler::Rule::Kubernetes(_))),
            flows: w.flows.iter().map(|f| FlowState::new(seed, f)).collect(),
            arrivals_pending: 0,
            network_rngs,
            link_faults: None,
            active_link_faults: Vec::new(),
            mean_latency,
            mean_intra_cluster: w.network.intra_cluster.mean(),
            mix_rng: stream(seed, "request-mix"),
            call_rngs: per_deployment("calls"),
            startup_rngs: per_deployment("startup"),
            crash_rngs: per_deployment("crash"),
            fault_rng: stream(seed, "faults"),
            scheduler: Scheduler::new(&w.scheduler)
                .expect("validated by build")
                .for_world(w),
            scheduler_rng: stream(seed, "scheduler"),
            allocated: vec![Resources::ZERO; w.nodes.len()],
            bound: vec![Vec::new(); w.nodes.len()],
            nodes: vec![failures::NodeState::default(); w.nodes.len()],
            lifecycle: node_lifecycle::Lifecycle::new(&w.nodes, w.node_lifecycle.eviction_rate),
            admitted: 0,
            stop_requests: s.stop_requests.unwrap_or(u64::MAX),
            horizon: s.stop_time.unwrap_or(SimTime::NEVER),
            window: (s.warmup, window_end.max(s.warmup)),
            live_requests: 0,
            late: 0,
            counts: RequestCounts::default(),
            ttr: Recorder::default(),
            ttr_by_type: match w.request_types.len() {
                1 => Vec::new(),
                n => (0..n).map(|_| Recorder::default()).collect(),
            },
            interval: IntervalCounts {
                arrivals: 0,
                completed: 0,
                rejected: 0,
                failed: 0,
                ttr: Recorder::with_digits(2),
            },
            rows: Vec::new(),
            scaling: Vec::new(),
            fault_log: Vec::new(),
            fault_lines: BTreeMap::new(),
        };
        for (i, f) in engine.flows.iter().enumerate() {
            if let Some(t) = f.next {
                engine.queue.push(t, Event::Arrival(i as u32));
                engine.arrivals_pending += 1;
            }
        }
        for (i, a) in w.autoscalers.iter().enumerate() {
            engine.queue.push(a.sync_period, Event::Sync(i as u32));
        }
        for (i, f) in w.faults.iter().enumerate() {
            engine.queue.push(f.at, Event::FaultStart(i as u32));
        }
        engine
    }

    fn run(&mut self, progress: &mut dyn FnMut(Progress)) {
        let interval = self.w.settings.interval;
        let mut interval_end = interval;
        while let Some((t, event)) = self.queue.pop() {
            if t > self.horizon {
                self.now = self.horizon;
                break;
            }
            // Close every statistics interval that ends at or before this event, so an
            // event at exactly an interval boundary counts in the interval it starts.
            while interval_end <= t {
                self.now = interval_end;
                self.flush_interval();
                interval_end = interval_end + interval;
            }
            self.now = t;
            self.events += 1;
            if self.events & 0xffff == 0 {
                progress(Progress {
                    arrived: self.admitted,
                    now: t,
                });
            }
            match event {
                Event::Arrival(flow) => self.on_arrival(flow),
                Event::Reach(job) => self.on_reach(job),
                Event::Done(job) => self.on_done(job),
                Event::CpuDone(pod, generation) => self.on_cpu_done(pod, generation),
                Event::Reply(job) => self.on_reply(job),
                Event::Retry(request) => self.on_retry(request),
                Event::Timeout(request, attempt) => self.on_timeout(request, attempt),
                Event::PodRunning(pod, epoch) => self.on_pod_running(pod, epoch),
                Event::PodReady(pod, epoch) => self.on_pod_ready(pod, epoch),
                Event::GraceEnd(pod, epoch) => self.on_grace_end(pod, epoch),
                Event::Kill(pod, epoch) => self.on_kill(pod, epoch),
                Event::Crash(pod, epoch) => self.on_crash(pod, epoch),
                Event::Restart(pod, epoch) => self.on_restart(pod, epoch),
                Event::NodeMonitor => self.on_node_monitor(),
                Event::ZoneTaint(zone, generation) => self.on_zone_taint(zone, generation),
                Event::Evict(pod, epoch) => self.on_evict(pod, epoch),
                Event::Sync(a) => self.on_sync(a),
                Event::FaultStart(f) => self.on_fault_start(f),
                Event::FaultEnd(f) => self.on_fault_end(f),
            }
            // Control loops and faults tick forever; the run ends with the users' work.
            if self.arrivals_pending == 0 && self.live_requests == 0 {
                break;
            }
        }
        while interval_end <= self.now {
            self.flush_interval();
            interval_end = interval_end + interval;
        }
        let i = &self.interval;
        if i.arrivals + i.completed + i.rejected + i.failed > 0 {
            self.flush_interval();
        }
    }
}
