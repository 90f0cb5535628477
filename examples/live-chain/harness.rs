//! Starting and stopping a whole chain: every replica as a `live-chain serve` process, and
//! a real Prometheus scraping them, all on 127.0.0.1.
//!
//! [`Chain::start`] validates a [`ChainSpec`], starts the replicas callees first (each
//! caller is given its callees' replica URLs and balances across them), writes a
//! Prometheus configuration with one target per replica labelled `service_name`,
//! `k8s_namespace_name`, `pod` and `service_instance_id` (what kubetwin's `otel` preset
//! selects and counts replicas by), starts
//! `prometheus` from the `PATH` and waits until every target has been scraped once.
//! Dropping the [`Chain`] kills every child by its pid and waits for it, on panics too.
//!
//! Every wait is a bounded number of polls (counting polls instead of reading a clock).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use kubetwin::fit::Distribution;
use kubetwin::model::dist::DistSpec;
use serde::{Deserialize, Serialize};

use crate::load::{self, LoadResult};

/// Time between two readiness polls.
const POLL: Duration = Duration::from_millis(50);
/// Polls for a replica's `/healthz` (10 s).
const HEALTH_POLLS: u32 = 200;
/// Polls for Prometheus' `/-/ready` (30 s; it may replay a write-ahead log first).
const READY_POLLS: u32 = 600;
/// Scrape intervals to wait for a target's next scrape, plus [`SCRAPE_SLACK_POLLS`].
const SCRAPE_WAIT_INTERVALS: f64 = 3.0;
const SCRAPE_SLACK_POLLS: u32 = 200;

/// What a request spends its service time on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Mode {
    /// Sleep for it (tokio's timer: about 1 ms granularity).
    Sleep,
    /// Spin a CPU loop that long at the calibrated speed (`live-chain calibrate`, with the
    /// same build of the binary).
    #[serde(rename_all = "camelCase")]
    Busy {
        /// Iterations of the loop per millisecond.
        iters_per_ms: f64,
    },
}

/// One service: its replicas, worker pool, service time and downstream calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// The name (a Prometheus label value: `service_name`, `server_address`).
    pub name: String,
    /// Processes, each with its own worker pool.
    pub replicas: u32,
    /// Worker permits per replica.
    pub workers: u32,
    /// Service time per request, in milliseconds.
    pub service_time: DistSpec,
    /// Downstream services, called in this order after the service time, synchronously.
    #[serde(default)]
    pub calls: Vec<String>,
}

/// A chain of services; the first one is the entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainSpec {
    /// The `k8s_namespace_name` target label.
    pub namespace: String,
    /// The services; the first one receives the load. Calls must not form a cycle.
    pub services: Vec<ServiceSpec>,
    /// Sleep or busy work, for every service.
    pub mode: Mode,
    /// Prometheus' scrape interval (and timeout), seconds.
    #[serde(default = "one_second")]
    pub scrape_interval_seconds: f64,
    /// Seeds every replica's service-time generator (see [`replica_seed`]).
    #[serde(default)]
    pub seed: u64,
}

fn one_second() -> f64 {
    1.0
}

/// The seed of replica `replica` of the `service`-th service: distinct per replica and a
/// pure function of the chain's seed.
pub fn replica_seed(seed: u64, service: usize, replica: u32) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(((service as u64) << 32) | u64::from(replica))
}

/// A running chain; dropping it stops every process.
pub struct Chain {
    /// Every process started, replicas first, then Prometheus.
    children: Vec<Child>,
    /// Replica URLs per service.
    replicas: BTreeMap<String, Vec<String>>,
    entry: String,
    namespace: String,
    scrape_interval_seconds: f64,
    prometheus: String,
    http: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// Configuration, TSDB and logs.
    dir: tempfile::TempDir,
}

impl Drop for Chain {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Checks `spec` and returns the order to start its services in (callees first).
fn start_order(spec: &ChainSpec) -> anyhow::Result<Vec<usize>> {
    let ns = spec.namespace.as_bytes();
    let dns = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    ensure!(
        !ns.is_empty()
            && ns.len() <= 63
            && ns.iter().all(dns)
            && ns[0] != b'-'
            && ns[ns.len() - 1] != b'-',
        "namespace: must be a Kubernetes namespace name, got {:?}",
        spec.namespace
    );
    ensure!(!spec.services.is_empty(), "services: at least one");
    let i = spec.scrape_interval_seconds;
    ensure!(
        (0.1..=60.0).contains(&i),
        "scrapeIntervalSeconds: must be in [0.1, 60], got {i}"
    );
    if let Mode::Busy { iters_per_ms } = spec.mode {
        ensure!(
            iters_per_ms.is_finite() && iters_per_ms > 0.0,
            "mode.itersPerMs: must be positive (live-chain calibrate), got {iters_per_ms}"
        );
    }
    let index: BTreeMap<&str, usize> = spec
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    for (i, s) in spec.services.iter().enumerate() {
        let at = format!("services[{i}]");
        ensure!(
            !s.name.is_empty() && s.name.chars().all(|c| c.is_ascii_graphic() && c != ','),
            "{at}.name: must be non-empty, without spaces or commas"
        );
        ensure!(
            !spec.services[..i].iter().any(|o| o.name == s.name),
            "{at}.name: {:?} twice",
            s.name
        );
        ensure!(
            (1..=64).contains(&s.replicas),
            "{at}.replicas: must be in [1, 64]"
        );
        ensure!(
            (1..=10_000).contains(&s.workers),
            "{at}.workers: must be in [1, 10000]"
        );
        Distribution::from_spec(&s.service_time, Path::new("."))
            .map_err(|e| anyhow!("{at}.serviceTime.{e}"))?;
        for (j, c) in s.calls.iter().enumerate() {
            ensure!(
                index.contains_key(c.as_str()),
                "{at}.calls[{j}]: no service named {c:?}"
            );
        }
    }
    // Depth-first, callees before callers; a service met again while on the path is a cycle.
    let mut order = Vec::new();
    let mut state = vec![0u8; spec.services.len()]; // 0 new, 1 on the path, 2 done
    fn visit(
        i: usize,
        spec: &ChainSpec,
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> anyhow::Result<()> {
        match state[i] {
            2 => return Ok(()),
            1 => bail!(
                "services[{i}].calls: the calls form a cycle through {:?}",
                spec.services[i].name
            ),
            _ => {}
        }
        state[i] = 1;
        for c in &spec.services[i].calls {
            visit(index[c.as_str()], spec, index, state, order)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..spec.services.len() {
        visit(i, spec, &index, &mut state, &mut order)?;
    }
    Ok(order)
}

/// `name` on the `PATH`.
fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The `live-chain` executable: this process when it is one, else the one cargo builds
/// next to the directory of the running executable (an integration test's
/// `target/<profile>/deps/it-…` → `target/<profile>/examples/live-chain`).
fn live_chain_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    if exe.file_stem().is_some_and(|s| s == "live-chain") {
        return Ok(exe);
    }
    let built = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples").join("live-chain"))
        .filter(|p| p.is_file());
    built.ok_or_else(|| anyhow!("no live-chain binary: build it: cargo build --example live-chain"))
}

/// `GET path` on 127.0.0.1:`port` answered 200 (plain HTTP/1.0, two-second timeout).
fn answers_200(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.lines().next().is_some_and(|l| l.contains(" 200 "))
}

fn port_of(url: &str) -> anyhow::Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| anyhow!("no port in {url:?}"))
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One instant-query result: the series' labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

impl Chain {
    /// Starts Prometheus (scraping every replica with target labels
    /// `service_name=<service>`, `k8s_namespace_name=<namespace>`, `pod=<service>-<i>`) and
    /// every replica (callees first), waits for each `/healthz` and for Prometheus to have
    /// scraped every target once.
    ///
    /// # Errors
    /// An invalid spec (naming the field), `prometheus` not on the `PATH`, no `live-chain`
    /// binary, or a process that exits or does not become ready in time (with its log).
    pub fn start(spec: &ChainSpec) -> anyhow::Result<Chain> {
        let order = start_order(spec)?;
        let prometheus = find("prometheus").ok_or_else(|| {
            anyhow!("`prometheus` is not on the PATH: install it: apt-get install -y prometheus")
        })?;
        let binary = live_chain_binary()?;
        let http = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let mut chain = Chain {
            children: Vec::new(),
            replicas: BTreeMap::new(),
            entry: spec.services[0].name.clone(),
            namespace: spec.namespace.clone(),
            scrape_interval_seconds: spec.scrape_interval_seconds,
            prometheus: String::new(),
            http,
            client,
            dir: tempfile::tempdir().context("creating a temporary directory")?,
        };
        let mut targets = Vec::new();
        for i in order {
            let service = &spec.services[i];
            for r in 0..service.replicas {
                let pod = format!("{}-{r}", service.name);
                let url = chain.start_replica(&binary, spec, i, r, &pod)?;
                targets.push(serde_json::json!({
                    "targets": [url.trim_start_matches("http://")],
                    "labels": {
                        "service_name": service.name,
                        "k8s_namespace_name": spec.namespace,
                        "pod": pod,
                        "service_instance_id": pod,
                    },
                }));
                chain
                    .replicas
                    .entry(service.name.clone())
                    .or_default()
                    .push(url);
            }
        }
        chain.start_prometheus(&prometheus, targets)?;
        Ok(chain)
    }

    /// Starts one replica, pushes it to `children` and returns its URL once `/healthz`
    /// answers.
    fn start_replica(
        &mut self,
        binary: &Path,
        spec: &ChainSpec,
        i: usize,
        r: u32,
        pod: &str,
    ) -> anyhow::Result<String> {
        let service = &spec.services[i];
        let log_path = self.dir.path().join(format!("{pod}.log"));
        let log = File::create(&log_path).context("creating a log file")?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(["--name", &service.name])
            .args(["--port", "0"])
            .args(["--workers", &service.workers.to_string()])
            .args([
                "--service-time",
                &serde_json::to_string(&service.service_time)?,
            ])
            .args(["--seed", &replica_seed(spec.seed, i, r).to_string()]);
        match spec.mode {
            Mode::Sleep => command.args(["--mode", "sleep"]),
            Mode::Busy { iters_per_ms } => command
                .args(["--mode", "busy"])
                .args(["--iters-per-ms", &iters_per_ms.to_string()]),
        };
        for callee in &service.calls {
            command
                .arg("--call")
                .arg(format!("{callee}={}", self.replicas[callee].join(",")));
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.children.push(child);
        let child = self.children.last_mut().expect("just pushed");
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let Some(url) = line
            .trim()
            .strip_prefix("listening on ")
            .map(str::to_string)
        else {
            bail!("replica {pod} did not start:\n{}", tail(&log_path));
        };
        let port = port_of(&url)?;
        for _ in 0..HEALTH_POLLS {
            if answers_200(port, "/healthz") {
                return Ok(url);
            }
            std::thread::sleep(POLL);
        }
        bail!("replica {pod} not healthy after 10 s:\n{}", tail(&log_path))
    }

    fn start_prometheus(
        &mut self,
        binary: &Path,
        targets: Vec<serde_json::Value>,
    ) -> anyhow::Result<()> {
        let interval = format!("{}ms", (self.scrape_interval_seconds * 1e3).round());
        let config = serde_json::json!({
            "global": {"scrape_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [{"job_name": "live-chain", "static_configs": targets}],
        });
        // JSON is YAML: Prometheus reads it as its configuration.
        let config_path = self.dir.path().join("prometheus.yml");
        std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let log_path = self.dir.path().join("prometheus.log");
        let log = File::create(&log_path).context("creating a log file")?;
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.children.push(child);
        self.prometheus = format!("http://127.0.0.1:{port}");
        let mut polls = 0;
        while !answers_200(port, "/-/ready") {
            let child = self.children.last_mut().expect("just pushed");
            if let Ok(Some(status)) = child.try_wait() {
                bail!("prometheus exited with {status}:\n{}", tail(&log_path));
            }
            polls += 1;
            ensure!(
                polls < READY_POLLS,
                "prometheus not ready after 30 s:\n{}",
                tail(&log_path)
            );
            std::thread::sleep(POLL);
        }
        let all = self.replicas.values().map(Vec::len).sum::<usize>() as f64;
        let up = format!(
            "count(up{{k8s_namespace_name=\"{}\"}} == 1)",
            self.namespace
        );
        self.poll_until("every target scraped once", || {
            Ok(self
                .query(&up, None)?
                .first()
                .is_some_and(|(_, v)| *v == all))
        })
    }

    /// Polls `done` every [`POLL`] for three scrape intervals plus 10 s.
    fn poll_until(
        &self,
        what: &str,
        mut done: impl FnMut() -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let polls = (SCRAPE_WAIT_INTERVALS * self.scrape_interval_seconds / POLL.as_secs_f64())
            .ceil() as u32
            + SCRAPE_SLACK_POLLS;
        for _ in 0..polls {
            if done()? {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        bail!(
            "Prometheus at {}: not {what} after {polls} polls:\n{}",
            self.prometheus,
            tail(&self.dir.path().join("prometheus.log"))
        )
    }

    /// Prometheus' URL, `http://127.0.0.1:PORT`.
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus
    }

    /// The first service's replica URLs.
    pub fn entry_targets(&self) -> Vec<String> {
        self.replicas[&self.entry].clone()
    }

    /// The process ids of every replica and of Prometheus.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Runs the open-loop generator in this process against [`Chain::entry_targets`] (the
    /// same code as `live-chain load`).
    ///
    /// # Errors
    /// As [`load::run`].
    pub fn run_load(
        &self,
        rate: f64,
        duration_seconds: f64,
        seed: u64,
    ) -> anyhow::Result<LoadResult> {
        load::run(&self.entry_targets(), rate, duration_seconds, seed)
    }

    /// Waits until Prometheus has scraped every target once more after `unix_seconds`, so a
    /// window ending at that time is complete. (A query evaluated *at* `unix_seconds` still
    /// sees only the scrapes before it; evaluate after the next scrape to count every
    /// request of a run that ended then.)
    ///
    /// # Errors
    /// A query that fails, or no such scrape within three intervals plus 10 s.
    pub fn wait_scraped_after(&self, unix_seconds: f64) -> anyhow::Result<()> {
        let last = format!(
            "min(timestamp(up{{k8s_namespace_name=\"{}\"}}))",
            self.namespace
        );
        self.poll_until(&format!("scraped after {unix_seconds}"), || {
            Ok(self
                .query(&last, None)?
                .first()
                .is_some_and(|(_, t)| *t > unix_seconds))
        })
    }

    /// An instant query, evaluated now or at `at` (Unix seconds); the result must be a
    /// vector.
    ///
    /// # Errors
    /// An unreachable server, a rejected query, or an answer that is not a vector.
    pub fn query(&self, promql: &str, at: Option<f64>) -> anyhow::Result<Vec<Sample>> {
        let mut params = vec![("query", promql.to_string())];
        if let Some(at) = at {
            params.push(("time", format!("{at:.3}")));
        }
        let url = format!("{}/api/v1/query", self.prometheus);
        let body: serde_json::Value = self
            .http
            .block_on(async {
                let answer = self.client.get(&url).query(&params).send().await?;
                let text = answer.text().await?;
                anyhow::Ok(serde_json::from_str(&text)?)
            })
            .with_context(|| format!("querying {promql:?}"))?;
        if body["status"] != "success" {
            bail!("Prometheus rejected {promql:?}: {}", body["error"]);
        }
        let vector = body["data"]["result"]
            .as_array()
            .filter(|_| body["data"]["resultType"] == "vector")
            .ok_or_else(|| anyhow!("{promql:?}: not a vector: {}", body["data"]))?;
        vector
            .iter()
            .map(|s| {
                let labels = serde_json::from_value(s["metric"].clone())?;
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow!("{promql:?}: a sample without a value: {s}"))?;
                Ok((labels, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ChainSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const CHAIN: &str = "
namespace: live
mode: {type: sleep}
services:
  - {name: front, replicas: 2, workers: 4, serviceTime: {type: constant, value: 5}, calls: [mid, back]}
  - {name: back, replicas: 1, workers: 4, serviceTime: {type: constant, value: 5}}
  - {name: mid, replicas: 1, workers: 4, serviceTime: {type: constant, value: 5}, calls: [back]}
";

    #[test]
    fn callees_start_first() {
        let s = spec(CHAIN);
        assert_eq!(s.scrape_interval_seconds, 1.0);
        assert_eq!(start_order(&s).unwrap(), [1, 2, 0]);
    }

    #[test]
    fn invalid_chains_name_the_field() {
        let cases = [
            ("namespace: live", "namespace: Live", "namespace:"),
            (
                "calls: [back]}",
                "calls: [nope]}",
                "services[2].calls[0]: no service named \"nope\"",
            ),
            (
                "value: 5}}",
                "value: 5}, calls: [front]}",
                "the calls form a cycle",
            ),
            (
                "replicas: 1, workers: 4, serviceTime: {type: constant, value: 5}}",
                "replicas: 0, workers: 4, serviceTime: {type: constant, value: 5}}",
                "services[1].replicas",
            ),
            ("mid", "back", "services[2].name: \"back\" twice"),
            (
                "{type: sleep}",
                "{type: busy, itersPerMs: 0}",
                "mode.itersPerMs",
            ),
        ];
        for (from, to, message) in cases {
            let err = start_order(&spec(&CHAIN.replace(from, to))).unwrap_err();
            assert!(err.to_string().contains(message), "{to}: {err}");
        }
        let mut s = spec(CHAIN);
        s.services[0].service_time = DistSpec::Exponential { mean: -1.0 };
        let err = start_order(&s).unwrap_err().to_string();
        assert!(err.starts_with("services[0].serviceTime.mean:"), "{err}");
    }

    #[test]
    fn replica_seeds_differ() {
        let seeds: std::collections::BTreeSet<u64> = (0..3)
            .flat_map(|s| (0..4).map(move |r| replica_seed(7, s, r)))
            .collect();
        assert_eq!(seeds.len(), 12);
    }
}
