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
        table.contains("3000 arrived = 3000 completed + 0 rejected + 0 in flight"),
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
        "start_s,arrivals,completed,rejected,ttr_mean_ms,ttr_p99_ms,server_pods,server_ttp_mean_ms,server_queued,server_busy"
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
