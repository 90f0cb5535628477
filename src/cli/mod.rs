//! Command-line interface: one file per subcommand, each calling library functions only.

mod bench;
#[cfg(feature = "operator")]
mod crd;
mod diff;
mod export;
mod fit;
mod import;
#[cfg(feature = "operator")]
mod operator;
mod optimize;
mod schema;
mod simulate;
mod sweep;

use std::collections::BTreeSet;
use std::fmt::Display;

use clap::{Parser, Subcommand};

/// kubetwin: a deterministic digital twin of Kubernetes deployments.
#[derive(Debug, Parser)]
#[command(name = "kubetwin", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a scenario and report time to resolution, per-service and per-cluster KPIs.
    Simulate(simulate::Args),
    /// Fit distributions to samples, latency summaries or Prometheus metrics.
    Fit(Box<fit::Args>),
    /// Print the JSON Schema of kubetwin's scenario kinds.
    Schema(schema::Args),
    /// Run a scenario over a grid of configurations, with replications and confidence
    /// intervals; optionally against an SLO, sharded, or as a Kubernetes Indexed Job.
    Sweep(sweep::Args),
    /// Import Kubernetes objects (manifests or a live cluster) into a scenario.
    Import(Box<import::Args>),
    /// Render a scenario's Kubernetes objects as manifests.
    Export(export::Args),
    /// The minimal change from one configuration to another, as patches.
    Diff(diff::Args),
    /// Find the configuration with the lowest cost (or another figure) that meets an SLO.
    Optimize(optimize::Args),
    /// Run the online twin: a controller for TwinExperiment resources.
    #[cfg(feature = "operator")]
    Operator(operator::Args),
    /// Print the TwinExperiment CustomResourceDefinition (YAML).
    #[cfg(feature = "operator")]
    Crd(crd::Args),
    /// Measure the engine's speed (simulated requests/s, events/s, peak memory).
    Bench(bench::Args),
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the command reports; `main` prints it and exits non-zero.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Fit(args) => fit::run(*args),
        Command::Schema(args) => schema::run(args),
        Command::Bench(args) => bench::run(args),
        #[cfg(feature = "operator")]
        Command::Crd(args) => crd::run(args),
        #[cfg(feature = "operator")]
        Command::Operator(args) => operator::run(args),
        Command::Import(args) => import::run(*args),
        Command::Export(args) => export::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Optimize(args) => optimize::run(args),
    }
}

/// Prints what building the worlds found questionable to stderr, `warning: ` first, each
/// text once in the order first seen: the configurations of a sweep or a search share most
/// of their scenario's warnings.
fn print_warnings<W: Display>(warnings: impl IntoIterator<Item = W>) {
    let mut seen = BTreeSet::new();
    for warning in warnings {
        if seen.insert(warning.to_string()) {
            eprintln!("warning: {warning}");
        }
    }
}
