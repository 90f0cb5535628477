//! Sweeps: replications with confidence intervals against Erlang C, thread-count
//! independence, shards run as separate processes merging to the single-machine result,
//! the Indexed Job manifest, and the Fig. 6 question (smallest replica count meeting a
//! p99 SLO).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kubetwin::sweep::{self, Dimension, Kpi, SweepSpec};

use crate::common::{assert_close, kubetwin};

/// Erlang C mean sojourn time (ms) of M/M/c with arrival rate `lambda` and service rate
/// `mu` per second.
fn erlang_c_sojourn_ms(c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let wait_probability = last / (sum + last);
    1000.0 * (1.0 / mu + wait_probability / (f64::from(c) * mu - lambda))
}

#[test]
fn replications_estimate_erlang_c_with_tight_confidence_intervals() {
    let spec = SweepSpec {
        scenario: "examples/mmc/scenario.yaml".into(),
        base: Vec::new(),
        dimensions: vec!["servicemodel:spec.workers=4..6".parse().unwrap()],
        replications: 8,
        seed: Some(11),
        requests: Some(30_000),
        slo: Some("mean<=12ms".parse().unwrap()),
        shard: None,
    };
    let r = sweep::run(&spec, &|_, _| {}).unwrap();
    assert_eq!(r.configurations.len(), 3);
    for (c, workers) in r.configurations.iter().zip(4..) {
        let theory = erlang_c_sojourn_ms(workers, 320.0, 100.0);
        let e = c.kpis["mean"];
        assert_eq!(e.n, 8);
        // 8 x ~26,800 measured requests: the mean within 2% of theory, and a 95% CI
        // narrower than 3% of it.
        assert_close(&format!("c = {workers}"), e.mean, theory, 0.02);
        assert!(e.ci95.unwrap() < 0.03 * theory, "{e:?}");
        // Common random numbers: replication r of every configuration has the same seed.
        let seeds: Vec<u64> = c.runs.iter().map(|k| k.seed).collect();
        assert_eq!(seeds, (11..19).collect::<Vec<_>>());
    }
    // Erlang C: 17.5, 11.4, 10.5 ms: five workers are the first to meet 12 ms.
    assert_eq!(r.first_meeting_slo, Some(1));
    assert_eq!(
        r.configurations
            .iter()
            .map(|c| c.meets_slo)
            .collect::<Vec<_>>(),
        [Some(false), Some(true), Some(true)]
    );
}

#[test]
fn the_result_does_not_depend_on_the_number_of_threads() {
    let spec = SweepSpec {
        scenario: "examples/edge-image-recognition/scenario.yaml".into(),
        base: Vec::new(),
        dimensions: vec![
            "deployment/ms1:spec.replicas=2..3".parse().unwrap(),
            "deployment/ms2:spec.replicas=2,4".parse().unwrap(),
        ],
        replications: 3,
        seed: None,
        requests: Some(3_000),
        slo: Some("p99<=60ms".parse().unwrap()),
        shard: None,
    };
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let r = pool.install(|| sweep::run(&spec, &|_, _| {}).unwrap());
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(on(1), on(3));
}

/// The paper's Fig. 6 question on the reference scenario: sweep both services' replicas
/// together; p99 falls as replicas rise, and the answer is the first count meeting 60 ms.
#[test]
fn fig6_sweep_finds_the_smallest_replica_count_meeting_the_slo() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("charts");
    let html = dir.path().join("sweep.html");
    let (ok, json, err) = kubetwin(&[
        "sweep",
        "examples/edge-image-recognition/scenario.yaml",
        "--vary",
        "deployment:spec.replicas=1..6",
        "--replications",
        "4",
        "--slo",
        "p99<=60ms",
        "-o",
        "json",
        "--plot",
        charts.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let r: sweep::SweepReport = serde_json::from_str(&json).unwrap();
    let p99_chart = std::fs::read_to_string(charts.join("p99.svg")).unwrap();
    assert!(p99_chart.contains("SLO p99&lt;=60ms") || p99_chart.contains("SLO p99<=60ms"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("<table"),
        "a self-contained report"
    );
    let p99: Vec<f64> = r
        .configurations
        .iter()
        .map(|c| c.mean(Kpi::P99).unwrap())
        .collect();
    // One replica of MS2 (9.2 ms at 100/s) is saturated; beyond a few replicas the
    // network dominates and p99 flattens.
    assert!(
        p99[0] > 1000.0 && p99[0] > p99[1] && p99[1] > p99[3],
        "{p99:?}"
    );
    let first = r.first_meeting_slo.expect("some replica count meets 60 ms");
    assert!(
        p99[first] <= 60.0 && p99[..first].iter().all(|p| *p > 60.0),
        "{p99:?}"
    );
    // Cost grows with the replicas.
    let cost: Vec<f64> = r
        .configurations
        .iter()
        .map(|c| c.mean(Kpi::CoreHours).unwrap())
        .collect();
    assert!(cost.windows(2).all(|w| w[0] < w[1]), "{cost:?}");
}

#[test]
fn shards_run_as_separate_processes_merge_to_the_single_machine_result() {
    let dir = tempfile::tempdir().unwrap();
    let common = [
        "sweep",
        "examples/edge-image-recognition/scenario.yaml",
        "--vary",
        "deployment/ms1:spec.replicas=2..4",
        "--vary",
        "deployment/ms2:spec.replicas=3,5",
        "--replications",
        "2",
        "--requests",
        "2000",
        "--slo",
        "p99<=60ms",
        "-o",
        "json",
    ];
    let (ok, whole, err) = kubetwin(&common);
    assert!(ok, "{err}");
    let mut files = Vec::new();
    for i in 0..4 {
        let shard = format!("{i}/4");
        let mut args = common.to_vec();
        args.extend(["--shard", shard.as_str()]);
        let (ok, out, err) = kubetwin(&args);
        assert!(ok, "{err}");
        let file = dir.path().join(format!("shard-{i}.json"));
        std::fs::write(&file, out).unwrap();
        files.push(file.to_str().unwrap().to_owned());
    }
    let mut merge = vec!["sweep", "merge", "-o", "json"];
    merge.extend(files.iter().map(String::as_str));
    let (ok, merged, err) = kubetwin(&merge);
    assert!(ok, "{err}");
    // Byte for byte (floats survive the JSON round trip exactly).
    assert!(merged == whole, "merged:\n{merged}\nwhole:\n{whole}");
    // A missing shard is an error that says which.
    let (ok, _, err) = kubetwin(&["sweep", "merge", &files[0], &files[1], &files[3]]);
    assert!(!ok && err.contains("shard 2/4 is missing"), "{err}");
}

#[test]
fn emit_job_prints_an_indexed_job_and_its_scenario() {
    let (ok, yaml, err) = kubetwin(&[
        "sweep",
        "examples/mmc/scenario.yaml",
        "--vary",
        "servicemodel:spec.workers=4..6",
        "--replications",
        "5",
        "--emit-job",
        "3",
    ]);
    assert!(ok, "{err}");
    let docs: Vec<&str> = yaml.split("\n---\n").collect();
    assert_eq!(docs.len(), 2, "{yaml}");
    let config_map: ConfigMap = serde_saphyr::from_str(docs[0]).unwrap();
    let job: Job = serde_saphyr::from_str(docs[1]).unwrap();
    let scenario = std::fs::read_to_string("examples/mmc/scenario.yaml").unwrap();
    assert_eq!(config_map.data.unwrap()["scenario.yaml"], scenario);
    let spec = job.spec.unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism), (Some(3), Some(3)));
    let pod = spec.template.spec.unwrap();
    let args = pod.containers[0].args.clone().unwrap();
    assert_eq!(
        args,
        [
            "sweep",
            "/scenario/scenario.yaml",
            "--vary",
            "servicemodel:spec.workers=4..6",
            "--replications",
            "5",
            "--shard",
            "$(JOB_COMPLETION_INDEX)/3",
            "--output",
            "json"
        ]
    );
    assert_eq!(
        pod.volumes.unwrap()[0].config_map.as_ref().unwrap().name,
        config_map.metadata.name.unwrap()
    );
    // What each pod runs is a valid shard of the sweep.
    let dimension: Dimension = args[3].parse().unwrap();
    assert_eq!(dimension.values, ["4", "5", "6"]);
}

#[test]
fn bad_sweep_arguments_are_clear_errors() {
    for (args, expected) in [
        (
            vec!["--vary", "deployment:spec.replicas=5..1"],
            "--vary \"deployment:spec.replicas=5..1\": range 5..1:1 is empty",
        ),
        (
            vec!["--vary", "deployment:spec.replicas=1..2", "--slo", "p99=60"],
            "--slo \"p99=60\": expected KPI<=VALUE",
        ),
        (
            vec!["--vary", "deployment:spec.replicas=1..2", "--shard", "4/4"],
            "--shard \"4/4\"",
        ),
        (
            vec!["--vary", "deployment:spec.replicaz=1..2"],
            "configuration 0 (deployment:spec.replicaz=1) is not a valid scenario",
        ),
    ] {
        let mut all = vec!["sweep", "examples/mmc/scenario.yaml"];
        all.extend(args);
        let (ok, _, err) = kubetwin(&all);
        assert!(!ok && err.contains(expected), "{err}");
    }
}

/// The optimizer on a space whose optimum an exhaustive sweep establishes: replicas of
/// MS1 and MS2 (1..8 each) minimising core-hours under p99 <= 60 ms. The genetic search,
/// allowed 20 of the 64 configurations, finds the same configuration.
#[test]
fn optimize_finds_the_exhaustive_optimum_with_a_smaller_budget() {
    let run = |budget: &str| {
        let (ok, json, err) = kubetwin(&[
            "optimize",
            "examples/edge-image-recognition/scenario.yaml",
            "--decide",
            "deployment/ms1:spec.replicas=1..8",
            "--decide",
            "deployment/ms2:spec.replicas=1..8",
            "--objective",
            "core-hours",
            "--slo",
            "p99<=60ms",
            "--replications",
            "2",
            "--requests",
            "3000",
            "--budget",
            budget,
            "-o",
            "json",
        ]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    let exhaustive = run("64");
    assert_eq!(exhaustive["method"], "exhaustive");
    assert_eq!(exhaustive["evaluations"], 64);
    // The known optimum: the cheapest configuration meeting the SLO among all 64.
    let evaluated = exhaustive["evaluated"].as_array().unwrap();
    let cost = |c: &serde_json::Value| c["kpis"]["core-hours"]["mean"].as_f64().unwrap();
    let optimum = evaluated
        .iter()
        .filter(|c| c["meetsSlo"] == true)
        .min_by(|a, b| cost(a).total_cmp(&cost(b)))
        .unwrap();
    assert_eq!(exhaustive["best"]["settings"], optimum["settings"]);
    let genetic = run("20");
    assert_eq!(genetic["method"], "genetic");
    assert!(genetic["evaluations"].as_u64().unwrap() <= 20);
    assert_eq!(genetic["best"]["settings"], optimum["settings"]);
    // The Pareto front trades cost for p99 as the SLO judges it: the upper end of its 95%
    // interval (the default `--slo-rule bound`), which falls as cost rises.
    let front = exhaustive["pareto"].as_array().unwrap();
    assert!(front.len() >= 2);
    for pair in front.windows(2) {
        let p99 = |c: &serde_json::Value| {
            let e = &c["kpis"]["p99"];
            e["mean"].as_f64().unwrap() + e["ci95"].as_f64().unwrap()
        };
        assert!(cost(&pair[0]) <= cost(&pair[1]) && p99(&pair[0]) > p99(&pair[1]));
    }
}

/// The load-balancing policy is an annotation whose key has dots: `\.` addresses it.
#[test]
fn a_sweep_can_vary_the_load_balancing_policy() {
    let spec = SweepSpec {
        scenario: "examples/edge-image-recognition/scenario.yaml".into(),
        base: Vec::new(),
        dimensions: vec![
            r"service/ms2:metadata.annotations.kubetwin\.io/load-balancing=random,latency-aware"
                .parse()
                .unwrap(),
        ],
        replications: 1,
        seed: None,
        requests: Some(2_000),
        slo: None,
        shard: None,
    };
    let r = sweep::run(&spec, &|_, _| {}).unwrap();
    let settings: Vec<&str> = r
        .configurations
        .iter()
        .map(|c| c.settings[0].as_str())
        .collect();
    assert_eq!(settings, ["random", "latency-aware"]);
    let mean: Vec<f64> = r
        .configurations
        .iter()
        .map(|c| c.mean(Kpi::Mean).unwrap())
        .collect();
    // With common random numbers, two runs of one configuration are identical: a
    // difference means the policy reached the Service.
    assert_ne!(mean[0], mean[1]);
}

/// The figures of replication `run` of the first configuration of `sweep -o json`.
fn sweep_run(json: &str, config: usize, run: usize) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["configurations"][config]["runs"][run].clone()
}

/// The same figures from `simulate -o json`, as the sweep names them.
fn simulate_figures(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = kubetwin(args);
    assert!(ok, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &r["ttr"];
    serde_json::json!({
        "seed": r["seed"], "arrived": r["requests"]["arrived"],
        "mean": t["mean"], "p50": t["p50"], "p90": t["p90"], "p95": t["p95"],
        "p99": t["p99"], "p999": t["p999"],
    })
}

fn only_ttr(run: &serde_json::Value) -> serde_json::Value {
    let keys = [
        "seed", "arrived", "mean", "p50", "p90", "p95", "p99", "p999",
    ];
    keys.iter()
        .map(|k| (k.to_string(), run[k].clone()))
        .collect()
}

#[test]
fn replication_r_is_the_run_simulate_makes_with_seed_plus_r() {
    // docs/sweep.md: replication r runs with SEED+r. Its measurement window (which ends
    // `cooldownSeconds` before the last arrival) must come from that seed too, so the
    // figures are equal to the last bit, not merely close.
    let scenario = "examples/edge-image-recognition/scenario.yaml";
    let (ok, sweep, err) = kubetwin(&[
        "sweep",
        scenario,
        "--vary",
        "deployment:spec.replicas=5",
        "--replications",
        "3",
        "--requests",
        "3000",
        "--seed",
        "7",
        "-o",
        "json",
    ]);
    assert!(ok, "{err}");
    for r in 0..3 {
        let seed = (7 + r).to_string();
        let alone = simulate_figures(&[
            "simulate",
            scenario,
            "--set",
            "deployment:spec.replicas=5",
            "--requests",
            "3000",
            "--seed",
            &seed,
            "-o",
            "json",
        ]);
        assert_eq!(
            only_ttr(&sweep_run(&sweep, 0, r as usize)),
            alone,
            "replication {r}"
        );
    }
}

#[test]
fn varying_the_scenario_seed_changes_the_runs() {
    let scenario = "examples/edge-image-recognition/scenario.yaml";
    let (ok, sweep, err) = kubetwin(&[
        "sweep",
        scenario,
        "--vary",
        "simulation:spec.seed=1,2",
        "--replications",
        "2",
        "--requests",
        "2000",
        "-o",
        "json",
    ]);
    assert!(ok, "{err}");
    let seeds = |c| [0, 1].map(|r| sweep_run(&sweep, c, r)["seed"].as_u64().unwrap());
    assert_eq!((seeds(0), seeds(1)), ([1, 2], [2, 3]));
    // Seed 2 is replication 1 of the first configuration and replication 0 of the second:
    // the same run; seeds 1 and 2 are not.
    assert_eq!(sweep_run(&sweep, 0, 1), sweep_run(&sweep, 1, 0));
    assert_ne!(
        sweep_run(&sweep, 0, 0)["p99"],
        sweep_run(&sweep, 1, 0)["p99"]
    );
    // With --seed, which fixes every configuration's seed, varying it is an error.
    let (ok, _, err) = kubetwin(&[
        "sweep",
        scenario,
        "--vary",
        "simulation:spec.seed=1,2",
        "--seed",
        "3",
        "--requests",
        "100",
    ]);
    assert!(
        !ok && err.contains("varies the seed, which --seed fixes"),
        "{err}"
    );
}
