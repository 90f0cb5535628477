//! Prometheus histograms: the bucket type, its validation, and `histogram_quantile`.
//!
//! A classic Prometheus histogram is a set of `_bucket` series with cumulative counts and an
//! `le` (upper bound) label, the last one `le="+Inf"`. [`histogram_quantile`] reproduces
//! PromQL's estimate so that `kubetwin fit` can print it next to the fitted quantiles of
//! [`fit_histogram`](crate::fit::censored::fit_histogram).

use serde::{Deserialize, Serialize};

use crate::fit::family::FitError;

/// One bucket of a Prometheus histogram (a `_bucket` series): the number of observations
/// `<= upper_bound`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// The `le` label: inclusive upper bound (`f64::INFINITY` for `le="+Inf"`).
    pub upper_bound: f64,
    /// Observations `<= upper_bound` (cumulative, as Prometheus exposes them).
    pub cumulative_count: f64,
}

/// Checks that buckets are sorted by strictly increasing bound, have finite non-decreasing
/// counts, end with `+Inf` and count something; returns the total count.
///
/// # Errors
/// [`FitError::NoData`], [`FitError::BucketBound`], [`FitError::BucketCount`] or
/// [`FitError::NoInfBucket`].
pub fn validate_buckets(buckets: &[Bucket]) -> Result<f64, FitError> {
    let last = buckets
        .last()
        .ok_or(FitError::NoData { what: "no buckets" })?;
    let (mut bound, mut count) = (f64::NEG_INFINITY, 0.0);
    for (index, b) in buckets.iter().enumerate() {
        if b.upper_bound.is_nan() || b.upper_bound <= bound {
            return Err(FitError::BucketBound {
                index,
                bound: b.upper_bound,
                previous: bound,
            });
        }
        if !b.cumulative_count.is_finite() || b.cumulative_count < count {
            return Err(FitError::BucketCount {
                index,
                count: b.cumulative_count,
                previous: count,
            });
        }
        (bound, count) = (b.upper_bound, b.cumulative_count);
    }
    if last.upper_bound != f64::INFINITY {
        return Err(FitError::NoInfBucket {
            last: last.upper_bound,
        });
    }
    if count <= 0.0 {
        return Err(FitError::NoData {
            what: "the histogram counts no observations",
        });
    }
    Ok(count)
}

/// Prometheus' `histogram_quantile(q, ...)` for one histogram: find the bucket where the
/// cumulative count reaches `q * total` and interpolate linearly inside it, the first bucket
/// starting at 0 when its bound is positive; a quantile in the `+Inf` bucket is the highest
/// finite bound.
///
/// Returns `None` where Prometheus returns NaN (no `+Inf` bucket, fewer than two buckets, no
/// observations) and also for `q` outside `[0, 1]` (Prometheus: `±Inf`) and for buckets that
/// [`validate_buckets`] rejects (Prometheus would sort and repair them).
pub fn histogram_quantile(q: f64, buckets: &[Bucket]) -> Option<f64> {
    let total = validate_buckets(buckets).ok()?;
    if !(0.0..=1.0).contains(&q) || buckets.len() < 2 {
        return None;
    }
    let rank = q * total;
    let b = buckets.iter().position(|x| x.cumulative_count >= rank)?;
    if b == buckets.len() - 1 {
        return Some(buckets[b - 1].upper_bound);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return Some(buckets[0].upper_bound);
    }
    let (start, below) = match b {
        0 => (0.0, 0.0),
        _ => (buckets[b - 1].upper_bound, buckets[b - 1].cumulative_count),
    };
    let (end, count) = (buckets[b].upper_bound, buckets[b].cumulative_count - below);
    Some(start + (end - start) * ((rank - below) / count))
}

/// Observations `<=` the bound below bucket `i` (0 for the first bucket).
pub(crate) fn below(buckets: &[Bucket], i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        buckets[i - 1].cumulative_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(upper_bound: f64, cumulative_count: f64) -> Bucket {
        Bucket {
            upper_bound,
            cumulative_count,
        }
    }

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let b = [
            bucket(1.0, 3.0),
            bucket(2.0, 7.0),
            bucket(f64::INFINITY, 10.0),
        ];
        assert_eq!(histogram_quantile(0.5, &b), Some(1.5)); // rank 5: 1 + (5 - 3) / 4
        assert_eq!(histogram_quantile(0.2, &b), Some(2.0 / 3.0)); // rank 2 in (0, 1]
        assert_eq!(histogram_quantile(0.95, &b), Some(2.0)); // +Inf bucket: highest finite bound
        assert_eq!(histogram_quantile(1.5, &b), None);
        assert_eq!(histogram_quantile(f64::NAN, &b), None);
        assert_eq!(histogram_quantile(0.5, &b[..2]), None); // no +Inf bucket
        assert_eq!(histogram_quantile(0.5, &[bucket(f64::INFINITY, 4.0)]), None);
        assert_eq!(
            histogram_quantile(0.5, &[bucket(-1.0, 2.0), bucket(f64::INFINITY, 4.0)]),
            Some(-1.0)
        );
    }

    #[test]
    fn validation_returns_the_total_and_names_bad_buckets() {
        let inf = f64::INFINITY;
        assert_eq!(
            validate_buckets(&[bucket(1.0, 2.0), bucket(inf, 5.0)]).unwrap(),
            5.0
        );
        let err = validate_buckets(&[bucket(1.0, 2.0), bucket(1.0, 3.0), bucket(inf, 5.0)]);
        assert!(matches!(err, Err(FitError::BucketBound { index: 1, .. })));
        let err = validate_buckets(&[bucket(1.0, 2.0), bucket(inf, inf)]);
        assert!(matches!(err, Err(FitError::BucketCount { index: 1, .. })));
    }
}
