//! `kubetwin diff`: the minimal change from one configuration to another, as patches.

use std::path::PathBuf;

use clap::ValueEnum;
use kubetwin::k8s::diff;
use kubetwin::model::{self, Override};

/// Patch formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Server-side apply configurations (YAML) for `kubectl apply --server-side
    /// --field-manager=kubetwin -f -`.
    Apply,
    /// JSON merge patches (RFC 7386), with their targets.
    Merge,
    /// `kubectl patch` commands (strategic merge patches: containers merged by name).
    Kubectl,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration as it is: a scenario file or directory.
    current: PathBuf,
    /// The configuration wanted: a scenario file or directory (often CURRENT with --set).
    proposed: PathBuf,
    /// Override a field of PROPOSED: KIND[/NAME]:FIELD.PATH=VALUE.
    #[arg(long = "set", value_name = "OVERRIDE")]
    set: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Apply)]
    output: Format,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let overrides = (args.set.iter())
        .map(|s| s.parse::<Override>())
        .collect::<Result<Vec<_>, _>>()?;
    let current = model::load(&args.current, &[])?;
    let proposed = model::load(&args.proposed, &overrides)?;
    let recommendation = diff::diff(&current, &proposed);
    match args.output {
        Format::Apply => print!("{}", diff::to_apply_yaml(&recommendation)?),
        Format::Merge => print!("{}", diff::to_merge_json(&recommendation)),
        Format::Kubectl => print!("{}", diff::to_kubectl(&recommendation)),
    }
    Ok(())
}
