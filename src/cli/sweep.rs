//! `kubetwin sweep` and `kubetwin sweep merge`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kubetwin::k8s::job::{SCENARIO_DIR, SweepJob};
use kubetwin::model::Override;
use kubetwin::report;
use kubetwin::sweep::{self, Dimension, Slo, SweepReport, SweepSpec};

use super::simulate::Format;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    merge: Option<Merge>,
    /// Scenario: a YAML file (multi-document) or a directory of YAML files.
    #[arg(required = true)]
    scenario: Option<PathBuf>,
    /// A varied field: KIND[/NAME]:FIELD.PATH=VALUES, VALUES a list (a,b,c) or an integer
    /// range (1..20, 1..20:2). Several make a grid.
    #[arg(long, value_name = "PATH=VALUES", required = true)]
    vary: Vec<String>,
    /// Runs per configuration, with seeds SEED, SEED+1, ... (common random numbers across
    /// configurations).
    #[arg(long, default_value_t = 1)]
    replications: u32,
    /// The objective each configuration is checked against, e.g. 'p99<=60ms'.
    #[arg(long)]
    slo: Option<String>,
    /// How replications meet the SLO: `bound` (the far end of the 95% interval of the
    /// mean) or `mean` (the mean alone).
    #[arg(long, default_value = "bound", value_name = "bound|mean")]
    slo_rule: String,
    #[command(flatten)]
    runs: RunOptions,
    /// Run only shard INDEX of COUNT (configurations whose index is INDEX modulo COUNT).
    #[arg(long, value_name = "INDEX/COUNT")]
    shard: Option<String>,
    /// Print a Kubernetes Indexed Job (and a ConfigMap with the scenario) that runs the
    /// sweep as N shards in parallel, instead of running it.
    #[arg(long, value_name = "N")]
    emit_job: Option<u32>,
    /// The container image of `--emit-job`.
    #[arg(long, default_value = concat!("ghcr.io/kubetwin/kubetwin:", env!("CARGO_PKG_VERSION")))]
    image: String,
    #[command(flatten)]
    out: Output,
}

/// How each configuration is run; shared with `kubetwin optimize`.
#[derive(Debug, clap::Args)]
pub struct RunOptions {
    /// Seed of the first replication (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop each run after this many arrivals; flows' own request limits are lifted.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Override a field in every configuration: KIND[/NAME]:FIELD.PATH=VALUE.
    #[arg(long = "set", value_name = "OVERRIDE")]
    pub set: Vec<String>,
    /// Worker threads (default: all cores). The result does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl RunOptions {
    /// The parsed `--set` overrides.
    pub fn overrides(&self) -> anyhow::Result<Vec<Override>> {
        Ok(self
            .set
            .iter()
            .map(|s| s.parse::<Override>())
            .collect::<Result<_, _>>()?)
    }

    /// A thread pool of `--threads` workers.
    pub fn pool(&self) -> anyhow::Result<rayon::ThreadPool> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads.unwrap_or(0))
            .build()
            .context("starting the worker threads")
    }
}

/// How results are shown.
#[derive(Debug, clap::Args)]
pub struct Output {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Also draw SVG charts (each figure vs the first varied field) into this directory.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Also write a self-contained HTML report (table and charts).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Merge {
    /// Combine the JSON outputs of every shard (`--shard i/N -o json`) into the whole
    /// sweep's result.
    Merge {
        /// The shards' outputs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        out: Output,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Merge::Merge { files, out }) = args.merge {
        let shards = files
            .iter()
            .map(|f| sweep::read_report(f))
            .collect::<Result<Vec<_>, _>>()?;
        return show(&sweep::merge(shards)?, &out);
    }
    let scenario = args.scenario.clone().expect("required by clap");
    let dimensions = args
        .vary
        .iter()
        .map(|v| v.parse::<Dimension>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut slo = args.slo.as_deref().map(str::parse::<Slo>).transpose()?;
    let rule: sweep::SloRule = args.slo_rule.parse()?;
    if let Some(slo) = &mut slo {
        slo.rule = rule;
    }
    if let Some(shards) = args.emit_job {
        return emit_job(&scenario, &args.vary, &args.runs.set, &args, shards);
    }
    let spec = SweepSpec {
        base: args.runs.overrides()?,
        scenario,
        dimensions,
        replications: args.replications.max(1),
        seed: args.runs.seed,
        requests: args.runs.requests,
        slo,
        shard: args.shard.as_deref().map(sweep::parse_shard).transpose()?,
    };
    let pool = args.runs.pool()?;
    let bar = std::io::stderr().is_terminal().then(|| {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, ETA {eta}")
                .expect("valid template"),
        )
    });
    let report = pool.install(|| {
        sweep::run(&spec, &|done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        })
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    show(&report, &args.out)
}

fn show(report: &SweepReport, out: &Output) -> anyhow::Result<()> {
    super::print_warnings(report.configurations.iter().flat_map(|c| &c.warnings));
    if let Some(dir) = &out.plot {
        for path in report::sweep_plot::write_sweep_plots(report, dir)
            .with_context(|| format!("drawing the charts into {}", dir.display()))?
        {
            eprintln!("wrote {}", path.display());
        }
    }
    if let Some(path) = &out.report {
        let html = report::sweep_html::html_report(report)?;
        std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    match out.output {
        Format::Table => report::write_sweep_table(&mut w, report)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, report)?;
            writeln!(w)?;
        }
        Format::Csv => report::write_sweep_csv(&mut w, report)?,
    }
    Ok(())
}

/// Prints the ConfigMap and Indexed Job that run this sweep as `shards` pods.
fn emit_job(
    scenario: &Path,
    vary: &[String],
    set: &[String],
    args: &Args,
    shards: u32,
) -> anyhow::Result<()> {
    anyhow::ensure!(shards >= 1, "--emit-job needs at least 1 shard");
    let read = |path: &Path| -> anyhow::Result<(String, String)> {
        let name = path
            .file_name()
            .context("the scenario has no file name")?
            .to_string_lossy()
            .into_owned();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok((name, text))
    };
    let (files, in_pod) = if scenario.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(scenario)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(read(&path)?);
            }
        }
        files.sort();
        (files, SCENARIO_DIR.to_owned())
    } else {
        let file = read(scenario)?;
        let in_pod = format!("{SCENARIO_DIR}/{}", file.0);
        (vec![file], in_pod)
    };
    let mut options = Vec::new();
    for v in vary {
        options.extend(["--vary".to_owned(), v.clone()]);
    }
    for s in set {
        options.extend(["--set".to_owned(), s.clone()]);
    }
    options.extend(["--replications".to_owned(), args.replications.to_string()]);
    if let Some(slo) = &args.slo {
        options.extend(["--slo".to_owned(), slo.clone()]);
        options.extend(["--slo-rule".to_owned(), args.slo_rule.clone()]);
    }
    if let Some(seed) = args.runs.seed {
        options.extend(["--seed".to_owned(), seed.to_string()]);
    }
    if let Some(n) = args.runs.requests {
        options.extend(["--requests".to_owned(), n.to_string()]);
    }
    let stem = scenario
        .file_stem()
        .map_or("sweep".into(), |s| s.to_string_lossy().to_lowercase());
    let name: String = format!("kubetwin-sweep-{stem}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(52)
        .collect();
    let job = SweepJob {
        name,
        image: args.image.clone(),
        files,
        scenario: in_pod,
        options,
        shards,
    };
    print!("{}", job.to_yaml()?);
    Ok(())
}
