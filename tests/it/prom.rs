//! `kubetwin::prom` and `kubetwin fit --prometheus` against a real Prometheus server holding
//! known data (tests/fixtures/prom): fitted quantiles, Prometheus' own `histogram_quantile`,
//! rates, the inferred call graph, every preset, and the errors for an unreachable server,
//! an empty result, a rejected query and a malformed one.

use crate::{openmetrics, server};

use std::process::Command;

use kubetwin::fit::{Family, histogram_quantile};
use kubetwin::prom::{
    self, EvalTime, Observations, ObservedModel, Preset, PromError, Prometheus, Queries, QueryKind,
    Window,
};
use openmetrics::{END, WORKLOADS};

use crate::common::assert_close;

/// Families fitted to histograms (mixtures are fitted from samples only).
const FAMILIES: [Family; 5] = [
    Family::LogNormal,
    Family::Gamma,
    Family::Weibull,
    Family::Exponential,
    Family::Normal,
];

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn pull(url: &str, queries: &Queries, namespace: &str) -> Result<Observations, PromError> {
    let server = Prometheus::new(url)?;
    let window = Window::parse("1h")?;
    let at = EvalTime::parse(&END.to_string())?;
    block_on(prom::pull(&server, queries, namespace, &window, &at))
}

/// Checks each workload of `shop`: observations over the hour, the fitted p99 within 1.4%
/// of the true one and Prometheus' `histogram_quantile` off by up to 62% (what the README
/// publishes), and `histogram_quantile` equal to ours on the same buckets.
fn check_workloads(preset: &str, obs: &Observations, model: &ObservedModel) {
    let mut worst_prometheus = 0.0f64;
    assert_eq!(
        model
            .workloads
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    for (w, truth) in model.workloads.iter().zip(&WORKLOADS) {
        assert_close(
            &format!("{preset} {} rate", w.name),
            w.rate,
            truth.rate,
            1e-6,
        );
        // Counters grow linearly, so increase() over 1 h is exactly rate * 3600.
        assert_close("observations", w.observations, truth.rate * 3600.0, 1e-6);
        let best = w.best();
        assert_eq!(best.family, Family::LogNormal, "{preset} {}", w.name);
        let fitted_p99 = best.quantile(0.99).unwrap();
        let buckets = &obs.histograms[&w.name];
        for (q, prometheus) in [(0.5, w.prometheus_p50), (0.99, w.prometheus_p99)] {
            let ours = histogram_quantile(q, buckets).unwrap();
            assert_close("histogram_quantile", prometheus.unwrap(), ours, 1e-9);
        }
        eprintln!(
            "{preset} {}: true p99 {:.2} ms, fitted {fitted_p99:.2} ms ({:+.2}%), \
             Prometheus histogram_quantile {:.2} ms ({:+.2}%); p50 true {:.2}, fitted {:.2}, \
             Prometheus {:.2}",
            w.name,
            truth.p99(),
            (fitted_p99 / truth.p99() - 1.0) * 100.0,
            w.prometheus_p99.unwrap(),
            (w.prometheus_p99.unwrap() / truth.p99() - 1.0) * 100.0,
            truth.median_ms,
            best.quantile(0.5).unwrap(),
            w.prometheus_p50.unwrap(),
        );
        // The README: "fitted p99 within 1.4% of the true p99" (rounded to 0.1%; the
        // worst is linkerd's workload c at 1.40%).
        assert_close(
            &format!("{preset} {} p99", w.name),
            fitted_p99,
            truth.p99(),
            0.0145,
        );
        worst_prometheus =
            worst_prometheus.max((w.prometheus_p99.unwrap() / truth.p99() - 1.0).abs());
    }
    // The README: "histogram_quantile is off by up to 62%" (rounded to a percent), the
    // worst case being Istio's buckets (61.6% on workload a; linkerd's and otel's are
    // within it).
    let lowest = if preset == "istio" { 0.615 } else { 0.0 };
    assert!(
        (lowest..0.625).contains(&worst_prometheus),
        "{preset}: histogram_quantile off by up to {:.1}%",
        worst_prometheus * 100.0
    );
}

/// Checks the call graph a -> b (0.7), a -> c (0.3) with users entering at a (20/s).
fn check_graph(preset: &str, model: &ObservedModel) {
    let g = &model.graph;
    eprintln!("{preset}: entries {:?}, calls {:?}", g.entries, g.calls);
    assert_eq!(g.entries.keys().collect::<Vec<_>>(), ["a"]);
    assert_close("entry rate", g.entries["a"], 20.0, 1e-6);
    assert_eq!(g.calls.keys().collect::<Vec<_>>(), ["a"]);
    assert_close("P(a -> b)", g.calls["a"]["b"], 0.7, 1e-6);
    assert_close("P(a -> c)", g.calls["a"]["c"], 0.3, 1e-6);
}

#[test]
#[ignore = "needs prometheus"]
fn istio_histograms_rates_and_call_graph_match_the_generated_data() {
    let server = server::shared();
    let obs = pull(&server.url, &Preset::Istio.queries(), "shop").unwrap();
    // `z` lives in namespace `other`; reporter="source" series would quadruple the rates.
    assert!(!obs.rates.contains_key("z"));
    let model = prom::fit_observations(&obs, &FAMILIES).unwrap();
    check_workloads("istio", &obs, &model);
    check_graph("istio", &model);
    let yaml = model.to_yaml("shop", "lab").unwrap();
    assert_eq!(yaml.matches("kind: ServiceModel").count(), 3, "{yaml}");
    assert!(
        yaml.contains("type: poisson") && yaml.contains("endSeconds: 3600"),
        "{yaml}"
    );
}

#[test]
#[ignore = "needs prometheus"]
fn linkerd_preset_reads_inbound_histograms_and_outbound_edges() {
    let server = server::shared();
    let obs = pull(&server.url, &Preset::Linkerd.queries(), "shop").unwrap();
    let model = prom::fit_observations(&obs, &FAMILIES).unwrap();
    check_workloads("linkerd", &obs, &model);
    check_graph("linkerd", &model);
}

#[test]
#[ignore = "needs prometheus"]
fn otel_durations_in_seconds_become_milliseconds_and_every_workload_is_an_entry() {
    let server = server::shared();
    let obs = pull(&server.url, &Preset::Otel.queries(), "shop").unwrap();
    let model = prom::fit_observations(&obs, &FAMILIES).unwrap();
    check_workloads("otel", &obs, &model);
    assert!(model.graph.calls.is_empty());
    let entries: Vec<(&str, f64)> = model
        .graph
        .entries
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(entries.len(), 3);
    for ((name, rate), truth) in entries.into_iter().zip(&WORKLOADS) {
        assert_eq!(name, truth.name);
        assert_close("entry rate", rate, truth.rate, 1e-6);
    }
}

#[test]
#[ignore = "needs prometheus"]
fn custom_queries_with_the_documented_labels_match_the_preset() {
    let server = server::shared();
    let rename = |q: &str, from: &str, to: &str| {
        format!("label_replace({q}, \"{to}\", \"$1\", \"{from}\", \"(.*)\")")
    };
    let istio = Preset::Istio.queries();
    let edges = istio.edges.as_deref().unwrap();
    let custom = Queries::custom(
        rename(&istio.histogram, "destination_workload", "workload"),
        rename(&istio.rates, "destination_workload", "workload"),
        Some(rename(
            &rename(edges, "source_workload", "source"),
            "destination_workload",
            "destination",
        )),
    );
    let from_custom = pull(&server.url, &custom, "shop").unwrap();
    let from_preset = pull(&server.url, &istio, "shop").unwrap();
    assert_eq!(from_custom.histograms, from_preset.histograms);
    assert_eq!(from_custom.rates, from_preset.rates);
    assert_eq!(
        from_custom.prometheus_quantiles,
        from_preset.prometheus_quantiles
    );
    let model = prom::fit_observations(&from_custom, &FAMILIES).unwrap();
    check_graph("custom", &model);
}

#[test]
fn an_unreachable_server_is_reported_with_the_url_and_the_query() {
    let url = server::closed_port_url();
    let err = pull(&url, &Preset::Istio.queries(), "shop").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            &err,
            PromError::Unreachable {
                kind: QueryKind::Histogram,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        message.contains(&format!("cannot reach Prometheus at {url}"))
            && message.contains("histogram query")
            && message.contains("istio_request_duration_milliseconds_bucket"),
        "{message}"
    );
}

#[test]
#[ignore = "needs prometheus"]
fn empty_rejected_and_malformed_results_name_the_query() {
    let server = server::shared();
    let err = pull(&server.url, &Preset::Istio.queries(), "nowhere").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            PromError::Empty {
                kind: QueryKind::Histogram,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("histogram query returned no series at 1700007200")
            && message.contains("destination_workload_namespace=\"nowhere\""),
        "{message}"
    );

    let broken = Queries::custom("sum by (workload, le) (".into(), "up".into(), None);
    let message = pull(&server.url, &broken, "shop").unwrap_err().to_string();
    assert!(
        message.contains("Prometheus rejected the histogram query") && message.contains("bad_data"),
        "{message}"
    );

    let no_le = Queries {
        workload_label: "destination_workload".into(),
        ..Queries::custom(Preset::Istio.queries().rates, "up".into(), None)
    };
    let message = pull(&server.url, &no_le, "shop").unwrap_err().to_string();
    assert!(
        message.contains("the histogram query returned {destination_workload=\"a\"} 20")
            && message.contains("no `le` label"),
        "{message}"
    );
}

#[test]
#[ignore = "needs prometheus"]
fn the_cli_writes_a_model_that_simulates() {
    let server = server::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.yaml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kubetwin"))
            .args(["fit", "--prometheus"])
            .args(args)
            .output()
            .unwrap()
    };
    let (end, out_path) = (END.to_string(), out.to_str().unwrap());
    let args = [
        &server.url,
        "--namespace",
        "shop",
        "--at",
        &end,
        "--user-location",
        "lab",
        "--out",
        out_path,
    ];
    let result = run(&args);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        stdout.contains("p99 fit") && stdout.contains("p99 prom"),
        "{stdout}"
    );
    assert!(
        stdout.contains("b=0.700 c=0.300") && stdout.contains("entries: a=20.000/s"),
        "{stdout}"
    );

    // Replicas are not in the metrics' model: 4 pods each keep every queue stable.
    let mut yaml = crate::common::topology(0.0);
    for w in &WORKLOADS {
        let service =
            crate::common::service(w.name, 4, "  serviceTime: {type: constant, value: 1}");
        // Keep the Deployment and Service; the ServiceModel comes from `kubetwin fit`.
        yaml.push_str(&service[..service.rfind("---").unwrap()]);
    }
    yaml.push_str("---\n");
    yaml.push_str(&std::fs::read_to_string(&out).unwrap());
    yaml.push_str("---\napiVersion: kubetwin.io/v1alpha1\nkind: Simulation\nmetadata: {name: run}\nspec: {seed: 3}\n");
    let report = crate::common::simulate_with(
        &yaml,
        &[],
        kubetwin::sim::BuildOptions {
            requests: Some(5_000),
            ..Default::default()
        },
    );
    crate::common::assert_accounted(&report);
    assert_eq!(report.requests.arrived, 5_000);
    // The inferred branches: b serves 70% and c 30% of a's requests (binomial, n = 5000:
    // a standard deviation below 0.0065, so 0.05 is more than 7 of them).
    let processed = |name: &str| {
        let s = report.services.iter().find(|s| s.name == name).unwrap();
        s.arrivals as f64
    };
    let a = processed("a");
    eprintln!(
        "simulated from the fitted model: b/a {:.3}, c/a {:.3} of {a} calls",
        processed("b") / a,
        processed("c") / a
    );
    assert!(
        (processed("b") / a - 0.7).abs() < 0.05,
        "{:?}",
        report.services
    );
    assert!(
        (processed("c") / a - 0.3).abs() < 0.05,
        "{:?}",
        report.services
    );

    let result = run(&[&server::closed_port_url(), "--namespace", "shop"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !result.status.success() && stderr.contains("cannot reach Prometheus"),
        "{stderr}"
    );
}
