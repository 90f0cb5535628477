//! kubetwin's integration tests, one binary. Each module says what it checks.

mod bad_input;
mod cli;
mod common;

mod control;
mod engine;
mod faults;
mod fit_cli;
#[cfg(feature = "operator")]
mod prom;
mod queueing;
mod sweep;
