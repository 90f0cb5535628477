//! `live-chain fidelity`: the twin predicts the live chain, then the chain runs for real.
//!
//! 1. **Fit.** The chain (front → back, sleep mode) runs at a low load while Prometheus
//!    scrapes it. kubetwin pulls the window with its `otel` preset and fits the model the
//!    way `kubetwin fit --prometheus` does: each workload's histogram, the call graph, the
//!    caller's own time (response less its client-side calls), the pods per workload. The
//!    per-call overhead of HTTP on loopback (a call's client-side mean less its callee's
//!    server-side mean) becomes the twin's one-way network latency, half of it each way;
//!    the Services balance round robin, as the chain's callers do.
//! 2. **Predict, then measure.** For each case (the fitted load, higher loads, a replica
//!    more, a slower downstream) the twin simulates the fitted model with that change; then
//!    the chain runs it for real and the load generator measures every request.
//! 3. **Load dependence** (`--experiment load-dependence`, busy mode): the chain's service times are
//!    CPU work on 2 shared cores. Windows at a low and a medium load make a
//!    `serviceTimeByLoad` model; it and a fixed model (fitted at the medium load) predict a
//!    high load, which then runs for real.
//!
//! Writes `fidelity.md`, `fidelity.svg` and `fidelity.json` (and the same three with
//! `load-dependence` for step 3) to `--out`, and prints the JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use kubetwin::model;
use kubetwin::model::dist::DistSpec;
use kubetwin::prom::{self, EvalTime, Observations, ObservedModel, Preset, Prometheus, Window};
use kubetwin::report::fidelity::{Case, Fidelity, Latency, Targets};
use kubetwin::sim::{self, BuildOptions};

use crate::harness::{Chain, ChainSpec, Mode, ServiceSpec};
use crate::load::LoadResult;
use crate::work;

/// `live-chain fidelity`.
#[derive(clap::Args, Debug)]
pub struct FidelityArgs {
    /// Where to write the report.
    #[arg(long, default_value = "docs/fidelity")]
    pub out: PathBuf,
    /// The short version (for CI): a shorter fit and one what-if.
    #[arg(long)]
    pub short: bool,
    /// Which experiments to run.
    #[arg(long, value_enum, default_value_t = Experiment::Accuracy)]
    pub experiment: Experiment,
    /// Seed of the arrivals and the service times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The experiments of `live-chain fidelity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Experiment {
    /// Sleep mode: the fitted load, higher loads, a replica more, a slower downstream.
    Accuracy,
    /// Busy mode: load-dependent against fixed service times at a higher load.
    LoadDependence,
    /// Both.
    All,
}

/// Requests the twin simulates per case (its own noise is then far below the real run's).
const TWIN_REQUESTS: u64 = 300_000;
/// The namespace label of the chain's metrics.
const NAMESPACE: &str = "live";

/// A log-normal with this mean and coefficient of variation.
fn log_normal(mean: f64, cv: f64) -> DistSpec {
    let sigma2 = (cv * cv).ln_1p();
    DistSpec::LogNormal {
        mu: mean.ln() - 0.5 * sigma2,
        sigma: sigma2.sqrt(),
        shift: 0.0,
    }
}

/// `spec` with every value multiplied by `factor`.
fn scaled(spec: &DistSpec, factor: f64) -> anyhow::Result<DistSpec> {
    Ok(match spec {
        DistSpec::LogNormal { mu, sigma, shift } => DistSpec::LogNormal {
            mu: mu + factor.ln(),
            sigma: *sigma,
            shift: shift * factor,
        },
        DistSpec::Gamma {
            shape,
            scale,
            shift,
        } => DistSpec::Gamma {
            shape: *shape,
            scale: scale * factor,
            shift: shift * factor,
        },
        DistSpec::Normal {
            mean,
            std_dev,
            min,
            max,
        } => DistSpec::Normal {
            mean: mean * factor,
            std_dev: std_dev * factor,
            min: min.map(|m| m * factor),
            max: max.map(|m| m * factor),
        },
        other => anyhow::bail!("cannot scale {other:?}"),
    })
}

/// The chain: front (6 workers per replica) calls back (2 workers per replica).
fn chain(mode: Mode, front: DistSpec, back: DistSpec, back_replicas: u32, seed: u64) -> ChainSpec {
    ChainSpec {
        namespace: NAMESPACE.into(),
        services: vec![
            ServiceSpec {
                name: "front".into(),
                replicas: 2,
                workers: 6,
                service_time: front,
                calls: vec!["back".into()],
            },
            ServiceSpec {
                name: "back".into(),
                replicas: back_replicas,
                workers: 2,
                service_time: back,
                calls: Vec::new(),
            },
        ],
        mode,
        scrape_interval_seconds: 1.0,
        seed,
    }
}

/// What a case changes from the fitted configuration.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// Nothing but the arrival rate.
    Rate,
    /// The back Deployment's replicas.
    BackReplicas(u32),
    /// The back's service time multiplied.
    SlowerBack(f64),
}

/// One case of the plan.
struct Planned {
    name: &'static str,
    rate: f64,
    change: Change,
    baseline: Option<&'static str>,
}

/// The fitted twin: the fitted model plus what the cluster would say (replicas, workers).
struct Twin {
    model: ObservedModel,
    /// One-way network latency, ms.
    latency_ms: f64,
    /// Workers per replica, by service.
    workers: Vec<(String, u32)>,
    replicas: Vec<(String, u32)>,
}

impl Twin {
    /// The scenario of this twin at `rate`, with `change`.
    fn scenario(&self, rate: f64, change: Change, seed: u64) -> anyhow::Result<String> {
        let mut text = format!(
            "apiVersion: kubetwin.io/v1alpha1\nkind: Topology\nmetadata: {{name: lab}}\nspec:\n  \
             locations: [{{name: lab}}]\n  clusters:\n    - name: lab\n      location: lab\n      \
             nodePools: [{{name: pool, count: 1, capacity: {{cpu: \"64\", memory: 256Gi}}}}]\n  \
             latency:\n    intraCluster: {{type: constant, value: {}}}\n",
            self.latency_ms
        );
        for (name, replicas) in &self.replicas {
            let replicas = match change {
                Change::BackReplicas(n) if name == "back" => n,
                _ => *replicas,
            };
            text += &format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  \
                 replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    \
                 metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: main, \
                 image: x, resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}]\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  annotations: \
                 {{kubetwin.io/load-balancing: round-robin}}\nspec:\n  selector: {{app: {name}}}\n"
            );
        }
        for mut m in self.model.service_models() {
            let name = m.metadata.name.clone().unwrap_or_default();
            m.spec.workers = (self.workers.iter())
                .find(|(n, _)| *n == name)
                .map_or(1, |(_, w)| *w);
            if let (Change::SlowerBack(factor), "back") = (change, name.as_str()) {
                let spec = m.spec.service_time.as_ref().context("back's serviceTime")?;
                m.spec.service_time = Some(scaled(spec, factor)?);
            }
            text += &format!("---\n{}", serde_saphyr::to_string(&m)?);
        }
        let entry = (self.model.graph.entries.keys().next()).context("an entry workload")?;
        text += &format!(
            "---\napiVersion: kubetwin.io/v1alpha1\nkind: Workload\nmetadata: {{name: users}}\n\
             spec:\n  userLocation: lab\n  requestTypes: [{{name: req, entry: {entry}}}]\n  flows:\n    \
             - {{requests: {TWIN_REQUESTS}, arrivals: {{type: poisson, rate: {rate}}}}}\n---\n\
             apiVersion: kubetwin.io/v1alpha1\nkind: Simulation\nmetadata: {{name: run}}\nspec:\n  \
             seed: {seed}\n  warmupSeconds: 10\n"
        );
        Ok(text)
    }

    /// The twin's prediction and the busiest Deployment's utilization.
    fn predict(&self, rate: f64, change: Change, seed: u64) -> anyhow::Result<(Latency, f64)> {
        let text = self.scenario(rate, change, seed)?;
        let scenario = model::load_str(Path::new("twin.yaml"), &text, Path::new("."), &[])
            .with_context(|| format!("the twin's scenario:\n{text}"))?;
        let world = sim::build(&scenario, BuildOptions::default())?;
        let r = sim::run(&world, &mut |_| {});
        let q = r.requests;
        ensure!(
            q.arrived == q.completed + q.rejected + q.failed + q.in_flight,
            "the twin lost requests: {q:?}"
        );
        let get = |x: Option<f64>| x.context("the twin measured no request");
        let latency = Latency {
            mean: get(r.ttr.mean)?,
            p50: get(r.ttr.p50)?,
            p99: get(r.ttr.p99)?,
        };
        let rho = (r.services.iter())
            .filter_map(|s| s.utilization)
            .fold(0.0, f64::max);
        Ok((latency, rho))
    }
}

/// The measured latency of `run` without its first `warmup_seconds` of requests.
fn measured(run: &LoadResult, rate: f64, warmup_seconds: f64) -> anyhow::Result<Latency> {
    ensure!(
        run.errors == 0 && run.timed_out == 0,
        "the live run had {} errors and {} timeouts of {} requests",
        run.errors,
        run.timed_out,
        run.sent
    );
    let skip = ((rate * warmup_seconds) as usize).min(run.latencies_ms.len() / 2);
    let mut kept = run.latencies_ms[skip..].to_vec();
    kept.sort_by(f64::total_cmp);
    let rank = |p: f64| kept[((p * kept.len() as f64).ceil() as usize).clamp(1, kept.len()) - 1];
    Ok(Latency {
        mean: kept.iter().sum::<f64>() / kept.len() as f64,
        p50: rank(0.5),
        p99: rank(0.99),
    })
}

/// Pulls the window `[start, end]` of the chain's Prometheus with the `otel` preset.
fn pull(chain: &Chain, start: f64, end: f64) -> anyhow::Result<Observations> {
    chain.wait_scraped_after(end)?;
    let server = Prometheus::new(chain.prometheus_url())?;
    let window = Window::parse(&format!("{}s", (end - start).floor() as u64))?;
    let at = EvalTime::At(format!("{end:.3}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let queries = Preset::Otel.queries();
    Ok(runtime.block_on(prom::pull(&server, &queries, NAMESPACE, &window, &at))?)
}

/// The twin fitted to `obs`: the model, and the loopback overhead of a call as latency.
fn fit(obs: &Observations, spec: &ChainSpec) -> anyhow::Result<Twin> {
    let model = prom::fit_observations(obs, &kubetwin::fit::Family::ALL)?;
    let key = ("front".to_string(), "back".to_string());
    let call = obs
        .call_means
        .get(&key)
        .context("no client-side mean of front -> back")?;
    let served = obs
        .means
        .get("back")
        .context("no server-side mean of back")?;
    let latency_ms = ((call - served) / 2.0).max(0.0);
    Ok(Twin {
        model,
        latency_ms: (latency_ms * 1e4).round() / 1e4,
        workers: spec
            .services
            .iter()
            .map(|s| (s.name.clone(), s.workers))
            .collect(),
        replicas: spec
            .services
            .iter()
            .map(|s| (s.name.clone(), s.replicas))
            .collect(),
    })
}

/// The machine, for the report.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown kernel".into(), |k| k.trim().to_string());
    format!("{cores} cores ({cpu}), Linux {kernel}; every process on 127.0.0.1")
}

/// The sleep-mode experiment: fit at ρ ≈ 0.3, then each case predicted and run.
fn accuracy(args: &FidelityArgs) -> anyhow::Result<Fidelity> {
    let (fit_seconds, case_seconds, warmup) = if args.short {
        (40.0, 30.0, 5.0)
    } else {
        (120.0, 60.0, 5.0)
    };
    let (front, back) = (log_normal(8.0, 0.4), log_normal(16.0, 0.5));
    // Back's capacity is 4 workers / ~16.5 ms (16 ms asked, tokio's timer rounds sleeps up
    // to the next millisecond): ~240 requests/s.
    let base_rate = 72.0;
    let mut plan = vec![Planned {
        name: "rate-0.7",
        rate: 150.0,
        change: Change::Rate,
        baseline: Some("base"),
    }];
    if !args.short {
        plan = vec![
            Planned {
                name: "rate-0.5",
                rate: 110.0,
                change: Change::Rate,
                baseline: Some("base"),
            },
            plan.remove(0),
            Planned {
                name: "rate-0.8",
                rate: 175.0,
                change: Change::Rate,
                baseline: Some("base"),
            },
            Planned {
                name: "back-3-replicas",
                rate: 150.0,
                change: Change::BackReplicas(3),
                baseline: Some("rate-0.7"),
            },
            Planned {
                name: "back-1.5x-slower",
                rate: base_rate,
                change: Change::SlowerBack(1.5),
                baseline: Some("base"),
            },
        ];
    }
    let base_spec = chain(Mode::Sleep, front.clone(), back.clone(), 2, args.seed);
    let mut chain_now = Chain::start(&base_spec)?;
    let run = chain_now.run_load(base_rate, fit_seconds, args.seed)?;
    let obs = pull(&chain_now, run.start_unix + warmup, run.end_unix)?;
    let twin = fit(&obs, &base_spec)?;
    let (predicted, utilization) = twin.predict(base_rate, Change::Rate, args.seed)?;
    let mut cases = vec![Case {
        name: "base".into(),
        change: format!("the fitted run: {base_rate} requests/s"),
        utilization,
        baseline: None,
        fitted_here: true,
        requests: run.ok,
        measured: measured(&run, base_rate, warmup)?,
        predicted,
    }];
    for (i, p) in plan.iter().enumerate() {
        let (predicted, utilization) = twin.predict(p.rate, p.change, args.seed)?;
        let (spec, what) = match p.change {
            Change::Rate => (None, format!("{} requests/s", p.rate)),
            Change::BackReplicas(n) => (
                Some(chain(
                    Mode::Sleep,
                    front.clone(),
                    back.clone(),
                    n,
                    args.seed,
                )),
                format!("back with {n} replicas, {} requests/s", p.rate),
            ),
            Change::SlowerBack(f) => (
                Some(chain(
                    Mode::Sleep,
                    front.clone(),
                    scaled(&back, f)?,
                    2,
                    args.seed,
                )),
                format!("back {f}x slower, {} requests/s", p.rate),
            ),
        };
        if let Some(spec) = spec {
            drop(chain_now);
            chain_now = Chain::start(&spec)?;
        }
        let run = chain_now.run_load(p.rate, case_seconds, args.seed + 1 + i as u64)?;
        cases.push(Case {
            name: p.name.into(),
            change: what,
            utilization,
            baseline: p.baseline.map(Into::into),
            fitted_here: false,
            requests: run.ok,
            measured: measured(&run, p.rate, warmup)?,
            predicted,
        });
    }
    drop(chain_now);
    let command = format!(
        "cargo run --release --example live-chain -- fidelity{} --seed {}",
        if args.short { " --short" } else { "" },
        args.seed
    );
    let mut notes = vec![format!(
        "Fitted from Prometheus (otel preset, {fit_seconds} s at {base_rate} requests/s, \
         1 s scrapes): {}; one-way loopback latency {:.3} ms (half of front's client-side \
         call mean less back's server-side mean).",
        twin.model
            .workloads
            .iter()
            .map(|w| format!("{} serviceTime {:?}", w.name, w.service_time()))
            .collect::<Vec<_>>()
            .join("; "),
        twin.latency_ms
    )];
    notes.extend(twin.model.notes.iter().cloned());
    Ok(Fidelity {
        title: "kubetwin fidelity: a live front → back chain (sleep mode)".into(),
        machine: machine(),
        command,
        cases,
        targets: Targets::ISSUE,
        notes,
    })
}

/// The busy-mode experiment: load-dependent vs fixed service times at a higher load.
fn load_dependence(args: &FidelityArgs) -> anyhow::Result<Fidelity> {
    let iters_per_ms = work::calibrate();
    let mode = Mode::Busy { iters_per_ms };
    let (front, back) = (log_normal(3.0, 0.3), log_normal(6.0, 0.3));
    let spec = chain(mode, front, back, 2, args.seed);
    let (window, warmup) = (60.0, 5.0);
    let (low, medium, high) = (40.0, 90.0, 140.0);
    let chain_now = Chain::start(&spec)?;
    let mut pulls = Vec::new();
    let mut twins = Vec::new();
    for (i, rate) in [low, medium].into_iter().enumerate() {
        let run = chain_now.run_load(rate, window, args.seed + i as u64)?;
        let obs = pull(&chain_now, run.start_unix + warmup, run.end_unix)?;
        twins.push(fit(&obs, &spec)?);
        pulls.push(prom::fit_observations(&obs, &kubetwin::fit::Family::ALL)?);
    }
    let fixed = twins.pop().context("the medium-load twin")?;
    let by_load = Twin {
        model: ObservedModel::by_load(pulls).context("two pulls")?,
        latency_ms: fixed.latency_ms,
        workers: fixed.workers.clone(),
        replicas: fixed.replicas.clone(),
    };
    let (fixed_prediction, utilization) = fixed.predict(high, Change::Rate, args.seed)?;
    let (by_load_prediction, _) = by_load.predict(high, Change::Rate, args.seed)?;
    let run = chain_now.run_load(high, window, args.seed + 2)?;
    let real = measured(&run, high, warmup)?;
    drop(chain_now);
    let case = |name: &str, predicted| Case {
        name: name.into(),
        change: format!("{high} requests/s, {}", name.replace('-', " ")),
        utilization,
        baseline: None,
        fitted_here: false,
        requests: run.ok,
        measured: real,
        predicted,
    };
    Ok(Fidelity {
        title: format!(
            "kubetwin fidelity: load-dependent service times (busy mode, fitted at {low} and \
             {medium} requests/s, predicting {high})"
        ),
        machine: machine(),
        command: format!(
            "cargo run --release --example live-chain -- fidelity --experiment \
             load-dependence --seed {}",
            args.seed
        ),
        cases: vec![
            case("fixed-model", fixed_prediction),
            case("load-dependent-model", by_load_prediction),
        ],
        targets: Targets::ISSUE,
        notes: by_load.model.notes.clone(),
    })
}

/// Writes `<stem>.md`, `<stem>.svg` and `<stem>.json` into `dir`.
fn write(dir: &Path, stem: &str, report: &Fidelity) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = |ext: &str| dir.join(format!("{stem}.{ext}"));
    std::fs::write(path("md"), report.markdown(&format!("{stem}.svg")))?;
    std::fs::write(path("svg"), report.svg()?)?;
    std::fs::write(path("json"), serde_json::to_string_pretty(report)? + "\n")?;
    Ok(())
}

/// `live-chain fidelity`.
///
/// # Errors
/// Any failure to start, load, pull, fit, simulate or write.
pub fn main(args: &FidelityArgs) -> anyhow::Result<()> {
    if args.experiment != Experiment::LoadDependence {
        let report = accuracy(args)?;
        write(&args.out, "fidelity", &report)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if args.experiment != Experiment::Accuracy {
        let report = load_dependence(args)?;
        write(&args.out, "load-dependence", &report)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
