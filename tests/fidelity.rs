//! The twin against a live application: `live-chain fidelity --short` fits kubetwin to a
//! real front → back chain from what a real Prometheus scraped, predicts the fitted load and
//! a what-if at ρ ≈ 0.7, runs both for real, and writes the report this test reads.
//!
//! Its own test binary, so that cargo runs it alone, after the others: the live services'
//! latencies must not compete with the rest of the suite for the two cores. About 90 s.
//!
//! Tolerances: the targets (mean within 5%, p99 within 10%) for the fitted load.
//! For the what-if, p99 within 15%: its ~4,500 requests give an empirical p99 whose 95%
//! interval spans the 98.7th to 99.3rd percentile, about ±6% of the latency here. The
//! what-if's direction must be right and its size (the predicted ratio to the baseline
//! against the measured one) within 15% for the mean, 25% for the p99 (two short runs'
//! p99s: ±10% on their ratio). The long version: `cargo run --release --example
//! live-chain -- fidelity --experiment all` (docs/fidelity).

use std::process::Command;

use kubetwin::report::fidelity::Fidelity;

#[path = "fixtures/live_chain.rs"]
mod live_chain;

#[test]
#[ignore = "needs prometheus"]
fn the_twin_predicts_a_live_chain_and_a_what_if() {
    assert!(
        Command::new("prometheus").arg("--version").output().is_ok(),
        "prometheus is not installed: apt-get install -y prometheus"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(live_chain::binary())
        .args(["fidelity", "--short", "--seed", "1", "--out"])
        .arg(dir.path())
        .output()
        .expect("running live-chain fidelity");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "live-chain fidelity failed:\n{stderr}"
    );
    let json = std::fs::read_to_string(dir.path().join("fidelity.json")).unwrap();
    let report: Fidelity = serde_json::from_str(&json).unwrap();
    for file in ["fidelity.md", "fidelity.svg"] {
        assert!(dir.path().join(file).is_file(), "{file} not written");
    }
    let verdicts = report.verdicts();
    let [base, what_if] = verdicts.as_slice() else {
        panic!("two cases expected: {json}");
    };
    let cases = &report.cases;
    assert!(cases[0].fitted_here && cases[0].utilization < 0.4, "{json}");
    assert!(base.errors.mean.abs() <= 0.05, "base mean: {json}");
    assert!(base.errors.p99.abs() <= 0.10, "base p99: {json}");
    assert!(
        (0.6..=0.7).contains(&cases[1].utilization),
        "the what-if is at ρ ≈ 0.7: {json}"
    );
    assert!(what_if.errors.mean.abs() <= 0.05, "what-if mean: {json}");
    assert!(what_if.errors.p99.abs() <= 0.15, "what-if p99: {json}");
    // The change from the fitted load: direction right for both; the mean's ratio within
    // the 15%; the p99's within 25%, since each short run's p99 carries its own
    // sampling error (about ±8% at 2,800 requests, ±6% at 4,500: ±10% on their ratio).
    let (mean, p99) = what_if.changes.expect("a what-if");
    assert!(
        mean.direction_right() && p99.direction_right(),
        "direction: {json}"
    );
    assert!(
        mean.magnitude_error() <= 0.15,
        "what-if mean change: {json}"
    );
    assert!(p99.magnitude_error() <= 0.25, "what-if p99 change: {json}");
    // The caller's own time was told from its calls: front sleeps 8 ms on average (plus
    // up to 1 ms of timer rounding and up to 1 ms of its own HTTP handling), far below
    // its ~28 ms response time, which includes back.
    let own = (report.notes.iter())
        .find(|n| n.starts_with("front: own time"))
        .unwrap_or_else(|| panic!("no own-time note: {json}"));
    let ms: f64 = own["front: own time ".len()..]
        .split(' ')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{own}"));
    assert!((8.0..=10.0).contains(&ms), "{own}");
}
