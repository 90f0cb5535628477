//! Maximum-likelihood estimates of the one-component families from samples.
//!
//! Exponential, normal, log-normal and Pareto have closed forms. The gamma shape solves
//! `ln k - digamma(k) = ln(mean) - mean(ln x)` by Newton's method from Minka's
//! approximation; the Weibull shape solves the profile-likelihood equation by Newton's method
//! safeguarded by bisection. No family is fitted with a location shift.

use statrs::function::gamma::{digamma, ln_gamma};

use crate::fit::family::{Family, FitError};
use crate::model::dist::DistSpec;

/// A fitted model: the distribution, its maximised log-likelihood and its parameter count.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// The fitted distribution, in the scenario's vocabulary.
    pub spec: DistSpec,
    /// The log-likelihood of the data under `spec` (natural log, densities in 1/ms).
    pub log_likelihood: f64,
    /// The number of free parameters (for AIC/BIC).
    pub parameters: usize,
}

/// Checks that `samples` can be fitted at all: non-empty, finite, not all equal.
///
/// # Errors
/// [`FitError::NoData`], [`FitError::NonFinite`] or [`FitError::Constant`].
pub fn validate_samples(samples: &[f64]) -> Result<(), FitError> {
    let first = *samples
        .first()
        .ok_or(FitError::NoData { what: "no samples" })?;
    if let Some((index, &value)) = samples.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(FitError::NonFinite { index, value });
    }
    if samples.iter().all(|&x| x == first) {
        return Err(FitError::Constant {
            n: samples.len(),
            value: first,
        });
    }
    Ok(())
}

/// Validates the samples and checks the family's support: `> 0` when `strict`, else `>= 0`.
fn check(family: Family, samples: &[f64], strict: bool) -> Result<(), FitError> {
    validate_samples(samples)?;
    let bad = |x: f64| if strict { x <= 0.0 } else { x < 0.0 };
    if let Some((index, &value)) = samples.iter().enumerate().find(|(_, x)| bad(**x)) {
        let needs = if strict { "> 0" } else { ">= 0" };
        return Err(FitError::OutOfSupport {
            family,
            needs,
            index,
            value,
        });
    }
    Ok(())
}

/// Mean and (1/n) variance, by two passes.
pub(crate) fn mean_var(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = xs.clone().count() as f64;
    let mean = xs.clone().sum::<f64>() / n;
    let var = xs.map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

/// Exponential: the mean is the sample mean.
///
/// # Errors
/// Invalid samples (see [`validate_samples`]) or a negative sample.
pub fn exponential(samples: &[f64]) -> Result<Estimate, FitError> {
    check(Family::Exponential, samples, false)?;
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    Ok(Estimate {
        spec: DistSpec::Exponential { mean },
        log_likelihood: -n * mean.ln() - n,
        parameters: 1,
    })
}

/// Normal: sample mean and the maximum-likelihood (1/n) standard deviation.
///
/// # Errors
/// Invalid samples (see [`validate_samples`]).
pub fn normal(samples: &[f64]) -> Result<Estimate, FitError> {
    validate_samples(samples)?;
    let n = samples.len() as f64;
    let (mean, var) = mean_var(samples.iter().copied());
    Ok(Estimate {
        spec: DistSpec::Normal {
            mean,
            std_dev: var.sqrt(),
            min: None,
            max: None,
        },
        log_likelihood: -0.5 * n * ((std::f64::consts::TAU * var).ln() + 1.0),
        parameters: 2,
    })
}

/// Log-normal: mean and (1/n) standard deviation of `ln x`.
///
/// # Errors
/// Invalid samples (see [`validate_samples`]) or a sample `<= 0`.
pub fn log_normal(samples: &[f64]) -> Result<Estimate, FitError> {
    check(Family::LogNormal, samples, true)?;
    let n = samples.len() as f64;
    let (mu, var) = mean_var(samples.iter().map(|x| x.ln()));
    let jacobian: f64 = samples.iter().map(|x| x.ln()).sum();
    Ok(Estimate {
        spec: DistSpec::LogNormal {
            mu,
            sigma: var.sqrt(),
            shift: 0.0,
        },
        log_likelihood: -0.5 * n * ((std::f64::consts::TAU * var).ln() + 1.0) - jacobian,
        parameters: 2,
    })
}

/// Gamma: Newton's method on the shape from Minka's closed-form start; scale = mean / shape.
///
/// # Errors
/// Invalid samples, a sample `<= 0`, or [`FitError::NoConvergence`] if Newton's method
/// does not settle within 100 steps.
pub fn gamma(samples: &[f64]) -> Result<Estimate, FitError> {
    check(Family::Gamma, samples, true)?;
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let mean_ln = samples.iter().map(|x| x.ln()).sum::<f64>() / n;
    let s = mean.ln() - mean_ln;
    let fail = |what: String| FitError::NoConvergence {
        family: Family::Gamma,
        what,
    };
    if s.is_nan() || s <= 1e-14 {
        // Jensen: s > 0 unless the samples are (numerically) all equal; the shape would be
        // about 1/(2s), beyond what double precision can resolve.
        return Err(fail(format!(
            "ln(mean) - mean(ln x) = {s}: the samples are too close to equal"
        )));
    }
    let mut k = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
    for _ in 0..100 {
        let f = k.ln() - digamma(k) - s;
        let slope = 1.0 / k - trigamma(k);
        let mut next = k - f / slope;
        if next <= 0.0 || !next.is_finite() {
            next = k / 2.0;
        }
        let step = (next - k).abs();
        k = next;
        if step <= 1e-12 * k {
            let scale = mean / k;
            let log_likelihood =
                (k - 1.0) * n * mean_ln - n * mean / scale - n * ln_gamma(k) - n * k * scale.ln();
            let spec = DistSpec::Gamma {
                shape: k,
                scale,
                shift: 0.0,
            };
            return Ok(Estimate {
                spec,
                log_likelihood,
                parameters: 2,
            });
        }
    }
    Err(fail(format!(
        "Newton's method on the shape did not converge (last shape {k})"
    )))
}

/// The trigamma function (derivative of digamma) for finite `x > 0` (NaN otherwise):
/// recurrence up to `x >= 10`, then the asymptotic series to `x^-11` (truncation error below
/// 1e-13 there).
fn trigamma(x: f64) -> f64 {
    if !(x > 0.0 && x.is_finite()) {
        return f64::NAN;
    }
    let (mut x, mut acc) = (x, 0.0);
    while x < 10.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let tail = 1.0 / 6.0
        - inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 * (1.0 / 30.0 - inv2 * 5.0 / 66.0)));
    acc + inv + inv2 / 2.0 + inv * inv2 * tail
}

/// Weibull: the shape solves `sum(w_i z_i) = 1/k` with `z_i = ln x_i - mean(ln x)` and
/// weights `w_i ∝ x_i^k` (computed in log space, so large shapes cannot overflow); Newton's
/// method inside a bisection bracket. Scale = `(mean(x^k))^(1/k)`.
///
/// # Errors
/// Invalid samples, a sample `<= 0`, or [`FitError::NoConvergence`].
pub fn weibull(samples: &[f64]) -> Result<Estimate, FitError> {
    check(Family::Weibull, samples, true)?;
    let n = samples.len() as f64;
    let mean_ln = samples.iter().map(|x| x.ln()).sum::<f64>() / n;
    let z: Vec<f64> = samples.iter().map(|x| x.ln() - mean_ln).collect();
    // g(k) = E_w[z] - 1/k is increasing: g' = Var_w[z] + 1/k^2 > 0.
    let g = |k: f64| {
        let top = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(k * v));
        let (mut sw, mut swz, mut swz2) = (0.0, 0.0, 0.0);
        for &v in &z {
            let w = (k * v - top).exp();
            sw += w;
            swz += w * v;
            swz2 += w * v * v;
        }
        let ez = swz / sw;
        (
            ez - 1.0 / k,
            swz2 / sw - ez * ez + 1.0 / (k * k),
            top + sw.ln(),
        )
    };
    let (_, var_z) = mean_var(z.iter().copied());
    let start = 1.28 / var_z.sqrt();
    let (mut lo, mut hi) = (start, start);
    let no_convergence = |what: String| FitError::NoConvergence {
        family: Family::Weibull,
        what,
    };
    for _ in 0..200 {
        if g(lo).0 <= 0.0 {
            break;
        }
        lo /= 2.0;
    }
    for _ in 0..200 {
        if g(hi).0 >= 0.0 {
            break;
        }
        hi *= 2.0;
    }
    if g(lo).0 > 0.0 || g(hi).0 < 0.0 {
        return Err(no_convergence(format!(
            "no shape bracket found in [{lo}, {hi}]"
        )));
    }
    let mut k = start;
    for _ in 0..200 {
        let (value, slope, _) = g(k);
        if value < 0.0 {
            lo = k
        } else {
            hi = k
        }
        let newton = k - value / slope;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        let step = (next - k).abs();
        k = next;
        if step <= 1e-12 * k || hi - lo <= 1e-12 * k {
            let ln_scale = mean_ln + (g(k).2 - n.ln()) / k;
            let scale = ln_scale.exp();
            let log_likelihood = samples
                .iter()
                .map(|&x| k.ln() - scale.ln() + (k - 1.0) * (x / scale).ln() - (x / scale).powf(k))
                .sum();
            return Ok(Estimate {
                spec: DistSpec::Weibull {
                    shape: k,
                    scale,
                    shift: 0.0,
                },
                log_likelihood,
                parameters: 2,
            });
        }
    }
    Err(no_convergence(format!(
        "shape iteration did not settle in [{lo}, {hi}]"
    )))
}

/// Pareto type I: `x_m` = the sample minimum, `alpha = n / sum(ln(x_i / x_m))`.
///
/// # Errors
/// Invalid samples (see [`validate_samples`]) or a sample `<= 0`.
pub fn pareto(samples: &[f64]) -> Result<Estimate, FitError> {
    check(Family::Pareto, samples, true)?;
    let n = samples.len() as f64;
    let scale = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let sum_ln: f64 = samples.iter().map(|x| x.ln()).sum();
    let shape = n / (sum_ln - n * scale.ln());
    Ok(Estimate {
        spec: DistSpec::Pareto {
            scale,
            shape,
            max: None,
            shift: 0.0,
        },
        log_likelihood: n * shape.ln() + n * shape * scale.ln() - (shape + 1.0) * sum_ln,
        parameters: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn draw(d: impl rand_distr::Distribution<f64>, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64::seed_from_u64(seed);
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    fn within(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs(),
            "got {got}, want {want} ± {rel}"
        );
    }

    #[test]
    fn trigamma_matches_known_values() {
        within(trigamma(1.0), std::f64::consts::PI.powi(2) / 6.0, 1e-12);
        within(trigamma(0.5), std::f64::consts::PI.powi(2) / 2.0, 1e-12);
        assert!(trigamma(-1e300).is_nan() && trigamma(f64::NAN).is_nan());
    }

    #[test]
    fn gamma_recovers_shape_and_scale_within_5_percent() {
        let xs = draw(rand_distr::Gamma::new(2.5, 4.0).unwrap(), 10_000, 11);
        let DistSpec::Gamma { shape, scale, .. } = gamma(&xs).unwrap().spec else {
            panic!()
        };
        within(shape, 2.5, 0.05);
        within(scale, 4.0, 0.05);
    }

    #[test]
    fn weibull_recovers_shape_and_scale_within_5_percent() {
        let xs = draw(rand_distr::Weibull::new(10.0, 1.7).unwrap(), 10_000, 12);
        let DistSpec::Weibull { shape, scale, .. } = weibull(&xs).unwrap().spec else {
            panic!()
        };
        within(shape, 1.7, 0.05);
        within(scale, 10.0, 0.05);
    }

    #[test]
    fn closed_forms_on_a_hand_example() {
        // x = 1, 2, 3, 6: mean 3, (1/n) variance 3.5, ln-likelihoods by hand.
        let xs = [1.0, 2.0, 3.0, 6.0];
        let e = exponential(&xs).unwrap();
        assert_eq!(e.spec, DistSpec::Exponential { mean: 3.0 });
        within(e.log_likelihood, -4.0 * 3f64.ln() - 4.0, 1e-12);
        let n = normal(&xs).unwrap();
        let DistSpec::Normal { mean, std_dev, .. } = n.spec else {
            panic!()
        };
        assert_eq!((mean, std_dev), (3.0, 3.5f64.sqrt()));
        within(
            n.log_likelihood,
            -2.0 * ((std::f64::consts::TAU * 3.5).ln() + 1.0),
            1e-12,
        );
        let p = pareto(&xs).unwrap();
        let DistSpec::Pareto { scale, shape, .. } = p.spec else {
            panic!()
        };
        assert_eq!(scale, 1.0);
        within(shape, 4.0 / 36f64.ln(), 1e-12);
    }

    #[test]
    fn bad_samples_are_rejected_with_the_offending_index() {
        assert!(matches!(normal(&[]), Err(FitError::NoData { .. })));
        assert!(matches!(
            normal(&[1.0, f64::NAN]),
            Err(FitError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            gamma(&[2.0, 2.0, 2.0]),
            Err(FitError::Constant { n: 3, .. })
        ));
        assert!(matches!(
            log_normal(&[1.0, 0.0, 2.0]),
            Err(FitError::OutOfSupport {
                family: Family::LogNormal,
                index: 1,
                ..
            })
        ));
        assert!(matches!(
            weibull(&[1.0, -2.0]),
            Err(FitError::OutOfSupport { index: 1, .. })
        ));
        assert!(exponential(&[0.0, 1.0]).is_ok());
        assert!(matches!(
            exponential(&[1.0, -1.0]),
            Err(FitError::OutOfSupport { .. })
        ));
    }
}
