//! Reconciling one TwinExperiment: act on approve/rollback annotations, run a cycle when
//! one is due (the cadence elapsed, the spec or the target's configuration changed), and
//! write the status. Idempotent: a reconcile with nothing due writes nothing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Semaphore;

use super::approval::{annotations, auto_apply};
use super::crd::*;
use super::cycle::{Cycle, CycleError, Outcome};
use super::http::Shared;
use super::inputs::{config_map_model, model, observe, selector_string};
use super::status::{publish_metrics, record};
use super::{FIELD_MANAGER, now};
use crate::fit::Family;
use crate::k8s::import::{self, ClusterObjects, ImportOptions};
use crate::k8s::live::{self, LiveError, Selection};
use crate::prom::{self, PromError, Window};

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
pub(super) const KEEP: usize = 10;

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

pub(super) fn set_condition(
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

pub(super) async fn event(
    ctx: &Context,
    tx: &TwinExperiment,
    reason: &str,
    action: &str,
    note: String,
) {
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
pub fn fingerprint(objects: &ClusterObjects) -> String {
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
            let mut warnings: Vec<String> =
                imported.warnings.iter().map(ToString::to_string).collect();
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
            for warning in &outcome.warnings {
                if !warnings.contains(warning) {
                    warnings.push(warning.clone());
                }
            }
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
pub(super) struct CycleResult {
    pub(super) outcome: Outcome,
    pub(super) fitted: Option<prom::ObservedModel>,
    /// The import's warnings, then the current configuration's build warnings not
    /// already among them.
    pub(super) warnings: Vec<String>,
    pub(super) objects: ClusterObjects,
}

#[cfg(test)]
mod tests {
    use super::*;

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
