//! Validated, sampleable random variables.
//!
//! [`Distribution::from_spec`] checks a [`DistSpec`] once; afterwards [`Distribution::sample`]
//! draws on the engine's hot path with prebuilt `rand_distr` samplers and no allocation.
//! `mean`, `variance`, `cdf` and `quantile` are exact (closed forms or `statrs` special
//! functions); only mixture quantiles are found numerically (bisection on the exact cdf).
//! "Exact" is bounded by statrs 0.19's `erfc`, good to about 1e-10 relative: that is the
//! accuracy of every normal-based cdf, quantile and truncated moment here.
//!
//! A truncated normal is sampled exactly, never clamped: by rejection from the untruncated
//! normal when `[min, max]` holds at least a quarter of its probability (at most four draws
//! expected), otherwise by inversion of the cdf, evaluated on the side of the mean where the
//! normal tail is small so that far-tail intervals keep their precision.

use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};
use std::path::Path;

use rand::distr::{Open01, Uniform};
use rand::{Rng, RngExt};
use rand_distr::Distribution as _;
use statrs::distribution::{ContinuousCDF, Gamma as StdGamma};
use statrs::function::erf::{erfc, erfc_inv};
use statrs::function::gamma::gamma;

use crate::model::dist::{DistSpec, MixtureComponent};

/// Smallest probability of `[min, max]` for which a truncated normal is sampled by rejection.
const REJECTION_MIN_MASS: f64 = 0.25;
/// Smallest probability a truncation interval must hold to be accepted.
const MIN_TRUNCATED_MASS: f64 = 1e-9;
/// How far mixture weights may sum from 1.
const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;
/// Largest `|draw|` a distribution's `1 - 1e-6` quantile (and its `1e-6` quantile) may
/// reach, in milliseconds: 1e9 ms, about 11.6 days. The simulated clock counts integer
/// nanoseconds in a `u64` (about 584 years), so up to ~18,000 such draws in a row still
/// fit it; a draw of, say, `N(0, 1e308)` would saturate it and the run would never end.
pub const MAX_DRAW_MS: f64 = 1e9;
/// The tail probability at which [`MAX_DRAW_MS`] is checked.
const DRAW_TAIL: f64 = 1e-6;

/// An invalid [`DistSpec`]: the offending field and what is wrong with it.
///
/// `path` is relative to the distribution (`stdDev`, `components[1].distribution.sigma`,
/// `file`); callers prefix it with the distribution's own location. Displays as
/// `path: message`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DistError {
    path: String,
    message: String,
}

impl DistError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    fn nested(self, prefix: &str) -> Self {
        Self {
            path: format!("{prefix}.{}", self.path),
            ..self
        }
    }

    /// The field path relative to the distribution, e.g. `components[0].weight`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, e.g. `must be > 0, got -1`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A validated random variable: it cannot hold invalid parameters, and sampling never fails.
///
/// Opaque on purpose (a struct around a private enum) so that only
/// [`Distribution::from_spec`] can build one.
#[derive(Clone, Debug)]
pub struct Distribution {
    repr: Repr,
    /// Added to every value of `repr` (the families' `shift`, a constant's value).
    shift: f64,
}

/// An unshifted family with its prebuilt sampler.
#[derive(Clone, Debug)]
enum Repr {
    /// A point mass at 0.
    Zero,
    /// Sampler, min, max.
    Uniform(Uniform<f64>, f64, f64),
    /// Sampler, mean.
    Exponential(rand_distr::Exp<f64>, f64),
    /// Sampler, mean, standard deviation.
    Normal(rand_distr::Normal<f64>, f64, f64),
    TruncatedNormal(TruncatedNormal),
    /// Sampler, mu, sigma.
    LogNormal(rand_distr::LogNormal<f64>, f64, f64),
    /// Sampler, Gamma(shape, 1) for cdf and quantile, scale.
    Gamma(rand_distr::Gamma<f64>, StdGamma, f64),
    /// Sampler, shape, scale.
    Weibull(rand_distr::Weibull<f64>, f64, f64),
    /// Sampler, scale, shape.
    Pareto(rand_distr::Pareto<f64>, f64, f64),
    BoundedPareto(BoundedPareto),
    Mixture(Mixture),
    Empirical(Empirical),
}

/// `N(mean, std_dev)` conditioned on `[min, max]`. The cdf work happens in a standardized
/// space, reflected (`mirrored`) when the interval lies mostly above the mean.
#[derive(Clone, Debug)]
struct TruncatedNormal {
    mean: f64,
    std_dev: f64,
    min: f64,
    max: f64,
    mirrored: bool,
    /// Standard normal cdf of the (possibly reflected) lower bound.
    lo_cdf: f64,
    /// Probability of `[min, max]` under the untruncated normal.
    mass: f64,
    rejection: bool,
    sampler: rand_distr::Normal<f64>,
    truncated_mean: f64,
    truncated_variance: f64,
}

/// Pareto(`scale`, `shape`) conditioned on `[scale, max]`.
#[derive(Clone, Debug)]
struct BoundedPareto {
    scale: f64,
    shape: f64,
    max: f64,
    /// `1 - (scale / max)^shape`, the untruncated mass of `[scale, max]`.
    mass: f64,
}

/// Components with normalized weights.
#[derive(Clone, Debug)]
struct Mixture {
    /// Normalized weights.
    weights: Box<[f64]>,
    /// Cumulative normalized weights; the last is exactly 1.
    cumulative: Box<[f64]>,
    components: Box<[Distribution]>,
}

/// Measured samples; the mean and (population) variance are computed once.
#[derive(Clone, Debug)]
struct Empirical {
    /// Non-empty, ascending.
    sorted: Box<[f64]>,
    index: Uniform<usize>,
    mean: f64,
    variance: f64,
}

impl Distribution {
    /// Validates `spec`. `base_dir` resolves relative Empirical `file` paths (normally the
    /// directory of the scenario file).
    ///
    /// # Errors
    ///
    /// A [`DistError`] naming the first invalid field: a non-finite or out-of-range
    /// parameter, an empty or improbable truncation interval, bad mixture weights, or an
    /// unreadable empirical sample file.
    pub fn from_spec(spec: &DistSpec, base_dir: &Path) -> Result<Self, DistError> {
        let (repr, shift) = match *spec {
            DistSpec::Constant { value } => (Repr::Zero, finite("value", value)?),
            DistSpec::Uniform { min, max } => {
                let (min, max) = (finite("min", min)?, finite("max", max)?);
                if min >= max {
                    let message = format!("must be > min ({min}), got {max}");
                    return Err(DistError::new("max", message));
                }
                (
                    Repr::Uniform(built("max", Uniform::new(min, max))?, min, max),
                    0.0,
                )
            }
            DistSpec::Exponential { mean } => {
                let mean = positive("mean", mean)?;
                let sampler = built("mean", rand_distr::Exp::new(1.0 / mean))?;
                (Repr::Exponential(sampler, mean), 0.0)
            }
            DistSpec::Normal {
                mean,
                std_dev,
                min,
                max,
            } => {
                let (mean, std_dev) = (finite("mean", mean)?, positive("stdDev", std_dev)?);
                (normal(mean, std_dev, min, max)?, 0.0)
            }
            DistSpec::NormalFromPercentile {
                mean,
                percentile,
                value,
                min,
                max,
            } => {
                if !(percentile > 0.0 && percentile < 100.0) || percentile == 50.0 {
                    let message = format!("must be in (0, 100) and not 50, got {percentile}");
                    return Err(DistError::new("percentile", message));
                }
                let std_dev = sigma_from_percentile(mean, percentile / 100.0, value)?;
                (normal(mean, std_dev, min, max)?, 0.0)
            }
            DistSpec::LogNormal { mu, sigma, shift } => {
                let (mu, sigma) = (finite("mu", mu)?, positive("sigma", sigma)?);
                let sampler = built("sigma", rand_distr::LogNormal::new(mu, sigma))?;
                (Repr::LogNormal(sampler, mu, sigma), finite("shift", shift)?)
            }
            DistSpec::Gamma {
                shape,
                scale,
                shift,
            } => {
                let (shape, scale) = (positive("shape", shape)?, positive("scale", scale)?);
                let sampler = built("shape", rand_distr::Gamma::new(shape, scale))?;
                let unit = built("shape", StdGamma::new(shape, 1.0))?;
                (Repr::Gamma(sampler, unit, scale), finite("shift", shift)?)
            }
            DistSpec::Weibull {
                shape,
                scale,
                shift,
            } => {
                let (shape, scale) = (positive("shape", shape)?, positive("scale", scale)?);
                let sampler = built("shape", rand_distr::Weibull::new(scale, shape))?;
                (
                    Repr::Weibull(sampler, shape, scale),
                    finite("shift", shift)?,
                )
            }
            DistSpec::Pareto {
                scale,
                shape,
                max,
                shift,
            } => {
                let (scale, shape) = (positive("scale", scale)?, positive("shape", shape)?);
                let repr = match max {
                    None => {
                        let sampler = built("shape", rand_distr::Pareto::new(scale, shape))?;
                        Repr::Pareto(sampler, scale, shape)
                    }
                    Some(max) => Repr::BoundedPareto(BoundedPareto::new(scale, shape, max)?),
                };
                (repr, finite("shift", shift)?)
            }
            DistSpec::Mixture { ref components } => (mixture(components, base_dir)?, 0.0),
            DistSpec::Empirical {
                ref samples,
                ref file,
                ref column,
            } => {
                let samples = match (samples, file, column) {
                    (Some(_), None, Some(_)) => {
                        return Err(DistError::new("column", "is only allowed with `file`"));
                    }
                    (Some(samples), None, None) => {
                        for (i, &x) in samples.iter().enumerate() {
                            finite(&format!("samples[{i}]"), x)?;
                        }
                        samples.clone()
                    }
                    (None, Some(file), _) => {
                        read_csv_column(&base_dir.join(file), column.as_deref())?
                    }
                    _ => {
                        let message = "give exactly one of `samples` and `file`";
                        return Err(DistError::new("samples", message));
                    }
                };
                (empirical(samples)?, 0.0)
            }
        };
        Ok(Self { repr, shift })
    }

    /// [`Self::from_spec`] for a time the engine will draw: also rejects draws the
    /// simulated clock cannot hold (see [`MAX_DRAW_MS`]). Fitting keeps the plain
    /// [`Self::from_spec`]: a heavy-tailed candidate still takes part in the ranking.
    ///
    /// # Errors
    /// As [`Self::from_spec`], and when the `1e-6` or `1 - 1e-6` quantile is beyond
    /// `±`[`MAX_DRAW_MS`].
    pub fn for_simulation(spec: &DistSpec, base_dir: &Path) -> Result<Self, DistError> {
        let dist = Self::from_spec(spec, base_dir)?;
        dist.check_fits_clock(spec)?;
        Ok(dist)
    }

    /// Rejects a distribution whose draws cannot fit the simulated clock: its `1e-6` and
    /// `1 - 1e-6` quantiles must be finite and within `±`[`MAX_DRAW_MS`]. The error names
    /// the parameter that sets the scale.
    fn check_fits_clock(&self, spec: &DistSpec) -> Result<(), DistError> {
        let (lo, hi) = (self.quantile(DRAW_TAIL), self.quantile(1.0 - DRAW_TAIL));
        let fits = |x: f64| x.abs() <= MAX_DRAW_MS;
        if fits(lo) && fits(hi) {
            return Ok(());
        }
        let big = |x: f64| !fits(x);
        let field = match *spec {
            DistSpec::Constant { .. } => "value",
            DistSpec::Uniform { min, .. } if big(min) => "min",
            DistSpec::Uniform { .. } => "max",
            DistSpec::Exponential { .. } => "mean",
            DistSpec::Normal { mean, .. } if big(mean) => "mean",
            DistSpec::Normal { .. } => "stdDev",
            DistSpec::NormalFromPercentile { mean, .. } if big(mean) => "mean",
            DistSpec::NormalFromPercentile { .. } => "value",
            DistSpec::LogNormal { shift, .. }
            | DistSpec::Gamma { shift, .. }
            | DistSpec::Weibull { shift, .. }
            | DistSpec::Pareto { shift, .. }
                if big(shift) =>
            {
                "shift"
            }
            DistSpec::LogNormal { .. } => "sigma",
            DistSpec::Gamma { .. } | DistSpec::Weibull { .. } => "scale",
            DistSpec::Pareto { .. } => "shape",
            DistSpec::Mixture { .. } => "components",
            DistSpec::Empirical { .. } => "samples",
        };
        let message = format!(
            "draws reach {:e} ms (quantiles {:e} to {:e}); the simulated clock takes draws \
             within ±{MAX_DRAW_MS:e} ms",
            if big(hi) { hi } else { lo },
            lo,
            hi
        );
        Err(DistError::new(field, message))
    }

    /// Draws one value. Allocation-free; `O(1)` except for the mixture's linear component
    /// choice and the (expected at most 4) retries of a moderately truncated normal.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.shift
            + match &self.repr {
                Repr::Zero => 0.0,
                Repr::Uniform(sampler, ..) => sampler.sample(rng),
                Repr::Exponential(sampler, _) => sampler.sample(rng),
                Repr::Normal(sampler, ..) => sampler.sample(rng),
                Repr::TruncatedNormal(t) => t.sample(rng),
                Repr::LogNormal(sampler, ..) => sampler.sample(rng),
                Repr::Gamma(sampler, ..) => sampler.sample(rng),
                Repr::Weibull(sampler, ..) => sampler.sample(rng),
                Repr::Pareto(sampler, ..) => sampler.sample(rng),
                Repr::BoundedPareto(b) => b.quantile(rng.random()),
                Repr::Mixture(m) => {
                    let u: f64 = rng.random();
                    // Branch-free count (a data-dependent early exit mispredicts often);
                    // `u < 1 = cumulative[last]` keeps it below the length.
                    let i = m.cumulative.iter().filter(|&&c| c <= u).count();
                    m.components[i.min(m.components.len() - 1)].sample(rng)
                }
                Repr::Empirical(e) => e.sorted[e.index.sample(rng)],
            }
    }

    /// The exact mean; `+inf` when it does not exist (Pareto with `shape <= 1`).
    pub fn mean(&self) -> f64 {
        self.shift
            + match &self.repr {
                Repr::Zero => 0.0,
                Repr::Uniform(_, min, max) => 0.5 * (min + max),
                Repr::Exponential(_, mean) | Repr::Normal(_, mean, _) => *mean,
                Repr::TruncatedNormal(t) => t.truncated_mean,
                Repr::LogNormal(_, mu, sigma) => (mu + 0.5 * sigma * sigma).exp(),
                Repr::Gamma(_, unit, scale) => unit.shape() * scale,
                Repr::Weibull(_, shape, scale) => scale * gamma(1.0 + 1.0 / shape),
                Repr::Pareto(_, scale, shape) if *shape > 1.0 => shape * scale / (shape - 1.0),
                Repr::Pareto(..) => f64::INFINITY,
                Repr::BoundedPareto(b) => b.raw_moment(1.0),
                Repr::Mixture(m) => m.weighted(Self::mean),
                Repr::Empirical(e) => e.mean,
            }
    }

    /// The exact variance; `+inf` when it does not exist (Pareto with `shape <= 2`).
    pub fn variance(&self) -> f64 {
        match &self.repr {
            Repr::Zero => 0.0,
            Repr::Uniform(_, min, max) => (max - min).powi(2) / 12.0,
            Repr::Exponential(_, mean) => mean * mean,
            Repr::Normal(_, _, std_dev) => std_dev * std_dev,
            Repr::TruncatedNormal(t) => t.truncated_variance,
            Repr::LogNormal(_, mu, sigma) => {
                (sigma * sigma).exp_m1() * (2.0 * mu + sigma * sigma).exp()
            }
            Repr::Gamma(_, unit, scale) => unit.shape() * scale * scale,
            Repr::Weibull(_, shape, scale) => {
                let (g1, g2) = (gamma(1.0 + 1.0 / shape), gamma(1.0 + 2.0 / shape));
                if g2.is_finite() {
                    scale * scale * (g2 - g1 * g1)
                } else {
                    f64::INFINITY
                }
            }
            Repr::Pareto(_, scale, shape) if *shape > 2.0 => {
                scale * scale * shape / ((shape - 1.0).powi(2) * (shape - 2.0))
            }
            Repr::Pareto(..) => f64::INFINITY,
            Repr::BoundedPareto(b) => b.raw_moment(2.0) - b.raw_moment(1.0).powi(2),
            Repr::Mixture(m) => {
                // Law of total variance, in the form without cancellation.
                let mean = self.mean();
                if !mean.is_finite() {
                    return f64::INFINITY;
                }
                m.weighted(|c| c.variance() + (c.mean() - mean).powi(2))
            }
            Repr::Empirical(e) => e.variance,
        }
    }

    /// The exact cumulative distribution function `P(X <= x)`.
    pub fn cdf(&self, x: f64) -> f64 {
        let t = x - self.shift;
        // Families supported on [0, inf) (or [scale, inf)) evaluate at `pos`.
        let pos = t.max(0.0);
        match &self.repr {
            Repr::Zero => f64::from(u8::from(t >= 0.0)),
            Repr::Uniform(_, min, max) => ((t - min) / (max - min)).clamp(0.0, 1.0),
            Repr::Exponential(_, mean) => -(-pos / mean).exp_m1(),
            Repr::Normal(_, mean, std_dev) => std_normal_cdf((t - mean) / std_dev),
            Repr::TruncatedNormal(tn) => tn.cdf(t),
            Repr::LogNormal(_, mu, sigma) => std_normal_cdf((pos.ln() - mu) / sigma),
            Repr::Gamma(_, unit, scale) => unit.cdf(pos / scale),
            Repr::Weibull(_, shape, scale) => -(-(pos / scale).powf(*shape)).exp_m1(),
            Repr::Pareto(_, scale, shape) => -(shape * (scale / t.max(*scale)).ln()).exp_m1(),
            Repr::BoundedPareto(b) => b.cdf(t),
            Repr::Mixture(m) => m.cdf(t),
            Repr::Empirical(e) => {
                e.sorted.partition_point(|&s| s <= t) as f64 / e.sorted.len() as f64
            }
        }
    }

    /// The quantile function: the smallest `x` with `cdf(x) >= p`. `p = 0` gives
    /// [`Self::support_min`], `p = 1` the upper end of the support (possibly `+inf`); a `p`
    /// outside `[0, 1]` gives NaN. Exact except for mixtures (bisection to about 1 ulp).
    pub fn quantile(&self, p: f64) -> f64 {
        if !(0.0..=1.0).contains(&p) {
            return f64::NAN;
        }
        self.shift
            + match &self.repr {
                Repr::Zero => 0.0,
                Repr::Uniform(_, min, max) => min + p * (max - min),
                Repr::Exponential(_, mean) => -mean * (-p).ln_1p(),
                Repr::Normal(_, mean, std_dev) => mean + std_dev * std_normal_quantile(p),
                Repr::TruncatedNormal(t) => t.quantile(p),
                Repr::LogNormal(_, mu, sigma) => (mu + sigma * std_normal_quantile(p)).exp(),
                Repr::Gamma(_, unit, scale) => scale * unit.inverse_cdf(p),
                Repr::Weibull(_, shape, scale) => scale * (-(-p).ln_1p()).powf(1.0 / shape),
                Repr::Pareto(_, scale, shape) => scale * (1.0 - p).powf(-1.0 / shape),
                Repr::BoundedPareto(b) => b.quantile(p),
                Repr::Mixture(m) => m.quantile(p),
                Repr::Empirical(e) => {
                    let rank = (p * e.sorted.len() as f64).ceil() as usize;
                    e.sorted[rank.clamp(1, e.sorted.len()) - 1]
                }
            }
    }

    /// The lowest possible value (`-inf` for an untruncated normal), e.g. to warn that a
    /// time-valued variable can go negative.
    pub fn support_min(&self) -> f64 {
        self.shift
            + match &self.repr {
                Repr::Uniform(_, min, _) => *min,
                Repr::Normal(..) => f64::NEG_INFINITY,
                Repr::TruncatedNormal(t) => t.min,
                Repr::Pareto(_, scale, _) => *scale,
                Repr::BoundedPareto(b) => b.scale,
                Repr::Mixture(m) => {
                    let mins = m.components.iter().map(Self::support_min);
                    mins.fold(f64::INFINITY, f64::min)
                }
                Repr::Empirical(e) => e.sorted[0],
                Repr::Zero
                | Repr::Exponential(..)
                | Repr::LogNormal(..)
                | Repr::Gamma(..)
                | Repr::Weibull(..) => 0.0,
            }
    }
}

/// The standard deviation of a normal with mean `mean` whose `p`-quantile is `x_p`
/// (`p` a fraction in `(0, 1)`, not 0.5): `sigma = (x_p - mean) / (sqrt(2) * erfinv(2p - 1))`,
/// twin-model.md §4. Evaluated as `(mean - x_p) / (sqrt(2) * erfc_inv(2p))`, the same value
/// written in the form that keeps its precision for `p` near 0 or 1.
///
/// # Errors
///
/// A [`DistError`] at `mean` or `value` (non-finite, or `x_p` on the wrong side of the mean
/// for `p`) or at `percentile` (`p` outside `(0, 1)` or equal to 0.5).
pub fn sigma_from_percentile(mean: f64, p: f64, x_p: f64) -> Result<f64, DistError> {
    let (mean, x_p) = (finite("mean", mean)?, finite("value", x_p)?);
    if !(p > 0.0 && p < 1.0) || p == 0.5 {
        return Err(DistError::new(
            "percentile",
            format!("must be in (0, 1) and not 0.5, got {p}"),
        ));
    }
    let z = std_normal_quantile(p);
    let side = if p > 0.5 { "above" } else { "below" };
    if (x_p - mean) * z <= 0.0 {
        let message = format!(
            "must be {side} the mean ({mean}) for a percentile {side} the median, got {x_p}"
        );
        return Err(DistError::new("value", message));
    }
    let sigma = (x_p - mean) / z;
    if !sigma.is_finite() {
        return Err(DistError::new(
            "percentile",
            format!("is too close to the median to fix a standard deviation, got {p}"),
        ));
    }
    Ok(sigma)
}

fn finite(path: &str, x: f64) -> Result<f64, DistError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(DistError::new(path, format!("must be finite, got {x}")))
    }
}

fn positive(path: &str, x: f64) -> Result<f64, DistError> {
    if finite(path, x)? > 0.0 {
        Ok(x)
    } else {
        Err(DistError::new(path, format!("must be > 0, got {x}")))
    }
}

/// A sampler constructor's result. The parameters were validated before, so an error here
/// is a gap in that validation; it is still reported, never unwrapped.
fn built<T, E: std::fmt::Display>(path: &str, result: Result<T, E>) -> Result<T, DistError> {
    result.map_err(|e| DistError::new(path, e.to_string()))
}

fn std_normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z * FRAC_1_SQRT_2)
}

fn std_normal_quantile(p: f64) -> f64 {
    -SQRT_2 * erfc_inv(2.0 * p)
}

/// `z * pdf(z)` and `pdf(z)` of the standard normal, with the limits 0 at `z = ±inf`.
fn std_normal_pdf_terms(z: f64) -> (f64, f64) {
    if z.is_finite() {
        let pdf = (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
        (z * pdf, pdf)
    } else {
        (0.0, 0.0)
    }
}

fn normal(mean: f64, std_dev: f64, min: Option<f64>, max: Option<f64>) -> Result<Repr, DistError> {
    let sampler = built("stdDev", rand_distr::Normal::new(mean, std_dev))?;
    if min.is_none() && max.is_none() {
        return Ok(Repr::Normal(sampler, mean, std_dev));
    }
    let min = min.map_or(Ok(f64::NEG_INFINITY), |m| finite("min", m))?;
    let max = max.map_or(Ok(f64::INFINITY), |m| finite("max", m))?;
    if min >= max {
        return Err(DistError::new(
            "max",
            format!("must be > min ({min}), got {max}"),
        ));
    }
    let (a, b) = ((min - mean) / std_dev, (max - mean) / std_dev);
    let mirrored = a + b > 0.0;
    let (lo, hi) = if mirrored { (-b, -a) } else { (a, b) };
    let lo_cdf = std_normal_cdf(lo);
    let mass = std_normal_cdf(hi) - lo_cdf;
    if mass < MIN_TRUNCATED_MASS {
        let path = if min.is_finite() { "min" } else { "max" };
        let message = format!(
            "[min, max] = [{min}, {max}] holds probability {mass:e} of normal(mean {mean}, \
             stdDev {std_dev}); need >= {MIN_TRUNCATED_MASS:e}"
        );
        return Err(DistError::new(path, message));
    }
    let ((apa, pa), (bpb, pb)) = (std_normal_pdf_terms(a), std_normal_pdf_terms(b));
    let lambda = (pa - pb) / mass;
    let variance = std_dev * std_dev * (1.0 + (apa - bpb) / mass - lambda * lambda);
    Ok(Repr::TruncatedNormal(TruncatedNormal {
        mean,
        std_dev,
        min,
        max,
        mirrored,
        lo_cdf,
        mass,
        rejection: mass >= REJECTION_MIN_MASS,
        sampler,
        truncated_mean: mean + std_dev * lambda,
        truncated_variance: variance.max(0.0),
    }))
}

impl TruncatedNormal {
    #[inline]
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        if self.rejection {
            // Bounded: with mass >= 1/4 all 64 tries miss with probability < 1e-8; the
            // inversion below then draws from the same law, so the result stays exact.
            for _ in 0..64 {
                let x = self.sampler.sample(rng);
                if x >= self.min && x <= self.max {
                    return x;
                }
            }
        }
        // Uniform on the (reflected) cdf interval; reflection does not change the law.
        let z = std_normal_quantile(self.lo_cdf + rng.sample::<f64, _>(Open01) * self.mass);
        let sign = if self.mirrored { -1.0 } else { 1.0 };
        (self.mean + sign * self.std_dev * z).clamp(self.min, self.max)
    }

    fn cdf(&self, x: f64) -> f64 {
        let z = (x - self.mean) / self.std_dev;
        let f = if self.mirrored {
            1.0 - (std_normal_cdf(-z) - self.lo_cdf) / self.mass
        } else {
            (std_normal_cdf(z) - self.lo_cdf) / self.mass
        };
        if x >= self.max {
            1.0
        } else {
            f.clamp(0.0, 1.0)
        }
    }

    fn quantile(&self, p: f64) -> f64 {
        // The ends exactly: statrs' erfc and erfc_inv agree only to about 1e-10.
        if p == 0.0 || p == 1.0 {
            return if p == 0.0 { self.min } else { self.max };
        }
        let x = if self.mirrored {
            self.mean - self.std_dev * std_normal_quantile(self.lo_cdf + (1.0 - p) * self.mass)
        } else {
            self.mean + self.std_dev * std_normal_quantile(self.lo_cdf + p * self.mass)
        };
        x.clamp(self.min, self.max)
    }
}

impl BoundedPareto {
    fn new(scale: f64, shape: f64, max: f64) -> Result<Self, DistError> {
        let max = finite("max", max)?;
        let mass = -(shape * (scale / max).ln()).exp_m1();
        if max <= scale || mass <= 0.0 {
            return Err(DistError::new(
                "max",
                format!("must be > scale ({scale}), got {max}"),
            ));
        }
        Ok(Self {
            scale,
            shape,
            max,
            mass,
        })
    }

    fn cdf(&self, x: f64) -> f64 {
        let x = x.clamp(self.scale, self.max);
        (-(self.shape * (self.scale / x).ln()).exp_m1() / self.mass).min(1.0)
    }

    #[inline]
    fn quantile(&self, p: f64) -> f64 {
        (self.scale * (1.0 - p * self.mass).powf(-1.0 / self.shape)).min(self.max)
    }

    /// `E[X^k] = shape * scale^k * ((max/scale)^(k-shape) - 1) / ((k - shape) * mass)`, with
    /// the `k = shape` limit `shape * scale^k * ln(max/scale) / mass`.
    fn raw_moment(&self, k: f64) -> f64 {
        let (d, ln_q) = (k - self.shape, (self.max / self.scale).ln());
        let integral = if d == 0.0 {
            ln_q
        } else {
            (d * ln_q).exp_m1() / d
        };
        self.shape * self.scale.powf(k) * integral / self.mass
    }
}

fn mixture(components: &[MixtureComponent], base_dir: &Path) -> Result<Repr, DistError> {
    if components.is_empty() {
        return Err(DistError::new("components", "must not be empty"));
    }
    let mut weights = Vec::with_capacity(components.len());
    let mut built = Vec::with_capacity(components.len());
    for (i, c) in components.iter().enumerate() {
        if !(c.weight > 0.0 && c.weight <= 1.0) {
            let message = format!("must be in (0, 1], got {}", c.weight);
            return Err(DistError::new(format!("components[{i}].weight"), message));
        }
        weights.push(c.weight);
        let prefix = format!("components[{i}].distribution");
        built.push(
            Distribution::from_spec(&c.distribution, base_dir).map_err(|e| e.nested(&prefix))?,
        );
    }
    let total: f64 = weights.iter().sum();
    if (total - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        let message =
            format!("weights must sum to 1 (within {WEIGHT_SUM_TOLERANCE:e}), got {total}");
        return Err(DistError::new("components", message));
    }
    let mut acc = 0.0;
    let mut cumulative = Vec::with_capacity(weights.len());
    for w in &mut weights {
        *w /= total;
        acc += *w;
        cumulative.push(acc);
    }
    cumulative[weights.len() - 1] = 1.0;
    let (weights, cumulative, components) = (weights.into(), cumulative.into(), built.into());
    Ok(Repr::Mixture(Mixture {
        weights,
        cumulative,
        components,
    }))
}

impl Mixture {
    fn weighted(&self, f: impl Fn(&Distribution) -> f64) -> f64 {
        self.weights
            .iter()
            .zip(&self.components)
            .map(|(w, c)| w * f(c))
            .sum()
    }

    fn cdf(&self, x: f64) -> f64 {
        self.weighted(|c| c.cdf(x)).min(1.0)
    }

    /// Bisection on the exact cdf, inside the bracket of the components' own `p`-quantiles
    /// (the mixture's quantile always lies between the smallest and the largest of them).
    fn quantile(&self, p: f64) -> f64 {
        let quantiles = self.components.iter().map(|c| c.quantile(p));
        let (mut lo, mut hi) = quantiles.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), q| {
            (lo.min(q), hi.max(q))
        });
        if p == 0.0 {
            return lo;
        }
        // Each halving shrinks [lo, hi]; the loop ends when it is down to adjacent floats.
        while lo < hi {
            let mid = lo + 0.5 * (hi - lo);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.cdf(mid) >= p {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

fn empirical(mut samples: Vec<f64>) -> Result<Repr, DistError> {
    if samples.is_empty() {
        return Err(DistError::new("samples", "must not be empty"));
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let index = built("samples", Uniform::new(0, samples.len()))?;
    let sorted = samples.into();
    Ok(Repr::Empirical(Empirical {
        sorted,
        index,
        mean,
        variance,
    }))
}

/// Reads one column of a CSV file with a header row; `column` is a header name, the first
/// column when `None`. Rows are numbered from 1, the first line after the header.
pub fn read_csv_column(path: &Path, column: Option<&str>) -> Result<Vec<f64>, DistError> {
    let shown = path.display();
    let unreadable = |e: csv::Error| DistError::new("file", format!("cannot read {shown}: {e}"));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(unreadable)?;
    let headers = reader.headers().map_err(unreadable)?.clone();
    let index = match column {
        None => 0,
        Some(name) => headers.iter().position(|h| h == name).ok_or_else(|| {
            let columns = headers.iter().collect::<Vec<_>>().join(", ");
            let message = format!("no column \"{name}\" in {shown} (columns: {columns})");
            DistError::new("column", message)
        })?,
    };
    let name = headers.get(index).unwrap_or_default();
    let mut samples = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record =
            record.map_err(|e| DistError::new("file", format!("{shown} row {row}: {e}")))?;
        let cell = record.get(index).unwrap_or_default();
        match cell.parse::<f64>() {
            Ok(x) if x.is_finite() => samples.push(x),
            _ => {
                let message = format!(
                    "{shown} row {row}: column \"{name}\" must be a finite number, got \"{cell}\""
                );
                return Err(DistError::new("file", message));
            }
        }
    }
    if samples.is_empty() {
        return Err(DistError::new(
            "file",
            format!("{shown}: column \"{name}\" has no samples"),
        ));
    }
    Ok(samples)
}

#[cfg(test)]
#[path = "dist_tests.rs"]
mod tests;
