//! From observations to a scenario's ServiceModel and Workload documents: each workload's
//! latency histogram fitted by maximum likelihood on the bucket counts, the inferred call
//! graph as call steps, and the external arrivals as a Poisson flow.
//!
//! Assumptions, stated here because the metrics cannot settle them: a workload's Service has
//! the workload's name; each pod has one worker; a histogram measures the response time, so
//! for a workload that calls others it includes those calls (the fitted `serviceTime` then
//! overstates the workload's own processing time, and [`ObservedModel::notes`] says so).

use std::collections::BTreeMap;
use std::io::{self, Write};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::fit::{Family, Fit, FitReport, fit_histogram};
use crate::model::Object;
use crate::model::kinds::{
    API_VERSION, ArrivalSpec, CallMode, CallStep, FlowSpec, RequestTypeSpec, ServiceModelSpec,
    WorkloadSpec,
};
use crate::prom::Observations;
use crate::prom::error::PromError;
use crate::prom::graph::{CallGraph, infer_call_graph};

/// At most this many certain calls are made per caller request to one callee.
const MAX_CALLS_PER_EDGE: f64 = 100.0;

/// One workload's fits and the figures to check them by.
#[derive(Debug)]
pub struct WorkloadModel {
    /// The workload (and Service) name.
    pub name: String,
    /// Inbound requests per second over the window.
    pub rate: f64,
    /// Observations in the histogram over the window.
    pub observations: f64,
    /// Every family fitted to the histogram, best (smallest BIC) first.
    pub report: FitReport,
    /// Prometheus' `histogram_quantile(0.5, ...)`, in milliseconds.
    pub prometheus_p50: Option<f64>,
    /// Prometheus' `histogram_quantile(0.99, ...)`, in milliseconds.
    pub prometheus_p99: Option<f64>,
}

impl WorkloadModel {
    /// The best fit.
    pub fn best(&self) -> &Fit {
        self.report.best()
    }
}

/// The model inferred from one pull.
#[derive(Debug)]
pub struct ObservedModel {
    /// Workloads with observations in the window, by name.
    pub workloads: Vec<WorkloadModel>,
    /// Entries and calls.
    pub graph: CallGraph,
    /// The window's length in seconds (the Workload's flow lasts as long).
    pub window_seconds: f64,
    /// What was left out or assumed, one sentence each.
    pub notes: Vec<String>,
}

/// Fits every workload's histogram with `families` and infers the call graph.
///
/// # Errors
/// [`PromError::Fit`] when no family fits a workload's histogram; [`PromError::NoEntry`] when
/// no workload receives requests from outside the namespace.
pub fn fit_observations(
    obs: &Observations,
    families: &[Family],
) -> Result<ObservedModel, PromError> {
    let mut notes = Vec::new();
    let mut workloads = Vec::new();
    let mut rates = BTreeMap::new();
    for (name, buckets) in &obs.histograms {
        let observations = buckets.last().map_or(0.0, |b| b.cumulative_count);
        if observations <= 0.0 {
            notes.push(format!("{name}: no requests in the window; left out"));
            continue;
        }
        let report = fit_histogram(buckets, families).map_err(|source| PromError::Fit {
            workload: name.clone(),
            source,
        })?;
        let rate = obs.rates.get(name).copied().unwrap_or_else(|| {
            notes.push(format!("{name}: no request rate in the window; taken as 0"));
            0.0
        });
        let quantiles = obs.prometheus_quantiles.get(name);
        rates.insert(name.clone(), rate);
        workloads.push(WorkloadModel {
            name: name.clone(),
            rate,
            observations,
            report,
            prometheus_p50: quantiles.and_then(|q| q.p50),
            prometheus_p99: quantiles.and_then(|q| q.p99),
        });
    }
    for name in obs
        .rates
        .keys()
        .filter(|n| !obs.histograms.contains_key(*n))
    {
        notes.push(format!(
            "{name}: requests but no latency histogram; left out"
        ));
    }
    let graph = infer_call_graph(&rates, obs.edges.as_deref());
    if graph.entries.is_empty() {
        let rates: Vec<String> = rates.iter().map(|(w, r)| format!("{w}={r}")).collect();
        return Err(PromError::NoEntry {
            query: obs.rates_query.clone(),
            rates: rates.join(", "),
        });
    }
    for (edge, reason) in &graph.ignored {
        notes.push(format!(
            "call {} -> {} ({:.3} req/s) left out: {reason}",
            edge.source, edge.destination, edge.rate
        ));
    }
    for caller in graph.calls.keys() {
        notes.push(format!(
            "{caller}: its response time includes its calls, so its serviceTime overstates \
             its own processing time"
        ));
    }
    if obs.edges.is_none() {
        notes.push("the metrics do not say who calls whom: every workload is an entry".into());
    }
    Ok(ObservedModel {
        workloads,
        graph,
        window_seconds: obs.window_seconds,
        notes,
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn metadata(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        ..ObjectMeta::default()
    }
}

/// The call steps for `p` calls per request on average: `floor(p)` certain calls, then one
/// with the remaining probability (rounded to 4 decimals; a certain call when that rounds
/// to 1, none when it rounds to 0).
fn call_steps(callee: &str, p: f64) -> Vec<CallStep> {
    let p = p.clamp(0.0, MAX_CALLS_PER_EDGE);
    let whole = p.floor();
    let rest = round(p - whole, 4);
    let step = |probability| CallStep {
        service: Some(callee.to_string()),
        probability,
        ..CallStep::default()
    };
    let mut steps: Vec<CallStep> = (0..whole as usize).map(|_| step(None)).collect();
    if rest >= 1.0 {
        steps.push(step(None));
    } else if rest > 0.0 {
        steps.push(step(Some(rest)));
    }
    steps
}

impl ObservedModel {
    /// One ServiceModel per workload: the best fit as `serviceTime`, one sync call step per
    /// callee (its branch probability; several steps when a request makes more than one call).
    pub fn service_models(&self) -> Vec<Object<ServiceModelSpec>> {
        self.workloads
            .iter()
            .map(|w| {
                let calls = self
                    .graph
                    .calls
                    .get(&w.name)
                    .map_or_else(Vec::new, |callees| {
                        callees
                            .iter()
                            .flat_map(|(c, p)| call_steps(c, *p))
                            .collect()
                    });
                Object {
                    api_version: API_VERSION.into(),
                    kind: "ServiceModel".into(),
                    metadata: metadata(&w.name),
                    spec: ServiceModelSpec {
                        deployment: None,
                        workers: 1,
                        queue_capacity: None,
                        service_time: w.best().spec.clone(),
                        call_mode: CallMode::Sync,
                        calls,
                        startup: None,
                    },
                }
            })
            .collect()
    }

    /// The Workload `name`: one request type per entry (weighted by its external rate) and
    /// one Poisson flow at the total external rate, lasting as long as the window.
    pub fn workload(&self, name: &str, user_location: &str) -> Object<WorkloadSpec> {
        let total: f64 = self.graph.entries.values().sum();
        Object {
            api_version: API_VERSION.into(),
            kind: "Workload".into(),
            metadata: metadata(name),
            spec: WorkloadSpec {
                user_location: user_location.into(),
                request_types: self
                    .graph
                    .entries
                    .iter()
                    .map(|(entry, rate)| RequestTypeSpec {
                        name: entry.clone(),
                        entry: entry.clone(),
                        weight: round(*rate, 6),
                    })
                    .collect(),
                retries: None,
                flows: vec![FlowSpec {
                    name: Some("observed".into()),
                    start_seconds: 0.0,
                    requests: None,
                    end_seconds: Some(self.window_seconds),
                    arrivals: ArrivalSpec::Poisson {
                        rate: round(total, 6),
                    },
                }],
            },
        }
    }

    /// Writes one line per workload (request rate, observations, best family, fitted p50 and
    /// p99 next to Prometheus' `histogram_quantile`, calls), then the entries and the notes.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let ms = |x: Option<f64>| x.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
        writeln!(
            out,
            "{:<24} {:>9} {:>10} {:<12} {:>10} {:>10} {:>10} {:>10}  CALLS (per request)",
            "WORKLOAD", "REQ/S", "OBS", "FAMILY", "p50 fit", "p50 prom", "p99 fit", "p99 prom"
        )?;
        for w in &self.workloads {
            let calls: Vec<String> = self.graph.calls.get(&w.name).map_or_else(Vec::new, |c| {
                c.iter().map(|(d, p)| format!("{d}={p:.3}")).collect()
            });
            writeln!(
                out,
                "{:<24} {:>9.3} {:>10.0} {:<12} {:>10} {:>10} {:>10} {:>10}  {}",
                w.name,
                w.rate,
                w.observations,
                w.best().family.to_string(),
                ms(w.best().quantile(0.5).ok()),
                ms(w.prometheus_p50),
                ms(w.best().quantile(0.99).ok()),
                ms(w.prometheus_p99),
                calls.join(" ")
            )?;
        }
        let entries: Vec<String> = (self.graph.entries.iter())
            .map(|(e, r)| format!("{e}={r:.3}/s"))
            .collect();
        writeln!(out, "entries: {}", entries.join(" "))?;
        for note in &self.notes {
            writeln!(out, "note: {note}")?;
        }
        Ok(())
    }

    /// The ServiceModels and the Workload as one multi-document YAML text.
    ///
    /// # Errors
    /// When serialization fails (it does not for these types).
    pub fn to_yaml(
        &self,
        workload_name: &str,
        user_location: &str,
    ) -> Result<String, serde_saphyr::SerializeError> {
        let mut docs = Vec::new();
        for model in self.service_models() {
            docs.push(serde_saphyr::to_string(&model)?);
        }
        docs.push(serde_saphyr::to_string(
            &self.workload(workload_name, user_location),
        )?);
        let docs: Vec<String> = docs.iter().map(|d| format!("{}\n", d.trim_end())).collect();
        Ok(docs.join("---\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_calls_become_certain_steps_and_one_probable_step() {
        let probabilities =
            |p| -> Vec<Option<f64>> { call_steps("b", p).iter().map(|s| s.probability).collect() };
        assert_eq!(probabilities(0.7), [Some(0.7)]);
        assert_eq!(probabilities(2.25), [None, None, Some(0.25)]);
        assert_eq!(probabilities(1.00001), [None]);
        assert_eq!(probabilities(0.99999), [None]);
        assert_eq!(probabilities(0.00001), []);
        assert_eq!(call_steps("b", 1e9).len(), 100);
    }
}
