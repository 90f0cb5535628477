//! What Kubernetes does not know: how each workload's pods serve (ServiceModels) and who
//! sends requests (the Workload), from the model, annotations or defaults.

use std::collections::BTreeSet;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::annotations::{
    self as ann, CALLS, ENTRY_RATE, QUEUE_CAPACITY, SERVICE_TIME, STARTUP, WORKERS,
    WORKLOAD_ANNOTATIONS,
};
use super::workloads::Workload;
use super::{Context, ImportError, ImportOptions, Model, Warning, key};
use crate::k8s::stateful::STATEFUL_SET_ANNOTATION;
use crate::model::dist::DistSpec;
use crate::model::faults::StartupSpec;
use crate::model::kinds::{
    API_VERSION, ArrivalSpec, CallMode, CallStep, FlowSpec, Object, RequestTypeSpec,
    ServiceModelSpec, WorkloadSpec,
};

/// Mean of the exponential service time used when none is known, in milliseconds.
pub const DEFAULT_SERVICE_TIME_MS: f64 = 10.0;
/// Requests per second users send to an entry Service when none is known.
pub const DEFAULT_ENTRY_RATE: f64 = 10.0;
/// How long the users send requests, in seconds.
pub const DEFAULT_DURATION_SECONDS: f64 = 300.0;
/// The users' location when the model does not name one.
pub const USER_LOCATION: &str = "users";

/// One ServiceModel per workload: the model's, else from annotations and defaults.
pub(super) fn service_models(
    workloads: &[Workload],
    services: &[Service],
    hpas: &[HorizontalPodAutoscaler],
    model: &Model,
    cx: &mut Context,
) -> Result<Vec<Object<ServiceModelSpec>>, ImportError> {
    let names: BTreeSet<&str> = workloads.iter().map(|w| w.key.name.as_str()).collect();
    let target = |m: &Object<ServiceModelSpec>| {
        (m.spec.deployment.clone()).unwrap_or_else(|| m.metadata.name.clone().unwrap_or_default())
    };
    for m in &model.service_models {
        if !names.contains(target(&m.object).as_str()) {
            cx.warnings.push(Warning {
                at: Some(m.origin.clone()),
                object: format!(
                    "ServiceModel/{}",
                    m.object.metadata.name.as_deref().unwrap_or("")
                ),
                field: "spec.deployment".into(),
                message: format!(
                    "no imported workload named {:?}; ignored",
                    target(&m.object)
                ),
            });
        }
    }
    let services: BTreeSet<String> = services.iter().flat_map(dns_names).collect();
    let mut out = Vec::new();
    for w in workloads {
        let fitted = model
            .service_models
            .iter()
            .find(|m| target(&m.object) == w.key.name);
        let spec = match fitted {
            Some(m) => m.object.spec.clone(),
            None => {
                let scaled = hpas
                    .iter()
                    .any(|h| h.spec.scale_target_ref.name == w.key.name);
                from_annotations(w, &services, scaled, cx)?
            }
        };
        out.push(Object {
            api_version: API_VERSION.into(),
            kind: "ServiceModel".into(),
            metadata: fitted.map_or_else(|| named(&w.key.name), |m| m.object.metadata.clone()),
            spec,
        });
    }
    Ok(out)
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..ObjectMeta::default()
    }
}

/// The names a Service answers to (`cart`, `cart.shop`, `cart.shop.svc`, ...).
fn dns_names(s: &Service) -> Vec<String> {
    let name = s.metadata.name.clone().unwrap_or_default();
    let ns = s.metadata.namespace.as_deref().unwrap_or("default");
    vec![
        format!("{name}.{ns}"),
        format!("{name}.{ns}.svc"),
        format!("{name}.{ns}.svc.cluster.local"),
        name,
    ]
}

fn from_annotations(
    w: &Workload,
    services: &BTreeSet<String>,
    scaled: bool,
    cx: &mut Context,
) -> Result<ServiceModelSpec, ImportError> {
    let annotations = w
        .deployment
        .metadata
        .annotations
        .clone()
        .unwrap_or_default();
    for k in annotations.keys().filter(|k| k.starts_with("kubetwin.io/")) {
        if !WORKLOAD_ANNOTATIONS.contains(&k.as_str()) && k != STATEFUL_SET_ANNOTATION {
            let message = format!(
                "unknown kubetwin.io annotation; known: {}",
                WORKLOAD_ANNOTATIONS.join(", ")
            );
            cx.warn(&w.key, &ann::field(k), message);
        }
    }
    let read = |k: &str| annotations.get(k).map(|v| (v.as_str(), ann::field(k)));
    let service_time = match read(SERVICE_TIME) {
        Some((v, field)) => ann::time_ms(v).map_err(|m| cx.invalid(&w.key, &field, m))?,
        None => {
            let message = format!(
                "no service time measured; using an exponential with mean {DEFAULT_SERVICE_TIME_MS} ms"
            );
            cx.warn(&w.key, &ann::field(SERVICE_TIME), message);
            DistSpec::Exponential {
                mean: DEFAULT_SERVICE_TIME_MS,
            }
        }
    };
    let workers = match read(WORKERS) {
        Some((v, field)) => ann::count(v, 1).map_err(|m| cx.invalid(&w.key, &field, m))?,
        None => {
            cx.warn(
                &w.key,
                &ann::field(WORKERS),
                "no worker count known; using 1 per pod",
            );
            1
        }
    };
    let queue_capacity = match read(QUEUE_CAPACITY) {
        Some((v, field)) => Some(ann::count(v, 0).map_err(|m| cx.invalid(&w.key, &field, m))?),
        None => None,
    };
    let mut calls = Vec::new();
    match read(CALLS) {
        Some((v, field)) => {
            for (service, probability) in
                ann::calls(v).map_err(|m| cx.invalid(&w.key, &field, m))?
            {
                if services.contains(&service) {
                    calls.push(CallStep {
                        service: Some(service),
                        probability,
                        ..CallStep::default()
                    });
                } else {
                    cx.warn(
                        &w.key,
                        &field,
                        format!("no imported Service named {service:?}; this call is left out"),
                    );
                }
            }
        }
        None => cx.warn(
            &w.key,
            &ann::field(CALLS),
            "no calls known; assuming it calls no other Service (write \"\" to say so)",
        ),
    }
    let pending = match read(STARTUP) {
        Some((v, field)) => Some(ann::time_ms(v).map_err(|m| cx.invalid(&w.key, &field, m))?),
        None if scaled => {
            let message =
                "no start-up time measured; pods its HPA adds run at once (no image pull)";
            cx.warn(&w.key, &ann::field(STARTUP), message);
            None
        }
        None => None,
    };
    let readiness = readiness_delay(w);
    Ok(ServiceModelSpec {
        deployment: None,
        workers,
        queue_capacity,
        service_time: Some(service_time),
        service_time_by_load: None,
        cpu_millicores: None,
        call_mode: CallMode::Sync,
        calls,
        startup: (pending.is_some() || readiness.is_some())
            .then_some(StartupSpec { pending, readiness }),
    })
}

/// The first readiness probe's `initialDelaySeconds`, as a constant delay in milliseconds.
fn readiness_delay(w: &Workload) -> Option<DistSpec> {
    let spec = w.deployment.spec.template.spec.as_ref()?;
    let probe = spec
        .containers
        .iter()
        .find_map(|c| c.readiness_probe.as_ref())?;
    let seconds = probe.initial_delay_seconds.filter(|s| *s > 0)?;
    Some(DistSpec::Constant {
        value: f64::from(seconds) * 1000.0,
    })
}

/// The Workload: the model's, else one request type per Service with an entry rate.
pub(super) fn workload(
    services: &[Service],
    options: &ImportOptions,
    cx: &mut Context,
) -> Result<Object<WorkloadSpec>, ImportError> {
    let known: BTreeSet<String> = services.iter().flat_map(dns_names).collect();
    if let Some(m) = &options.model.workload {
        let unknown = (m.object.spec.request_types.iter().enumerate())
            .find(|(_, t)| !known.contains(&t.entry));
        if let Some((i, t)) = unknown {
            return Err(ImportError::Invalid(Warning {
                at: Some(m.origin.clone()),
                object: format!(
                    "Workload/{}",
                    m.object.metadata.name.as_deref().unwrap_or("")
                ),
                field: format!("spec.requestTypes[{i}].entry"),
                message: format!("no imported Service named {:?}", t.entry),
            }));
        }
        return Ok(m.object.clone());
    }
    let mut entries = Vec::new();
    for s in services {
        let key = key("Service", &s.metadata);
        let name = key.name.clone();
        if let Some(v) = s
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ENTRY_RATE))
        {
            let rate =
                ann::positive(v).map_err(|m| cx.invalid(&key, &ann::field(ENTRY_RATE), m))?;
            entries.push((name, rate));
        }
    }
    if entries.is_empty() {
        for s in services {
            let exposed = s.spec.as_ref().and_then(|spec| spec.type_.as_deref());
            if matches!(exposed, Some("LoadBalancer" | "NodePort")) {
                let key = key("Service", &s.metadata);
                let message = format!(
                    "no entry rate measured; users send {DEFAULT_ENTRY_RATE} requests/s to this {} Service",
                    exposed.unwrap_or_default()
                );
                cx.warn(&key, &ann::field(ENTRY_RATE), message);
                entries.push((key.name, DEFAULT_ENTRY_RATE));
            }
        }
    }
    if entries.is_empty() {
        return Err(ImportError::Invalid(Warning {
            at: None,
            object: format!("Workload/{}", options.name),
            field: "spec.requestTypes".into(),
            message: format!(
                "no entry Service: annotate the Service users call with {ENTRY_RATE}: \
                 REQUESTS_PER_SECOND, or give --model with a Workload"
            ),
        }));
    }
    let total: f64 = entries.iter().map(|(_, r)| r).sum();
    Ok(Object {
        api_version: API_VERSION.into(),
        kind: "Workload".into(),
        metadata: named(&options.name),
        spec: WorkloadSpec {
            user_location: USER_LOCATION.into(),
            request_types: (entries.into_iter())
                .map(|(name, weight)| RequestTypeSpec {
                    entry: name.clone(),
                    name,
                    weight,
                })
                .collect(),
            flows: vec![FlowSpec {
                name: Some("users".into()),
                start_seconds: 0.0,
                requests: None,
                end_seconds: Some(DEFAULT_DURATION_SECONDS),
                arrivals: ArrivalSpec::Poisson { rate: total },
            }],
            retries: None,
        },
    })
}
