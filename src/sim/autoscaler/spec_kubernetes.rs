//! `spec.metrics` and `spec.behavior` of an HPA into an [`HpaRule`], with the API server's
//! defaults (`pkg/apis/autoscaling/v2/defaults.go`) and validation rules
//! (`pkg/apis/autoscaling/validation`), and the twin's own limits.
//!
//! Treatments to know about: a `ContainerResource` cpu metric divides the pod's whole use
//! by its container's request, because the twin measures CPU per pod, not per container
//! (the metric keeps its container's name for that request and for the HPA's status: its
//! metric name, condition reason and message); metric label
//! selectors (`metric.selector`) are ignored, because the twin's metrics carry no labels;
//! `External` metrics are rejected.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec, MetricTarget,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::spec::{SpecError, SpecProblem};
use super::{
    Behavior, ControllerSettings, HpaMetric, HpaRule, ObjectKind, ObjectRef, ObjectTarget,
    ScalingPolicy, ScalingPolicyKind, ScalingRules, SelectPolicy, ToleranceBand, TwinMetric,
};
use crate::k8s::quantity::parse_quantity;

/// Kubernetes' default metric: 80 % average cpu utilization.
const DEFAULT_CPU_UTILIZATION: u32 = 80;

/// The Kubernetes rule of an HPA; `band` is the `kubetwin.io/tolerance` annotation.
pub(crate) fn hpa_rule(
    spec: &HorizontalPodAutoscalerSpec,
    band: Option<ToleranceBand>,
) -> Result<HpaRule, SpecError> {
    let metrics = match spec.metrics.as_deref() {
        None | Some([]) => vec![HpaMetric::CpuUtilization {
            target_percent: DEFAULT_CPU_UTILIZATION,
            container: None,
        }],
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, m)| metric(m, &format!("spec.metrics[{i}]")))
            .collect::<Result<_, _>>()?,
    };
    let controller = ControllerSettings::default();
    let band = band.unwrap_or_default();
    let Some(b) = &spec.behavior else {
        return Ok(HpaRule {
            metrics,
            behavior: None,
            tolerance: band,
            controller,
        });
    };
    let (scale_up, up_tolerance) = rules(
        b.scale_up.as_ref(),
        ScalingRules::default_scale_up(),
        "spec.behavior.scaleUp",
    )?;
    let down_defaults =
        ScalingRules::default_scale_down(controller.downscale_stabilization_seconds);
    let (scale_down, down_tolerance) = rules(
        b.scale_down.as_ref(),
        down_defaults,
        "spec.behavior.scaleDown",
    )?;
    // Tolerances.isWithin: 1 - scaleDown <= ratio <= 1 + scaleUp. A scale-down tolerance
    // above 1 can never be left; a lower bound of 0 behaves the same for ratios >= 0.
    let lower = down_tolerance.map_or(band.lower(), |t| (1.0 - t).max(0.0));
    let upper = up_tolerance.map_or(band.upper(), |t| 1.0 + t);
    let tolerance = ToleranceBand::new(lower, upper).unwrap_or(band);
    Ok(HpaRule {
        metrics,
        behavior: Some(Behavior {
            scale_up,
            scale_down,
        }),
        tolerance,
        controller,
    })
}

fn err(path: impl Into<String>, problem: SpecProblem) -> SpecError {
    SpecError::new(path, problem)
}

fn unsupported(path: String, found: &str, expected: &'static str) -> SpecError {
    err(
        path,
        SpecProblem::Unsupported {
            found: found.to_owned(),
            expected,
        },
    )
}

/// A quantity as a positive integer of milli-units (`MilliValue()`, rounded up).
fn positive_milli(q: &Quantity, path: &str) -> Result<u64, SpecError> {
    let parsed = parse_quantity(q).map_err(|e| err(path, SpecProblem::Quantity(e)))?;
    if parsed.is_negative() {
        return Err(err(path, SpecProblem::NotPositive));
    }
    match parsed.ceil_scaled(3) {
        Some(0) => Err(err(path, SpecProblem::NotPositive)),
        Some(m) if m <= i64::MAX as u64 => Ok(m),
        _ => Err(err(
            path,
            SpecProblem::OutOfRange {
                min: 1,
                max: i64::MAX / 1000,
            },
        )),
    }
}

fn twin_metric(id: &MetricIdentifier, path: &str) -> Result<TwinMetric, SpecError> {
    TwinMetric::from_name(&id.name).ok_or_else(|| {
        err(
            format!("{path}.metric.name"),
            SpecProblem::UnknownMetric {
                found: id.name.clone(),
            },
        )
    })
}

/// `validateMetricTarget`: at most one value, and the one the type needs, positive.
enum Target {
    Utilization(u32),
    Value(u64),
    AverageValue(u64),
}

fn target(t: &MetricTarget, path: &str) -> Result<Target, SpecError> {
    let set = [
        t.value.is_some(),
        t.average_value.is_some(),
        t.average_utilization.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(err(path, SpecProblem::SeveralTargets));
    }
    let required = |field: &str| err(format!("{path}.{field}"), SpecProblem::Missing);
    match t.type_.as_str() {
        "Utilization" => match t.average_utilization {
            Some(u) if u > 0 => Ok(Target::Utilization(u.unsigned_abs())),
            Some(_) => Err(err(
                format!("{path}.averageUtilization"),
                SpecProblem::NotPositive,
            )),
            None => Err(required("averageUtilization")),
        },
        "Value" => {
            let q = t.value.as_ref().ok_or_else(|| required("value"))?;
            Ok(Target::Value(positive_milli(q, &format!("{path}.value"))?))
        }
        "AverageValue" => {
            let q = t
                .average_value
                .as_ref()
                .ok_or_else(|| required("averageValue"))?;
            Ok(Target::AverageValue(positive_milli(
                q,
                &format!("{path}.averageValue"),
            )?))
        }
        other => Err(unsupported(
            format!("{path}.type"),
            other,
            "Utilization, Value, AverageValue",
        )),
    }
}

fn metric(m: &MetricSpec, base: &str) -> Result<HpaMetric, SpecError> {
    let sources = [
        ("Resource", "resource", m.resource.is_some()),
        (
            "ContainerResource",
            "containerResource",
            m.container_resource.is_some(),
        ),
        ("Pods", "pods", m.pods.is_some()),
        ("Object", "object", m.object.is_some()),
        ("External", "external", m.external.is_some()),
    ];
    let Some(&(_, field, _)) = sources.iter().find(|(t, _, _)| *t == m.type_) else {
        return Err(unsupported(
            format!("{base}.type"),
            &m.type_,
            "Resource, ContainerResource, Pods, Object, External",
        ));
    };
    if let Some((_, other, _)) = sources.iter().find(|(t, _, set)| *set && *t != m.type_) {
        let reason = format!("when type is {}", m.type_);
        return Err(err(
            format!("{base}.{other}"),
            SpecProblem::NotAllowed { reason },
        ));
    }
    if m.type_ == "External" {
        return Err(err(
            format!("{base}.type"),
            SpecProblem::UnsupportedMetricType {
                found: m.type_.clone(),
            },
        ));
    }
    let path = format!("{base}.{field}");
    let missing = || err(path.clone(), SpecProblem::Missing);
    let cpu =
        |name: &str, t: &MetricTarget, container: Option<&str>| -> Result<HpaMetric, SpecError> {
            if name != "cpu" {
                return Err(err(
                    format!("{path}.name"),
                    SpecProblem::UnsupportedResource {
                        found: name.to_owned(),
                    },
                ));
            }
            match target(t, &format!("{path}.target"))? {
                Target::Utilization(p) => Ok(HpaMetric::CpuUtilization {
                    target_percent: p,
                    container: container.map(str::to_owned),
                }),
                Target::AverageValue(m) => Ok(HpaMetric::CpuAverageValue {
                    target_millicores: m,
                    container: container.map(str::to_owned),
                }),
                Target::Value(_) => Err(unsupported(
                    format!("{path}.target.type"),
                    "Value",
                    "Utilization, AverageValue",
                )),
            }
        };
    match m.type_.as_str() {
        "Resource" => {
            let r = m.resource.as_ref().ok_or_else(missing)?;
            cpu(&r.name, &r.target, None)
        }
        "ContainerResource" => {
            let r = m.container_resource.as_ref().ok_or_else(missing)?;
            if r.container.is_empty() {
                return Err(err(format!("{path}.container"), SpecProblem::Missing));
            }
            cpu(&r.name, &r.target, Some(r.container.as_str()))
        }
        "Pods" => {
            let p = m.pods.as_ref().ok_or_else(missing)?;
            let metric = twin_metric(&p.metric, &path)?;
            match target(&p.target, &format!("{path}.target"))? {
                Target::AverageValue(target_milli) => Ok(HpaMetric::Pods {
                    metric,
                    target_milli,
                }),
                _ => Err(unsupported(
                    format!("{path}.target.type"),
                    &p.target.type_,
                    "AverageValue",
                )),
            }
        }
        "Object" => {
            let o = m.object.as_ref().ok_or_else(missing)?;
            let kind = match o.described_object.kind.as_str() {
                "Service" => ObjectKind::Service,
                "Deployment" => ObjectKind::Deployment,
                other => {
                    return Err(unsupported(
                        format!("{path}.describedObject.kind"),
                        other,
                        "Service, Deployment",
                    ));
                }
            };
            if o.described_object.name.is_empty() {
                return Err(err(
                    format!("{path}.describedObject.name"),
                    SpecProblem::Missing,
                ));
            }
            let object = ObjectRef {
                kind,
                name: o.described_object.name.clone(),
            };
            let metric = twin_metric(&o.metric, &path)?;
            let target = match target(&o.target, &format!("{path}.target"))? {
                Target::Value(v) => ObjectTarget::Value(v),
                Target::AverageValue(v) => ObjectTarget::AverageValue(v),
                Target::Utilization(_) => {
                    return Err(unsupported(
                        format!("{path}.target.type"),
                        "Utilization",
                        "Value, AverageValue",
                    ));
                }
            };
            Ok(HpaMetric::Object {
                object,
                metric,
                target,
            })
        }
        other => Err(unsupported(
            format!("{base}.type"),
            other,
            "Resource, ContainerResource, Pods, Object",
        )),
    }
}

/// `GenerateHPAScale{Up,Down}Rules` (fields left unset take the defaults) and
/// `validateScalingRules`; also returns `tolerance` when set.
fn rules(
    r: Option<&HPAScalingRules>,
    defaults: ScalingRules,
    path: &str,
) -> Result<(ScalingRules, Option<f64>), SpecError> {
    let Some(r) = r else {
        return Ok((defaults, None));
    };
    let mut out = defaults;
    if let Some(w) = r.stabilization_window_seconds {
        out.stabilization_window_seconds = u32::try_from(w)
            .ok()
            .filter(|w| *w <= 3600)
            .ok_or_else(|| {
                err(
                    format!("{path}.stabilizationWindowSeconds"),
                    SpecProblem::OutOfRange { min: 0, max: 3600 },
                )
            })?;
    }
    if let Some(s) = &r.select_policy {
        out.select_policy = match s.as_str() {
            "Max" => SelectPolicy::Max,
            "Min" => SelectPolicy::Min,
            "Disabled" => SelectPolicy::Disabled,
            other => {
                return Err(unsupported(
                    format!("{path}.selectPolicy"),
                    other,
                    "Max, Min, Disabled",
                ));
            }
        };
    }
    if let Some(policies) = &r.policies {
        if policies.is_empty() {
            return Err(err(format!("{path}.policies"), SpecProblem::NoPolicies));
        }
        out.policies = policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = |field: &str| format!("{path}.policies[{i}].{field}");
                let kind = match p.type_.as_str() {
                    "Pods" => ScalingPolicyKind::Pods,
                    "Percent" => ScalingPolicyKind::Percent,
                    other => return Err(unsupported(at("type"), other, "Pods, Percent")),
                };
                let value = u32::try_from(p.value).ok().filter(|v| *v > 0);
                let value = value.ok_or_else(|| err(at("value"), SpecProblem::NotPositive))?;
                let period = u32::try_from(p.period_seconds)
                    .ok()
                    .filter(|s| (1..=1800).contains(s));
                let period_seconds = period.ok_or_else(|| {
                    err(
                        at("periodSeconds"),
                        SpecProblem::OutOfRange { min: 1, max: 1800 },
                    )
                })?;
                Ok(ScalingPolicy {
                    kind,
                    value,
                    period_seconds,
                })
            })
            .collect::<Result<_, _>>()?;
    }
    let tolerance = match &r.tolerance {
        None => None,
        Some(q) => {
            let at = format!("{path}.tolerance");
            let t = parse_quantity(q).map_err(|e| err(at.clone(), SpecProblem::Quantity(e)))?;
            if t.is_negative() {
                return Err(err(at, SpecProblem::Negative));
            }
            Some(t.to_f64())
        }
    };
    Ok((out, tolerance))
}

#[cfg(test)]
#[path = "spec_kubernetes_tests.rs"]
mod metric_tests;

#[cfg(test)]
#[path = "spec_behavior_tests.rs"]
mod behavior_tests;
