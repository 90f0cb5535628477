//! `--set KIND[/NAME]:FIELD.PATH=VALUE` overrides, applied to a document before it is typed.
//!
//! `KIND` is matched case-insensitively (`deployment/ms1`, `Simulation`); without `/NAME`
//! it applies to every object of that kind. `FIELD.PATH` is dot-separated with `[i]` for
//! list items (`spec.flows[0].arrivals.rate`) and `\.` for a dot inside a key
//! (`metadata.annotations.kubetwin\.io/load-balancing`, as in kubectl's JSONPath); missing
//! maps are created, and `[n]` with `n` = the list's length appends. `VALUE` is parsed as YAML (`5`, `true`, `abc`,
//! `{type: constant, value: 3}`).

use std::str::FromStr;

use super::error::ScenarioError;

/// One parsed override.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The override as the user wrote it.
    pub expression: String,
    kind: String,
    name: Option<String>,
    path: Vec<Segment>,
    value: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl Override {
    /// Whether this override targets the object `kind`/`name`.
    pub fn matches(&self, kind: &str, name: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.name.as_deref().is_none_or(|n| n == name)
    }

    /// Sets the value in `tree`.
    ///
    /// # Errors
    /// When the path walks through a scalar or past the end of a list.
    pub fn apply(&self, tree: &mut serde_json::Value) -> Result<(), ScenarioError> {
        let error = |message: String| ScenarioError::Override {
            expression: self.expression.clone(),
            message,
        };
        let mut node = tree;
        for segment in &self.path {
            node = match (segment, node) {
                (Segment::Key(key), serde_json::Value::Object(map)) => {
                    map.entry(key.clone()).or_insert(serde_json::Value::Null)
                }
                (Segment::Key(key), node @ serde_json::Value::Null) => {
                    *node = serde_json::Value::Object(Default::default());
                    node.as_object_mut()
                        .expect("just made a map")
                        .entry(key.clone())
                        .or_insert(serde_json::Value::Null)
                }
                (Segment::Index(i), serde_json::Value::Array(items)) => {
                    if *i == items.len() {
                        items.push(serde_json::Value::Null);
                    }
                    let len = items.len();
                    items.get_mut(*i).ok_or_else(|| {
                        error(format!(
                            "index [{i}] is out of range (the list has {len} items)"
                        ))
                    })?
                }
                (segment, other) => {
                    return Err(error(format!(
                        "cannot descend into {segment:?}: the value there is {other}"
                    )));
                }
            };
        }
        *node = self.value.clone();
        Ok(())
    }
}

impl FromStr for Override {
    type Err = ScenarioError;

    fn from_str(expression: &str) -> Result<Self, Self::Err> {
        let error = |message: &str| ScenarioError::Override {
            expression: expression.into(),
            message: message.into(),
        };
        let (target, value) = expression
            .split_once('=')
            .ok_or_else(|| error("expected KIND[/NAME]:FIELD.PATH=VALUE"))?;
        let (object, path) = target
            .split_once(':')
            .ok_or_else(|| error("expected KIND[/NAME]:FIELD.PATH before `=`"))?;
        let (kind, name) = match object.split_once('/') {
            Some((kind, name)) => (kind, Some(name.to_owned())),
            None => (object, None),
        };
        if kind.is_empty() || name.as_deref() == Some("") {
            return Err(error(
                "the object is empty: write e.g. deployment/ms1:spec.replicas=3",
            ));
        }
        let path = parse_path(path).map_err(|m| error(&m))?;
        let value: serde_json::Value = serde_saphyr::from_str(value)
            .map_err(|e| error(&format!("value is not YAML: {}", e.without_snippet())))?;
        Ok(Override {
            expression: expression.into(),
            kind: kind.into(),
            name,
            path,
            value,
        })
    }
}

/// Splits at dots not escaped as `\.` (kubectl's JSONPath escape, for keys such as
/// `kubetwin\.io/load-balancing`).
fn split_path(path: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                parts.last_mut().expect("never empty").push('.');
                chars.next();
            }
            '.' => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    for part in split_path(path) {
        let (key, mut rest) = part
            .split_once('[')
            .map_or((part.as_str(), ""), |(k, r)| (k, r));
        if key.is_empty() && segments.is_empty() && rest.is_empty() {
            return Err("empty field path".into());
        }
        if !key.is_empty() {
            segments.push(Segment::Key(key.into()));
        }
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']').ok_or("unclosed `[`")?;
            let index = index
                .parse()
                .map_err(|_| format!("`[{index}]` is not a list index"))?;
            segments.push(Segment::Index(index));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return Err(format!("unexpected `{after}` after `]`"));
            }
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(expression: &str, mut tree: serde_json::Value) -> serde_json::Value {
        expression
            .parse::<Override>()
            .unwrap()
            .apply(&mut tree)
            .unwrap();
        tree
    }

    #[test]
    fn escaped_dots_stay_in_the_key() {
        let tree = set(
            r"service/a:metadata.annotations.kubetwin\.io/load-balancing=round-robin",
            json!({"metadata": {"name": "a"}}),
        );
        assert_eq!(
            tree["metadata"]["annotations"]["kubetwin.io/load-balancing"],
            "round-robin"
        );
    }

    #[test]
    fn sets_nested_fields_and_list_items() {
        let tree = json!({"spec": {"flows": [{"arrivals": {"rate": 1}}]}});
        let out = set("Workload:spec.flows[0].arrivals.rate=150", tree);
        assert_eq!(
            out,
            json!({"spec": {"flows": [{"arrivals": {"rate": 150}}]}})
        );
        let out = set(
            "deployment/ms1:spec.template.spec.nodeSelector.zone=a",
            json!({}),
        );
        assert_eq!(
            out,
            json!({"spec": {"template": {"spec": {"nodeSelector": {"zone": "a"}}}}})
        );
    }

    #[test]
    fn values_are_yaml() {
        let out = set(
            "ServiceModel/x:spec.serviceTime={type: constant, value: 3}",
            json!({}),
        );
        assert_eq!(
            out,
            json!({"spec": {"serviceTime": {"type": "constant", "value": 3}}})
        );
    }

    #[test]
    fn matches_kind_case_insensitively_and_name_exactly() {
        let o: Override = "deployment/ms1:spec.replicas=3".parse().unwrap();
        assert!(o.matches("Deployment", "ms1"));
        assert!(!o.matches("Deployment", "ms2"));
        let o: Override = "simulation:spec.seed=3".parse().unwrap();
        assert!(o.matches("Simulation", "anything"));
    }

    #[test]
    fn rejects_malformed_expressions() {
        for (bad, wanted) in [
            ("spec.replicas=3", "KIND[/NAME]:FIELD.PATH before"),
            ("deployment/ms1:spec.replicas", "expected KIND"),
            ("deployment/:spec.replicas=1", "the object is empty"),
            ("deployment/a:spec.x[z]=1", "is not a list index"),
            ("deployment/a:spec.x[1=1", "unclosed"),
        ] {
            let err = bad.parse::<Override>().unwrap_err().to_string();
            assert!(err.contains(wanted), "{bad}: {err}");
        }
        let o: Override = "workload:spec.flows[3].x=1".parse().unwrap();
        let err = o
            .apply(&mut json!({"spec": {"flows": []}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("out of range"), "{err}");
    }
}
