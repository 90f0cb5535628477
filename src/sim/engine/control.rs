//! The control loops that move pods: autoscaler syncs (the decisions are the pure functions
//! of [`crate::sim::autoscaler`]; this file measures what they read and applies what they
//! return), and the faults of the scenario.

use std::collections::BTreeSet;

use rand::RngExt;

use super::pods::{MeterTotals, PodPhase};
use super::{Engine, Event, Pod};
use crate::sim::autoscaler::{
    HpaMetric, HpaObservation, MetricSample, ObjectKind, PodMetric, PodPhase as ObservedPhase,
    PodSample, ReadyCondition, Rule, TwinMetric,
};
use crate::sim::report::{FaultEvent, ScalingEvent};
use crate::sim::time::SimTime;
use crate::sim::world::FaultKind;

impl Engine<'_> {
    pub(super) fn on_sync(&mut self, a: u32) {
        let w = self.w;
        let spec = &w.autoscalers[a as usize];
        let dep = self.autoscalers[a as usize].deployment;
        let current = self.deployments[dep as usize].desired;
        let (sum, n) = std::mem::take(&mut self.deployments[dep as usize].period_ttp);
        let desired = match &spec.rule {
            Rule::Twin(rule) => {
                let mean_ms = (n > 0).then(|| sum as f64 / n as f64 / 1e6);
                rule.desired_replicas(spec.bounds, current, mean_ms)
            }
            Rule::Kubernetes(rule) => {
                let (pods, samples) = self.observe(a, &rule.metrics);
                let metrics: Vec<MetricSample> = samples
                    .iter()
                    .map(|s| match s {
                        Observed::PerPod(v) => MetricSample::PerPod(v),
                        Observed::Object(v) => MetricSample::Object(*v),
                    })
                    .collect();
                let obs = HpaObservation {
                    now: self.now,
                    spec_replicas: current,
                    pods: &pods,
                    metrics: &metrics,
                    containers: &w.deployments[dep as usize].container_cpu_requests,
                };
                let run = &mut self.autoscalers[a as usize];
                let decision = rule.reconcile(spec.bounds, &obs, &mut run.history);
                run.conditions.apply(&decision.conditions, self.now);
                run.current_metrics = (decision.metrics.iter())
                    .map(|m| m.as_ref().ok().map(|p| p.current))
                    .collect();
                decision.desired_replicas
            }
        };
        let run = &mut self.autoscalers[a as usize];
        run.syncs += 1;
        run.last_sync = self.now;
        if desired != current {
            if desired > current {
                run.scale_ups += 1;
            } else {
                run.scale_downs += 1;
            }
            self.scaling.push(ScalingEvent {
                at: self.now.as_secs(),
                autoscaler: spec.name.clone(),
                from: current,
                to: desired,
            });
            self.deployments[dep as usize].desired = desired;
            self.reconcile(dep);
        }
        self.queue.push(self.now + spec.sync_period, Event::Sync(a));
    }

    /// What the Kubernetes rule reads at a sync: the target's pods, and one sample per
    /// metric: CPU as metrics-server serves it, the others over the time since the last
    /// sync (or since each pod's container started).
    fn observe(&mut self, a: u32, metrics: &[HpaMetric]) -> (Vec<PodSample>, Vec<Observed>) {
        let w = self.w;
        let now = self.now;
        let run = &self.autoscalers[a as usize];
        let dep = run.deployment as usize;
        let d = &w.deployments[dep];
        let since_sync = run.last_sync;
        let pod_ids = self.deployments[dep].pods.clone();
        let deltas: Vec<Option<(MeterTotals, SimTime)>> = pod_ids
            .iter()
            .map(|&p| self.meter_delta(a, p, since_sync))
            .collect();
        let pods = pod_ids
            .iter()
            .map(|&p| {
                let pod = &self.pods[p as usize];
                let running = pod.phase >= PodPhase::Starting;
                PodSample {
                    phase: if running {
                        ObservedPhase::Running
                    } else {
                        ObservedPhase::Pending
                    },
                    terminating: pod.phase == PodPhase::Terminating,
                    ready: running.then(|| ReadyCondition {
                        ready: pod.phase == PodPhase::Ready
                            || (pod.phase == PodPhase::Terminating
                                && pod.ready_at != SimTime::NEVER),
                        last_transition: if pod.ready_at == SimTime::NEVER {
                            pod.since
                        } else {
                            pod.ready_at
                        },
                    }),
                    start_time: (pod.node != super::NONE).then_some(pod.bound),
                    cpu_request_millis: d.cpu.request,
                }
            })
            .collect();
        let reads_cpu = metrics.iter().any(|m| {
            matches!(
                m,
                HpaMetric::CpuUtilization { .. } | HpaMetric::CpuAverageValue { .. }
            )
        });
        let cpu: Vec<Option<PodMetric>> = if reads_cpu {
            pod_ids.iter().map(|&p| self.cpu_sample(p)).collect()
        } else {
            Vec::new()
        };
        let period_ns = (now - since_sync).0.max(1) as f64;
        // Every pod whose meter is read here, so that the next sync reads only what
        // happened after this one.
        let mut read: BTreeSet<u32> = pod_ids.iter().copied().collect();
        let samples = metrics
            .iter()
            .map(|m| match m {
                HpaMetric::CpuUtilization { .. } | HpaMetric::CpuAverageValue { .. } => {
                    Observed::PerPod(cpu.clone())
                }
                HpaMetric::Pods { metric, .. } => Observed::PerPod(
                    deltas
                        .iter()
                        .map(|delta| {
                            delta.and_then(|(t, window)| {
                                let value = metric_value(*metric, &t, window.0.max(1) as f64)?;
                                Some(PodMetric {
                                    value,
                                    timestamp: now,
                                    window,
                                })
                            })
                        })
                        .collect(),
                ),
                HpaMetric::Object { object, metric, .. } => {
                    let deployments: Vec<u32> = match object.kind {
                        ObjectKind::Deployment => w
                            .deployments
                            .iter()
                            .position(|d| d.name == object.name)
                            .map(|i| vec![i as u32])
                            .unwrap_or_default(),
                        ObjectKind::Service => w
                            .services
                            .iter()
                            .find(|s| s.name == object.name)
                            .map(|s| s.deployments.clone())
                            .unwrap_or_default(),
                    };
                    let mut total = MeterTotals::default();
                    let mut any = false;
                    for &od in &deployments {
                        for &p in &self.deployments[od as usize].pods {
                            read.insert(p);
                            if let Some((t, _)) = self.meter_delta(a, p, since_sync) {
                                total.add(&t);
                                any = true;
                            }
                        }
                    }
                    Observed::Object(
                        any.then(|| metric_value(*metric, &total, period_ns))
                            .flatten(),
                    )
                }
            })
            .collect();
        for p in read {
            self.snapshot(a, p);
        }
        (pods, samples)
    }

    /// A running pod's load since the autoscaler's last look at it (or since its container
    /// started), with the length of that window; `None` for a pod not running.
    fn meter_delta(&self, a: u32, pod: u32, since_sync: SimTime) -> Option<(MeterTotals, SimTime)> {
        let p = &self.pods[pod as usize];
        // A stopped container has no metrics (nor has a pod whose node stopped answering).
        if p.phase < PodPhase::Starting || p.phase == PodPhase::Gone || p.down {
            return None;
        }
        let now = self.now;
        let started = if p.ready_at != SimTime::NEVER && p.ready_at < p.since {
            p.ready_at
        } else {
            p.since
        };
        let from = since_sync.max(started.min(now));
        let totals = p.meter.totals(now);
        let before = self.autoscalers[a as usize]
            .last
            .get(pod as usize)
            .copied()
            .flatten()
            .unwrap_or_default();
        Some((totals.minus(&before), now - from))
    }

    fn snapshot(&mut self, a: u32, pod: u32) {
        let totals = self.pods[pod as usize].meter.totals(self.now);
        let last = &mut self.autoscalers[a as usize].last;
        if last.len() <= pod as usize {
            last.resize(pod as usize + 1, None);
        }
        last[pod as usize] = Some(totals);
    }

    /// Up to `count` distinct pods of `deployment` that are `eligible`, drawn uniformly at
    /// random from the fault stream. Only the draws read that stream, so acting on each pod
    /// afterwards changes nothing of the draw.
    fn draw_pods(
        &mut self,
        deployment: u32,
        count: u32,
        eligible: impl Fn(&Pod) -> bool,
    ) -> Vec<u32> {
        let mut candidates: Vec<u32> = (self.deployments[deployment as usize].pods.iter())
            .copied()
            .filter(|&p| eligible(&self.pods[p as usize]))
            .collect();
        let drawn = (count as usize).min(candidates.len());
        (0..drawn)
            .map(|_| candidates.swap_remove(self.fault_rng.random_range(0..candidates.len())))
            .collect()
    }

    pub(super) fn log_fault(&mut self, what: String, pods_lost: u32) {
        let at = self.now.as_secs();
        self.fault_log.push(FaultEvent {
            at,
            what,
            pods_lost,
            count: 1,
            last_at: at,
        });
    }

    pub(super) fn on_fault_start(&mut self, f: u32) {
        let fault = &self.w.faults[f as usize];
        match &fault.kind {
            FaultKind::KillPods { deployment, count } => {
                let doomed = self.draw_pods(*deployment, *count, |pod| {
                    pod.phase > PodPhase::Unscheduled && pod.phase < PodPhase::Terminating
                });
                for pod in doomed {
                    let name = self.pod_name(pod);
                    self.fault_kill(pod);
                    self.log_fault(format!("pod {name} killed"), 1);
                }
                self.reconcile(*deployment);
            }
            FaultKind::CrashContainers { deployment, count } => {
                let crashing = self.draw_pods(*deployment, *count, |pod| {
                    !pod.down && matches!(pod.phase, PodPhase::Starting | PodPhase::Ready)
                });
                for pod in crashing {
                    let name = self.pod_name(pod);
                    self.crash(pod);
                    self.log_fault(format!("container of pod {name} crashed"), 1);
                }
            }
            FaultKind::NodesDown { nodes, grace } => {
                let mut stopped = 0;
                for &n in nodes {
                    self.nodes[n as usize].down += 1;
                    if self.nodes[n as usize].down == 1 {
                        stopped += self.fail_node(n, *grace);
                    }
                }
                self.log_fault(format!("{} failed", fault.target), stopped);
            }
            FaultKind::Link { .. } => {
                self.active_link_faults.push(f);
                self.apply_link_faults();
                self.log_fault(format!("{} degraded", fault.target), 0);
            }
        }
        if let Some(until) = fault.until {
            self.queue.push(until, Event::FaultEnd(f));
        }
    }

    pub(super) fn on_fault_end(&mut self, f: u32) {
        let fault = &self.w.faults[f as usize];
        match &fault.kind {
            FaultKind::KillPods { .. } | FaultKind::CrashContainers { .. } => {}
            FaultKind::NodesDown { nodes, .. } => {
                for &n in nodes {
                    self.nodes[n as usize].down -= 1;
                    if self.nodes[n as usize].down == 0 {
                        self.recover_node(n);
                    }
                }
                self.log_fault(format!("{} recovered", fault.target), 0);
                self.schedule_unscheduled();
            }
            FaultKind::Link { .. } => {
                self.active_link_faults.retain(|&a| a != f);
                self.apply_link_faults();
                self.log_fault(format!("{} restored", fault.target), 0);
            }
        }
    }

    /// Recomputes each location pair's latency change from the active link faults.
    fn apply_link_faults(&mut self) {
        if self.active_link_faults.is_empty() {
            self.link_faults = None;
            return;
        }
        let size = self.w.network.size;
        let mut table = vec![(1.0, 0.0); size * size];
        for &f in &self.active_link_faults {
            if let FaultKind::Link {
                pairs,
                multiplier,
                added_ms,
            } = &self.w.faults[f as usize].kind
            {
                // Overlapping faults compose independently of their order: the factors
                // multiply and the added delays add up.
                for &pair in pairs {
                    let (m, add) = table[pair];
                    table[pair] = (m * multiplier, add + added_ms);
                }
            }
        }
        self.link_faults = Some(table);
    }
}

/// An owned metric sample (see [`MetricSample`]).
enum Observed {
    PerPod(Vec<Option<PodMetric>>),
    Object(Option<f64>),
}

/// The value of `metric` from a load over `window_ns` (`None`: no sample).
fn metric_value(metric: TwinMetric, t: &MeterTotals, window_ns: f64) -> Option<f64> {
    match metric {
        TwinMetric::RequestsPerSecond => Some(t.arrivals as f64 / (window_ns / 1e9)),
        TwinMetric::ProcessingTimeMs => {
            (t.ttp_n > 0).then(|| t.ttp_sum as f64 / t.ttp_n as f64 / 1e6)
        }
        TwinMetric::QueueLength => Some(t.queue / window_ns),
    }
}
