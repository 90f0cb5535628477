//! The deterministic discrete-event engine. No tokio, no kube, no wall clock, no
//! `thread_rng`: a run is a pure function of its [`World`], whose seed feeds one
//! independent random stream per component ([`rng`]).

pub mod autoscaler;
pub mod build;
mod engine;
mod lb;
mod queue;
pub mod report;
pub mod rng;
pub mod scheduler;
pub mod service_time;
mod stats;
pub mod time;
mod workload;
pub mod world;

pub use build::{BuildOptions, build};
pub use engine::{Progress, run, run_seeded};
pub use report::RunReport;
pub use time::SimTime;
pub use world::World;
