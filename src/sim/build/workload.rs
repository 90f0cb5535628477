//! Arrival flows and trace files.

use std::path::Path;
use std::sync::Arc;

use crate::model::kinds::ArrivalSpec;
use crate::model::{Doc, ScenarioError};
use crate::sim::time::SimTime;
use crate::sim::world::{FlowDef, Process};

use super::dist;

pub(super) fn flows(
    workload: &Doc<crate::model::Object<crate::model::kinds::WorkloadSpec>>,
    wname: &str,
) -> Result<Vec<FlowDef>, ScenarioError> {
    let spec = &workload.object.spec;
    if spec.flows.is_empty() {
        return Err(workload.invalid(wname, "spec.flows", "needs at least one flow"));
    }
    let mut flows = Vec::new();
    for (i, f) in spec.flows.iter().enumerate() {
        let field = format!("spec.flows[{i}]");
        let invalid = |suffix: &str, message: String| {
            workload.invalid(wname, format!("{field}.{suffix}"), message)
        };
        // A flow starting ages away would have the control loops tick until then: the
        // same bound as on a distribution's draws (about 11.6 days).
        let max_seconds = crate::fit::MAX_DRAW_MS / 1e3;
        if !(f.start_seconds.is_finite() && f.start_seconds >= 0.0) {
            return Err(invalid(
                "startSeconds",
                format!("must be >= 0, got {}", f.start_seconds),
            ));
        }
        if f.start_seconds > max_seconds {
            return Err(invalid(
                "startSeconds",
                format!(
                    "must be <= {max_seconds:e} seconds, got {}",
                    f.start_seconds
                ),
            ));
        }
        if let Some(end) = f.end_seconds
            && !(end.is_finite() && end > f.start_seconds)
        {
            return Err(invalid(
                "endSeconds",
                format!("must be after startSeconds, got {end}"),
            ));
        }
        if f.requests == Some(0) {
            return Err(invalid("requests", "must be > 0".into()));
        }
        let rate = |rate: f64| {
            if rate.is_finite() && rate > 0.0 {
                Ok(rate)
            } else {
                Err(invalid(
                    "arrivals.rate",
                    format!("must be > 0 requests per second, got {rate}"),
                ))
            }
        };
        let process = match &f.arrivals {
            ArrivalSpec::Poisson { rate: r } => Process::Poisson(1000.0 / rate(*r)?),
            ArrivalSpec::Constant { rate: r } => {
                Process::Constant(SimTime::from_secs(1.0 / rate(*r)?).max(SimTime(1)))
            }
            ArrivalSpec::Renewal { inter_arrival } => {
                let d = dist(
                    workload,
                    wname,
                    &format!("{field}.arrivals.interArrival"),
                    inter_arrival,
                )?;
                if d.mean() <= 0.0 {
                    return Err(invalid("arrivals.interArrival", "mean must be > 0".into()));
                }
                Process::Renewal(d)
            }
            ArrivalSpec::Trace { file, column } => Process::Trace(
                trace(&workload.base_dir, file, column.as_deref())
                    .map_err(|m| invalid("arrivals", m))?,
            ),
        };
        flows.push(FlowDef {
            name: f.name.clone().unwrap_or_else(|| format!("flow-{i}")),
            start: SimTime::from_secs(f.start_seconds),
            end: f.end_seconds.map(SimTime::from_secs),
            requests: f.requests,
            process,
        });
    }
    Ok(flows)
}

pub(super) fn trace(
    base_dir: &Path,
    file: &str,
    column: Option<&str>,
) -> Result<Arc<[SimTime]>, String> {
    let seconds = crate::fit::read_csv_column(&base_dir.join(file), column)
        .map_err(|e| e.message().to_owned())?;
    if seconds.is_empty() {
        return Err(format!("{file}: the trace has no arrivals"));
    }
    if let Some(i) = seconds.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!(
            "{file}: timestamps must not decrease (row {} after row {}; rows count from 1 after the header)",
            i + 2,
            i + 1
        ));
    }
    if let Some(bad) = seconds.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        return Err(format!(
            "{file}: timestamp {bad} is not a time >= 0 seconds"
        ));
    }
    Ok(seconds.into_iter().map(SimTime::from_secs).collect())
}
