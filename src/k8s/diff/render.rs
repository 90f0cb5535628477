//! Writing a [`Recommendation`]: server-side apply YAML, JSON merge patches, or `kubectl
//! patch` commands. Notes come first, as comments where the format has them.

use serde_json::json;

use super::{Patch, Recommendation};

/// The field manager kubetwin applies and patches as.
pub const FIELD_MANAGER: &str = "kubetwin";

fn heading(p: &Patch) -> String {
    let t = &p.target;
    let ns = t
        .namespace
        .as_ref()
        .map_or_else(String::new, |ns| format!(" (namespace {ns})"));
    format!("{}/{}{ns}: {}", t.kind, t.name, p.fields.join(", "))
}

fn notes(r: &Recommendation) -> String {
    r.notes.iter().map(|n| format!("# note: {n}\n")).collect()
}

/// The apply configurations as one YAML stream for
/// `kubectl apply --server-side --field-manager=kubetwin -f -`, each preceded by a comment
/// naming the changed fields.
///
/// # Errors
/// When a value does not serialize as YAML (not expected for JSON values).
pub fn to_apply_yaml(r: &Recommendation) -> Result<String, serde_saphyr::SerializeError> {
    let mut out = notes(r);
    if r.is_empty() {
        out.push_str("# no changes\n");
        return Ok(out);
    }
    out.push_str(&format!(
        "# apply with: kubectl apply --server-side --field-manager={FIELD_MANAGER} -f -\n"
    ));
    for p in &r.patches {
        let yaml = serde_saphyr::to_string(&p.apply)?;
        out.push_str(&format!("---\n# {}\n{}\n", heading(p), yaml.trim_end()));
    }
    Ok(out)
}

/// The merge patches as JSON: `{"patches": [{apiVersion, kind, namespace, name, fields,
/// patch}], "notes": [...]}`.
pub fn to_merge_json(r: &Recommendation) -> String {
    let patches: Vec<_> = (r.patches.iter())
        .map(|p| {
            let t = &p.target;
            json!({"apiVersion": t.api_version, "kind": t.kind, "namespace": t.namespace,
                   "name": t.name, "fields": p.fields, "patch": p.merge})
        })
        .collect();
    format!("{:#}\n", json!({"patches": patches, "notes": r.notes}))
}

/// One `kubectl patch --type strategic` command per patch (containers merged by name),
/// notes as shell comments.
pub fn to_kubectl(r: &Recommendation) -> String {
    let mut out = notes(r);
    if r.is_empty() {
        out.push_str("# no changes\n");
    }
    for p in &r.patches {
        let t = &p.target;
        let ns = t
            .namespace
            .as_ref()
            .map_or_else(String::new, |ns| format!(" --namespace {}", quote(ns)));
        out.push_str(&format!(
            "# {}\nkubectl patch {} {}{ns} --type strategic --field-manager={FIELD_MANAGER} -p {}\n",
            heading(p),
            t.kind.to_lowercase(),
            quote(&t.name),
            quote(&p.strategic.to_string())
        ));
    }
    out
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_single_quotes() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(r#"{"x":"it's"}"#), r#"'{"x":"it'\''s"}'"#);
    }
}
