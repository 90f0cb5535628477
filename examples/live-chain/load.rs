//! `live-chain load`: an open-loop generator with Poisson arrivals.
//!
//! Every send time is precomputed from seeded exponential gaps ([`send_times`]). A dedicated
//! thread sleeps until each one (`std::thread::sleep`, precise to tens of microseconds,
//! unlike tokio's 1 ms timer) and hands the request to the runtime without waiting for
//! earlier ones, so a slow answer never delays the next send (closed-loop tools understate
//! latency that way). Targets take turns (round-robin, as the entry Service would balance).
//! A request's end-to-end time runs from its *scheduled* send time to the end of its
//! response, so a late dispatch counts against the system, not in its favour.
//!
//! Bounded: at most `rate × D × 2 + 100` requests, and a hard deadline `D + 30 s` after the
//! start, when requests still outstanding count as timed out.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rand::SeedableRng;
use rand_distr::{Distribution as _, Exp};
use rand_pcg::Pcg64;
use serde::Serialize;

use crate::clock;

/// How long after the last scheduled send outstanding requests may still finish.
const GRACE: Duration = Duration::from_secs(30);
/// Time between building the schedule and the first possible send, so the dispatcher's
/// thread and the runtime are up before it.
const LEAD: Duration = Duration::from_millis(100);

/// `live-chain load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Entry replicas, comma-separated (`http://127.0.0.1:P1,http://127.0.0.1:P2`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Mean arrival rate, requests per second.
    #[arg(long)]
    pub rate: f64,
    /// Length of the arrival process, seconds.
    #[arg(long)]
    pub duration_seconds: f64,
    /// Seed of the arrival times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the whole result, every latency included, to this JSON file.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// What a run measured. Times are wall-clock seconds since the Unix epoch.
#[derive(Clone, Debug, Serialize)]
pub struct LoadResult {
    /// The first possible send time (the schedule's origin).
    pub start_unix: f64,
    /// When the last answer arrived (or the deadline passed): `[start_unix, end_unix]` holds
    /// every request of the run.
    pub end_unix: f64,
    /// Requests sent.
    pub sent: u64,
    /// Answered 200.
    pub ok: u64,
    /// Answered otherwise, or failed to connect.
    pub errors: u64,
    /// Still outstanding at the deadline.
    pub timed_out: u64,
    /// End-to-end times of the `ok` requests in send order, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Mean of `latencies_ms` (NaN, written `null`, when no request succeeded).
    pub mean_ms: f64,
    /// Median of `latencies_ms` (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile of `latencies_ms` (nearest rank).
    pub p99_ms: f64,
    /// The largest delay between a scheduled send time and the actual dispatch,
    /// milliseconds: how well the generator kept to its schedule.
    pub dispatch_late_max_ms: f64,
}

impl LoadResult {
    /// The result as JSON without the per-request latencies.
    pub fn summary(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("latencies_ms");
        }
        value
    }
}

/// The upper bound on the number of requests of a run: `rate × D × 2 + 100`.
fn max_requests(rate: f64, duration_seconds: f64) -> usize {
    (rate * duration_seconds * 2.0 + 100.0) as usize
}

/// Send times in seconds after the start: partial sums of exponential gaps of mean
/// `1 / rate` drawn from `Pcg64::seed_from_u64(seed)`, those before `duration_seconds`, at
/// most [`max_requests`].
///
/// # Errors
/// A rate or duration that is not a positive finite number, or more than 10 million
/// requests.
pub fn send_times(rate: f64, duration_seconds: f64, seed: u64) -> anyhow::Result<Vec<f64>> {
    ensure!(
        rate.is_finite() && rate > 0.0,
        "--rate: must be a positive number of requests per second, got {rate}"
    );
    ensure!(
        duration_seconds.is_finite() && duration_seconds > 0.0,
        "--duration-seconds: must be a positive number, got {duration_seconds}"
    );
    let cap = max_requests(rate, duration_seconds);
    ensure!(
        cap <= 10_000_000,
        "--rate × --duration-seconds: at most 5 million requests per run, got {}",
        rate * duration_seconds
    );
    let gaps = Exp::new(rate).context("--rate")?;
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut t = 0.0;
    let mut times = Vec::with_capacity(cap.min(1 << 20));
    while times.len() < cap {
        t += gaps.sample(&mut rng);
        if t >= duration_seconds {
            break;
        }
        times.push(t);
    }
    Ok(times)
}

/// A request's outcome: its end-to-end time in ms, or `None` for an error.
type Outcome = (usize, Option<f64>);

/// Runs the generator against `targets` and waits for every answer or the deadline.
///
/// # Errors
/// Invalid arguments (see [`send_times`]), no target, or a runtime that cannot start.
pub fn run(
    targets: &[String],
    rate: f64,
    duration_seconds: f64,
    seed: u64,
) -> anyhow::Result<LoadResult> {
    if targets.is_empty() {
        bail!("--target: at least one URL");
    }
    let urls: Vec<String> = targets
        .iter()
        .map(|t| format!("{}/", t.trim_end_matches('/')))
        .collect();
    let times = send_times(rate, duration_seconds, seed)?;
    let n = times.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let (origin, start_unix) = (clock::now() + LEAD, clock::unix_now() + LEAD.as_secs_f64());
    let deadline = origin + Duration::from_secs_f64(duration_seconds) + GRACE;
    let handle = runtime.handle().clone();
    let dispatcher = std::thread::spawn(move || {
        let mut late_max = Duration::ZERO;
        for (i, &t) in times.iter().enumerate() {
            let at = origin + Duration::from_secs_f64(t);
            let now = clock::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            late_max = late_max.max(clock::now().saturating_duration_since(at));
            let (client, url, tx) = (client.clone(), urls[i % urls.len()].clone(), tx.clone());
            handle.spawn(async move {
                let ok = match client.get(url).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let ms = at.elapsed().as_secs_f64() * 1e3;
                // The receiver is gone only after the deadline; the answer is late then.
                let _ = tx.send((i, ok.then_some(ms)));
            });
        }
        late_max
    });
    let mut outcomes: Vec<Option<Option<f64>>> = vec![None; n];
    let received = runtime.block_on(async {
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut received = 0;
        while received < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((i, outcome))) => {
                    outcomes[i] = Some(outcome);
                    received += 1;
                }
                Ok(None) | Err(_) => break,
            }
        }
        received
    });
    let end_unix = start_unix + (clock::now() - origin).as_secs_f64().max(0.0);
    let late_max = dispatcher
        .join()
        .map_err(|_| anyhow::anyhow!("the dispatcher thread panicked"))?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    let latencies_ms: Vec<f64> = outcomes.iter().filter_map(|o| o.flatten()).collect();
    let ok = latencies_ms.len() as u64;
    let mut sorted = latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(LoadResult {
        start_unix,
        end_unix,
        sent: n as u64,
        ok,
        errors: received as u64 - ok,
        timed_out: (n - received) as u64,
        mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
        p50_ms: nearest_rank(&sorted, 0.5),
        p99_ms: nearest_rank(&sorted, 0.99),
        latencies_ms,
        dispatch_late_max_ms: late_max.as_secs_f64() * 1e3,
    })
}

/// The `q` quantile of ascending `sorted` by the nearest-rank rule; NaN when empty.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied().unwrap_or(f64::NAN)
}

/// `live-chain load`: prints the summary as JSON.
///
/// # Errors
/// As [`run`], or an unwritable `--out`.
pub fn main(args: &LoadArgs) -> anyhow::Result<()> {
    let result = run(&args.target, args.rate, args.duration_seconds, args.seed)?;
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&result)?;
        std::fs::write(out, text).with_context(|| format!("--out {}", out.display()))?;
    }
    println!("{}", serde_json::to_string_pretty(&result.summary())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubetwin::fit::gof::kolmogorov_smirnov;

    /// 100,000 gaps at 1000/s: their mean is 1 ms within 4 standard errors (the standard
    /// error of a mean of n exponentials of mean m is m/√n), and the KS distance to the
    /// exponential cdf is below 1.95/√n, the 0.1% critical value.
    #[test]
    fn gaps_are_exponential_with_mean_one_over_rate() {
        let rate = 1000.0;
        let times = send_times(rate, 100.0, 42).unwrap();
        let gaps: Vec<f64> = std::iter::once(times[0])
            .chain(times.windows(2).map(|w| w[1] - w[0]))
            .collect();
        let n = gaps.len() as f64;
        assert!((n - 100_000.0).abs() < 4.0 * 100_000f64.sqrt(), "{n} gaps");
        let mean = gaps.iter().sum::<f64>() / n;
        assert!(
            (mean - 1.0 / rate).abs() < 4.0 * (1.0 / rate) / n.sqrt(),
            "mean gap {mean}"
        );
        let d = kolmogorov_smirnov(&gaps, |x| 1.0 - (-rate * x).exp());
        assert!(d < 1.95 / n.sqrt(), "KS distance {d}");
        assert!(times.windows(2).all(|w| w[0] < w[1]) && times[n as usize - 1] < 100.0);
    }

    #[test]
    fn the_schedule_is_seeded_and_bounded() {
        assert_eq!(
            send_times(50.0, 10.0, 7).unwrap(),
            send_times(50.0, 10.0, 7).unwrap()
        );
        assert_ne!(
            send_times(50.0, 10.0, 7).unwrap(),
            send_times(50.0, 10.0, 8).unwrap()
        );
        assert_eq!(max_requests(50.0, 10.0), 1100);
        for (rate, d) in [
            (0.0, 1.0),
            (-1.0, 1.0),
            (f64::NAN, 1.0),
            (1.0, 0.0),
            (1e9, 1e9),
        ] {
            assert!(send_times(rate, d, 1).is_err(), "{rate} {d}");
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&xs, 0.5), 50.0);
        assert_eq!(nearest_rank(&xs, 0.99), 99.0);
        assert_eq!(nearest_rank(&[3.0], 0.99), 3.0);
        assert!(nearest_rank(&[], 0.5).is_nan());
    }
}
