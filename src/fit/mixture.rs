//! Gaussian and log-normal mixtures by expectation–maximisation, the number of components
//! chosen by BIC.
//!
//! `k = 1` is the closed-form normal MLE. For each `k` in `2..=max_components(n)` EM starts
//! from a deterministic split of the sorted data into `k` equal-count chunks (each chunk's
//! weight, mean and variance), runs on standardised data (so the variance floor and the
//! tolerance do not depend on units), and stops when the log-likelihood gains less than
//! `1e-6` per sample (scikit-learn's default is `1e-3`) or after 500 iterations. A
//! component's variance is floored at `1e-6` of the data's variance so that no component
//! collapses onto a single point; a `k` at which a component empties or ends on the floor
//! (a spike on tied values, which would win by an unbounded likelihood) is skipped. The `k` with
//! the smallest BIC wins (the smaller `k` on a tie). The log-normal mixture is the same
//! procedure on `ln x`, with the Jacobian `-sum(ln x)` added to the log-likelihood.

use crate::fit::family::{Family, FitError};
use crate::fit::gof;
use crate::fit::mle::{Estimate, mean_var, validate_samples};
use crate::model::dist::{DistSpec, MixtureComponent};

/// The largest number of components tried.
pub const MAX_COMPONENTS: usize = 5;
const MAX_ITERATIONS: usize = 500;
const TOLERANCE_PER_SAMPLE: f64 = 1e-6;
const VARIANCE_FLOOR: f64 = 1e-6;

/// One Gaussian component (of `x` for a Gaussian mixture, of `ln x` for a log-normal one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Component {
    /// Mixing probability, in `(0, 1]`.
    pub weight: f64,
    /// Mean of the component.
    pub mean: f64,
    /// Standard deviation of the component, `> 0`.
    pub std_dev: f64,
}

/// A fitted mixture with the evidence for its number of components.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureEstimate {
    /// The chosen model; its spec is a plain normal (log-normal) when one component wins.
    pub estimate: Estimate,
    /// The chosen components, sorted by mean.
    pub components: Vec<Component>,
    /// `(k, BIC)` for `k = 1` and every `k` that EM fitted, in increasing `k`.
    pub bic_by_k: Vec<(usize, f64)>,
}

impl MixtureEstimate {
    /// A k-component estimate: 3k - 1 free parameters (k means, k deviations, k - 1 weights).
    fn new(
        spec: DistSpec,
        log_likelihood: f64,
        components: Vec<Component>,
        bic_by_k: Vec<(usize, f64)>,
    ) -> Self {
        let parameters = 3 * components.len() - 1;
        MixtureEstimate {
            estimate: Estimate {
                spec,
                log_likelihood,
                parameters,
            },
            components,
            bic_by_k,
        }
    }
}

/// The number of components tried for `n` samples: `n / 10`, clamped to `1..=5`.
pub fn max_components(n: usize) -> usize {
    (n / 10).clamp(1, MAX_COMPONENTS)
}

/// Fits a Gaussian mixture to `samples`, choosing `k` by BIC.
///
/// # Errors
/// Invalid samples (see [`validate_samples`]).
pub fn gaussian_mixture(samples: &[f64]) -> Result<MixtureEstimate, FitError> {
    validate_samples(samples)?;
    let (components, log_likelihood, bic_by_k) = select_k(samples);
    let spec = to_spec(&components, |c| DistSpec::Normal {
        mean: c.mean,
        std_dev: c.std_dev,
        min: None,
        max: None,
    });
    Ok(MixtureEstimate::new(
        spec,
        log_likelihood,
        components,
        bic_by_k,
    ))
}

/// Fits a log-normal mixture to `samples` (a Gaussian mixture of `ln x`), choosing `k` by BIC.
/// The components' `mean`/`std_dev` are the `mu`/`sigma` of each log-normal.
///
/// # Errors
/// As [`gaussian_mixture`], plus [`FitError::OutOfSupport`] for a sample `<= 0`.
pub fn log_normal_mixture(samples: &[f64]) -> Result<MixtureEstimate, FitError> {
    validate_samples(samples)?;
    if let Some((index, &value)) = samples.iter().enumerate().find(|(_, x)| **x <= 0.0) {
        return Err(FitError::OutOfSupport {
            family: Family::LogNormalMixture,
            needs: "> 0",
            index,
            value,
        });
    }
    let logs: Vec<f64> = samples.iter().map(|x| x.ln()).collect();
    validate_samples(&logs)?;
    let (components, ll_logs, bic_by_k) = select_k(&logs);
    let spec = to_spec(&components, |c| DistSpec::LogNormal {
        mu: c.mean,
        sigma: c.std_dev,
        shift: 0.0,
    });
    let log_likelihood = ll_logs - logs.iter().sum::<f64>();
    Ok(MixtureEstimate::new(
        spec,
        log_likelihood,
        components,
        bic_by_k,
    ))
}

fn to_spec(components: &[Component], one: impl Fn(&Component) -> DistSpec) -> DistSpec {
    match components {
        [single] => one(single),
        _ => DistSpec::Mixture {
            components: components
                .iter()
                .map(|c| MixtureComponent {
                    weight: c.weight,
                    distribution: one(c),
                })
                .collect(),
        },
    }
}

type Selected = (Vec<Component>, f64, Vec<(usize, f64)>);

/// Fits `k = 1` in closed form and `k >= 2` by EM, and keeps the smallest BIC.
fn select_k(ys: &[f64]) -> Selected {
    let n = ys.len() as f64;
    let (center, var) = mean_var(ys.iter().copied());
    let scale = var.sqrt();
    // k = 1 is the closed-form MLE, computed as `mle::normal` does: it then ties exactly with
    // the single family and the ranking keeps the requested order.
    let ll_single = -0.5 * n * ((std::f64::consts::TAU * var).ln() + 1.0);
    let single = Component {
        weight: 1.0,
        mean: center,
        std_dev: scale,
    };
    let mut best = (gof::bic(ll_single, 2, n), vec![single], ll_single);
    let mut bic_by_k = vec![(1, best.0)];
    let mut z: Vec<f64> = ys.iter().map(|y| (y - center) / scale).collect();
    z.sort_by(f64::total_cmp);
    for k in 2..=max_components(ys.len()) {
        let Some((fitted, ll_z)) = em(&z, k) else {
            continue;
        };
        let ll = ll_z - n * scale.ln();
        let bic = gof::bic(ll, 3 * k - 1, n);
        bic_by_k.push((k, bic));
        if bic < best.0 {
            let mut comps: Vec<Component> = fitted
                .iter()
                .map(|c| Component {
                    weight: c.weight,
                    mean: center + scale * c.mean,
                    std_dev: scale * c.std_dev,
                })
                .collect();
            comps.sort_by(|a, b| a.mean.total_cmp(&b.mean));
            best = (bic, comps, ll);
        }
    }
    (best.1, best.2, bic_by_k)
}

/// EM on sorted, standardised data; `None` if a component empties, ends on the variance
/// floor, or the likelihood is not finite.
fn em(z: &[f64], k: usize) -> Option<(Vec<Component>, f64)> {
    let n = z.len();
    let mut comps: Vec<Component> = (0..k)
        .map(|j| {
            let chunk = &z[j * n / k..(j + 1) * n / k];
            let (mean, var) = mean_var(chunk.iter().copied());
            Component {
                weight: chunk.len() as f64 / n as f64,
                mean,
                std_dev: var.max(VARIANCE_FLOOR).sqrt(),
            }
        })
        .collect();
    let half_ln_tau = 0.5 * std::f64::consts::TAU.ln();
    let mut previous = f64::NEG_INFINITY;
    let mut floored = false;
    let mut log_r = vec![0.0; k];
    for iteration in 0..=MAX_ITERATIONS {
        let consts: Vec<f64> = comps
            .iter()
            .map(|c| c.weight.ln() - c.std_dev.ln() - half_ln_tau)
            .collect();
        let mut ll = 0.0;
        let mut sums = vec![(0.0, 0.0, 0.0); k];
        for &x in z {
            for (j, c) in comps.iter().enumerate() {
                log_r[j] = consts[j] - 0.5 * ((x - c.mean) / c.std_dev).powi(2);
            }
            let top = log_r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for l in log_r.iter_mut() {
                *l = (*l - top).exp();
                total += *l;
            }
            ll += top + total.ln();
            for (j, s) in sums.iter_mut().enumerate() {
                let r = log_r[j] / total;
                s.0 += r;
                s.1 += r * x;
                s.2 += r * x * x;
            }
        }
        if !ll.is_finite() {
            return None;
        }
        if ll - previous < TOLERANCE_PER_SAMPLE * n as f64 || iteration == MAX_ITERATIONS {
            return (!floored).then_some((comps, ll));
        }
        previous = ll;
        floored = false;
        for (c, &(nj, sx, sxx)) in comps.iter_mut().zip(&sums) {
            if nj < 1e-9 * n as f64 {
                return None;
            }
            let mean = sx / nj;
            let var = sxx / nj - mean * mean;
            floored |= var < VARIANCE_FLOOR;
            *c = Component {
                weight: nj / n as f64,
                mean,
                std_dev: var.max(VARIANCE_FLOOR).sqrt(),
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution as _, Normal};
    use rand_pcg::Pcg64;

    fn mixture_samples(parts: &[(f64, f64, f64)], n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let uniform = rand_distr::Uniform::new(0.0, 1.0).unwrap();
        (0..n)
            .map(|_| {
                let mut u: f64 = uniform.sample(&mut rng);
                let mut chosen = parts[parts.len() - 1];
                for &part in parts {
                    if u < part.0 {
                        chosen = part;
                        break;
                    }
                    u -= part.0;
                }
                Normal::new(chosen.1, chosen.2).unwrap().sample(&mut rng)
            })
            .collect()
    }

    fn within(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs(),
            "got {got}, want {want} ± {rel}"
        );
    }

    #[test]
    fn two_gaussians_give_k_2_and_parameters_within_5_percent() {
        let truth = [(0.3, 5.0, 1.0), (0.7, 12.0, 2.0)];
        let xs = mixture_samples(&truth, 10_000, 7);
        let fit = gaussian_mixture(&xs).unwrap();
        assert_eq!(fit.components.len(), 2, "BIC by k: {:?}", fit.bic_by_k);
        for (c, &(w, m, s)) in fit.components.iter().zip(&truth) {
            within(c.weight, w, 0.05);
            within(c.mean, m, 0.05);
            within(c.std_dev, s, 0.05);
        }
        assert_eq!(fit.estimate.parameters, 5);
        assert!(
            matches!(&fit.estimate.spec, DistSpec::Mixture { components } if components.len() == 2)
        );
    }

    #[test]
    fn log_normal_mixture_includes_the_jacobian() {
        let logs = mixture_samples(&[(0.5, 1.0, 0.2), (0.5, 2.5, 0.3)], 4_000, 8);
        let xs: Vec<f64> = logs.iter().map(|y| y.exp()).collect();
        let on_logs = gaussian_mixture(&logs).unwrap();
        let fit = log_normal_mixture(&xs).unwrap();
        // ln(exp(y)) may differ from y in the last bit, hence the 1e-9 tolerances.
        assert_eq!(fit.components.len(), on_logs.components.len());
        for (a, b) in fit.components.iter().zip(&on_logs.components) {
            within(a.weight, b.weight, 1e-9);
            within(a.mean, b.mean, 1e-9);
            within(a.std_dev, b.std_dev, 1e-9);
        }
        let jacobian: f64 = logs.iter().sum();
        within(
            fit.estimate.log_likelihood,
            on_logs.estimate.log_likelihood - jacobian,
            1e-9,
        );
        within(fit.components[1].mean, 2.5, 0.05);
    }

    #[test]
    fn one_component_is_a_plain_normal_and_bad_data_is_rejected() {
        let xs = mixture_samples(&[(1.0, 3.0, 0.5)], 2_000, 9);
        let fit = gaussian_mixture(&xs).unwrap();
        assert_eq!(fit.components.len(), 1, "BIC by k: {:?}", fit.bic_by_k);
        assert!(matches!(fit.estimate.spec, DistSpec::Normal { .. }));
        assert_eq!(max_components(25), 2);
        assert!(matches!(
            gaussian_mixture(&[4.0; 50]),
            Err(FitError::Constant { .. })
        ));
        assert!(matches!(
            log_normal_mixture(&[1.0, 2.0, -3.0]),
            Err(FitError::OutOfSupport { index: 2, .. })
        ));
    }
}
