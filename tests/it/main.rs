//! kubetwin's integration tests, one binary. Each module says what it checks.

mod bad_input;
mod cli;
#[cfg(feature = "operator")]
mod cluster;
mod common;
#[cfg(feature = "operator")]
mod control_plane;

mod control;
mod engine;
mod faults;
mod fit_cli;
mod import;
#[cfg(feature = "operator")]
mod prom;
mod queueing;
mod sweep;
