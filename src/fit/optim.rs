//! A small derivative-free minimiser (Nelder–Mead), for likelihoods without closed forms.
//!
//! The objective functions here have one to three parameters, so the classic simplex method
//! (reflection 1, expansion 2, contraction 1/2, shrink 1/2, as in Lagarias et al. 1998) is
//! enough; a crate such as `argmin` would bring a framework for a few dozen lines. The method
//! is restarted from its best point until a restart no longer improves the value, which
//! guards against the simplex collapsing early. Non-finite objective values count as `+inf`,
//! so an objective can reject a point by returning `f64::INFINITY` or NaN.

/// The outcome of [`minimize`].
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    /// The best point found.
    pub point: Vec<f64>,
    /// The objective at `point` (`+inf` if no finite value was ever seen).
    pub value: f64,
    /// Number of objective evaluations spent.
    pub evaluations: usize,
    /// Whether the simplex met the tolerance before the evaluation budget ran out.
    pub converged: bool,
}

/// Minimises `f` from `start`, with an initial simplex of `start` plus `step` along each
/// axis, until the simplex spans at most `value_tolerance` in value (relative to `1 + |f|`)
/// and at most `point_tolerance` in every coordinate, or `max_evaluations` is spent.
pub fn minimize(
    mut f: impl FnMut(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    value_tolerance: f64,
    point_tolerance: f64,
    max_evaluations: usize,
) -> Minimum {
    let mut eval = |x: &[f64]| {
        let v = f(x);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let mut best = start.to_vec();
    let mut value = eval(&best);
    let mut evaluations = 1;
    let mut converged = false;
    while evaluations + start.len() + 2 <= max_evaluations {
        let budget = max_evaluations - evaluations;
        let tolerance = (value_tolerance, point_tolerance);
        let (point, v, done, spent) = simplex(&mut eval, &best, step, tolerance, budget);
        evaluations += spent;
        let improved = v < value - value_tolerance * (1.0 + value.abs());
        if v <= value {
            best = point;
            value = v;
        }
        converged = done;
        if !done || !improved {
            break;
        }
    }
    Minimum {
        point: best,
        value,
        evaluations,
        converged,
    }
}

/// One Nelder–Mead run of at most `budget` evaluations (it may overshoot by one shrink);
/// returns the best vertex, its value, whether it converged and the evaluations spent.
fn simplex(
    eval: &mut impl FnMut(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    (value_tolerance, point_tolerance): (f64, f64),
    budget: usize,
) -> (Vec<f64>, f64, bool, usize) {
    let dim = start.len();
    let mut vertices: Vec<(Vec<f64>, f64)> = (0..=dim)
        .map(|i| {
            let mut x = start.to_vec();
            if i > 0 {
                x[i - 1] += step;
            }
            let v = eval(&x);
            (x, v)
        })
        .collect();
    let mut spent = dim + 1;
    let along = |from: &[f64], to: &[f64], t: f64| -> Vec<f64> {
        from.iter().zip(to).map(|(a, b)| a + t * (b - a)).collect()
    };
    loop {
        vertices.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (vertices[0].1, vertices[dim].1);
        let spread_x = (1..=dim)
            .flat_map(|i| {
                vertices[i]
                    .0
                    .iter()
                    .zip(&vertices[0].0)
                    .map(|(a, b)| (a - b).abs())
            })
            .fold(0.0, f64::max);
        let flat = best.is_finite() && worst - best <= value_tolerance * (1.0 + best.abs());
        if flat && spread_x <= point_tolerance {
            return (vertices[0].0.clone(), best, true, spent);
        }
        if spent >= budget {
            return (vertices[0].0.clone(), best, false, spent);
        }
        let mut centroid = vec![0.0; dim];
        for (x, _) in &vertices[..dim] {
            for (c, xi) in centroid.iter_mut().zip(x) {
                *c += xi / dim as f64;
            }
        }
        let reflected = along(&centroid, &vertices[dim].0, -1.0);
        let fr = eval(&reflected);
        spent += 1;
        let second_worst = vertices[dim - 1].1;
        if fr < best {
            let expanded = along(&centroid, &vertices[dim].0, -2.0);
            let fe = eval(&expanded);
            spent += 1;
            vertices[dim] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
            continue;
        }
        if fr < second_worst {
            vertices[dim] = (reflected, fr);
            continue;
        }
        let (contracted, limit) = if fr < worst {
            (along(&centroid, &reflected, 0.5), fr)
        } else {
            (along(&centroid, &vertices[dim].0, 0.5), worst)
        };
        let fc = eval(&contracted);
        spent += 1;
        if fc < limit || (fc == limit && fc.is_finite()) {
            vertices[dim] = (contracted, fc);
            continue;
        }
        let anchor = vertices[0].0.clone();
        for vertex in vertices.iter_mut().skip(1) {
            let x = along(&anchor, &vertex.0, 0.5);
            let v = eval(&x);
            *vertex = (x, v);
        }
        spent += dim;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_rosenbrock() {
        let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let m = minimize(rosenbrock, &[-1.2, 1.0], 0.5, 1e-12, 1e-8, 20_000);
        assert!(m.converged, "{m:?}");
        assert!(
            (m.point[0] - 1.0).abs() < 1e-4 && (m.point[1] - 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }

    #[test]
    fn one_dimension_and_rejected_regions() {
        // Minimum of (x - 3)^2 restricted to x > 2 (NaN elsewhere), from x = 5.
        let f = |x: &[f64]| {
            if x[0] > 2.0 {
                (x[0] - 3.0).powi(2)
            } else {
                f64::NAN
            }
        };
        let m = minimize(f, &[5.0], 1.0, 1e-12, 1e-8, 5_000);
        assert!((m.point[0] - 3.0).abs() < 1e-5, "{m:?}");
    }

    #[test]
    fn budget_exhaustion_is_reported() {
        let m = minimize(
            |x: &[f64]| x[0].powi(2) + x[1].powi(2),
            &[100.0, 100.0],
            1.0,
            1e-15,
            1e-15,
            20,
        );
        assert!(!m.converged);
        assert!(m.evaluations <= 25, "{}", m.evaluations);
    }
}
