//! Writing a cycle's findings into the status: the model, observed and predicted figures,
//! the twin's accuracy, conditions and recommendations; and the metrics that mirror them.

use kube::ResourceExt;

use super::cycle::Prediction;
use super::reconcile::{Context, CycleResult, KEEP, event, set_condition};
use crate::operator::crd::*;
use crate::operator::now;
use crate::prom::Window;

pub(super) fn ms(v: f64) -> String {
    format!("{v:.1}ms")
}

pub(super) fn kpis(p: &Prediction) -> Kpis {
    Kpis {
        mean: p.mean.map(|e| ms(e.mean)),
        p99: p.p99.map(|e| ms(e.mean)),
        mean_ms: p.mean.map(|e| e.mean),
        p99_ms: p.p99.map(|e| e.mean),
        p99_ci95_ms: p.p99.and_then(|e| e.ci95),
        cost_per_hour: p.cost_per_hour.map(|e| e.mean),
    }
}

pub(super) async fn record(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
    result: &CycleResult,
    fingerprint: String,
    seconds: f64,
) {
    let CycleResult {
        outcome, warnings, ..
    } = result;
    let generation = tx.metadata.generation;
    let at = now();
    let entry = &tx.spec.target.entry;
    let workloads = result.fitted.iter().flat_map(|f| &f.workloads);
    let services = workloads
        .clone()
        .map(|w| {
            let best = w.best();
            let dist = crate::fit::select::distribution(best.family, &best.spec).ok();
            ServiceFit {
                name: w.name.clone(),
                family: best.family.to_string(),
                mean_ms: dist.as_ref().map_or(f64::NAN, |d| d.mean()),
                p99_ms: best.quantile(0.99).unwrap_or(f64::NAN),
                requests_per_second: w.rate,
            }
        })
        .collect::<Vec<_>>();
    let observed_entry = services.iter().find(|s| &s.name == entry);
    let observed_p99 = workloads
        .clone()
        .find(|w| &w.name == entry)
        .and_then(|w| w.prometheus_p99);
    let observed = Kpis {
        mean: observed_entry.map(|s| ms(s.mean_ms)),
        p99: observed_p99.map(ms),
        mean_ms: observed_entry.map(|s| s.mean_ms),
        p99_ms: observed_p99,
        ..Kpis::default()
    };
    let predicted = kpis(&outcome.current);
    let rate: f64 = result
        .fitted
        .iter()
        .flat_map(|f| f.graph.entries.values())
        .sum();
    let mut listed: Vec<String> = warnings.iter().take(MAX_WARNINGS).cloned().collect();
    if warnings.len() > MAX_WARNINGS {
        listed.push(format!("... and {} more", warnings.len() - MAX_WARNINGS));
    }
    status.model = Some(ModelSummary {
        fitted_at: at.clone(),
        requests_per_second: tx.spec.workload.requests_per_second.unwrap_or(rate)
            * tx.spec.workload.load_factor.unwrap_or(1.0),
        services,
        warnings: listed,
    });
    let sources = match (&tx.spec.model.prometheus, &tx.spec.model.config_map) {
        (Some(p), None) => format!("from Prometheus over {}", p.window),
        (Some(p), Some(c)) => format!("from Prometheus over {} and ConfigMap {c}", p.window),
        (None, Some(c)) => format!("from ConfigMap {c}"),
        (None, None) => String::new(),
    };
    set_condition(
        status,
        generation,
        "ModelFitted",
        true,
        "Fitted",
        format!(
            "{} workloads fitted {sources}; {} warnings from the import and the build",
            workloads.count(),
            warnings.len()
        ),
    );
    // Accuracy: an exponentially weighted mean of the absolute errors over ~10 cycles.
    if let (Some(p), Some(o)) = (predicted.p99_ms, observed.p99_ms) {
        let acc = status.accuracy.get_or_insert_with(Accuracy::default);
        let weight = 1.0 / f64::from((acc.cycles + 1).min(10));
        let error = |p: f64, o: f64| ((p - o) / o).abs() * 100.0;
        acc.p99_error_pct += weight * (error(p, o) - acc.p99_error_pct);
        if let (Some(pm), Some(om)) = (predicted.mean_ms, observed.mean_ms) {
            acc.mean_error_pct += weight * (error(pm, om) - acc.mean_error_pct);
        }
        acc.cycles += 1;
        // The first cycle whose whole window follows an apply checks that recommendation's
        // prediction (earlier windows still mix in the old configuration).
        let window = (tx.spec.model.prometheus.as_ref())
            .and_then(|p| Window::parse(&p.window).ok())
            .map_or(0, |w| w.seconds().ceil() as i64);
        for rec in status
            .recommendations
            .iter_mut()
            .filter(|r| r.state == RecommendationState::Applied && r.outcome.is_none())
        {
            let after = rec
                .applied_at
                .as_ref()
                .is_some_and(|t| at.0.as_second() - t.0.as_second() >= window);
            if let (true, Some(rp)) = (after, rec.predicted.p99_ms) {
                rec.outcome = Some(super::crd::Outcome {
                    observed_p99_ms: o,
                    p99_error_pct: (rp - o) / o * 100.0,
                });
            }
        }
    }
    status.current = Some(CurrentKpis {
        observed: Some(observed),
        predicted: Some(predicted.clone()),
    });
    let current_p99 = outcome.current.p99.map_or("n/a".to_owned(), |e| {
        format!("{:.1} ± {:.1} ms", e.mean, e.ci95.unwrap_or(0.0))
    });
    set_condition(
        status,
        generation,
        "Simulated",
        true,
        if outcome.cancelled {
            "CycleOverBudget"
        } else {
            "Simulated"
        },
        format!(
            "current configuration: p99 {current_p99}; {} configurations simulated in {seconds:.1} s, minimising {:?}{}",
            outcome.configurations,
            outcome.objective,
            if outcome.cancelled {
                " (cut short by budget.maxCycleSeconds)"
            } else {
                ""
            }
        ),
    );
    status.last_cycle = Some(CycleSummary {
        finished_at: at.clone(),
        seconds,
        configurations: outcome.configurations as i32,
        over_budget: outcome.cancelled,
        fingerprint,
    });
    let pending = status
        .recommendations
        .iter()
        .position(|r| r.state == RecommendationState::Pending);
    match &outcome.proposal {
        Some(proposal) => {
            let patches: Vec<PatchSpec> = proposal
                .patches
                .iter()
                .map(|p| PatchSpec {
                    api_version: p.target.api_version.clone(),
                    kind: p.target.kind.clone(),
                    name: p.target.name.clone(),
                    apply: serde_saphyr::to_string(&p.apply)
                        .expect("JSON values serialize to YAML"),
                })
                .collect();
            let summary = summary(&proposal.settings);
            let same = pending.is_some_and(|i| status.recommendations[i].patches == patches);
            if let (true, Some(i)) = (same, pending) {
                status.recommendations[i].predicted = kpis(&proposal.prediction);
            } else {
                if let Some(i) = pending {
                    status.recommendations[i].state = RecommendationState::Superseded;
                }
                let n = status
                    .recommendations
                    .last()
                    .and_then(|r| r.id.strip_prefix("r-")?.parse::<u32>().ok())
                    .unwrap_or(0)
                    + 1;
                let id = format!("r-{n}");
                let cost_delta = proposal
                    .prediction
                    .cost_per_hour
                    .map(|e| e.mean)
                    .unwrap_or(0.0)
                    - outcome.current.cost_per_hour.map(|e| e.mean).unwrap_or(0.0);
                status.recommendations.push(Recommendation {
                    approve: format!(
                        "kubectl annotate twin {} -n {} {APPROVE}={id} --overwrite",
                        tx.name_any(),
                        tx.namespace().unwrap_or_default()
                    ),
                    id: id.clone(),
                    state: RecommendationState::Pending,
                    created_at: at.clone(),
                    summary: summary.clone(),
                    patches,
                    previous: Vec::new(),
                    predicted: kpis(&proposal.prediction),
                    cost_delta_per_hour: cost_delta,
                    applied_at: None,
                    outcome: None,
                });
                event(
                    ctx,
                    tx,
                    "Recommended",
                    "Recommend",
                    format!("{id}: {summary}"),
                )
                .await;
            }
            let rec = status
                .recommendations
                .iter()
                .rev()
                .find(|r| r.state == RecommendationState::Pending)
                .expect("just kept or added");
            status.recommendation = Some(format!("{}: {}", rec.id, rec.summary));
            set_condition(
                status,
                generation,
                "RecommendationReady",
                true,
                "BetterConfiguration",
                format!(
                    "{}: predicted p99 {} (cost {:+.4}/h); approve with: {}",
                    rec.id,
                    rec.predicted.p99.clone().unwrap_or_default(),
                    rec.cost_delta_per_hour,
                    rec.approve
                ),
            );
            status.phase = Some("RecommendationReady".to_owned());
        }
        None => {
            if let Some(i) = pending {
                status.recommendations[i].state = RecommendationState::Superseded;
            }
            status.recommendation = None;
            let (reason, message) =
                match (tx.spec.search_space.is_empty(), outcome.current.meets_slo) {
                    (true, _) => (
                        "NoSearchSpace",
                        "spec.searchSpace is empty: predicting only".to_owned(),
                    ),
                    (false, true) => (
                        "UpToDate",
                        "the current configuration is the cheapest that meets the SLO".to_owned(),
                    ),
                    (false, false) => (
                        "NoFeasibleConfiguration",
                        "no configuration in the search space meets the SLO".to_owned(),
                    ),
                };
            set_condition(
                status,
                generation,
                "RecommendationReady",
                false,
                reason,
                message,
            );
            // Nothing to recommend is news only when the current configuration is fine.
            let phase = if outcome.current.meets_slo {
                "UpToDate"
            } else {
                "SLOAtRisk"
            };
            status.phase = Some(phase.to_owned());
        }
    }
    if status.recommendations.len() > KEEP {
        let excess = status.recommendations.len() - KEEP;
        status.recommendations.drain(..excess);
    }
    set_condition(
        status,
        generation,
        "Degraded",
        false,
        "Healthy",
        "the last cycle succeeded".into(),
    );
}

/// A proposal's settings in one line, per object: `hpa/frontend minReplicas=1 maxReplicas=2`.
pub(super) fn summary(settings: &[(String, String)]) -> String {
    let mut objects: Vec<(String, Vec<String>)> = Vec::new();
    for (path, value) in settings {
        let (object, field) = path.split_once(':').unwrap_or(("", path));
        let object = object.replace("horizontalpodautoscaler/", "hpa/");
        let field = (field.strip_prefix("spec.template.spec."))
            .or(field.strip_prefix("spec."))
            .unwrap_or(field);
        let setting = format!("{field}={value}");
        match objects.iter_mut().find(|(o, _)| *o == object) {
            Some((_, fields)) => fields.push(setting),
            None => objects.push((object, vec![setting])),
        }
    }
    (objects.iter())
        .map(|(object, fields)| format!("{object} {}", fields.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn publish_metrics(ctx: &Context, key: &str, status: &TwinExperimentStatus) {
    let m = &ctx.shared.metrics;
    if let Some(current) = &status.current {
        let predicted = current.predicted.as_ref();
        let observed = current.observed.as_ref();
        m.latency(
            key,
            "0.99",
            predicted.and_then(|p| p.p99_ms),
            observed.and_then(|o| o.p99_ms),
        );
        m.latency(
            key,
            "mean",
            predicted.and_then(|p| p.mean_ms),
            observed.and_then(|o| o.mean_ms),
        );
    }
    let recs: Vec<(String, String, String)> = status
        .recommendations
        .iter()
        .map(|r| (r.id.clone(), format!("{:?}", r.state), r.summary.clone()))
        .collect();
    m.recommendations(key, &recs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_group_settings_by_object() {
        let settings = [
            ("horizontalpodautoscaler/web:spec.minReplicas", "1"),
            ("horizontalpodautoscaler/web:spec.maxReplicas", "2"),
            ("deployment/db:spec.template.spec.nodeSelector", "{zone: a}"),
        ]
        .map(|(p, v)| (p.to_owned(), v.to_owned()));
        assert_eq!(
            summary(&settings),
            "hpa/web minReplicas=1 maxReplicas=2; deployment/db nodeSelector={zone: a}"
        );
    }
}
