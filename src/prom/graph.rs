//! Call-graph inference from service-to-service request rates.
//!
//! A mesh reports, for a time window, how many requests per second each workload received
//! (its inbound rate `r_w`) and how many each workload sent to each other one (the edge rate
//! `e_{s->d}`). kubetwin turns that into a call graph:
//!
//! - a **call** `s -> d` happens with probability `p = e_{s->d} / r_s` per request that `s`
//!   serves (its branch probability); `p` above 1 means several calls per request on average;
//! - an edge whose source is not a workload of the namespace with inbound traffic (Istio's
//!   `source_workload="unknown"`, an ingress gateway, a cron job) is traffic from outside;
//! - a workload is an **entry** when its inbound rate exceeds what its callers inside the
//!   namespace send it by more than [`ENTRY_THRESHOLD`] of that rate; the excess is its rate
//!   of external arrivals.
//!
//! Metrics give marginal rates only, not which calls happen together, so each edge becomes an
//! independent call: that reproduces every workload's measured load. Self-calls count
//! toward a workload's internal traffic but are not modelled as calls.

use std::collections::BTreeMap;

use crate::prom::parse::Edge;

/// A workload is an entry when more than this fraction of its inbound rate comes from
/// outside the namespace (smaller differences are taken as noise between two rate queries).
pub const ENTRY_THRESHOLD: f64 = 0.01;

/// The inferred call graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallGraph {
    /// Entry workloads and their rate of requests from outside, in requests per second.
    pub entries: BTreeMap<String, f64>,
    /// For each caller, its callees and the mean number of calls per request it serves.
    pub calls: BTreeMap<String, BTreeMap<String, f64>>,
    /// Edges left out of the graph, with the reason.
    pub ignored: Vec<(Edge, &'static str)>,
}

/// Infers the call graph from inbound `rates` per workload and `edges` (`None` when the
/// metrics do not say who calls whom: then every workload with traffic is an entry at its
/// inbound rate, without calls). Workloads are the keys of `rates`; rates are in requests
/// per second.
pub fn infer_call_graph(rates: &BTreeMap<String, f64>, edges: Option<&[Edge]>) -> CallGraph {
    let mut graph = CallGraph::default();
    let Some(edges) = edges else {
        graph.entries = rates
            .iter()
            .filter(|(_, r)| **r > 0.0)
            .map(|(w, r)| (w.clone(), *r))
            .collect();
        return graph;
    };
    let caller_rate = |name: &str| rates.get(name).copied().filter(|r| *r > 0.0);
    let mut internal: BTreeMap<&str, f64> = BTreeMap::new();
    for edge in edges {
        let reason = if edge.rate.is_nan() || edge.rate <= 0.0 {
            Some("no requests in the window")
        } else if !rates.contains_key(&edge.destination) {
            Some("the destination is not a workload of the namespace")
        } else {
            None
        };
        if let Some(reason) = reason {
            graph.ignored.push((edge.clone(), reason));
            continue;
        }
        let Some(source_rate) = caller_rate(&edge.source) else {
            continue;
        };
        *internal.entry(edge.destination.as_str()).or_default() += edge.rate;
        if edge.source == edge.destination {
            graph.ignored.push((edge.clone(), "a self-call"));
            continue;
        }
        *graph
            .calls
            .entry(edge.source.clone())
            .or_default()
            .entry(edge.destination.clone())
            .or_default() += edge.rate / source_rate;
    }
    for (workload, &rate) in rates {
        let external = rate - internal.get(workload.as_str()).copied().unwrap_or(0.0);
        if rate > 0.0 && external > ENTRY_THRESHOLD * rate {
            graph.entries.insert(workload.clone(), external);
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(source: &str, destination: &str, rate: f64) -> Edge {
        Edge {
            source: source.into(),
            destination: destination.into(),
            rate,
        }
    }

    fn rates(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(w, r)| (w.to_string(), *r)).collect()
    }

    #[test]
    fn branch_probabilities_are_edge_rate_over_caller_rate() {
        let r = rates(&[("a", 20.0), ("b", 14.0), ("c", 6.0), ("d", 28.0)]);
        let e = [
            edge("unknown", "a", 20.0),
            edge("a", "b", 14.0),
            edge("a", "c", 6.0),
            edge("b", "d", 28.0),
        ];
        let g = infer_call_graph(&r, Some(&e));
        assert_eq!(g.entries, rates(&[("a", 20.0)]));
        assert_eq!(g.calls["a"]["b"], 0.7);
        assert_eq!(g.calls["a"]["c"], 0.3);
        assert_eq!(g.calls["b"]["d"], 2.0);
        assert!(g.ignored.is_empty());
    }

    #[test]
    fn outside_callers_make_entries_and_bad_edges_are_ignored_with_a_reason() {
        let r = rates(&[("a", 10.0), ("b", 9.0), ("idle", 0.0)]);
        let e = [
            edge("a", "b", 5.0),
            edge("ingress", "b", 4.0),
            edge("a", "a", 1.0),
            edge("a", "elsewhere", 3.0),
            edge("a", "idle", 0.0),
            edge("idle", "b", 0.0),
        ];
        let g = infer_call_graph(&r, Some(&e));
        // a: nobody inside calls it but itself (1 of 10); b: 4 of 9 from outside.
        assert_eq!(g.entries, rates(&[("a", 9.0), ("b", 4.0)]));
        assert_eq!(g.calls.len(), 1);
        assert_eq!(g.calls["a"].len(), 1);
        assert_eq!(g.calls["a"]["b"], 0.5);
        let reasons: Vec<&str> = g.ignored.iter().map(|(_, r)| *r).collect();
        assert_eq!(
            reasons,
            [
                "a self-call",
                "the destination is not a workload of the namespace",
                "no requests in the window",
                "no requests in the window"
            ]
        );
    }

    #[test]
    fn small_differences_are_noise_and_no_edges_means_all_entries() {
        let r = rates(&[("a", 10.0), ("b", 5.02)]);
        let g = infer_call_graph(&r, Some(&[edge("x", "a", 10.0), edge("a", "b", 5.0)]));
        assert_eq!(g.entries, rates(&[("a", 10.0)]));
        let g = infer_call_graph(&r, None);
        assert_eq!(g.entries, r);
        assert!(g.calls.is_empty());
    }
}
