//! Reading an `autoscaling/v2` HorizontalPodAutoscaler into a validated [`Autoscaler`], and
//! kubetwin's annotations that select and tune the rule.
//!
//! | annotation | value | default |
//! |---|---|---|
//! | `kubetwin.io/autoscaler-rule` | `kubernetes` or `twin` | `kubernetes` |
//! | `kubetwin.io/desired-processing-time-ms` | `T_desired` in ms, e.g. `"9.6"` | required (twin) |
//! | `kubetwin.io/tolerance` | band `"lower,upper"` on ratios, e.g. `"0.9,1.1"` | `0.9,1.1` |
//! | `kubetwin.io/sync-period-seconds` | seconds between decisions, e.g. `"15"` | `15` |
//!
//! For the Kubernetes rule the tolerance annotation plays the role of kube-controller-manager's
//! `--horizontal-pod-autoscaler-tolerance`; `spec.behavior.scaleUp/scaleDown.tolerance` override
//! it per direction. The twin rule uses only the bounds and its annotations (`spec.metrics` and
//! `spec.behavior` are not read). Other `kubetwin.io/` annotations are rejected, so that a typo
//! does not silently fall back to a default.

use k8s_openapi::api::autoscaling::v2::{CrossVersionObjectReference, HorizontalPodAutoscaler};
use thiserror::Error;

use super::spec_kubernetes::hpa_rule;
use super::{
    Autoscaler, DEFAULT_SYNC_PERIOD, ReplicaBounds, Rule, ToleranceBand, TwinMetric, TwinRule,
};
use crate::k8s::quantity::QuantityError;
use crate::sim::time::SimTime;

/// Selects the rule: `kubernetes` (default) or `twin`.
pub const RULE_ANNOTATION: &str = "kubetwin.io/autoscaler-rule";
/// The twin rule's desired mean processing time, in milliseconds.
pub const DESIRED_PROCESSING_TIME_ANNOTATION: &str = "kubetwin.io/desired-processing-time-ms";
/// The tolerance band `"lower,upper"` on `current / desired` ratios.
pub const TOLERANCE_ANNOTATION: &str = "kubetwin.io/tolerance";
/// The sync period, in seconds.
pub const SYNC_PERIOD_ANNOTATION: &str = "kubetwin.io/sync-period-seconds";

const KNOWN_ANNOTATIONS: [&str; 4] = [
    RULE_ANNOTATION,
    DESIRED_PROCESSING_TIME_ANNOTATION,
    TOLERANCE_ANNOTATION,
    SYNC_PERIOD_ANNOTATION,
];

/// An HPA field the twin cannot use, and why.
#[derive(Clone, Debug, PartialEq, Error)]
#[error("{path}: {problem}")]
pub struct SpecError {
    /// The field, e.g. `spec.metrics[0].resource.target.averageUtilization`.
    pub path: String,
    /// What is wrong with it.
    pub problem: SpecProblem,
}

impl SpecError {
    pub(crate) fn new(path: impl Into<String>, problem: SpecProblem) -> Self {
        Self {
            path: path.into(),
            problem,
        }
    }
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum SpecProblem {
    /// The field must be set.
    #[error("is required")]
    Missing,
    /// The field must not be set here.
    #[error("must not be set {reason}")]
    NotAllowed {
        /// When it is not allowed, e.g. `"when type is Resource"`.
        reason: String,
    },
    /// A number had to be positive.
    #[error("must be > 0")]
    NotPositive,
    /// A number had to be non-negative.
    #[error("must be >= 0")]
    Negative,
    /// A number lies outside its range.
    #[error("must be between {min} and {max}")]
    OutOfRange {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// `minReplicas` below 1.
    #[error("must be >= 1 (scaling to zero is not supported by the twin)")]
    ScaleToZero,
    /// `maxReplicas` below `minReplicas`.
    #[error("must be >= minReplicas ({min})")]
    BelowMinReplicas {
        /// `minReplicas`.
        min: i32,
    },
    /// An enumerated field has an unknown value.
    #[error("unsupported value {found:?}; expected one of: {expected}")]
    Unsupported {
        /// The value found.
        found: String,
        /// The values accepted.
        expected: &'static str,
    },
    /// A metric source type the twin cannot measure.
    #[error(
        "{found} metrics are not supported by the twin \
         (supported: Resource, ContainerResource, Pods, Object)"
    )]
    UnsupportedMetricType {
        /// The `type`.
        found: String,
    },
    /// A resource other than cpu.
    #[error("the twin measures only the cpu resource, not {found:?}")]
    UnsupportedResource {
        /// The resource name.
        found: String,
    },
    /// A Pods or Object metric name outside the twin's vocabulary.
    #[error("unknown metric {found:?}; the twin measures: {known}", known = twin_metric_names())]
    UnknownMetric {
        /// The name found.
        found: String,
    },
    /// A behavior direction with an empty policy list.
    #[error("must specify at least one policy")]
    NoPolicies,
    /// More than one of `value`, `averageValue`, `averageUtilization`.
    #[error("may not set more than one target value")]
    SeveralTargets,
    /// A quantity that does not parse.
    #[error("{0}")]
    Quantity(QuantityError),
    /// An annotation value that does not parse.
    #[error("{found:?} is not {expected}")]
    BadAnnotation {
        /// The value found.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// An unknown `kubetwin.io/` annotation.
    #[error("unknown kubetwin.io annotation; known: {known}")]
    UnknownAnnotation {
        /// The known keys.
        known: String,
    },
}

/// The twin's metric vocabulary, comma separated.
fn twin_metric_names() -> String {
    TwinMetric::ALL.map(TwinMetric::name).join(", ")
}

fn annotation_path(key: &str) -> String {
    format!("metadata.annotations[\"{key}\"]")
}

/// Validates `hpa` and selects its rule from its annotations.
///
/// Kubernetes' API defaults apply: `minReplicas` 1, `spec.metrics` 80 % cpu utilization,
/// and missing fields of a present `spec.behavior` from the default scaling rules.
///
/// # Errors
///
/// A [`SpecError`] naming the first offending field: anything the API server would
/// reject, and what the twin cannot reenact (scale to zero, External metrics, resources
/// other than cpu, metric names outside [`super::TwinMetric`], targets other than a
/// Deployment, Object metrics on other than a Service or Deployment).
pub fn autoscaler_from_hpa(hpa: &HorizontalPodAutoscaler) -> Result<Autoscaler, SpecError> {
    let name = hpa.metadata.name.clone().filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| SpecError::new("metadata.name", SpecProblem::Missing))?;
    let spec = &hpa.spec;
    let target = scale_target(&spec.scale_target_ref)?;
    let bounds = bounds(spec.min_replicas, spec.max_replicas)?;

    let annotations = hpa.metadata.annotations.as_ref();
    if let Some(key) = annotations
        .into_iter()
        .flat_map(|a| a.keys())
        .find(|k| k.starts_with("kubetwin.io/") && !KNOWN_ANNOTATIONS.contains(&k.as_str()))
    {
        let known = KNOWN_ANNOTATIONS.join(", ");
        return Err(SpecError::new(
            annotation_path(key),
            SpecProblem::UnknownAnnotation { known },
        ));
    }
    let get = |key: &'static str| {
        annotations
            .and_then(|a| a.get(key))
            .map(|v| (key, v.trim()))
    };
    let band = get(TOLERANCE_ANNOTATION).map(parse_band).transpose()?;
    let sync_period = match get(SYNC_PERIOD_ANNOTATION) {
        // At least a millisecond, so that a sync never re-queues itself at the same instant.
        Some(kv) => SimTime::from_secs(positive_number(kv, "a positive number of seconds")?)
            .max(SimTime(1_000_000)),
        None => DEFAULT_SYNC_PERIOD,
    };
    let rule = match get(RULE_ANNOTATION).map_or("kubernetes", |(_, v)| v) {
        "kubernetes" => Rule::Kubernetes(hpa_rule(spec, band)?),
        "twin" => {
            let key = DESIRED_PROCESSING_TIME_ANNOTATION;
            let kv = get(key)
                .ok_or_else(|| SpecError::new(annotation_path(key), SpecProblem::Missing))?;
            let ms = positive_number(kv, "a positive number of milliseconds")?;
            let rule = TwinRule::new(ms, band.unwrap_or_default());
            Rule::Twin(
                rule.ok_or_else(|| SpecError::new(annotation_path(key), SpecProblem::NotPositive))?,
            )
        }
        other => {
            let problem = SpecProblem::Unsupported {
                found: other.to_owned(),
                expected: "kubernetes, twin",
            };
            return Err(SpecError::new(annotation_path(RULE_ANNOTATION), problem));
        }
    };
    Ok(Autoscaler {
        name,
        target,
        bounds,
        sync_period,
        rule,
    })
}

fn scale_target(target: &CrossVersionObjectReference) -> Result<String, SpecError> {
    if target.kind != "Deployment" {
        let problem = SpecProblem::Unsupported {
            found: target.kind.clone(),
            expected: "Deployment",
        };
        return Err(SpecError::new("spec.scaleTargetRef.kind", problem));
    }
    if target.name.is_empty() {
        return Err(SpecError::new(
            "spec.scaleTargetRef.name",
            SpecProblem::Missing,
        ));
    }
    Ok(target.name.clone())
}

fn bounds(min: Option<i32>, max: i32) -> Result<ReplicaBounds, SpecError> {
    let min = min.unwrap_or(1);
    if min < 1 {
        return Err(SpecError::new("spec.minReplicas", SpecProblem::ScaleToZero));
    }
    if max < min {
        return Err(SpecError::new(
            "spec.maxReplicas",
            SpecProblem::BelowMinReplicas { min },
        ));
    }
    // Both are now positive i32 with min <= max, so the conversions and `new` succeed.
    let (min, max) = (min.unsigned_abs(), max.unsigned_abs());
    ReplicaBounds::new(min, max)
        .ok_or_else(|| SpecError::new("spec.maxReplicas", SpecProblem::NotPositive))
}

fn positive_number((key, value): (&str, &str), expected: &'static str) -> Result<f64, SpecError> {
    match value.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(SpecError::new(
            annotation_path(key),
            SpecProblem::BadAnnotation {
                found: value.into(),
                expected,
            },
        )),
    }
}

fn parse_band((key, value): (&str, &str)) -> Result<ToleranceBand, SpecError> {
    let expected = "\"lower,upper\" with 0 <= lower <= 1 <= upper";
    let bad = || {
        SpecError::new(
            annotation_path(key),
            SpecProblem::BadAnnotation {
                found: value.into(),
                expected,
            },
        )
    };
    let (lower, upper) = value.split_once(',').ok_or_else(bad)?;
    let (lower, upper) = (
        lower.trim().parse().map_err(|_| bad())?,
        upper.trim().parse().map_err(|_| bad())?,
    );
    ToleranceBand::new(lower, upper).ok_or_else(bad)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
pub(crate) mod tests;
