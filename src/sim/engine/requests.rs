//! The request path: arrivals, load balancing, queues, processing, downstream calls,
//! answers, and the users' retries and timeouts.

use rand::RngExt;

use super::pods::PodPhase;
use super::{
    Engine, Event, FAILED, HOLDS_WORKER, Job, JobPhase, LOST, MEASURED, NONE, ROOT, Request,
    UNANSWERED,
};
use crate::model::kinds::CallMode;
use crate::sim::lb;
use crate::sim::time::SimTime;
use crate::sim::world::{LbPolicy, Step};

impl Engine<'_> {
    pub(super) fn on_arrival(&mut self, flow: u32) {
        self.arrivals_pending -= 1;
        if self.admitted >= self.stop_requests {
            return;
        }
        self.admitted += 1;
        self.counts.arrived += 1;
        self.interval.arrivals += 1;
        let state = &mut self.flows[flow as usize];
        state.advance(&self.w.flows[flow as usize]);
        if let Some(next) = state.next {
            self.queue.push(next, Event::Arrival(flow));
            self.arrivals_pending += 1;
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
        self.live_requests += 1;
        let request = Request {
            sent: self.now,
            attempt_sent: self.now,
            job: NONE,
            attempt_id: 0,
            attempts: 0,
            request_type: request_type as u16,
            flags: if measured { MEASURED } else { 0 },
        };
        let id = match self.free_requests.pop() {
            Some(id) => {
                self.requests[id as usize] = request;
                id
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        };
        self.attempt(id);
    }

    /// Sends the next attempt of user request `id`.
    fn attempt(&mut self, id: u32) {
        let r = &mut self.requests[id as usize];
        r.attempts += 1;
        r.attempt_sent = self.now;
        r.attempt_id = self.next_attempt_id;
        // Ids wrap around, skipping `NONE` (no attempt).
        self.next_attempt_id = (self.next_attempt_id + 1) % NONE;
        let (request_type, flags, attempt) = (r.request_type, r.flags, r.attempt_id);
        if let Some(timeout) = self.w.retry.per_try_timeout {
            self.queue
                .push(self.now + timeout, Event::Timeout(id, attempt));
        }
        let entry = self.w.request_types[request_type as usize].entry;
        let job = self.call(ROOT | id, entry, request_type, flags);
        // The call may have been answered at once (no endpoints) and the request finished.
        let r = &mut self.requests[id as usize];
        if r.attempt_id == attempt && self.jobs[job as usize].parent == ROOT | id {
            r.job = job;
        }
    }

    pub(super) fn on_retry(&mut self, request: u32) {
        self.attempt(request);
    }

    pub(super) fn on_timeout(&mut self, request: u32, attempt: u32) {
        let r = self.requests[request as usize];
        if r.attempt_id != attempt {
            return;
        }
        // Abandon the attempt: it keeps running, and its answer will be dropped. (Its job
        // is gone already if the answer is on its way but arrives too late.)
        if r.job != NONE {
            self.jobs[r.job as usize].parent = NONE;
            self.requests[request as usize].job = NONE;
        }
        self.counts.timed_out += 1;
        self.user_receives(request, LOST, self.now);
    }

    /// Where a job's caller is: the user's location, or its parent's pod.
    #[inline]
    fn caller_place(&self, job: u32) -> (u32, u32) {
        let parent = self.jobs[job as usize].parent;
        if parent & ROOT != 0 {
            return (self.w.user_location, NONE);
        }
        let pod = &self.pods[self.jobs[parent as usize].pod as usize];
        (pod.location, pod.cluster)
    }

    #[inline]
    pub(super) fn delay(&mut self, from: (u32, u32), to: (u32, u32)) -> SimTime {
        let same_cluster = from.1 == to.1 && from.1 != NONE;
        let index = from.0 as usize * self.w.network.size + to.0 as usize;
        let d = self.w.network.between(from.0, to.0, same_cluster);
        let mut ms = d.sample(&mut self.network_rngs[index]);
        if let Some(faults) = &self.link_faults
            && !same_cluster
        {
            let (multiplier, added) = faults[index];
            ms = ms * multiplier + added;
        }
        SimTime::from_millis(ms)
    }

    /// The delay of a job's answer from its pod back to its caller (none for an abandoned
    /// job, whose answer nobody waits for).
    pub(super) fn answer_delay(&mut self, job: u32) -> SimTime {
        if self.jobs[job as usize].parent == NONE {
            return SimTime::ZERO;
        }
        let p = &self.pods[self.jobs[job as usize].pod as usize];
        let here = (p.location, p.cluster);
        let back = self.caller_place(job);
        self.delay(here, back)
    }

    pub(super) fn new_job(&mut self, job: Job) -> u32 {
        match self.free_jobs.pop() {
            Some(id) => {
                self.jobs[id as usize] = job;
                id
            }
            None => {
                self.jobs.push(job);
                (self.jobs.len() - 1) as u32
            }
        }
    }

    fn free_job(&mut self, job: u32) {
        self.jobs[job as usize].phase = JobPhase::Free;
        self.free_jobs.push(job);
    }

    /// Sends a call from `parent` (a job, or `ROOT | request`) to Service `svc`; returns
    /// the new job.
    fn call(&mut self, parent: u32, svc: u32, request_type: u16, flags: u8) -> u32 {
        let id = self.new_job(Job {
            parent,
            pod: NONE,
            reached: self.now,
            request_type,
            step: 0,
            pending: 0,
            flags,
            phase: JobPhase::ToPod,
        });
        let from = self.caller_place(id);
        let run = &mut self.services[svc as usize];
        if run.endpoints.is_empty() {
            self.counts.rejected_no_endpoints += 1;
            self.jobs[id as usize].flags |= FAILED;
            self.answer(id, SimTime::ZERO);
            return id;
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
        id
    }

    pub(super) fn on_reach(&mut self, job: u32) {
        let j = &mut self.jobs[job as usize];
        j.reached = self.now;
        let measured = u64::from(j.flags & MEASURED != 0);
        let pod = j.pod;
        let p = &mut self.pods[pod as usize];
        if p.phase == PodPhase::Gone {
            // Connection refused: the pod died while the call was on its way.
            self.reach_gone(job, pod);
            return;
        }
        if p.down {
            self.reach_stopped(job, pod);
            return;
        }
        if self.metering {
            p.meter.arrivals += 1;
        }
        let (deployment, busy, queued) = (p.deployment as usize, p.busy, p.queue.len());
        let d = &self.w.deployments[deployment];
        if let Some(window) = d.service_time.window() {
            p.load.arrive(self.now, window);
        }
        self.deployments[deployment].arrivals += measured;
        if busy < d.workers {
            self.start(job, pod);
        } else if (queued as u32) < d.queue_capacity {
            self.jobs[job as usize].phase = JobPhase::Queued;
            let p = &mut self.pods[pod as usize];
            if self.metering {
                p.meter
                    .queue
                    .change(self.now, 1, SimTime::ZERO, SimTime::NEVER);
            }
            p.queue.push_back(job);
        } else {
            self.deployments[deployment].rejected += measured;
            self.counts.rejected_queue_full += 1;
            self.jobs[job as usize].flags |= FAILED;
            let delay = self.answer_delay(job);
            self.leave_pod(pod);
            self.answer(job, delay);
        }
    }

    #[inline]
    fn start(&mut self, job: u32, pod: u32) {
        let j = &mut self.jobs[job as usize];
        j.flags |= HOLDS_WORKER;
        j.phase = JobPhase::Running;
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
        let load = match d.service_time.window() {
            Some(window) => p.load.at(self.now, window),
            None => 0.0,
        };
        let service = SimTime::from_millis(d.service_time.sample(load, &mut p.rng));
        self.begin_processing(job, pod, service);
    }

    fn release_worker(&mut self, job: u32) {
        let j = &mut self.jobs[job as usize];
        j.flags &= !HOLDS_WORKER;
        let pod = j.pod;
        let p = &mut self.pods[pod as usize];
        p.busy -= 1;
        let next = p.queue.pop_front();
        if next.is_some() && self.metering {
            p.meter
                .queue
                .change(self.now, -1, SimTime::ZERO, SimTime::NEVER);
        }
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

    pub(super) fn on_done(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        if j.phase == JobPhase::Zombie {
            self.free_job(job);
            return;
        }
        self.end_processing(j.pod);
        let p = &mut self.pods[j.pod as usize];
        let deployment = p.deployment;
        let ttp = self.now - j.reached;
        if self.metering {
            p.meter.ttp_sum += u128::from(ttp.0);
            p.meter.ttp_n += 1;
        }
        let d = &self.w.deployments[deployment as usize];
        let run = &mut self.deployments[deployment as usize];
        run.interval_ttp.0 += u128::from(ttp.0);
        run.interval_ttp.1 += 1;
        run.period_ttp.0 += u128::from(ttp.0);
        run.period_ttp.1 += 1;
        if j.flags & MEASURED != 0 {
            run.processed += 1;
            run.ttp.record(ttp);
        }
        if d.steps.is_empty() {
            self.finish(job);
            return;
        }
        self.jobs[job as usize].phase = JobPhase::Waiting;
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
        let delay = self.answer_delay(job);
        self.leave_pod(self.jobs[job as usize].pod);
        self.answer(job, delay);
    }

    /// Sends the job's answer to its caller, arriving after `delay`. A user's receipt is
    /// accounted at once rather than as an event (it changes no pod), and an abandoned
    /// job's answer is dropped.
    pub(super) fn answer(&mut self, job: u32, delay: SimTime) {
        let j = self.jobs[job as usize];
        if j.parent == NONE {
            self.free_job(job);
        } else if j.parent & ROOT == 0 {
            self.jobs[job as usize].phase = JobPhase::Replying;
            self.queue.push(self.now + delay, Event::Reply(job));
        } else {
            self.free_job(job);
            let request = j.parent & !ROOT;
            let r = &mut self.requests[request as usize];
            r.job = NONE;
            let at = self.now + delay;
            if let Some(timeout) = self.w.retry.per_try_timeout
                && (at > r.attempt_sent + timeout || j.flags & UNANSWERED != 0)
            {
                // The user gives up before the answer arrives (or no answer comes): the
                // pending `Timeout` of this attempt accounts for it.
                return;
            }
            self.user_receives(request, j.flags, at);
        }
    }

    /// The user receives an attempt's outcome (`flags` FAILED or LOST for an error) at
    /// `at`: retries it, or accounts the request. An UNANSWERED attempt without a timeout
    /// is never noticed, so never retried: the request counts as failed.
    fn user_receives(&mut self, request: u32, flags: u8, at: SimTime) {
        let r = self.requests[request as usize];
        let error = flags & (FAILED | LOST) != 0;
        let policy = self.w.retry;
        if error && flags & UNANSWERED == 0 && r.attempts <= policy.attempts {
            // A later attempt's timeout must not match this one.
            self.requests[request as usize].attempt_id = NONE;
            let retry_at = at + policy.backoff;
            // A retry after the stop time never happens: the request stays in flight.
            if retry_at <= self.horizon {
                self.counts.retries += 1;
                self.queue.push(retry_at, Event::Retry(request));
            }
            return;
        }
        self.free_requests.push(request);
        self.requests[request as usize].attempt_id = NONE;
        self.live_requests -= 1;
        if at > self.horizon {
            self.late += 1;
        } else if flags & LOST != 0 {
            self.counts.failed += 1;
            self.interval.failed += 1;
        } else if flags & FAILED != 0 {
            self.counts.rejected += 1;
            self.interval.rejected += 1;
        } else {
            self.counts.completed += 1;
            self.interval.completed += 1;
            let ttr = at - r.sent;
            self.interval.ttr.record(ttr);
            if r.flags & MEASURED != 0 {
                self.ttr.record(ttr);
                // With one request type its TTR is the total's (see `report`).
                if let Some(by_type) = self.ttr_by_type.get_mut(r.request_type as usize) {
                    by_type.record(ttr);
                }
            }
        }
    }

    pub(super) fn on_reply(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        self.free_job(job);
        if j.parent == NONE {
            return;
        }
        let parent = &mut self.jobs[j.parent as usize];
        parent.pending -= 1;
        parent.flags |= j.flags & (FAILED | LOST | UNANSWERED);
        if parent.pending > 0 {
            return;
        }
        if parent.flags & (FAILED | LOST) != 0 {
            self.finish(j.parent);
        } else {
            parent.step += 1;
            self.advance(j.parent);
        }
    }
}
