//! `kubetwin export`: a scenario's Kubernetes objects as manifests.

use std::path::PathBuf;

use clap::ValueEnum;
use kubetwin::k8s::export;
use kubetwin::model::{self, Override};

/// Manifest formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A YAML stream, one document per object.
    Yaml,
    /// One `v1` List in JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario: a YAML file (multi-document) or a directory of YAML files.
    scenario: PathBuf,
    /// Override a field first: KIND[/NAME]:FIELD.PATH=VALUE.
    #[arg(long = "set", value_name = "OVERRIDE")]
    set: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Yaml)]
    output: Format,
    /// Also write the cluster state the scenario records: its Node objects and Pods (for
    /// `kubetwin import`, not for `kubectl apply`).
    #[arg(long)]
    cluster_state: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let overrides = (args.set.iter())
        .map(|s| s.parse::<Override>())
        .collect::<Result<Vec<_>, _>>()?;
    let scenario = model::load(&args.scenario, &overrides)?;
    let manifests = export::manifests(&scenario, args.cluster_state)?;
    match args.output {
        Format::Yaml => print!("{}", export::to_yaml(&manifests)?),
        Format::Json => print!("{}", export::to_json(&manifests)),
    }
    Ok(())
}
