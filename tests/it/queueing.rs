//! The engine against queueing theory: M/M/1 and M/M/c (Erlang C) mean sojourn times,
//! M/M/1/K blocking, and a two-station tandem (Jackson) network. Fixed seeds; the
//! tolerances are stated next to each check and are at least 3 standard errors of the
//! estimate at the simulated sample size.

use crate::common::{assert_accounted, assert_close, service, simulate, topology, workload};

fn erlang_c_sojourn_ms(lambda: f64, mean_ms: f64, c: u32) -> f64 {
    let mu = 1000.0 / mean_ms;
    let a = lambda / mu;
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let p_wait = last / (sum + last);
    (p_wait / (f64::from(c) * mu - lambda) + 1.0 / mu) * 1000.0
}

fn single_station(lambda: f64, mean_ms: f64, workers: u32, queue: &str, requests: u64) -> String {
    topology(0.0)
        + &service(
            "server",
            1,
            &format!(
                "  workers: {workers}\n  {queue}\n  serviceTime: {{type: exponential, mean: {mean_ms}}}"
            ),
        )
        + &workload(
            "server",
            &format!("    - {{requests: {requests}, arrivals: {{type: poisson, rate: {lambda}}}}}"),
            "  seed: 11\n  warmupSeconds: 20",
        )
}

#[test]
fn mm1_mean_sojourn_matches_theory() {
    // rho = 0.5: W = 1 / (mu - lambda) = 20 ms. The standard error of the mean at
    // 400k requests is about 0.3%; tolerance 2%.
    let r = simulate(&single_station(50.0, 10.0, 1, "", 400_000));
    assert_accounted(&r);
    assert_eq!(r.requests.in_flight, 0);
    assert_close("M/M/1 TTR mean", r.ttr.mean.unwrap(), 20.0, 0.02);
    assert_close(
        "M/M/1 TTP mean",
        r.services[0].ttp.mean.unwrap(),
        20.0,
        0.02,
    );
    // Utilization is rho.
    assert_close(
        "M/M/1 utilization",
        r.services[0].utilization.unwrap(),
        0.5,
        0.01,
    );
}

#[test]
fn mmc_mean_sojourn_matches_erlang_c() {
    // c = 4, rho = 0.8 (the bundled examples/mmc scenario): W = 17.455 ms.
    let expected = erlang_c_sojourn_ms(320.0, 10.0, 4);
    assert_close("Erlang C formula", expected, 17.4554, 1e-4);
    let r = simulate(&single_station(320.0, 10.0, 4, "", 400_000));
    assert_close("M/M/4 TTR mean", r.ttr.mean.unwrap(), expected, 0.02);
    assert_close(
        "M/M/4 utilization",
        r.services[0].utilization.unwrap(),
        0.8,
        0.01,
    );
}

#[test]
fn mm1k_blocking_probability_matches_theory() {
    // K = 5 (1 in service + 4 waiting), rho = 0.9:
    // P_K = (1 - rho) rho^K / (1 - rho^(K+1)) = 0.12602. Arrivals see time averages
    // (PASTA), so the rejected fraction estimates P_K; tolerance 3% relative.
    let rho: f64 = 0.9;
    let expected = (1.0 - rho) * rho.powi(5) / (1.0 - rho.powi(6));
    let r = simulate(&single_station(90.0, 10.0, 1, "queueCapacity: 4", 300_000));
    assert_accounted(&r);
    let q = r.requests;
    assert_eq!(
        q.rejected, q.rejected_queue_full,
        "every rejection is a full queue"
    );
    assert_close(
        "M/M/1/5 blocking",
        q.rejected as f64 / q.arrived as f64,
        expected,
        0.03,
    );
    let s = &r.services[0];
    assert_close(
        "measured blocking",
        s.rejected as f64 / s.arrivals as f64,
        expected,
        0.03,
    );
}

#[test]
fn tandem_jackson_network_sums_station_sojourns() {
    // Station A (mean 5 ms) processes, releases its worker (async) and calls B (mean
    // 4 ms). With Poisson arrivals at 100/s the stations behave as independent M/M/1
    // queues (Jackson): W = 1/(200-100) + 1/(250-100) = 10 + 6.667 ms.
    let yaml = topology(0.0)
        + &service(
            "a",
            1,
            "  serviceTime: {type: exponential, mean: 5}\n  callMode: async\n  calls: [{service: b}]",
        )
        + &service("b", 1, "  serviceTime: {type: exponential, mean: 4}")
        + &workload(
            "a",
            "    - {requests: 400000, arrivals: {type: poisson, rate: 100}}",
            "  seed: 5\n  warmupSeconds: 20",
        );
    let r = simulate(&yaml);
    assert_accounted(&r);
    assert_close("station A", r.services[0].ttp.mean.unwrap(), 10.0, 0.02);
    assert_close(
        "station B",
        r.services[1].ttp.mean.unwrap(),
        1000.0 / 150.0,
        0.02,
    );
    assert_close(
        "tandem TTR",
        r.ttr.mean.unwrap(),
        10.0 + 1000.0 / 150.0,
        0.02,
    );
}

#[test]
fn load_dependent_service_time_follows_the_pods_request_rate() {
    // Levels of constant 10 ms at 10 req/s and 20 ms at 20 req/s: a request starting at
    // load L takes L ms (the line through both, extended beyond them). With free workers a
    // request starts on arrival, when the pod's rate average has just counted it: by PASTA
    // the average before it is λ on the mean, plus 1/τ = 0.1 for the arrival itself. So
    // the mean response is λ + 0.1 ms, at 15 req/s (interpolated) and 30 req/s
    // (extrapolated). The average's standard deviation is sqrt(λ / 2τ) <= 1.3 and it
    // decorrelates over τ = 10 s, so 200k requests (>= 6,600 s) give a standard error
    // under 0.05 ms: tolerance 1%.
    for (rate, expected) in [(15.0, 15.1), (30.0, 30.1)] {
        let yaml = topology(0.0)
            + &service(
                "server",
                1,
                "  workers: 1000\n  serviceTimeByLoad:\n    windowSeconds: 10\n    levels:\n      \
                 - {requestsPerSecond: 10, serviceTime: {type: constant, value: 10}}\n      \
                 - {requestsPerSecond: 20, serviceTime: {type: constant, value: 20}}",
            )
            + &workload(
                "server",
                &format!("    - {{requests: 200000, arrivals: {{type: poisson, rate: {rate}}}}}"),
                "  seed: 5\n  warmupSeconds: 100",
            );
        let r = simulate(&yaml);
        assert_accounted(&r);
        assert_close("load-dependent mean", r.ttr.mean.unwrap(), expected, 0.01);
    }
}
