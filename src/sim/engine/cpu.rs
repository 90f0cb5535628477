//! CPU as the kubelet counts it: a pod uses CPU only while a request is *processing* (its
//! own service time), not while its worker waits for downstream calls, so a slow callee
//! does not raise its caller's CPU. Use is capped at the container's CPU limit, and
//! requests slow down when they would exceed it (CFS throttling).
//!
//! Throttling model: when `n` requests are processing in a pod whose requests use `c`
//! millicores each and whose limit `L` is below `n × c`, each progresses at the rate
//! `L / (n × c)` (the quota shared equally, as CFS shares a container's quota among its
//! runnable threads), so the pod uses exactly `L`. The rate changes whenever a request
//! starts or ends processing; each request's remaining work is tracked, so its processing
//! takes its service time stretched by the slowdowns it lived through. Pods that can never
//! exceed their limit (`workers × c <= L`, or no limit) keep one `Done` event per request.

use super::pods::PodPhase;
use super::{Engine, Event};
use crate::sim::autoscaler::{CpuMeter, PodMetric};
use crate::sim::time::SimTime;
use crate::sim::world::CpuModel;

/// One pod's CPU state.
#[derive(Clone, Debug, Default)]
pub(super) struct PodCpu {
    /// The kubelet's counter and metrics-server's scrapes of it (kept while an HPA of the
    /// Kubernetes rule runs).
    meter: CpuMeter,
    /// Requests processing now.
    processing: u32,
    /// For a pod that may be throttled: the requests processing, with their remaining work
    /// in nanoseconds at full speed, in the order they started.
    running: Vec<(u32, f64)>,
    /// When `running` was last brought up to date.
    updated: SimTime,
    /// Identifies the pending `CpuDone` event; earlier ones are stale.
    generation: u32,
}

impl PodCpu {
    /// Brings the remaining work up to `now` at the current rate.
    fn advance(&mut self, now: SimTime, cpu: &CpuModel) {
        let rate = cpu.rate(self.running.len() as u32);
        let done = (now - self.updated).0 as f64 * rate;
        for (_, remaining) in &mut self.running {
            *remaining -= done;
        }
        self.updated = now;
    }

    /// When the next request finishes at the current rate.
    fn next_done(&self, now: SimTime, cpu: &CpuModel) -> Option<SimTime> {
        let rate = cpu.rate(self.running.len() as u32);
        let least = self
            .running
            .iter()
            .map(|&(_, remaining)| remaining)
            .min_by(f64::total_cmp)?;
        Some(now + SimTime((least.max(0.0) / rate).ceil() as u64))
    }
}

impl Engine<'_> {
    /// The CPU state of `pod`, created on first use.
    fn pod_cpu(&mut self, pod: u32) -> &mut PodCpu {
        let i = pod as usize;
        if self.cpu.len() <= i {
            self.cpu.resize_with(i + 1, PodCpu::default);
        }
        &mut self.cpu[i]
    }

    /// The pod's container starts (or restarts, or a new pod starts in a reused slot): its
    /// CPU counter starts from zero. Requests of the previous container still in the
    /// throttle died with it (they are zombies): their `Done` comes now, to free them.
    pub(super) fn cpu_container_started(&mut self, pod: u32) {
        let (now, metering) = (self.now, self.metering);
        let state = self.pod_cpu(pod);
        state.processing = 0;
        state.generation = state.generation.wrapping_add(1);
        let zombies = std::mem::take(&mut state.running);
        if metering {
            state.meter.start(now);
        }
        for (job, _) in zombies {
            self.queue.push(now, Event::Done(job));
        }
    }

    /// A request starts processing on `pod` for `service` (its time at full speed): it uses
    /// CPU until its `Done`, which comes after `service` unless the pod is throttled.
    pub(super) fn begin_processing(&mut self, job: u32, pod: u32, service: SimTime) {
        let (now, server, metering) = (self.now, self.w.metrics_server, self.metering);
        let d = &self.w.deployments[self.pods[pod as usize].deployment as usize];
        let (cpu, throttles) = (d.cpu, d.cpu.throttles(d.workers));
        let state = self.pod_cpu(pod);
        state.processing += 1;
        if metering {
            state
                .meter
                .set_level(now, cpu.usage(state.processing), server);
        }
        if !throttles {
            self.queue.push(now + service, Event::Done(job));
            return;
        }
        state.advance(now, &cpu);
        state.running.push((job, service.0 as f64));
        self.reschedule_cpu(pod, cpu);
    }

    /// A request of `pod` ends processing (its `Done` has come).
    pub(super) fn end_processing(&mut self, pod: u32) {
        let (now, server, metering) = (self.now, self.w.metrics_server, self.metering);
        let cpu = self.w.deployments[self.pods[pod as usize].deployment as usize].cpu;
        let state = self.pod_cpu(pod);
        state.processing -= 1;
        if metering {
            state
                .meter
                .set_level(now, cpu.usage(state.processing), server);
        }
    }

    /// The next request of a throttled pod may be done: the one with the least work left
    /// (ties in start order) is, unless a start or end since made this event stale.
    pub(super) fn on_cpu_done(&mut self, pod: u32, generation: u32) {
        let now = self.now;
        let cpu = self.w.deployments[self.pods[pod as usize].deployment as usize].cpu;
        let state = self.pod_cpu(pod);
        if state.generation != generation {
            return;
        }
        state.advance(now, &cpu);
        let Some(i) = (0..state.running.len())
            .min_by(|&a, &b| state.running[a].1.total_cmp(&state.running[b].1))
        else {
            return;
        };
        let (job, _) = state.running.remove(i);
        self.reschedule_cpu(pod, cpu);
        self.on_done(job);
    }

    /// Schedules the throttled pod's next completion, making any pending one stale.
    fn reschedule_cpu(&mut self, pod: u32, cpu: CpuModel) {
        let now = self.now;
        let state = self.pod_cpu(pod);
        state.generation = state.generation.wrapping_add(1);
        let generation = state.generation;
        if let Some(at) = state.next_done(now, &cpu) {
            self.queue.push(at, Event::CpuDone(pod, generation));
        }
    }

    /// What metrics-server serves for `pod` at this instant (`None` for a pod whose
    /// container is not running, or that has no rate yet).
    pub(super) fn cpu_sample(&mut self, pod: u32) -> Option<PodMetric> {
        let p = &self.pods[pod as usize];
        // A stopped container (crashed, or on a failed node) has no metrics.
        if p.phase < PodPhase::Starting || p.phase == PodPhase::Gone || p.down {
            return None;
        }
        let (now, server) = (self.now, self.w.metrics_server);
        self.pod_cpu(pod).meter.sample(now, server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(per_request: u64, limit: Option<u64>) -> CpuModel {
        CpuModel {
            per_request,
            limit,
            request: Some(1000),
        }
    }

    /// Two 10 ms requests of one core each under a one-core limit: each runs at half
    /// speed while both process. The first (started at 0) has 5 ms left when the second
    /// starts at 5 ms, so it ends at 15 ms; the second then has 5 ms left at full speed
    /// and ends at 20 ms: the pod did 20 core-ms of work in 20 ms.
    #[test]
    fn throttled_requests_share_the_limit_and_speed_up_when_alone() {
        let cpu = model(1000, Some(1000));
        let ms = |x: f64| SimTime::from_millis(x);
        let mut s = PodCpu::default();
        s.running.push((1, 10e6));
        assert_eq!(s.next_done(ms(0.0), &cpu), Some(ms(10.0)));
        s.advance(ms(5.0), &cpu);
        s.running.push((2, 10e6));
        assert_eq!(s.next_done(ms(5.0), &cpu), Some(ms(15.0)));
        s.advance(ms(15.0), &cpu);
        s.running.remove(0);
        assert_eq!(s.next_done(ms(15.0), &cpu), Some(ms(20.0)));
    }
}
