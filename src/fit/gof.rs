//! Goodness of fit: information criteria, and Kolmogorov–Smirnov and Anderson–Darling
//! statistics for samples and for histograms.
//!
//! The statistics take the model's CDF as a closure, normally `|x| dist.cdf(x)` of a
//! [`Distribution`](crate::fit::Distribution), so every family shares one CDF implementation.

use crate::fit::histogram::Bucket;

/// Akaike's information criterion, `2k - 2 ln L`, for `parameters` = k.
pub fn aic(log_likelihood: f64, parameters: usize) -> f64 {
    2.0 * parameters as f64 - 2.0 * log_likelihood
}

/// The Bayesian (Schwarz) information criterion, `k ln n - 2 ln L`, for `n` observations.
pub fn bic(log_likelihood: f64, parameters: usize, n: f64) -> f64 {
    parameters as f64 * n.ln() - 2.0 * log_likelihood
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut xs = samples.to_vec();
    xs.sort_by(f64::total_cmp);
    xs
}

/// The one-sample Kolmogorov–Smirnov statistic `D = sup |F_n(x) - F(x)|`, computed as
/// `max_i max(i/n - F(x_(i)), F(x_(i)) - (i-1)/n)` over the sorted samples (any order in).
/// Returns 0 for no samples.
pub fn kolmogorov_smirnov(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let xs = sorted(samples);
    let n = xs.len() as f64;
    xs.iter().enumerate().fold(0.0, |d, (i, &x)| {
        let f = cdf(x);
        d.max((i + 1) as f64 / n - f).max(f - i as f64 / n)
    })
}

/// The Anderson–Darling statistic
/// `A² = -n - (1/n) sum_i (2i - 1) [ln F(x_(i)) + ln(1 - F(x_(n+1-i)))]` (any order in).
///
/// `F` and `1 - F` are floored at the smallest positive `f64`, so a sample the model deems
/// impossible adds about 708 per term instead of infinity. Returns 0 for no samples.
pub fn anderson_darling(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let xs = sorted(samples);
    if xs.is_empty() {
        return 0.0;
    }
    let n = xs.len();
    let f: Vec<f64> = xs.iter().map(|&x| cdf(x)).collect();
    let floor = |p: f64| p.max(f64::MIN_POSITIVE).ln();
    let sum: f64 = (0..n)
        .map(|i| (2 * i + 1) as f64 * (floor(f[i]) + floor(1.0 - f[n - 1 - i])))
        .sum();
    -(n as f64) - sum / n as f64
}

/// The Kolmogorov–Smirnov distance seen through a histogram: `max_j |S_j/N - F(b_j)|` over
/// the finite upper bounds `b_j`, with `S_j` the cumulative count and `N` the total. It is a
/// lower bound of the distance to the unbinned data. Expects buckets validated by
/// [`fit_histogram`](crate::fit::censored::fit_histogram); returns 0 for `N = 0`.
pub fn kolmogorov_smirnov_grouped(buckets: &[Bucket], cdf: impl Fn(f64) -> f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.cumulative_count);
    if total <= 0.0 {
        return 0.0;
    }
    buckets
        .iter()
        .filter(|b| b.upper_bound.is_finite())
        .map(|b| (b.cumulative_count / total - cdf(b.upper_bound)).abs())
        .fold(0.0, f64::max)
}

/// The Anderson–Darling statistic for grouped data (Choulakian, Lockhart & Stephens, 1994):
/// `A² = N sum_j Z_j² p_j / (H_j (1 - H_j))` over the finite upper bounds, with
/// `Z_j = S_j/N - H_j`, `H_j = F(b_j)` and `p_j = H_j - H_{j-1}` the model's mass of bucket
/// `j`. Terms where the model puts no mass are 0. Where the model's CDF reaches 1 (in
/// floating point) below observed data, the data is impossible under the model and the
/// result is `+inf`. Returns 0 for `N = 0`.
pub fn anderson_darling_grouped(buckets: &[Bucket], cdf: impl Fn(f64) -> f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.cumulative_count);
    if total <= 0.0 {
        return 0.0;
    }
    let mut previous = 0.0;
    let mut sum = 0.0;
    for b in buckets.iter().filter(|b| b.upper_bound.is_finite()) {
        let h = cdf(b.upper_bound);
        let mass = h - previous;
        previous = h;
        if mass > 0.0 {
            let z = b.cumulative_count / total - h;
            let spread = h * (1.0 - h);
            if spread > 0.0 {
                sum += z * z * mass / spread;
            } else if z != 0.0 {
                return f64::INFINITY;
            }
        }
    }
    total * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(x: f64) -> f64 {
        x.clamp(0.0, 1.0)
    }

    #[test]
    fn information_criteria_on_a_hand_example() {
        // ln L = -100, k = 2, n = 50: AIC = 4 + 200, BIC = 2 ln 50 + 200.
        assert_eq!(aic(-100.0, 2), 204.0);
        assert!((bic(-100.0, 2, 50.0) - 207.824_046_010_856).abs() < 1e-9);
    }

    #[test]
    fn ks_and_ad_match_hand_computed_values() {
        // Against U(0, 1): D = max(1/3 - 0.1, 2/3 - 0.4, 1 - 0.7) = 0.3;
        // A² = -3 - (1/3)[ln(.1 * .3) + 3 ln(.4 * .6) + 5 ln(.7 * .9)] = 0.366028087...
        let xs = [0.7, 0.1, 0.4];
        assert!((kolmogorov_smirnov(&xs, uniform) - 0.3).abs() < 1e-12);
        assert!((anderson_darling(&xs, uniform) - 0.366_028_087_407_737_5).abs() < 1e-12);
        assert_eq!(kolmogorov_smirnov(&[], uniform), 0.0);
        assert_eq!(anderson_darling(&[], uniform), 0.0);
    }

    #[test]
    fn impossible_samples_give_a_large_finite_ad() {
        let a2 = anderson_darling(&[0.5, 2.0], uniform);
        assert!(a2.is_finite() && a2 > 100.0, "{a2}");
    }

    #[test]
    fn grouped_statistics_match_hand_computed_values() {
        // Buckets le=1: 3, le=2: 7, le=+Inf: 10 against Exp(1):
        // H = (1 - e^-1, 1 - e^-2); D = |0.3 - H_1| = 0.33212...;
        // A² = 10 [ (0.3 - H_1)² H_1 / (H_1 (1 - H_1)) + (0.7 - H_2)² (H_2 - H_1) / (H_2 (1 - H_2)) ].
        let buckets = [
            Bucket {
                upper_bound: 1.0,
                cumulative_count: 3.0,
            },
            Bucket {
                upper_bound: 2.0,
                cumulative_count: 7.0,
            },
            Bucket {
                upper_bound: f64::INFINITY,
                cumulative_count: 10.0,
            },
        ];
        let exp1 = |x: f64| 1.0 - (-x).exp();
        assert!(
            (kolmogorov_smirnov_grouped(&buckets, exp1) - 0.332_120_558_828_557_7).abs() < 1e-12
        );
        assert!((anderson_darling_grouped(&buckets, exp1) - 3.537_200_402_141_565).abs() < 1e-9);
        // A model whose CDF is 1 at le=1 cannot explain the 7 observations above it.
        let unit = |x: f64| x.clamp(0.0, 1.0);
        assert_eq!(anderson_darling_grouped(&buckets, unit), f64::INFINITY);
        let empty = [Bucket {
            upper_bound: f64::INFINITY,
            cumulative_count: 0.0,
        }];
        assert_eq!(anderson_darling_grouped(&empty, exp1), 0.0);
    }
}
