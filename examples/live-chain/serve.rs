//! `live-chain serve`: one replica of one service.
//!
//! A request to `GET /`:
//! 1. is timed from its arrival;
//! 2. waits for one of `--workers` permits (a FIFO tokio semaphore: requests beyond the pool
//!    queue);
//! 3. draws its service time (ms) from `--service-time` with the replica's seeded generator,
//!    then sleeps for it (`--mode sleep`) or runs `ms × --iters-per-ms` rounds of
//!    [`work::spin`] on a blocking thread (`--mode busy`);
//! 4. makes each `--call`, in order, synchronously and still holding its permit (the twin's
//!    sync call mode), each to the next replica of that service (round-robin);
//! 5. answers 200, or 502 as soon as a call fails.
//!
//! `GET /metrics` serves, in OpenMetrics text (prometheus-client), the OpenTelemetry HTTP
//! semantic-convention histograms in seconds: `http_server_request_duration_seconds` (1 to 5
//! above, queueing included) and `http_client_request_duration_seconds{server_address=
//! "<service>"}` per downstream edge. The service and namespace labels are Prometheus'
//! target labels, not the app's. `GET /healthz` answers `ok`.
//!
//! The replica prints `listening on http://127.0.0.1:PORT` as its only stdout line once it
//! accepts connections (`--port 0` picks a free port, without a race).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kubetwin::fit::Distribution;
use kubetwin::model::dist::DistSpec;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use tokio::sync::Semaphore;

use crate::{clock, work};

/// How long a downstream call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// `live-chain serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The service's name (Prometheus labels it; the app only logs it).
    #[arg(long)]
    pub name: String,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Worker permits: requests served at once; the rest wait in FIFO order.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub workers: u32,
    /// Service time in milliseconds, a kubetwin distribution in YAML or JSON flow style,
    /// e.g. `{type: logNormal, mu: 2.3, sigma: 0.3}`. Negative draws count as 0.
    #[arg(long)]
    pub service_time: String,
    /// `sleep` for the service time, or do `busy` CPU work that long (at the calibrated
    /// speed; it takes longer when the CPU is contended).
    #[arg(long, value_enum)]
    pub mode: ModeArg,
    /// Iterations of the CPU loop per millisecond (`live-chain calibrate`); `busy` only.
    #[arg(long)]
    pub iters_per_ms: Option<f64>,
    /// A downstream service, called after the service time on every request:
    /// `NAME=URL[,URL...]` (one URL per replica). Repeat for several, called in order.
    #[arg(long = "call")]
    pub calls: Vec<String>,
    /// Seed of the service-time generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `--mode`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Sleep (tokio's timer: about 1 ms granularity).
    Sleep,
    /// Spin the CPU loop on a blocking thread.
    Busy,
}

/// What a request spends its service time on.
#[derive(Clone, Copy, Debug)]
enum Work {
    Sleep,
    Busy { iters_per_ms: f64 },
}

/// One downstream service and its replicas, balanced round-robin.
struct Downstream {
    name: String,
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Downstream {
    /// Parses `NAME=URL[,URL...]`.
    fn parse(text: &str) -> anyhow::Result<Downstream> {
        let Some((name, urls)) = text.split_once('=') else {
            bail!("--call {text:?}: expected NAME=URL[,URL...]");
        };
        let urls: Vec<String> = urls
            .split(',')
            .map(|u| format!("{}/", u.trim().trim_end_matches('/')))
            .collect();
        if name.is_empty()
            || urls
                .iter()
                .any(|u| !u.starts_with("http://") || u.len() <= 8)
        {
            bail!("--call {text:?}: expected NAME=URL[,URL...] with http:// URLs");
        }
        Ok(Downstream {
            name: name.to_string(),
            urls,
            next: AtomicUsize::new(0),
        })
    }

    fn next_url(&self) -> &str {
        &self.urls[self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len()]
    }
}

type Labels = Vec<(&'static str, String)>;

/// Upper bounds in seconds: geometric from 0.5 ms by a ratio of 1.25 up to about 22.4 s
/// (49 buckets), rounded to the nanosecond so the `le` labels print short.
fn buckets() -> Histogram {
    Histogram::new((0..49).map(|i| (0.0005 * 1.25f64.powi(i) * 1e9).round() / 1e9))
}

struct Server {
    permits: Semaphore,
    service_time: Distribution,
    rng: Mutex<Pcg64>,
    work: Work,
    calls: Vec<Downstream>,
    client: reqwest::Client,
    registry: Registry,
    server_duration: Histogram,
    client_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Server {
    fn new(args: &ServeArgs) -> anyhow::Result<Server> {
        let spec: DistSpec = serde_saphyr::from_str(&args.service_time)
            .with_context(|| format!("--service-time {:?}", args.service_time))?;
        let service_time = Distribution::from_spec(&spec, Path::new("."))
            .map_err(|e| anyhow::anyhow!("--service-time.{e}"))?;
        let work = match (args.mode, args.iters_per_ms) {
            (ModeArg::Sleep, _) => Work::Sleep,
            (ModeArg::Busy, Some(i)) if i.is_finite() && i > 0.0 => Work::Busy { iters_per_ms: i },
            (ModeArg::Busy, _) => {
                bail!("--iters-per-ms: busy mode needs a positive value (live-chain calibrate)")
            }
        };
        let calls = args
            .calls
            .iter()
            .map(|c| Downstream::parse(c))
            .collect::<anyhow::Result<_>>()?;
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        let mut registry = Registry::default();
        let server_duration = buckets();
        let client_duration: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(buckets);
        registry.register(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, from arrival (queueing included) to response",
            server_duration.clone(),
        );
        registry.register(
            "http_client_request_duration_seconds",
            "Duration of HTTP client requests, per downstream service",
            client_duration.clone(),
        );
        Ok(Server {
            permits: Semaphore::new(args.workers as usize),
            service_time,
            rng: Mutex::new(Pcg64::seed_from_u64(args.seed)),
            work,
            calls,
            client,
            registry,
            server_duration,
            client_duration,
        })
    }

    /// Steps 2 to 5 of the module doc.
    async fn handle(&self) -> StatusCode {
        let Ok(_permit) = self.permits.acquire().await else {
            return StatusCode::SERVICE_UNAVAILABLE;
        };
        let ms = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            self.service_time.sample(&mut *rng).max(0.0)
        };
        match self.work {
            Work::Sleep => tokio::time::sleep(Duration::from_secs_f64(ms / 1e3)).await,
            Work::Busy { iters_per_ms } => {
                let iterations = (ms * iters_per_ms) as u64;
                if tokio::task::spawn_blocking(move || work::spin(iterations))
                    .await
                    .is_err()
                {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
        }
        for call in &self.calls {
            let start = clock::now();
            let answer = self.client.get(call.next_url()).send().await;
            let ok = match answer {
                // Reading the (empty) body returns the connection to the pool.
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            self.client_duration
                .get_or_create(&vec![("server_address", call.name.clone())])
                .observe(start.elapsed().as_secs_f64());
            if !ok {
                return StatusCode::BAD_GATEWAY;
            }
        }
        StatusCode::OK
    }
}

async fn work(State(server): State<Arc<Server>>) -> StatusCode {
    let arrival = clock::now();
    let status = server.handle().await;
    server
        .server_duration
        .observe(arrival.elapsed().as_secs_f64());
    status
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    let mut text = String::new();
    if encode(&mut text, &server.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/", get(work))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(server)
}

/// Runs the replica until the process is killed. One thread serves requests (a
/// current-thread runtime); busy work runs on up to `--workers` blocking threads.
///
/// # Errors
/// An invalid argument (naming it), or a port that cannot be bound.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let server = Arc::new(Server::new(args)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(args.workers as usize)
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("--port {}: cannot bind 127.0.0.1", args.port))?;
        let port = listener.local_addr()?.port();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://127.0.0.1:{port}")?;
        stdout.flush()?;
        axum::serve(listener, router(server))
            .await
            .context("serving")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_parse_and_round_robin() {
        let d = Downstream::parse("back=http://127.0.0.1:1,http://127.0.0.1:2/").unwrap();
        assert_eq!(d.name, "back");
        let urls: Vec<&str> = (0..3).map(|_| d.next_url()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:1/",
                "http://127.0.0.1:2/",
                "http://127.0.0.1:1/"
            ]
        );
        for bad in [
            "back",
            "=http://127.0.0.1:1",
            "back=127.0.0.1:1",
            "back=http://",
        ] {
            assert!(Downstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_cover_half_a_millisecond_to_twenty_seconds() {
        let h = buckets();
        h.observe(0.0004);
        h.observe(21.0);
        let mut registry = Registry::default();
        registry.register("d", "", h);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(r#"d_bucket{le="0.0005"} 1"#), "{text}");
        assert!(text.contains(r#"d_bucket{le="0.000625"} 1"#), "{text}");
        assert!(text.contains(r#"d_bucket{le="22.420775429"} 2"#), "{text}");
        assert_eq!(text.matches("d_bucket").count(), 50, "49 bounds and +Inf");
    }
}
