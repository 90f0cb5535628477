//! The scenario's vocabulary for random variables.
//!
//! Every time-valued distribution in a scenario is **in milliseconds** (service times,
//! latencies, inter-arrival times). These are plain serde types; [`crate::fit::Distribution`]
//! validates one into a sampler.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A random variable, written `{type: <family>, ...parameters}`.
///
/// ```yaml
/// serviceTime: {type: logNormal, mu: 1.2, sigma: 0.3}
/// latency: {type: normal, mean: 12.6, stdDev: 5.82, min: 0}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum DistSpec {
    /// Always `value`.
    Constant {
        /// The value.
        value: f64,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound, `> min`.
        max: f64,
    },
    /// Exponential with the given mean (rate = 1/mean).
    Exponential {
        /// Mean, `> 0`.
        mean: f64,
    },
    /// Normal, optionally truncated to `[min, max]` (sampled exactly, not clamped).
    #[serde(rename_all = "camelCase")]
    Normal {
        /// Mean of the untruncated normal.
        mean: f64,
        /// Standard deviation of the untruncated normal, `> 0`.
        std_dev: f64,
        /// Lower truncation bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Upper truncation bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// A normal given by its mean and one percentile, as in the KubeTwin paper:
    /// `sigma = (value - mean) / (sqrt(2) * erfinv(2p - 1))`, optionally truncated.
    #[serde(rename_all = "camelCase")]
    NormalFromPercentile {
        /// Mean.
        mean: f64,
        /// The percentile, in `(0, 100)`, not 50 (e.g. `99`).
        percentile: f64,
        /// The value of that percentile.
        value: f64,
        /// Lower truncation bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Upper truncation bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// `shift + exp(N(mu, sigma))`.
    #[serde(rename_all = "camelCase")]
    LogNormal {
        /// Mean of the underlying normal (of `ln(x - shift)`).
        mu: f64,
        /// Standard deviation of the underlying normal, `> 0`.
        sigma: f64,
        /// Location shift added to every sample.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: f64,
    },
    /// `shift + Gamma(shape, scale)`; mean = shape * scale.
    #[serde(rename_all = "camelCase")]
    Gamma {
        /// Shape k, `> 0`.
        shape: f64,
        /// Scale theta, `> 0`.
        scale: f64,
        /// Location shift added to every sample.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: f64,
    },
    /// `shift + Weibull(shape, scale)`.
    #[serde(rename_all = "camelCase")]
    Weibull {
        /// Shape k, `> 0`.
        shape: f64,
        /// Scale lambda, `> 0`.
        scale: f64,
        /// Location shift added to every sample.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: f64,
    },
    /// Pareto type I with minimum `scale` and tail index `shape`; bounded (truncated) at `max`
    /// when given, and shifted by `shift`.
    #[serde(rename_all = "camelCase")]
    Pareto {
        /// Minimum value x_m, `> 0`.
        scale: f64,
        /// Tail index alpha, `> 0`.
        shape: f64,
        /// Upper bound of the bounded Pareto, `> scale`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// Location shift added to every sample.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: f64,
    },
    /// A finite mixture: a component is chosen with probability `weight`, then sampled.
    /// Weights must sum to 1 (within 1e-6).
    Mixture {
        /// The components.
        components: Vec<MixtureComponent>,
    },
    /// The empirical distribution of measured samples: inline `samples`, or a CSV `file`
    /// (relative to the scenario file) and the `column` to read (by header name; the first
    /// column when omitted). Sampling draws one of the samples uniformly.
    Empirical {
        /// Inline samples.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        samples: Option<Vec<f64>>,
        /// A CSV file with a header row.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        /// The column of `file` to read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
    },
}

/// One component of a [`DistSpec::Mixture`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MixtureComponent {
    /// Probability of this component, in `(0, 1]`.
    pub weight: f64,
    /// The component's distribution.
    pub distribution: DistSpec,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
