//! Model selection: fit several families to the same samples and rank them by BIC.
//!
//! [`fit_samples`] is what `kubetwin fit SAMPLES.csv` calls. Each family is fitted by maximum
//! likelihood ([`mle`], [`mixture`]), scored by AIC, BIC, the Kolmogorov–Smirnov D and the
//! Anderson–Darling A² against the fitted CDF, and the fits are sorted by BIC (smallest
//! first; ties keep the requested order). A family that cannot apply to the data (a
//! log-normal for data with zeros, say) does not fail the call: it is listed in
//! [`FitReport::skipped`] with its reason.

use std::path::Path;

use serde::Serialize;

use crate::fit::dist::Distribution;
use crate::fit::family::{Family, FitError};
use crate::fit::mle::{self, Estimate};
use crate::fit::{gof, mixture};
use crate::model::dist::DistSpec;

/// One fitted family with its scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fit {
    /// The family fitted.
    pub family: Family,
    /// The fitted distribution, ready to paste into a scenario (in the data's unit,
    /// milliseconds for times).
    pub spec: DistSpec,
    /// The maximised log-likelihood. For samples: `sum ln f(x_i)`; for histograms: the
    /// multinomial `sum n_j ln P(bucket j)` (without the constant), so values from samples
    /// and from histograms are not comparable with each other.
    pub log_likelihood: f64,
    /// The number of free parameters (`3k - 1` for a `k`-component mixture).
    pub parameters: usize,
    /// Akaike's information criterion, `2 parameters - 2 log_likelihood`.
    pub aic: f64,
    /// The Bayesian information criterion, `parameters ln n - 2 log_likelihood`; the ranking
    /// key.
    pub bic: f64,
    /// The Kolmogorov–Smirnov D against the fitted CDF (for histograms: at bucket bounds).
    pub ks: f64,
    /// The Anderson–Darling A² against the fitted CDF (for histograms: the grouped-data A²).
    pub anderson_darling: f64,
}

impl Fit {
    /// The number of mixture components of `spec` (1 for a single distribution).
    pub fn components(&self) -> usize {
        match &self.spec {
            DistSpec::Mixture { components } => components.len(),
            _ => 1,
        }
    }

    /// The fitted `p`-quantile (`p` in `[0, 1]`; NaN outside), e.g. to print next to a
    /// histogram's `histogram_quantile`.
    ///
    /// # Errors
    /// [`FitError::Distribution`] if the spec cannot be built into a distribution.
    pub fn quantile(&self, p: f64) -> Result<f64, FitError> {
        Ok(distribution(self.family, &self.spec)?.quantile(p))
    }
}

/// The fits that succeeded, best first, and the families that were skipped.
#[derive(Debug)]
pub struct FitReport {
    /// Successful fits sorted by BIC, smallest (best) first; never empty.
    pub fits: Vec<Fit>,
    /// Families that could not be fitted, in the order requested, with the reason.
    pub skipped: Vec<(Family, FitError)>,
}

impl FitReport {
    /// The best fit (smallest BIC).
    pub fn best(&self) -> &Fit {
        &self.fits[0]
    }

    /// Sorts `fits` by BIC and checks that at least one family succeeded.
    pub(crate) fn ranked(
        mut fits: Vec<Fit>,
        skipped: Vec<(Family, FitError)>,
    ) -> Result<Self, FitError> {
        if fits.is_empty() {
            let reasons = skipped
                .iter()
                .map(|(f, e)| format!("{f}: {e}"))
                .collect::<Vec<_>>();
            return Err(FitError::NothingFitted {
                reasons: reasons.join("; "),
            });
        }
        fits.sort_by(|a, b| a.bic.total_cmp(&b.bic));
        Ok(FitReport { fits, skipped })
    }
}

/// Builds the sampler of a fitted spec (specs from fits never reference files).
pub(crate) fn distribution(family: Family, spec: &DistSpec) -> Result<Distribution, FitError> {
    Distribution::from_spec(spec, Path::new("."))
        .map_err(|source| FitError::Distribution { family, source })
}

/// Fits one family to samples by maximum likelihood.
///
/// # Errors
/// As the family's estimator in [`mle`] or [`mixture`].
pub fn estimate(family: Family, samples: &[f64]) -> Result<Estimate, FitError> {
    match family {
        Family::Exponential => mle::exponential(samples),
        Family::Normal => mle::normal(samples),
        Family::LogNormal => mle::log_normal(samples),
        Family::Gamma => mle::gamma(samples),
        Family::Weibull => mle::weibull(samples),
        Family::Pareto => mle::pareto(samples),
        Family::Gmm => mixture::gaussian_mixture(samples).map(|m| m.estimate),
        Family::LogNormalMixture => mixture::log_normal_mixture(samples).map(|m| m.estimate),
    }
}

/// Fits every family in `families` (duplicates ignored) to `samples` and ranks them by BIC.
///
/// # Errors
/// [`FitError::NoFamilies`] for an empty list; [`FitError::NoData`], [`FitError::NonFinite`]
/// or [`FitError::Constant`] for unusable samples; [`FitError::NothingFitted`] when every
/// family was skipped.
pub fn fit_samples(samples: &[f64], families: &[Family]) -> Result<FitReport, FitError> {
    if families.is_empty() {
        return Err(FitError::NoFamilies);
    }
    mle::validate_samples(samples)?;
    let n = samples.len() as f64;
    fit_and_rank(
        families,
        n,
        |family| estimate(family, samples),
        |cdf| {
            (
                gof::kolmogorov_smirnov(samples, cdf),
                gof::anderson_darling(samples, cdf),
            )
        },
    )
}

/// Fits every distinct family in `families` with `estimate`, scores each fit on `n`
/// observations (AIC, BIC, and `(KS, A²)` from `gof` given the fitted CDF), and ranks
/// them; a family whose estimate fails is reported as skipped with the reason.
pub(crate) fn fit_and_rank(
    families: &[Family],
    n: f64,
    mut estimate: impl FnMut(Family) -> Result<Estimate, FitError>,
    gof: impl Fn(&dyn Fn(f64) -> f64) -> (f64, f64),
) -> Result<FitReport, FitError> {
    let (mut fits, mut skipped) = (Vec::new(), Vec::new());
    for (i, &family) in families.iter().enumerate() {
        if families[..i].contains(&family) {
            continue;
        }
        let scored = estimate(family).and_then(|e| {
            let dist = distribution(family, &e.spec)?;
            let (ks, anderson_darling) = gof(&|x| dist.cdf(x));
            Ok(Fit {
                family,
                aic: gof::aic(e.log_likelihood, e.parameters),
                bic: gof::bic(e.log_likelihood, e.parameters, n),
                ks,
                anderson_darling,
                spec: e.spec,
                log_likelihood: e.log_likelihood,
                parameters: e.parameters,
            })
        });
        match scored {
            Ok(fit) => fits.push(fit),
            Err(reason) => skipped.push((family, reason)),
        }
    }
    FitReport::ranked(fits, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::Distribution as _;
    use rand_pcg::Pcg64;

    fn log_normal_samples(mu: f64, sigma: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let d = rand_distr::LogNormal::new(mu, sigma).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn log_normal_data_selects_log_normal_with_parameters_within_4_standard_errors() {
        let xs = log_normal_samples(1.5, 0.4, 10_000, 3);
        let report = fit_samples(&xs, &Family::ALL).unwrap();
        let best = report.best();
        assert_eq!(best.family, Family::LogNormal, "ranking: {:?}", report.fits);
        let DistSpec::LogNormal { mu, sigma, .. } = best.spec else {
            panic!("{:?}", best.spec)
        };
        // The MLE's standard errors at n = 10,000: sigma/sqrt(n) = 0.004 for mu and
        // sigma/sqrt(2n) = 0.00283 for sigma. Four of them (a miss has probability
        // ~6e-5 for a random seed; this one is fixed) instead of the 5% (19 and 7 standard
        // errors) this test allowed before.
        let n = xs.len() as f64;
        assert!((mu - 1.5).abs() <= 4.0 * 0.4 / n.sqrt(), "mu {mu}");
        assert!(
            (sigma - 0.4).abs() <= 4.0 * 0.4 / (2.0 * n).sqrt(),
            "sigma {sigma}"
        );
        // KS D of the right model at n = 10,000 is far below the 1% critical value 1.63/sqrt(n).
        assert!(best.ks < 1.63 / 100.0, "ks {}", best.ks);
        assert!(report.fits.windows(2).all(|w| w[0].bic <= w[1].bic));
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let median = best.quantile(0.5).unwrap();
        assert!((median - mu.exp()).abs() < 1e-3 * median, "median {median}");
    }

    #[test]
    fn families_outside_their_support_are_skipped_with_a_reason() {
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i) / 10.0 - 5.0).collect();
        let report =
            fit_samples(&xs, &[Family::LogNormal, Family::Normal, Family::Normal]).unwrap();
        assert_eq!(report.fits.len(), 1);
        assert_eq!(report.best().family, Family::Normal);
        assert!(matches!(
            report.skipped.as_slice(),
            [(Family::LogNormal, FitError::OutOfSupport { index: 0, .. })]
        ));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            fit_samples(&[1.0, 2.0], &[]),
            Err(FitError::NoFamilies)
        ));
        assert!(matches!(
            fit_samples(&[], &Family::ALL),
            Err(FitError::NoData { .. })
        ));
        assert!(matches!(
            fit_samples(&[1.0, f64::INFINITY], &Family::ALL),
            Err(FitError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            fit_samples(&[7.0; 10], &Family::ALL),
            Err(FitError::Constant { .. })
        ));
        let err = fit_samples(&[-1.0, 2.0], &[Family::Gamma, Family::Weibull]).unwrap_err();
        assert!(
            matches!(&err, FitError::NothingFitted { reasons } if reasons.contains("gamma") && reasons.contains("weibull")),
            "{err}"
        );
    }
}
