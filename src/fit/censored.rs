//! Fitting from Prometheus histograms: bucket counts are interval-censored data.
//!
//! A histogram says how many observations fell in each bucket `(b_{j-1}, b_j]`, not where.
//! [`fit_histogram`] maximises the multinomial log-likelihood `sum_j n_j ln(F(b_j) -
//! F(b_{j-1}))` over the family's parameters with [`optim::minimize`] (Nelder–Mead, in a
//! standardised space: location parameters as `start + scale * t`, positive ones as
//! `start * e^t`), starting from moment estimates of the bucket midpoints. The midpoints only
//! seed the search; they are never treated as samples. The first bucket is taken to start at
//! 0 (as `histogram_quantile` does) when computing midpoints, and the `+Inf` bucket's
//! midpoint is the highest finite bound. Mixtures are not fitted from histograms (see
//! [`FitError::Unsupported`]).
//!
//! A bucket's probability is a difference of CDF values, which is 0 in floating point far in
//! a tail (a normal fitted to a long-tailed latency histogram, say). Such a probability is
//! floored at the smallest positive `f64`, i.e. about -708 per observation: a poor family then
//! gets a very poor but finite likelihood, and is ranked last instead of failing.
//!
//! Counts should be counts (e.g. PromQL `increase(...)`), not per-second rates: AIC and BIC
//! use the total as the number of observations.

use statrs::function::gamma::ln_gamma;

use crate::fit::family::{Family, FitError};
use crate::fit::histogram::{Bucket, below, validate_buckets};
use crate::fit::mle::Estimate;
use crate::fit::select::{FitReport, distribution, fit_and_rank};
use crate::fit::{gof, optim};
use crate::model::dist::DistSpec;

/// Fits every family in `families` (duplicates ignored) to a histogram by maximum likelihood
/// on the interval-censored counts, and ranks them by BIC as
/// [`fit_samples`](crate::fit::select::fit_samples) does. `ks` and `anderson_darling` of each
/// [`Fit`](crate::fit::Fit) are the grouped-data statistics of [`gof`].
///
/// # Errors
/// [`FitError::NoFamilies`]; the errors of [`validate_buckets`];
/// [`FitError::SingleBucket`] when one bucket holds every observation;
/// [`FitError::NothingFitted`] when every family was skipped (mixtures always are).
pub fn fit_histogram(buckets: &[Bucket], families: &[Family]) -> Result<FitReport, FitError> {
    if families.is_empty() {
        return Err(FitError::NoFamilies);
    }
    let total = validate_buckets(buckets)?;
    let mut occupied = buckets
        .iter()
        .enumerate()
        .filter(|(i, b)| b.cumulative_count > below(buckets, *i));
    if let (Some((index, b)), None) = (occupied.next(), occupied.next()) {
        return Err(FitError::SingleBucket {
            index,
            bound: b.upper_bound,
        });
    }
    fit_and_rank(
        families,
        total,
        |family| censored_estimate(family, buckets),
        |cdf| {
            (
                gof::kolmogorov_smirnov_grouped(buckets, cdf),
                gof::anderson_darling_grouped(buckets, cdf),
            )
        },
    )
}

/// Turns standardised coordinates `t` into a spec, given the family's starting values.
type Build = fn(&[f64], &[f64]) -> DistSpec;

/// Maximum-likelihood fit of one family to validated buckets.
fn censored_estimate(family: Family, buckets: &[Bucket]) -> Result<Estimate, FitError> {
    // Cells (lower, upper, count) with a positive count; the first starts at -inf.
    let cells: Vec<(f64, f64, f64)> = (0..buckets.len())
        .map(|i| {
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                buckets[i - 1].upper_bound
            };
            (
                lower,
                buckets[i].upper_bound,
                buckets[i].cumulative_count - below(buckets, i),
            )
        })
        .filter(|c| c.2 > 0.0)
        .collect();
    let positive = !matches!(
        family,
        Family::Normal | Family::Gmm | Family::LogNormalMixture
    );
    let first = buckets
        .iter()
        .position(|b| b.cumulative_count > 0.0)
        .unwrap_or(0);
    if positive && buckets[first].upper_bound <= 0.0 {
        return Err(FitError::BucketOutOfSupport {
            family,
            index: first,
            bound: buckets[first].upper_bound,
        });
    }
    // A positive family's cells start at 0 at the lowest, so every midpoint is positive.
    let floor = if positive { 0.0 } else { f64::NEG_INFINITY };
    let midpoint = |&(lo, up, _): &(f64, f64, f64)| {
        let lo = lo.max(floor);
        match (lo.is_finite(), up.is_finite()) {
            (false, _) if up > 0.0 => up / 2.0,
            (false, _) => up,
            (true, false) => lo,
            (true, true) => (lo + up) / 2.0,
        }
    };
    let n: f64 = cells.iter().map(|c| c.2).sum();
    let mean = cells.iter().map(|c| c.2 * midpoint(c)).sum::<f64>() / n;
    let var = cells
        .iter()
        .map(|c| c.2 * (midpoint(c) - mean).powi(2))
        .sum::<f64>()
        / n;
    let (base, build): (Vec<f64>, Build) = match family {
        Family::Exponential => (vec![mean], |b, t| DistSpec::Exponential {
            mean: b[0] * t[0].exp(),
        }),
        Family::Normal => (vec![mean, var.sqrt()], |b, t| DistSpec::Normal {
            mean: b[0] + b[1] * t[0],
            std_dev: b[1] * t[1].exp(),
            min: None,
            max: None,
        }),
        Family::LogNormal => {
            let s2 = (1.0 + var / (mean * mean)).ln();
            (vec![mean.ln() - s2 / 2.0, s2.sqrt()], |b, t| {
                DistSpec::LogNormal {
                    mu: b[0] + b[1] * t[0],
                    sigma: b[1] * t[1].exp(),
                    shift: 0.0,
                }
            })
        }
        Family::Gamma => (vec![mean * mean / var, var / mean], |b, t| {
            DistSpec::Gamma {
                shape: b[0] * t[0].exp(),
                scale: b[1] * t[1].exp(),
                shift: 0.0,
            }
        }),
        Family::Weibull => {
            let k = (var.sqrt() / mean).powf(-1.086).clamp(0.05, 50.0);
            (vec![k, mean / ln_gamma(1.0 + 1.0 / k).exp()], |b, t| {
                DistSpec::Weibull {
                    shape: b[0] * t[0].exp(),
                    scale: b[1] * t[1].exp(),
                    shift: 0.0,
                }
            })
        }
        Family::Pareto => {
            let (lo, up, _) = cells[0];
            let scale = if lo > 0.0 { lo } else { up / 2.0 };
            let shape = if mean > scale {
                mean / (mean - scale)
            } else {
                2.0
            };
            (vec![scale, shape.clamp(0.1, 100.0)], |b, t| {
                DistSpec::Pareto {
                    scale: b[0] * t[0].exp(),
                    shape: b[1] * t[1].exp(),
                    max: None,
                    shift: 0.0,
                }
            })
        }
        Family::Gmm | Family::LogNormalMixture => {
            return Err(FitError::Unsupported {
                family,
                data: "histograms",
                reason: "a mixture has more parameters than typical histograms have buckets, and \
                         its censored likelihood has many local optima; fit it from samples",
            });
        }
    };
    let negative_ll = |t: &[f64]| {
        let Ok(dist) = distribution(family, &build(&base, t)) else {
            return f64::INFINITY;
        };
        let cdf = |x: f64| match x {
            f64::NEG_INFINITY => 0.0,
            f64::INFINITY => 1.0,
            _ => dist.cdf(x),
        };
        -cells
            .iter()
            .map(|&(lo, up, count)| count * (cdf(up) - cdf(lo)).max(f64::MIN_POSITIVE).ln())
            .sum::<f64>()
    };
    let found = optim::minimize(negative_ll, &vec![0.0; base.len()], 0.3, 1e-10, 1e-6, 4_000);
    if !found.value.is_finite() || !found.converged {
        let what = format!(
            "Nelder–Mead on the censored likelihood did not converge ({} evaluations, -ln L = {})",
            found.evaluations, found.value
        );
        return Err(FitError::NoConvergence { family, what });
    }
    Ok(Estimate {
        spec: build(&base, &found.point),
        log_likelihood: -found.value,
        parameters: base.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::histogram::histogram_quantile;
    use rand::SeedableRng;
    use rand_distr::Distribution as _;
    use rand_pcg::Pcg64;

    fn bucket(upper_bound: f64, cumulative_count: f64) -> Bucket {
        Bucket {
            upper_bound,
            cumulative_count,
        }
    }

    /// Counts `samples` into cumulative buckets with the given finite bounds plus `+Inf`.
    fn histogram(samples: &[f64], bounds: &[f64]) -> Vec<Bucket> {
        let mut buckets: Vec<Bucket> = bounds
            .iter()
            .map(|&le| bucket(le, samples.iter().filter(|&&x| x <= le).count() as f64))
            .collect();
        buckets.push(bucket(f64::INFINITY, samples.len() as f64));
        buckets
    }

    #[test]
    fn censored_log_normal_fit_recovers_p99_within_5_percent_on_istio_buckets() {
        // Istio's default bounds (ms); log-normal with median 40 ms, sigma 0.6.
        let istio = [
            0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
        ];
        let (mu, sigma) = (40f64.ln(), 0.6);
        let mut rng = Pcg64::seed_from_u64(5);
        let d = rand_distr::LogNormal::new(mu, sigma).unwrap();
        let xs: Vec<f64> = (0..100_000).map(|_| d.sample(&mut rng)).collect();
        let buckets = histogram(&xs, &istio);
        let report = fit_histogram(&buckets, &Family::ALL).unwrap();
        let best = report.best();
        assert_eq!(best.family, Family::LogNormal, "{:?}", report.fits);
        let true_p99 = (mu + sigma * 2.326_347_874_040_841).exp();
        let fitted_p99 = best.quantile(0.99).unwrap();
        assert!(
            (fitted_p99 - true_p99).abs() <= 0.05 * true_p99,
            "fitted {fitted_p99}, true {true_p99}"
        );
        // Prometheus' interpolation lands in the bucket that holds the true p99 (100, 250].
        let prom_p99 = histogram_quantile(0.99, &buckets).unwrap();
        assert!(
            prom_p99 > 100.0 && prom_p99 <= 250.0,
            "histogram_quantile {prom_p99}"
        );
        let DistSpec::LogNormal {
            mu: m, sigma: s, ..
        } = best.spec
        else {
            panic!()
        };
        assert!(
            (m - mu).abs() <= 0.01 * mu && (s - sigma).abs() <= 0.05 * sigma,
            "mu {m}, sigma {s}"
        );
        assert!(best.ks < 0.01, "ks {}", best.ks);
        let mixtures: Vec<Family> = report.skipped.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            mixtures,
            vec![Family::Gmm, Family::LogNormalMixture],
            "{:?}",
            report.skipped
        );
        assert!(matches!(report.skipped[0].1, FitError::Unsupported { .. }));
    }

    #[test]
    fn censored_normal_fit_handles_negative_bounds() {
        let mut rng = Pcg64::seed_from_u64(6);
        let d = rand_distr::Normal::new(-2.0, 3.0).unwrap();
        let xs: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        let buckets = histogram(&xs, &[-8.0, -4.0, -2.0, 0.0, 2.0, 6.0]);
        let report = fit_histogram(&buckets, &[Family::Normal, Family::Gamma]).unwrap();
        let DistSpec::Normal { mean, std_dev, .. } = report.best().spec else {
            panic!()
        };
        assert!(
            (mean + 2.0).abs() < 0.1 && (std_dev - 3.0).abs() < 0.1,
            "{mean} {std_dev}"
        );
        assert!(matches!(
            report.skipped[..],
            [(Family::Gamma, FitError::BucketOutOfSupport { index: 0, .. })]
        ));
    }

    #[test]
    fn bad_histograms_are_rejected_with_the_bucket_named() {
        let fams = [Family::LogNormal];
        let inf = f64::INFINITY;
        assert!(matches!(
            fit_histogram(&[], &fams),
            Err(FitError::NoData { .. })
        ));
        assert!(matches!(
            fit_histogram(&[bucket(inf, 1.0)], &[]),
            Err(FitError::NoFamilies)
        ));
        let err = fit_histogram(
            &[bucket(2.0, 1.0), bucket(1.0, 2.0), bucket(inf, 3.0)],
            &fams,
        );
        assert!(matches!(err, Err(FitError::BucketBound { index: 1, .. })));
        let err = fit_histogram(&[bucket(f64::NAN, 1.0), bucket(inf, 3.0)], &fams);
        assert!(matches!(err, Err(FitError::BucketBound { index: 0, .. })));
        let err = fit_histogram(
            &[bucket(1.0, 5.0), bucket(2.0, 4.0), bucket(inf, 6.0)],
            &fams,
        );
        assert!(matches!(err, Err(FitError::BucketCount { index: 1, .. })));
        let err = fit_histogram(&[bucket(1.0, f64::NAN), bucket(inf, 6.0)], &fams);
        assert!(matches!(err, Err(FitError::BucketCount { index: 0, .. })));
        let err = fit_histogram(&[bucket(1.0, -1.0), bucket(inf, 6.0)], &fams);
        assert!(matches!(err, Err(FitError::BucketCount { index: 0, .. })));
        let err = fit_histogram(&[bucket(1.0, 1.0), bucket(2.0, 3.0)], &fams);
        assert!(matches!(err, Err(FitError::NoInfBucket { last: 2.0 })));
        let err = fit_histogram(&[bucket(1.0, 0.0), bucket(inf, 0.0)], &fams);
        assert!(matches!(err, Err(FitError::NoData { .. })));
        let err = fit_histogram(
            &[bucket(1.0, 0.0), bucket(2.0, 9.0), bucket(inf, 9.0)],
            &fams,
        );
        assert!(matches!(
            err,
            Err(FitError::SingleBucket {
                index: 1,
                bound: 2.0
            })
        ));
        let err = fit_histogram(&[bucket(1.0, 1.0), bucket(inf, 3.0)], &[Family::Gmm]).unwrap_err();
        assert!(
            matches!(&err, FitError::NothingFitted { reasons } if reasons.contains("gmm is not fitted from histograms")),
            "{err}"
        );
    }
}
