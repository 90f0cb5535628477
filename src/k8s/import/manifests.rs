//! Reading manifests: files and directories (recursively) of multi-document YAML or JSON,
//! `kubectl get -o yaml` `List`s, typed lists (`DeploymentList`) and `helm template` output.
//! The kinds an import reads become [`ClusterObjects`]; every other kind is counted in
//! [`Ignored`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ClusterObjects, ImportError, Sources, Warning, key};
use crate::model::{Document, ScenarioError, read_documents, read_header, read_object};

/// What [`from_manifests`] read.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// The objects an import uses.
    pub objects: ClusterObjects,
    /// The kinds it does not use, counted.
    pub ignored: Ignored,
    /// Where each object was read.
    pub sources: Sources,
}

/// Objects of kinds an import does not read (ConfigMaps, Secrets, Ingresses, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignored {
    /// How many of each, by `Kind (apiVersion)`.
    pub kinds: BTreeMap<String, usize>,
}

impl Ignored {
    /// One line for the user, e.g. `ignored 4 objects of kinds kubetwin does not model:
    /// 2 ConfigMap (v1), 1 Ingress (networking.k8s.io/v1), 1 Secret (v1)`; `None` when none.
    pub fn summary(&self) -> Option<String> {
        let total: usize = self.kinds.values().sum();
        let kinds: Vec<String> = (self.kinds.iter())
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        (total > 0).then(|| {
            format!(
                "ignored {total} object{} of kinds kubetwin does not model: {}",
                if total == 1 { "" } else { "s" },
                kinds.join(", ")
            )
        })
    }
}

/// The items of a `List` or a typed list.
#[derive(Deserialize)]
struct ListDocument {
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

/// Reads every manifest under `paths` (files, or directories walked recursively for
/// `*.yaml`, `*.yml` and `*.json` in name order).
///
/// # Errors
/// An unreadable file, a document that is not YAML, lacks `apiVersion`/`kind` or does not
/// match its kind's schema (file, line and field path), or one object defined twice.
pub fn from_manifests(paths: &[PathBuf]) -> Result<Manifests, ImportError> {
    let mut out = Manifests::default();
    for path in paths {
        for file in manifest_files(path)? {
            for document in read_documents(&file)? {
                read_document(&document, &mut out)?;
            }
        }
    }
    Ok(out)
}

fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let io = |source| ScenarioError::Io {
        path: path.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        entries.push(entry.map_err(io)?.path());
    }
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            files.extend(manifest_files(&entry)?);
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(entry);
        }
    }
    Ok(files)
}

fn read_document(document: &Document, out: &mut Manifests) -> Result<(), ImportError> {
    let (api_version, kind) = read_header(document)?;
    if api_version.is_empty() || kind.is_empty() {
        return Err(ScenarioError::Syntax {
            at: document.origin(),
            message: "every document needs `apiVersion` and `kind`".into(),
        }
        .into());
    }
    let Some(item_kind) = kind.strip_suffix("List") else {
        return add(document, &api_version, &kind, Item::Document, out);
    };
    let list: ListDocument = read_object(document, false)?;
    let lines = item_lines(&document.text);
    for (i, item) in list.items.into_iter().enumerate() {
        // Where the item starts, when the list is written in block style as kubectl does.
        let at = lines
            .get(i)
            .map_or(document.first_line, |l| document.first_line + l);
        let item_document = Document {
            file: document.file.clone(),
            first_line: at,
            text: String::new(),
        };
        let text = |field: &str| item.get(field).and_then(|v| v.as_str()).map(str::to_owned);
        // Typed lists (`DeploymentList`) leave kind and apiVersion out of their items.
        let item_api = text("apiVersion").unwrap_or_else(|| api_version.clone());
        let item_kind = text("kind").unwrap_or_else(|| item_kind.to_owned());
        add(
            &item_document,
            &item_api,
            &item_kind,
            Item::Listed(i, item),
            out,
        )?;
    }
    Ok(())
}

/// The 0-based line of each item of the block sequence under a top-level `items:`.
fn item_lines(text: &str) -> Vec<usize> {
    let mut lines = text.lines().enumerate();
    if !lines.any(|(_, l)| l.trim_end() == "items:") {
        return Vec::new();
    }
    let mut indent = None;
    let mut out = Vec::new();
    for (i, line) in lines {
        let depth = line.len() - line.trim_start().len();
        let is_item = line.trim_start().starts_with("- ");
        match indent {
            None if is_item => indent = Some(depth),
            Some(d) if depth < d && !line.trim().is_empty() => break,
            Some(d) if !(is_item && depth == d) => continue,
            None => continue,
            Some(_) => {}
        }
        out.push(i);
    }
    out
}

/// A whole document, or item `i` of a list document.
enum Item {
    Document,
    Listed(usize, serde_json::Value),
}

fn add(
    document: &Document,
    api_version: &str,
    kind: &str,
    item: Item,
    out: &mut Manifests,
) -> Result<(), ImportError> {
    let o = &mut out.objects;
    let meta = match (api_version, kind) {
        ("apps/v1", "Deployment") => push(&mut o.deployments, parse(document, item)?),
        ("apps/v1", "StatefulSet") => push(&mut o.stateful_sets, parse(document, item)?),
        ("v1", "Service") => push(&mut o.services, parse(document, item)?),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => push(&mut o.hpas, parse(document, item)?),
        ("v1", "Node") => push(&mut o.nodes, parse(document, item)?),
        ("v1", "Pod") => push(&mut o.pods, parse(document, item)?),
        _ => {
            *out.ignored
                .kinds
                .entry(format!("{kind} ({api_version})"))
                .or_default() += 1;
            return Ok(());
        }
    };
    let key = key(kind, &meta);
    let at = document.origin();
    if let Some(previous) = out.sources.insert(key.clone(), at.clone()) {
        return Err(ImportError::Invalid(Warning {
            at: Some(at),
            object: format!("{}/{}", key.kind, key.name),
            field: "metadata.name".into(),
            message: format!("defined twice; also at {previous}"),
        }));
    }
    Ok(())
}

/// Appends `object` and returns its metadata.
fn push<T: Metadata<Ty = ObjectMeta>>(list: &mut Vec<T>, object: T) -> ObjectMeta {
    let meta = object.metadata().clone();
    list.push(object);
    meta
}

/// Deserializes a document or a list item into `T`, naming the field path on error.
/// Fields `T` does not know are ignored: a newer cluster may write fields this version of
/// the Kubernetes types lacks.
fn parse<T: DeserializeOwned>(document: &Document, item: Item) -> Result<T, ScenarioError> {
    match item {
        Item::Document => read_object(document, false),
        Item::Listed(i, value) => {
            serde_path_to_error::deserialize(value).map_err(|e| ScenarioError::Syntax {
                at: document.origin(),
                message: format!("items[{i}].{}: {}", e.path(), e.inner()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_located_in_block_lists() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Node\n  metadata:\n    labels:\n    - x\n- kind: Node\nmetadata: {}\n";
        assert_eq!(item_lines(text), [3, 7]);
        let indented = "items:\n  - a: 1\n    b: [1]\n  - a: 2\n";
        assert_eq!(item_lines(indented), [1, 3]);
        assert!(item_lines("items: [{a: 1}]\n").is_empty());
    }
}
