//! kubetwin's integration tests, one binary. Each module says what it checks.

mod bad_input;
#[cfg(feature = "operator")]
mod chart;
mod cli;
#[cfg(feature = "operator")]
mod cluster;
mod common;
#[cfg(feature = "operator")]
mod control_plane;

mod control;
mod cpu;
mod engine;
mod faults;
mod fit_cli;
mod import;
#[cfg(feature = "operator")]
mod live_chain;
#[cfg(feature = "operator")]
#[path = "../fixtures/live_chain.rs"]
mod live_chain_bin;
mod node_lifecycle;
#[cfg(feature = "operator")]
#[path = "../fixtures/prom/openmetrics.rs"]
mod openmetrics;
#[cfg(feature = "operator")]
mod operator;
#[cfg(feature = "operator")]
mod operator_mock;
#[cfg(feature = "operator")]
mod prom;
mod queueing;
#[cfg(feature = "operator")]
#[path = "../fixtures/prom/server.rs"]
mod server;
mod sweep;
