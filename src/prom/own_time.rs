//! A caller's own processing time, told apart from the time it waits for its calls.
//!
//! A server-side histogram measures a request from its arrival to its answer: the caller's
//! own work (and any wait for a worker) plus every synchronous call it makes. The twin
//! simulates the calls itself, so fitting the whole response time as `serviceTime` counts
//! them twice. Client-side histograms (Istio's `reporter="source"`, OpenTelemetry's
//! `http.client.request.duration`, Linkerd's outbound latency) measure each call as its
//! caller waits for it, network included. With `R` the response time, `C_e` a call on edge
//! `e` made `p_e` times per request on average (`k = floor(p_e)` certain calls and one more
//! with probability `f = p_e - k`), and the own time `X` independent of the calls:
//!
//! ```text
//! E[X]   = E[R]   - sum_e p_e E[C_e]
//! Var[X] = Var[R] - sum_e (p_e Var[C_e] + f (1 - f) E[C_e]^2)
//! ```
//!
//! Means come from the `_sum / _count` series where the queries have them (exact), else
//! from the fitted distributions; variances from the fits. `X` gets the response fit's
//! family by the method of moments: log-normal, gamma or a normal truncated at 0.

use crate::fit::{Distribution, Family, Fit};
use crate::model::dist::DistSpec;

/// The smallest coefficient of variation given to an own time (a subtraction that leaves
/// less is measurement noise around a near-constant time).
pub const MIN_CV: f64 = 0.05;

/// A mean and a variance, in milliseconds and milliseconds squared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// The mean.
    pub mean: f64,
    /// The variance.
    pub variance: f64,
}

impl Moments {
    /// The moments of a fitted distribution, the mean replaced by `mean` when known.
    pub fn of_fit(fit: &Fit, mean: Option<f64>) -> Option<Moments> {
        let d = Distribution::from_spec(&fit.spec, std::path::Path::new(".")).ok()?;
        let moments = Moments {
            mean: mean.unwrap_or_else(|| d.mean()),
            variance: d.variance(),
        };
        (moments.mean.is_finite() && moments.variance.is_finite()).then_some(moments)
    }
}

/// A caller's own time and how it was derived.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnTime {
    /// The own time's distribution, for `serviceTime`.
    pub spec: DistSpec,
    /// Its mean and variance.
    pub own: Moments,
    /// The response time's.
    pub response: Moments,
    /// The calls' total per request.
    pub calls: Moments,
    /// Whether the variance was raised to [`MIN_CV`].
    pub variance_floored: bool,
}

/// The own time of a caller whose response time has `response` moments and fitted family
/// `family`, making calls with `(calls per request, call-time moments)`.
///
/// # Errors
/// A sentence saying why, when the calls take as long as the response or longer on average.
pub fn own_time(
    family: Family,
    response: Moments,
    calls: &[(f64, Moments)],
) -> Result<OwnTime, String> {
    let mut total = Moments {
        mean: 0.0,
        variance: 0.0,
    };
    for &(p, c) in calls {
        let f = p - p.floor();
        total.mean += p * c.mean;
        total.variance += p * c.variance + f * (1.0 - f) * c.mean * c.mean;
    }
    let mean = response.mean - total.mean;
    if mean.is_nan() || mean <= 0.0 {
        return Err(format!(
            "its calls take {:.3} ms per request on average, its response {:.3} ms: the \
             client-side and server-side histograms disagree",
            total.mean, response.mean
        ));
    }
    let floor = (MIN_CV * mean).powi(2);
    let variance = response.variance - total.variance;
    let variance_floored = variance.is_nan() || variance < floor;
    let own = Moments {
        mean,
        variance: if variance_floored { floor } else { variance },
    };
    Ok(OwnTime {
        spec: from_moments(family, own),
        own,
        response,
        calls: total,
        variance_floored,
    })
}

/// A distribution of `family`'s kind with the given mean and variance: a normal (truncated
/// at 0) for the normal families, a gamma for exponential, gamma and Weibull, else a
/// log-normal. Parameters are rounded to 6 significant digits.
pub fn from_moments(family: Family, m: Moments) -> DistSpec {
    let (mean, variance) = (m.mean, m.variance);
    match family {
        Family::Normal | Family::Gmm => DistSpec::Normal {
            mean: round(mean),
            std_dev: round(variance.sqrt()),
            min: Some(0.0),
            max: None,
        },
        Family::Exponential | Family::Gamma | Family::Weibull => DistSpec::Gamma {
            shape: round(mean * mean / variance),
            scale: round(variance / mean),
            shift: 0.0,
        },
        Family::LogNormal | Family::LogNormalMixture | Family::Pareto => {
            let sigma2 = (variance / (mean * mean)).ln_1p();
            DistSpec::LogNormal {
                mu: round(mean.ln() - 0.5 * sigma2),
                sigma: round(sigma2.sqrt()),
                shift: 0.0,
            }
        }
    }
}

/// `x` to 6 significant digits.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 5 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn moments(spec: &DistSpec) -> (f64, f64) {
        let d = Distribution::from_spec(spec, Path::new(".")).expect("valid");
        (d.mean(), d.variance())
    }

    #[test]
    fn every_family_keeps_the_moments() {
        let m = Moments {
            mean: 12.0,
            variance: 9.0,
        };
        for family in [Family::LogNormal, Family::Gamma] {
            let (mean, variance) = moments(&from_moments(family, m));
            assert!((mean - 12.0).abs() < 1e-4, "{family}: {mean}");
            assert!((variance - 9.0).abs() < 1e-3, "{family}: {variance}");
        }
        // Truncating N(12, 3) at 0 moves its mean by 3 φ(4) / Φ(4) = 4e-4.
        let (mean, variance) = moments(&from_moments(Family::Normal, m));
        assert!((mean - 12.0).abs() < 1e-3 && (variance - 9.0).abs() < 1e-2);
    }

    #[test]
    fn calls_are_subtracted_with_their_branching() {
        // Response 30 ± 5 ms; one certain call of 10 ± 2 ms and 0.5 calls of 8 ± 1 ms per
        // request: E = 30 - 10 - 4 = 16; Var = 25 - 4 - (0.5 * 1 + 0.25 * 64) = 4.5.
        let response = Moments {
            mean: 30.0,
            variance: 25.0,
        };
        let calls = [
            (
                1.0,
                Moments {
                    mean: 10.0,
                    variance: 4.0,
                },
            ),
            (
                0.5,
                Moments {
                    mean: 8.0,
                    variance: 1.0,
                },
            ),
        ];
        let own = own_time(Family::Gamma, response, &calls).unwrap();
        assert_eq!(
            own.own,
            Moments {
                mean: 16.0,
                variance: 4.5
            }
        );
        assert!(!own.variance_floored);
        assert_eq!(own.calls.mean, 14.0);
    }

    #[test]
    fn a_variance_lost_in_noise_is_floored_and_a_negative_mean_refused() {
        let response = Moments {
            mean: 20.0,
            variance: 4.0,
        };
        let call = Moments {
            mean: 10.0,
            variance: 5.0,
        };
        let own = own_time(Family::LogNormal, response, &[(1.0, call)]).unwrap();
        assert!(own.variance_floored);
        assert_eq!(own.own.variance, (MIN_CV * 10.0_f64).powi(2));
        let err = own_time(Family::LogNormal, response, &[(2.5, call)]).unwrap_err();
        assert!(
            err.contains("25.000 ms") && err.contains("20.000 ms"),
            "{err}"
        );
    }
}
