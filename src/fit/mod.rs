//! Distribution families: validation and sampling ([`Distribution`]), and fitting them to
//! measurements — maximum likelihood per family ([`mle`]), mixtures by EM with the number
//! of components chosen by BIC ([`mixture`]), interval-censored fits to histogram buckets
//! ([`censored`]), goodness of fit ([`gof`]), ranking ([`select`]) and latency matrices
//! from summaries ([`latency`]).

pub mod censored;
mod dist;
pub mod family;
pub mod gof;
pub mod histogram;
pub mod latency;
pub mod mixture;
pub mod mle;
pub mod optim;
pub mod select;

pub use censored::fit_histogram;
pub use dist::*;
pub use family::{Family, FitError};
pub use histogram::{Bucket, histogram_quantile};
pub use latency::{LatencyPair, latency_matrix_from_summaries};
pub use select::{Fit, FitReport, fit_samples};
