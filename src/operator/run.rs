//! `kubetwin operator`: checks that the CRD is installed, serves HTTP, waits for the
//! Lease, then runs the controller until the Lease is lost or a signal arrives.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, ListParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, predicates, watcher};
use kube::{Client, CustomResourceExt, ResourceExt};
use tokio::sync::Semaphore;

use super::crd::TwinExperiment;
use super::http::{Shared, router};
use super::leader::Elector;
use super::reconcile::{Context, error_policy, reconcile};
use crate::k8s::live;

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// A kubeconfig (default: in-cluster, then `$KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// The Prometheus for experiments that name none.
    pub prometheus_url: Option<String>,
    /// Watch TwinExperiments in this namespace only.
    pub namespace: Option<String>,
    /// The Lease's namespace.
    pub lease_namespace: String,
    /// The Lease's name.
    pub lease_name: String,
    /// This replica's identity in the Lease (the pod's name).
    pub identity: String,
    /// Cycles running at once.
    pub max_concurrent_cycles: usize,
}

/// Runs the operator until the Lease is lost or the process is interrupted.
///
/// # Errors
/// No client configuration; the CRD missing; the Lease lost; the HTTP port taken.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let client = live::client(options.kubeconfig.as_deref(), None).await?;
    // Listing one TwinExperiment needs no more RBAC than the controller does; a 404 means
    // the API server does not know the kind.
    let experiments: Api<TwinExperiment> = match &options.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if let Err(e) = experiments.list(&ListParams::default().limit(1)).await {
        let hint = match &e {
            kube::Error::Api(s) if s.code == 404 => format!(
                "the {} CRD is not installed: kubectl apply --server-side -f crds/",
                TwinExperiment::crd_name()
            ),
            _ => "cannot list TwinExperiments".to_owned(),
        };
        anyhow::bail!("{hint} ({e})");
    }

    let shared = Arc::new(Shared::default());
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    tracing::info!(address = %options.listen, "serving /metrics, /healthz, /readyz, /api/experiments");
    let server = axum::serve(listener, router(shared.clone()));
    let server = tokio::spawn(async move { server.await });
    shared.ready.store(true, Ordering::Relaxed);

    let elector = Elector::new(
        client.clone(),
        &options.lease_namespace,
        &options.lease_name,
        &options.identity,
    );
    tokio::select! {
        acquired = elector.acquire() => acquired?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "kubetwin".into(),
                instance: Some(options.identity.clone()),
            },
        ),
        shared: shared.clone(),
        prometheus_url: options.prometheus_url.clone(),
        cycles: Semaphore::new(options.max_concurrent_cycles.max(1)),
        failures: Default::default(),
    });
    shared.leading.store(true, Ordering::Relaxed);
    let controller = controller(client, options.namespace.as_deref())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(%object, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile failed"),
            }
        });
    tokio::select! {
        () = controller => Ok(()),
        lost = elector.renew_forever() => Err(anyhow::anyhow!("stopping: {lost}")),
        served = server => Err(anyhow::anyhow!("the HTTP server stopped: {served:?}")),
    }
}

/// The controller: TwinExperiments (on spec and annotation changes), and the Deployments,
/// HPAs and Services of their target namespaces (on spec changes) and Nodes (on label
/// changes), each mapped to the experiments they concern.
fn controller(client: Client, namespace: Option<&str>) -> Controller<TwinExperiment> {
    // With --namespace every watch but the Nodes' stays in that namespace, so namespaced
    // RBAC suffices.
    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let experiments: Api<TwinExperiment> = api(&client, namespace);
    let (reader, writer) = reflector::store();
    // Our own status writes change neither the generation nor the annotations.
    let spec_or_annotations = |tx: &TwinExperiment| {
        let mut h = DefaultHasher::new();
        (tx.metadata.generation, tx.annotations()).hash(&mut h);
        Some(h.finish())
    };
    let trigger = watcher(experiments, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_or_annotations, Default::default());
    let in_namespace = |store: Store<TwinExperiment>| {
        move |namespace: Option<String>| {
            store
                .state()
                .into_iter()
                .filter(|tx| {
                    let target = tx.spec.target.namespace.clone().or(tx.namespace());
                    namespace.is_none() || target == namespace
                })
                .map(|tx| ObjectRef::from_obj(&*tx))
                .collect::<Vec<_>>()
        }
    };
    let (deployments, hpas, services, nodes) = (
        in_namespace(reader.clone()),
        in_namespace(reader.clone()),
        in_namespace(reader.clone()),
        in_namespace(reader.clone()),
    );
    Controller::for_stream(trigger, reader)
        .with_config(controller::Config::default().debounce(Duration::from_secs(2)))
        .watches_stream(
            watcher(
                api::<Deployment>(&client, namespace),
                watcher::Config::default(),
            )
            .default_backoff()
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default()),
            move |d| deployments(d.namespace()),
        )
        .watches_stream(
            watcher(
                api::<HorizontalPodAutoscaler>(&client, namespace),
                watcher::Config::default(),
            )
            .default_backoff()
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default()),
            move |h| hpas(h.namespace()),
        )
        .watches_stream(
            watcher(
                api::<Service>(&client, namespace),
                watcher::Config::default(),
            )
            .default_backoff()
            .applied_objects()
            .predicate_filter(predicates::resource_version, Default::default()),
            move |s| services(s.namespace()),
        )
        .watches_stream(
            watcher(Api::<Node>::all(client), watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .predicate_filter(predicates::labels, Default::default()),
            move |_| nodes(None),
        )
}
