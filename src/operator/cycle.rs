//! One cycle of the online twin, synchronous and deterministic: the imported scenario
//! (live objects + fitted model) is simulated as it is (the prediction) and over the
//! experiment's search space (the optimizer), and the best configuration meeting the SLO
//! becomes a proposal with its patches.
//!
//! Every configuration runs `budget.replications` times with seeds `seed + r` (common
//! random numbers across configurations). The SLO is judged on the upper bound of the 95%
//! confidence interval unless the experiment asks for the point estimate. Nothing here
//! reads a clock: the async side cancels a cycle past its budget through `cancel`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rayon::prelude::*;

use super::crd::{Objective, SearchDimension, SloConfidence, SloMetric, TwinExperimentSpec};
use crate::k8s::diff::{self, Patch};
use crate::model::{self, Override, Scenario, ScenarioError};
use crate::sim::{self, BuildOptions, World};
use crate::sweep::optimize::{self, Evaluation, SearchSettings};
use crate::sweep::{Estimate, Kpi, Kpis};

/// A configuration's predicted figures over the replications.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// TTR mean, in milliseconds.
    pub mean: Option<Estimate>,
    /// TTR p99, in milliseconds.
    pub p99: Option<Estimate>,
    /// The SLO's figure.
    pub slo: Option<Estimate>,
    /// Cost per hour (the pods' share of their nodes' prices).
    pub cost_per_hour: Option<Estimate>,
    /// Core-hours per hour.
    pub cores: Option<Estimate>,
    /// Whether the SLO is met under the experiment's confidence rule.
    pub meets_slo: bool,
}

/// A better configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    /// `PATH=VALUE` settings, in search-space order.
    pub settings: Vec<(String, String)>,
    /// Its prediction.
    pub prediction: Prediction,
    /// The patches that turn the current configuration into it.
    pub patches: Vec<Patch>,
}

/// What a cycle found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The current configuration's prediction.
    pub current: Prediction,
    /// What was minimised: the experiment's objective, or core-hours when it asks for cost
    /// and no node has a price.
    pub objective: Objective,
    /// The best configuration meeting the SLO, if it differs from the current one and is
    /// cheaper (or the current one misses the SLO).
    pub proposal: Option<Proposal>,
    /// Configurations simulated, the current one included.
    pub configurations: u32,
    /// Whether `cancel` cut the search short.
    pub cancelled: bool,
    /// What building the current configuration's world found questionable
    /// ([`crate::sim::World::warnings`]), as text.
    pub warnings: Vec<String>,
}

/// Why a cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// The imported scenario does not load or build.
    #[error("the imported scenario is invalid: {0}")]
    Scenario(#[from] ScenarioError),
    /// The search space names something the scenario lacks, or is empty where it must not be.
    #[error("spec.searchSpace[{index}]: {message}")]
    SearchSpace {
        /// The dimension's index.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// One decision of the search: `--set` paths and their candidate values.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// `horizontalpodautoscaler/web:spec.minReplicas`; two paths when an HPA's
    /// `minReplicas` and `maxReplicas` are decided together.
    pub paths: Vec<String>,
    /// The candidates: a YAML value for each path.
    pub values: Vec<Vec<String>>,
}

impl Decision {
    fn one(path: String, values: Vec<String>) -> Self {
        Decision {
            paths: vec![path],
            values: values.into_iter().map(|v| vec![v]).collect(),
        }
    }

    /// Candidate `c` as (path, value) pairs.
    fn settings(&self, c: usize) -> impl Iterator<Item = (&str, &str)> {
        (self.paths.iter().zip(&self.values[c])).map(|(p, v)| (p.as_str(), v.as_str()))
    }
}

/// The search space as `--set` decisions.
///
/// # Errors
/// [`CycleError::SearchSpace`] for a dimension with neither or both of `hpa` and
/// `deployment`, an inverted range, or nothing to vary.
///
/// An HPA's `minReplicas` and `maxReplicas` ranges make one decision of the pairs with
/// `minReplicas <= maxReplicas`, which the API server requires: the search spends no
/// budget on configurations Kubernetes would reject.
pub fn decisions(space: &[SearchDimension]) -> Result<Vec<Decision>, CycleError> {
    let mut out = Vec::new();
    for (index, d) in space.iter().enumerate() {
        let bad = |message: &str| CycleError::SearchSpace {
            index,
            message: message.to_owned(),
        };
        let range = |[lo, hi]: [i32; 2], field: &str| {
            if lo < 0 || lo > hi {
                return Err(bad(&format!("{field}: [{lo}, {hi}] is not a range")));
            }
            Ok(lo..=hi)
        };
        let values = |r: std::ops::RangeInclusive<i32>| r.map(|v| v.to_string()).collect();
        let before = out.len();
        match (&d.hpa, &d.deployment) {
            (Some(hpa), None) => {
                let path = |field: &str| format!("horizontalpodautoscaler/{hpa}:{field}");
                match (d.min_replicas, d.max_replicas) {
                    (Some(min), Some(max)) => {
                        let max = range(max, "maxReplicas")?;
                        let pairs: Vec<Vec<String>> = range(min, "minReplicas")?
                            .flat_map(|lo| {
                                max.clone()
                                    .filter(move |&hi| lo <= hi)
                                    .map(move |hi| vec![lo.to_string(), hi.to_string()])
                            })
                            .collect();
                        if pairs.is_empty() {
                            return Err(bad("no minReplicas is at most a maxReplicas"));
                        }
                        out.push(Decision {
                            paths: vec![path("spec.minReplicas"), path("spec.maxReplicas")],
                            values: pairs,
                        });
                    }
                    (min, max) => {
                        if let Some(r) = min {
                            out.push(Decision::one(
                                path("spec.minReplicas"),
                                values(range(r, "minReplicas")?),
                            ));
                        }
                        if let Some(r) = max {
                            out.push(Decision::one(
                                path("spec.maxReplicas"),
                                values(range(r, "maxReplicas")?),
                            ));
                        }
                    }
                }
                if !d.target_cpu_utilization.is_empty() {
                    out.push(Decision::one(
                        path("spec.metrics[0].resource.target.averageUtilization"),
                        d.target_cpu_utilization
                            .iter()
                            .map(i32::to_string)
                            .collect(),
                    ));
                }
            }
            (None, Some(deployment)) => {
                let path = |field: &str| format!("deployment/{deployment}:{field}");
                if let Some(r) = d.replicas {
                    out.push(Decision::one(
                        path("spec.replicas"),
                        values(range(r, "replicas")?),
                    ));
                }
                if let Some(affinity) = &d.node_affinity {
                    // "Anywhere" first, then one required label value per candidate.
                    let key = &affinity.key;
                    let mut values = vec!["{}".to_owned()];
                    values.extend(affinity.values.iter().map(|v| format!("{{{key}: {v}}}")));
                    out.push(Decision::one(
                        path("spec.template.spec.nodeSelector"),
                        values,
                    ));
                }
            }
            _ => return Err(bad("set exactly one of hpa and deployment")),
        }
        if out.len() == before {
            return Err(bad("nothing to vary: give a range or candidates"));
        }
    }
    Ok(out)
}

/// The cycle's fixed inputs.
pub struct Cycle<'a> {
    /// The imported scenario (YAML).
    pub yaml: &'a str,
    /// The experiment.
    pub spec: &'a TwinExperimentSpec,
    /// Applied to every configuration before its own settings (`spec.model.overrides`).
    pub overrides: &'a [Override],
    /// Seed of replication 0.
    pub seed: u64,
    /// Set by the async side when the cycle's wall-time budget is spent.
    pub cancel: &'a AtomicBool,
}

impl Cycle<'_> {
    fn load(&self, settings: &[Override]) -> Result<Scenario, ScenarioError> {
        let all: Vec<Override> = self.overrides.iter().chain(settings).cloned().collect();
        model::load_str(Path::new("twin.yaml"), self.yaml, Path::new("."), &all)
    }

    /// Builds the world of the configuration with `overrides`.
    fn world(&self, overrides: &[Override]) -> Result<World, ScenarioError> {
        let scenario = self.load(overrides)?;
        sim::build(
            &scenario,
            BuildOptions {
                seed: Some(self.seed),
                requests: Some(self.spec.budget.requests.max(1) as u64),
            },
        )
    }

    /// Simulates the configuration with `overrides`.
    fn predict(&self, overrides: &[Override]) -> Result<Prediction, ScenarioError> {
        Ok(self.simulate(&self.world(overrides)?))
    }

    /// Runs the replications of `world`.
    fn simulate(&self, world: &World) -> Prediction {
        let runs: Vec<(Kpis, f64)> = (0..self.spec.budget.replications.max(1) as u32)
            .into_par_iter()
            .map(|r| {
                let report = sim::run_seeded(world, self.seed + u64::from(r), &mut |_| {});
                (Kpis::of(&report), report.simulated_seconds)
            })
            .collect();
        let estimate = |kpi: Kpi| {
            let values: Vec<f64> = runs.iter().filter_map(|(k, _)| k.get(kpi)).collect();
            Estimate::of(&values)
        };
        let slo = estimate(slo_kpi(self.spec.slo.metric));
        let judged = slo.map(|e| match self.spec.slo.confidence {
            SloConfidence::UpperBound => e.mean + e.ci95.unwrap_or(0.0),
            SloConfidence::PointEstimate => e.mean,
        });
        Prediction {
            mean: estimate(Kpi::Mean),
            p99: estimate(Kpi::P99),
            meets_slo: judged.is_some_and(|v| v <= self.spec.slo.threshold_ms),
            slo,
            // A run's cost and core-hours cover its simulated time; per hour they compare
            // configurations whatever the run's length.
            cost_per_hour: per_hour(&runs, Kpi::Cost),
            cores: per_hour(&runs, Kpi::CoreHours),
        }
    }

    fn evaluation(&self, prediction: &Prediction, objective: Objective) -> Evaluation {
        let objective = match objective {
            Objective::Cost => prediction.cost_per_hour,
            Objective::CoreHours => prediction.cores,
        };
        let threshold = self.spec.slo.threshold_ms;
        let judged = prediction.slo.map(|e| match self.spec.slo.confidence {
            SloConfidence::UpperBound => e.mean + e.ci95.unwrap_or(0.0),
            SloConfidence::PointEstimate => e.mean,
        });
        Evaluation {
            objective: objective.map_or(f64::INFINITY, |e| e.mean),
            slo_value: prediction.slo.map(|e| e.mean),
            violation: judged.map_or(f64::INFINITY, |v| ((v - threshold) / threshold).max(0.0)),
        }
    }

    /// Predicts the current configuration and searches the space.
    ///
    /// # Errors
    /// When the scenario does not build or the search space is invalid.
    pub fn run(&self) -> Result<Outcome, CycleError> {
        let decisions = decisions(&self.spec.search_space)?;
        let (current, warnings) = {
            let world = self.world(&[])?;
            let warnings = world.warnings.iter().map(ToString::to_string).collect();
            (self.simulate(&world), warnings)
        };
        // Without node prices every configuration costs nothing: compare reserved cores.
        let unpriced = current.cost_per_hour.is_none_or(|c| c.mean <= 0.0);
        let objective = match (self.spec.objective, unpriced) {
            (Objective::Cost, true) => Objective::CoreHours,
            (objective, _) => objective,
        };
        let current_eval = self.evaluation(&current, objective);
        let configurations = AtomicU32::new(1);
        let overrides = |choice: &[usize]| -> Result<Vec<Override>, ScenarioError> {
            (decisions.iter().zip(choice))
                .flat_map(|(d, &c)| d.settings(c))
                .map(|(path, value)| format!("{path}={value}").parse::<Override>())
                .collect()
        };
        let mut evaluate = |batch: &[Vec<usize>]| -> Vec<Evaluation> {
            batch
                .par_iter()
                .map(|choice| {
                    if self.cancel.load(Ordering::Relaxed) {
                        return infeasible();
                    }
                    configurations.fetch_add(1, Ordering::Relaxed);
                    // A configuration the scenario rejects (a minReplicas range above the
                    // HPA's own maxReplicas) is infeasible.
                    match overrides(choice).and_then(|o| self.predict(&o)) {
                        Ok(p) => self.evaluation(&p, objective),
                        Err(_) => infeasible(),
                    }
                })
                .collect()
        };
        let sizes: Vec<usize> = decisions.iter().map(|d| d.values.len()).collect();
        let result = match sizes.is_empty() {
            true => None,
            false => Some(optimize::search(
                &sizes,
                SearchSettings {
                    budget: self.spec.budget.configurations.max(1) as usize,
                    seed: self.seed,
                    population: 24,
                },
                &mut evaluate,
            )),
        };
        for c in result.iter().flat_map(|r| &r.evaluated) {
            let settings: Vec<(&str, &str)> = (decisions.iter().zip(&c.choice))
                .flat_map(|(d, &i)| d.settings(i))
                .collect();
            tracing::debug!(?settings, evaluation = ?c.evaluation, "configuration evaluated");
        }
        let best = result
            .as_ref()
            .and_then(|r| r.best.map(|b| &r.evaluated[b]))
            .filter(|b| b.evaluation.feasible())
            .filter(|b| {
                !current_eval.feasible() || b.evaluation.objective < current_eval.objective
            });
        let proposal = match best {
            None => None,
            Some(best) => {
                let overrides = overrides(&best.choice)?;
                let prediction = self.predict(&overrides)?;
                let patches = diff::diff(&self.load(&[])?, &self.load(&overrides)?).patches;
                let settings = (decisions.iter().zip(&best.choice))
                    .flat_map(|(d, &c)| d.settings(c))
                    .map(|(path, value)| (path.to_owned(), value.to_owned()))
                    .collect();
                (!patches.is_empty()).then_some(Proposal {
                    settings,
                    prediction,
                    patches,
                })
            }
        };
        Ok(Outcome {
            current,
            objective,
            proposal,
            configurations: configurations.into_inner(),
            cancelled: self.cancel.load(Ordering::Relaxed),
            warnings,
        })
    }
}

fn infeasible() -> Evaluation {
    Evaluation {
        objective: f64::INFINITY,
        slo_value: None,
        violation: f64::INFINITY,
    }
}

fn slo_kpi(metric: SloMetric) -> Kpi {
    match metric {
        SloMetric::Mean => Kpi::Mean,
        SloMetric::P50 => Kpi::P50,
        SloMetric::P90 => Kpi::P90,
        SloMetric::P95 => Kpi::P95,
        SloMetric::P99 => Kpi::P99,
        SloMetric::P999 => Kpi::P999,
    }
}

/// `kpi` (accumulated over a run) per simulated hour, over the runs (with their simulated
/// seconds).
fn per_hour(runs: &[(Kpis, f64)], kpi: Kpi) -> Option<Estimate> {
    let values: Vec<f64> = runs
        .iter()
        .filter(|(_, seconds)| *seconds > 0.0)
        .filter_map(|(k, seconds)| Some(k.get(kpi)? * 3600.0 / seconds))
        .collect();
    Estimate::of(&values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(min: Option<[i32; 2]>, max: Option<[i32; 2]>) -> SearchDimension {
        SearchDimension {
            hpa: Some("web".into()),
            min_replicas: min,
            max_replicas: max,
            ..SearchDimension::default()
        }
    }

    /// Kubernetes rejects an HPA with `minReplicas > maxReplicas`: the search offers only
    /// the 6 valid pairs of [1, 3] x [1, 3], not all 9.
    #[test]
    fn an_hpas_replica_bounds_are_decided_together_min_at_most_max() {
        let d = decisions(&[hpa(Some([1, 3]), Some([1, 3]))]).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].paths,
            [
                "horizontalpodautoscaler/web:spec.minReplicas",
                "horizontalpodautoscaler/web:spec.maxReplicas"
            ]
        );
        let pairs: Vec<String> = d[0].values.iter().map(|v| v.join("-")).collect();
        assert_eq!(pairs, ["1-1", "1-2", "1-3", "2-2", "2-3", "3-3"]);
        let settings: Vec<(&str, &str)> = d[0].settings(4).collect();
        assert_eq!(
            settings,
            [
                ("horizontalpodautoscaler/web:spec.minReplicas", "2"),
                ("horizontalpodautoscaler/web:spec.maxReplicas", "3")
            ]
        );
        // One bound alone stays one decision of one path.
        let d = decisions(&[hpa(None, Some([2, 4]))]).unwrap();
        assert_eq!(d[0].paths, ["horizontalpodautoscaler/web:spec.maxReplicas"]);
        assert_eq!(d[0].values.len(), 3);
    }

    #[test]
    fn replica_ranges_without_a_valid_pair_are_refused() {
        let error = decisions(&[hpa(Some([4, 5]), Some([1, 3]))]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.searchSpace[0]: no minReplicas is at most a maxReplicas"
        );
        let error = decisions(&[hpa(Some([3, 1]), None)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.searchSpace[0]: minReplicas: [3, 1] is not a range"
        );
    }
}
