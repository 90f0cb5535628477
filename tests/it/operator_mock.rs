//! The operator's error paths and timing, in process: a `kube::Client` over
//! `tower_test::mock::pair()` whose other end ([`ApiServer`]) checks every request the
//! operator sends (method, path, query, body) and answers as kube-apiserver would. A script
//! that expects more requests than the client makes, or sees one it does not expect, fails
//! the test. Leader election runs on tokio's paused clock, so "waits RENEW, then asks
//! again" is checked exactly and without waiting.
//!
//! Here is what a real API server won't do on demand: 403s, 409 races, expired Leases,
//! exact list pages; and what is judged by the requests themselves: no write when nothing
//! is due. `operator.rs` runs the operator against a real API server.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::http::{Method, Request, Response};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kubetwin::k8s::import::ClusterObjects;
use kubetwin::k8s::live::{self, Selection};
use kubetwin::operator::crd::TwinExperiment;
use kubetwin::operator::leader::{Elector, LEASE_DURATION, LeaderError, RENEW, RENEW_DEADLINE};
use kubetwin::operator::reconcile::{self, Context, error_policy, reconcile};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------
// The mocked API server

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Responder = tower_test::mock::SendResponse<Response<Body>>;

/// The API server's end of the mock: requests in the order the client sent them.
struct ApiServer {
    handle: Handle,
    started: Instant,
}

/// One request as the API server received it.
struct Received {
    method: Method,
    path: String,
    /// Decoded and sorted: the API server does not care about the order.
    query: Vec<(String, String)>,
    content_type: Option<String>,
    /// `Null` when empty.
    body: Value,
    /// When it arrived, on tokio's clock, since [`mock`] was called.
    at: Duration,
}

impl Received {
    fn line(&self) -> String {
        format!(
            "{} {} {:?} {}",
            self.method, self.path, self.query, self.body
        )
    }
}

/// A client and the API server it talks to.
fn mock() -> (Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = ApiServer {
        handle,
        started: Instant::now(),
    };
    (Client::new(service, "default"), server)
}

fn sorted(query: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    query.sort();
    query
}

impl ApiServer {
    /// The next request; `None` once every client is dropped.
    async fn next(&mut self) -> Option<(Received, Responder)> {
        let (request, responder) = self.handle.next_request().await?;
        let at = self.started.elapsed();
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("a request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON request body")
        };
        let Query(mut query) =
            Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).expect("a query string");
        query.sort();
        let content_type = parts
            .headers
            .get("content-type")
            .map(|v| v.to_str().expect("an ASCII content type").to_owned());
        let received = Received {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query,
            content_type,
            body,
            at,
        };
        Some((received, responder))
    }

    /// The next request, which must be `method path?query`.
    async fn expect(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> (Received, Responder) {
        let Some((received, responder)) = self.next().await else {
            panic!("expected {method} {path}, but the client made no further request");
        };
        assert_eq!(
            (&received.method, received.path.as_str(), &received.query),
            (&method, path, &sorted(query)),
            "unexpected request: {}",
            received.line()
        );
        (received, responder)
    }

    /// Expects a read of the Lease at `at` (since [`mock`]) and answers `lease`.
    async fn read_lease(&mut self, at: Duration, lease: Value) {
        let (get, reply) = self.expect(Method::GET, LEASE, &[]).await;
        assert_eq!(get.at, at, "when the Lease is read");
        answer(reply, 200, &lease);
    }

    /// Expects this replica's write taking the Lease over at `at`: a create when
    /// `version` is `None`, else an update at that resourceVersion (see
    /// [`assert_taken_over`]).
    async fn take_over(
        &mut self,
        at: Duration,
        transitions: i64,
        version: Option<&str>,
    ) -> (Value, Responder) {
        let (method, path) = match version {
            None => (Method::POST, LEASES),
            Some(_) => (Method::PUT, LEASE),
        };
        let (write, reply) = self.expect(method, path, &[]).await;
        assert_eq!(write.at, at, "when the Lease is taken over");
        assert_eq!(write.content_type.as_deref(), Some("application/json"));
        assert_taken_over(&write.body, transitions, version);
        (write.body, reply)
    }

    /// Returns once every client is dropped; any request before that is one too many.
    async fn done(mut self) {
        if let Some((received, _)) = self.next().await {
            panic!("unexpected request: {}", received.line());
        }
    }
}

/// Answers with `code` and a JSON body.
fn answer(responder: Responder, code: u16, body: &Value) {
    let response = Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("JSON")))
        .expect("a response");
    responder.send_response(response);
}

/// A `metav1.Status` failure, as the API server sends with an error code.
fn failure(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// Runs `client_side` (which owns every client), then waits for the server's `script` to
/// end and re-raises its panic: a request the script did not expect is the root cause of
/// the client's error, so it is reported first.
async fn against<T>(script: JoinHandle<()>, client_side: impl Future<Output = T>) -> T {
    let out = client_side.await;
    finish(script).await;
    out
}

/// `work`'s output and how long it took on tokio's clock.
async fn timed<T>(work: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    (work.await, started.elapsed())
}

/// Waits for the server's script to end (every client dropped) and re-raises its panic.
async fn finish(script: JoinHandle<()>) {
    match tokio::time::timeout(Duration::from_secs(60), script).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the API server's script never ended: is a client still alive?"),
    }
}

/// `value`, a timestamp string, is within a few seconds of the wall clock.
fn assert_recent(what: &str, value: &Value) {
    let time: Timestamp = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("{what} is not a timestamp ({e}): {value}"));
    let age = Timestamp::now().duration_since(time);
    assert!(
        age.abs() < SignedDuration::from_secs(5),
        "{what} is {age} old: {value}"
    );
}

// ---------------------------------------------------------------------------------------
// Leader election

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kubetwin/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kubetwin/leases/kubetwin";

/// A Lease held by `holder`, last renewed `renewed_ago` seconds ago on the wall clock (the
/// clock lease expiry is judged by), valid for `duration` seconds.
fn lease(holder: &str, renewed_ago: i64, duration: i32, transitions: i32, version: &str) -> Value {
    let renewed = Timestamp::now() - SignedDuration::from_secs(renewed_ago);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("kubetwin".into()),
            namespace: Some("kubetwin".into()),
            resource_version: Some(version.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(MicroTime(renewed - SignedDuration::from_secs(600))),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    };
    serde_json::to_value(lease).expect("a Lease serializes")
}

/// `written` is the Lease as this replica ("me") takes it over: held by it for 15 s,
/// acquired and renewed now, one more transition, and the resourceVersion it read.
fn assert_taken_over(written: &Value, transitions: i64, version: Option<&str>) {
    assert_eq!(
        (
            &written["apiVersion"],
            &written["kind"],
            &written["metadata"]["name"],
            &written["metadata"]["namespace"],
            &written["metadata"]["resourceVersion"],
        ),
        (
            &json!("coordination.k8s.io/v1"),
            &json!("Lease"),
            &json!("kubetwin"),
            &json!("kubetwin"),
            &json!(version),
        ),
        "{written}"
    );
    let spec = &written["spec"];
    assert_eq!(
        (
            &spec["holderIdentity"],
            &spec["leaseDurationSeconds"],
            &spec["leaseTransitions"]
        ),
        (&json!("me"), &json!(15), &json!(transitions)),
        "{written}"
    );
    assert_recent("acquireTime", &spec["acquireTime"]);
    assert_recent("renewTime", &spec["renewTime"]);
}

/// What the API server stores after a successful write: the body, at a new version.
fn stored(mut written: Value, version: &str) -> Value {
    written["metadata"]["resourceVersion"] = json!(version);
    written
}

fn elector(client: Client) -> Elector {
    Elector::new(client, "kubetwin", "kubetwin", "me")
}

/// Runs `acquire` against `script`; how long it took to hold the Lease.
async fn acquire(client: Client, script: JoinHandle<()>) -> Duration {
    let elector = elector(client);
    let (acquired, waited) = against(script, async move { timed(elector.acquire()).await }).await;
    acquired.expect("the Lease is acquired");
    waited
}

#[tokio::test(start_paused = true)]
async fn a_missing_lease_is_created_held_by_this_replica() {
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        let (_, reply) = server.expect(Method::GET, LEASE, &[]).await;
        let not_found = "leases.coordination.k8s.io \"kubetwin\" not found";
        answer(reply, 404, &failure(404, "NotFound", not_found));
        let (created, reply) = server.take_over(Duration::ZERO, 0, None).await;
        answer(reply, 201, &stored(created, "1"));
        server.done().await;
    });
    assert_eq!(acquire(client, script).await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_lease_held_by_another_replica_is_taken_over_only_once_it_expires() {
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        // Renewed 5 s ago, valid 15 s: leave it alone.
        server
            .read_lease(Duration::ZERO, lease("other", 5, 15, 2, "41"))
            .await;
        // Renewed 20 s ago but valid 60 s (the Lease's duration counts, not ours): wait.
        server
            .read_lease(RENEW, lease("other", 20, 60, 2, "41"))
            .await;
        // Renewed 90 s ago, valid 60 s: expired, take it over.
        server
            .read_lease(2 * RENEW, lease("other", 90, 60, 2, "41"))
            .await;
        let (written, reply) = server.take_over(2 * RENEW, 3, Some("41")).await;
        answer(reply, 200, &stored(written, "42"));
        server.done().await;
    });
    assert_eq!(acquire(client, script).await, 2 * RENEW);
}

#[tokio::test(start_paused = true)]
async fn a_lost_race_for_the_lease_means_trying_again_a_renewal_later() {
    let conflict = "Operation cannot be fulfilled on leases.coordination.k8s.io \"kubetwin\": \
                    the object has been modified; please apply your changes to the latest \
                    version and try again";
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        // No Lease; another replica creates it first.
        let (_, reply) = server.expect(Method::GET, LEASE, &[]).await;
        answer(reply, 404, &failure(404, "NotFound", "not found"));
        let (_, reply) = server.take_over(Duration::ZERO, 0, None).await;
        let exists = "leases.coordination.k8s.io \"kubetwin\" already exists";
        answer(reply, 409, &failure(409, "AlreadyExists", exists));
        // Its holder is gone; another replica takes it over first.
        server
            .read_lease(RENEW, lease("winner", 20, 15, 0, "41"))
            .await;
        let (_, reply) = server.take_over(RENEW, 1, Some("41")).await;
        answer(reply, 409, &failure(409, "Conflict", conflict));
        // The new holder renews; then it too is gone.
        server
            .read_lease(2 * RENEW, lease("second", 0, 15, 1, "43"))
            .await;
        server
            .read_lease(3 * RENEW, lease("second", 16, 15, 1, "44"))
            .await;
        let (written, reply) = server.take_over(3 * RENEW, 2, Some("44")).await;
        answer(reply, 200, &stored(written, "45"));
        server.done().await;
    });
    assert_eq!(acquire(client, script).await, 3 * RENEW);
}

#[tokio::test(start_paused = true)]
async fn the_leader_renews_and_reports_the_lease_lost_to_another_holder() {
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        // Ours, a RENEW after acquiring: renewed (renewTime only), at the version read.
        let ours = lease("me", 4, 15, 1, "50");
        server.read_lease(RENEW, ours.clone()).await;
        let (put, reply) = server.expect(Method::PUT, LEASE, &[]).await;
        assert_eq!(put.at, RENEW);
        let mut expected = ours.clone();
        expected["spec"]["renewTime"] = put.body["spec"]["renewTime"].clone();
        assert_eq!(put.body, expected, "only renewTime changes");
        assert_recent("renewTime", &put.body["spec"]["renewTime"]);
        answer(reply, 200, &stored(put.body, "51"));
        // Then another replica holds it (e.g. after this one stalled past the duration):
        // the read that shows it names the holder, with no further request.
        server
            .read_lease(2 * RENEW, lease("other", 1, 15, 2, "60"))
            .await;
        server.done().await;
    });
    let elector = elector(client);
    let (lost, waited) = against(script, async move { timed(elector.renew_forever()).await }).await;
    assert_eq!(waited, 2 * RENEW);
    match lost {
        LeaderError::Lost(lease, holder) => {
            assert_eq!(
                (lease.as_str(), holder.as_str()),
                ("kubetwin/kubetwin", "other")
            );
        }
        other => panic!("expected Lost, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn no_rbac_for_leases_is_an_error_not_a_wait() {
    let forbidden = "leases.coordination.k8s.io \"kubetwin\" is forbidden: User \
                     \"system:serviceaccount:kubetwin:kubetwin\" cannot get resource \"leases\" \
                     in API group \"coordination.k8s.io\" in the namespace \"kubetwin\"";
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        let (_, reply) = server.expect(Method::GET, LEASE, &[]).await;
        answer(reply, 403, &failure(403, "Forbidden", forbidden));
        server.done().await;
    });
    let elector = elector(client);
    let (acquired, waited) = against(script, async move { timed(elector.acquire()).await }).await;
    let error = acquired.expect_err("a 403 is an error");
    assert_eq!(waited, Duration::ZERO);
    match &error {
        LeaderError::Api {
            lease,
            source: kube::Error::Api(status),
        } => {
            assert_eq!(lease, "kubetwin/kubetwin");
            assert_eq!((status.code, status.message.as_str()), (403, forbidden));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(error.to_string().contains(forbidden), "{error}");
}

/// The Lease says this replica leads until its last renewal plus `leaseDurationSeconds`;
/// after that another replica may take it over. So a leader whose renewals fail must stop
/// before then (client-go: `RenewDeadline` < `LeaseDuration`, counted from the last
/// successful renewal).
#[tokio::test(start_paused = true)]
async fn a_leader_whose_renewals_fail_stops_before_its_lease_expires() {
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        server.read_lease(RENEW, lease("me", 4, 15, 1, "50")).await;
        let (put, reply) = server.expect(Method::PUT, LEASE, &[]).await;
        assert_eq!(put.at, RENEW);
        answer(reply, 200, &stored(put.body, "51"));
        // From now on the API server fails every request.
        while let Some((received, reply)) = server.next().await {
            assert_eq!(received.method, Method::GET, "{}", received.line());
            answer(
                reply,
                500,
                &failure(500, "InternalError", "etcd is unavailable"),
            );
        }
    });
    let elector = elector(client);
    let (error, stopped) =
        against(script, async move { timed(elector.renew_forever()).await }).await;
    let last_renewal = RENEW;
    assert!(
        matches!(&error, LeaderError::Deadline(_, d) if *d == RENEW_DEADLINE),
        "expected the renew deadline, got {error:?}"
    );
    assert!(
        stopped < last_renewal + LEASE_DURATION,
        "still leading {:?} after the last renewal; the Lease let others take over after {:?}",
        stopped - last_renewal,
        LEASE_DURATION
    );
}

/// As above, when a renewal gets no answer at all (a partitioned API server): kube's
/// `Config` sets no read timeout, so only a deadline of the operator's own ends it.
#[tokio::test(start_paused = true)]
async fn a_leader_whose_renewal_hangs_stops_before_its_lease_expires() {
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        server.read_lease(RENEW, lease("me", 4, 15, 1, "50")).await;
        let (_, reply) = server.expect(Method::PUT, LEASE, &[]).await;
        answer(reply, 200, &lease("me", 0, 15, 1, "51"));
        // The next renewal is never answered.
        let (get, _never) = server.expect(Method::GET, LEASE, &[]).await;
        assert_eq!(get.at, 2 * RENEW);
        server.done().await;
    });
    let elector = elector(client);
    let last_renewal = RENEW;
    let patience = last_renewal + LEASE_DURATION;
    let stopped = against(script, async move {
        tokio::time::timeout(patience, elector.renew_forever()).await
    })
    .await;
    assert!(
        stopped.is_ok(),
        "still leading {LEASE_DURATION:?} after the last renewal, when others may take over"
    );
}

// ---------------------------------------------------------------------------------------
// Reconcile

const STATUS: &str = "/apis/kubetwin.io/v1alpha1/namespaces/shop/twinexperiments/shop/status";
const APPLY_STATUS: [(&str, &str); 2] = [("fieldManager", "kubetwin"), ("force", "true")];
const SELECTOR: &str = "app.kubernetes.io/part-of=shop";

/// What `live::fetch` lists, in order: path, list kind, whether the selector applies.
const LISTS: [(&str, &str, &str, bool); 6] = [
    (
        "/apis/apps/v1/namespaces/shop/deployments",
        "apps/v1",
        "DeploymentList",
        true,
    ),
    (
        "/apis/apps/v1/namespaces/shop/statefulsets",
        "apps/v1",
        "StatefulSetList",
        true,
    ),
    (
        "/api/v1/namespaces/shop/services",
        "v1",
        "ServiceList",
        true,
    ),
    (
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers",
        "autoscaling/v2",
        "HorizontalPodAutoscalerList",
        false,
    ),
    ("/api/v1/namespaces/shop/pods", "v1", "PodList", false),
    ("/api/v1/nodes", "v1", "NodeList", false),
];

/// A list page as the API server answers it.
fn page(api_version: &str, kind: &str, items: &[Value], next: Option<&str>) -> Value {
    let mut metadata = json!({"resourceVersion": "200"});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "items": items})
}

/// The TwinExperiment `shop/shop` at generation 3, as a user writes it, reading a
/// Prometheus at `prometheus` every `cadence`.
fn experiment(cadence: &str, prometheus: &str) -> TwinExperiment {
    serde_json::from_value(json!({
        "apiVersion": "kubetwin.io/v1alpha1",
        "kind": "TwinExperiment",
        "metadata": {
            "name": "shop",
            "namespace": "shop",
            "generation": 3,
            "resourceVersion": "100",
            "uid": "6f1c1c9e-3a51-4f6e-9d0e-2f8a4e0b7c11",
        },
        "spec": {
            "target": {"selector": {"matchLabels": {"app.kubernetes.io/part-of": "shop"}}, "entry": "frontend"},
            "model": {"prometheus": {"url": prometheus, "preset": "istio", "window": "30m"}},
            "slo": {"metric": "p99", "thresholdMs": 250.0},
            "cadence": cadence,
        },
    }))
    .expect("a valid TwinExperiment")
}

/// A Prometheus URL where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn context(client: Client) -> Arc<Context> {
    let reporter = Reporter {
        controller: "kubetwin".into(),
        instance: Some("kubetwin-0".into()),
    };
    Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        shared: Arc::default(),
        prometheus_url: None,
        cycles: Semaphore::new(1),
        failures: Default::default(),
    })
}

/// Answers `live::fetch`'s six lists with `items` (one slice per list, in [`LISTS`]' order).
async fn answer_lists(server: &mut ApiServer, items: &[Vec<Value>; 6]) {
    for ((path, api_version, kind, selected), items) in LISTS.iter().zip(items) {
        let query: &[(&str, &str)] = if *selected {
            &[("labelSelector", SELECTOR), ("limit", "500")]
        } else {
            &[("limit", "500")]
        };
        let (_, reply) = server.expect(Method::GET, path, query).await;
        answer(reply, 200, &page(api_version, kind, items, None));
    }
}

/// The field names of a JSON object, sorted.
fn fields(object: &Value) -> Vec<&str> {
    let object = object.as_object().expect("a JSON object");
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    fields
}

/// Checks a status patch: server-side apply of the status alone, field manager `kubetwin`,
/// forced; returns the status.
fn applied_status(patch: &Received) -> &Value {
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/apply-patch+yaml"),
        "{}",
        patch.line()
    );
    let body = patch.body.as_object().expect("a JSON object");
    assert_eq!(
        fields(&patch.body),
        ["apiVersion", "kind", "status"],
        "{}",
        patch.line()
    );
    assert_eq!(
        (&body["apiVersion"], &body["kind"]),
        (&json!("kubetwin.io/v1alpha1"), &json!("TwinExperiment"))
    );
    &body["status"]
}

/// Checks a status that says `Degraded` for `reason`: the phase, the one condition, the
/// generation; returns the condition's message.
fn degraded_message(status: &Value, reason: &str) -> String {
    assert_eq!(
        fields(status),
        ["conditions", "observedGeneration", "phase"],
        "{status}"
    );
    assert_eq!(
        (&status["phase"], &status["observedGeneration"]),
        (&json!("Degraded"), &json!(3)),
        "{status}"
    );
    let conditions = status["conditions"].as_array().expect("conditions");
    assert_eq!(conditions.len(), 1, "{status}");
    let c = &conditions[0];
    assert_eq!(
        (
            &c["type"],
            &c["status"],
            &c["reason"],
            &c["observedGeneration"]
        ),
        (
            &json!("Degraded"),
            &json!("True"),
            &json!(reason),
            &json!(3)
        ),
        "{status}"
    );
    assert_recent("lastTransitionTime", &c["lastTransitionTime"]);
    c["message"].as_str().expect("a message").to_owned()
}

/// The experiment as the API server stores it after `status` was applied.
fn with_status(tx: &TwinExperiment, status: &Value, version: &str) -> Value {
    let mut object = serde_json::to_value(tx).expect("a TwinExperiment serializes");
    object["status"] = status.clone();
    object["metadata"]["resourceVersion"] = json!(version);
    object
}

/// Reconciles `tx` as the controller does: the reconcile's requeue, or on failure the
/// reason and `error_policy`'s requeue.
async fn reconcile_once(
    tx: &Arc<TwinExperiment>,
    ctx: &Arc<Context>,
) -> Result<Action, (&'static str, Action)> {
    match reconcile(tx.clone(), ctx.clone()).await {
        Ok(action) => Ok(action),
        Err(e) => Err((e.reason(), error_policy(tx.clone(), &e, ctx.clone()))),
    }
}

fn assert_metric(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "{line} missing from:\n{text}"
    );
}

/// The requeue after one failure.
const BACKOFF_1: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_refused_list_degrades_the_experiment_writes_nothing_else_and_backs_off() {
    let forbidden = "deployments.apps is forbidden: User \"system:serviceaccount:kubetwin:kubetwin\" \
                     cannot list resource \"deployments\" in API group \"apps\" in the namespace \"shop\"";
    let tx = Arc::new(experiment("5m", "http://prometheus.monitoring:9090"));
    let (client, mut server) = mock();
    let (stored_tx, stored_rx) = oneshot::channel();
    let script = tokio::spawn({
        let tx = tx.clone();
        async move {
            let deployments = LISTS[0].0;
            let labelled = [("labelSelector", SELECTOR), ("limit", "500")];
            let (_, reply) = server.expect(Method::GET, deployments, &labelled).await;
            answer(reply, 403, &failure(403, "Forbidden", forbidden));
            let (patch, reply) = server.expect(Method::PATCH, STATUS, &APPLY_STATUS).await;
            let status = applied_status(&patch).clone();
            let message = degraded_message(&status, "ApiServerUnavailable");
            for part in [
                "list deployments in namespace \"shop\" was refused (403 Forbidden)",
                forbidden,
                "the identity needs `list` on `deployments` (apiGroup \"apps\")",
            ] {
                assert!(message.contains(part), "{part:?} missing from {message:?}");
            }
            let stored = with_status(&tx, &status, "101");
            answer(reply, 200, &stored);
            stored_tx.send(stored).expect("the test waits");
            // The second reconcile: refused again, and the status already says so.
            let (_, reply) = server.expect(Method::GET, deployments, &labelled).await;
            answer(reply, 403, &failure(403, "Forbidden", forbidden));
            server.done().await;
        }
    });
    let ctx = context(client);
    let (first, second, metrics) = against(script, async move {
        let first = reconcile_once(&tx, &ctx).await;
        // The controller's next reconcile sees the status the API server stored.
        let second = match stored_rx.await {
            Ok(stored) => {
                let stored = serde_json::from_value(stored).expect("the stored experiment");
                Some(reconcile_once(&Arc::new(stored), &ctx).await)
            }
            Err(_) => None, // the script failed; `against` says why
        };
        (first, second, ctx.shared.metrics.encode())
    })
    .await;
    let refused = "ApiServerUnavailable";
    assert_eq!(first, Err((refused, Action::requeue(BACKOFF_1))));
    let backoff_2 = Duration::from_secs(10);
    assert_eq!(second, Some(Err((refused, Action::requeue(backoff_2)))));
    assert_metric(
        &metrics,
        "kubetwin_reconcile_errors_total{experiment=\"shop/shop\",reason=\"ApiServerUnavailable\"} 2",
    );
}

#[tokio::test]
async fn an_invalid_cadence_degrades_the_experiment_without_reading_the_cluster() {
    let tx = Arc::new(experiment("soon", "http://prometheus.monitoring:9090"));
    let (client, mut server) = mock();
    let script = tokio::spawn({
        let tx = tx.clone();
        async move {
            let (patch, reply) = server.expect(Method::PATCH, STATUS, &APPLY_STATUS).await;
            let status = applied_status(&patch).clone();
            let message = degraded_message(&status, "InvalidSpec");
            assert_eq!(
                message,
                "spec.cadence: invalid window `soon`: expected a Prometheus duration such as \
                 30m, 1h or 1h30m"
            );
            answer(reply, 200, &with_status(&tx, &status, "101"));
            server.done().await;
        }
    });
    let ctx = context(client);
    let (result, metrics) = against(script, async move {
        (reconcile_once(&tx, &ctx).await, ctx.shared.metrics.encode())
    })
    .await;
    assert_eq!(result, Err(("InvalidSpec", Action::requeue(BACKOFF_1))));
    assert_metric(
        &metrics,
        "kubetwin_reconcile_errors_total{experiment=\"shop/shop\",reason=\"InvalidSpec\"} 1",
    );
}

#[tokio::test]
async fn prometheus_down_degrades_the_experiment_after_reading_the_cluster() {
    let url = closed_port_url();
    let tx = Arc::new(experiment("5m", &url));
    let (client, mut server) = mock();
    let script = tokio::spawn({
        let tx = tx.clone();
        let url = url.clone();
        async move {
            answer_lists(&mut server, &Default::default()).await;
            let (patch, reply) = server.expect(Method::PATCH, STATUS, &APPLY_STATUS).await;
            let status = applied_status(&patch).clone();
            let message = degraded_message(&status, "PrometheusUnreachable");
            let expected = format!("cannot reach Prometheus at {url} (sending the histogram query");
            assert!(message.starts_with(&expected), "{message}");
            answer(reply, 200, &with_status(&tx, &status, "101"));
            server.done().await;
        }
    });
    let ctx = context(client);
    let (result, metrics) = against(script, async move {
        (reconcile_once(&tx, &ctx).await, ctx.shared.metrics.encode())
    })
    .await;
    let unreachable = "PrometheusUnreachable";
    assert_eq!(result, Err((unreachable, Action::requeue(BACKOFF_1))));
    assert_metric(
        &metrics,
        "kubetwin_reconciles_total{experiment=\"shop/shop\"} 1",
    );
    assert_metric(
        &metrics,
        "kubetwin_reconcile_errors_total{experiment=\"shop/shop\",reason=\"PrometheusUnreachable\"} 1",
    );
    let errors = metrics.matches("kubetwin_reconcile_errors_total{").count();
    assert_eq!(errors, 1, "{metrics}");
}

/// The application `live::fetch` finds, as list items in [`LISTS`]' order: a Deployment
/// at `generation`, its Service, its HPA, a Pod and a Node.
fn application(generation: i64) -> [Vec<Value>; 6] {
    let labels = json!({"app.kubernetes.io/part-of": "shop"});
    [
        vec![json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "frontend", "namespace": "shop", "labels": labels,
                         "generation": generation, "resourceVersion": "300"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "frontend"}},
                "template": {
                    "metadata": {"labels": {"app": "frontend"}},
                    "spec": {"containers": [{"name": "main", "image": "registry.example/frontend:1"}]},
                },
            },
        })],
        vec![],
        vec![json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "frontend", "namespace": "shop", "labels": labels, "resourceVersion": "7"},
            "spec": {"selector": {"app": "frontend"}, "ports": [{"port": 80, "targetPort": 8080}]},
        })],
        vec![json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "frontend", "namespace": "shop", "generation": 1, "resourceVersion": "301"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
                "minReplicas": 2,
                "maxReplicas": 6,
            },
        })],
        vec![json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "frontend-1", "namespace": "shop", "labels": {"app": "frontend"}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "main", "image": "registry.example/frontend:1"}]},
        })],
        vec![json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-a", "resourceVersion": "9",
                         "labels": {"topology.kubernetes.io/zone": "eu-west-1a"}},
        })],
    ]
}

fn typed<K: serde::de::DeserializeOwned>(items: &[Value]) -> Vec<K> {
    items
        .iter()
        .map(|v| serde_json::from_value(v.clone()).expect("a valid object"))
        .collect()
}

/// The fingerprint a cycle records for `items` (the listed objects).
fn fingerprint(items: &[Vec<Value>; 6]) -> String {
    reconcile::fingerprint(&ClusterObjects {
        deployments: typed(&items[0]),
        stateful_sets: typed(&items[1]),
        services: typed(&items[2]),
        hpas: typed(&items[3]),
        pods: typed(&items[4]),
        nodes: typed(&items[5]),
    })
}

/// The status a successful cycle over `items` left `finished_ago` seconds ago.
fn up_to_date(items: &[Vec<Value>; 6], finished_ago: i64) -> Value {
    let finished = Time(Timestamp::now() - SignedDuration::from_secs(finished_ago));
    json!({
        "observedGeneration": 3,
        "phase": "UpToDate",
        "conditions": [{
            "type": "Degraded", "status": "False", "reason": "Healthy",
            "message": "the last cycle succeeded", "observedGeneration": 3,
            "lastTransitionTime": finished,
        }],
        "lastCycle": {
            "finishedAt": finished, "seconds": 2.5, "configurations": 8,
            "overBudget": false, "fingerprint": fingerprint(items),
        },
    })
}

#[tokio::test]
async fn a_reconcile_with_nothing_due_writes_nothing() {
    let items = application(2);
    let mut tx = experiment("5m", &closed_port_url());
    // The last cycle finished 290 s ago: the 5 min cadence is not up yet.
    let status = up_to_date(&items, 290);
    tx.status = Some(serde_json::from_value(status).expect("a valid status"));
    let tx = Arc::new(tx);
    let (client, mut server) = mock();
    let script = tokio::spawn(async move {
        answer_lists(&mut server, &items).await;
        server.done().await;
    });
    let ctx = context(client);
    let (result, failures, metrics) = against(script, async move {
        let result = reconcile_once(&tx, &ctx).await;
        let failures = ctx.failures.lock().expect("not poisoned").clone();
        (result, failures, ctx.shared.metrics.encode())
    })
    .await;
    assert_eq!(result, Ok(Action::requeue(Duration::from_secs(300))));
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        !metrics.contains("kubetwin_reconcile_errors_total{"),
        "{metrics}"
    );
}

/// Each reason to run a cycle, on the status of [`a_reconcile_with_nothing_due_writes_nothing`]:
/// the reconcile goes on to Prometheus (down here) and writes the status.
#[tokio::test]
async fn each_reason_for_a_cycle_makes_one_due() {
    let before = application(2);
    let cases = [
        ("a new generation", 4, application(2), 0, "UpToDate"),
        (
            "a Deployment's new generation",
            3,
            application(3),
            0,
            "UpToDate",
        ),
        ("the cadence elapsed", 3, application(2), 300, "UpToDate"),
        (
            "the last reconcile failed",
            3,
            application(2),
            0,
            "Degraded",
        ),
    ];
    for (case, generation, items, finished_ago, phase) in cases {
        let mut tx = experiment("5m", &closed_port_url());
        tx.metadata.generation = Some(generation);
        let mut status = up_to_date(&before, finished_ago);
        status["phase"] = json!(phase);
        tx.status = Some(serde_json::from_value(status).expect("a valid status"));
        let tx = Arc::new(tx);
        let (client, mut server) = mock();
        let script = tokio::spawn({
            let tx = tx.clone();
            async move {
                answer_lists(&mut server, &items).await;
                let (patch, reply) = server.expect(Method::PATCH, STATUS, &APPLY_STATUS).await;
                let status = applied_status(&patch).clone();
                assert_eq!(
                    (&status["phase"], &status["observedGeneration"]),
                    (&json!("Degraded"), &json!(generation)),
                    "{case}: {status}"
                );
                let degraded = &status["conditions"][0];
                assert_eq!(
                    (&degraded["type"], &degraded["status"], &degraded["reason"]),
                    (
                        &json!("Degraded"),
                        &json!("True"),
                        &json!("PrometheusUnreachable")
                    ),
                    "{case}: {status}"
                );
                answer(reply, 200, &with_status(&tx, &status, "101"));
                server.done().await;
            }
        });
        let ctx = context(client);
        let result = against(script, async move { reconcile_once(&tx, &ctx).await }).await;
        let unreachable = "PrometheusUnreachable";
        let expected = Err((unreachable, Action::requeue(BACKOFF_1)));
        assert_eq!(result, expected, "{case}");
    }
}

// ---------------------------------------------------------------------------------------
// Listing page by page

fn named(kind: &str, names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|name| match kind {
            "Node" => json!({"kind": kind, "metadata": {"name": name}}),
            _ => json!({"kind": kind, "metadata": {"name": name, "namespace": "shop"}}),
        })
        .collect()
}

fn names<'a>(metas: impl Iterator<Item = &'a ObjectMeta>) -> Vec<&'a str> {
    metas.map(|m| m.name.as_deref().unwrap_or("?")).collect()
}

#[tokio::test]
async fn fetch_follows_continue_tokens_and_keeps_every_item_in_order() {
    let (client, mut server) = mock();
    // The pages of names of each list, in [`LISTS`]' order; every page but the last
    // carries a continue token. Real tokens are base64: '=' must survive the query string.
    let lists: [&[&[&str]]; 6] = [
        &[&["d1", "d2"], &["d3"]],
        &[&[]],
        &[&["s1", "s2"], &[]],
        &[&["h1", "h-other"]],
        &[&["p1", "p2"], &["p3", "p4"], &["p5"]],
        &[&["n1", "n2"], &["n3"]],
    ];
    let script = tokio::spawn(async move {
        for (list, pages) in lists.into_iter().enumerate() {
            let (path, api_version, kind, selected) = LISTS[list];
            let item_kind = kind.trim_end_matches("List");
            let mut token: Option<String> = None;
            for (i, names) in pages.iter().enumerate() {
                let mut query = vec![("limit", "2")];
                if selected {
                    query.push(("labelSelector", "app=shop"));
                }
                if let Some(token) = &token {
                    query.push(("continue", token));
                }
                let (_, reply) = server.expect(Method::GET, path, &query).await;
                let mut items = named(item_kind, names);
                if list == 3 {
                    // HPAs: one on a selected Deployment, one on a Deployment not selected.
                    for (item, target) in items.iter_mut().zip(["d1", "other"]) {
                        item["spec"] = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "maxReplicas": 3});
                    }
                }
                let last = i + 1 == pages.len();
                // The API server ends a list with no token, or (some versions) an empty one.
                let next = match (last, list) {
                    (false, _) => {
                        Some(format!("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6{list}{i}fQ=="))
                    }
                    (true, 2) => Some(String::new()),
                    (true, _) => None,
                };
                answer(
                    reply,
                    200,
                    &page(api_version, kind, &items, next.as_deref()),
                );
                token = next;
            }
        }
        server.done().await;
    });
    let selection = Selection {
        namespace: Some("shop".into()),
        selector: Some("app=shop".into()),
        page_size: 2,
    };
    let objects = against(script, live::fetch(client, &selection))
        .await
        .expect("every page is read");
    assert_eq!(
        names(objects.deployments.iter().map(|o| &o.metadata)),
        ["d1", "d2", "d3"]
    );
    assert!(objects.stateful_sets.is_empty());
    assert_eq!(
        names(objects.services.iter().map(|o| &o.metadata)),
        ["s1", "s2"]
    );
    assert_eq!(names(objects.hpas.iter().map(|o| &o.metadata)), ["h1"]);
    assert_eq!(
        names(objects.pods.iter().map(|o| &o.metadata)),
        ["p1", "p2", "p3", "p4", "p5"]
    );
    assert_eq!(
        names(objects.nodes.iter().map(|o| &o.metadata)),
        ["n1", "n2", "n3"]
    );
}
