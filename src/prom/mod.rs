//! Observations from Prometheus, for [`crate::fit`]: per-workload latency histograms,
//! request rates and service-to-service edges over a time window.
//!
//! [`pull`] sends the queries of a [`Queries`] (a [`Preset`] for Istio, Linkerd or
//! OpenTelemetry metrics, or custom PromQL) as instant queries evaluated at the window's end,
//! and returns [`Observations`]: histogram bucket counts (`increase()` over the window, in
//! milliseconds), inbound rates, edges, and Prometheus' own `histogram_quantile` p50 and p99
//! for comparison. [`fit_observations`] turns them into a model whose
//! [`ObservedModel::to_yaml`] is the ServiceModel and Workload part of a scenario.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kubetwin::prom::PromError> {
//! use kubetwin::prom::{self, EvalTime, Preset, Prometheus, Window};
//! let server = Prometheus::new("http://127.0.0.1:9090")?;
//! let window = Window::parse("1h")?;
//! let obs = prom::pull(&server, &Preset::Istio.queries(), "shop", &window, &EvalTime::Now).await?;
//! let model = prom::fit_observations(&obs, &kubetwin::fit::Family::ALL)?;
//! println!("{}", model.to_yaml("shop", "users").expect("serializable"));
//! # Ok(()) }
//! ```
//!
//! Every failure is a [`PromError`] that names the query and what it returned. Only the
//! `operator` feature compiles this module: it is the library's one networked part.

mod error;
mod graph;
pub mod own_time;
mod parse;
mod preset;
mod scenario;

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_http_query::response::Data;
use prometheus_http_query::{Client, Error as ClientError, reqwest};

use crate::fit::Bucket;

pub use error::{PromError, QueryKind};
pub use graph::{CallGraph, ENTRY_THRESHOLD, infer_call_graph};
pub use parse::{Edge, Series};
pub use preset::{EvalTime, Preset, Queries, Window};
pub use scenario::{ObservedModel, WorkloadModel, fit_observations};

/// How long to wait for a TCP connection, and for a whole answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// A Prometheus server's HTTP API.
#[derive(Clone)]
pub struct Prometheus {
    client: Client,
    url: String,
}

impl Prometheus {
    /// A client for the server at `url` (`http://host:port`, optionally with a path prefix).
    /// Requests to a loopback address bypass any HTTP proxy from the environment. kubetwin
    /// is built without a TLS stack: an `https://` URL fails when queried ("scheme is not
    /// http") unless prometheus-http-query's `rustls-tls` feature is enabled.
    ///
    /// # Errors
    /// [`PromError::InvalidUrl`] when `url` is not an HTTP(S) URL.
    pub fn new(url: &str) -> Result<Prometheus, PromError> {
        let invalid = |source| PromError::InvalidUrl {
            url: url.to_string(),
            source,
        };
        let parsed = Client::try_from(url).map_err(invalid)?;
        let host = parsed.base_url().host_str().unwrap_or_default();
        let loopback = matches!(host, "localhost" | "[::1]") || host.starts_with("127.");
        let mut http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(QUERY_TIMEOUT);
        if loopback {
            http = http.no_proxy();
        }
        // Building fails only when the TLS or resolver back end cannot start; the default
        // client then still serves plain HTTP.
        let client = match http.build() {
            Ok(http) => Client::from(http, url).map_err(invalid)?,
            Err(_) => parsed,
        };
        Ok(Prometheus {
            client,
            url: url.to_string(),
        })
    }

    /// Runs an instant query at `at` (sent by POST, so long custom queries fit) and returns
    /// its series.
    ///
    /// # Errors
    /// [`PromError::Unreachable`], [`PromError::BadResponse`], [`PromError::Rejected`] or
    /// [`PromError::NotAVector`], each naming `kind` and `query`.
    pub async fn query(
        &self,
        kind: QueryKind,
        query: &str,
        at: &EvalTime,
    ) -> Result<Vec<Series>, PromError> {
        let mut builder = self.client.query(query);
        if let EvalTime::At(time) = at {
            builder = builder.query("time", time);
        }
        let result = builder.post().await.map_err(|source| match source {
            ClientError::Prometheus(e) => PromError::Rejected {
                kind,
                query: query.to_string(),
                message: e.to_string(),
            },
            ClientError::Client(ref e)
                if e.inner().is_some_and(|r| r.is_connect() || r.is_timeout()) =>
            {
                PromError::Unreachable {
                    url: self.url.clone(),
                    kind,
                    query: query.to_string(),
                    source,
                }
            }
            source => PromError::BadResponse {
                url: self.url.clone(),
                kind,
                query: query.to_string(),
                source,
            },
        })?;
        let not_a_vector = |got| PromError::NotAVector {
            kind,
            query: query.to_string(),
            got,
        };
        match result.into_inner().0 {
            Data::Vector(v) => Ok(v
                .into_iter()
                .map(|s| {
                    let (labels, sample) = s.into_inner();
                    Series {
                        labels: labels.into_iter().collect(),
                        value: sample.value(),
                    }
                })
                .collect()),
            Data::Matrix(_) => Err(not_a_vector("range vector")),
            Data::Scalar(_) => Err(not_a_vector("scalar")),
        }
    }
}

/// Prometheus' own quantile estimates for one workload, in milliseconds (`None` where it
/// returned NaN).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PromQuantiles {
    /// `histogram_quantile(0.5, ...)`.
    pub p50: Option<f64>,
    /// `histogram_quantile(0.99, ...)`.
    pub p99: Option<f64>,
}

/// What one pull found, per workload name.
#[derive(Clone, Debug, PartialEq)]
pub struct Observations {
    /// Cumulative bucket counts over the window, upper bounds in milliseconds.
    pub histograms: BTreeMap<String, Vec<Bucket>>,
    /// Inbound requests per second over the window.
    pub rates: BTreeMap<String, f64>,
    /// Requests per second between workloads; `None` when the queries have no edge query.
    pub edges: Option<Vec<Edge>>,
    /// Mean response time per workload in milliseconds, where the queries have a mean query.
    pub means: BTreeMap<String, f64>,
    /// Client-side call durations per (caller, callee): cumulative bucket counts over the
    /// window, upper bounds in milliseconds; empty without a call-histogram query.
    pub call_histograms: BTreeMap<(String, String), Vec<Bucket>>,
    /// Client-side mean call duration per (caller, callee), in milliseconds.
    pub call_means: BTreeMap<(String, String), f64>,
    /// Pods reporting per workload, where the queries have a replica query.
    pub replicas: BTreeMap<String, f64>,
    /// Prometheus' `histogram_quantile` over the histogram query.
    pub prometheus_quantiles: BTreeMap<String, PromQuantiles>,
    /// The window's length in seconds.
    pub window_seconds: f64,
    /// The request-rate query as sent, for messages about rates.
    pub rates_query: String,
}

/// Multiplies every value by `factor`.
fn scale<K>(values: &mut BTreeMap<K, f64>, factor: f64) {
    values.values_mut().for_each(|v| *v *= factor);
}

/// Checks that `namespace` is a Kubernetes namespace name (an RFC 1123 DNS label).
fn check_namespace(namespace: &str) -> Result<(), PromError> {
    let b = namespace.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if b.len() <= 63 && b.iter().all(inner) && edge(b.first()) && edge(b.last()) {
        Ok(())
    } else {
        Err(PromError::InvalidArgument {
            what: "namespace",
            value: namespace.to_string(),
            expected: "a Kubernetes namespace name (lowercase letters, digits and '-')",
        })
    }
}

/// Pulls the observations of `namespace` over `window` ending at `at`: the histogram query
/// first (so that a wrong namespace is reported against it), then rates, edges and
/// Prometheus' p50 and p99.
///
/// # Errors
/// [`PromError::InvalidArgument`] for a bad namespace; the errors of [`Prometheus::query`];
/// [`PromError::Empty`] when the histogram or rate query returns nothing (an empty edge
/// query is a namespace without calls); [`PromError::Malformed`] for unusable series.
pub async fn pull(
    server: &Prometheus,
    queries: &Queries,
    namespace: &str,
    window: &Window,
    at: &EvalTime,
) -> Result<Observations, PromError> {
    check_namespace(namespace)?;
    let render = |template: &str| Queries::render(template, namespace, window);
    let fetch = async |kind, query: &str, must_have_data: bool| {
        let series = server.query(kind, query, at).await?;
        if must_have_data && series.is_empty() {
            return Err(PromError::Empty {
                kind,
                query: query.to_string(),
                at: at.to_string(),
            });
        }
        Ok::<_, PromError>(series)
    };

    let histogram_query = render(&queries.histogram);
    let series = fetch(QueryKind::Histogram, &histogram_query, true).await?;
    let histograms = parse::histograms(
        parse::Origin {
            kind: QueryKind::Histogram,
            query: &histogram_query,
        },
        &series,
        &queries.workload_label,
        queries.to_milliseconds,
    )?;

    let rates_query = render(&queries.rates);
    let series = fetch(QueryKind::Rates, &rates_query, true).await?;
    let rates = parse::per_workload(
        parse::Origin {
            kind: QueryKind::Rates,
            query: &rates_query,
        },
        &series,
        &queries.workload_label,
        false,
    )?;

    let edges = match &queries.edges {
        Some(template) => {
            let query = render(template);
            let series = fetch(QueryKind::Edges, &query, false).await?;
            let o = parse::Origin {
                kind: QueryKind::Edges,
                query: &query,
            };
            Some(parse::edges(
                o,
                &series,
                &queries.source_label,
                &queries.destination_label,
            )?)
        }
        None => None,
    };

    // The optional queries: their text and result, or nothing without a template.
    let optional = async |kind, template: &Option<String>| match template {
        Some(template) => {
            let query = render(template);
            let series = fetch(kind, &query, false).await?;
            Ok::<_, PromError>(Some((query, series)))
        }
        None => Ok(None),
    };
    fn origin(kind: QueryKind, query: &str) -> parse::Origin<'_> {
        parse::Origin { kind, query }
    }
    let (source, destination) = (&queries.source_label, &queries.destination_label);
    let mut means = BTreeMap::new();
    if let Some((query, series)) = optional(QueryKind::Mean, &queries.mean).await? {
        let o = origin(QueryKind::Mean, &query);
        means = parse::per_workload(o, &series, &queries.workload_label, true)?;
        scale(&mut means, queries.to_milliseconds);
    }
    let mut call_histograms = BTreeMap::new();
    let kind = QueryKind::CallHistogram;
    if let Some((query, series)) = optional(kind, &queries.call_histogram).await? {
        let o = origin(kind, &query);
        call_histograms =
            parse::edge_histograms(o, &series, source, destination, queries.to_milliseconds)?;
    }
    let mut call_means = BTreeMap::new();
    if let Some((query, series)) = optional(QueryKind::CallMean, &queries.call_mean).await? {
        let o = origin(QueryKind::CallMean, &query);
        call_means = parse::per_edge(o, &series, source, destination)?;
        scale(&mut call_means, queries.to_milliseconds);
    }
    let mut replicas = BTreeMap::new();
    if let Some((query, series)) = optional(QueryKind::Replicas, &queries.replicas).await? {
        let o = origin(QueryKind::Replicas, &query);
        replicas = parse::per_workload(o, &series, &queries.workload_label, false)?;
    }

    let mut prometheus_quantiles: BTreeMap<String, PromQuantiles> = BTreeMap::new();
    for (per_mille, q) in [(500, 0.5), (990, 0.99)] {
        let kind = QueryKind::Quantile { per_mille };
        let query = format!("histogram_quantile({q}, {histogram_query})");
        let series = fetch(kind, &query, false).await?;
        let o = parse::Origin {
            kind,
            query: &query,
        };
        let found = parse::per_workload(o, &series, &queries.workload_label, true)?;
        for (workload, value) in found {
            let entry = prometheus_quantiles.entry(workload).or_default();
            let ms = Some(value * queries.to_milliseconds);
            match per_mille {
                500 => entry.p50 = ms,
                _ => entry.p99 = ms,
            }
        }
    }

    Ok(Observations {
        histograms,
        rates,
        edges,
        means,
        call_histograms,
        call_means,
        replicas,
        prometheus_quantiles,
        window_seconds: window.seconds(),
        rates_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_must_be_dns_labels() {
        for good in ["shop", "a", "team-1", "0x"] {
            assert!(check_namespace(good).is_ok(), "{good}");
        }
        for bad in ["", "Shop", "-a", "a-", "a_b", "a\"}", &"a".repeat(64)] {
            let err = check_namespace(bad).unwrap_err().to_string();
            assert!(err.contains("namespace"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_urls_are_rejected_before_any_request() {
        let err = Prometheus::new("not a url").err().expect("rejected");
        assert!(err.to_string().contains("`not a url`"), "{err}");
    }
}
