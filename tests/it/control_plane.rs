//! The local control plane (tests/e2e/cluster) behaves as Kubernetes does for what kubetwin
//! relies on: kube-rs lists and watches what was applied; the real scheduler binds a
//! Deployment's pods to KWOK's fake nodes and they become Ready; server-side apply records
//! the field manager and refuses another manager's change to an owned field; RBAC refuses a
//! ServiceAccount token what its Role does not grant.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::cluster::{Namespace, block_on, eventually, shared};

fn deployment(name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "main", "image": "registry.example/app:1",
                    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}
                }]}
            }
        }
    })
}

/// Waits until a watch on `api` has delivered an object named `name`.
async fn watched<K>(api: Api<K>, name: String) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(object) = stream.next().await {
            if object.expect("a watch event").meta().name.as_deref() == Some(name.as_str()) {
                return;
            }
        }
    })
}

#[test]
#[ignore = "needs the control plane"]
fn kube_rs_lists_the_fake_nodes_and_watches_what_a_test_applies() {
    block_on(async {
        let ns = Namespace::create("watch").await;
        let client = shared().client().await;

        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default().labels("type=kwok"))
            .await
            .unwrap();
        assert!(nodes.items.len() >= 3, "{} fake nodes", nodes.items.len());
        let zones: BTreeSet<_> = nodes
            .items
            .iter()
            .map(|n| n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone())
            .collect();
        assert_eq!(zones.len(), 3, "zones {zones:?}");
        for node in &nodes.items {
            let allocatable = node.status.as_ref().unwrap().allocatable.as_ref().unwrap();
            assert_eq!(allocatable["cpu"].0, "8");
            assert_eq!(allocatable["memory"].0, "32Gi");
        }

        let deployments = Api::<Deployment>::namespaced(client.clone(), &ns.name);
        let services = Api::<Service>::namespaced(client.clone(), &ns.name);
        let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns.name);
        let seen = [
            watched(deployments.clone(), "web".into()).await,
            watched(services.clone(), "web".into()).await,
            watched(hpas.clone(), "web".into()).await,
        ];

        let apply = PatchParams::apply("kubetwin-test");
        deployments
            .patch("web", &apply, &Patch::Apply(deployment("web", 1)))
            .await
            .unwrap();
        let service = json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        });
        services
            .patch("web", &apply, &Patch::Apply(service))
            .await
            .unwrap();
        let hpa = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60}}}]
            }
        });
        hpas.patch("web", &apply, &Patch::Apply(hpa)).await.unwrap();

        for handle in seen {
            tokio::time::timeout(std::time::Duration::from_secs(30), handle)
                .await
                .expect("the watch delivers the applied object within 30 s")
                .unwrap();
        }
        let listed = hpas.list(&ListParams::default()).await.unwrap();
        let spec = &listed.items[0].spec;
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(1), 5));
    });
}

#[test]
#[ignore = "needs the control plane"]
fn the_scheduler_binds_a_kubectl_deployment_to_kwok_nodes_and_its_pods_become_ready() {
    block_on(async {
        let ns = Namespace::create("sched").await;
        let cluster = shared();
        let manifest = serde_json::to_string(&deployment("shop", 4)).unwrap();
        cluster.kubectl(&["apply", "-n", &ns.name, "-f", "-"], &manifest);
        cluster.kubectl(
            &[
                "rollout",
                "status",
                "deployment/shop",
                "-n",
                &ns.name,
                "--timeout=90s",
            ],
            "",
        );

        let pods = Api::<Pod>::namespaced(cluster.client().await, &ns.name)
            .list(&ListParams::default().labels("app=shop"))
            .await
            .unwrap();
        assert_eq!(pods.items.len(), 4);
        for pod in &pods.items {
            let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
            assert!(node.starts_with("kwok-node-"), "bound to {node}");
            let status = pod.status.as_ref().unwrap();
            assert_eq!(status.phase.as_deref(), Some("Running"));
            let ready = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Ready")
                .unwrap();
            assert_eq!(ready.status, "True");
        }
        // The binding came from the real scheduler.
        let events = cluster.kubectl(
            &[
                "get",
                "events",
                "-n",
                &ns.name,
                "--field-selector",
                "reason=Scheduled",
                "-o",
                "jsonpath={range .items[*]}{.source.component}{.reportingComponent}{\"\\n\"}{end}",
            ],
            "",
        );
        assert_eq!(
            events.lines().filter(|l| l.contains("scheduler")).count(),
            4,
            "Scheduled events: {events}"
        );
    });
}

#[test]
#[ignore = "needs the control plane"]
fn server_side_apply_records_the_field_manager_and_refuses_a_conflicting_one() {
    block_on(async {
        let ns = Namespace::create("ssa").await;
        let api = Api::<Deployment>::namespaced(shared().client().await, &ns.name);
        api.patch(
            "web",
            &PatchParams::apply("kubetwin"),
            &Patch::Apply(deployment("web", 2)),
        )
        .await
        .unwrap();
        let managers: Vec<_> = api
            .get("web")
            .await
            .unwrap()
            .metadata
            .managed_fields
            .unwrap()
            .into_iter()
            .filter(|m| m.operation.as_deref() == Some("Apply"))
            .filter_map(|m| m.manager)
            .collect();
        assert_eq!(managers, ["kubetwin"]);

        let other = PatchParams::apply("someone-else");
        let err = api
            .patch("web", &other, &Patch::Apply(deployment("web", 3)))
            .await
            .unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("expected the API's conflict, got {err}")
        };
        assert_eq!(status.code, 409, "{status:?}");
        assert_eq!(status.reason, "Conflict");
        assert!(
            status.message.contains("kubetwin") && status.message.contains(".spec.replicas"),
            "{}",
            status.message
        );
        assert_eq!(api.get("web").await.unwrap().spec.replicas, Some(2));

        api.patch("web", &other.force(), &Patch::Apply(deployment("web", 3)))
            .await
            .unwrap();
        assert_eq!(api.get("web").await.unwrap().spec.replicas, Some(3));
    });
}

#[test]
#[ignore = "needs the control plane"]
fn a_service_account_token_is_refused_what_its_role_does_not_grant() {
    block_on(async {
        let ns = Namespace::create("rbac").await;
        let cluster = shared();
        let rbac = format!(
            "apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader, namespace: {ns}}}
rules: [{{apiGroups: [''], resources: [pods], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects: [{{kind: ServiceAccount, name: reader, namespace: {ns}}}]
",
            ns = ns.name
        );
        cluster.kubectl(&["apply", "-f", "-"], &rbac);
        let token = cluster.kubectl(&["create", "token", "reader", "-n", &ns.name], "");
        let client: Client = cluster.client_with_token(token.trim()).await;

        // The Role's grant works (RBAC may take a moment to see the new binding).
        let pods = Api::<Pod>::namespaced(client.clone(), &ns.name);
        eventually("the reader lists pods", 50, || {
            let pods = pods.clone();
            async move { pods.list(&ListParams::default()).await.ok() }
        })
        .await;

        let refused = |err: kube::Error, what: &str| {
            let kube::Error::Api(status) = err else {
                panic!("{what}: expected 403, got {err}")
            };
            assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
            assert!(
                status
                    .message
                    .contains(&format!("system:serviceaccount:{}:reader", ns.name)),
                "{}",
                status.message
            );
            status.message
        };
        let deployments = Api::<Deployment>::namespaced(client.clone(), &ns.name);
        let message = refused(
            deployments.list(&ListParams::default()).await.unwrap_err(),
            "list deployments",
        );
        assert!(
            message.contains("cannot list resource \"deployments\""),
            "{message}"
        );
        let message = refused(
            Api::<Node>::all(client.clone())
                .list(&ListParams::default())
                .await
                .unwrap_err(),
            "list nodes",
        );
        assert!(message.contains("at the cluster scope"), "{message}");
        let message = refused(
            deployments
                .patch(
                    "web",
                    &PatchParams::apply("kubetwin"),
                    &Patch::Apply(deployment("web", 1)),
                )
                .await
                .unwrap_err(),
            "apply a deployment",
        );
        assert!(message.contains("cannot patch"), "{message}");
    });
}
