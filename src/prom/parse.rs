//! Turning query results into observations: bucket lists, rates and edges, with every
//! malformed series reported by the query it came from.

use std::collections::BTreeMap;

use crate::fit::Bucket;
use crate::prom::error::{PromError, QueryKind};

/// One series of an instant-vector result: its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Label names and values (`__name__` included when the query keeps it).
    pub labels: BTreeMap<String, String>,
    /// The sample's value.
    pub value: f64,
}

/// Requests per second from one workload to another.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    /// The caller (empty when the series has no source label).
    pub source: String,
    /// The callee.
    pub destination: String,
    /// Requests per second.
    pub rate: f64,
}

/// The query a result came from, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// Which query.
    pub kind: QueryKind,
    /// Its PromQL text.
    pub query: &'a str,
}

impl Origin<'_> {
    fn malformed(&self, series: &Series, problem: impl Into<String>) -> PromError {
        let labels: Vec<String> = series
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        PromError::Malformed {
            kind: self.kind,
            query: self.query.to_string(),
            series: format!("{{{}}} {}", labels.join(", "), series.value),
            problem: problem.into(),
        }
    }

    fn label<'s>(&self, series: &'s Series, name: &str) -> Result<&'s str, PromError> {
        match series.labels.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(self.malformed(
                series,
                format!("no `{name}` label (aggregate with `sum by ({name}, ...)`)"),
            )),
        }
    }

    fn non_negative(&self, series: &Series) -> Result<f64, PromError> {
        if series.value.is_finite() && series.value >= 0.0 {
            Ok(series.value)
        } else {
            Err(self.malformed(series, "the value must be a finite number >= 0"))
        }
    }
}

/// Groups histogram series into one cumulative bucket list per workload, `le` converted to
/// milliseconds by `to_milliseconds` and sorted. As PromQL's `histogram_quantile` does, a
/// count below the one of a lower bucket (which `increase()` extrapolation can produce) is
/// raised to it.
///
/// # Errors
/// [`PromError::Malformed`] for a series without the workload label or `le`, an `le` that is
/// not a number, a negative or non-finite count, two series with the same `le`, or a workload
/// without an `le="+Inf"` bucket.
pub fn histograms(
    origin: Origin<'_>,
    series: &[Series],
    workload_label: &str,
    to_milliseconds: f64,
) -> Result<BTreeMap<String, Vec<Bucket>>, PromError> {
    let key = |s: &Series| {
        let workload = origin.label(s, workload_label)?;
        Ok((workload.to_string(), format!("workload {workload}")))
    };
    grouped_histograms(origin, series, key, to_milliseconds)
}

/// [`histograms`] per caller and callee: client-side durations of the calls between them.
///
/// # Errors
/// As [`histograms`], with both labels required.
pub fn edge_histograms(
    origin: Origin<'_>,
    series: &[Series],
    source_label: &str,
    destination_label: &str,
    to_milliseconds: f64,
) -> Result<BTreeMap<(String, String), Vec<Bucket>>, PromError> {
    let key = |s: &Series| {
        let source = origin.label(s, source_label)?;
        let destination = origin.label(s, destination_label)?;
        let shown = format!("calls {source} -> {destination}");
        Ok(((source.to_string(), destination.to_string()), shown))
    };
    grouped_histograms(origin, series, key, to_milliseconds)
}

/// One value per caller and callee.
///
/// # Errors
/// [`PromError::Malformed`] for a series without either label, a negative or non-finite
/// value (NaN, a window without calls, is skipped), or two series for one pair.
pub fn per_edge(
    origin: Origin<'_>,
    series: &[Series],
    source_label: &str,
    destination_label: &str,
) -> Result<BTreeMap<(String, String), f64>, PromError> {
    let mut result = BTreeMap::new();
    for s in series {
        let source = origin.label(s, source_label)?;
        let destination = origin.label(s, destination_label)?;
        if s.value.is_nan() {
            continue;
        }
        let value = origin.non_negative(s)?;
        let key = (source.to_string(), destination.to_string());
        if result.insert(key, value).is_some() {
            return Err(origin.malformed(
                s,
                format!("a second series for {source} -> {destination} (aggregate with `sum by`)"),
            ));
        }
    }
    Ok(result)
}

/// Groups bucket series by `key` (the key and how to name it in messages).
fn grouped_histograms<'s, K: Ord>(
    origin: Origin<'_>,
    series: &'s [Series],
    key: impl Fn(&'s Series) -> Result<(K, String), PromError>,
    to_milliseconds: f64,
) -> Result<BTreeMap<K, Vec<Bucket>>, PromError> {
    // Per key: how to name it, and its buckets with the series each came from.
    type Found<'s> = (String, Vec<(Bucket, &'s Series)>);
    let mut found: BTreeMap<K, Found<'s>> = BTreeMap::new();
    for s in series {
        let (k, shown) = key(s)?;
        let le = origin.label(s, "le")?;
        let upper_bound = match le {
            "+Inf" | "Inf" | "+inf" | "inf" => f64::INFINITY,
            text => match text.parse::<f64>() {
                Ok(x) if x.is_finite() => x * to_milliseconds,
                _ => return Err(origin.malformed(s, format!("le={le:?} is not a number"))),
            },
        };
        let cumulative_count = origin.non_negative(s)?;
        let bucket = Bucket {
            upper_bound,
            cumulative_count,
        };
        found
            .entry(k)
            .or_insert_with(|| (shown, Vec::new()))
            .1
            .push((bucket, s));
    }
    let mut result = BTreeMap::new();
    for (k, (shown, mut buckets)) in found {
        buckets.sort_by(|a, b| a.0.upper_bound.total_cmp(&b.0.upper_bound));
        if let Some(pair) = buckets
            .windows(2)
            .find(|w| w[0].0.upper_bound == w[1].0.upper_bound)
        {
            return Err(origin.malformed(
                pair[1].1,
                format!(
                    "a second series for {shown} and this `le` (aggregate with `sum by (..., le)`)"
                ),
            ));
        }
        if let Some((last, s)) = buckets.last()
            && last.upper_bound != f64::INFINITY
        {
            return Err(origin.malformed(s, format!("{shown} has no le=\"+Inf\" bucket")));
        }
        let mut running = 0.0_f64;
        let list = buckets
            .into_iter()
            .map(|(mut b, _)| {
                running = running.max(b.cumulative_count);
                b.cumulative_count = running;
                b
            })
            .collect();
        result.insert(k, list);
    }
    Ok(result)
}

/// One value per workload (request rates, quantiles).
///
/// # Errors
/// [`PromError::Malformed`] for a series without the workload label, a negative or
/// non-finite value (NaN is allowed when `allow_nan`, and skipped), or two series for one
/// workload.
pub fn per_workload(
    origin: Origin<'_>,
    series: &[Series],
    workload_label: &str,
    allow_nan: bool,
) -> Result<BTreeMap<String, f64>, PromError> {
    let mut result = BTreeMap::new();
    for s in series {
        let workload = origin.label(s, workload_label)?;
        if allow_nan && s.value.is_nan() {
            continue;
        }
        let value = origin.non_negative(s)?;
        if result.insert(workload.to_string(), value).is_some() {
            return Err(origin.malformed(
                s,
                format!("a second series for workload {workload} (aggregate with `sum by`)"),
            ));
        }
    }
    Ok(result)
}

/// Edges from the edge query; a series without a source label has an empty source (a
/// caller outside the mesh).
///
/// # Errors
/// [`PromError::Malformed`] for a series without the destination label, or with a negative
/// or non-finite rate.
pub fn edges(
    origin: Origin<'_>,
    series: &[Series],
    source_label: &str,
    destination_label: &str,
) -> Result<Vec<Edge>, PromError> {
    series
        .iter()
        .map(|s| {
            Ok(Edge {
                source: s.labels.get(source_label).cloned().unwrap_or_default(),
                destination: origin.label(s, destination_label)?.to_string(),
                rate: origin.non_negative(s)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin {
        kind: QueryKind::Histogram,
        query: "q",
    };

    fn series(labels: &[(&str, &str)], value: f64) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }

    #[test]
    fn buckets_are_grouped_sorted_scaled_and_made_monotonic() {
        let s = [
            series(&[("w", "a"), ("le", "+Inf")], 10.0),
            series(&[("w", "a"), ("le", "0.1")], 4.0),
            series(&[("w", "a"), ("le", "0.25")], 3.9),
            series(&[("w", "b"), ("le", "+Inf")], 2.0),
        ];
        let h = histograms(ORIGIN, &s, "w", 1000.0).unwrap();
        let a: Vec<(f64, f64)> = h["a"]
            .iter()
            .map(|b| (b.upper_bound, b.cumulative_count))
            .collect();
        assert_eq!(a, [(100.0, 4.0), (250.0, 4.0), (f64::INFINITY, 10.0)]);
        assert_eq!(h["b"].len(), 1);
    }

    #[test]
    fn malformed_series_are_named_with_the_query() {
        let cases: [(&[Series], &str); 5] = [
            (&[series(&[("le", "1")], 1.0)], "no `w` label"),
            (&[series(&[("w", "a")], 1.0)], "no `le` label"),
            (
                &[series(&[("w", "a"), ("le", "x")], 1.0)],
                "le=\"x\" is not a number",
            ),
            (
                &[series(&[("w", "a"), ("le", "1")], 1.0)],
                "no le=\"+Inf\" bucket",
            ),
            (
                &[
                    series(&[("w", "a"), ("le", "+Inf"), ("pod", "1")], 1.0),
                    series(&[("w", "a"), ("le", "+Inf"), ("pod", "2")], 1.0),
                ],
                "a second series",
            ),
        ];
        for (s, expected) in cases {
            let err = histograms(ORIGIN, s, "w", 1.0).unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains("histogram query"),
                "{err}"
            );
        }
        let err = per_workload(ORIGIN, &[series(&[("w", "a")], -1.0)], "w", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"{w="a"} -1"#) && err.contains(">= 0"),
            "{err}"
        );
    }

    #[test]
    fn rates_and_edges_are_read_by_label() {
        let rates = per_workload(
            ORIGIN,
            &[series(&[("w", "a")], 2.5), series(&[("w", "b")], f64::NAN)],
            "w",
            true,
        )
        .unwrap();
        assert_eq!(rates.into_iter().collect::<Vec<_>>(), [("a".into(), 2.5)]);
        let e = edges(
            ORIGIN,
            &[
                series(&[("dst", "a")], 1.0),
                series(&[("src", "a"), ("dst", "b")], 0.5),
            ],
            "src",
            "dst",
        )
        .unwrap();
        assert_eq!(e[0].source, "");
        assert_eq!((e[1].source.as_str(), e[1].rate), ("a", 0.5));
        assert!(edges(ORIGIN, &[series(&[("src", "a")], 1.0)], "src", "dst").is_err());
    }
}
