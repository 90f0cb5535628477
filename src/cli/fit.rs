//! `kubetwin fit`: fit distributions to measured samples, a latency matrix to published
//! summaries, or a whole ServiceModel/Workload model to a Prometheus server's metrics.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use kubetwin::fit::{self, Family, FitReport};
use kubetwin::model::dist::DistSpec;
use kubetwin::model::kinds::{LinkSpec, LoadDependentSpec, LoadLevelSpec};
use kubetwin::report::fit_plot;
use serde::Serialize;
use serde_saphyr::FlowMap;

/// Output formats of `kubetwin fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A scenario snippet ready to paste (comments give the scores).
    Yaml,
    /// Every fit with its scores, as JSON.
    Json,
    /// Every fit ranked in a table, with the best as a snippet.
    Table,
}

/// The arguments of `kubetwin fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV file of samples with a header row; one column is fitted.
    #[arg(value_name = "SAMPLES.csv")]
    samples: Option<PathBuf>,
    /// The column of SAMPLES.csv to fit, by header name (default: the first).
    #[arg(long, requires = "samples")]
    column: Option<String>,
    /// Samples tagged with load: the column of SAMPLES.csv with the load (requests per
    /// second per pod) each sample was measured at. Each distinct load is a level of a
    /// load-dependent `serviceTimeByLoad`, all levels fitted with the one family that fits
    /// them best together (smallest total BIC).
    #[arg(long, requires = "samples", conflicts_with = "plot")]
    load_column: Option<String>,
    /// Families to fit, comma-separated: lognormal, gamma, weibull, exponential, normal,
    /// pareto, gmm, lognormal-mixture (mixtures are fitted from samples only).
    #[arg(
        long,
        default_value = "lognormal,gamma,weibull,exponential,normal,pareto,gmm,lognormal-mixture"
    )]
    families: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Yaml)]
    output: Output,
    /// Also draw the samples' histogram and empirical CDF with the fitted models (SVG).
    #[arg(long, value_name = "FILE.svg", requires = "samples")]
    plot: Option<PathBuf>,
    /// Fit a latency matrix instead: a CSV of summaries with columns from, to, mean_ms,
    /// percentile, value_ms, printed as a Topology `links:` snippet.
    #[arg(long, value_name = "SUMMARIES.csv", conflicts_with = "samples")]
    latency: Option<PathBuf>,
    #[cfg(feature = "operator")]
    #[command(flatten)]
    prometheus: prom_mode::PromArgs,
}

#[cfg(feature = "operator")]
const NO_INPUT: &str = "give SAMPLES.csv, --latency SUMMARIES.csv or --prometheus URL";
#[cfg(not(feature = "operator"))]
const NO_INPUT: &str = "give SAMPLES.csv or --latency SUMMARIES.csv";

/// Runs `kubetwin fit`: `--prometheus`, `--latency` or samples, in that order of precedence.
pub fn run(args: Args) -> anyhow::Result<()> {
    let families = Family::parse_list(&args.families)?;
    #[cfg(feature = "operator")]
    if args.prometheus.prometheus.is_some() {
        return prom_mode::run(&args.prometheus, &families, args.output);
    }
    #[cfg(feature = "operator")]
    prom_mode::check_unused(&args.prometheus)?;
    if let Some(path) = &args.latency {
        return latency(path, args.output);
    }
    let path = args.samples.as_deref().context(NO_INPUT)?;
    let samples = fit::read_csv_column(path, args.column.as_deref())?;
    if let Some(load_column) = &args.load_column {
        let loads = fit::read_csv_column(path, Some(load_column))?;
        return by_load(path, &samples, &loads, &families, args.output);
    }
    let report = fit::fit_samples(&samples, &families)
        .with_context(|| format!("fitting {}", path.display()))?;
    if let Some(plot) = &args.plot {
        let title = format!("kubetwin fit {}", path.display());
        let svg = fit_plot::fit_plot_svg(&samples, &report.fits, &title)?;
        std::fs::write(plot, svg).with_context(|| format!("writing {}", plot.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Yaml => write_samples_yaml(&mut out, path, &samples, &report)?,
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &samples_json(&samples, &report)?)?;
            writeln!(out)?;
        }
        Output::Table => write_samples_table(&mut out, path, &samples, &report)?,
    }
    Ok(())
}

/// The samples' p50 and p99, interpolated linearly between order statistics.
fn empirical_p50_p99(samples: &[f64]) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let quantile = |p: f64| {
        let rank = p * s.len().saturating_sub(1) as f64;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        s[low] + (s[high] - s[low]) * (rank - low as f64)
    };
    (quantile(0.5), quantile(0.99))
}

/// `serviceTime: {...}` on one line.
fn snippet(spec: &DistSpec) -> anyhow::Result<String> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Snippet<'a> {
        service_time: FlowMap<&'a DistSpec>,
    }
    let service_time = FlowMap(spec);
    Ok(serde_saphyr::to_string(&Snippet { service_time })?)
}

fn write_samples_yaml(
    out: &mut impl Write,
    path: &Path,
    samples: &[f64],
    report: &FitReport,
) -> anyhow::Result<()> {
    let (shown, n, k) = (path.display(), samples.len(), report.fits.len());
    let b = report.best();
    let (family, aic, bic, ks, ad) = (b.family, b.aic, b.bic, b.ks, b.anderson_darling);
    writeln!(
        out,
        "# kubetwin fit {shown}: {n} samples; best of {k} families by BIC: {family} \
         (AIC {aic:.1}, BIC {bic:.1}, KS D {ks:.4}, AD A2 {ad:.3})"
    )?;
    let (p50, p99) = empirical_p50_p99(samples);
    let (f50, f99) = (b.quantile(0.5)?, b.quantile(0.99)?);
    writeln!(
        out,
        "# p50 {f50:.4} (samples {p50:.4}), p99 {f99:.4} (samples {p99:.4})"
    )?;
    write!(out, "{}", snippet(&b.spec)?)?;
    Ok(())
}

fn samples_json(samples: &[f64], report: &FitReport) -> anyhow::Result<serde_json::Value> {
    let fits = (report.fits.iter())
        .map(|f| {
            let mut v = serde_json::to_value(f)?;
            v["p50"] = f.quantile(0.5)?.into();
            v["p99"] = f.quantile(0.99)?.into();
            Ok(v)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let skipped: Vec<serde_json::Value> = (report.skipped.iter())
        .map(|(family, e)| serde_json::json!({"family": family, "reason": e.to_string()}))
        .collect();
    let (p50, p99) = empirical_p50_p99(samples);
    let best = report.best().family;
    Ok(serde_json::json!({
        "samples": samples.len(), "p50": p50, "p99": p99, "best": best, "fits": fits,
        "skipped": skipped,
    }))
}

fn write_samples_table(
    out: &mut impl Write,
    path: &Path,
    samples: &[f64],
    report: &FitReport,
) -> anyhow::Result<()> {
    let ((p50, p99), shown, n) = (empirical_p50_p99(samples), path.display(), samples.len());
    writeln!(
        out,
        "kubetwin fit {shown}: {n} samples, p50 {p50:.4}, p99 {p99:.4}\n"
    )?;
    writeln!(
        out,
        "{:>4} {:<18} {:>3} {:>14} {:>14} {:>14} {:>8} {:>10} {:>11} {:>11}",
        "RANK", "FAMILY", "K", "LOG-LIK", "AIC", "BIC", "KS D", "AD A2", "p50", "p99"
    )?;
    for (i, f) in report.fits.iter().enumerate() {
        let family = match f.components() {
            1 => f.family.to_string(),
            k => format!("{} (k={k})", f.family),
        };
        let (rank, k, ll, aic, bic) = (i + 1, f.parameters, f.log_likelihood, f.aic, f.bic);
        let (ks, ad) = (f.ks, f.anderson_darling);
        let (p50, p99) = (f.quantile(0.5)?, f.quantile(0.99)?);
        writeln!(
            out,
            "{rank:>4} {family:<18} {k:>3} {ll:>14.2} {aic:>14.2} {bic:>14.2} {ks:>8.4} \
             {ad:>10.3} {p50:>11.4} {p99:>11.4}"
        )?;
    }
    for (family, reason) in &report.skipped {
        writeln!(out, "skipped {family}: {reason}")?;
    }
    write!(out, "\n{}", snippet(&report.best().spec)?)?;
    Ok(())
}

/// Samples per load level, by increasing load.
fn levels(samples: &[f64], loads: &[f64]) -> Vec<(f64, Vec<f64>)> {
    let mut levels: Vec<(f64, Vec<f64>)> = Vec::new();
    for (&x, &load) in samples.iter().zip(loads) {
        match levels.iter_mut().find(|(l, _)| *l == load) {
            Some((_, xs)) => xs.push(x),
            None => levels.push((load, vec![x])),
        }
    }
    levels.sort_by(|a, b| a.0.total_cmp(&b.0));
    levels
}

/// `--load-column`: one fit per load level, in the family best over all levels.
fn by_load(
    path: &Path,
    samples: &[f64],
    loads: &[f64],
    families: &[Family],
    output: Output,
) -> anyhow::Result<()> {
    const MIN_SAMPLES: usize = 20;
    let shown = path.display();
    let levels = levels(samples, loads);
    anyhow::ensure!(
        levels.len() >= 2,
        "{shown}: the load column has one value ({}); a load-dependent time needs two or more",
        levels[0].0
    );
    let mut reports = Vec::new();
    for (load, xs) in &levels {
        anyhow::ensure!(
            xs.len() >= MIN_SAMPLES && *load >= 0.0,
            "{shown}: load {load} has {} samples; each level needs at least {MIN_SAMPLES} \
             and a load >= 0",
            xs.len()
        );
        let report = fit::fit_samples(xs, families)
            .with_context(|| format!("fitting {shown} at load {load}"))?;
        reports.push(report);
    }
    // The family every level could be fitted with, smallest total BIC.
    let total_bic = |family: Family| -> Option<f64> {
        (reports.iter())
            .map(|r| r.fits.iter().find(|f| f.family == family).map(|f| f.bic))
            .sum()
    };
    let (family, bic) = (families.iter())
        .filter_map(|&f| Some((f, total_bic(f)?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .context("no family fits every load level")?;
    let chosen: Vec<&fit::Fit> = (reports.iter())
        .map(|r| r.fits.iter().find(|f| f.family == family).expect("fitted"))
        .collect();
    let spec = LoadDependentSpec {
        window_seconds: 10.0,
        levels: (levels.iter().zip(&chosen))
            .map(|((load, _), f)| LoadLevelSpec {
                requests_per_second: *load,
                service_time: f.spec.clone(),
            })
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let levels: Vec<serde_json::Value> = (levels.iter().zip(&chosen))
                .map(|((load, xs), f)| {
                    let (p50, p99) = empirical_p50_p99(xs);
                    Ok(serde_json::json!({
                        "load": load, "samples": xs.len(), "p50": p50, "p99": p99,
                        "fit": serde_json::to_value(f)?,
                        "fit_p50": f.quantile(0.5)?, "fit_p99": f.quantile(0.99)?,
                    }))
                })
                .collect::<anyhow::Result<_>>()?;
            let value = serde_json::json!({"family": family, "total_bic": bic, "levels": levels});
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
        Output::Yaml | Output::Table => {
            let n = levels.len();
            writeln!(
                out,
                "# kubetwin fit {shown}: {} samples at {n} loads; {family} fits them best \
                 together (total BIC {bic:.1})",
                samples.len()
            )?;
            for ((load, xs), f) in levels.iter().zip(&chosen) {
                let (p50, p99) = empirical_p50_p99(xs);
                let (f50, f99) = (f.quantile(0.5)?, f.quantile(0.99)?);
                writeln!(
                    out,
                    "# load {load}: {} samples, p50 {f50:.4} (samples {p50:.4}), p99 {f99:.4} \
                     (samples {p99:.4})",
                    xs.len()
                )?;
            }
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Snippet<'a> {
                service_time_by_load: &'a LoadDependentSpec,
            }
            let snippet = Snippet {
                service_time_by_load: &spec,
            };
            write!(out, "{}", serde_saphyr::to_string(&snippet)?)?;
        }
    }
    Ok(())
}

/// `--latency`: one truncated normal per pair, symmetric unless the reverse pair is given.
fn latency(path: &Path, output: Output) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let pairs = fit::latency_matrix_from_summaries(file)
        .with_context(|| format!("reading {}", path.display()))?;
    let links: Vec<LinkSpec> = pairs
        .iter()
        .map(|p| LinkSpec {
            from: p.from.clone(),
            to: p.to.clone(),
            distribution: p.spec.clone(),
            symmetric: !pairs.iter().any(|q| q.from == p.to && q.to == p.from),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    match output {
        Output::Yaml => {
            #[derive(Serialize)]
            struct Links<'a> {
                links: Vec<FlowMap<&'a LinkSpec>>,
            }
            let shown = path.display();
            writeln!(
                out,
                "# kubetwin fit --latency {shown}: one-way latency in ms, min 0"
            )?;
            let links = Links {
                links: links.iter().map(FlowMap).collect(),
            };
            write!(out, "{}", serde_saphyr::to_string(&links)?)?;
        }
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &links)?;
            writeln!(out)?;
        }
        Output::Table => {
            let head = ["FROM", "TO", "MEAN (ms)", "STD (ms)", "SYMMETRIC"];
            writeln!(
                out,
                "{:<20} {:<20} {:>10} {:>10} {:>9}",
                head[0], head[1], head[2], head[3], head[4]
            )?;
            for l in &links {
                let (from, to, symmetric) = (&l.from, &l.to, l.symmetric);
                if let DistSpec::Normal { mean, std_dev, .. } = &l.distribution {
                    writeln!(
                        out,
                        "{from:<20} {to:<20} {mean:>10.3} {std_dev:>10.3} {symmetric:>9}"
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// `--prometheus`: pull, fit, infer the call graph, write ServiceModel and Workload documents.
#[cfg(feature = "operator")]
mod prom_mode {
    use super::*;
    use kubetwin::prom::{self, EvalTime, Preset, Prometheus, Queries, Window};

    /// A metrics preset, or `custom` queries.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
    pub enum PresetArg {
        /// Istio standard metrics (istio_request_duration_milliseconds, istio_requests_total).
        Istio,
        /// Linkerd proxy metrics (response_latency_ms, request_total).
        Linkerd,
        /// OpenTelemetry HTTP semantic conventions (http_server_request_duration_seconds).
        Otel,
        /// Your own PromQL: --histogram-query (labels `workload`, `le`), --rate-query (label
        /// `workload`) and optionally --edge-query (labels `source`, `destination`).
        Custom,
    }

    /// The `--prometheus` mode's flags.
    #[derive(Debug, clap::Args)]
    pub struct PromArgs {
        /// Fit ServiceModels and a Workload to the metrics of the Prometheus server at URL.
        #[arg(long, value_name = "URL", conflicts_with_all = ["samples", "latency"])]
        pub prometheus: Option<String>,
        /// Which metric names to query.
        #[arg(long, value_enum, default_value_t = PresetArg::Istio)]
        preset: PresetArg,
        /// The Kubernetes namespace of the workloads (`${namespace}` in custom queries).
        #[arg(long)]
        namespace: Option<String>,
        /// How far back to look from --at, as a PromQL duration (`${window}` in custom queries).
        #[arg(long, default_value = "1h")]
        window: String,
        /// The end of the window: unix seconds or RFC 3339 (default: the server's now).
        /// Repeat it for windows at different loads: each workload's time at each window's
        /// request rate per pod becomes a level of a load-dependent `serviceTimeByLoad`
        /// (the call graph and the Workload come from the last window).
        #[arg(long)]
        at: Vec<String>,
        /// Write the documents to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The Workload's userLocation (a location of your Topology).
        #[arg(long, default_value = "users")]
        user_location: String,
        /// Custom: bucket counts over the window, by labels `workload` and `le`.
        #[arg(long, value_name = "PROMQL")]
        histogram_query: Option<String>,
        /// Custom: inbound requests per second, by label `workload`.
        #[arg(long, value_name = "PROMQL")]
        rate_query: Option<String>,
        /// Custom: requests per second, by labels `source` and `destination`.
        #[arg(long, value_name = "PROMQL")]
        edge_query: Option<String>,
        /// Custom: the unit of the histogram's `le`.
        #[arg(long, value_parser = ["ms", "s"], default_value = "ms")]
        histogram_unit: String,
    }

    fn queries(a: &PromArgs) -> anyhow::Result<Queries> {
        Ok(match a.preset {
            PresetArg::Istio => Preset::Istio.queries(),
            PresetArg::Linkerd => Preset::Linkerd.queries(),
            PresetArg::Otel => Preset::Otel.queries(),
            PresetArg::Custom => {
                let needs = |q: &Option<String>, flag| {
                    q.clone()
                        .with_context(|| format!("--preset custom needs {flag}"))
                };
                Queries {
                    to_milliseconds: if a.histogram_unit == "s" { 1000.0 } else { 1.0 },
                    ..Queries::custom(
                        needs(&a.histogram_query, "--histogram-query")?,
                        needs(&a.rate_query, "--rate-query")?,
                        a.edge_query.clone(),
                    )
                }
            }
        })
    }

    /// Fails when a flag that only applies with `--prometheus` is given without it.
    pub fn check_unused(a: &PromArgs) -> anyhow::Result<()> {
        let queries = [&a.histogram_query, &a.rate_query, &a.edge_query];
        let used = a.namespace.is_some() || !a.at.is_empty() || a.out.is_some();
        anyhow::ensure!(
            !used && queries.iter().all(|q| q.is_none()),
            "--namespace, --at, --out and --*-query apply only with --prometheus URL"
        );
        Ok(())
    }

    /// Pulls, fits, writes the documents and prints the comparison table.
    pub fn run(a: &PromArgs, families: &[Family], output: Output) -> anyhow::Result<()> {
        let url = a.prometheus.as_deref().context("--prometheus URL")?;
        let namespace = a
            .namespace
            .as_deref()
            .context("--prometheus needs --namespace")?;
        let (queries, window) = (queries(a)?, Window::parse(&a.window)?);
        let times = match a.at.as_slice() {
            [] => vec![EvalTime::Now],
            times => (times.iter())
                .map(|t| EvalTime::parse(t))
                .collect::<Result<_, _>>()?,
        };
        let server = Prometheus::new(url)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let mut pulls = Vec::new();
        for at in &times {
            let obs = runtime.block_on(prom::pull(&server, &queries, namespace, &window, at))?;
            pulls.push(prom::fit_observations(&obs, families)?);
        }
        let at = (times.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(", ");
        let model = if pulls.len() == 1 {
            pulls.remove(0)
        } else {
            prom::ObservedModel::by_load(pulls).context("no pulls")?
        };
        let workload = model.workload(namespace, &a.user_location);
        let documents = if output == Output::Json {
            let mut docs = (model.service_models().iter())
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()?;
            docs.push(serde_json::to_value(workload)?);
            serde_json::to_string_pretty(&docs)? + "\n"
        } else {
            let preset = format!("{:?}", a.preset).to_lowercase();
            let mut text = format!(
                "# kubetwin fit --prometheus {url} --preset {preset} --namespace {namespace} \
                 --window {window} (ending {at})\n"
            );
            for note in &model.notes {
                text.push_str(&format!("# note: {note}\n"));
            }
            text + &model.to_yaml(namespace, &a.user_location)?
        };
        if let Some(path) = &a.out {
            std::fs::write(path, &documents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
        if a.out.is_none() && output != Output::Table {
            stdout.write_all(documents.as_bytes())?;
            stdout.flush()?;
            Ok(model.write_table(&mut stderr)?)
        } else {
            Ok(model.write_table(&mut stdout)?)
        }
    }
}
