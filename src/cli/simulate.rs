//! `kubetwin simulate`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use kubetwin::model::{self, Override};
use kubetwin::report;
use kubetwin::sim::{self, BuildOptions, RunReport, World};

/// Output formats of a run report.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Aligned tables for people.
    Table,
    /// The run report as JSON (schema kubetwin.io/run-report/v1, docs/output.md).
    Json,
    /// One `section,name,metric,value` row per figure.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario: a YAML file (multi-document) or a directory of YAML files.
    scenario: PathBuf,
    /// Master seed (overrides the Simulation's `spec.seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop after this many arrivals in total; flows' own request limits are lifted.
    #[arg(long)]
    requests: Option<u64>,
    /// Override a field: KIND[/NAME]:FIELD.PATH=VALUE, e.g. deployment/ms1:spec.replicas=5.
    #[arg(long = "set", value_name = "OVERRIDE")]
    set: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Also write the per-interval time series (CSV, or JSON when the name ends in .json).
    #[arg(long, value_name = "FILE")]
    timeseries: Option<PathBuf>,
    /// Also draw SVG charts into this directory: arrivals, replicas, time to process
    /// against the autoscalers' target, time to resolution, and placement by tier.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let overrides = args
        .set
        .iter()
        .map(|s| s.parse::<Override>())
        .collect::<Result<Vec<_>, _>>()?;
    let scenario = model::load(&args.scenario, &overrides)?;
    let world = sim::build(
        &scenario,
        BuildOptions {
            seed: args.seed,
            requests: args.requests,
        },
    )?;
    super::print_warnings(&world.warnings);
    let report = run_with_progress(&world);
    if let Some(path) = &args.timeseries {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_writer_pretty(&mut out, &report.timeseries)?;
        } else {
            report::write_timeseries_csv(&mut out, &report)?;
        }
        out.flush()?;
    }
    if let Some(dir) = &args.plot {
        let written = report::run_plot::write_run_plots(&report, dir)
            .with_context(|| format!("drawing the charts into {}", dir.display()))?;
        for path in written {
            eprintln!("wrote {}", path.display());
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        Format::Table => {
            report::write_table(&mut out, &args.scenario.display().to_string(), &report)?
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Csv => report::write_summary_csv(&mut out, &report)?,
    }
    Ok(())
}

/// Runs the world, with a progress bar on stderr when it is a terminal.
fn run_with_progress(world: &World) -> RunReport {
    if !std::io::stderr().is_terminal() {
        return sim::run(world, &mut |_| {});
    }
    let total = world
        .settings
        .stop_requests
        .or_else(|| world.flows.iter().map(|f| f.requests).sum());
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} requests, {per_sec}, ETA {eta}")
                .expect("valid template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    let report = sim::run(world, &mut |p| {
        bar.set_position(p.arrived);
        bar.set_message(format!("t = {:.1} s", p.now.as_secs()));
    });
    bar.finish_and_clear();
    report
}
