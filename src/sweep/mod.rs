//! What-if analysis at scale: a grid of configurations ([`grid`]), each run for several
//! replications, summarised as means with 95% confidence intervals per figure ([`kpi`]),
//! checked against a service-level objective; and the search for the cheapest
//! configuration that meets it ([`optimize`]).
//!
//! **Common random numbers.** Replication `r` of every configuration uses the master seed
//! `seed + r` (a configuration's own seed when a dimension varies `simulation:spec.seed`),
//! the very run `simulate --seed SEED+r` makes, measurement window included. Every component draws from its own stream keyed by its name
//! ([`crate::sim::rng::stream`]), so two configurations that differ in, say, replicas see
//! the same arrivals and the same service times of the pods they share: differences
//! between configurations are not noise between seeds.
//!
//! **Determinism.** Runs are independent and single-threaded; they execute in parallel
//! (rayon) but are collected in (configuration, replication) order, so the result does not
//! depend on the number of threads. A shard (`i/N`) runs the configurations whose index
//! is `i` modulo `N`; [`merge`] of all shards equals the unsharded result.

pub mod grid;
pub mod kpi;
pub mod optimize;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use thiserror::Error;

use crate::model::{self, Override, ScenarioError};
use crate::sim::{self, BuildOptions, World};
pub use grid::Dimension;
pub use kpi::{Kpi, Kpis, Slo, SloRule};

/// Identifies the schema of [`SweepReport`].
pub const SWEEP_REPORT_SCHEMA: &str = "kubetwin.io/sweep-report/v1";

/// Why a sweep could not run.
#[derive(Debug, Error)]
pub enum SweepError {
    /// A `--vary` expression is malformed.
    #[error("--vary {expression:?}: {message}")]
    Vary {
        /// As written.
        expression: String,
        /// What is wrong.
        message: String,
    },
    /// An `--slo` expression is malformed.
    #[error("--slo {expression:?}: {message}")]
    Slo {
        /// As written.
        expression: String,
        /// What is wrong.
        message: String,
    },
    /// A `--shard` is malformed.
    #[error("--shard {0:?}: expected INDEX/COUNT with INDEX < COUNT, e.g. 0/4")]
    Shard(String),
    /// A configuration of the grid is not a valid scenario.
    #[error("configuration {index} ({settings}) is not a valid scenario")]
    Configuration {
        /// Its index in the grid.
        index: usize,
        /// Its settings, `PATH=VALUE` joined by spaces.
        settings: String,
        /// The scenario error.
        #[source]
        source: Box<ScenarioError>,
    },
    /// Shard outputs that do not belong together.
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// A sweep to run.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// The scenario (file or directory).
    pub scenario: PathBuf,
    /// Overrides applied to every configuration before the varied ones.
    pub base: Vec<Override>,
    /// The grid.
    pub dimensions: Vec<Dimension>,
    /// Runs per configuration (>= 1).
    pub replications: u32,
    /// Replication `r` uses `seed + r`; `None`: the scenario's own seed.
    pub seed: Option<u64>,
    /// Stop after this many arrivals (as `simulate --requests`).
    pub requests: Option<u64>,
    /// The objective each configuration is checked against.
    pub slo: Option<Slo>,
    /// Run only this shard `(index, count)`.
    pub shard: Option<(usize, usize)>,
}

/// Parses `--shard INDEX/COUNT`.
///
/// # Errors
/// Unless `INDEX < COUNT`, both integers.
pub fn parse_shard(s: &str) -> Result<(usize, usize), SweepError> {
    let bad = || SweepError::Shard(s.to_owned());
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i < n { Ok((i, n)) } else { Err(bad()) }
}

/// A figure over replications: mean and the half-width of its 95% confidence interval
/// (Student's t with `n - 1` degrees of freedom; `null` for a single run).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// Runs with a value.
    pub n: u32,
    /// Their mean.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean.
    pub ci95: Option<f64>,
}

impl Estimate {
    /// The estimate from `values`, or `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Estimate> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let ci95 = (n > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
                .expect("n > 1 degrees of freedom")
                .inverse_cdf(0.975);
            t * (var / n as f64).sqrt()
        });
        Some(Estimate {
            n: n as u32,
            mean,
            ci95,
        })
    }
}

/// One configuration's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigResult {
    /// Its index in the grid.
    pub index: usize,
    /// One value per dimension.
    pub settings: Vec<String>,
    /// Per figure (by name), over the replications.
    pub kpis: BTreeMap<String, Estimate>,
    /// Whether the SLO's figure meets it under the SLO's rule (by default the far end of
    /// its 95% interval).
    pub meets_slo: Option<bool>,
    /// Whether the mean alone meets it (the `mean` rule), reported beside `meetsSlo`.
    #[serde(default)]
    pub meets_slo_mean: Option<bool>,
    /// Each replication's figures, in order.
    pub runs: Vec<Kpis>,
    /// What building its world found questionable but ran anyway
    /// ([`crate::sim::World::warnings`]), as text; omitted when there is nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ConfigResult {
    fn new(
        index: usize,
        settings: Vec<String>,
        runs: Vec<Kpis>,
        slo: Option<&Slo>,
        warnings: Vec<String>,
    ) -> Self {
        let kpis: BTreeMap<String, Estimate> = Kpi::ALL
            .into_iter()
            .filter_map(|k| {
                let values: Vec<f64> = runs.iter().filter_map(|r| r.get(k)).collect();
                Estimate::of(&values).map(|e| (k.name().to_owned(), e))
            })
            .collect();
        let judge = |rule| slo.map(|s| s.met_by(kpis.get(s.kpi.name()).map(|e| s.judged(e, rule))));
        let meets_slo = judge(slo.map_or(SloRule::Bound, |s| s.rule));
        let meets_slo_mean = judge(SloRule::Mean);
        ConfigResult {
            index,
            settings,
            kpis,
            meets_slo,
            meets_slo_mean,
            runs,
            warnings,
        }
    }

    /// The mean of `kpi`, if any run had it.
    pub fn mean(&self, kpi: Kpi) -> Option<f64> {
        self.kpis.get(kpi.name()).map(|e| e.mean)
    }
}

/// A sweep's results: the stable JSON of `kubetwin sweep -o json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Always [`SWEEP_REPORT_SCHEMA`].
    pub schema: String,
    /// The scenario as given.
    pub scenario: String,
    /// The grid.
    pub dimensions: Vec<Dimension>,
    /// Runs per configuration.
    pub replications: u32,
    /// Seed of replication 0.
    pub seed: u64,
    /// The objective, e.g. `p99<=60ms`.
    pub slo: Option<Slo>,
    /// `[index, count]` of a shard; `null` for a whole sweep.
    pub shard: Option<[usize; 2]>,
    /// The first configuration in grid order that meets the SLO (for an ascending
    /// one-dimensional sweep: the smallest setting that does).
    pub first_meeting_slo: Option<usize>,
    /// Per configuration, in grid order.
    pub configurations: Vec<ConfigResult>,
}

/// Progress of a sweep, for a progress bar.
pub type SweepProgress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Builds the world of each configuration (`(label, value index per dimension)`), with
/// its settings.
fn worlds(
    spec: &SweepSpec,
    configurations: &[(usize, Vec<usize>)],
) -> Result<Vec<(usize, Vec<String>, World)>, SweepError> {
    configurations
        .par_iter()
        .map(|(index, choice)| {
            let index = *index;
            let settings: Vec<String> = spec
                .dimensions
                .iter()
                .zip(choice)
                .map(|(d, &c)| d.values[c].clone())
                .collect();
            let error = |source: ScenarioError| SweepError::Configuration {
                index,
                settings: spec
                    .dimensions
                    .iter()
                    .zip(&settings)
                    .map(|(d, v)| format!("{}={v}", d.path))
                    .collect::<Vec<_>>()
                    .join(" "),
                source: Box::new(source),
            };
            let mut overrides = spec.base.clone();
            for (d, v) in spec.dimensions.iter().zip(&settings) {
                overrides.push(d.setting(v).map_err(error)?);
            }
            let scenario = model::load(&spec.scenario, &overrides).map_err(error)?;
            let world = sim::build(
                &scenario,
                BuildOptions {
                    seed: spec.seed,
                    requests: spec.requests,
                },
            )
            .map_err(error)?;
            Ok((index, settings, world))
        })
        .collect::<Vec<_>>()
        // In grid order, so that the error reported is the first configuration's
        // whatever the threads did.
        .into_iter()
        .collect()
}

/// Runs `spec.replications` of each configuration (`(label, value index per dimension)`)
/// on the current rayon pool and summarises them, in the order given. Replication `r`
/// uses seed `seed + r`, where `seed` is `spec.seed` or the scenario's.
/// `progress(done, total)` is called after each run, from any thread.
///
/// # Errors
/// When a configuration is not a valid scenario.
pub fn evaluate(
    spec: &SweepSpec,
    configurations: &[(usize, Vec<usize>)],
    progress: SweepProgress<'_>,
) -> Result<(u64, Vec<ConfigResult>), SweepError> {
    if spec.seed.is_some()
        && let Some(d) = spec.dimensions.iter().find(|d| {
            d.path.to_ascii_lowercase().starts_with("simulation") && d.path.ends_with(":spec.seed")
        })
    {
        // `--seed` replaces every configuration's seed: the varied one would be ignored.
        return Err(SweepError::Vary {
            expression: d.path.clone(),
            message: "varies the seed, which --seed fixes: drop one of them".into(),
        });
    }
    let worlds = worlds(spec, configurations)?;
    let replications = spec.replications.max(1);
    let seed = match (worlds.first(), spec.seed) {
        (Some(w), _) => w.2.settings.seed,
        (None, Some(seed)) => seed,
        // An empty shard still reports the sweep's seed, so that it merges.
        (None, None) => {
            model::load(&spec.scenario, &spec.base)
                .map_err(|e| SweepError::Configuration {
                    index: 0,
                    settings: String::new(),
                    source: Box::new(e),
                })?
                .simulation
                .object
                .spec
                .seed
        }
    };
    let total = worlds.len() as u64 * u64::from(replications);
    let done = AtomicU64::new(0);
    let jobs: Vec<(usize, u32)> = (0..worlds.len())
        .flat_map(|w| (0..replications).map(move |r| (w, r)))
        .collect();
    let kpis: Vec<Kpis> = jobs
        .par_iter()
        .map(|&(w, r)| {
            // Each configuration's own seed: `--vary simulation:spec.seed=...` varies it
            // (with `--seed` every world has that seed).
            let world = &worlds[w].2;
            let report = sim::run_seeded(world, world.settings.seed + u64::from(r), &mut |_| {});
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Kpis::of(&report)
        })
        .collect();
    let results = worlds
        .into_iter()
        .zip(kpis.chunks(replications as usize))
        .map(|((index, settings, world), runs)| {
            let warnings = world.warnings.iter().map(ToString::to_string).collect();
            ConfigResult::new(index, settings, runs.to_vec(), spec.slo.as_ref(), warnings)
        })
        .collect();
    Ok((seed, results))
}

/// Runs the sweep (or its shard) on the current rayon pool (see [`evaluate`]).
///
/// # Errors
/// When a configuration is not a valid scenario.
pub fn run(spec: &SweepSpec, progress: SweepProgress<'_>) -> Result<SweepReport, SweepError> {
    let (shard, count) = spec.shard.unwrap_or((0, 1));
    let configurations: Vec<(usize, Vec<usize>)> = (0..grid::size(&spec.dimensions))
        .filter(|i| i % count == shard)
        .map(|i| (i, grid::configuration(&spec.dimensions, i)))
        .collect();
    let (seed, configurations) = evaluate(spec, &configurations, progress)?;
    Ok(finish(SweepReport {
        schema: SWEEP_REPORT_SCHEMA.into(),
        scenario: spec.scenario.display().to_string(),
        dimensions: spec.dimensions.clone(),
        replications: spec.replications.max(1),
        seed,
        slo: spec.slo,
        shard: spec.shard.map(|(i, n)| [i, n]),
        first_meeting_slo: None,
        configurations,
    }))
}

fn finish(mut report: SweepReport) -> SweepReport {
    report.first_meeting_slo = report
        .configurations
        .iter()
        .find(|c| c.meets_slo == Some(true))
        .map(|c| c.index);
    report
}

/// Combines the outputs of every shard of one sweep into the unsharded result.
///
/// # Errors
/// When the shards are of different sweeps, or one is missing or repeated.
pub fn merge(shards: Vec<SweepReport>) -> Result<SweepReport, SweepError> {
    let first = shards
        .first()
        .ok_or_else(|| SweepError::Merge("no shard outputs given".into()))?
        .clone();
    let count = match first.shard {
        Some([_, n]) => n,
        None => {
            return Err(SweepError::Merge(
                "the first file is not a shard's output".into(),
            ));
        }
    };
    let mut seen = vec![false; count];
    let mut configurations = Vec::new();
    for s in shards {
        let same = s.schema == first.schema
            && s.scenario == first.scenario
            && s.dimensions == first.dimensions
            && s.replications == first.replications
            && s.seed == first.seed
            && s.slo == first.slo;
        let Some([i, n]) = s.shard.filter(|_| same) else {
            return Err(SweepError::Merge(
                "the files are not shards of one sweep (scenario, grid, replications, seed and SLO must match)".into(),
            ));
        };
        if n != count || seen[i] {
            return Err(SweepError::Merge(format!(
                "shard {i}/{n} is repeated or of another split"
            )));
        }
        seen[i] = true;
        configurations.extend(s.configurations);
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(SweepError::Merge(format!(
            "shard {missing}/{count} is missing"
        )));
    }
    configurations.sort_by_key(|c| c.index);
    Ok(finish(SweepReport {
        shard: None,
        configurations,
        ..first
    }))
}

/// Reads a sweep report (a shard's output) from a JSON file.
///
/// # Errors
/// When the file cannot be read or is not a sweep report.
pub fn read_report(path: &Path) -> Result<SweepReport, SweepError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SweepError::Merge(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| SweepError::Merge(format!("{}: not a sweep report: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_uses_students_t() {
        // Mean 2, sample sd 1, n = 3: t(0.975, 2) = 4.3027 x 1/sqrt(3).
        let e = Estimate::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((e.n, e.mean), (3, 2.0));
        assert!((e.ci95.unwrap() - 4.302_652_7 / 3f64.sqrt()).abs() < 1e-6);
        assert_eq!(Estimate::of(&[5.0]).unwrap().ci95, None);
        assert_eq!(Estimate::of(&[]), None);
    }

    #[test]
    fn the_slo_is_judged_on_the_interval_end_unless_the_mean_rule_is_asked() {
        // p99 of three replications 56, 58, 60: mean 58, half-width 4.97. The mean meets
        // p99<=60ms, but an interval reaching 62.97 does not show it is met.
        let run = |p99| Kpis {
            p99: Some(p99),
            ..Kpis::default()
        };
        let runs = vec![run(56.0), run(58.0), run(60.0)];
        let mut slo: Slo = "p99<=60ms".parse().unwrap();
        assert_eq!(slo.rule, SloRule::Bound);
        let c = ConfigResult::new(0, vec![], runs.clone(), Some(&slo), Vec::new());
        assert_eq!((c.meets_slo, c.meets_slo_mean), (Some(false), Some(true)));
        slo.rule = SloRule::Mean;
        let c = ConfigResult::new(0, vec![], runs.clone(), Some(&slo), Vec::new());
        assert_eq!((c.meets_slo, c.meets_slo_mean), (Some(true), Some(true)));
        // For `>=` the lower end is judged: mean 58 >= 55, but 58 - 4.97 < 55.
        let slo: Slo = "p99>=55ms".parse().unwrap();
        let c = ConfigResult::new(0, vec![], runs, Some(&slo), Vec::new());
        assert_eq!((c.meets_slo, c.meets_slo_mean), (Some(false), Some(true)));
    }

    #[test]
    fn shards_parse() {
        assert_eq!(parse_shard("2/4").unwrap(), (2, 4));
        for bad in ["4/4", "x/4", "1", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
