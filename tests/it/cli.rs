//! The `kubetwin` binary end to end: formats, files, exit codes and error messages.

use crate::common::kubetwin;

#[test]
fn simulate_prints_a_table_json_and_csv() {
    let (ok, table, err) = kubetwin(&[
        "simulate",
        "examples/mmc/scenario.yaml",
        "--requests",
        "3000",
    ]);
    assert!(ok, "{err}");
    assert!(
        table.contains("TIME TO RESOLUTION (ms)") && table.contains("server"),
        "{table}"
    );
    assert!(
        table.contains("3000 arrived = 3000 completed + 0 rejected + 0 failed + 0 in flight"),
        "{table}"
    );

    let (ok, json, err) = kubetwin(&[
        "simulate",
        "examples/mmc/scenario.yaml",
        "--requests",
        "6000",
        "-o",
        "json",
        "--seed",
        "4",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "kubetwin.io/run-report/v1");
    assert_eq!(v["seed"], 4);
    assert_eq!(v["requests"]["arrived"], 6000);
    assert!(v["ttr"]["p99"].as_f64().unwrap() > 0.0);

    let (ok, csv, _) = kubetwin(&[
        "simulate",
        "examples/mmc/scenario.yaml",
        "--requests",
        "3000",
        "-o",
        "csv",
    ]);
    assert!(ok);
    assert!(csv.starts_with("section,name,metric,value\n"));
    assert!(csv.contains("requests,all,arrived,3000\n"), "{csv}");
}

#[test]
fn set_and_timeseries() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ts.csv");
    let (ok, json, err) = kubetwin(&[
        "simulate",
        "examples/mmc/scenario.yaml",
        "--requests",
        "2000",
        "-o",
        "json",
        "--set",
        "ServiceModel/server:spec.workers=1",
        "--set",
        "workload:spec.flows[0].arrivals.rate=50",
        "--timeseries",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    // 2,000 arrivals at 50/s take about 40 s.
    let seconds = v["simulatedSeconds"].as_f64().unwrap();
    assert!((35.0..45.0).contains(&seconds), "{seconds}");
    let ts = std::fs::read_to_string(&file).unwrap();
    let mut lines = ts.lines();
    assert_eq!(
        lines.next().unwrap(),
        "start_s,arrivals,completed,rejected,failed,ttr_mean_ms,ttr_p99_ms,server_desired,server_pods,server_ready,server_ttp_mean_ms,server_queued,server_busy,server_tier0_pods"
    );
    let arrivals: u64 = lines
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(arrivals, 2000);
}

#[test]
fn bad_input_exits_non_zero_with_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string("examples/mmc/scenario.yaml")
        .unwrap()
        .replace("workers: 4", "workers: four");
    std::fs::write(&bad, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("workers: four"))
        .unwrap()
        + 1;
    let (ok, _, err) = kubetwin(&["simulate", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&format!("bad.yaml:{line}:")), "{err}");
    let (ok, _, err) = kubetwin(&["simulate", "no/such/file.yaml"]);
    assert!(!ok);
    assert!(err.contains("no/such/file.yaml"), "{err}");
    let (ok, _, err) = kubetwin(&[
        "simulate",
        "examples/mmc/scenario.yaml",
        "--set",
        "nonsense",
    ]);
    assert!(!ok);
    assert!(err.contains("--set nonsense"), "{err}");
}

#[test]
fn schema_describes_every_kind() {
    let (ok, out, _) = kubetwin(&["schema"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for kind in ["Topology", "ServiceModel", "Workload", "Simulation"] {
        assert!(v[kind]["properties"]["spec"].is_object(), "{kind}");
    }
    let (ok, out, _) = kubetwin(&["schema", "--kind", "workload"]);
    assert!(ok);
    assert!(out.contains("userLocation"));
}

/// Experiment B end to end: the bundled autoscaling scenario scales up after the spike,
/// spills pods from the local DC to tier 1, scales down after the spike, and draws its
/// charts.
#[test]
fn experiment_b_scales_with_the_load_and_draws_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("charts");
    let (ok, json, err) = kubetwin(&[
        "simulate",
        "examples/edge-image-recognition/autoscaling.yaml",
        "--output",
        "json",
        "--plot",
        charts.to_str().unwrap(),
        "--timeseries",
        dir.path().join("ts.json").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ts.json")).unwrap())
            .unwrap();
    let q = &v["requests"];
    assert_eq!(
        (q["arrived"].as_u64(), q["completed"].as_u64()),
        (Some(130_000), Some(130_000))
    );
    let scaling = v["scaling"].as_array().unwrap();
    let ups = |after: f64, before: f64| {
        scaling.iter().any(|s| {
            let at = s["at"].as_f64().unwrap();
            at > after && at <= before && s["to"].as_u64() > s["from"].as_u64()
        })
    };
    // The spike starts at 30 s: a scale-up follows within two 15 s periods.
    assert!(ups(30.0, 60.0), "{scaling:?}");
    // The spike's flows end at 163 s and 270 s: replicas come down after them.
    assert!(
        scaling
            .iter()
            .any(|s| s["at"].as_f64().unwrap() > 163.0 && s["to"].as_u64() < s["from"].as_u64()),
        "{scaling:?}"
    );
    // MS2's pods start in the local DC and spill to tier 1 when it is full.
    let ms2 = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["name"] == "ms2")
        .unwrap();
    let tier =
        |row: &serde_json::Value, t: usize| row["services"][ms2]["podsByTier"][t].as_u64().unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!((tier(&rows[0], 0), tier(&rows[0], 1)), (10, 0));
    assert!(
        rows.iter().any(|r| tier(r, 0) >= 20 && tier(r, 1) > 0),
        "no spill to tier 1"
    );
    for name in ["arrivals", "replicas", "ttp", "ttr", "placement"] {
        let svg = std::fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text"), "{name}");
    }
    assert!(err.contains("wrote"), "{err}");
}
