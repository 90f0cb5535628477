//! Rendering a [`RunReport`]: aligned tables for people, CSV for tools (JSON is the
//! report's own serde form); SVG plots of distribution fits ([`fit_plot`]).

pub mod fidelity;
pub mod fit_plot;
mod hpa;
mod palette;
pub mod run_plot;
pub mod sweep_html;
pub mod sweep_plot;
mod sweep_table;

pub use sweep_table::{write_sweep_csv, write_sweep_table};

use std::io::{self, Write};

use crate::sim::RunReport;
use crate::sim::report::Summary;

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

fn summary_cells(s: &Summary) -> String {
    format!(
        "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        s.count,
        ms(s.mean),
        ms(s.p50),
        ms(s.p90),
        ms(s.p95),
        ms(s.p99),
        ms(s.p999),
        ms(s.max)
    )
}

/// Writes the report as aligned tables.
///
/// # Errors
/// When `out` fails.
pub fn write_table(out: &mut impl Write, title: &str, r: &RunReport) -> io::Result<()> {
    let q = &r.requests;
    writeln!(out, "kubetwin simulate {title} (seed {})", r.seed)?;
    writeln!(
        out,
        "requests: {} arrived = {} completed + {} rejected + {} failed + {} in flight; {} measured (arrivals in [{:.1} s, {:.1} s])",
        q.arrived,
        q.completed,
        q.rejected,
        q.failed,
        q.in_flight,
        q.measured,
        r.window_seconds[0],
        r.window_seconds[1]
    )?;
    if q.rejected_queue_full + q.rejected_no_endpoints > 0 {
        writeln!(
            out,
            "rejections: {} by full queues, {} for want of endpoints",
            q.rejected_queue_full, q.rejected_no_endpoints
        )?;
    }
    if q.failed_pod_lost + q.unanswered + q.timed_out + q.retries > 0 {
        writeln!(
            out,
            "faults: {} calls lost with their pod, {} unanswered on failed nodes, {} attempts timed out, {} retries",
            q.failed_pod_lost, q.unanswered, q.timed_out, q.retries
        )?;
    }
    writeln!(
        out,
        "simulated: {:.3} s, {} events",
        r.simulated_seconds, r.events
    )?;
    writeln!(out)?;
    let head = format!(
        "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "count", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    writeln!(out, "{:<24} {head}", "TIME TO RESOLUTION (ms)")?;
    writeln!(out, "{:<24} {}", "all", summary_cells(&r.ttr))?;
    if r.request_types.len() > 1 {
        for t in &r.request_types {
            writeln!(out, "{:<24} {}", t.name, summary_cells(&t.ttr))?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:>5} {:>8} {:>6} {:>10} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "SERVICE",
        "PODS",
        "RESTARTS",
        "UTIL",
        "THRU (/s)",
        "REJECTED",
        "TTP mean",
        "TTP p99",
        "WAIT mean",
        "WAIT p99"
    )?;
    for s in &r.services {
        writeln!(
            out,
            "{:<24} {:>5} {:>8} {:>6} {:>10.1} {:>9} {:>10} {:>10} {:>10} {:>10}",
            s.name,
            format!("{}/{}", s.running_pods, s.replicas),
            s.restarts,
            s.utilization
                .map_or_else(|| "-".into(), |u| format!("{:.1}%", u * 100.0)),
            s.throughput,
            s.rejected,
            ms(s.ttp.mean),
            ms(s.ttp.p99),
            ms(s.wait.mean),
            ms(s.wait.p99)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:<16} {:>4} {:>6} {:>16} {:>20}  PODS",
        "CLUSTER", "LOCATION", "TIER", "NODES", "CPU (cores)", "MEMORY (GiB)"
    )?;
    for c in &r.clusters {
        let pods: Vec<String> = c.pods.iter().map(|(d, n)| format!("{d}={n}")).collect();
        writeln!(
            out,
            "{:<24} {:<16} {:>4} {:>6} {:>16} {:>20}  {}",
            c.name,
            c.location,
            c.tier,
            c.nodes,
            format!("{:.1}/{:.1}", c.cpu[0], c.cpu[1]),
            format!("{:.1}/{:.1}", c.memory_gib[0], c.memory_gib[1]),
            if pods.is_empty() {
                "-".into()
            } else {
                pods.join(" ")
            }
        )?;
    }
    if !r.autoscalers.is_empty() {
        hpa::write_autoscalers(out, &r.autoscalers)?;
    }
    if !r.faults.is_empty() {
        writeln!(out)?;
        writeln!(out, "FAULTS ({})", r.faults.len())?;
        for f in &r.faults {
            if f.count > 1 {
                writeln!(
                    out,
                    "  {:>9.3} s  {} x{} until {:.3} s ({} pods lost)",
                    f.at, f.what, f.count, f.last_at, f.pods_lost
                )?;
            } else {
                writeln!(
                    out,
                    "  {:>9.3} s  {} ({} pods lost)",
                    f.at, f.what, f.pods_lost
                )?;
            }
        }
    }
    if !r.pending_pods.is_empty() {
        writeln!(out)?;
        writeln!(out, "PENDING PODS ({})", r.pending_pods.len())?;
        for p in &r.pending_pods {
            writeln!(out, "  {}: {}", p.deployment, p.reason)?;
        }
    }
    Ok(())
}

/// Writes every figure of the report as a `section,name,metric,value` CSV row; each
/// Kubernetes-rule HPA's conditions after its last sync as `autoscaler` rows named
/// `<type>.status`, `<type>.reason`, `<type>.message` and `<type>.lastTransitionSeconds`.
///
/// # Errors
/// When `out` fails.
pub fn write_summary_csv(out: &mut impl Write, r: &RunReport) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut row = |section: &str, name: &str, metric: &str, value: String| {
        w.write_record([section, name, metric, &value])
    };
    row("section", "name", "metric", "value".into())?;
    let q = &r.requests;
    for (metric, v) in [
        ("arrived", q.arrived),
        ("completed", q.completed),
        ("rejected", q.rejected),
        ("failed", q.failed),
        ("inFlight", q.in_flight),
        ("measured", q.measured),
        ("retries", q.retries),
        ("timedOut", q.timed_out),
    ] {
        row("requests", "all", metric, v.to_string())?;
    }
    let summary = |row: &mut dyn FnMut(&str, &str, &str, String) -> csv::Result<()>,
                   section: &str,
                   name: &str,
                   prefix: &str,
                   s: &Summary| {
        row(
            section,
            name,
            &format!("{prefix}count"),
            s.count.to_string(),
        )?;
        for (m, v) in [
            ("mean", s.mean),
            ("p50", s.p50),
            ("p90", s.p90),
            ("p95", s.p95),
            ("p99", s.p99),
            ("p999", s.p999),
            ("max", s.max),
        ] {
            row(
                section,
                name,
                &format!("{prefix}{m}Ms"),
                v.map(|v| v.to_string()).unwrap_or_default(),
            )?;
        }
        Ok::<_, csv::Error>(())
    };
    summary(&mut row, "ttr", "all", "", &r.ttr)?;
    for t in &r.request_types {
        summary(&mut row, "ttr", &t.name, "", &t.ttr)?;
    }
    for s in &r.services {
        row(
            "service",
            &s.name,
            "runningPods",
            s.running_pods.to_string(),
        )?;
        row("service", &s.name, "throughput", s.throughput.to_string())?;
        row(
            "service",
            &s.name,
            "utilization",
            s.utilization.map(|u| u.to_string()).unwrap_or_default(),
        )?;
        row("service", &s.name, "rejected", s.rejected.to_string())?;
        row("service", &s.name, "replicas", s.replicas.to_string())?;
        row(
            "service",
            &s.name,
            "podsCreated",
            s.pods_created.to_string(),
        )?;
        row("service", &s.name, "podsKilled", s.pods_killed.to_string())?;
        row(
            "service",
            &s.name,
            "podsEvicted",
            s.pods_evicted.to_string(),
        )?;
        row("service", &s.name, "restarts", s.restarts.to_string())?;
        summary(&mut row, "service", &s.name, "ttp.", &s.ttp)?;
        summary(&mut row, "service", &s.name, "wait.", &s.wait)?;
    }
    for c in &r.clusters {
        row(
            "cluster",
            &c.name,
            "pods",
            c.pods.values().sum::<u32>().to_string(),
        )?;
        row("cluster", &c.name, "cpuAllocated", c.cpu[0].to_string())?;
    }
    for a in &r.autoscalers {
        for c in &a.conditions {
            let metric = |field: &str| format!("{}.{field}", c.kind);
            row("autoscaler", &a.name, &metric("status"), c.status.into())?;
            row("autoscaler", &a.name, &metric("reason"), c.reason.into())?;
            row("autoscaler", &a.name, &metric("message"), c.message.clone())?;
            row(
                "autoscaler",
                &a.name,
                &metric("lastTransitionSeconds"),
                c.last_transition_seconds.to_string(),
            )?;
        }
    }
    w.flush()
}

/// Writes the time series as CSV: one row per interval, per-service columns prefixed with
/// the service's name.
///
/// # Errors
/// When `out` fails.
pub fn write_timeseries_csv(out: &mut impl Write, r: &RunReport) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = [
        "start_s",
        "arrivals",
        "completed",
        "rejected",
        "failed",
        "ttr_mean_ms",
        "ttr_p99_ms",
    ]
    .map(String::from)
    .into();
    let tiers = r
        .timeseries
        .first()
        .and_then(|row| row.services.first())
        .map_or(0, |s| s.pods_by_tier.len());
    for s in &r.services {
        for col in ["desired", "pods", "ready", "ttp_mean_ms", "queued", "busy"] {
            header.push(format!("{}_{col}", s.name));
        }
        for t in 0..tiers {
            header.push(format!("{}_tier{t}_pods", s.name));
        }
    }
    w.write_record(&header)?;
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for row in &r.timeseries {
        let mut record = vec![
            row.start.to_string(),
            row.arrivals.to_string(),
            row.completed.to_string(),
            row.rejected.to_string(),
            row.failed.to_string(),
            opt(row.ttr_mean),
            opt(row.ttr_p99),
        ];
        for s in &row.services {
            record.extend([
                s.desired.to_string(),
                s.pods.to_string(),
                s.ready.to_string(),
                opt(s.ttp_mean),
                s.queued.to_string(),
                s.busy.to_string(),
            ]);
            record.extend(s.pods_by_tier.iter().map(u32::to_string));
        }
        w.write_record(&record)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::report::{AutoscalerReport, ConditionReport, RUN_REPORT_SCHEMA};

    /// A report with one Kubernetes-rule HPA whose CPU metric failed.
    fn report() -> RunReport {
        let condition = |kind, status, reason, message: &str, at| ConditionReport {
            kind,
            status,
            reason,
            message: message.into(),
            last_transition_seconds: at,
        };
        RunReport {
            schema: RUN_REPORT_SCHEMA,
            seed: 1,
            simulated_seconds: 60.0,
            events: 0,
            window_seconds: [0.0, 60.0],
            requests: Default::default(),
            ttr: Summary::default(),
            request_types: Vec::new(),
            services: Vec::new(),
            clusters: Vec::new(),
            pending_pods: Vec::new(),
            autoscalers: vec![AutoscalerReport {
                name: "app".into(),
                target: "app".into(),
                rule: "kubernetes",
                desired_processing_time_ms: None,
                syncs: 4,
                scale_ups: 0,
                scale_downs: 0,
                replicas: 2,
                metrics: Vec::new(),
                conditions: vec![
                    condition(
                        "AbleToScale",
                        "True",
                        "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale",
                        15.0,
                    ),
                    condition(
                        "ScalingActive",
                        "False",
                        "FailedGetResourceMetric",
                        "the HPA was unable to compute the replica count: failed to get cpu \
                         utilization: missing request for cpu on pod #0 of the target",
                        15.0,
                    ),
                ],
            }],
            scaling: Vec::new(),
            faults: Vec::new(),
            cost: Default::default(),
            timeseries: Vec::new(),
        }
    }

    #[test]
    fn the_summary_csv_carries_each_hpa_condition() {
        let mut out = Vec::new();
        write_summary_csv(&mut out, &report()).unwrap();
        let csv = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with("autoscaler,"))
            .collect();
        assert_eq!(
            rows,
            [
                "autoscaler,app,AbleToScale.status,True",
                "autoscaler,app,AbleToScale.reason,SucceededGetScale",
                "autoscaler,app,AbleToScale.message,the HPA controller was able to get the target's current scale",
                "autoscaler,app,AbleToScale.lastTransitionSeconds,15",
                "autoscaler,app,ScalingActive.status,False",
                "autoscaler,app,ScalingActive.reason,FailedGetResourceMetric",
                "autoscaler,app,ScalingActive.message,the HPA was unable to compute the replica count: \
                 failed to get cpu utilization: missing request for cpu on pod #0 of the target",
                "autoscaler,app,ScalingActive.lastTransitionSeconds,15",
            ]
        );
    }
}
