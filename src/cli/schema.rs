//! `kubetwin schema`: the JSON Schema of kubetwin's own kinds.

use std::io::Write;

use kubetwin::model::kinds::{
    Object, ServiceModelSpec, SimulationSpec, TopologySpec, WorkloadSpec,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this kind (Topology, ServiceModel, Workload, Simulation).
    #[arg(long)]
    kind: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let schemas = [
        ("Topology", schemars::schema_for!(Object<TopologySpec>)),
        (
            "ServiceModel",
            schemars::schema_for!(Object<ServiceModelSpec>),
        ),
        ("Workload", schemars::schema_for!(Object<WorkloadSpec>)),
        ("Simulation", schemars::schema_for!(Object<SimulationSpec>)),
    ];
    let value = match &args.kind {
        Some(kind) => {
            let (_, schema) = schemas
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(kind))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown kind {kind:?}: Topology, ServiceModel, Workload or Simulation"
                    )
                })?;
            serde_json::to_value(schema)?
        }
        None => serde_json::Value::Object(
            schemas
                .iter()
                .map(|(k, s)| Ok(((*k).to_owned(), serde_json::to_value(s)?)))
                .collect::<Result<_, serde_json::Error>>()?,
        ),
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &value)?;
    writeln!(out)?;
    Ok(())
}
