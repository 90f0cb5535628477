//! A cycle's inputs: observations from Prometheus, model documents from a ConfigMap, and
//! the import's model built from both.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

use super::reconcile::{Context, Error};
use crate::k8s::import::{self, ClusterObjects, Model, annotations};
use crate::model::Doc;
use crate::model::kinds::ArrivalSpec;
use crate::operator::crd::*;
use crate::prom::{self, EvalTime, Preset, Prometheus, Queries, Window};

/// Pulls the target namespace's observations from the experiment's Prometheus.
pub(super) async fn observe(
    ctx: &Context,
    source: &PrometheusSource,
    namespace: &str,
) -> Result<prom::Observations, Error> {
    let url = source
        .url
        .as_ref()
        .or(ctx.prometheus_url.as_ref())
        .ok_or_else(|| {
            Error::InvalidSpec(
                "no Prometheus URL: set spec.model.prometheus.url or the operator's \
                 --prometheus-url"
                    .into(),
            )
        })?;
    let queries = queries(source)?;
    let window = Window::parse(&source.window)?;
    let server = Prometheus::new(url)?;
    Ok(prom::pull(&server, &queries, namespace, &window, &EvalTime::Now).await?)
}

/// The model documents of ConfigMap `name` (key `model.yaml`).
pub(super) async fn config_map_model(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Model, Error> {
    let config_map = Api::<ConfigMap>::namespaced(ctx.client.clone(), namespace)
        .get(name)
        .await?;
    let text = (config_map.data.as_ref())
        .and_then(|d| d.get("model.yaml"))
        .ok_or_else(|| {
            Error::InvalidSpec(format!(
                "spec.model.configMap: ConfigMap {namespace}/{name} has no key model.yaml"
            ))
        })?;
    let file = format!("configmap/{namespace}/{name}/model.yaml");
    Ok(Model::parse(std::path::Path::new(&file), text)?)
}

/// The import's model: the fit's ServiceModels (with the workers a workload's
/// `kubetwin.io/workers` annotation gives: Prometheus cannot tell) and Workload, with the
/// ConfigMap's documents taking precedence (a ServiceModel replaces the fitted one of its
/// name).
pub(super) fn model(
    fitted: Option<&prom::ObservedModel>,
    given: Option<Model>,
    spec: &TwinExperimentSpec,
    objects: &ClusterObjects,
) -> Result<Model, Error> {
    let mut model = match fitted {
        Some(fitted) => fitted_model(fitted, spec)?,
        None => Model::default(),
    };
    let metadata = (objects.deployments.iter().map(|d| &d.metadata))
        .chain(objects.stateful_sets.iter().map(|s| &s.metadata));
    for meta in metadata {
        let annotated = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::WORKERS));
        let fitted =
            (model.service_models.iter_mut()).find(|m| m.object.metadata.name == meta.name);
        if let (Some(value), Some(fitted)) = (annotated, fitted) {
            fitted.object.spec.workers = annotations::count(value, 1).map_err(|e| {
                Error::InvalidSpec(format!(
                    "{}: metadata.annotations[{}]: {e}",
                    meta.name.as_deref().unwrap_or_default(),
                    annotations::WORKERS
                ))
            })?;
        }
    }
    if let Some(given) = given {
        let names: Vec<&Option<String>> = (given.service_models.iter())
            .map(|m| &m.object.metadata.name)
            .collect();
        model
            .service_models
            .retain(|m| !names.contains(&&m.object.metadata.name));
        model.service_models.extend(given.service_models);
        model.workload = given.workload.or(model.workload);
        model.topology = given.topology.or(model.topology);
        model.simulation = given.simulation.or(model.simulation);
    }
    Ok(model)
}

pub(super) fn queries(source: &PrometheusSource) -> Result<Queries, Error> {
    Ok(match source.preset {
        PresetName::Istio => Preset::Istio.queries(),
        PresetName::Linkerd => Preset::Linkerd.queries(),
        PresetName::Otel => Preset::Otel.queries(),
        PresetName::Custom => {
            let q = source.queries.as_ref().ok_or_else(|| {
                Error::InvalidSpec(
                    "spec.model.prometheus.queries is required with preset custom".into(),
                )
            })?;
            Queries::custom(q.histogram.clone(), q.rates.clone(), q.edges.clone())
        }
    })
}

/// The import's model from a Prometheus fit: its ServiceModels, and a Workload at the
/// observed (or given) rate.
pub(super) fn fitted_model(
    fitted: &prom::ObservedModel,
    spec: &TwinExperimentSpec,
) -> Result<Model, Error> {
    fn doc<T>(object: T) -> Doc<T> {
        let origin = crate::model::Origin {
            file: "prometheus".into(),
            line: 0,
            column: 0,
        };
        Doc {
            origin,
            base_dir: ".".into(),
            object,
        }
    }
    let mut workload = fitted.workload("twin", import::USER_LOCATION);
    let observed: f64 = fitted.graph.entries.values().sum();
    let rate = spec.workload.requests_per_second.unwrap_or(observed)
        * spec.workload.load_factor.unwrap_or(1.0);
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(Error::InvalidSpec(format!(
            "the load to simulate is {rate} requests/s"
        )));
    }
    // One Poisson flow (fit_observations writes it) at the rate to simulate, ending after
    // the budget's requests rather than with the window.
    for flow in &mut workload.spec.flows {
        flow.arrivals = ArrivalSpec::Poisson { rate };
        flow.end_seconds = None;
        flow.requests = Some(spec.budget.requests.max(1) as u64);
    }
    Ok(Model {
        service_models: fitted.service_models().into_iter().map(doc).collect(),
        workload: Some(doc(workload)),
        ..Model::default()
    })
}

pub(super) fn selector_string(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    use super::*;

    #[test]
    fn selectors_render_as_the_api_servers_label_selector_syntax() {
        let selector = LabelSelector {
            match_labels: Some(
                [("app.kubernetes.io/part-of".to_owned(), "shop".to_owned())].into(),
            ),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_string(&selector),
            "app.kubernetes.io/part-of=shop,tier in (a,b),!canary"
        );
    }
}
