//! `kubetwin fit` on files, end to end: samples CSV to a scenario snippet, a ranked table,
//! JSON and an SVG plot; latency summaries to a Topology `links:` snippet; and the errors.

use std::path::Path;

use kubetwin::model::dist::DistSpec;
use kubetwin::model::kinds::LinkSpec;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::Deserialize;

use crate::common::assert_close;

/// Runs `kubetwin fit ARGS...`.
fn kubetwin(args: &[&str]) -> (bool, String, String) {
    crate::common::kubetwin(&[&["fit"], args].concat())
}

/// Writes `latency_ms,noise` rows: 10,000 draws of `d` (seed 11) and a uniform column.
fn samples_csv(dir: &Path, d: impl rand_distr::Distribution<f64>) -> String {
    let mut rng = Pcg64::seed_from_u64(11);
    let mut text = String::from("latency_ms,noise\n");
    for i in 0..10_000 {
        text.push_str(&format!("{},{}\n", d.sample(&mut rng), i % 7));
    }
    let path = dir.join("samples.csv");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snippet {
    service_time: DistSpec,
}

#[test]
fn log_normal_samples_give_a_pasteable_log_normal_within_5_percent() {
    let dir = tempfile::tempdir().unwrap();
    let csv = samples_csv(dir.path(), rand_distr::LogNormal::new(2.0, 0.5).unwrap());
    let (ok, yaml, err) = kubetwin(&[&csv, "--column", "latency_ms"]);
    assert!(ok, "{err}");
    assert!(
        yaml.starts_with("# kubetwin fit") && yaml.contains("best of 8 families by BIC: lognormal"),
        "{yaml}"
    );
    let snippet: Snippet = serde_saphyr::from_str(&yaml).unwrap();
    let DistSpec::LogNormal { mu, sigma, shift } = snippet.service_time else {
        panic!("{yaml}")
    };
    assert_close("mu", mu, 2.0, 0.05);
    assert_close("sigma", sigma, 0.5, 0.05);
    assert_eq!(shift, 0.0);

    let svg = dir.path().join("fit.svg");
    let svg_path = svg.to_str().unwrap();
    let families = "lognormal,gamma,weibull,normal";
    let (ok, table, err) = kubetwin(&[
        &csv,
        "-o",
        "table",
        "--families",
        families,
        "--plot",
        svg_path,
    ]);
    assert!(ok, "{err}");
    let header = table.lines().find(|l| l.contains("RANK")).unwrap();
    for column in ["FAMILY", "AIC", "BIC", "KS D", "AD A2", "p50", "p99"] {
        assert!(header.contains(column), "{header}");
    }
    let first = table
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(first.contains("lognormal"), "{table}");
    let ranked = table
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|t| t.parse::<usize>().is_ok())
        })
        .count();
    assert_eq!(ranked, 4, "{table}");
    assert!(
        table.trim_end().ends_with('}') && table.contains("serviceTime: {type: logNormal"),
        "{table}"
    );
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("<text") && svg.contains("lognormal (BIC"));
}

#[test]
fn a_two_component_mixture_is_found_and_reported_as_json() {
    let dir = tempfile::tempdir().unwrap();
    // 30% N(10, 1) and 70% N(30, 3): one uniform draw picks the component.
    struct Mixture;
    impl rand_distr::Distribution<f64> for Mixture {
        fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
            let u: f64 = rand_distr::StandardUniform.sample(rng);
            let (mean, sd) = if u < 0.3 { (10.0, 1.0) } else { (30.0, 3.0) };
            rand_distr::Normal::new(mean, sd).unwrap().sample(rng)
        }
    }
    let csv = samples_csv(dir.path(), Mixture);
    let (ok, json, err) = kubetwin(&[&csv, "--families", "gmm,normal,lognormal", "-o", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["best"], "gmm");
    assert_eq!(v["samples"], 10_000);
    assert_eq!(v["fits"].as_array().unwrap().len(), 3);
    let spec: DistSpec = serde_json::from_value(v["fits"][0]["spec"].clone()).unwrap();
    let DistSpec::Mixture { mut components } = spec else {
        panic!("{json}")
    };
    assert_eq!(components.len(), 2, "{json}");
    components.sort_by(|a, b| a.weight.total_cmp(&b.weight));
    for (c, (weight, mean, sd)) in components.iter().zip([(0.3, 10.0, 1.0), (0.7, 30.0, 3.0)]) {
        assert_close("weight", c.weight, weight, 0.05);
        let DistSpec::Normal {
            mean: m,
            std_dev: s,
            ..
        } = c.distribution
        else {
            panic!("{json}")
        };
        assert_close("mean", m, mean, 0.05);
        assert_close("std dev", s, sd, 0.05);
    }
    let p99 = v["fits"][0]["p99"].as_f64().unwrap();
    assert_close(
        "fitted p99 vs samples' p99",
        p99,
        v["p99"].as_f64().unwrap(),
        0.02,
    );
}

#[test]
fn latency_summaries_become_topology_links() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("latency.csv");
    // Table I: eu-south-1 -> eu-central-1 is 12.60 / 5.82 ms; its p99 is mu + 2.3263 sigma.
    let p99 = 12.6 + 5.82 * 2.326_347_874_040_841;
    std::fs::write(
        &csv,
        format!(
            "from,to,mean_ms,percentile,value_ms\n\
             eu-south-1,eu-central-1,12.6,99,{p99}\n\
             eu-west-3,eu-west-2,10.27,99,14.76\n\
             eu-west-2,eu-west-3,10.5,99,15.0\n"
        ),
    )
    .unwrap();
    let (ok, yaml, err) = kubetwin(&["--latency", csv.to_str().unwrap()]);
    assert!(ok, "{err}");
    #[derive(Deserialize)]
    struct Links {
        links: Vec<LinkSpec>,
    }
    let links: Links = serde_saphyr::from_str(&yaml).unwrap();
    let symmetric: Vec<bool> = links.links.iter().map(|l| l.symmetric).collect();
    assert_eq!(symmetric, [true, false, false], "{yaml}");
    let DistSpec::Normal {
        mean,
        std_dev,
        min,
        max,
    } = &links.links[0].distribution
    else {
        panic!("{yaml}")
    };
    assert_eq!((*mean, *min, *max), (12.6, Some(0.0), None));
    assert!((std_dev - 5.82).abs() < 1e-9, "{std_dev}");

    let (ok, table, _) = kubetwin(&["--latency", csv.to_str().unwrap(), "-o", "table"]);
    assert!(
        ok && table.contains("eu-south-1") && table.contains("5.820"),
        "{table}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = samples_csv(dir.path(), rand_distr::Exp::new(1.0).unwrap());
    let cases: [(&[&str], &str); 5] = [
        (&[], "give SAMPLES.csv"),
        (&[&csv, "--column", "nope"], "no column \"nope\""),
        (&[&csv, "--families", "beta"], "unknown family `beta`"),
        (&["missing.csv"], "missing.csv"),
        (
            &[&csv, "--column", "noise", "--families", "pareto"],
            "pareto needs samples > 0",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, err) = kubetwin(args);
        assert!(!ok && err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn samples_tagged_with_load_give_a_load_dependent_time() {
    // 2,000 log-normal draws at each of 10 and 30 requests/s per pod, mu 1.0 and 1.5,
    // sigma 0.3, rows interleaved. The MLE of mu has a standard error of 0.3 / sqrt(2000)
    // = 0.0067: within 4 of them (0.027); sigma's is 0.3 / sqrt(4000) = 0.0047: 0.02.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64::seed_from_u64(5);
    let mut text = String::from("ms,rps\n");
    let (slow, fast) = (
        rand_distr::LogNormal::new(1.5, 0.3).unwrap(),
        rand_distr::LogNormal::new(1.0, 0.3).unwrap(),
    );
    for _ in 0..2000 {
        use rand_distr::Distribution as _;
        text.push_str(&format!("{},30\n", slow.sample(&mut rng)));
        text.push_str(&format!("{},10\n", fast.sample(&mut rng)));
    }
    let csv = dir.path().join("tagged.csv");
    std::fs::write(&csv, text).unwrap();
    let csv = csv.to_str().unwrap();
    let (ok, yaml, err) = kubetwin(&[csv, "--column", "ms", "--load-column", "rps"]);
    assert!(ok, "{err}");
    assert!(
        yaml.contains("4000 samples at 2 loads; lognormal fits them best"),
        "{yaml}"
    );
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ByLoad {
        service_time_by_load: kubetwin::model::kinds::LoadDependentSpec,
    }
    let spec = serde_saphyr::from_str::<ByLoad>(&yaml)
        .unwrap()
        .service_time_by_load;
    let loads: Vec<f64> = spec.levels.iter().map(|l| l.requests_per_second).collect();
    assert_eq!(loads, [10.0, 30.0]);
    for (level, expected_mu) in spec.levels.iter().zip([1.0, 1.5]) {
        let DistSpec::LogNormal { mu, sigma, .. } = level.service_time else {
            panic!("{yaml}")
        };
        assert!((mu - expected_mu).abs() < 0.027, "{yaml}");
        assert!((sigma - 0.3).abs() < 0.02, "{yaml}");
    }
    // The snippet is a valid ServiceModel spec.
    let yaml_model = crate::common::topology(0.0)
        + &crate::common::service("server", 1, &indent(&yaml))
        + &crate::common::workload(
            "server",
            "    - {requests: 100, arrivals: {type: poisson, rate: 10}}",
            "  seed: 1",
        );
    crate::common::assert_accounted(&crate::common::simulate(&yaml_model));

    let one = dir.path().join("one.csv");
    std::fs::write(&one, "ms,rps\n1,5\n2,5\n").unwrap();
    let (ok, _, err) = kubetwin(&[one.to_str().unwrap(), "--load-column", "rps"]);
    assert!(
        !ok && err.contains("the load column has one value (5)"),
        "{err}"
    );
}

/// `text` without comment lines, indented by 2 (a ServiceModel spec body).
fn indent(text: &str) -> String {
    (text.lines())
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("  {l}\n"))
        .collect()
}
