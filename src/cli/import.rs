//! `kubetwin import`: Kubernetes objects, from manifests, into a scenario.

use std::path::PathBuf;

use anyhow::Context;
use kubetwin::k8s::import::{self, ClusterObjects, ImportOptions, Model};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read manifests: files or directories (walked recursively) of YAML or JSON, including
    /// `kubectl get -o yaml` Lists and `helm template` output.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    from_manifests: Vec<PathBuf>,
    /// A fitted model (ServiceModels, Workload, optionally Topology and Simulation), e.g.
    /// what `kubetwin fit --prometheus` writes; used before annotations and defaults.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Node prices per hour by instance type: a YAML map such as `m5.large: 0.096`.
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Place every replica through the twin's scheduler at time zero instead of starting
    /// the running Pods where they run.
    #[arg(long)]
    reschedule: bool,
    /// Write the scenario to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Name of the Topology and Workload written.
    #[arg(long, default_value = "imported")]
    name: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut options = ImportOptions {
        reschedule: args.reschedule,
        name: args.name.clone(),
        ..ImportOptions::default()
    };
    if let Some(path) = &args.model {
        options.model = Model::read(path)?;
    }
    if let Some(path) = &args.prices {
        options.prices = import::read_prices(path)?;
    }
    let objects = read(&args, &mut options)?;
    let imported = import::to_scenario(&objects, &options)?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &imported.yaml)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} ({} warnings)",
                path.display(),
                imported.warnings.len()
            );
        }
        None => print!("{}", imported.yaml),
    }
    Ok(())
}

/// The objects from the manifests, printing the ignored kinds.
fn read(args: &Args, options: &mut ImportOptions) -> anyhow::Result<ClusterObjects> {
    anyhow::ensure!(
        !args.from_manifests.is_empty(),
        "give --from-manifests PATH..."
    );
    let manifests = import::from_manifests(&args.from_manifests)?;
    if let Some(line) = manifests.ignored.summary() {
        eprintln!("{line}");
    }
    options.sources = manifests.sources;
    Ok(manifests.objects)
}
