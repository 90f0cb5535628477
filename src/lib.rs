//! # kubetwin: a digital twin of Kubernetes deployments
//!
//! kubetwin reenacts a Kubernetes application request by request: a deterministic
//! discrete-event simulation of pods (G/G/n FIFO queues), Services and their load
//! balancing, DNS, Deployments placed by the scheduler's filter-and-score, the Horizontal
//! Pod Autoscaler, pod start-up and deletion, faults, and the network latency between
//! clusters and regions. Ask "what if?" without touching a cluster; sweep and optimize
//! configurations against an SLO.
//!
//! ## Architecture
//!
//! ```text
//!   YAML scenario ──► model ──► sim::build ──► sim::World ──► sim::run ──► RunReport ──► report
//!   (k8s objects +    (serde     (checks every   (arenas of      (event       (stable       (table,
//!    kubetwin kinds)   types)     reference)      typed ids)      loop)        JSON)         CSV)
//! ```
//!
//! | module | what it holds | may depend on |
//! |---|---|---|
//! | [`model`] | the scenario vocabulary: k8s-openapi objects and kubetwin's kinds, loading with file:line errors, `--set` overrides. No behaviour. | — |
//! | [`k8s`] | Kubernetes values (quantities, pod requests, selectors); import of objects into a scenario, export, diff as patches; live listing (feature `operator`); sweeps as Indexed Jobs | model, fit, sim |
//! | [`fit`] | distribution families: validation, sampling, fitting, goodness of fit | model |
//! | [`sim`] | the deterministic engine: world, event loop, control loops (autoscalers, ReplicaSets, faults), scheduler plugins, load balancing, statistics | model, k8s, fit |
//! | [`sweep`] | grids of configurations with replications and confidence intervals, shards, the SLO-constrained optimizer | model, sim |
//! | [`report`] | rendering run and sweep reports: tables, CSV, SVG charts, HTML; SVG plots of fits | sim, sweep, fit |
//! | `prom` (feature `operator`) | Prometheus queries -> observations; fitted ServiceModel/Workload documents | model, fit |
//! | `operator` (feature `operator`) | the TwinExperiment CRD, controller, cycle (import → fit → simulate → optimize → diff), approval, Lease, HTTP server | everything above |
//! | `cli` (binary side) | clap subcommands calling the library | everything |
//!
//! The engine never reads a clock or an ambient random generator: a run is a pure
//! function of the scenario and its seed, and every component draws from its own random
//! stream ([`sim::rng::stream`]), so the same seed gives byte-identical output.
//!
//! ## Example
//!
//! ```
//! use std::path::Path;
//! let scenario = kubetwin::model::load(Path::new("examples/mmc/scenario.yaml"), &[]).unwrap();
//! let world = kubetwin::sim::build(&scenario, kubetwin::sim::BuildOptions {
//!     requests: Some(2_000), ..Default::default()
//! }).unwrap();
//! let report = kubetwin::sim::run(&world, &mut |_| {});
//! let r = report.requests;
//! assert_eq!(r.arrived, r.completed + r.rejected + r.failed + r.in_flight);
//! ```

pub mod fit;
pub mod k8s;
pub mod model;
#[cfg(feature = "operator")]
pub mod operator;
#[cfg(feature = "operator")]
pub mod prom;
pub mod report;
pub mod sim;
pub mod sweep;
