//! The families `kubetwin fit` knows, and the errors of every fitting routine.
//!
//! A [`Family`] names a parametric model to fit; its [`FromStr`] accepts the names used on
//! the command line (`--families lognormal,gamma,gmm`). [`FitError`] is the one error type of
//! the fitting code (samples, histograms and latency summaries alike), so that a caller can
//! report why a family was skipped in the same words as why an input was rejected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fit::dist::DistError;

/// A parametric family that can be fitted to data.
///
/// Every family is fitted without a location shift (`shift: 0` in the resulting
/// [`DistSpec`](crate::model::dist::DistSpec)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// Exponential, one parameter (the mean). Needs samples `>= 0`.
    #[serde(rename = "exponential")]
    Exponential,
    /// Normal, two parameters (mean, standard deviation).
    #[serde(rename = "normal")]
    Normal,
    /// Log-normal, two parameters (mu, sigma of the logarithm). Needs samples `> 0`.
    #[serde(rename = "lognormal")]
    LogNormal,
    /// Gamma, two parameters (shape, scale). Needs samples `> 0`.
    #[serde(rename = "gamma")]
    Gamma,
    /// Weibull, two parameters (shape, scale). Needs samples `> 0`.
    #[serde(rename = "weibull")]
    Weibull,
    /// Pareto type I, two parameters (minimum `x_m`, tail index alpha). Needs samples `> 0`.
    #[serde(rename = "pareto")]
    Pareto,
    /// Gaussian mixture with 1 to 5 components, the number chosen by BIC; `3k - 1`
    /// parameters for `k` components.
    #[serde(rename = "gmm")]
    Gmm,
    /// Log-normal mixture (a Gaussian mixture of `ln x`) with 1 to 5 components, the number
    /// chosen by BIC. Needs samples `> 0`.
    #[serde(rename = "lognormal-mixture")]
    LogNormalMixture,
}

impl Family {
    /// Every family, in the order `kubetwin fit` tries them by default.
    pub const ALL: [Family; 8] = [
        Family::LogNormal,
        Family::Gamma,
        Family::Weibull,
        Family::Exponential,
        Family::Normal,
        Family::Pareto,
        Family::Gmm,
        Family::LogNormalMixture,
    ];

    /// The command-line name of the family (`"lognormal"`, `"lognormal-mixture"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Family::Exponential => "exponential",
            Family::Normal => "normal",
            Family::LogNormal => "lognormal",
            Family::Gamma => "gamma",
            Family::Weibull => "weibull",
            Family::Pareto => "pareto",
            Family::Gmm => "gmm",
            Family::LogNormalMixture => "lognormal-mixture",
        }
    }

    /// Parses a comma-separated list such as `"lognormal, gamma,gmm"`; empty items are
    /// ignored and duplicates removed (first occurrence kept).
    ///
    /// # Errors
    /// [`FitError::UnknownFamily`] for the first name that is not a family, and
    /// [`FitError::NoFamilies`] when the list names none.
    pub fn parse_list(list: &str) -> Result<Vec<Family>, FitError> {
        let mut families = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let family: Family = item.parse()?;
            if !families.contains(&family) {
                families.push(family);
            }
        }
        if families.is_empty() {
            return Err(FitError::NoFamilies);
        }
        Ok(families)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Family {
    type Err = FitError;

    /// Case-insensitive; surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Family::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| FitError::UnknownFamily {
                name: wanted.to_string(),
            })
    }
}

/// Why a fit could not be made. Messages name the offending sample, bucket, line or column.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The input holds no data: no samples, no buckets, or buckets that count nothing.
    #[error("no data to fit: {what}")]
    NoData {
        /// What was empty.
        what: &'static str,
    },
    /// A sample is NaN or infinite.
    #[error("sample {index} is {value}, not a finite number")]
    NonFinite {
        /// Position of the sample (0-based).
        index: usize,
        /// The value found.
        value: f64,
    },
    /// All samples are equal, so no family with a spread can be fitted.
    #[error("all {n} samples equal {value}: there is no spread to fit (use a constant)")]
    Constant {
        /// Number of samples.
        n: usize,
        /// Their common value.
        value: f64,
    },
    /// A sample lies outside the family's support (e.g. `<= 0` for a log-normal).
    #[error("{family} needs samples {needs}, but sample {index} is {value}")]
    OutOfSupport {
        /// The family.
        family: Family,
        /// The support, in words (`"> 0"`).
        needs: &'static str,
        /// Position of the first offending sample (0-based).
        index: usize,
        /// Its value.
        value: f64,
    },
    /// An iterative estimator (Newton, EM, Nelder–Mead) did not reach a finite optimum.
    #[error("{family}: {what}")]
    NoConvergence {
        /// The family being fitted.
        family: Family,
        /// What failed.
        what: String,
    },
    /// A family name that is not one of [`Family::ALL`].
    #[error(
        "unknown family `{name}`; valid names: exponential, normal, lognormal, gamma, weibull, \
         pareto, gmm, lognormal-mixture"
    )]
    UnknownFamily {
        /// The name given.
        name: String,
    },
    /// The family cannot be fitted from this kind of data.
    #[error("{family} is not fitted from {data}: {reason}")]
    Unsupported {
        /// The family.
        family: Family,
        /// The kind of data (`"histograms"`).
        data: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// The list of families to fit is empty.
    #[error("no family to fit was given")]
    NoFamilies,
    /// Every requested family failed; `reasons` lists each family's error.
    #[error("no family could be fitted: {reasons}")]
    NothingFitted {
        /// `family: reason` entries separated by `; `.
        reasons: String,
    },
    /// Bucket upper bounds must be numbers that strictly increase.
    #[error(
        "bucket {index}: upper bound {bound} must be a number above the previous bound {previous}"
    )]
    BucketBound {
        /// Position of the bucket (0-based).
        index: usize,
        /// Its upper bound (`le`).
        bound: f64,
        /// The previous bucket's upper bound (`-inf` for the first).
        previous: f64,
    },
    /// Cumulative counts must be finite and never decrease (nor start below 0).
    #[error(
        "bucket {index}: cumulative count {count} must be a finite number >= the previous \
         cumulative count {previous}"
    )]
    BucketCount {
        /// Position of the bucket (0-based).
        index: usize,
        /// Its cumulative count.
        count: f64,
        /// The previous cumulative count (0 for the first bucket).
        previous: f64,
    },
    /// The highest bucket must be `le="+Inf"`, as in every Prometheus histogram.
    #[error("the highest bucket's upper bound is {last}, not +Inf: the histogram is incomplete")]
    NoInfBucket {
        /// The highest upper bound found.
        last: f64,
    },
    /// Every observation falls in one bucket, so the histogram shows no spread to fit.
    #[error(
        "all observations fall in bucket {index} (le={bound}): the histogram shows no spread to fit"
    )]
    SingleBucket {
        /// Position of the occupied bucket (0-based).
        index: usize,
        /// Its upper bound.
        bound: f64,
    },
    /// A bucket that the family gives no probability (at or below 0 for a positive family)
    /// holds observations.
    #[error(
        "{family} has no mass at or below {bound}, but bucket {index} (le={bound}) holds observations"
    )]
    BucketOutOfSupport {
        /// The family.
        family: Family,
        /// Position of the bucket (0-based).
        index: usize,
        /// Its upper bound.
        bound: f64,
    },
    /// The latency CSV could not be read or parsed as CSV.
    #[error("latency summaries, line {line}: {source}")]
    Csv {
        /// Line of the file (1 = header), 0 when unknown.
        line: u64,
        /// The CSV reader's error.
        #[source]
        source: csv::Error,
    },
    /// The latency CSV header lacks a required column.
    #[error(
        "latency summaries: the header has no column `{column}` \
         (need from,to,mean_ms,percentile,value_ms)"
    )]
    MissingColumn {
        /// The missing column's name.
        column: &'static str,
    },
    /// A field of the latency CSV is missing or invalid.
    #[error("latency summaries, line {line}, column {column}: {problem}")]
    BadField {
        /// Line of the file (1 = header).
        line: u64,
        /// The column's name.
        column: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The same `from,to` pair appears twice in the latency CSV.
    #[error(
        "latency summaries, line {line}: pair {from} -> {to} was already given on line {first}"
    )]
    DuplicatePair {
        /// Line of the repetition.
        line: u64,
        /// First line of the pair.
        first: u64,
        /// Source location.
        from: String,
        /// Destination location.
        to: String,
    },
    /// Fitted parameters were rejected when building the distribution (e.g. overflow).
    #[error("{family}: the fitted distribution is invalid")]
    Distribution {
        /// The family.
        family: Family,
        /// The distribution constructor's error.
        #[source]
        source: DistError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_valid_ones() {
        for family in Family::ALL {
            assert_eq!(family.name().parse::<Family>().unwrap(), family);
            assert_eq!(family.to_string(), family.name());
        }
        assert_eq!(" LogNormal ".parse::<Family>().unwrap(), Family::LogNormal);
        let err = "lognorm".parse::<Family>().unwrap_err().to_string();
        assert!(
            err.contains("`lognorm`") && err.contains("lognormal-mixture"),
            "{err}"
        );
    }

    #[test]
    fn lists_parse_dedup_and_reject_empty() {
        let list = Family::parse_list("lognormal, gamma,,gmm,gamma").unwrap();
        assert_eq!(list, vec![Family::LogNormal, Family::Gamma, Family::Gmm]);
        assert!(matches!(
            Family::parse_list(" , "),
            Err(FitError::NoFamilies)
        ));
        assert!(matches!(
            Family::parse_list("gamma,beta"),
            Err(FitError::UnknownFamily { name }) if name == "beta"
        ));
    }
}
