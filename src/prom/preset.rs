//! The PromQL a pull sends: presets for the metric names of common meshes and
//! instrumentation libraries, fully custom queries, and the window and evaluation time.
//!
//! A [`Queries`] holds templates in which `${namespace}` and `${window}` are replaced
//! before sending ([`Queries::render`]):
//!
//! - **histogram**: one series per workload and bucket, labelled with the workload label and
//!   `le`, valued at the number of observations in the window (`increase(...)`, counts, not
//!   per-second rates, because the fit treats them as observations);
//! - **rates**: one series per workload, valued at its inbound requests per second;
//! - **edges** (optional): one series per caller and callee, valued at requests per second;
//! - **mean** (optional): the mean response time per workload (`_sum / _count`);
//! - **call histogram** and **call mean** (optional): the client-side durations of the calls
//!   per caller and callee, which let the fit subtract a caller's calls from its response
//!   time ([`crate::prom::own_time`]);
//! - **replicas** (optional): the pods reporting per workload, for per-pod loads.
//!
//! | preset | histogram (unit) | workload label | edges and client-side calls | replicas counted by |
//! |---|---|---|---|---|
//! | `istio` | `istio_request_duration_milliseconds_bucket` (ms) | `destination_workload` | `istio_requests_total` by `source_workload`, `destination_workload`; calls from `reporter="source"` | `pod` |
//! | `linkerd` | `response_latency_ms_bucket` (ms) | `deployment` | outbound `request_total` and `response_latency_ms` by `deployment`, `dst_deployment` | `pod` |
//! | `otel` | `http_server_request_duration_seconds_bucket` (s, converted to ms) | `service_name` | `http_client_request_duration_seconds` by `service_name`, `server_address` | `service_instance_id` |
//!
//! Istio series are those with `reporter="destination"` in `destination_workload_namespace`
//! (client-side: `reporter="source"` with both namespaces); Linkerd series those with
//! `direction="inbound"` in `namespace` (client-side: `direction="outbound"`); OpenTelemetry
//! series those with the resource attribute `k8s.namespace.name` (label
//! `k8s_namespace_name`, as the collector's Prometheus exporter writes it with
//! resource-to-telemetry conversion on).

use std::fmt;

use crate::prom::error::PromError;

/// A known set of metric names and labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Istio's standard metrics, reported by the destination's sidecar.
    Istio,
    /// Linkerd's proxy metrics.
    Linkerd,
    /// OpenTelemetry HTTP server semantic conventions (durations in seconds).
    Otel,
}

/// The queries of a pull, as templates with `${namespace}` and `${window}` placeholders.
#[derive(Clone, Debug, PartialEq)]
pub struct Queries {
    /// Bucket counts over the window, by workload and `le`.
    pub histogram: String,
    /// Inbound requests per second, by workload.
    pub rates: String,
    /// Requests per second from a source to a destination; `None` when the metrics do not
    /// say who calls whom (then every workload is taken as an entry point without calls).
    pub edges: Option<String>,
    /// The label naming the workload in the histogram and rate results.
    pub workload_label: String,
    /// The label naming the caller in the edge results.
    pub source_label: String,
    /// The label naming the callee in the edge results.
    pub destination_label: String,
    /// Factor from the histogram's unit to milliseconds (1000 for seconds).
    pub to_milliseconds: f64,
    /// Optional: the mean response time per workload (`sum / count`, the histogram's
    /// unit), exact where the buckets only bound it.
    pub mean: Option<String>,
    /// Optional: client-side call durations per caller and callee (`source_label`,
    /// `destination_label`, `le`; the histogram's unit), so a caller's own processing time
    /// can be told from the time it waits for its calls.
    pub call_histogram: Option<String>,
    /// Optional: the client-side mean call duration per caller and callee.
    pub call_mean: Option<String>,
    /// Optional: the number of pods reporting per workload (for per-pod load levels).
    pub replicas: Option<String>,
}

impl Preset {
    /// The preset's queries.
    pub fn queries(self) -> Queries {
        match self {
            Preset::Istio => {
                let server =
                    r#"reporter="destination", destination_workload_namespace="${namespace}""#;
                let client = r#"reporter="source", source_workload_namespace="${namespace}", destination_workload_namespace="${namespace}""#;
                let (w, pair) = (
                    "destination_workload",
                    "source_workload, destination_workload",
                );
                let duration = "istio_request_duration_milliseconds";
                Queries {
                    histogram: increase(&format!("{w}, le"), &format!("{duration}_bucket"), server),
                    rates: rate(w, "istio_requests_total", server),
                    edges: Some(rate(pair, "istio_requests_total", server)),
                    workload_label: w.into(),
                    source_label: "source_workload".into(),
                    destination_label: w.into(),
                    to_milliseconds: 1.0,
                    mean: Some(mean(w, duration, server)),
                    call_histogram: Some(increase(
                        &format!("{pair}, le"),
                        &format!("{duration}_bucket"),
                        client,
                    )),
                    call_mean: Some(mean(pair, duration, client)),
                    replicas: Some(replicas(w, "pod", "istio_requests_total", server)),
                }
            }
            Preset::Linkerd => {
                let inbound = r#"direction="inbound", namespace="${namespace}""#;
                let outbound = r#"direction="outbound", namespace="${namespace}", dst_namespace="${namespace}""#;
                let (w, pair) = ("deployment", "deployment, dst_deployment");
                let duration = "response_latency_ms";
                Queries {
                    histogram: increase(
                        &format!("{w}, le"),
                        &format!("{duration}_bucket"),
                        inbound,
                    ),
                    rates: rate(w, "request_total", inbound),
                    edges: Some(rate(pair, "request_total", outbound)),
                    workload_label: w.into(),
                    source_label: w.into(),
                    destination_label: "dst_deployment".into(),
                    to_milliseconds: 1.0,
                    mean: Some(mean(w, duration, inbound)),
                    call_histogram: Some(increase(
                        &format!("{pair}, le"),
                        &format!("{duration}_bucket"),
                        outbound,
                    )),
                    call_mean: Some(mean(pair, duration, outbound)),
                    replicas: Some(replicas(w, "pod", "request_total", inbound)),
                }
            }
            Preset::Otel => {
                let sel = r#"k8s_namespace_name="${namespace}""#;
                let (w, pair) = ("service_name", "service_name, server_address");
                let (server, client) = (
                    "http_server_request_duration_seconds",
                    "http_client_request_duration_seconds",
                );
                Queries {
                    histogram: increase(&format!("{w}, le"), &format!("{server}_bucket"), sel),
                    rates: rate(w, &format!("{server}_count"), sel),
                    edges: Some(rate(pair, &format!("{client}_count"), sel)),
                    workload_label: w.into(),
                    source_label: w.into(),
                    destination_label: "server_address".into(),
                    to_milliseconds: 1000.0,
                    mean: Some(mean(w, server, sel)),
                    call_histogram: Some(increase(
                        &format!("{pair}, le"),
                        &format!("{client}_bucket"),
                        sel,
                    )),
                    call_mean: Some(mean(pair, client, sel)),
                    replicas: Some(replicas(
                        w,
                        "service_instance_id",
                        &format!("{server}_count"),
                        sel,
                    )),
                }
            }
        }
    }
}

/// `sum by (labels) (increase(metric{selector}[window]))`.
fn increase(labels: &str, metric: &str, selector: &str) -> String {
    format!("sum by ({labels}) (increase({metric}{{{selector}}}[${{window}}]))")
}

/// `sum by (labels) (rate(metric{selector}[window]))`.
fn rate(labels: &str, metric: &str, selector: &str) -> String {
    format!("sum by ({labels}) (rate({metric}{{{selector}}}[${{window}}]))")
}

/// The mean of histogram `base` over the window: the increase of `_sum` over that of `_count`.
fn mean(labels: &str, base: &str, selector: &str) -> String {
    format!(
        "{} / {}",
        increase(labels, &format!("{base}_sum"), selector),
        increase(labels, &format!("{base}_count"), selector)
    )
}

/// The number of distinct `instance_label` values per `workload` among `metric`'s series.
fn replicas(workload: &str, instance_label: &str, metric: &str, selector: &str) -> String {
    format!(
        "count by ({workload}) (count by ({workload}, {instance_label}) ({metric}{{{selector}}}))"
    )
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::Istio => "istio",
            Preset::Linkerd => "linkerd",
            Preset::Otel => "otel",
        })
    }
}

impl Queries {
    /// Custom queries with the documented default label names `workload`, `source` and
    /// `destination`, and `le` in milliseconds. Override the fields to change them.
    pub fn custom(histogram: String, rates: String, edges: Option<String>) -> Queries {
        Queries {
            histogram,
            rates,
            edges,
            workload_label: "workload".into(),
            source_label: "source".into(),
            destination_label: "destination".into(),
            to_milliseconds: 1.0,
            mean: None,
            call_histogram: None,
            call_mean: None,
            replicas: None,
        }
    }

    /// `template` with `${namespace}` and `${window}` replaced. The namespace is escaped
    /// for a PromQL double-quoted string.
    pub fn render(template: &str, namespace: &str, window: &Window) -> String {
        let quoted = namespace.replace('\\', r"\\").replace('"', "\\\"");
        template
            .replace("${namespace}", &quoted)
            .replace("${window}", &window.text)
    }
}

/// A PromQL range duration such as `1h` or `1h30m`: how far back from the evaluation time a
/// pull looks.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    text: String,
    seconds: f64,
}

impl Window {
    /// Parses a Prometheus duration: one or more `<integer><unit>` in decreasing units, the
    /// units being `y` (365 d), `w`, `d`, `h`, `m`, `s` and `ms`.
    ///
    /// # Errors
    /// [`PromError::InvalidArgument`] for anything else, or a zero duration.
    pub fn parse(text: &str) -> Result<Window, PromError> {
        const UNITS: [(&str, f64); 7] = [
            ("y", 31_536_000.0),
            ("w", 604_800.0),
            ("d", 86_400.0),
            ("h", 3_600.0),
            ("ms", 0.001),
            ("m", 60.0),
            ("s", 1.0),
        ];
        let invalid = || PromError::InvalidArgument {
            what: "window",
            value: text.to_string(),
            expected: "a Prometheus duration such as 30m, 1h or 1h30m",
        };
        let (mut rest, mut seconds, mut last) = (text, 0.0, f64::INFINITY);
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let &(unit, size) = UNITS
                .iter()
                .find(|(unit, _)| rest.starts_with(unit))
                .ok_or_else(invalid)?;
            if size >= last {
                return Err(invalid());
            }
            (rest, seconds, last) = (&rest[unit.len()..], seconds + number * size, size);
        }
        if seconds <= 0.0 {
            return Err(invalid());
        }
        Ok(Window {
            text: text.to_string(),
            seconds,
        })
    }

    /// The duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// When the queries are evaluated: the window ends there.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum EvalTime {
    /// The server's current time.
    #[default]
    Now,
    /// Unix seconds (e.g. `1700007200` or `1700007200.5`) or an RFC 3339 time
    /// (`2023-11-15T00:13:20Z`), passed to Prometheus as written.
    At(String),
}

impl EvalTime {
    /// Parses unix seconds or an RFC 3339 date-time with a `Z` or `±hh:mm` offset.
    ///
    /// # Errors
    /// [`PromError::InvalidArgument`] for anything else.
    pub fn parse(text: &str) -> Result<EvalTime, PromError> {
        let unix = text.parse::<f64>().is_ok_and(|t| t.is_finite() && t >= 0.0);
        if unix || is_rfc3339(text) {
            Ok(EvalTime::At(text.to_string()))
        } else {
            Err(PromError::InvalidArgument {
                what: "evaluation time",
                value: text.to_string(),
                expected: "unix seconds or an RFC 3339 time such as 2023-11-15T00:13:20Z",
            })
        }
    }
}

impl fmt::Display for EvalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalTime::Now => f.write_str("now"),
            EvalTime::At(t) => f.write_str(t),
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`, checked by shape (Prometheus checks the values).
fn is_rfc3339(text: &str) -> bool {
    let shape = |s: &[u8], pattern: &[u8]| {
        s.len() == pattern.len()
            && s.iter().zip(pattern).all(|(c, p)| match p {
                b'9' => c.is_ascii_digit(),
                _ => c == p,
            })
    };
    let b = text.as_bytes();
    if b.len() < 20 || !shape(&b[..19], b"9999-99-99T99:99:99") {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &frac[digits..];
    }
    rest == b"Z" || rest == b"z" || shape(rest, b"+99:99") || shape(rest, b"-99:99")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_like_prometheus_durations() {
        assert_eq!(Window::parse("1h").unwrap().seconds(), 3600.0);
        assert_eq!(Window::parse("1h30m").unwrap().seconds(), 5400.0);
        assert_eq!(Window::parse("90s").unwrap().seconds(), 90.0);
        assert_eq!(Window::parse("1m500ms").unwrap().seconds(), 60.5);
        for bad in ["", "1", "h", "1x", "30m1h", "0s", "1.5h", "1h1h", "-1h"] {
            assert!(Window::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn evaluation_times_are_unix_seconds_or_rfc3339() {
        for good in [
            "1700007200",
            "1700007200.25",
            "2023-11-15T00:13:20Z",
            "2023-11-15T00:13:20.123+01:00",
        ] {
            assert_eq!(EvalTime::parse(good).unwrap(), EvalTime::At(good.into()));
        }
        for bad in [
            "yesterday",
            "2023-11-15",
            "2023-11-15T00:13:20",
            "-5",
            "NaN",
        ] {
            let err = EvalTime::parse(bad).unwrap_err().to_string();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn templates_get_an_escaped_namespace_and_the_window() {
        let q = Preset::Istio.queries();
        let w = Window::parse("1h").unwrap();
        let text = Queries::render(&q.rates, "shop", &w);
        assert_eq!(
            text,
            "sum by (destination_workload) (rate(istio_requests_total\
             {reporter=\"destination\", destination_workload_namespace=\"shop\"}[1h]))"
        );
        let text = Queries::render("x{ns=\"${namespace}\"}", "a\"b", &w);
        assert_eq!(text, r#"x{ns="a\"b"}"#);
        assert_eq!(Preset::Otel.queries().to_milliseconds, 1000.0);
        let otel = Preset::Otel.queries();
        assert!(
            otel.edges
                .unwrap()
                .contains("http_client_request_duration_seconds_count")
        );
        for preset in [Preset::Istio, Preset::Linkerd, Preset::Otel] {
            let q = preset.queries();
            assert!(q.histogram.contains("increase(") && q.histogram.contains(" le)"));
            assert!(q.rates.contains("rate(") && !q.rates.contains("increase("));
            // Every optional query is there, aggregated by the labels the parser reads.
            let mean = q.mean.unwrap();
            assert!(mean.contains("_sum") && mean.contains(" / ") && mean.contains("_count"));
            let by = format!("{}, {}, le)", q.source_label, q.destination_label);
            assert!(q.call_histogram.unwrap().contains(&by), "{preset}");
            assert!(q.call_mean.unwrap().contains(" / "));
            assert!(
                q.replicas
                    .unwrap()
                    .starts_with(&format!("count by ({})", q.workload_label))
            );
        }
    }
}
