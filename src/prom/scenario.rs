//! From observations to a scenario's ServiceModel and Workload documents: each workload's
//! latency histogram fitted by maximum likelihood on the bucket counts, the inferred call
//! graph as call steps, and the external arrivals as a Poisson flow.
//!
//! A caller's `serviceTime` is its own time: its response time less its calls, measured
//! client-side where the metrics have it ([`super::own_time`]); without client-side
//! histograms it is the whole response time, which overstates it, and
//! [`ObservedModel::notes`] says so.
//!
//! Several pulls at different loads make a load-dependent model ([`ObservedModel::by_load`]):
//! each workload's time at each pull's request rate per pod becomes a level of
//! `serviceTimeByLoad`.
//!
//! Assumptions, stated here because the metrics cannot settle them: a workload's Service has
//! the workload's name; each pod has one worker; a server-side histogram starts timing when
//! the request arrives, so at high utilization the fitted time includes the wait for a
//! worker (fit at a load where the pods are not saturated).

use std::collections::BTreeMap;
use std::io::{self, Write};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::fit::{Family, Fit, FitReport, fit_histogram};
use crate::model::Object;
use crate::model::dist::DistSpec;
use crate::model::kinds::{
    API_VERSION, ArrivalSpec, CallMode, CallStep, FlowSpec, LoadDependentSpec, LoadLevelSpec,
    RequestTypeSpec, ServiceModelSpec, WorkloadSpec,
};
use crate::prom::Observations;
use crate::prom::error::PromError;
use crate::prom::graph::{CallGraph, infer_call_graph};
use crate::prom::own_time::{MIN_CV, Moments, OwnTime, own_time};

/// The time constant of the fitted load-dependent times' rate average, in seconds.
const LOAD_WINDOW_SECONDS: f64 = 10.0;

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
    /// Its own time, when it makes calls that were measured client-side.
    pub own: Option<OwnTime>,
    /// Pods reporting (1 when the metrics do not say).
    pub replicas: f64,
    /// Its time per load level (requests per second per pod), from
    /// [`ObservedModel::by_load`]; empty for one pull.
    pub levels: Vec<(f64, DistSpec)>,
}

impl WorkloadModel {
    /// The best fit.
    pub fn best(&self) -> &Fit {
        self.report.best()
    }

    /// What its ServiceModel's time is: the own time when known, else the best fit.
    pub fn service_time(&self) -> &DistSpec {
        self.own.as_ref().map_or(&self.best().spec, |o| &o.spec)
    }

    /// Requests per second per pod.
    pub fn load(&self) -> f64 {
        self.rate / self.replicas
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
        let replicas = match obs.replicas.get(name) {
            Some(&n) if n >= 1.0 => n,
            _ => 1.0,
        };
        workloads.push(WorkloadModel {
            name: name.clone(),
            rate,
            observations,
            report,
            prometheus_p50: quantiles.and_then(|q| q.p50),
            prometheus_p99: quantiles.and_then(|q| q.p99),
            own: None,
            replicas,
            levels: Vec::new(),
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
    for w in &mut workloads {
        let Some(callees) = graph.calls.get(&w.name) else {
            continue;
        };
        match own_time_of(w, callees, obs, families) {
            Ok(own) => {
                notes.push(format!(
                    "{}: own time {:.3} ms = response {:.3} ms - calls {:.3} ms (client-side){}",
                    w.name,
                    own.own.mean,
                    own.response.mean,
                    own.calls.mean,
                    if own.variance_floored {
                        format!("; its variance is noise, raised to a CV of {MIN_CV}")
                    } else {
                        String::new()
                    }
                ));
                w.own = Some(own);
            }
            Err(why) => notes.push(format!(
                "{}: {why}, so its serviceTime is its whole response time and overstates its \
                 own processing time",
                w.name
            )),
        }
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

/// The own time of `w`, which calls `callees` (calls per request by callee).
fn own_time_of(
    w: &WorkloadModel,
    callees: &BTreeMap<String, f64>,
    obs: &Observations,
    families: &[Family],
) -> Result<OwnTime, String> {
    let response = Moments::of_fit(w.best(), obs.means.get(&w.name).copied())
        .ok_or("its response-time fit has no finite variance")?;
    let mut calls = Vec::new();
    for (callee, &p) in callees {
        let key = (w.name.clone(), callee.clone());
        let buckets = obs
            .call_histograms
            .get(&key)
            .ok_or_else(|| format!("no client-side histogram of its calls to {callee}"))?;
        let fit = fit_histogram(buckets, families)
            .map_err(|e| format!("its calls to {callee} could not be fitted ({e})"))?;
        let moments = Moments::of_fit(fit.best(), obs.call_means.get(&key).copied())
            .ok_or_else(|| format!("the fit of its calls to {callee} has no finite variance"))?;
        calls.push((p, moments));
    }
    own_time(w.best().family, response, &calls)
}

impl ObservedModel {
    /// One model from pulls at different loads: the last pull's call graph and workload,
    /// and for each workload seen in at least two pulls with distinct loads, a level per
    /// pull (its request rate per pod and its time), by increasing load. Pulls at the same
    /// load as an earlier one are left out, with a note.
    pub fn by_load(pulls: Vec<ObservedModel>) -> Option<ObservedModel> {
        let mut levels: BTreeMap<String, Vec<(f64, DistSpec)>> = BTreeMap::new();
        let mut notes = Vec::new();
        for pull in &pulls {
            for w in &pull.workloads {
                let list = levels.entry(w.name.clone()).or_default();
                if list.iter().any(|(load, _)| (load - w.load()).abs() < 1e-9) {
                    notes.push(format!(
                        "{}: two pulls at {:.3} req/s per pod; the later one is left out",
                        w.name,
                        w.load()
                    ));
                } else {
                    list.push((w.load(), w.service_time().clone()));
                }
            }
        }
        let mut model = pulls.into_iter().last()?;
        for w in &mut model.workloads {
            let mut list = levels.remove(&w.name).unwrap_or_default();
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            let loads: Vec<String> = list.iter().map(|(l, _)| format!("{l:.3}")).collect();
            if list.len() >= 2 {
                notes.push(format!(
                    "{}: serviceTimeByLoad with levels at {} req/s per pod",
                    w.name,
                    loads.join(", ")
                ));
                w.levels = list;
            } else {
                notes.push(format!(
                    "{}: seen at one load only; its serviceTime does not depend on the load",
                    w.name
                ));
            }
        }
        model.notes.extend(notes);
        Some(model)
    }

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
                        service_time: w.levels.is_empty().then(|| w.service_time().clone()),
                        service_time_by_load: (!w.levels.is_empty()).then(|| LoadDependentSpec {
                            window_seconds: LOAD_WINDOW_SECONDS,
                            levels: (w.levels.iter())
                                .map(|(load, spec)| LoadLevelSpec {
                                    requests_per_second: round(*load, 6),
                                    service_time: spec.clone(),
                                })
                                .collect(),
                        }),
                        cpu_millicores: None,
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
            "{:<24} {:>9} {:>5} {:>10} {:<12} {:>10} {:>10} {:>10} {:>10} {:>9}  CALLS (per request)",
            "WORKLOAD",
            "REQ/S",
            "PODS",
            "OBS",
            "FAMILY",
            "p50 fit",
            "p50 prom",
            "p99 fit",
            "p99 prom",
            "OWN mean"
        )?;
        for w in &self.workloads {
            let calls: Vec<String> = self.graph.calls.get(&w.name).map_or_else(Vec::new, |c| {
                c.iter().map(|(d, p)| format!("{d}={p:.3}")).collect()
            });
            let own = w.own.as_ref().map(|o| o.own.mean);
            writeln!(
                out,
                "{:<24} {:>9.3} {:>5} {:>10.0} {:<12} {:>10} {:>10} {:>10} {:>10} {:>9}  {}",
                w.name,
                w.rate,
                w.replicas,
                w.observations,
                w.best().family.to_string(),
                ms(w.best().quantile(0.5).ok()),
                ms(w.prometheus_p50),
                ms(w.best().quantile(0.99).ok()),
                ms(w.prometheus_p99),
                ms(own),
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
