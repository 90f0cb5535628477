//! The event loop: a closed set of events dispatched to handlers that move requests
//! through pods, Services and the network.
//!
//! A user request is a tree of *jobs*: the root job is the call from the user to the entry
//! Service; each downstream call is a child job. A job is sent (load balancer picks a pod,
//! the network delays it), reaches the pod (served by a free worker, queued, or rejected),
//! is processed, makes its call steps (each step's calls at once; the next step when all
//! have answered), and answers its caller over the network. Jobs live in an arena with a
//! free list, so the hot path does not allocate.

use std::collections::{BTreeMap, VecDeque};

use rand::RngExt;

use super::lb;
use super::queue::EventQueue;
use super::report::{
    ClusterReport, IntervalRow, IntervalService, PendingPod, RUN_REPORT_SCHEMA, RequestCounts,
    RequestTypeReport, RunReport, ServiceReport,
};
use super::rng::{Rng, stream};
use super::scheduler::{NodeView, PodView, Scheduler};
use super::stats::{Area, Recorder};
use super::time::SimTime;
use super::workload::{FlowState, last_arrival};
use super::world::{LbPolicy, Step, World};
use crate::model::kinds::CallMode;
use crate::model::resources::Resources;

/// What can happen.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// The next user request of a flow.
    Arrival(u32),
    /// A job reaches its pod.
    Reach(u32),
    /// A job's processing ends.
    Done(u32),
    /// A job's answer reaches its calling job.
    Reply(u32),
}

const NONE: u32 = u32::MAX;
const MEASURED: u8 = 1;
const FAILED: u8 = 2;
const HOLDS_WORKER: u8 = 4;

#[derive(Clone, Copy, Debug)]
struct Job {
    parent: u32,
    pod: u32,
    /// When the call was sent (for the root: the user's request time).
    sent: SimTime,
    /// When the call reached the pod.
    reached: SimTime,
    request_type: u16,
    step: u16,
    pending: u16,
    flags: u8,
}

struct Pod {
    deployment: u32,
    location: u32,
    cluster: u32,
    busy: u32,
    outstanding: u32,
    queue: VecDeque<u32>,
    rng: Rng,
}

#[derive(Default)]
struct DeploymentRun {
    pods: Vec<u32>,
    busy: Area,
    capacity: Area,
    arrivals: u64,
    processed: u64,
    rejected: u64,
    ttp: Recorder,
    wait: Recorder,
    interval_ttp: (u128, u64),
}

struct ServiceRun {
    endpoints: Vec<u32>,
    cursor: usize,
    rng: Rng,
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
/// If `world` holds a scheduler configuration that [`super::build()`] would have rejected
/// (a `World` is meant to come from `build`).
pub fn run(world: &World, progress: &mut dyn FnMut(Progress)) -> RunReport {
    let mut engine = Engine::new(world);
    engine.place_initial_pods();
    engine.run(progress);
    engine.report()
}

struct Engine<'w> {
    w: &'w World,
    now: SimTime,
    events: u64,
    queue: EventQueue<Event>,
    jobs: Vec<Job>,
    free_jobs: Vec<u32>,
    pods: Vec<Pod>,
    deployments: Vec<DeploymentRun>,
    services: Vec<ServiceRun>,
    flows: Vec<FlowState>,
    network_rngs: Vec<Rng>,
    /// Mean latency between locations, and within a cluster, for latency-aware balancing.
    mean_latency: Vec<f64>,
    mean_intra_cluster: f64,
    mix_rng: Rng,
    call_rngs: Vec<Rng>,
    scheduler: Scheduler,
    scheduler_rng: Rng,
    allocated: Vec<Resources>,
    pending_pods: Vec<PendingPod>,
    admitted: u64,
    stop_requests: u64,
    horizon: SimTime,
    window: (SimTime, SimTime),
    live_roots: u64,
    late: u64,
    counts: RequestCounts,
    ttr: Recorder,
    ttr_by_type: Vec<Recorder>,
    interval: (u64, u64, u64, Recorder),
    rows: Vec<IntervalRow>,
}

impl<'w> Engine<'w> {
    fn new(w: &'w World) -> Self {
        let s = &w.settings;
        let seed = s.seed;
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
        let window_end = last_arrival(&w.flows, s).map_or(SimTime::ZERO, |t| t - s.cooldown);
        let mut engine = Engine {
            w,
            now: SimTime::ZERO,
            events: 0,
            queue: EventQueue::default(),
            jobs: Vec::with_capacity(1024),
            free_jobs: Vec::with_capacity(1024),
            pods: Vec::new(),
            deployments: w
                .deployments
                .iter()
                .map(|_| DeploymentRun::default())
                .collect(),
            services: w
                .services
                .iter()
                .map(|svc| ServiceRun {
                    endpoints: Vec::new(),
                    cursor: 0,
                    rng: stream(seed, &format!("service/{}", svc.name)),
                })
                .collect(),
            flows: w.flows.iter().map(|f| FlowState::new(seed, f)).collect(),
            network_rngs,
            mean_latency,
            mean_intra_cluster: w.network.intra_cluster.mean(),
            mix_rng: stream(seed, "request-mix"),
            call_rngs: w
                .deployments
                .iter()
                .map(|d| stream(seed, &format!("calls/{}", d.name)))
                .collect(),
            scheduler: Scheduler::new(&w.scheduler).expect("validated by build"),
            scheduler_rng: stream(seed, "scheduler"),
            allocated: vec![Resources::ZERO; w.nodes.len()],
            pending_pods: Vec::new(),
            admitted: 0,
            stop_requests: s.stop_requests.unwrap_or(u64::MAX),
            horizon: s.stop_time.unwrap_or(SimTime::NEVER),
            window: (s.warmup, window_end.max(s.warmup)),
            live_roots: 0,
            late: 0,
            counts: RequestCounts::default(),
            ttr: Recorder::default(),
            ttr_by_type: match w.request_types.len() {
                1 => Vec::new(),
                n => (0..n).map(|_| Recorder::default()).collect(),
            },
            interval: (0, 0, 0, Recorder::with_digits(2)),
            rows: Vec::new(),
        };
        for (i, f) in engine.flows.iter().enumerate() {
            if let Some(t) = f.next {
                engine.queue.push(t, Event::Arrival(i as u32));
            }
        }
        engine
    }

    /// Creates every Deployment's replicas through the scheduler, at time zero.
    fn place_initial_pods(&mut self) {
        for d in 0..self.w.deployments.len() {
            for _ in 0..self.w.deployments[d].replicas {
                self.create_pod(d as u32);
            }
        }
    }

    fn create_pod(&mut self, deployment: u32) {
        let w = self.w;
        let d = &w.deployments[deployment as usize];
        let nodes: Vec<NodeView> = w
            .nodes
            .iter()
            .zip(&self.allocated)
            .map(|(n, &allocated)| NodeView {
                name: &n.name,
                labels: &n.labels,
                taints: &n.taints,
                capacity: n.capacity,
                allocated,
                price_per_hour: n.price_per_hour,
                tier: w.locations[n.location as usize].tier,
                unschedulable: n.unschedulable,
            })
            .collect();
        let pod = PodView {
            requests: d.requests,
            node_selector: d.node_selector.as_ref(),
            affinity: d.affinity.as_ref(),
            tolerations: &d.tolerations,
        };
        match self
            .scheduler
            .schedule(&pod, &nodes, &mut self.scheduler_rng)
        {
            Ok(n) => {
                self.allocated[n] += d.requests;
                let node = &w.nodes[n];
                let run = &mut self.deployments[deployment as usize];
                let id = self.pods.len() as u32;
                let key = format!("pod/{}/{}", d.name, run.pods.len());
                self.pods.push(Pod {
                    deployment,
                    location: node.location,
                    cluster: node.cluster,
                    busy: 0,
                    outstanding: 0,
                    queue: VecDeque::new(),
                    rng: stream(w.settings.seed, &key),
                });
                run.pods.push(id);
                run.capacity
                    .change(self.now, i64::from(d.workers), self.window.0, self.window.1);
                for (s, svc) in w.services.iter().enumerate() {
                    if svc.deployments.contains(&deployment) {
                        self.services[s].endpoints.push(id);
                    }
                }
            }
            Err(reason) => self.pending_pods.push(PendingPod {
                deployment: d.name.clone(),
                reason: reason.to_string(),
            }),
        }
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
                Event::Reply(job) => self.on_reply(job),
            }
        }
        while interval_end <= self.now {
            self.flush_interval();
            interval_end = interval_end + interval;
        }
        if self.interval.0 + self.interval.1 + self.interval.2 > 0 {
            self.flush_interval();
        }
    }

    fn on_arrival(&mut self, flow: u32) {
        if self.admitted >= self.stop_requests {
            return;
        }
        self.admitted += 1;
        self.counts.arrived += 1;
        self.interval.0 += 1;
        let state = &mut self.flows[flow as usize];
        state.advance(&self.w.flows[flow as usize]);
        if let Some(next) = state.next {
            self.queue.push(next, Event::Arrival(flow));
        }
        let types = &self.w.request_types;
        let request_type = if types.len() == 1 {
            0
        } else {
            let u: f64 = self.mix_rng.random();
            types
                .iter()
                .position(|t| u < t.cumulative)
                .unwrap_or(types.len() - 1)
        };
        let measured = self.window.0 <= self.now && self.now <= self.window.1;
        self.counts.measured += u64::from(measured);
        self.live_roots += 1;
        let flags = if measured { MEASURED } else { 0 };
        let entry = types[request_type].entry;
        self.call(NONE, entry, request_type as u16, flags);
    }

    /// Where a job's caller is: the user's location, or its parent's pod.
    #[inline]
    fn caller_place(&self, job: u32) -> (u32, u32) {
        match self.jobs[job as usize].parent {
            NONE => (self.w.user_location, NONE),
            parent => {
                let pod = &self.pods[self.jobs[parent as usize].pod as usize];
                (pod.location, pod.cluster)
            }
        }
    }

    #[inline]
    fn delay(&mut self, from: (u32, u32), to: (u32, u32)) -> SimTime {
        let same_cluster = from.1 == to.1 && from.1 != NONE;
        let index = from.0 as usize * self.w.network.size + to.0 as usize;
        let d = self.w.network.between(from.0, to.0, same_cluster);
        SimTime::from_millis(d.sample(&mut self.network_rngs[index]))
    }

    /// Sends a call from `parent` (or the user) to Service `svc`.
    fn call(&mut self, parent: u32, svc: u32, request_type: u16, flags: u8) {
        let job = Job {
            parent,
            pod: NONE,
            sent: self.now,
            reached: self.now,
            request_type,
            step: 0,
            pending: 0,
            flags,
        };
        let id = match self.free_jobs.pop() {
            Some(id) => {
                self.jobs[id as usize] = job;
                id
            }
            None => {
                self.jobs.push(job);
                (self.jobs.len() - 1) as u32
            }
        };
        let from = self.caller_place(id);
        let run = &mut self.services[svc as usize];
        if run.endpoints.is_empty() {
            self.counts.rejected_no_endpoints += 1;
            self.jobs[id as usize].flags |= FAILED;
            self.answer(id, SimTime::ZERO);
            return;
        }
        let policy = self.w.services[svc as usize].policy;
        let pods = &self.pods;
        let (mean, size) = (&self.mean_latency, self.w.network.size);
        let intra = self.mean_intra_cluster;
        let pod = lb::pick(policy, &run.endpoints, &mut run.cursor, &mut run.rng, |e| {
            let p = &pods[e as usize];
            match policy {
                LbPolicy::LeastOutstanding => f64::from(p.outstanding),
                _ if p.cluster == from.1 => intra,
                _ => mean[from.0 as usize * size + p.location as usize],
            }
        });
        let target = &mut self.pods[pod as usize];
        target.outstanding += 1;
        let to = (target.location, target.cluster);
        self.jobs[id as usize].pod = pod;
        let delay = self.delay(from, to);
        self.queue.push(self.now + delay, Event::Reach(id));
    }

    fn on_reach(&mut self, job: u32) {
        let j = &mut self.jobs[job as usize];
        j.reached = self.now;
        let measured = u64::from(j.flags & MEASURED != 0);
        let pod = j.pod;
        let p = &self.pods[pod as usize];
        let (deployment, here, busy, queued) = (
            p.deployment as usize,
            (p.location, p.cluster),
            p.busy,
            p.queue.len(),
        );
        let d = &self.w.deployments[deployment];
        self.deployments[deployment].arrivals += measured;
        if busy < d.workers {
            self.start(job, pod);
        } else if (queued as u32) < d.queue_capacity {
            self.pods[pod as usize].queue.push_back(job);
        } else {
            self.deployments[deployment].rejected += measured;
            self.counts.rejected_queue_full += 1;
            self.jobs[job as usize].flags |= FAILED;
            self.pods[pod as usize].outstanding -= 1;
            let back = self.caller_place(job);
            let delay = self.delay(here, back);
            self.answer(job, delay);
        }
    }

    #[inline]
    fn start(&mut self, job: u32, pod: u32) {
        let j = &mut self.jobs[job as usize];
        j.flags |= HOLDS_WORKER;
        let measured = j.flags & MEASURED != 0;
        let wait = self.now - j.reached;
        let p = &mut self.pods[pod as usize];
        p.busy += 1;
        let d = &self.w.deployments[p.deployment as usize];
        let run = &mut self.deployments[p.deployment as usize];
        run.busy.change(self.now, 1, self.window.0, self.window.1);
        if measured {
            run.wait.record(wait);
        }
        let service = SimTime::from_millis(d.service_time.sample(&mut p.rng));
        self.queue.push(self.now + service, Event::Done(job));
    }

    fn release_worker(&mut self, job: u32) {
        let j = &mut self.jobs[job as usize];
        j.flags &= !HOLDS_WORKER;
        let pod = j.pod;
        let p = &mut self.pods[pod as usize];
        p.busy -= 1;
        let next = p.queue.pop_front();
        self.deployments[p.deployment as usize].busy.change(
            self.now,
            -1,
            self.window.0,
            self.window.1,
        );
        if let Some(next) = next {
            self.start(next, pod);
        }
    }

    fn on_done(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        let deployment = self.pods[j.pod as usize].deployment;
        let d = &self.w.deployments[deployment as usize];
        let run = &mut self.deployments[deployment as usize];
        let ttp = self.now - j.reached;
        run.interval_ttp.0 += u128::from(ttp.0);
        run.interval_ttp.1 += 1;
        if j.flags & MEASURED != 0 {
            run.processed += 1;
            run.ttp.record(ttp);
        }
        if d.steps.is_empty() {
            self.finish(job);
            return;
        }
        if d.call_mode == CallMode::Async {
            self.release_worker(job);
        }
        self.advance(job);
    }

    /// Makes the calls of the job's current step, moving past steps that make none.
    fn advance(&mut self, job: u32) {
        let w = self.w;
        let j = self.jobs[job as usize];
        let deployment = self.pods[j.pod as usize].deployment as usize;
        let steps = &w.deployments[deployment].steps;
        let mut step = j.step as usize;
        let flags = j.flags & MEASURED;
        while step < steps.len() {
            let mut pending = 0u16;
            match &steps[step] {
                Step::Parallel(calls) => {
                    for &(svc, p) in calls {
                        if p >= 1.0 || self.call_rngs[deployment].random::<f64>() < p {
                            pending += 1;
                            self.jobs[job as usize].pending = pending;
                            self.call(job, svc, j.request_type, flags);
                        }
                    }
                }
                Step::OneOf(calls) => {
                    let u: f64 = self.call_rngs[deployment].random();
                    if let Some(&(svc, _)) = calls.iter().find(|(_, cumulative)| u < *cumulative) {
                        pending = 1;
                        self.jobs[job as usize].pending = 1;
                        self.call(job, svc, j.request_type, flags);
                    }
                }
            }
            if pending > 0 {
                self.jobs[job as usize].step = step as u16;
                return;
            }
            step += 1;
        }
        self.finish(job);
    }

    /// The job's work is done (or failed): free its worker and answer its caller.
    fn finish(&mut self, job: u32) {
        if self.jobs[job as usize].flags & HOLDS_WORKER != 0 {
            self.release_worker(job);
        }
        let p = &mut self.pods[self.jobs[job as usize].pod as usize];
        p.outstanding -= 1;
        let here = (p.location, p.cluster);
        let back = self.caller_place(job);
        let delay = self.delay(here, back);
        self.answer(job, delay);
    }

    /// Sends the job's answer to its caller, arriving after `delay`. The user's receipt
    /// changes no simulated state, so it is accounted at once rather than as an event.
    fn answer(&mut self, job: u32, delay: SimTime) {
        let j = self.jobs[job as usize];
        if j.parent != NONE {
            self.queue.push(self.now + delay, Event::Reply(job));
            return;
        }
        self.free_jobs.push(job);
        self.live_roots -= 1;
        let at = self.now + delay;
        if at > self.horizon {
            self.late += 1;
        } else if j.flags & FAILED != 0 {
            self.counts.rejected += 1;
            self.interval.2 += 1;
        } else {
            self.counts.completed += 1;
            self.interval.1 += 1;
            let ttr = at - j.sent;
            self.interval.3.record(ttr);
            if j.flags & MEASURED != 0 {
                self.ttr.record(ttr);
                // With one request type its TTR is the total's (see `report`).
                if let Some(by_type) = self.ttr_by_type.get_mut(j.request_type as usize) {
                    by_type.record(ttr);
                }
            }
        }
    }

    fn on_reply(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        self.free_jobs.push(job);
        let parent = &mut self.jobs[j.parent as usize];
        parent.pending -= 1;
        parent.flags |= j.flags & FAILED;
        if parent.pending > 0 {
            return;
        }
        if parent.flags & FAILED != 0 {
            self.finish(j.parent);
        } else {
            parent.step += 1;
            self.advance(j.parent);
        }
    }

    fn flush_interval(&mut self) {
        let interval = self.w.settings.interval;
        let start = SimTime(self.rows.len() as u64 * interval.0);
        let services = self
            .deployments
            .iter_mut()
            .map(|run| {
                let (sum, n) = std::mem::take(&mut run.interval_ttp);
                IntervalService {
                    pods: run.pods.len() as u32,
                    ttp_mean: (n > 0).then(|| sum as f64 / n as f64 / 1e6),
                    queued: run
                        .pods
                        .iter()
                        .map(|&p| self.pods[p as usize].queue.len() as u32)
                        .sum(),
                    busy: run.busy.level() as u32,
                }
            })
            .collect();
        let (arrivals, completed, rejected, ttr) = &mut self.interval;
        self.rows.push(IntervalRow {
            start: start.as_secs(),
            arrivals: std::mem::take(arrivals),
            completed: std::mem::take(completed),
            rejected: std::mem::take(rejected),
            ttr_mean: ttr.mean_ms(),
            ttr_p99: ttr.quantile_ms(0.99),
            services,
        });
        ttr.reset();
    }

    fn report(self) -> RunReport {
        let w = self.w;
        let (start, end) = self.window;
        let window_seconds = (end - start).as_secs();
        let services = w
            .deployments
            .iter()
            .zip(&self.deployments)
            .map(|(d, run)| {
                let capacity = run.capacity.total(self.now, start, end);
                ServiceReport {
                    name: d.name.clone(),
                    replicas: d.replicas,
                    running_pods: run.pods.len() as u32,
                    arrivals: run.arrivals,
                    processed: run.processed,
                    rejected: run.rejected,
                    throughput: if window_seconds > 0.0 {
                        run.processed as f64 / window_seconds
                    } else {
                        0.0
                    },
                    utilization: (capacity > 0.0)
                        .then(|| run.busy.total(self.now, start, end) / capacity),
                    ttp: run.ttp.summary(),
                    wait: run.wait.summary(),
                }
            })
            .collect();
        let mut clusters: Vec<ClusterReport> = w
            .clusters
            .iter()
            .map(|c| ClusterReport {
                name: c.name.clone(),
                location: w.locations[c.location as usize].name.clone(),
                tier: w.locations[c.location as usize].tier,
                nodes: 0,
                pods: BTreeMap::new(),
                cpu: [0.0; 2],
                memory_gib: [0.0; 2],
            })
            .collect();
        for (n, allocated) in w.nodes.iter().zip(&self.allocated) {
            let c = &mut clusters[n.cluster as usize];
            c.nodes += 1;
            c.cpu[0] += allocated.cpu_millis as f64 / 1000.0;
            c.cpu[1] += n.capacity.cpu_millis as f64 / 1000.0;
            c.memory_gib[0] += allocated.memory_bytes as f64 / f64::from(1u32 << 30);
            c.memory_gib[1] += n.capacity.memory_bytes as f64 / f64::from(1u32 << 30);
        }
        for p in &self.pods {
            let name = &w.deployments[p.deployment as usize].name;
            *clusters[p.cluster as usize]
                .pods
                .entry(name.clone())
                .or_default() += 1;
        }
        let mut counts = self.counts;
        counts.in_flight = self.live_roots + self.late;
        RunReport {
            schema: RUN_REPORT_SCHEMA,
            seed: w.settings.seed,
            simulated_seconds: self.now.as_secs(),
            events: self.events,
            window_seconds: [start.as_secs(), end.as_secs()],
            requests: counts,
            ttr: self.ttr.summary(),
            request_types: w
                .request_types
                .iter()
                .enumerate()
                .map(|(i, t)| RequestTypeReport {
                    name: t.name.clone(),
                    ttr: self.ttr_by_type.get(i).unwrap_or(&self.ttr).summary(),
                })
                .collect(),
            services,
            clusters,
            pending_pods: self.pending_pods,
            timeseries: self.rows,
        }
    }
}
