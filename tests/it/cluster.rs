//! The local Kubernetes control plane for the tests (tests/e2e/cluster: etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler and KWOK's fake nodes, built from
//! their Go modules).
//!
//! [`shared`] starts one cluster per test binary with `up.sh --watch <our pid>`, so it
//! stops when the binary exits however it exits; or, when `KUBETWIN_CLUSTER_DIR` names a
//! cluster already started (`eval "$(tests/e2e/cluster/up.sh)"`), it uses that one. Each test
//! takes a [`Namespace`] of its own, deleted when dropped. Tests that need the cluster are
//! `#[ignore = "needs the control plane"]`: `cargo test -- --include-ignored` runs them, and
//! then a cluster that cannot be started fails them with the command that builds it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace as NamespaceObject;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/cluster");

/// A running control plane: where its state lives and how to reach it.
pub struct Cluster {
    /// `KUBETWIN_CLUSTER_DIR`: pids, logs, certificates.
    pub dir: PathBuf,
    /// The admin's kubeconfig (client certificate in `system:masters`).
    pub kubeconfig: PathBuf,
    /// The directory holding `kubectl`, `helm`, `kube-apiserver`, ...
    pub bin: PathBuf,
}

/// The cluster of this test binary, started on first use.
///
/// # Panics
/// If it cannot be started; the message has the script's output and the build command.
pub fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let env = match std::env::var_os("KUBETWIN_CLUSTER_DIR") {
            Some(dir) => std::fs::read_to_string(Path::new(&dir).join("env"))
                .unwrap_or_else(|e| panic!("KUBETWIN_CLUSTER_DIR={dir:?}: no env file: {e}")),
            None => start(),
        };
        let vars: BTreeMap<&str, &str> = env
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .collect();
        let path = vars["PATH"];
        Cluster {
            dir: vars["KUBETWIN_CLUSTER_DIR"].into(),
            kubeconfig: vars["KUBECONFIG"].into(),
            bin: path.strip_suffix(":$PATH").unwrap_or(path).into(),
        }
    })
}

fn start() -> String {
    let out = Command::new("bash")
        .arg(format!("{SCRIPTS}/up.sh"))
        .args(["--watch", &std::process::id().to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "could not start the control plane ({}):\n{}\n\
         Build its binaries with `bash tests/e2e/cluster/build.sh` (needs Go and the Go module \
         proxy; about 15 min cold on 2 cores), then run the tests again.",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("up.sh prints UTF-8")
}

impl Cluster {
    /// A `Command` for one of the cluster's binaries (`kubectl`, `helm`), with the admin's
    /// kubeconfig.
    pub fn command(&self, binary: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(binary));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// Runs `kubectl ARGS` with `stdin` as its input; panics with its output if it fails.
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> String {
        let out = self.try_kubectl(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {}: {}\n{}\n(the cluster's logs: {}/logs)",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.dir.display()
        );
        String::from_utf8(out.stdout).expect("kubectl prints UTF-8")
    }

    /// Runs `kubectl ARGS` with `stdin` as its input, whatever its exit status.
    pub fn try_kubectl(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command("kubectl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(stdin.as_bytes())
            .expect("kubectl reads its input");
        child.wait_with_output().expect("kubectl runs")
    }

    /// A client with the admin's credentials.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("the admin kubeconfig");
        client_for(kubeconfig).await
    }

    /// A client that authenticates with a bearer `token` (e.g. a ServiceAccount's).
    pub async fn client_with_token(&self, token: &str) -> Client {
        client_for(self.kubeconfig_with_token(token)).await
    }

    /// The admin kubeconfig with its user's credentials replaced by a bearer `token`.
    pub fn kubeconfig_with_token(&self, token: &str) -> Kubeconfig {
        let mut kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("the admin kubeconfig");
        let auth = kubeconfig.auth_infos[0]
            .auth_info
            .as_mut()
            .expect("the admin user");
        *auth = serde_json::from_value(serde_json::json!({ "token": token }))
            .expect("an AuthInfo with a token");
        kubeconfig
    }
}

async fn client_for(kubeconfig: Kubeconfig) -> Client {
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a client configuration");
    Client::try_from(config).expect("a client")
}

/// A namespace of one test, deleted (without waiting) when dropped.
pub struct Namespace {
    pub name: String,
    cluster: &'static Cluster,
}

impl Namespace {
    /// Creates `kt-<pid>-<n>-<label>` in the shared cluster.
    pub async fn create(label: &str) -> Namespace {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let cluster = shared();
        let name = format!(
            "kt-{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let namespace: NamespaceObject =
            serde_json::from_value(serde_json::json!({ "metadata": { "name": name } }))
                .expect("a Namespace");
        Api::<NamespaceObject>::all(cluster.client().await)
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        Namespace { name, cluster }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .command("kubectl")
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .output();
    }
}

/// Polls `check` every 200 ms until it returns `Some`, at most `attempts` times.
///
/// # Panics
/// With `what` when it never does.
pub async fn eventually<T, F, Fut>(what: &str, attempts: u32, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not seen after {attempts} polls, 200 ms apart");
}

/// Runs `future` on a fresh multi-threaded runtime (kube's clients live in one runtime).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}
