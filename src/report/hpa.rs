//! The autoscalers' part of the run table: one row per HPA, then, for the Kubernetes rule,
//! its metrics and `status.conditions` at the last sync, as `kubectl describe hpa` shows
//! them.

use std::io::{self, Write};

use super::ms;
use crate::sim::report::AutoscalerReport;

/// Writes the AUTOSCALER table and the HPA STATUS block (when an HPA has conditions).
///
/// # Errors
/// When `out` fails.
pub(super) fn write_autoscalers(
    out: &mut impl Write,
    autoscalers: &[AutoscalerReport],
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:<16} {:<10} {:>12} {:>6} {:>4} {:>6} {:>9}",
        "AUTOSCALER", "TARGET", "RULE", "DESIRED TTP", "SYNCS", "UPS", "DOWNS", "REPLICAS"
    )?;
    for a in autoscalers {
        writeln!(
            out,
            "{:<24} {:<16} {:<10} {:>12} {:>6} {:>4} {:>6} {:>9}",
            a.name,
            a.target,
            a.rule,
            ms(a.desired_processing_time_ms),
            a.syncs,
            a.scale_ups,
            a.scale_downs,
            a.replicas
        )?;
    }
    if autoscalers.iter().all(|a| a.conditions.is_empty()) {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "HPA STATUS (last sync)")?;
    for a in autoscalers.iter().filter(|a| !a.conditions.is_empty()) {
        writeln!(out, "  {}", a.name)?;
        for m in &a.metrics {
            let current = m
                .current
                .map_or_else(|| "<unknown>".into(), |v| format!("{v}"));
            writeln!(out, "    {}: {current}", m.metric)?;
        }
        for c in &a.conditions {
            writeln!(
                out,
                "    {:<15} {:<6} {:<24} {} (since {:.3} s)",
                c.kind, c.status, c.reason, c.message, c.last_transition_seconds
            )?;
        }
    }
    Ok(())
}
