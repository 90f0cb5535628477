//! The errors of talking to Prometheus: each names the query that failed and what it got.

use std::fmt;

/// Which query of a pull an error or a result is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// Latency histogram bucket counts over the window, per workload and `le`.
    Histogram,
    /// Inbound request rates over the window, per workload.
    Rates,
    /// Service-to-service request rates over the window, per source and destination.
    Edges,
    /// Mean response time over the window, per workload (`sum / count`).
    Mean,
    /// Client-side call duration bucket counts, per caller, callee and `le`.
    CallHistogram,
    /// Client-side mean call duration, per caller and callee.
    CallMean,
    /// Pods reporting, per workload.
    Replicas,
    /// Prometheus' own `histogram_quantile` over the histogram query (`q` is the quantile).
    Quantile {
        /// The quantile in per mille (500 for the median, 990 for p99), so the kind stays `Eq`.
        per_mille: u16,
    },
}

impl fmt::Display for QueryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryKind::Histogram => f.write_str("histogram"),
            QueryKind::Rates => f.write_str("request-rate"),
            QueryKind::Edges => f.write_str("service-to-service (edge)"),
            QueryKind::Mean => f.write_str("mean response time"),
            QueryKind::CallHistogram => f.write_str("client-side call histogram"),
            QueryKind::CallMean => f.write_str("client-side mean call time"),
            QueryKind::Replicas => f.write_str("replica count"),
            QueryKind::Quantile { per_mille } => {
                write!(f, "histogram_quantile({})", f64::from(*per_mille) / 1000.0)
            }
        }
    }
}

/// Why observations could not be pulled from Prometheus or turned into a model.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// The Prometheus URL is not a valid `http://` or `https://` URL.
    #[error("invalid Prometheus URL `{url}`: {source}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// The client's parse error.
        #[source]
        source: prometheus_http_query::Error,
    },
    /// A command-line value (window, evaluation time, namespace, label name) is invalid.
    #[error("invalid {what} `{value}`: expected {expected}")]
    InvalidArgument {
        /// What the value is for (`"window"`).
        what: &'static str,
        /// The value given.
        value: String,
        /// What is accepted, in words.
        expected: &'static str,
    },
    /// No HTTP answer: connection refused, DNS failure, timeout.
    #[error("cannot reach Prometheus at {url} (sending the {kind} query `{query}`)")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// The query being sent.
        kind: QueryKind,
        /// The PromQL text.
        query: String,
        /// The client's error (its sources name the network cause).
        #[source]
        source: prometheus_http_query::Error,
    },
    /// An HTTP answer that is not a Prometheus API response (a proxy's error page, a wrong
    /// path).
    #[error("{url} did not answer the {kind} query `{query}` like a Prometheus server")]
    BadResponse {
        /// The server's base URL.
        url: String,
        /// The query sent.
        kind: QueryKind,
        /// The PromQL text.
        query: String,
        /// The client's error.
        #[source]
        source: prometheus_http_query::Error,
    },
    /// Prometheus answered with an error (a PromQL syntax error, a bad time, a timeout).
    #[error("Prometheus rejected the {kind} query `{query}`: {message}")]
    Rejected {
        /// The query sent.
        kind: QueryKind,
        /// The PromQL text.
        query: String,
        /// Prometheus' error type and message.
        message: String,
    },
    /// The query returned no series.
    #[error(
        "the {kind} query returned no series at {at}: `{query}` \
         (check the namespace, the time window and that the preset's metrics exist)"
    )]
    Empty {
        /// The query sent.
        kind: QueryKind,
        /// The PromQL text.
        query: String,
        /// The evaluation time (`now`, unix seconds or RFC 3339).
        at: String,
    },
    /// The query returned a range vector or a scalar instead of an instant vector.
    #[error("the {kind} query returned a {got}, not an instant vector: `{query}`")]
    NotAVector {
        /// The query sent.
        kind: QueryKind,
        /// The PromQL text.
        query: String,
        /// The result type found (`"range vector"`, `"scalar"`).
        got: &'static str,
    },
    /// A series of the result lacks a label or holds an unusable value.
    #[error("the {kind} query returned {series}: {problem}; query: `{query}`")]
    Malformed {
        /// The query sent.
        kind: QueryKind,
        /// The PromQL text.
        query: String,
        /// The offending series, as `{label="value", ...} value`.
        series: String,
        /// What is wrong with it.
        problem: String,
    },
    /// No workload receives requests from outside the namespace, so there is no entry point
    /// for the Workload's request types.
    #[error(
        "no workload receives requests from outside the namespace in the window \
         (request rates: {rates}); query: `{query}`"
    )]
    NoEntry {
        /// The request-rate query.
        query: String,
        /// The rates found, as `name=rate` pairs.
        rates: String,
    },
    /// A workload's histogram could not be fitted by any family.
    #[error("workload {workload}: its latency histogram could not be fitted")]
    Fit {
        /// The workload.
        workload: String,
        /// Why.
        #[source]
        source: crate::fit::FitError,
    },
}
