//! `live-chain run`: one measured run of a chain, end to end. Starts the chain of a
//! [`ChainSpec`] file, runs the open-loop load against its entry, waits for the next scrape,
//! reads back from Prometheus what every service and call edge served, stops everything
//! and prints one JSON document:
//!
//! - `pids`: every process the run started (all gone when the JSON is printed);
//! - `load`: the generator's [`LoadResult`] without per-request latencies;
//! - `services.<name>`: `requests` (`http_server_request_duration_seconds_count` summed over
//!   replicas at the last scrape, which follows the load), `window_requests` (its
//!   `increase()` over `[start_unix, end_unix]` evaluated at `end_unix`, as a fit reads it)
//!   and `mean_ms` (the histogram's sum over count);
//! - `edges`: per caller and `server_address`, `requests` and `mean_ms` of the client
//!   histogram.
//!
//! Once the chain is up, stderr says `chain up: pids [..]; Prometheus at URL; entry URL,...`.
//!
//! Subtracting a callee's server-side mean from its caller's client-side mean, or the entry
//! service's server-side mean from the end-to-end mean, gives the per-hop overhead.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::harness::{Chain, ChainSpec, Sample};
use crate::load::LoadResult;

/// `live-chain run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The chain, a YAML or JSON ChainSpec (namespace, services, mode,
    /// scrapeIntervalSeconds, seed).
    #[arg(long)]
    pub chain: PathBuf,
    /// Mean arrival rate, requests per second.
    #[arg(long)]
    pub rate: f64,
    /// Length of the arrival process, seconds.
    #[arg(long)]
    pub duration_seconds: f64,
    /// Seed of the arrival times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the load's per-request latencies into the JSON, to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `sum by (labels) (metric{k8s_namespace_name="ns"})` as a map from the labels' values.
fn sum_by(
    chain: &Chain,
    labels: &str,
    expression: &str,
    at: Option<f64>,
) -> anyhow::Result<BTreeMap<Vec<String>, f64>> {
    let samples: Vec<Sample> = chain.query(&format!("sum by ({labels}) ({expression})"), at)?;
    Ok(samples
        .into_iter()
        .map(|(l, v)| {
            let key = labels
                .split(", ")
                .map(|n| l.get(n).cloned().unwrap_or_default());
            (key.collect(), v)
        })
        .collect())
}

/// What Prometheus saw of the run that `load` measured.
fn observed(chain: &Chain, namespace: &str, load: &LoadResult) -> anyhow::Result<(Value, Value)> {
    let sel = format!("{{k8s_namespace_name=\"{namespace}\"}}");
    let server = "http_server_request_duration_seconds";
    let client = "http_client_request_duration_seconds";
    let counts = sum_by(chain, "service_name", &format!("{server}_count{sel}"), None)?;
    let sums = sum_by(chain, "service_name", &format!("{server}_sum{sel}"), None)?;
    let window_ms = ((load.end_unix - load.start_unix) * 1e3).ceil();
    let increase = format!("increase({server}_count{sel}[{window_ms}ms])");
    let window = sum_by(chain, "service_name", &increase, Some(load.end_unix))?;
    let services: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(key, &n)| {
            let entry = json!({
                "requests": n,
                "window_requests": window.get(key).copied().unwrap_or(0.0),
                "mean_ms": sums.get(key).map_or(f64::NAN, |s| s / n * 1e3),
            });
            (key[0].clone(), entry)
        })
        .collect();
    let by = "service_name, server_address";
    let counts = sum_by(chain, by, &format!("{client}_count{sel}"), None)?;
    let sums = sum_by(chain, by, &format!("{client}_sum{sel}"), None)?;
    let edges: Vec<Value> = counts
        .iter()
        .map(|(key, &n)| {
            json!({
                "source": key[0],
                "destination": key[1],
                "requests": n,
                "mean_ms": sums.get(key).map_or(f64::NAN, |s| s / n * 1e3),
            })
        })
        .collect();
    Ok((Value::Object(services), Value::Array(edges)))
}

/// `live-chain run`.
///
/// # Errors
/// An unreadable or invalid chain file, or any error of [`Chain::start`],
/// [`Chain::run_load`] or the queries.
pub fn main(args: &RunArgs) -> anyhow::Result<()> {
    let path = args.chain.display();
    let text = std::fs::read_to_string(&args.chain).with_context(|| format!("reading {path}"))?;
    let spec: ChainSpec = serde_saphyr::from_str(&text).with_context(|| format!("{path}"))?;
    let chain = Chain::start(&spec).with_context(|| format!("{path}"))?;
    eprintln!(
        "chain up: pids {}; Prometheus at {}; entry {}",
        json!(chain.pids()),
        chain.prometheus_url(),
        chain.entry_targets().join(","),
    );
    let load = chain.run_load(args.rate, args.duration_seconds, args.seed)?;
    chain.wait_scraped_after(load.end_unix)?;
    let (services, edges) = observed(&chain, &spec.namespace, &load)?;
    let pids = chain.pids();
    drop(chain);
    let mut report = json!({
        "pids": pids,
        "load": load.summary(),
        "services": services,
        "edges": edges,
    });
    if let Some(out) = &args.out {
        report["load"]["latencies_ms"] = json!(load.latencies_ms);
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(out, text).with_context(|| format!("--out {}", out.display()))?;
        if let Some(load) = report["load"].as_object_mut() {
            load.remove("latencies_ms");
        }
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
