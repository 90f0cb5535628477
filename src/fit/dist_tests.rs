//! Tests of [`super`]: every family's moments and a KS bound at n = 200,000, exact
//! closed forms, truncation regimes, Table I, and every validation error.

//! Sampling is checked against the exact `mean`/`variance`/`cdf` (which are in turn
//! checked against independent closed forms), all with seed-fixed `Pcg64Mcg` streams.

use super::*;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use statrs::distribution::Normal as StatrsNormal;

const N: usize = 200_000;
const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Short spec constructors.
mod s {
    use crate::model::dist::{DistSpec, MixtureComponent};

    pub fn constant(value: f64) -> DistSpec {
        DistSpec::Constant { value }
    }
    pub fn uniform(min: f64, max: f64) -> DistSpec {
        DistSpec::Uniform { min, max }
    }
    pub fn exponential(mean: f64) -> DistSpec {
        DistSpec::Exponential { mean }
    }
    pub fn normal(mean: f64, std_dev: f64) -> DistSpec {
        truncated(mean, std_dev, None, None)
    }
    pub fn truncated(mean: f64, std_dev: f64, min: Option<f64>, max: Option<f64>) -> DistSpec {
        DistSpec::Normal {
            mean,
            std_dev,
            min,
            max,
        }
    }
    pub fn percentile(mean: f64, percentile: f64, value: f64) -> DistSpec {
        DistSpec::NormalFromPercentile {
            mean,
            percentile,
            value,
            min: None,
            max: None,
        }
    }
    pub fn lognormal(mu: f64, sigma: f64, shift: f64) -> DistSpec {
        DistSpec::LogNormal { mu, sigma, shift }
    }
    pub fn gamma(shape: f64, scale: f64, shift: f64) -> DistSpec {
        DistSpec::Gamma {
            shape,
            scale,
            shift,
        }
    }
    pub fn weibull(shape: f64, scale: f64, shift: f64) -> DistSpec {
        DistSpec::Weibull {
            shape,
            scale,
            shift,
        }
    }
    pub fn pareto(scale: f64, shape: f64, max: Option<f64>, shift: f64) -> DistSpec {
        DistSpec::Pareto {
            scale,
            shape,
            max,
            shift,
        }
    }
    pub fn mixture(components: &[(f64, DistSpec)]) -> DistSpec {
        let components = components.iter().cloned();
        let components = components.map(|(weight, distribution)| MixtureComponent {
            weight,
            distribution,
        });
        DistSpec::Mixture {
            components: components.collect(),
        }
    }
    pub fn samples(samples: &[f64]) -> DistSpec {
        DistSpec::Empirical {
            samples: Some(samples.to_vec()),
            file: None,
            column: None,
        }
    }
    pub fn empirical(
        samples: Option<&[f64]>,
        file: Option<&str>,
        column: Option<&str>,
    ) -> DistSpec {
        let (samples, file, column) = (
            samples.map(<[f64]>::to_vec),
            file.map(String::from),
            column.map(String::from),
        );
        DistSpec::Empirical {
            samples,
            file,
            column,
        }
    }
}

fn build(spec: &DistSpec) -> Distribution {
    Distribution::from_spec(spec, Path::new(".")).expect("valid spec")
}

/// Asserts that `spec` is rejected with exactly this path and message.
fn assert_rejected(spec: &DistSpec, path: &str, message: &str) {
    let e = Distribution::from_spec(spec, Path::new(".")).expect_err("invalid spec");
    assert_eq!((e.path(), e.message()), (path, message), "{spec:?}");
}

fn assert_close(actual: f64, expected: f64, rel: f64) {
    let tol = rel * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} vs {expected} (rel tol {rel})"
    );
}

/// One-sample Kolmogorov-Smirnov statistic `sup |F_n - F|`. For a discrete `F` only the
/// right-continuous values are compared (a lower bound of the statistic, which makes the
/// continuous critical value conservative).
fn ks(xs: &mut [f64], cdf: impl Fn(f64) -> f64, continuous: bool) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let (mut d, mut i) = (0.0_f64, 0);
    while i < xs.len() {
        let j = i + xs[i..].iter().take_while(|&&x| x == xs[i]).count();
        let f = cdf(xs[i]);
        d = d.max((j as f64 / n - f).abs());
        if continuous {
            d = d.max((f - i as f64 / n).abs());
        }
        i = j;
    }
    d
}

/// Draws `N` values and checks: all `>= support_min()`; the sample mean within 4 standard
/// errors of `mean()`; the sample variance within `var_rtol` (relative) of `variance()`;
/// KS `D` below the alpha = 0.001 critical value `1.95 / sqrt(N)`.
fn check_sampling(spec: &DistSpec, var_rtol: f64, continuous: bool) -> Distribution {
    let d = build(spec);
    let mut rng = Pcg64Mcg::seed_from_u64(20_240_611);
    let mut xs: Vec<f64> = (0..N).map(|_| d.sample(&mut rng)).collect();
    let n = N as f64;
    assert!(
        xs.iter().all(|&x| x >= d.support_min()),
        "{spec:?}: below support_min"
    );
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (d.variance() / n).sqrt();
    assert!(
        (mean - d.mean()).abs() <= 4.0 * se,
        "{spec:?}: mean {mean} vs {}",
        d.mean()
    );
    let rel = (var / d.variance() - 1.0).abs();
    assert!(
        rel <= var_rtol,
        "{spec:?}: var {var} vs {} ({rel})",
        d.variance()
    );
    let stat = ks(&mut xs, |x| d.cdf(x), continuous);
    assert!(stat < 1.95 / n.sqrt(), "{spec:?}: KS D = {stat}");
    d
}

/// (rejection, mirrored) of a truncated normal.
fn regime(d: &Distribution) -> (bool, bool) {
    match &d.repr {
        Repr::TruncatedNormal(t) => (t.rejection, t.mirrored),
        other => panic!("not a truncated normal: {other:?}"),
    }
}

/// Variance tolerances are about 4 standard errors of the sample variance at N = 200 000
/// (`sqrt((kurtosis - 1) / N)`: 1.3% for a normal, 2.5% for an exponential, 5.5% for
/// Pareto shape 6).
#[test]
fn sampling_matches_moments_and_cdf_for_every_family() {
    let inner = s::mixture(&[
        (0.5, s::exponential(2.0)),
        (0.5, s::lognormal(1.2, 0.3, 2.0)),
    ]);
    let cases = [
        (s::uniform(2.0, 8.0), 0.01),
        (s::exponential(5.0), 0.03),
        (s::normal(12.6, 5.82), 0.02),
        (s::percentile(10.0, 99.0, 12.5), 0.02),
        (s::lognormal(1.2, 0.3, 2.0), 0.03),
        (s::gamma(2.0, 3.0, 0.5), 0.03),
        (s::gamma(0.5, 2.0, 0.0), 0.04),
        (s::weibull(1.5, 4.0, 1.0), 0.03),
        (s::pareto(2.0, 6.0, None, 0.0), 0.10),
        (s::pareto(1.0, 1.2, Some(50.0), 1.0), 0.05),
        (
            s::mixture(&[
                (0.2, s::normal(5.0, 1.0)),
                (0.5, s::normal(20.0, 3.0)),
                (0.3, inner),
            ]),
            0.02,
        ),
    ];
    for (spec, var_rtol) in &cases {
        check_sampling(spec, *var_rtol, true);
    }
}

#[test]
fn truncated_normal_is_exact_in_both_sampling_regimes() {
    // Mass 0.985: rejection.
    let d = check_sampling(&s::truncated(12.6, 5.82, Some(0.0), None), 0.02, true);
    assert_eq!(regime(&d), (true, true));
    // Mass 0.023 above the mean: inverse cdf on the reflected (upper) tail.
    let d = check_sampling(&s::truncated(0.0, 1.0, Some(2.0), Some(4.0)), 0.02, true);
    assert_eq!(regime(&d), (false, true));
    // Mass 0.067 below the mean: inverse cdf, not reflected.
    let d = check_sampling(&s::truncated(10.0, 2.0, None, Some(7.0)), 0.02, true);
    assert_eq!(regime(&d), (false, false));
    // Narrow interval around the mean (mass 0.12): inverse cdf.
    let d = check_sampling(&s::truncated(0.0, 1.0, Some(-0.1), Some(0.2)), 0.02, true);
    assert!(!regime(&d).0);
}

#[test]
fn empirical_samples_uniformly_among_measurements() {
    let samples: Vec<f64> = (0..50)
        .map(|i| f64::from((i * 37) % 50) * 0.37 + 1.0)
        .collect();
    check_sampling(&s::samples(&samples), 0.02, false);
}

#[test]
fn constant_is_a_point_mass() {
    let d = build(&s::constant(7.0));
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    assert!((0..1000).all(|_| d.sample(&mut rng) == 7.0));
    assert_eq!((d.mean(), d.variance(), d.support_min()), (7.0, 0.0, 7.0));
    assert_eq!((d.cdf(6.999), d.cdf(7.0), d.quantile(0.3)), (0.0, 1.0, 7.0));
}

#[test]
fn moments_match_independent_closed_forms() {
    let (e, ln10) = (std::f64::consts::E, 10f64.ln());
    let cases = [
        (s::uniform(2.0, 8.0), 5.0, 3.0),
        (s::exponential(5.0), 5.0, 25.0),
        (s::gamma(2.0, 3.0, 0.0), 6.0, 18.0),
        (s::gamma(2.0, 3.0, 1.0), 7.0, 18.0),
        (s::lognormal(0.0, 1.0, 2.0), 2.0 + e.sqrt(), (e - 1.0) * e),
        (s::weibull(1.0, 2.0, 0.0), 2.0, 4.0),
        (s::weibull(2.0, 1.0, 0.0), PI.sqrt() / 2.0, 1.0 - PI / 4.0),
        (s::pareto(1.0, 3.0, None, 0.0), 1.5, 0.75),
        // Bounded Pareto on [1, 10], shape 1: E[X] = 10 ln 10 / 9, E[X^2] = 10.
        (
            s::pareto(1.0, 1.0, Some(10.0), 0.0),
            10.0 * ln10 / 9.0,
            10.0 - (10.0 * ln10 / 9.0).powi(2),
        ),
        // Shape 2: E[X] = 1.8 / 0.99, E[X^2] = 2 ln 10 / 0.99 (the k = shape limit).
        (
            s::pareto(1.0, 2.0, Some(10.0), 0.0),
            1.8 / 0.99,
            2.0 * ln10 / 0.99 - (1.8_f64 / 0.99).powi(2),
        ),
        // Half-normal: sqrt(2/pi), 1 - 2/pi; mirrored for the lower half.
        (
            s::truncated(0.0, 1.0, Some(0.0), None),
            (2.0 / PI).sqrt(),
            1.0 - 2.0 / PI,
        ),
        (
            s::truncated(0.0, 1.0, None, Some(0.0)),
            -(2.0 / PI).sqrt(),
            1.0 - 2.0 / PI,
        ),
        // N(0,1) on [-1, 1]: variance 1 - 2 phi(1) / (Phi(1) - Phi(-1)).
        (
            s::truncated(0.0, 1.0, Some(-1.0), Some(1.0)),
            0.0,
            0.291_125_094_772_793_14,
        ),
        (
            s::mixture(&[(0.5, s::normal(0.0, 1.0)), (0.5, s::normal(4.0, 1.0))]),
            2.0,
            5.0,
        ),
        (s::samples(&[4.0, 1.0, 3.0, 2.0]), 2.5, 1.25),
    ];
    // 1e-9: statrs 0.19's erfc (truncated normal) is accurate to about 1e-10 relative.
    for (spec, mean, variance) in &cases {
        let d = build(spec);
        assert!(
            (d.mean() - mean).abs() <= 1e-9 * mean.abs().max(1.0),
            "{spec:?}: mean {}",
            d.mean()
        );
        assert_close(d.variance(), *variance, 1e-9);
    }
    let no_mean = build(&s::pareto(1.0, 1.0, None, 0.0));
    assert_eq!((no_mean.mean(), no_mean.variance()), (INF, INF));
    let no_variance = build(&s::pareto(1.0, 2.0, None, 0.0));
    assert_eq!((no_variance.mean(), no_variance.variance()), (2.0, INF));
}

#[test]
fn cdf_and_quantile_match_closed_forms_and_invert_each_other() {
    let exp = build(&s::exponential(5.0));
    assert_close(exp.cdf(5.0), 1.0 - (-1.0_f64).exp(), 1e-14);
    assert_close(exp.quantile(0.5), 5.0 * 2f64.ln(), 1e-14);
    assert_close(
        build(&s::gamma(2.0, 3.0, 0.0)).cdf(6.0),
        1.0 - 3.0 * (-2.0_f64).exp(),
        1e-12,
    );
    assert_close(
        build(&s::lognormal(0.0, 1.0, 2.0)).quantile(0.5),
        3.0,
        1e-14,
    );
    let empirical = build(&s::samples(&[4.0, 1.0, 3.0, 2.0]));
    assert_eq!([0.5, 2.5, 4.0].map(|x| empirical.cdf(x)), [0.0, 0.5, 1.0]);
    assert_eq!(
        [0.0, 0.5, 0.51, 1.0].map(|p| empirical.quantile(p)),
        [1.0, 2.0, 3.0, 4.0]
    );

    let specs = [
        s::uniform(2.0, 8.0),
        s::exponential(5.0),
        s::normal(12.6, 5.82),
        s::truncated(12.6, 5.82, Some(0.0), None),
        s::truncated(0.0, 1.0, Some(2.0), Some(4.0)),
        s::truncated(10.0, 2.0, None, Some(7.0)),
        s::lognormal(1.2, 0.3, 2.0),
        s::gamma(0.5, 2.0, 1.0),
        s::weibull(1.5, 4.0, 1.0),
        s::pareto(2.0, 1.5, None, 1.0),
        s::pareto(1.0, 1.2, Some(50.0), 1.0),
        s::mixture(&[(0.3, s::normal(5.0, 1.0)), (0.7, s::exponential(20.0))]),
    ];
    for spec in &specs {
        let d = build(spec);
        for p in [0.001, 0.1, 0.5, 0.9, 0.999] {
            assert!(
                (d.cdf(d.quantile(p)) - p).abs() < 1e-9,
                "{spec:?} at p = {p}"
            );
        }
        assert_eq!(d.quantile(0.0), d.support_min(), "{spec:?}");
        assert!(d.quantile(1.1).is_nan() && d.quantile(NAN).is_nan());
    }
}

#[test]
fn far_tail_truncation_keeps_precision() {
    // N(0, 1) on [5.5, inf) holds 1.9e-8 of the mass; the references are from the same
    // formulas in double precision with a correctly rounded erfc. 1 + a lambda - lambda^2
    // cancels 3 digits of statrs' ~1e-10 erfc error, hence 1e-7 on the variance.
    let d = build(&s::truncated(0.0, 1.0, Some(5.5), None));
    assert_close(d.mean(), 5.671_410_313_897_3, 1e-9);
    assert_close(d.variance(), 0.027_861_777_854_475_633, 1e-7);
    assert!((d.cdf(d.quantile(0.5)) - 0.5).abs() < 1e-9);
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let n = 20_000;
    let mean = (0..n).map(|_| d.sample(&mut rng)).sum::<f64>() / f64::from(n);
    assert!((mean - d.mean()).abs() < 4.0 * (d.variance() / f64::from(n)).sqrt());
}

#[test]
fn support_min_is_the_lowest_value() {
    let cases = [
        (s::normal(1.0, 1.0), f64::NEG_INFINITY),
        (s::truncated(1.0, 1.0, Some(0.5), None), 0.5),
        (s::exponential(3.0), 0.0),
        (s::lognormal(0.0, 1.0, -2.0), -2.0),
        (s::pareto(2.0, 3.0, Some(9.0), 1.0), 3.0),
        (
            s::mixture(&[(0.5, s::uniform(3.0, 4.0)), (0.5, s::gamma(2.0, 1.0, 1.5))]),
            1.5,
        ),
    ];
    for (spec, min) in &cases {
        assert_eq!(build(spec).support_min(), *min, "{spec:?}");
    }
}

/// Table I of twin-model.md §4 (mean ms, std ms).
const TABLE_I: [(f64, f64); 21] = [
    (12.60, 5.82),
    (19.80, 1.95),
    (26.58, 2.05),
    (32.28, 6.43),
    (104.55, 6.73),
    (100.13, 1.89),
    (10.53, 2.13),
    (16.34, 1.82),
    (23.16, 3.18),
    (94.61, 6.46),
    (91.08, 2.05),
    (10.27, 1.93),
    (30.58, 3.92),
    (87.64, 6.19),
    (83.41, 1.75),
    (32.81, 2.19),
    (80.73, 6.13),
    (78.12, 6.40),
    (110.59, 7.08),
    (108.56, 2.69),
    (17.66, 6.55),
];

#[test]
fn sigma_from_percentile_recovers_table_one() {
    for (mu, sigma) in TABLE_I {
        let x99 = StatrsNormal::new(mu, sigma)
            .expect("valid")
            .inverse_cdf(0.99);
        assert_close(
            sigma_from_percentile(mu, 0.99, x99).expect("valid"),
            sigma,
            1e-9,
        );
        assert_close(
            build(&s::percentile(mu, 99.0, x99)).variance(),
            sigma * sigma,
            1e-9,
        );
    }
    // From tables: z_0.99 = 2.326347874040841, z_0.025 = -1.959963984540054.
    assert_close(
        sigma_from_percentile(10.0, 0.99, 12.326_347_874).expect("valid"),
        1.0,
        1e-9,
    );
    assert_close(
        sigma_from_percentile(0.0, 0.025, -3.919_927_969).expect("valid"),
        2.0,
        1e-9,
    );
}

#[test]
fn invalid_parameters_are_rejected_with_path_and_message() {
    let cases = [
        (s::constant(NAN), "value", "must be finite, got NaN"),
        (s::normal(INF, 1.0), "mean", "must be finite, got inf"),
        (s::normal(0.0, -1.0), "stdDev", "must be > 0, got -1"),
        (
            s::truncated(0.0, 1.0, Some(NAN), None),
            "min",
            "must be finite, got NaN",
        ),
        (
            s::truncated(0.0, 1.0, Some(5.0), Some(1.0)),
            "max",
            "must be > min (5), got 1",
        ),
        (s::exponential(0.0), "mean", "must be > 0, got 0"),
        (s::uniform(3.0, 3.0), "max", "must be > min (3), got 3"),
        (s::uniform(-INF, 3.0), "min", "must be finite, got -inf"),
        (s::lognormal(0.0, 0.0, 0.0), "sigma", "must be > 0, got 0"),
        (
            s::lognormal(0.0, 1.0, NAN),
            "shift",
            "must be finite, got NaN",
        ),
        (s::gamma(-2.0, 1.0, 0.0), "shape", "must be > 0, got -2"),
        (s::weibull(1.0, 0.0, 0.0), "scale", "must be > 0, got 0"),
        (
            s::pareto(0.0, 1.0, None, 0.0),
            "scale",
            "must be > 0, got 0",
        ),
        (
            s::pareto(1.0, INF, None, 0.0),
            "shape",
            "must be finite, got inf",
        ),
        (
            s::pareto(2.0, 1.0, Some(1.0), 0.0),
            "max",
            "must be > scale (2), got 1",
        ),
    ];
    for (spec, path, message) in &cases {
        assert_rejected(spec, path, message);
    }
    let e = Distribution::from_spec(&s::normal(0.0, -1.0), Path::new(".")).expect_err("invalid");
    assert_eq!(e.to_string(), "stdDev: must be > 0, got -1");
}

#[test]
fn improbable_truncation_is_rejected() {
    let e = Distribution::from_spec(&s::truncated(0.0, 1.0, Some(7.0), None), Path::new("."));
    let e = e.expect_err("mass 1.3e-12");
    assert_eq!(e.path(), "min");
    assert!(
        e.message()
            .starts_with("[min, max] = [7, inf] holds probability 1.2798"),
        "{e}"
    );
    assert!(
        e.message()
            .ends_with("of normal(mean 0, stdDev 1); need >= 1e-9"),
        "{e}"
    );
    let e = Distribution::from_spec(&s::truncated(0.0, 1.0, None, Some(-7.0)), Path::new("."));
    assert_eq!(e.expect_err("mass 1.3e-12").path(), "max");
    // Mass 2.3e-9 is accepted.
    build(&s::truncated(0.0, 1.0, Some(5.8), Some(6.0)));
}

#[test]
fn bad_percentiles_are_rejected() {
    for p in [0.0, 50.0, 100.0, 150.0, NAN] {
        assert_rejected(
            &s::percentile(10.0, p, 12.0),
            "percentile",
            &format!("must be in (0, 100) and not 50, got {p}"),
        );
    }
    let above = "must be above the mean (10) for a percentile above the median, got";
    assert_rejected(
        &s::percentile(10.0, 99.0, 9.0),
        "value",
        &format!("{above} 9"),
    );
    assert_rejected(
        &s::percentile(10.0, 99.0, 10.0),
        "value",
        &format!("{above} 10"),
    );
    let below = "must be below the mean (10) for a percentile below the median, got 11";
    assert_rejected(&s::percentile(10.0, 5.0, 11.0), "value", below);
    assert_rejected(
        &s::percentile(NAN, 5.0, 11.0),
        "mean",
        "must be finite, got NaN",
    );
    let fraction = |p: f64, x_p: f64| sigma_from_percentile(10.0, p, x_p).expect_err("invalid");
    let e = fraction(0.5, 12.0);
    assert_eq!(
        (e.path(), e.message()),
        ("percentile", "must be in (0, 1) and not 0.5, got 0.5")
    );
    let e = fraction(1.0, 12.0);
    assert_eq!(
        (e.path(), e.message()),
        ("percentile", "must be in (0, 1) and not 0.5, got 1")
    );
    let e = fraction(0.99, INF);
    assert_eq!(
        (e.path(), e.message()),
        ("value", "must be finite, got inf")
    );
}

#[test]
fn bad_mixtures_are_rejected_with_nested_paths() {
    let n01 = || s::normal(0.0, 1.0);
    let weight = "components[0].weight";
    assert_rejected(&s::mixture(&[]), "components", "must not be empty");
    assert_rejected(
        &s::mixture(&[(0.0, n01()), (1.0, n01())]),
        weight,
        "must be in (0, 1], got 0",
    );
    assert_rejected(
        &s::mixture(&[(1.5, n01())]),
        weight,
        "must be in (0, 1], got 1.5",
    );
    assert_rejected(
        &s::mixture(&[(NAN, n01())]),
        weight,
        "must be in (0, 1], got NaN",
    );
    let sum = "weights must sum to 1 (within 1e-6), got 0.9";
    assert_rejected(
        &s::mixture(&[(0.5, n01()), (0.4, n01())]),
        "components",
        sum,
    );
    let bad_sigma = s::mixture(&[(0.5, n01()), (0.5, s::lognormal(0.0, -1.0, 0.0))]);
    assert_rejected(
        &bad_sigma,
        "components[1].distribution.sigma",
        "must be > 0, got -1",
    );
    let nested = s::mixture(&[(1.0, s::mixture(&[(0.5, n01()), (0.5, s::normal(0.0, 0.0))]))]);
    let path = "components[0].distribution.components[1].distribution.stdDev";
    assert_rejected(&nested, path, "must be > 0, got 0");
    // Within the tolerance is accepted (and renormalized).
    let d = build(&s::mixture(&[(0.5, n01()), (0.500_000_5, n01())]));
    assert_close(d.cdf(0.0), 0.5, 1e-9);
}

#[test]
fn bad_empirical_specs_are_rejected() {
    let one = "give exactly one of `samples` and `file`";
    assert_rejected(&s::empirical(None, None, None), "samples", one);
    assert_rejected(
        &s::empirical(Some(&[1.0]), Some("x.csv"), None),
        "samples",
        one,
    );
    let column = "is only allowed with `file`";
    assert_rejected(
        &s::empirical(Some(&[1.0]), None, Some("a")),
        "column",
        column,
    );
    assert_rejected(&s::samples(&[]), "samples", "must not be empty");
    assert_rejected(
        &s::samples(&[1.0, 2.0, NAN]),
        "samples[2]",
        "must be finite, got NaN",
    );
}

#[test]
fn empirical_reads_a_csv_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    let load = |file: &str, column: Option<&str>| {
        Distribution::from_spec(&s::empirical(None, Some(file), column), dir.path())
    };
    let shown = |name: &str| dir.path().join(name).display().to_string();
    let rejected = |file: &str, column: Option<&str>| load(file, column).expect_err("invalid");

    write("lat.csv", "ts, latency_ms\n1, 12.5\n2, 10\n3, 15\n");
    let d = load("lat.csv", Some("latency_ms")).expect("valid");
    assert_eq!(
        (d.mean(), d.support_min(), d.quantile(1.0)),
        (12.5, 10.0, 15.0)
    );
    assert_eq!(load("lat.csv", None).expect("valid").mean(), 2.0);

    let e = rejected("missing.csv", None);
    assert_eq!(e.path(), "file");
    assert!(
        e.message()
            .starts_with(&format!("cannot read {}: ", shown("missing.csv"))),
        "{e}"
    );
    let e = rejected("lat.csv", Some("rtt"));
    let message = format!(
        "no column \"rtt\" in {} (columns: ts, latency_ms)",
        shown("lat.csv")
    );
    assert_eq!((e.path(), e.message()), ("column", message.as_str()));

    write("bad.csv", "a\n1\nabc\n");
    let e = rejected("bad.csv", None);
    let message = format!(
        "{} row 2: column \"a\" must be a finite number, got \"abc\"",
        shown("bad.csv")
    );
    assert_eq!((e.path(), e.message()), ("file", message.as_str()));
    write("inf.csv", "a\ninf\n");
    let e = rejected("inf.csv", None);
    assert!(
        e.message()
            .ends_with("row 1: column \"a\" must be a finite number, got \"inf\""),
        "{e}"
    );
    write("ragged.csv", "a,b\n1,2\n3\n");
    let e = rejected("ragged.csv", None);
    assert!(
        e.message()
            .starts_with(&format!("{} row 2: ", shown("ragged.csv"))),
        "{e}"
    );
    write("empty.csv", "a\n");
    let e = rejected("empty.csv", None);
    let message = format!("{}: column \"a\" has no samples", shown("empty.csv"));
    assert_eq!((e.path(), e.message()), ("file", message.as_str()));
}

#[test]
fn yaml_spec_validates() {
    let yaml = "
type: mixture
components:
  - weight: 0.5
    distribution: {type: normal, mean: 12.6, stdDev: 5.82, min: 0}
  - weight: 0.5
    distribution: {type: logNormal, mu: 1.2, sigma: 0.3, shift: 1}
";
    let spec: DistSpec = serde_saphyr::from_str(yaml).expect("parses");
    let d = build(&spec);
    let truncated = build(&s::truncated(12.6, 5.82, Some(0.0), None)).mean();
    assert_close(
        d.mean(),
        0.5 * truncated + 0.5 * (1.0 + 1.245_f64.exp()),
        1e-12,
    );
    assert_eq!(d.support_min(), 0.0);
}
