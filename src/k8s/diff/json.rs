//! JSON helpers for patches: RFC 7386 merge patches between two values, their apply
//! (server-side apply) counterpart, field paths and the paths where two values differ.

use serde_json::{Map, Value};

/// The value at `path` (`Null` when absent).
pub(super) fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, key| v.get(key).unwrap_or(&Value::Null))
}

/// Sets `path` in `root`, creating objects on the way.
pub(super) fn set(root: &mut Value, path: &[&str], value: Value) {
    let mut node = root;
    for key in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return;
        };
        node = map.entry(key.to_string()).or_insert(Value::Null);
    }
    *node = value;
}

/// Removes `path` from `root` (a no-op when absent).
pub(super) fn remove(root: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        match node.get_mut(key) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(*last);
    }
}

/// The RFC 7386 merge patch that turns `from` into `to`: objects merged key by key, removed
/// keys as `null`, anything else (lists included) replaced whole; `None` when equal.
pub(super) fn merge_patch(from: &Value, to: &Value) -> Option<Value> {
    if from == to {
        return None;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (k, vb) in b {
                match a.get(k) {
                    Some(va) => {
                        if let Some(p) = merge_patch(va, vb) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), vb.clone());
                    }
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Some(Value::Object(patch))
        }
        _ => Some(to.clone()),
    }
}

/// The apply-configuration part of a merge patch: the patch without its `null`s (an apply
/// configuration cannot remove a field another manager owns); each removal's path, below
/// `path`, is pushed to `removed`. `None` when nothing is left.
pub(super) fn without_removals(
    patch: &Value,
    path: &str,
    removed: &mut Vec<String>,
) -> Option<Value> {
    match patch {
        Value::Null => {
            removed.push(path.to_owned());
            None
        }
        Value::Object(map) => {
            let kept: Map<String, Value> = (map.iter())
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        without_removals(v, &format!("{path}.{k}"), removed)?,
                    ))
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// The field paths where `a` and `b` differ (list items by index), sorted.
pub(super) fn differing_paths(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differing_paths(va, vb, &join(k), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differing_paths(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patches_follow_rfc_7386() {
        let a = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let b = json!({"a": 1, "b": {"c": 5}, "l": [1, 2, 3], "n": "x"});
        let patch = merge_patch(&a, &b).unwrap();
        assert_eq!(
            patch,
            json!({"b": {"c": 5, "d": null}, "l": [1, 2, 3], "n": "x"})
        );
        assert_eq!(merge_patch(&a, &a), None);
        let mut removed = Vec::new();
        let apply = without_removals(&patch, "spec", &mut removed).unwrap();
        assert_eq!(apply, json!({"b": {"c": 5}, "l": [1, 2, 3], "n": "x"}));
        assert_eq!(removed, ["spec.b.d"]);
    }

    #[test]
    fn paths_get_set_remove_and_differ() {
        let mut v = json!({});
        set(&mut v, &["spec", "template", "replicas"], json!(3));
        assert_eq!(get(&v, &["spec", "template", "replicas"]), &json!(3));
        assert_eq!(get(&v, &["spec", "nope"]), &Value::Null);
        remove(&mut v, &["spec", "template", "replicas"]);
        remove(&mut v, &["absent", "x"]);
        assert_eq!(v, json!({"spec": {"template": {}}}));
        let mut out = Vec::new();
        differing_paths(
            &json!({"a": [{"x": 1}], "b": 2, "c": [1]}),
            &json!({"a": [{"x": 2}], "b": 2, "c": [1, 2]}),
            "",
            &mut out,
        );
        assert_eq!(out, ["a[0].x", "c"]);
    }
}
