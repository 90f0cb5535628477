//! Approval: the `kubetwin.io/approve` and `kubetwin.io/rollback` annotations, and `Auto`
//! mode's guardrails.

use super::reconcile::{Context, Error, event, set_condition};
use crate::k8s::import::ClusterObjects;
use crate::operator::crd::*;
use crate::operator::{apply, now};
use kube::ResourceExt;

/// Acts on `kubetwin.io/approve` and `kubetwin.io/rollback`.
pub(super) async fn annotations(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
) -> Result<(), Error> {
    let namespace = tx
        .spec
        .target
        .namespace
        .clone()
        .unwrap_or(tx.namespace().unwrap_or_default());
    let annotations = tx.annotations();
    if let Some(id) = annotations.get(APPROVE) {
        let pending = (status.recommendations.iter())
            .position(|r| &r.id == id && r.state == RecommendationState::Pending);
        if let Some(i) = pending {
            apply_recommendation(tx, ctx, status, i, "Approved").await?;
        }
    }
    if let Some(id) = annotations.get(ROLLBACK) {
        let applied = status
            .recommendations
            .iter_mut()
            .find(|r| &r.id == id && r.state == RecommendationState::Applied);
        if let Some(rec) = applied {
            apply::rollback(&ctx.client, &namespace, &rec.previous).await?;
            rec.state = RecommendationState::RolledBack;
            let note = format!("rolled back {}: {}", rec.id, rec.summary);
            event(ctx, tx, "RolledBack", "Rollback", note).await;
            set_condition(
                status,
                tx.metadata.generation,
                "Applied",
                false,
                "RolledBack",
                format!("{} rolled back", id),
            );
        }
    }
    Ok(())
}

/// Applies recommendation `index` (approved by a person or by `Auto` mode: `reason`),
/// recording the previous values for a rollback.
pub(super) async fn apply_recommendation(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
    index: usize,
    reason: &str,
) -> Result<(), Error> {
    let namespace =
        (tx.spec.target.namespace.clone()).unwrap_or(tx.namespace().unwrap_or_default());
    let rec = &mut status.recommendations[index];
    rec.previous = apply::apply(&ctx.client, &namespace, &rec.patches).await?;
    rec.state = RecommendationState::Applied;
    rec.applied_at = Some(now());
    let (id, note) = (
        rec.id.clone(),
        format!("applied {}: {}", rec.id, rec.summary),
    );
    event(ctx, tx, "Applied", "Apply", note).await;
    status.recommendation = None;
    status.phase = Some("Applied".to_owned());
    let message = format!("{id} applied ({reason})");
    set_condition(
        status,
        tx.metadata.generation,
        "Applied",
        true,
        reason,
        message,
    );
    Ok(())
}

/// `Auto` approval: applies the pending recommendation unless a guardrail holds it, which
/// the `Applied` condition then names.
pub(super) async fn auto_apply(
    tx: &TwinExperiment,
    ctx: &Context,
    status: &mut TwinExperimentStatus,
    objects: &ClusterObjects,
) -> Result<(), Error> {
    let Some(index) =
        (status.recommendations.iter()).position(|r| r.state == RecommendationState::Pending)
    else {
        return Ok(());
    };
    let last_apply = (status.recommendations.iter())
        .filter_map(|r| r.applied_at.as_ref())
        .map(|t| t.0.as_second())
        .max();
    let held = guardrail(
        &status.recommendations[index],
        objects,
        &tx.spec.approval,
        last_apply,
        now().0.as_second(),
    );
    match held {
        Some(reason) => {
            let message = format!("{} held: {reason}", status.recommendations[index].id);
            set_condition(
                status,
                tx.metadata.generation,
                "Applied",
                false,
                "GuardrailHeld",
                message,
            );
            Ok(())
        }
        None => apply_recommendation(tx, ctx, status, index, "AutoApproved").await,
    }
}

/// Why `Auto` mode must not apply `rec` now, if it must not: too soon after the last apply
/// (`minIntervalSeconds`, default 900), a replica bound moving by more than
/// `maxReplicaStep` (default 2), or a `maxReplicas` below what the HPA wants now (the
/// observed need).
pub(super) fn guardrail(
    rec: &Recommendation,
    objects: &ClusterObjects,
    approval: &Approval,
    last_apply: Option<i64>,
    now: i64,
) -> Option<String> {
    let interval = approval.min_interval_seconds.unwrap_or(900);
    if let Some(last) = last_apply.filter(|last| now - last < interval) {
        return Some(format!(
            "the last apply was {} s ago; spec.approval.minIntervalSeconds is {interval}",
            now - last
        ));
    }
    let step = i64::from(approval.max_replica_step.unwrap_or(2));
    for patch in &rec.patches {
        let Ok(config) = serde_saphyr::from_str::<serde_json::Value>(&patch.apply) else {
            return Some(format!("{}/{}: unreadable patch", patch.kind, patch.name));
        };
        let named = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.name.as_deref() == Some(patch.name.as_str())
        };
        let (live, desired) = match patch.kind.as_str() {
            "HorizontalPodAutoscaler" => match objects.hpas.iter().find(|h| named(&h.metadata)) {
                Some(h) => (
                    serde_json::to_value(h).ok()?,
                    h.status.as_ref().map(|s| i64::from(s.desired_replicas)),
                ),
                None => return Some(format!("HorizontalPodAutoscaler/{} is gone", patch.name)),
            },
            _ => match objects.deployments.iter().find(|d| named(&d.metadata)) {
                Some(d) => (serde_json::to_value(d).ok()?, None),
                None => return Some(format!("{}/{} is gone", patch.kind, patch.name)),
            },
        };
        for field in ["minReplicas", "maxReplicas", "replicas"] {
            let Some(new) = config["spec"][field].as_i64() else {
                continue;
            };
            let old = live["spec"][field].as_i64().unwrap_or(1);
            if (new - old).abs() > step {
                return Some(format!(
                    "{}/{} spec.{field} {old} -> {new} moves by more than \
                     spec.approval.maxReplicaStep ({step})",
                    patch.kind, patch.name
                ));
            }
            if let Some(need) = desired.filter(|&need| field == "maxReplicas" && new < need) {
                return Some(format!(
                    "{}/{} spec.maxReplicas {new} is below the {need} replicas it wants now",
                    patch.kind, patch.name
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa_recommendation(apply: &str) -> Recommendation {
        Recommendation {
            id: "r-1".into(),
            state: RecommendationState::Pending,
            created_at: now(),
            summary: String::new(),
            patches: vec![PatchSpec {
                api_version: "autoscaling/v2".into(),
                kind: "HorizontalPodAutoscaler".into(),
                name: "web".into(),
                apply: apply.into(),
            }],
            previous: Vec::new(),
            predicted: Kpis::default(),
            cost_delta_per_hour: 0.0,
            approve: String::new(),
            applied_at: None,
            outcome: None,
        }
    }

    fn live_hpa(min: i32, max: i32, desired: i32) -> ClusterObjects {
        let hpa = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                     "minReplicas": min, "maxReplicas": max},
            "status": {"currentReplicas": desired, "desiredReplicas": desired}
        }))
        .unwrap();
        ClusterObjects {
            hpas: vec![hpa],
            ..ClusterObjects::default()
        }
    }

    #[test]
    fn auto_mode_guardrails_hold_large_steps_early_applies_and_caps_below_need() {
        let approval = Approval {
            mode: ApprovalMode::Auto,
            max_replica_step: Some(2),
            min_interval_seconds: Some(600),
        };
        let objects = live_hpa(2, 6, 5);
        let check = |apply: &str, last: Option<i64>| {
            guardrail(
                &hpa_recommendation(apply),
                &objects,
                &approval,
                last,
                10_000,
            )
        };
        assert_eq!(check("spec: {minReplicas: 4}", None), None);
        assert_eq!(
            check("spec: {minReplicas: 4}", Some(9_500)).unwrap(),
            "the last apply was 500 s ago; spec.approval.minIntervalSeconds is 600"
        );
        assert_eq!(check("spec: {minReplicas: 4}", Some(9_000)), None);
        assert_eq!(
            check("spec: {maxReplicas: 9}", None).unwrap(),
            "HorizontalPodAutoscaler/web spec.maxReplicas 6 -> 9 moves by more than \
             spec.approval.maxReplicaStep (2)"
        );
        assert_eq!(
            check("spec: {maxReplicas: 4}", None).unwrap(),
            "HorizontalPodAutoscaler/web spec.maxReplicas 4 is below the 5 replicas it wants now"
        );
        let gone = ClusterObjects::default();
        let rec = hpa_recommendation("spec: {minReplicas: 3}");
        assert_eq!(
            guardrail(&rec, &gone, &approval, None, 0).unwrap(),
            "HorizontalPodAutoscaler/web is gone"
        );
    }
}
