//! Which HPAs the twin can run: each is read the way the engine will read it
//! ([`autoscaler_from_hpa`]); metrics the twin cannot measure (External metrics, memory,
//! metric names outside its vocabulary) are left out one by one with a warning, so that
//! the rest of the HPA still scales its workload.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use super::{Context, ImportError, ObjectKey};
use crate::sim::autoscaler::{SpecProblem, autoscaler_from_hpa};

/// Whether the twin can run `hpa` after leaving out its unmeasurable metrics (`false`: it
/// is left out, with a warning).
///
/// # Errors
/// What the API server would reject (bounds, targets, malformed quantities and
/// annotations), naming the field.
pub(super) fn readable(
    key: &ObjectKey,
    hpa: &mut HorizontalPodAutoscaler,
    cx: &mut Context,
) -> Result<bool, ImportError> {
    // The original index of each metric still in `spec.metrics`, for the warnings.
    let mut indices: Vec<usize> = (0..hpa.spec.metrics.as_ref().map_or(0, Vec::len)).collect();
    loop {
        let error = match autoscaler_from_hpa(hpa) {
            Ok(_) => return Ok(true),
            Err(e) => e,
        };
        let unmeasurable = matches!(
            error.problem,
            SpecProblem::UnsupportedMetricType { .. }
                | SpecProblem::UnsupportedResource { .. }
                | SpecProblem::UnknownMetric { .. }
        );
        let metric = metric_index(&error.path);
        match (unmeasurable, metric, hpa.spec.metrics.as_mut()) {
            (true, Some(i), Some(metrics)) if i < metrics.len() => {
                metrics.remove(i);
                let original = indices.remove(i);
                let message = format!("{}; this metric is left out", error.problem);
                cx.warn(key, &format!("spec.metrics[{original}]"), message);
                if metrics.is_empty() {
                    cx.warn(
                        key,
                        "spec.metrics",
                        "no metric the twin can measure is left; the HPA is left out and its \
                         workload keeps its replicas",
                    );
                    return Ok(false);
                }
            }
            _ if error.problem == SpecProblem::ScaleToZero => {
                let message = format!("{}; the HPA is left out", error.problem);
                cx.warn(key, &error.path, message);
                return Ok(false);
            }
            _ => return Err(cx.invalid(key, &error.path, error.problem.to_string())),
        }
    }
}

/// `3` from `spec.metrics[3].resource.name`.
fn metric_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("spec.metrics[")?;
    rest[..rest.find(']')?].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_index_reads_the_first_index() {
        assert_eq!(metric_index("spec.metrics[3].resource.name"), Some(3));
        assert_eq!(metric_index("spec.metrics[12]"), Some(12));
        assert_eq!(metric_index("spec.minReplicas"), None);
        assert_eq!(metric_index("spec.metrics[x]"), None);
    }
}
