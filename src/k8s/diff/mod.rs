//! The minimal change between two configurations, as patches: `kubetwin diff` and the
//! operator's recommendations.
//!
//! Only what a recommendation may change is patched:
//!
//! | object | fields |
//! |---|---|
//! | HorizontalPodAutoscaler | `spec.minReplicas`, `spec.maxReplicas`, `spec.metrics` (targets), `spec.behavior` |
//! | Deployment, StatefulSet | `spec.replicas` (unless an HPA owns it), `spec.template.spec.nodeSelector`, `spec.template.spec.affinity.nodeAffinity`, `containers[*].resources.requests` |
//!
//! Each [`Patch`] carries the same change twice: as a server-side apply configuration
//! (identity, the changed fields, and container `name`s that key the containers list) for
//! `kubectl apply --server-side --field-manager=kubetwin` or kube-rs, and as an RFC 7386
//! JSON merge patch. Every other difference is reported in [`Recommendation::notes`],
//! never silently dropped.

mod json;
mod render;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde::Serialize;
use serde_json::{Value, json};

use crate::k8s::export::with_cluster_target;
use crate::k8s::stateful::{cluster_kind, to_stateful_set};
use crate::model::{Doc, Scenario};
use json::{differing_paths, get, merge_patch, remove, set, without_removals};

/// The object a patch applies to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `apps/v1` or `autoscaling/v2`.
    pub api_version: String,
    /// `Deployment`, `StatefulSet` or `HorizontalPodAutoscaler`.
    pub kind: String,
    /// The namespace, when the scenario names one.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

/// The change to one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Patch {
    /// The object.
    pub target: Target,
    /// A server-side apply configuration: identity plus the changed fields.
    pub apply: Value,
    /// An RFC 7386 JSON merge patch (no identity; lists replaced whole, so a change to a
    /// container's requests carries the whole proposed containers list).
    pub merge: Value,
    /// A strategic merge patch (`kubectl patch`'s default type): the merge patch with the
    /// containers merged by `name`, so it carries only the changed requests.
    pub strategic: Value,
    /// The changed fields, e.g. `spec.maxReplicas`, for people.
    pub fields: Vec<String>,
}

/// Everything that changes from one configuration to another.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recommendation {
    /// One patch per changed object, HPAs first, each group by namespace and name.
    pub patches: Vec<Patch>,
    /// Differences that are not patched, and why.
    pub notes: Vec<String>,
}

impl Recommendation {
    /// Whether nothing is patched.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }
}

/// Fields of a workload's pod template a recommendation may change.
const NODE_SELECTOR: [&str; 4] = ["spec", "template", "spec", "nodeSelector"];
const NODE_AFFINITY: [&str; 5] = ["spec", "template", "spec", "affinity", "nodeAffinity"];
const CONTAINERS: [&str; 4] = ["spec", "template", "spec", "containers"];
const HPA_FIELDS: [&str; 4] = ["minReplicas", "maxReplicas", "metrics", "behavior"];

/// The patches that turn `current`'s Kubernetes configuration into `proposed`'s.
pub fn diff(current: &Scenario, proposed: &Scenario) -> Recommendation {
    let mut out = Recommendation::default();
    let hpas = |s: &Scenario| -> BTreeMap<(Option<String>, String), HorizontalPodAutoscaler> {
        (s.autoscalers.iter())
            .map(|h| {
                (
                    identity(&h.object.metadata),
                    with_cluster_target(s, &h.object),
                )
            })
            .collect()
    };
    let (a, b) = (hpas(current), hpas(proposed));
    for (id, hpa) in &b {
        let Some(before) = a.get(id) else {
            out.notes.push(format!(
                "{} only in the proposed configuration: kubetwin does not create objects",
                describe("HorizontalPodAutoscaler", id)
            ));
            continue;
        };
        let target = target("autoscaling/v2", "HorizontalPodAutoscaler", id);
        let fields: Vec<Vec<&str>> = HPA_FIELDS.iter().map(|f| vec!["spec", f]).collect();
        let json = |h: &HorizontalPodAutoscaler| serde_json::to_value(h).unwrap_or(Value::Null);
        out.patches.extend(patch(
            target,
            &json(before),
            &json(hpa),
            &fields,
            &mut out.notes,
        ));
    }
    only_current(&a, &b, "HorizontalPodAutoscaler", &mut out.notes);
    let owned: Vec<&str> = (a.values().chain(b.values()))
        .map(|h| h.spec.scale_target_ref.name.as_str())
        .collect();
    let (a, b) = (workloads(current), workloads(proposed));
    for (id, after) in &b {
        let kind = cluster_kind(after);
        let Some(before) = a.get(id) else {
            out.notes.push(format!(
                "{} only in the proposed configuration: kubetwin does not create objects",
                describe(kind, id)
            ));
            continue;
        };
        let (from, to) = (workload_json(before), workload_json(after));
        let (mut rest_from, mut rest_to) = (strip_requests(&from), strip_requests(&to));
        let mut fields: Vec<Vec<&str>> = vec![NODE_SELECTOR.to_vec(), NODE_AFFINITY.to_vec()];
        let replicas = ["spec", "replicas"];
        if owned.contains(&id.1.as_str()) {
            if get(&from, &replicas) != get(&to, &replicas) {
                out.notes.push(format!(
                    "{} spec.replicas is not patched: a HorizontalPodAutoscaler owns it \
                     (change its minReplicas/maxReplicas instead)",
                    describe(kind, id)
                ));
            }
            remove(&mut rest_from, &replicas);
            remove(&mut rest_to, &replicas);
        } else {
            fields.push(replicas.to_vec());
        }
        let mut p = patch(
            target("apps/v1", kind, id),
            &rest_from,
            &rest_to,
            &fields,
            &mut out.notes,
        )
        .unwrap_or_else(|| empty_patch(&from, target("apps/v1", kind, id)));
        let changed = requests(&from, &to, &mut p, &mut out.notes);
        if changed || !p.fields.is_empty() {
            out.patches.push(p);
        }
    }
    only_current(&a, &b, "Deployment", &mut out.notes);
    for (kind, pairs) in [
        ("Service", objects(current, proposed, |s| &s.services)),
        ("Node", objects(current, proposed, |s| &s.nodes)),
    ] {
        for (name, (x, y)) in pairs {
            if x != y {
                out.notes.push(format!(
                    "{kind}/{name} differs: kubetwin does not patch {kind}s"
                ));
            }
        }
    }
    out
}

/// Each Deployment by `(namespace, name)`.
fn workloads(s: &Scenario) -> BTreeMap<(Option<String>, String), &Deployment> {
    (s.deployments.iter())
        .map(|d| (identity(&d.object.metadata), &d.object))
        .collect()
}

/// `(namespace, name)` of an object.
fn identity(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (Option<String>, String) {
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn describe(kind: &str, (namespace, name): &(Option<String>, String)) -> String {
    match namespace {
        Some(ns) => format!("{kind}/{name} (namespace {ns})"),
        None => format!("{kind}/{name}"),
    }
}

fn target(api_version: &str, kind: &str, (namespace, name): &(Option<String>, String)) -> Target {
    Target {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: namespace.clone(),
        name: name.clone(),
    }
}

fn only_current<T>(
    a: &BTreeMap<(Option<String>, String), T>,
    b: &BTreeMap<(Option<String>, String), T>,
    kind: &str,
    notes: &mut Vec<String>,
) {
    for id in a.keys().filter(|id| !b.contains_key(*id)) {
        notes.push(format!(
            "{} only in the current configuration: kubetwin does not delete objects",
            describe(kind, id)
        ));
    }
}

/// The JSON form of a workload as the cluster knows it (a StatefulSet when marked).
fn workload_json(d: &Deployment) -> Value {
    match to_stateful_set(d) {
        Some(set) => serde_json::to_value(set),
        None => serde_json::to_value(d),
    }
    .unwrap_or(Value::Null)
}

/// Each object of `list` by name, in both scenarios, as JSON (absent: `Null`).
fn objects<T: Serialize>(
    current: &Scenario,
    proposed: &Scenario,
    list: impl Fn(&Scenario) -> &Vec<Doc<T>>,
) -> BTreeMap<String, (Value, Value)> {
    let mut out: BTreeMap<String, (Value, Value)> = BTreeMap::new();
    for (side, s) in [(0, current), (1, proposed)] {
        for d in list(s) {
            let v = serde_json::to_value(&d.object).unwrap_or(Value::Null);
            let name = v["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let entry = out.entry(name).or_insert((Value::Null, Value::Null));
            if side == 0 { entry.0 = v } else { entry.1 = v }
        }
    }
    out
}

fn empty_patch(from: &Value, target: Target) -> Patch {
    Patch {
        apply: identity_of(from),
        merge: json!({}),
        strategic: json!({}),
        fields: Vec::new(),
        target,
    }
}

/// `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` of `object`.
fn identity_of(object: &Value) -> Value {
    let mut id = json!({"apiVersion": object["apiVersion"], "kind": object["kind"], "metadata": {"name": object["metadata"]["name"]}});
    if let Some(ns) = object["metadata"].get("namespace") {
        id["metadata"]["namespace"] = ns.clone();
    }
    id
}

/// The patch of `fields` (paths) from `from` to `to`; other differences become notes.
fn patch(
    target: Target,
    from: &Value,
    to: &Value,
    fields: &[Vec<&str>],
    notes: &mut Vec<String>,
) -> Option<Patch> {
    let mut p = empty_patch(from, target);
    let (mut rest_from, mut rest_to) = (from.clone(), to.clone());
    for path in fields {
        let (a, b) = (get(from, path), get(to, path));
        remove(&mut rest_from, path);
        remove(&mut rest_to, path);
        let Some(change) = merge_patch(a, b) else {
            continue;
        };
        let dotted = path.join(".");
        let mut removed = Vec::new();
        if let Some(apply) = without_removals(&change, &dotted, &mut removed) {
            set(&mut p.apply, path, apply);
        }
        for r in removed {
            notes.push(format!("{}/{} {r} is removed: server-side apply removes only fields kubetwin applied before; -o merge removes it", p.target.kind, p.target.name));
        }
        set(&mut p.strategic, path, change.clone());
        set(&mut p.merge, path, change);
        p.fields.push(dotted);
    }
    let mut other = Vec::new();
    differing_paths(&rest_from, &rest_to, "", &mut other);
    other.retain(|f| f != "status" && !f.starts_with("status."));
    if !other.is_empty() {
        notes.push(format!(
            "{}/{} also differs in {}: not a change kubetwin recommends, not patched",
            p.target.kind,
            p.target.name,
            other.join(", ")
        ));
    }
    (!p.fields.is_empty()).then_some(p)
}

/// `value` without its containers' `resources.requests` (patched separately).
fn strip_requests(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(containers) = v
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers {
            remove(c, &["resources", "requests"]);
        }
    }
    v
}

/// Adds the containers' changed `resources.requests` to `p`; whether any changed.
fn requests(from: &Value, to: &Value, p: &mut Patch, notes: &mut Vec<String>) -> bool {
    let list = |v: &Value| get(v, &CONTAINERS).as_array().cloned().unwrap_or_default();
    let (before, after) = (list(from), list(to));
    let (mut keyed, mut strategic) = (Vec::new(), Vec::new());
    for c in &after {
        let name = &c["name"];
        let Some(old) = before.iter().find(|o| &o["name"] == name) else {
            continue;
        };
        let path = ["resources", "requests"];
        let Some(change) = merge_patch(get(old, &path), get(c, &path)) else {
            continue;
        };
        let label = format!(
            "spec.template.spec.containers[{}].resources.requests",
            name.as_str().unwrap_or("")
        );
        let mut removed = Vec::new();
        let mut item = json!({"name": name});
        if let Some(apply) = without_removals(&change, &label, &mut removed) {
            set(&mut item, &path, apply);
        }
        for r in removed {
            notes.push(format!("{}/{} {r} is removed: server-side apply removes only fields kubetwin applied before; -o merge removes it", p.target.kind, p.target.name));
        }
        keyed.push(item);
        let mut item = json!({"name": name});
        set(&mut item, &path, change);
        strategic.push(item);
        p.fields.push(label);
    }
    if keyed.is_empty() {
        return false;
    }
    set(&mut p.apply, &CONTAINERS, Value::Array(keyed));
    set(&mut p.strategic, &CONTAINERS, Value::Array(strategic));
    // A merge patch replaces a list whole: it carries every proposed container.
    set(&mut p.merge, &CONTAINERS, Value::Array(after));
    true
}

pub use render::{to_apply_yaml, to_kubectl, to_merge_json};

#[cfg(test)]
mod tests;
