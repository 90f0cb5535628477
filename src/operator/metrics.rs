//! The operator's Prometheus metrics (prometheus-client), named as Prometheus recommends:
//! units in the name, `_total` on counters.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `kubetwin_reconciles_total` | counter | `experiment` |
//! | `kubetwin_reconcile_errors_total` | counter | `experiment`, `reason` |
//! | `kubetwin_reconcile_duration_seconds` | histogram | |
//! | `kubetwin_cycle_duration_seconds` | histogram | |
//! | `kubetwin_cycles_over_budget_total` | counter | `experiment` |
//! | `kubetwin_latency_predicted_seconds` | gauge | `experiment`, `quantile` (`mean`, `0.99`) |
//! | `kubetwin_latency_observed_seconds` | gauge | `experiment`, `quantile` |
//! | `kubetwin_prediction_error_ratio` | gauge | `experiment`, `quantile`: (predicted − observed) / observed |
//! | `kubetwin_recommendation_info` | gauge (1) | `experiment`, `id`, `state`, `summary` |

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric, registered in one registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    over_budget: Family<Labels, Counter>,
    /// Wall time of one reconcile.
    pub reconcile_duration: Histogram,
    /// Wall time of one fit-simulate-search cycle.
    pub cycle_duration: Histogram,
    predicted: Family<Labels, FloatGauge>,
    observed: Family<Labels, FloatGauge>,
    error_ratio: Family<Labels, FloatGauge>,
    recommendations: Family<Labels, Gauge>,
    /// The recommendation series last set per experiment, to remove when they change.
    recommendation_series: std::sync::Mutex<std::collections::BTreeMap<String, Vec<Labels>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kubetwin");
        let m = Metrics {
            reconciles: Family::default(),
            errors: Family::default(),
            over_budget: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            cycle_duration: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            predicted: Family::default(),
            observed: Family::default(),
            error_ratio: Family::default(),
            recommendations: Family::default(),
            recommendation_series: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles by experiment",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by experiment and reason",
            m.errors.clone(),
        );
        registry.register(
            "cycles_over_budget",
            "Cycles that ran past budget.maxCycleSeconds",
            m.over_budget.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Wall time of one reconcile",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "cycle_duration_seconds",
            "Wall time of one fit-simulate-search cycle",
            m.cycle_duration.clone(),
        );
        registry.register(
            "latency_predicted_seconds",
            "Entry response time the twin predicts for the current configuration",
            m.predicted.clone(),
        );
        registry.register(
            "latency_observed_seconds",
            "Entry response time Prometheus observed over the fit window",
            m.observed.clone(),
        );
        registry.register(
            "prediction_error_ratio",
            "(predicted - observed) / observed for the current configuration",
            m.error_ratio.clone(),
        );
        registry.register(
            "recommendation_info",
            "Recommendations by id and state (value 1)",
            m.recommendations.clone(),
        );
        Metrics { registry, ..m }
    }
}

fn experiment(name: &str) -> Labels {
    vec![("experiment", name.to_owned())]
}

fn quantile(name: &str, q: &str) -> Labels {
    vec![("experiment", name.to_owned()), ("quantile", q.to_owned())]
}

impl Metrics {
    /// Counts a reconcile of `name` (`namespace/name`).
    pub fn reconciled(&self, name: &str) {
        self.reconciles.get_or_create(&experiment(name)).inc();
    }

    /// Counts a failed reconcile of `name` for `reason` (a short PascalCase word).
    pub fn failed(&self, name: &str, reason: &str) {
        let mut labels = experiment(name);
        labels.push(("reason", reason.to_owned()));
        self.errors.get_or_create(&labels).inc();
    }

    /// Counts a cycle of `name` that ran past its budget.
    pub fn over_budget(&self, name: &str) {
        self.over_budget.get_or_create(&experiment(name)).inc();
    }

    /// Records the predicted and observed entry latency (milliseconds) at quantile `q`
    /// (`mean`, `0.99`), and their error ratio when both are known.
    pub fn latency(
        &self,
        name: &str,
        q: &str,
        predicted_ms: Option<f64>,
        observed_ms: Option<f64>,
    ) {
        let labels = quantile(name, q);
        if let Some(p) = predicted_ms {
            self.predicted.get_or_create(&labels).set(p / 1000.0);
        }
        if let Some(o) = observed_ms {
            self.observed.get_or_create(&labels).set(o / 1000.0);
        }
        if let (Some(p), Some(o)) = (predicted_ms, observed_ms)
            && o > 0.0
        {
            self.error_ratio.get_or_create(&labels).set((p - o) / o);
        }
    }

    /// Replaces `name`'s recommendation series with `(id, state, summary)` triples.
    pub fn recommendations(&self, name: &str, current: &[(String, String, String)]) {
        let mut series = self
            .recommendation_series
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for old in series.remove(name).unwrap_or_default() {
            self.recommendations.remove(&old);
        }
        let new: Vec<Labels> = current
            .iter()
            .map(|(id, state, summary)| {
                vec![
                    ("experiment", name.to_owned()),
                    ("id", id.clone()),
                    ("state", state.clone()),
                    ("summary", summary.clone()),
                ]
            })
            .collect();
        for labels in &new {
            self.recommendations.get_or_create(labels).set(1);
        }
        series.insert(name.to_owned(), new);
    }

    /// The registry in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_carry_units_labels_and_error_ratios() {
        let m = Metrics::default();
        m.reconciled("shop/shop");
        m.failed("shop/shop", "PrometheusUnreachable");
        m.latency("shop/shop", "0.99", Some(55.0), Some(50.0));
        m.recommendations(
            "shop/shop",
            &[(
                "r-1".into(),
                "Pending".into(),
                "hpa/frontend min 2->4".into(),
            )],
        );
        let text = m.encode();
        for line in [
            "kubetwin_reconciles_total{experiment=\"shop/shop\"} 1",
            "kubetwin_reconcile_errors_total{experiment=\"shop/shop\",reason=\"PrometheusUnreachable\"} 1",
            "kubetwin_latency_predicted_seconds{experiment=\"shop/shop\",quantile=\"0.99\"} 0.055",
            "kubetwin_latency_observed_seconds{experiment=\"shop/shop\",quantile=\"0.99\"} 0.05",
            "kubetwin_prediction_error_ratio{experiment=\"shop/shop\",quantile=\"0.99\"} 0.1",
            "kubetwin_recommendation_info{experiment=\"shop/shop\",id=\"r-1\",state=\"Pending\",summary=\"hpa/frontend min 2->4\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert!(text.contains("# TYPE kubetwin_reconcile_duration_seconds histogram"));
        m.recommendations("shop/shop", &[]);
        assert!(!m.encode().contains("kubetwin_recommendation_info{"));
    }
}
