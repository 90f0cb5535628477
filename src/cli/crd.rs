//! `kubetwin crd`: the TwinExperiment CustomResourceDefinition as YAML.

use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> anyhow::Result<()> {
    std::io::stdout().write_all(kubetwin::operator::crd_yaml().as_bytes())?;
    Ok(())
}
