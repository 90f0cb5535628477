//! The operator's HTTP server: `/metrics` (Prometheus text), `/healthz`, `/readyz`, and a
//! read-only JSON API of experiments and their recommendations.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::crd::TwinExperimentStatus;
use super::metrics::Metrics;

/// What the HTTP server shows; written by the controller.
#[derive(Default)]
pub struct Shared {
    /// The operator's metrics.
    pub metrics: Metrics,
    /// Set once the operator has checked its CRD and serves, leading or on standby (a
    /// standby replica must be Ready too, or a rollout of two replicas never finishes).
    pub ready: AtomicBool,
    /// Set while this replica holds the Lease and runs the controller.
    pub leading: AtomicBool,
    experiments: RwLock<BTreeMap<(String, String), TwinExperimentStatus>>,
}

/// One experiment in the JSON API.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Experiment<'a> {
    namespace: &'a str,
    name: &'a str,
    status: &'a TwinExperimentStatus,
}

impl Shared {
    /// Records the status last written for `namespace/name`.
    pub fn publish(&self, namespace: &str, name: &str, status: &TwinExperimentStatus) {
        let mut experiments = self.experiments.write().unwrap_or_else(|e| e.into_inner());
        experiments.insert((namespace.to_owned(), name.to_owned()), status.clone());
    }

    /// Forgets a deleted experiment.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut experiments = self.experiments.write().unwrap_or_else(|e| e.into_inner());
        experiments.remove(&(namespace.to_owned(), name.to_owned()));
    }
}

/// The router over `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/experiments", get(experiments))
        .route("/api/experiments/{namespace}/{name}", get(experiment))
        .with_state(shared)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    match (
        shared.ready.load(Ordering::Relaxed),
        shared.leading.load(Ordering::Relaxed),
    ) {
        (true, true) => "ok: leading".into_response(),
        (true, false) => "ok: standby, waiting for the Lease".into_response(),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response(),
    }
}

async fn experiments(State(shared): State<Arc<Shared>>) -> Response {
    let experiments = shared.experiments.read().unwrap_or_else(|e| e.into_inner());
    let list: Vec<Experiment> = experiments
        .iter()
        .map(|((namespace, name), status)| Experiment {
            namespace,
            name,
            status,
        })
        .collect();
    Json(list).into_response()
}

async fn experiment(
    State(shared): State<Arc<Shared>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let experiments = shared.experiments.read().unwrap_or_else(|e| e.into_inner());
    match experiments.get(&(namespace.clone(), name.clone())) {
        Some(status) => Json(Experiment {
            namespace: &namespace,
            name: &name,
            status,
        })
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no TwinExperiment {namespace}/{name}"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(shared: &Arc<Shared>, uri: &str) -> (StatusCode, String) {
        let response = router(shared.clone())
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn endpoints_answer_health_readiness_metrics_and_experiments() {
        let shared = Arc::new(Shared::default());
        assert_eq!(
            get(&shared, "/healthz").await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(
            get(&shared, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        shared.ready.store(true, Ordering::Relaxed);
        let standby = (StatusCode::OK, "ok: standby, waiting for the Lease".into());
        assert_eq!(get(&shared, "/readyz").await, standby);
        shared.leading.store(true, Ordering::Relaxed);
        assert_eq!(
            get(&shared, "/readyz").await,
            (StatusCode::OK, "ok: leading".into())
        );

        shared.metrics.reconciled("shop/shop");
        let (code, text) = get(&shared, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            text.contains("kubetwin_reconciles_total{experiment=\"shop/shop\"} 1"),
            "{text}"
        );

        let status = TwinExperimentStatus {
            phase: Some("RecommendationReady".into()),
            recommendation: Some("r-1: horizontalpodautoscaler/web minReplicas 2 -> 3".into()),
            ..TwinExperimentStatus::default()
        };
        shared.publish("shop", "shop", &status);
        let (code, body) = get(&shared, "/api/experiments").await;
        assert_eq!(code, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json[0]["namespace"], "shop");
        assert_eq!(json[0]["status"]["phase"], "RecommendationReady");
        let (code, body) = get(&shared, "/api/experiments/shop/shop").await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("minReplicas 2 -> 3"), "{body}");
        assert_eq!(
            get(&shared, "/api/experiments/shop/none").await.0,
            StatusCode::NOT_FOUND
        );
        shared.forget("shop", "shop");
        assert_eq!(get(&shared, "/api/experiments").await.1, "[]");
    }
}
