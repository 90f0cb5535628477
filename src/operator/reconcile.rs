//! Reconciling one TwinExperiment: act on approve/rollback annotations, run a cycle when
//! one is due (the cadence elapsed, the spec or the target's configuration changed), and
//! write the status. Idempotent: a reconcile with nothing due writes nothing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Semaphore;

use super::crd::*;
use super::cycle::{Cycle, CycleError, Outcome, Prediction};
use super::http::Shared;
use super::{FIELD_MANAGER, apply, now};
use crate::fit::Family;
use crate::k8s::import::{self, ClusterObjects, ImportOptions, Model, annotations};
use crate::k8s::live::{self, LiveError, Selection};
use crate::model::Doc;
use crate::model::kinds::ArrivalSpec;
use crate::prom::{self, EvalTime, Preset, PromError, Prometheus, Queries, Window};

/// What every reconcile shares.
pub struct Context {
    /// The API client (the operator's ServiceAccount in a cluster).
    pub client: Client,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// Metrics, readiness and the JSON API's view.
    pub shared: Arc<Shared>,
    /// The Prometheus to use when an experiment names none.
    pub prometheus_url: Option<String>,
    /// Bounds the cycles running at once.
    pub cycles: Semaphore,
    /// Consecutive failed reconciles per experiment (`namespace/name`), for backoff.
    pub failures: std::sync::Mutex<std::collections::BTreeMap<String, u32>>,
}

/// Why a reconcile failed; each becomes the `Degraded` condition's reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be acted on.
    #[error("{0}")]
    InvalidSpec(String),
    /// Reading the target from the API server failed.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Prometheus could not be queried, or its data fitted.
    #[error(transparent)]
    Prometheus(#[from] PromError),
    /// The live objects and the fitted model do not make a scenario.
    #[error("import: {0}")]
    Import(#[from] import::ImportError),
    /// The cycle failed.
    #[error(transparent)]
    Cycle(#[from] CycleError),
    /// The cycle ran past `budget.maxCycleSeconds`.
    #[error("the cycle ran past its budget of {0} s and was cancelled")]
    OverBudget(i32),
    /// A write to the API server failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    /// The condition reason: a short PascalCase word.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Live(_) => "ApiServerUnavailable",
            Error::Prometheus(PromError::Unreachable { .. }) => "PrometheusUnreachable",
            Error::Prometheus(_) => "FitFailed",
            Error::Import(_) => "ImportFailed",
            Error::Cycle(_) => "SimulationFailed",
            Error::OverBudget(_) => "CycleOverBudget",
            Error::Kube(_) => "ApiServerUnavailable",
        }
    }
}

/// Families tried on each workload's histogram.
const FAMILIES: [Family; 4] = [
    Family::LogNormal,
    Family::Gamma,
    Family::Weibull,
    Family::Exponential,
];
/// Recommendations kept in the status.
const KEEP: usize = 10;

/// Reconciles `tx`.
///
/// # Errors
/// A failed cycle or write; the status then says `Degraded` with the reason, and the
/// controller retries with backoff ([`error_policy`]).
pub async fn reconcile(tx: Arc<TwinExperiment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = tokio::time::Instant::now();
    let namespace = tx.namespace().unwrap_or_default();
    let name = tx.name_any();
    let key = format!("{namespace}/{name}");
    ctx.shared.metrics.reconciled(&key);
    let api = Api::<TwinExperiment>::namespaced(ctx.client.clone(), &namespace);
    let mut status = tx.status.clone().unwrap_or_default();
    let generation = tx.metadata.generation;
    let cadence = Window::parse(&tx.spec.cadence)
        .map(|w| Duration::from_secs_f64(w.seconds()))
        .map_err(|e| Error::InvalidSpec(format!("spec.cadence: {e}")));

    let mut result = annotations(&tx, &ctx, &mut status).await;
    let target_namespace = tx
        .spec
        .target
        .namespace
        .clone()
        .unwrap_or(namespace.clone());
    if result.is_ok() {
        result = match &cadence {
            Ok(cadence) => cycle_if_due(&tx, &ctx, &target_namespace, *cadence, &mut status).await,
            Err(e) => Err(Error::InvalidSpec(e.to_string())),
        };
    }
    {
        let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Err(e) => {
                degrade(&mut status, generation, e);
                ctx.shared.metrics.failed(&key, e.reason());
                *failures.entry(key.clone()).or_default() += 1;
            }
            Ok(()) => {
                failures.remove(&key);
            }
        }
    }
    status.observed_generation = generation;
    if Some(&status) != tx.status.as_ref() {
        let patch = json!({
            "apiVersion": "kubetwin.io/v1alpha1",
            "kind": "TwinExperiment",
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch_status(&name, &params, &Patch::Apply(&patch))
            .await?;
    }
    ctx.shared.publish(&namespace, &name, &status);
    publish_metrics(&ctx, &key, &status);
    ctx.shared
        .metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result?;
    Ok(Action::requeue(match cadence {
        Ok(c) => c.min(Duration::from_secs(3600)),
        Err(_) => Duration::from_secs(300),
    }))
}

/// Requeues a failed experiment with exponential backoff on its consecutive failures:
/// 5 s, 10 s, 20 s, ... up to 5 min.
pub fn error_policy(tx: Arc<TwinExperiment>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", tx.namespace().unwrap_or_default(), tx.name_any());
    let failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let n = failures.get(&key).copied().unwrap_or(1).clamp(1, 7);
    tracing::warn!(experiment = %key, %error, "reconcile failed");
    Action::requeue(backoff(n))
}

/// The wait after `n` (>= 1) consecutive failures.
fn backoff(n: u32) -> Duration {
    Duration::from_secs(5 * 2u64.pow(n.saturating_sub(1).min(6))).min(Duration::from_secs(300))
}

fn set_condition(
    status: &mut TwinExperimentStatus,
    generation: Option<i64>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
) {
    let state = if ok { "True" } else { "False" };
    let existing = status.conditions.iter_mut().find(|c| c.type_ == type_);
    let changed = existing.as_ref().is_none_or(|c| c.status != state);
    let condition = Condition {
        type_: type_.to_owned(),
        status: state.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time: match &existing {
            Some(c) if !changed => c.last_transition_time.clone(),
            _ => now(),
        },
    };
    match existing {
        Some(c) => *c = condition,
        None => status.conditions.push(condition),
    }
}

fn degrade(status: &mut TwinExperimentStatus, generation: Option<i64>, error: &Error) {
    set_condition(
        status,
        generation,
        "Degraded",
        true,
        error.reason(),
        error.to_string(),
    );
    status.phase = Some("Degraded".to_owned());
}

/// Acts on `kubetwin.io/approve` and `kubetwin.io/rollback`.
async fn annotations(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
) -> Result<(), Error> {
    let namespace = tx
        .spec
        .target
        .namespace
        .clone()
        .unwrap_or(tx.namespace().unwrap_or_default());
    let annotations = tx.annotations();
    if let Some(id) = annotations.get(APPROVE) {
        let pending = (status.recommendations.iter())
            .position(|r| &r.id == id && r.state == RecommendationState::Pending);
        if let Some(i) = pending {
            apply_recommendation(tx, ctx, status, i, "Approved").await?;
        }
    }
    if let Some(id) = annotations.get(ROLLBACK) {
        let applied = status
            .recommendations
            .iter_mut()
            .find(|r| &r.id == id && r.state == RecommendationState::Applied);
        if let Some(rec) = applied {
            apply::rollback(&ctx.client, &namespace, &rec.previous).await?;
            rec.state = RecommendationState::RolledBack;
            let note = format!("rolled back {}: {}", rec.id, rec.summary);
            event(ctx, tx, "RolledBack", "Rollback", note).await;
            set_condition(
                status,
                tx.metadata.generation,
                "Applied",
                false,
                "RolledBack",
                format!("{} rolled back", id),
            );
        }
    }
    Ok(())
}

/// Applies recommendation `index` (approved by a person or by `Auto` mode: `reason`),
/// recording the previous values for a rollback.
async fn apply_recommendation(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
    index: usize,
    reason: &str,
) -> Result<(), Error> {
    let namespace =
        (tx.spec.target.namespace.clone()).unwrap_or(tx.namespace().unwrap_or_default());
    let rec = &mut status.recommendations[index];
    rec.previous = apply::apply(&ctx.client, &namespace, &rec.patches).await?;
    rec.state = RecommendationState::Applied;
    rec.applied_at = Some(now());
    let (id, note) = (
        rec.id.clone(),
        format!("applied {}: {}", rec.id, rec.summary),
    );
    event(ctx, tx, "Applied", "Apply", note).await;
    status.recommendation = None;
    status.phase = Some("Applied".to_owned());
    let message = format!("{id} applied ({reason})");
    set_condition(
        status,
        tx.metadata.generation,
        "Applied",
        true,
        reason,
        message,
    );
    Ok(())
}

/// `Auto` approval: applies the pending recommendation unless a guardrail holds it, which
/// the `Applied` condition then names.
async fn auto_apply(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
    objects: &ClusterObjects,
) -> Result<(), Error> {
    let Some(index) =
        (status.recommendations.iter()).position(|r| r.state == RecommendationState::Pending)
    else {
        return Ok(());
    };
    let last_apply = (status.recommendations.iter())
        .filter_map(|r| r.applied_at.as_ref())
        .map(|t| t.0.as_second())
        .max();
    let held = guardrail(
        &status.recommendations[index],
        objects,
        &tx.spec.approval,
        last_apply,
        now().0.as_second(),
    );
    match held {
        Some(reason) => {
            let message = format!("{} held: {reason}", status.recommendations[index].id);
            set_condition(
                status,
                tx.metadata.generation,
                "Applied",
                false,
                "GuardrailHeld",
                message,
            );
            Ok(())
        }
        None => apply_recommendation(tx, ctx, status, index, "AutoApproved").await,
    }
}

/// Why `Auto` mode must not apply `rec` now, if it must not: too soon after the last apply
/// (`minIntervalSeconds`, default 900), a replica bound moving by more than
/// `maxReplicaStep` (default 2), or a `maxReplicas` below what the HPA wants now (the
/// observed need).
fn guardrail(
    rec: &Recommendation,
    objects: &ClusterObjects,
    approval: &Approval,
    last_apply: Option<i64>,
    now: i64,
) -> Option<String> {
    let interval = approval.min_interval_seconds.unwrap_or(900);
    if let Some(last) = last_apply.filter(|last| now - last < interval) {
        return Some(format!(
            "the last apply was {} s ago; spec.approval.minIntervalSeconds is {interval}",
            now - last
        ));
    }
    let step = i64::from(approval.max_replica_step.unwrap_or(2));
    for patch in &rec.patches {
        let Ok(config) = serde_saphyr::from_str::<serde_json::Value>(&patch.apply) else {
            return Some(format!("{}/{}: unreadable patch", patch.kind, patch.name));
        };
        let named = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.name.as_deref() == Some(patch.name.as_str())
        };
        let (live, desired) = match patch.kind.as_str() {
            "HorizontalPodAutoscaler" => match objects.hpas.iter().find(|h| named(&h.metadata)) {
                Some(h) => (
                    serde_json::to_value(h).ok()?,
                    h.status.as_ref().map(|s| i64::from(s.desired_replicas)),
                ),
                None => return Some(format!("HorizontalPodAutoscaler/{} is gone", patch.name)),
            },
            _ => match objects.deployments.iter().find(|d| named(&d.metadata)) {
                Some(d) => (serde_json::to_value(d).ok()?, None),
                None => return Some(format!("{}/{} is gone", patch.kind, patch.name)),
            },
        };
        for field in ["minReplicas", "maxReplicas", "replicas"] {
            let Some(new) = config["spec"][field].as_i64() else {
                continue;
            };
            let old = live["spec"][field].as_i64().unwrap_or(1);
            if (new - old).abs() > step {
                return Some(format!(
                    "{}/{} spec.{field} {old} -> {new} moves by more than \
                     spec.approval.maxReplicaStep ({step})",
                    patch.kind, patch.name
                ));
            }
            if let Some(need) = desired.filter(|&need| field == "maxReplicas" && new < need) {
                return Some(format!(
                    "{}/{} spec.maxReplicas {new} is below the {need} replicas it wants now",
                    patch.kind, patch.name
                ));
            }
        }
    }
    None
}

async fn event(ctx: &Context, tx: &TwinExperiment, reason: &str, action: &str, note: String) {
    let event = Event {
        type_: EventType::Normal,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &tx.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing an event failed");
    }
}

/// A fingerprint of the target's configuration: the generations of its workloads and HPAs,
/// its Services, and the nodes' names and labels. A change starts a cycle.
fn fingerprint(objects: &ClusterObjects) -> String {
    let mut h = DefaultHasher::new();
    let meta = objects
        .deployments
        .iter()
        .map(|o| &o.metadata)
        .chain(objects.stateful_sets.iter().map(|o| &o.metadata))
        .chain(objects.hpas.iter().map(|o| &o.metadata))
        .chain(objects.services.iter().map(|o| &o.metadata));
    for m in meta {
        (
            &m.name,
            &m.generation,
            &m.resource_version
                .as_ref()
                .filter(|_| m.generation.is_none()),
        )
            .hash(&mut h);
    }
    for n in &objects.nodes {
        (&n.metadata.name, &n.metadata.labels).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

async fn cycle_if_due(
    tx: &TwinExperiment,
    ctx: &Context,
    target_namespace: &str,
    cadence: Duration,
    status: &mut TwinExperimentStatus,
) -> Result<(), Error> {
    let selection = Selection {
        namespace: Some(target_namespace.to_owned()),
        selector: Some(selector_string(&tx.spec.target.selector)),
        ..Selection::default()
    };
    let objects = live::fetch(ctx.client.clone(), &selection).await?;
    let fingerprint = fingerprint(&objects);
    let last = status.last_cycle.as_ref();
    let elapsed = last.map(|l| now().0.as_second() - l.finished_at.0.as_second());
    let due = tx.metadata.generation != status.observed_generation
        || last.is_none_or(|l| l.fingerprint != fingerprint)
        || elapsed.is_none_or(|s| s >= cadence.as_secs() as i64)
        || status.phase.as_deref() == Some("Degraded");
    if !due {
        return Ok(());
    }
    let started = tokio::time::Instant::now();
    let observations = match &tx.spec.model.prometheus {
        Some(source) => Some(observe(ctx, source, target_namespace).await?),
        None => None,
    };
    let given = match &tx.spec.model.config_map {
        Some(name) => Some(config_map_model(ctx, target_namespace, name).await?),
        None if observations.is_none() => {
            return Err(Error::InvalidSpec(
                "spec.model needs prometheus, configMap or both".into(),
            ));
        }
        None => None,
    };

    let permit = ctx
        .cycles
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let cancel = Arc::new(AtomicBool::new(false));
    let spec = tx.spec.clone();
    let seed = tx.metadata.generation.unwrap_or(1) as u64;
    let work = {
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || -> Result<CycleResult, Error> {
            let fitted = match &observations {
                Some(o) => Some(prom::fit_observations(o, &FAMILIES)?),
                None => None,
            };
            let model = model(fitted.as_ref(), given, &spec, &objects)?;
            let imported = import::to_scenario(
                &objects,
                &ImportOptions {
                    model,
                    name: "twin".into(),
                    ..ImportOptions::default()
                },
            )?;
            let warnings = imported.warnings.iter().map(ToString::to_string).collect();
            let overrides = (spec.model.overrides.iter())
                .map(|o| o.parse())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::InvalidSpec(format!("spec.model.overrides: {e}")))?;
            let outcome = Cycle {
                yaml: &imported.yaml,
                spec: &spec,
                overrides: &overrides,
                seed,
                cancel: &cancel,
            }
            .run()?;
            Ok(CycleResult {
                outcome,
                fitted,
                warnings,
                objects,
            })
        })
    };
    let budget = Duration::from_secs(tx.spec.budget.max_cycle_seconds.max(1) as u64);
    let finished = tokio::time::timeout(budget, work).await;
    if finished.is_err() {
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    drop(permit);
    let key = format!("{}/{}", tx.namespace().unwrap_or_default(), tx.name_any());
    let result = match finished {
        Ok(joined) => {
            joined.map_err(|e| Error::InvalidSpec(format!("the cycle panicked: {e}")))??
        }
        Err(_) => {
            ctx.shared.metrics.over_budget(&key);
            return Err(Error::OverBudget(tx.spec.budget.max_cycle_seconds));
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    ctx.shared.metrics.cycle_duration.observe(seconds);
    record(tx, ctx, status, &result, fingerprint, seconds).await;
    if tx.spec.approval.mode == ApprovalMode::Auto {
        auto_apply(tx, ctx, status, &result.objects).await?;
    }
    Ok(())
}

/// What the blocking part of a cycle hands back.
struct CycleResult {
    outcome: Outcome,
    fitted: Option<prom::ObservedModel>,
    warnings: Vec<String>,
    objects: ClusterObjects,
}

/// Pulls the target namespace's observations from the experiment's Prometheus.
async fn observe(
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
async fn config_map_model(ctx: &Context, namespace: &str, name: &str) -> Result<Model, Error> {
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
fn model(
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

fn queries(source: &PrometheusSource) -> Result<Queries, Error> {
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
fn fitted_model(fitted: &prom::ObservedModel, spec: &TwinExperimentSpec) -> Result<Model, Error> {
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

fn selector_string(
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

fn ms(v: f64) -> String {
    format!("{v:.1}ms")
}

fn kpis(p: &Prediction) -> Kpis {
    Kpis {
        mean: p.mean.map(|e| ms(e.mean)),
        p99: p.p99.map(|e| ms(e.mean)),
        mean_ms: p.mean.map(|e| e.mean),
        p99_ms: p.p99.map(|e| e.mean),
        p99_ci95_ms: p.p99.and_then(|e| e.ci95),
        cost_per_hour: p.cost_per_hour.map(|e| e.mean),
    }
}

async fn record(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
    result: &CycleResult,
    fingerprint: String,
    seconds: f64,
) {
    let CycleResult {
        outcome, warnings, ..
    } = result;
    let generation = tx.metadata.generation;
    let at = now();
    let entry = &tx.spec.target.entry;
    let workloads = result.fitted.iter().flat_map(|f| &f.workloads);
    let services = workloads
        .clone()
        .map(|w| {
            let best = w.best();
            let dist = crate::fit::select::distribution(best.family, &best.spec).ok();
            ServiceFit {
                name: w.name.clone(),
                family: best.family.to_string(),
                mean_ms: dist.as_ref().map_or(f64::NAN, |d| d.mean()),
                p99_ms: best.quantile(0.99).unwrap_or(f64::NAN),
                requests_per_second: w.rate,
            }
        })
        .collect::<Vec<_>>();
    let observed_entry = services.iter().find(|s| &s.name == entry);
    let observed_p99 = workloads
        .clone()
        .find(|w| &w.name == entry)
        .and_then(|w| w.prometheus_p99);
    let observed = Kpis {
        mean: observed_entry.map(|s| ms(s.mean_ms)),
        p99: observed_p99.map(ms),
        mean_ms: observed_entry.map(|s| s.mean_ms),
        p99_ms: observed_p99,
        ..Kpis::default()
    };
    let predicted = kpis(&outcome.current);
    let rate: f64 = result
        .fitted
        .iter()
        .flat_map(|f| f.graph.entries.values())
        .sum();
    status.model = Some(ModelSummary {
        fitted_at: at.clone(),
        requests_per_second: tx.spec.workload.requests_per_second.unwrap_or(rate)
            * tx.spec.workload.load_factor.unwrap_or(1.0),
        services,
    });
    let sources = match (&tx.spec.model.prometheus, &tx.spec.model.config_map) {
        (Some(p), None) => format!("from Prometheus over {}", p.window),
        (Some(p), Some(c)) => format!("from Prometheus over {} and ConfigMap {c}", p.window),
        (None, Some(c)) => format!("from ConfigMap {c}"),
        (None, None) => String::new(),
    };
    set_condition(
        status,
        generation,
        "ModelFitted",
        true,
        "Fitted",
        format!(
            "{} workloads fitted {sources}; import: {} defaults used",
            workloads.count(),
            warnings.len()
        ),
    );
    // Accuracy: an exponentially weighted mean of the absolute errors over ~10 cycles.
    if let (Some(p), Some(o)) = (predicted.p99_ms, observed.p99_ms) {
        let acc = status.accuracy.get_or_insert_with(Accuracy::default);
        let weight = 1.0 / f64::from((acc.cycles + 1).min(10));
        let error = |p: f64, o: f64| ((p - o) / o).abs() * 100.0;
        acc.p99_error_pct += weight * (error(p, o) - acc.p99_error_pct);
        if let (Some(pm), Some(om)) = (predicted.mean_ms, observed.mean_ms) {
            acc.mean_error_pct += weight * (error(pm, om) - acc.mean_error_pct);
        }
        acc.cycles += 1;
        // The first cycle one window after an apply checks that recommendation's prediction.
        for rec in status
            .recommendations
            .iter_mut()
            .filter(|r| r.state == RecommendationState::Applied && r.outcome.is_none())
        {
            let after = rec
                .applied_at
                .as_ref()
                .is_some_and(|t| at.0.as_second() - t.0.as_second() >= 1);
            if let (true, Some(rp)) = (after, rec.predicted.p99_ms) {
                rec.outcome = Some(super::crd::Outcome {
                    observed_p99_ms: o,
                    p99_error_pct: (rp - o) / o * 100.0,
                });
            }
        }
    }
    status.current = Some(CurrentKpis {
        observed: Some(observed),
        predicted: Some(predicted.clone()),
    });
    let current_p99 = outcome.current.p99.map_or("n/a".to_owned(), |e| {
        format!("{:.1} ± {:.1} ms", e.mean, e.ci95.unwrap_or(0.0))
    });
    set_condition(
        status,
        generation,
        "Simulated",
        true,
        if outcome.cancelled {
            "CycleOverBudget"
        } else {
            "Simulated"
        },
        format!(
            "current configuration: p99 {current_p99}; {} configurations simulated in {seconds:.1} s, minimising {:?}{}",
            outcome.configurations,
            outcome.objective,
            if outcome.cancelled {
                " (cut short by budget.maxCycleSeconds)"
            } else {
                ""
            }
        ),
    );
    status.last_cycle = Some(CycleSummary {
        finished_at: at.clone(),
        seconds,
        configurations: outcome.configurations as i32,
        over_budget: outcome.cancelled,
        fingerprint,
    });
    let pending = status
        .recommendations
        .iter()
        .position(|r| r.state == RecommendationState::Pending);
    match &outcome.proposal {
        Some(proposal) => {
            let patches: Vec<PatchSpec> = proposal
                .patches
                .iter()
                .map(|p| PatchSpec {
                    api_version: p.target.api_version.clone(),
                    kind: p.target.kind.clone(),
                    name: p.target.name.clone(),
                    apply: serde_saphyr::to_string(&p.apply)
                        .expect("JSON values serialize to YAML"),
                })
                .collect();
            let summary = summary(&proposal.settings);
            let same = pending.is_some_and(|i| status.recommendations[i].patches == patches);
            if let (true, Some(i)) = (same, pending) {
                status.recommendations[i].predicted = kpis(&proposal.prediction);
            } else {
                if let Some(i) = pending {
                    status.recommendations[i].state = RecommendationState::Superseded;
                }
                let n = status
                    .recommendations
                    .last()
                    .and_then(|r| r.id.strip_prefix("r-")?.parse::<u32>().ok())
                    .unwrap_or(0)
                    + 1;
                let id = format!("r-{n}");
                let cost_delta = proposal
                    .prediction
                    .cost_per_hour
                    .map(|e| e.mean)
                    .unwrap_or(0.0)
                    - outcome.current.cost_per_hour.map(|e| e.mean).unwrap_or(0.0);
                status.recommendations.push(Recommendation {
                    approve: format!(
                        "kubectl annotate twin {} -n {} {APPROVE}={id} --overwrite",
                        tx.name_any(),
                        tx.namespace().unwrap_or_default()
                    ),
                    id: id.clone(),
                    state: RecommendationState::Pending,
                    created_at: at.clone(),
                    summary: summary.clone(),
                    patches,
                    previous: Vec::new(),
                    predicted: kpis(&proposal.prediction),
                    cost_delta_per_hour: cost_delta,
                    applied_at: None,
                    outcome: None,
                });
                event(
                    ctx,
                    tx,
                    "Recommended",
                    "Recommend",
                    format!("{id}: {summary}"),
                )
                .await;
            }
            let rec = status
                .recommendations
                .iter()
                .rev()
                .find(|r| r.state == RecommendationState::Pending)
                .expect("just kept or added");
            status.recommendation = Some(format!("{}: {}", rec.id, rec.summary));
            set_condition(
                status,
                generation,
                "RecommendationReady",
                true,
                "BetterConfiguration",
                format!(
                    "{}: predicted p99 {} (cost {:+.4}/h); approve with: {}",
                    rec.id,
                    rec.predicted.p99.clone().unwrap_or_default(),
                    rec.cost_delta_per_hour,
                    rec.approve
                ),
            );
            status.phase = Some("RecommendationReady".to_owned());
        }
        None => {
            if let Some(i) = pending {
                status.recommendations[i].state = RecommendationState::Superseded;
            }
            status.recommendation = None;
            let (reason, message) =
                match (tx.spec.search_space.is_empty(), outcome.current.meets_slo) {
                    (true, _) => (
                        "NoSearchSpace",
                        "spec.searchSpace is empty: predicting only".to_owned(),
                    ),
                    (false, true) => (
                        "UpToDate",
                        "the current configuration is the cheapest that meets the SLO".to_owned(),
                    ),
                    (false, false) => (
                        "NoFeasibleConfiguration",
                        "no configuration in the search space meets the SLO".to_owned(),
                    ),
                };
            set_condition(
                status,
                generation,
                "RecommendationReady",
                false,
                reason,
                message,
            );
            status.phase = Some("UpToDate".to_owned());
        }
    }
    if status.recommendations.len() > KEEP {
        let excess = status.recommendations.len() - KEEP;
        status.recommendations.drain(..excess);
    }
    set_condition(
        status,
        generation,
        "Degraded",
        false,
        "Healthy",
        "the last cycle succeeded".into(),
    );
}

/// A proposal's settings in one line, per object: `hpa/frontend minReplicas=1 maxReplicas=2`.
fn summary(settings: &[(String, String)]) -> String {
    let mut objects: Vec<(String, Vec<String>)> = Vec::new();
    for (path, value) in settings {
        let (object, field) = path.split_once(':').unwrap_or(("", path));
        let object = object.replace("horizontalpodautoscaler/", "hpa/");
        let field = (field.strip_prefix("spec.template.spec."))
            .or(field.strip_prefix("spec."))
            .unwrap_or(field);
        let setting = format!("{field}={value}");
        match objects.iter_mut().find(|(o, _)| *o == object) {
            Some((_, fields)) => fields.push(setting),
            None => objects.push((object, vec![setting])),
        }
    }
    (objects.iter())
        .map(|(object, fields)| format!("{object} {}", fields.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn publish_metrics(ctx: &Context, key: &str, status: &TwinExperimentStatus) {
    let m = &ctx.shared.metrics;
    if let Some(current) = &status.current {
        let predicted = current.predicted.as_ref();
        let observed = current.observed.as_ref();
        m.latency(
            key,
            "0.99",
            predicted.and_then(|p| p.p99_ms),
            observed.and_then(|o| o.p99_ms),
        );
        m.latency(
            key,
            "mean",
            predicted.and_then(|p| p.mean_ms),
            observed.and_then(|o| o.mean_ms),
        );
    }
    let recs: Vec<(String, String, String)> = status
        .recommendations
        .iter()
        .map(|r| (r.id.clone(), format!("{:?}", r.state), r.summary.clone()))
        .collect();
    m.recommendations(key, &recs);
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

    fn hpa_recommendation(apply: &str) -> Recommendation {
        Recommendation {
            id: "r-1".into(),
            state: RecommendationState::Pending,
            created_at: now(),
            summary: String::new(),
            patches: vec![PatchSpec {
                api_version: "autoscaling/v2".into(),
                kind: "HorizontalPodAutoscaler".into(),
                name: "web".into(),
                apply: apply.into(),
            }],
            previous: Vec::new(),
            predicted: Kpis::default(),
            cost_delta_per_hour: 0.0,
            approve: String::new(),
            applied_at: None,
            outcome: None,
        }
    }

    fn live_hpa(min: i32, max: i32, desired: i32) -> ClusterObjects {
        let hpa = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                     "minReplicas": min, "maxReplicas": max},
            "status": {"currentReplicas": desired, "desiredReplicas": desired}
        }))
        .unwrap();
        ClusterObjects {
            hpas: vec![hpa],
            ..ClusterObjects::default()
        }
    }

    #[test]
    fn auto_mode_guardrails_hold_large_steps_early_applies_and_caps_below_need() {
        let approval = Approval {
            mode: ApprovalMode::Auto,
            max_replica_step: Some(2),
            min_interval_seconds: Some(600),
        };
        let objects = live_hpa(2, 6, 5);
        let check = |apply: &str, last: Option<i64>| {
            guardrail(
                &hpa_recommendation(apply),
                &objects,
                &approval,
                last,
                10_000,
            )
        };
        assert_eq!(check("spec: {minReplicas: 4}", None), None);
        assert_eq!(
            check("spec: {minReplicas: 4}", Some(9_500)).unwrap(),
            "the last apply was 500 s ago; spec.approval.minIntervalSeconds is 600"
        );
        assert_eq!(check("spec: {minReplicas: 4}", Some(9_000)), None);
        assert_eq!(
            check("spec: {maxReplicas: 9}", None).unwrap(),
            "HorizontalPodAutoscaler/web spec.maxReplicas 6 -> 9 moves by more than \
             spec.approval.maxReplicaStep (2)"
        );
        assert_eq!(
            check("spec: {maxReplicas: 4}", None).unwrap(),
            "HorizontalPodAutoscaler/web spec.maxReplicas 4 is below the 5 replicas it wants now"
        );
        let gone = ClusterObjects::default();
        let rec = hpa_recommendation("spec: {minReplicas: 3}");
        assert_eq!(
            guardrail(&rec, &gone, &approval, None, 0).unwrap(),
            "HorizontalPodAutoscaler/web is gone"
        );
    }

    #[test]
    fn summaries_group_settings_by_object() {
        let settings = [
            ("horizontalpodautoscaler/web:spec.minReplicas", "1"),
            ("horizontalpodautoscaler/web:spec.maxReplicas", "2"),
            ("deployment/db:spec.template.spec.nodeSelector", "{zone: a}"),
        ]
        .map(|(p, v)| (p.to_owned(), v.to_owned()));
        assert_eq!(
            summary(&settings),
            "hpa/web minReplicas=1 maxReplicas=2; deployment/db nodeSelector={zone: a}"
        );
    }

    #[test]
    fn backoff_doubles_from_five_seconds_to_five_minutes() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn conditions_keep_their_transition_time_while_their_status_holds() {
        let mut status = TwinExperimentStatus::default();
        set_condition(
            &mut status,
            Some(1),
            "Degraded",
            true,
            "PrometheusUnreachable",
            "down".into(),
        );
        let first = status.conditions[0].last_transition_time.clone();
        set_condition(
            &mut status,
            Some(2),
            "Degraded",
            true,
            "FitFailed",
            "no data".into(),
        );
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(status.conditions[0].last_transition_time, first);
        assert_eq!(
            (
                status.conditions[0].reason.as_str(),
                status.conditions[0].observed_generation
            ),
            ("FitFailed", Some(2))
        );
    }
}
