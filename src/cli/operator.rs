//! `kubetwin operator`: the online twin (see `kubetwin::operator`).

use std::net::SocketAddr;
use std::path::PathBuf;

use kubetwin::operator::run::{Options, run as run_operator};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A kubeconfig file (default: the in-cluster service account, then $KUBECONFIG).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Where /metrics, /healthz, /readyz and /api/experiments are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The Prometheus for TwinExperiments that name none (http://prometheus.monitoring:9090).
    #[arg(long, env = "KUBETWIN_PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    /// Watch TwinExperiments in this namespace only (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
    /// The namespace of the leader-election Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// The leader-election Lease's name.
    #[arg(long, default_value = "kubetwin-leader")]
    lease_name: String,
    /// This replica's identity in the Lease (default: $POD_NAME, else the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Simulation cycles running at once.
    #[arg(long, default_value_t = 2)]
    max_concurrent_cycles: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let identity = match args.identity {
        Some(identity) => identity,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| format!("kubetwin-{}", std::process::id())),
    };
    let options = Options {
        kubeconfig: args.kubeconfig,
        listen: args.listen,
        prometheus_url: args.prometheus_url,
        namespace: args.namespace,
        lease_namespace: args.lease_namespace,
        lease_name: args.lease_name,
        identity,
        max_concurrent_cycles: args.max_concurrent_cycles,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_operator(options))
}
