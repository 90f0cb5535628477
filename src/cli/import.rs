//! `kubetwin import`: Kubernetes objects, from manifests or a live cluster, into a scenario.

use std::path::PathBuf;

use anyhow::Context;
use kubetwin::k8s::import::{self, ClusterObjects, ImportOptions, Model};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read manifests: files or directories (walked recursively) of YAML or JSON, including
    /// `kubectl get -o yaml` Lists and `helm template` output.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    from_manifests: Vec<PathBuf>,
    #[cfg(feature = "operator")]
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
    /// A fitted model (ServiceModels, Workload, optionally Topology and Simulation), e.g.
    /// what `kubetwin fit --prometheus` writes; used before annotations and defaults.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Node prices per hour by instance type: a YAML map such as `m5.large: 0.096`.
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Place every replica through the twin's scheduler at time zero instead of starting
    /// the running Pods where they run.
    #[arg(long)]
    reschedule: bool,
    /// Write the scenario to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Name of the Topology and Workload written.
    #[arg(long, default_value = "imported")]
    name: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut options = ImportOptions {
        reschedule: args.reschedule,
        name: args.name.clone(),
        ..ImportOptions::default()
    };
    if let Some(path) = &args.model {
        options.model = Model::read(path)?;
    }
    if let Some(path) = &args.prices {
        options.prices = import::read_prices(path)?;
    }
    let objects = read(&args, &mut options)?;
    let imported = import::to_scenario(&objects, &options)?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &imported.yaml)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} ({} warnings)",
                path.display(),
                imported.warnings.len()
            );
        }
        None => print!("{}", imported.yaml),
    }
    Ok(())
}

/// The objects from the manifests (printing the ignored kinds) or the cluster.
fn read(args: &Args, options: &mut ImportOptions) -> anyhow::Result<ClusterObjects> {
    #[cfg(feature = "operator")]
    if args.cluster.from_cluster {
        anyhow::ensure!(
            args.from_manifests.is_empty(),
            "give --from-manifests or --from-cluster, not both"
        );
        return cluster::fetch(&args.cluster);
    }
    #[cfg(feature = "operator")]
    args.cluster.check_unused()?;
    anyhow::ensure!(
        !args.from_manifests.is_empty(),
        "give --from-manifests PATH...{}",
        if cfg!(feature = "operator") {
            " or --from-cluster"
        } else {
            ""
        }
    );
    let manifests = import::from_manifests(&args.from_manifests)?;
    if let Some(line) = manifests.ignored.summary() {
        eprintln!("{line}");
    }
    options.sources = manifests.sources;
    Ok(manifests.objects)
}

/// `--from-cluster`: list the objects with kube-rs.
#[cfg(feature = "operator")]
mod cluster {
    use std::path::PathBuf;

    use anyhow::Context;
    use kubetwin::k8s::import::ClusterObjects;
    use kubetwin::k8s::live::{self, Selection};

    /// Objects per list request when `--page-size` is not given.
    const PAGE_SIZE: u32 = 500;

    /// The `--from-cluster` flags.
    #[derive(Debug, clap::Args)]
    pub struct ClusterArgs {
        /// Read the objects from a live cluster (kubeconfig, or the in-cluster service
        /// account) instead of manifests.
        #[arg(long)]
        pub from_cluster: bool,
        /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
        /// The kubeconfig context (default: the current one).
        #[arg(long)]
        context: Option<String>,
        /// The namespace to read (default: the context's).
        #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
        namespace: Option<String>,
        /// Read every namespace.
        #[arg(long, short = 'A')]
        all_namespaces: bool,
        /// Only workloads and Services with these labels, e.g. app.kubernetes.io/part-of=shop.
        #[arg(long, short = 'l')]
        selector: Option<String>,
        /// Objects per list request; longer lists are read page by page [default: 500].
        #[arg(long, value_name = "N")]
        page_size: Option<u32>,
    }

    impl ClusterArgs {
        /// Fails when a cluster flag is given without `--from-cluster`.
        pub fn check_unused(&self) -> anyhow::Result<()> {
            let used = self.kubeconfig.is_some()
                || self.context.is_some()
                || self.namespace.is_some()
                || self.all_namespaces
                || self.selector.is_some()
                || self.page_size.is_some();
            anyhow::ensure!(
                !used,
                "--kubeconfig, --context, --namespace, --all-namespaces, --selector and \
                 --page-size apply only with --from-cluster"
            );
            Ok(())
        }
    }

    /// Lists the objects of the selection.
    pub fn fetch(args: &ClusterArgs) -> anyhow::Result<ClusterObjects> {
        anyhow::ensure!(args.page_size != Some(0), "--page-size must be > 0");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(async {
            let client = live::client(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
            let namespace = match (&args.namespace, args.all_namespaces) {
                (_, true) => None,
                (Some(ns), false) => Some(ns.clone()),
                (None, false) => Some(client.default_namespace().to_owned()),
            };
            let selection = Selection {
                namespace,
                selector: args.selector.clone(),
                page_size: args.page_size.unwrap_or(PAGE_SIZE),
            };
            Ok(live::fetch(client, &selection).await?)
        })
    }
}
