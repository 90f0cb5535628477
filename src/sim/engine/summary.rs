//! What a run measured: the rows of the time series, and the final report.

use std::collections::BTreeMap;

use super::pods::PodPhase;
use super::{Engine, NONE};
use crate::sim::autoscaler::Rule;
use crate::sim::report::{
    AutoscalerReport, ClusterReport, ConditionReport, Cost, CurrentMetric, IntervalRow,
    IntervalService, PendingPod, RUN_REPORT_SCHEMA, RequestTypeReport, RunReport, ServiceReport,
};
use crate::sim::time::SimTime;

impl Engine<'_> {
    pub(super) fn flush_interval(&mut self) {
        let interval = self.w.settings.interval;
        let start = SimTime(self.rows.len() as u64 * interval.0);
        let tiers = self
            .w
            .locations
            .iter()
            .map(|l| l.tier)
            .max()
            .map_or(0, |t| t as usize + 1);
        let services = self
            .deployments
            .iter_mut()
            .map(|run| {
                let (sum, n) = std::mem::take(&mut run.interval_ttp);
                let mut row = IntervalService {
                    desired: run.desired,
                    pods: 0,
                    ready: 0,
                    pods_by_tier: vec![0; tiers],
                    ttp_mean: (n > 0).then(|| sum as f64 / n as f64 / 1e6),
                    queued: 0,
                    busy: run.busy.level() as u32,
                };
                for &p in &run.pods {
                    let pod = &self.pods[p as usize];
                    row.queued += pod.queue.len() as u32;
                    if pod.phase >= PodPhase::Terminating {
                        continue;
                    }
                    row.pods += 1;
                    row.ready += u32::from(pod.phase == PodPhase::Ready);
                    if pod.location != NONE {
                        row.pods_by_tier[self.w.locations[pod.location as usize].tier as usize] +=
                            1;
                    }
                }
                row
            })
            .collect();
        let i = &mut self.interval;
        self.rows.push(IntervalRow {
            start: start.as_secs(),
            arrivals: std::mem::take(&mut i.arrivals),
            completed: std::mem::take(&mut i.completed),
            rejected: std::mem::take(&mut i.rejected),
            failed: std::mem::take(&mut i.failed),
            ttr_mean: i.ttr.mean_ms(),
            ttr_p99: i.ttr.quantile_ms(0.99),
            services,
        });
        i.ttr.reset();
    }

    pub(super) fn report(self) -> RunReport {
        let w = self.w;
        let (start, end) = self.window;
        let window_seconds = (end - start).as_secs();
        let ready = |run: &super::DeploymentRun| {
            run.pods
                .iter()
                .filter(|&&p| self.pods[p as usize].phase == PodPhase::Ready)
                .count() as u32
        };
        let mut total_cost = Cost::default();
        let services = w
            .deployments
            .iter()
            .zip(&self.deployments)
            .map(|(d, run)| {
                let capacity = run.capacity.total(self.now, start, end);
                let mut cost = run.cost;
                for &p in &run.pods {
                    if self.pods[p as usize].node != NONE {
                        cost.add(&self.pod_cost(p));
                    }
                }
                total_cost.add(&cost);
                ServiceReport {
                    cost,
                    name: d.name.clone(),
                    replicas: run.desired,
                    running_pods: ready(run),
                    pods_created: run.created,
                    pods_deleted: run.deleted,
                    pods_killed: run.killed,
                    pods_evicted: run.evicted,
                    restarts: run.restarts,
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
        let mut pending_pods = Vec::new();
        for run in &self.deployments {
            for &p in &run.pods {
                let pod = &self.pods[p as usize];
                let name = &w.deployments[pod.deployment as usize].name;
                if let Some(reason) = &pod.unscheduled_reason {
                    pending_pods.push(PendingPod {
                        deployment: name.clone(),
                        reason: reason.clone(),
                    });
                } else if pod.cluster != NONE && pod.phase < PodPhase::Terminating {
                    *clusters[pod.cluster as usize]
                        .pods
                        .entry(name.clone())
                        .or_default() += 1;
                }
            }
        }
        let autoscalers = w
            .autoscalers
            .iter()
            .zip(&self.autoscalers)
            .map(|(a, run)| AutoscalerReport {
                name: a.name.clone(),
                target: a.target.clone(),
                rule: match a.rule {
                    Rule::Twin(_) => "twin",
                    Rule::Kubernetes(_) => "kubernetes",
                },
                desired_processing_time_ms: match &a.rule {
                    Rule::Twin(rule) => Some(rule.desired_processing_time_ms()),
                    Rule::Kubernetes(_) => None,
                },
                syncs: run.syncs,
                scale_ups: run.scale_ups,
                scale_downs: run.scale_downs,
                replicas: self.deployments[run.deployment as usize].desired,
                metrics: match &a.rule {
                    Rule::Twin(_) => Vec::new(),
                    Rule::Kubernetes(rule) => (rule.metrics.iter())
                        .zip(run.current_metrics.iter().chain(std::iter::repeat(&None)))
                        .map(|(m, current)| CurrentMetric {
                            metric: m.status_name(),
                            current: *current,
                        })
                        .collect(),
                },
                conditions: (run.conditions.held().iter())
                    .map(|h| ConditionReport {
                        kind: h.condition.kind.name(),
                        status: if h.condition.status { "True" } else { "False" },
                        reason: h.condition.reason,
                        message: h.condition.message.clone(),
                        last_transition_seconds: h.last_transition.as_secs(),
                    })
                    .collect(),
            })
            .collect();
        let mut counts = self.counts;
        counts.in_flight = self.live_requests + self.late;
        RunReport {
            schema: RUN_REPORT_SCHEMA,
            seed: self.seed,
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
            pending_pods,
            autoscalers,
            scaling: self.scaling,
            faults: self.fault_log,
            cost: total_cost,
            timeseries: self.rows,
        }
    }
}
