//! Reading a live cluster with kube-rs (feature `operator`): the objects an import needs,
//! listed page by page, with errors that name the permission a refused list lacks.
//!
//! The result is a plain [`ClusterObjects`], the same value `import --from-manifests`
//! builds, so both paths share one translation into a scenario.

use std::path::Path;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::NamespaceResourceScope;
use kube::{Client, Config, Resource};
use serde::de::DeserializeOwned;

use super::import::ClusterObjects;

/// Which objects to read.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The namespace to read; `None` reads all namespaces.
    pub namespace: Option<String>,
    /// A label selector (`app.kubernetes.io/part-of=shop`) for Deployments, StatefulSets and
    /// Services; HPAs are kept when they target a selected workload. Nodes are all read.
    pub selector: Option<String>,
    /// Objects per list request (the API server's `limit`); larger lists are paged.
    pub page_size: u32,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            namespace: None,
            selector: None,
            page_size: 500,
        }
    }
}

/// Why reading the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The kubeconfig (or in-cluster configuration) could not be loaded.
    #[error("cannot configure a Kubernetes client: {0}")]
    Config(String),
    /// The API server refused a list: the identity lacks the named permission.
    #[error(
        "list {resource} {scope} was refused (403 Forbidden): {message}\n\
         the identity needs `list` on `{resource}` (apiGroup \"{group}\"){grant}"
    )]
    Forbidden {
        /// The resource's plural name (`nodes`).
        resource: &'static str,
        /// Its API group (`""` for the core group).
        group: &'static str,
        /// `in namespace "shop"` or `cluster-wide`.
        scope: String,
        /// What a Role or ClusterRole must grant.
        grant: &'static str,
        /// The API server's message.
        message: String,
    },
    /// Any other failure of a list request.
    #[error("list {resource} {scope}: {source}")]
    Api {
        /// The resource's plural name.
        resource: &'static str,
        /// `in namespace "shop"` or `cluster-wide`.
        scope: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

/// A client from `kubeconfig` (default: `$KUBECONFIG`, `~/.kube/config`, or the in-cluster
/// service account) and its `context` (default: the current one).
///
/// # Errors
/// [`LiveError::Config`] when no configuration can be loaded.
pub async fn client(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Client, LiveError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let error = |e: &dyn std::fmt::Display| LiveError::Config(e.to_string());
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| LiveError::Config(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| error(&e))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| error(&e))?,
        None => Config::infer().await.map_err(|e| error(&e))?,
    };
    Client::try_from(config).map_err(|e| LiveError::Config(e.to_string()))
}

/// Lists what an import reads: Deployments, StatefulSets, Services, HPAs and Pods of the
/// selection, and every Node.
///
/// # Errors
/// The first list that fails; a refused one as [`LiveError::Forbidden`].
pub async fn fetch(client: Client, sel: &Selection) -> Result<ClusterObjects, LiveError> {
    let labels = ListParams::default().limit(sel.page_size);
    let labels = match &sel.selector {
        Some(selector) => labels.labels(selector),
        None => labels,
    };
    let everything = ListParams::default().limit(sel.page_size);
    let deployments: Vec<Deployment> = list(namespaced(&client, sel), labels.clone()).await?;
    let stateful_sets: Vec<StatefulSet> = list(namespaced(&client, sel), labels.clone()).await?;
    let services = list(namespaced::<Service>(&client, sel), labels).await?;
    let targets = |kind: &str, name: &str| match kind {
        "Deployment" => deployments
            .iter()
            .any(|d| d.metadata.name.as_deref() == Some(name)),
        "StatefulSet" => stateful_sets
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(name)),
        _ => false,
    };
    let hpas = list::<HorizontalPodAutoscaler>(namespaced(&client, sel), everything.clone())
        .await?
        .into_iter()
        .filter(|h| targets(&h.spec.scale_target_ref.kind, &h.spec.scale_target_ref.name))
        .collect();
    let pods = list::<Pod>(namespaced(&client, sel), everything.clone()).await?;
    let nodes = list::<Node>(Scoped::cluster(&client), everything).await?;
    Ok(ClusterObjects {
        deployments,
        stateful_sets,
        services,
        hpas,
        nodes,
        pods,
    })
}

/// An `Api` and the words that name its scope in errors.
struct Scoped<K> {
    api: Api<K>,
    scope: String,
    namespaced: bool,
}

impl<K: Resource<DynamicType = ()>> Scoped<K> {
    fn cluster(client: &Client) -> Self {
        Scoped {
            api: Api::all(client.clone()),
            scope: "cluster-wide".to_owned(),
            namespaced: false,
        }
    }
}

/// The selection's namespace, or all namespaces.
fn namespaced<K>(client: &Client, sel: &Selection) -> Scoped<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    match &sel.namespace {
        Some(ns) => Scoped {
            api: Api::namespaced(client.clone(), ns),
            scope: format!("in namespace \"{ns}\""),
            namespaced: true,
        },
        None => Scoped {
            namespaced: true,
            ..Scoped::cluster(client)
        },
    }
}

/// Every object of `scoped`, page by page.
async fn list<K>(scoped: Scoped<K>, mut params: ListParams) -> Result<Vec<K>, LiveError>
where
    K: Resource + k8s_openapi::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Scoped {
        api,
        scope,
        namespaced,
    } = scoped;
    let mut items = Vec::new();
    loop {
        let page = api.list(&params).await.map_err(|source| match source {
            kube::Error::Api(status) if status.code == 403 => LiveError::Forbidden {
                resource: K::URL_PATH_SEGMENT,
                group: <K as k8s_openapi::Resource>::GROUP,
                scope: scope.clone(),
                grant: if namespaced {
                    " in a Role of that namespace, or a ClusterRole"
                } else {
                    " in a ClusterRole"
                },
                message: status.message,
            },
            source => LiveError::Api {
                resource: K::URL_PATH_SEGMENT,
                scope: scope.clone(),
                source,
            },
        })?;
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}
