//! `kubetwin optimize`: the cheapest configuration that meets an SLO.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use kubetwin::sweep::optimize::{self, Choice, Evaluation, SearchSettings};
use kubetwin::sweep::{self, ConfigResult, Dimension, Kpi, Slo, SweepSpec};
use serde::Serialize;

use super::simulate::Format;
use super::sweep::RunOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario: a YAML file (multi-document) or a directory of YAML files.
    scenario: PathBuf,
    /// A decision: KIND[/NAME]:FIELD.PATH=VALUES (a list a,b,c or a range 1..20[:step]).
    #[arg(long, value_name = "PATH=VALUES", required = true)]
    decide: Vec<String>,
    /// The objective to minimise: cost (pods' share of node prices), core-hours, or any
    /// figure (mean, p99, ...).
    #[arg(long, default_value = "cost")]
    objective: String,
    /// The constraint, e.g. 'p99<=60ms', judged on the far end of the 95% interval of the
    /// mean over replications (or on the mean with `--slo-rule mean`).
    #[arg(long)]
    slo: String,
    /// `bound` (default) or `mean`: see `kubetwin sweep --slo-rule`.
    #[arg(long, default_value = "bound", value_name = "bound|mean")]
    slo_rule: String,
    /// Runs per configuration.
    #[arg(long, default_value_t = 3)]
    replications: u32,
    /// At most this many configurations are simulated (exhaustive search when the space
    /// is no larger).
    #[arg(long, default_value_t = 200)]
    budget: usize,
    /// Genetic algorithm population.
    #[arg(long, default_value_t = 24)]
    population: usize,
    /// Seeds, overrides and threads (`--seed` also seeds the search).
    #[command(flatten)]
    runs: RunOptions,
    /// Output format (table or json).
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// The result of `kubetwin optimize -o json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OptimizeReport {
    schema: &'static str,
    scenario: String,
    decisions: Vec<Dimension>,
    objective: String,
    slo: Slo,
    replications: u32,
    method: optimize::Method,
    evaluations: usize,
    /// The best configuration with its figures (mean and 95% CI).
    best: Option<ConfigResult>,
    /// The Pareto front of objective vs the SLO's figure, by objective.
    pareto: Vec<ConfigResult>,
    /// Every configuration simulated, in evaluation order.
    evaluated: Vec<ConfigResult>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let decisions = args
        .decide
        .iter()
        .map(|v| {
            v.parse::<Dimension>()
                .map_err(|e| anyhow::anyhow!("{}", e.to_string().replacen("--vary", "--decide", 1)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut slo: Slo = args
        .slo
        .parse()
        .map_err(|e: sweep::SweepError| anyhow::anyhow!("{e}"))?;
    slo.rule = args
        .slo_rule
        .parse()
        .map_err(|e: sweep::SweepError| anyhow::anyhow!("{e}"))?;
    let objective: Kpi = args
        .objective
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--objective: {e}"))?;
    let spec = SweepSpec {
        scenario: args.scenario.clone(),
        base: args.runs.overrides()?,
        dimensions: decisions.clone(),
        replications: args.replications.max(1),
        seed: args.runs.seed,
        requests: args.runs.requests,
        slo: Some(slo),
        shard: None,
    };
    let pool = args.runs.pool()?;
    let sizes: Vec<usize> = decisions.iter().map(|d| d.values.len()).collect();
    let mut results: BTreeMap<Choice, ConfigResult> = BTreeMap::new();
    let mut failure = None;
    let mut evaluate = |batch: &[Choice]| -> Vec<Evaluation> {
        let unusable = Evaluation {
            objective: f64::MAX,
            slo_value: None,
            violation: f64::MAX,
        };
        if failure.is_some() {
            // A configuration was not a valid scenario: the search is over.
            return vec![unusable; batch.len()];
        }
        let labelled: Vec<(usize, Vec<usize>)> = batch
            .iter()
            .enumerate()
            .map(|(i, c)| (results.len() + i, c.clone()))
            .collect();
        match pool.install(|| sweep::evaluate(&spec, &labelled, &|_, _| {})) {
            Ok((_, configs)) => batch
                .iter()
                .zip(configs)
                .map(|(choice, config)| {
                    let e = evaluation(&config, objective, &slo);
                    results.insert(choice.clone(), config);
                    e
                })
                .collect(),
            Err(e) => {
                failure = Some(e);
                vec![unusable; batch.len()]
            }
        }
    };
    let search = optimize::search(
        &sizes,
        SearchSettings {
            budget: args.budget.max(1),
            seed: args.runs.seed.unwrap_or(1),
            population: args.population.max(2),
        },
        &mut evaluate,
    );
    if let Some(e) = failure {
        return Err(e.into());
    }
    let config = |i: usize| results[&search.evaluated[i].choice].clone();
    let report = OptimizeReport {
        schema: "kubetwin.io/optimize-report/v1",
        scenario: args.scenario.display().to_string(),
        decisions,
        objective: objective.name().to_owned(),
        slo,
        replications: spec.replications,
        method: search.method,
        evaluations: search.evaluated.len(),
        best: search.best.map(config),
        pareto: search.pareto.iter().map(|&i| config(i)).collect(),
        evaluated: (0..search.evaluated.len()).map(config).collect(),
    };
    super::print_warnings(report.evaluated.iter().flat_map(|c| &c.warnings));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Table | Format::Csv => write_table(&mut out, &report, objective)?,
    }
    Ok(())
}

/// How a configuration scores: the objective's mean, and how far the SLO's mean misses
/// its bound, relative to the bound.
fn evaluation(config: &ConfigResult, objective: Kpi, slo: &Slo) -> Evaluation {
    // The value the rule judges (the interval's far end by default), so that the
    // infeasible are ranked by how far that misses.
    let slo_value = config
        .kpis
        .get(slo.kpi.name())
        .map(|e| slo.judged(e, slo.rule));
    let violation = match slo_value {
        None => f64::MAX,
        Some(_) if config.meets_slo == Some(true) => 0.0,
        Some(v) => ((v - slo.value).abs() / slo.value.abs().max(1e-9)).max(f64::MIN_POSITIVE),
    };
    Evaluation {
        objective: config.mean(objective).unwrap_or(f64::MAX),
        slo_value,
        violation,
    }
}

fn describe(decisions: &[Dimension], c: &ConfigResult) -> String {
    decisions
        .iter()
        .zip(&c.settings)
        .map(|(d, v)| format!("{}={v}", d.path))
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_table(out: &mut impl Write, r: &OptimizeReport, objective: Kpi) -> std::io::Result<()> {
    writeln!(
        out,
        "kubetwin optimize {}: minimise {} subject to {} ({:?} search, {} configurations x {} replications)",
        r.scenario, r.objective, r.slo, r.method, r.evaluations, r.replications
    )?;
    let figure = |c: &ConfigResult, k: Kpi| match c.kpis.get(k.name()) {
        Some(e) => match e.ci95 {
            Some(ci) => format!("{:.4} ±{ci:.4}", e.mean),
            None => format!("{:.4}", e.mean),
        },
        None => "-".into(),
    };
    match &r.best {
        Some(best) if best.meets_slo == Some(true) => {
            writeln!(out, "best: {}", describe(&r.decisions, best))?;
            writeln!(
                out,
                "  {} {}   {} {}   mean TTR {} ms",
                r.objective,
                figure(best, objective),
                r.slo.kpi.name(),
                figure(best, r.slo.kpi),
                figure(best, Kpi::Mean)
            )?;
        }
        _ => writeln!(out, "no configuration evaluated meets {}", r.slo)?,
    }
    writeln!(out)?;
    writeln!(
        out,
        "PARETO FRONT ({} vs {})",
        r.objective,
        r.slo.kpi.name()
    )?;
    for c in &r.pareto {
        writeln!(
            out,
            "  {:>20} {:>20}  {}{}",
            figure(c, objective),
            figure(c, r.slo.kpi),
            describe(&r.decisions, c),
            if c.meets_slo == Some(true) {
                ""
            } else {
                "  (misses the SLO)"
            }
        )?;
    }
    Ok(())
}
