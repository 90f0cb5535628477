//! Reading a scenario: files and directories of multi-document YAML, each document
//! dispatched by `apiVersion`/`kind` to a typed object, with `--set` overrides applied.
//!
//! Documents are split the way `kubectl` splits them (a line starting with `---`), so each
//! error can name its file and the line in that file. Kubernetes objects are read with
//! k8s-openapi's types, which ignore unknown fields; every document is therefore read
//! through [`serde_ignored`], and an ignored field is an error, as in
//! `kubectl --validate=strict`.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::MessageFormatter;

use super::error::{Origin, ScenarioError};
use super::kinds::{
    API_VERSION, Object, ServiceModelSpec, SimulationSpec, TopologySpec, WorkloadSpec,
};
use super::set::Override;
use super::{Doc, Scenario};

/// One YAML document of a scenario (or manifest) file.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub file: PathBuf,
    /// 1-based line of the document's first line in its file.
    pub first_line: usize,
    pub text: String,
}

impl Document {
    /// Where the document starts.
    pub fn origin(&self) -> Origin {
        Origin::line(&self.file, self.first_line)
    }
}

/// The fields every object has, read first to choose the type.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: HeaderMeta,
}

#[derive(Default, Deserialize)]
struct HeaderMeta {
    name: Option<String>,
}

/// Reads the scenario at `path` (a file, or a directory whose `*.yaml`/`*.yml` files are
/// read in name order) and applies `overrides`.
///
/// # Errors
/// Any unreadable file, malformed document, unsupported kind, unknown field, missing or
/// duplicated singleton kind, or override that matches nothing.
pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    let mut documents = Vec::new();
    for file in scenario_files(path)? {
        documents.extend(read_documents(&file)?);
    }
    let base_dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    from_documents(&documents, base_dir, overrides)
}

/// Reads a scenario from YAML text, as if it were the file `name` (for messages and for
/// resolving relative file references against `base_dir`).
///
/// # Errors
/// As [`load`].
pub fn load_str(
    name: &Path,
    text: &str,
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Scenario, ScenarioError> {
    from_documents(&split_documents(name, text), base_dir, overrides)
}

fn scenario_files(path: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let io = |source| ScenarioError::Io {
        path: path.to_owned(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let file = entry.map_err(io)?.path();
        if matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// The documents of one file.
///
/// # Errors
/// When the file cannot be read.
pub(crate) fn read_documents(file: &Path) -> Result<Vec<Document>, ScenarioError> {
    let text = std::fs::read_to_string(file).map_err(|source| ScenarioError::Io {
        path: file.to_owned(),
        source,
    })?;
    Ok(split_documents(file, &text))
}

/// A document's `apiVersion` and `kind` (empty when missing).
///
/// # Errors
/// When the document is not YAML.
pub(crate) fn read_header(document: &Document) -> Result<(String, String), ScenarioError> {
    let header: Header =
        serde_saphyr::from_str(&document.text).map_err(|e| syntax_error(document, &e, ""))?;
    Ok((
        header.api_version.unwrap_or_default(),
        header.kind.unwrap_or_default(),
    ))
}

/// Deserializes a whole document into `T`, naming the field path of a type error;
/// `strict` also rejects fields `T` does not know (as scenarios do).
///
/// # Errors
/// A [`ScenarioError::Syntax`] at the offending line.
pub(crate) fn read_object<T: DeserializeOwned>(
    document: &Document,
    strict: bool,
) -> Result<T, ScenarioError> {
    if strict {
        return parse(document, &[]);
    }
    let mut track = serde_path_to_error::Track::new();
    serde_saphyr::with_deserializer_from_str(&document.text, |de| {
        T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    })
    .map_err(|e| syntax_error(document, &e, &path_prefix(&track.path())))
}

pub(crate) fn split_documents(file: &Path, text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut first_line = 1;
    for (index, line) in text.lines().enumerate() {
        let is_separator = line.starts_with("---")
            && line[3..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '#');
        if is_separator {
            documents.push(Document {
                file: file.to_owned(),
                first_line,
                text: current,
            });
            current = String::new();
            first_line = index + 2;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents.push(Document {
        file: file.to_owned(),
        first_line,
        text: current,
    });
    documents.retain(|d| {
        d.text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    documents
}

fn from_documents(
    documents: &[Document],
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Scenario, ScenarioError> {
    let mut applied = vec![false; overrides.len()];
    let mut deployments = Vec::new();
    let mut services = Vec::new();
    let mut autoscalers = Vec::new();
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    let mut service_models = Vec::new();
    let mut topology = None;
    let mut workload = None;
    let mut simulation = None;

    for document in documents {
        let origin = Origin::line(&document.file, document.first_line);
        let header: Header =
            serde_saphyr::from_str(&document.text).map_err(|e| syntax_error(document, &e, ""))?;
        let (Some(api_version), Some(kind)) = (header.api_version, header.kind) else {
            return Err(ScenarioError::Syntax {
                at: origin,
                message: "every document needs `apiVersion` and `kind`".into(),
            });
        };
        let name = header.metadata.name.unwrap_or_default();
        let mine: Vec<usize> = (0..overrides.len())
            .filter(|&i| overrides[i].matches(&kind, &name))
            .collect();
        for &i in &mine {
            applied[i] = true;
        }
        let mine: Vec<&Override> = mine.into_iter().map(|i| &overrides[i]).collect();
        fn doc<T>(origin: &Origin, base_dir: &Path, object: T) -> Doc<T> {
            Doc {
                origin: origin.clone(),
                base_dir: base_dir.to_owned(),
                object,
            }
        }
        match (api_version.as_str(), kind.as_str()) {
            ("apps/v1", "Deployment") => {
                deployments.push(doc(
                    &origin,
                    base_dir,
                    parse::<Deployment>(document, &mine)?,
                ));
            }
            ("v1", "Service") => {
                services.push(doc(&origin, base_dir, parse::<Service>(document, &mine)?))
            }
            ("v1", "Node") => nodes.push(doc(&origin, base_dir, parse::<Node>(document, &mine)?)),
            ("v1", "Pod") => pods.push(doc(&origin, base_dir, parse::<Pod>(document, &mine)?)),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => {
                autoscalers.push(doc(
                    &origin,
                    base_dir,
                    parse::<HorizontalPodAutoscaler>(document, &mine)?,
                ));
            }
            (API_VERSION, "ServiceModel") => {
                service_models.push(doc(
                    &origin,
                    base_dir,
                    parse::<Object<ServiceModelSpec>>(document, &mine)?,
                ));
            }
            (API_VERSION, "Topology") => {
                let parsed = doc(
                    &origin,
                    base_dir,
                    parse::<Object<TopologySpec>>(document, &mine)?,
                );
                singleton(&mut topology, parsed, "Topology")?;
            }
            (API_VERSION, "Workload") => {
                let parsed = doc(
                    &origin,
                    base_dir,
                    parse::<Object<WorkloadSpec>>(document, &mine)?,
                );
                singleton(&mut workload, parsed, "Workload")?;
            }
            (API_VERSION, "Simulation") => {
                let parsed = doc(
                    &origin,
                    base_dir,
                    parse::<Object<SimulationSpec>>(document, &mine)?,
                );
                singleton(&mut simulation, parsed, "Simulation")?;
            }
            _ => {
                return Err(ScenarioError::UnsupportedKind {
                    at: origin,
                    api_version,
                    kind,
                });
            }
        }
    }
    if let Some(i) = applied.iter().position(|a| !a) {
        return Err(ScenarioError::Override {
            expression: overrides[i].expression.clone(),
            message: "matches no object of the scenario".into(),
        });
    }
    let first = documents.first().map_or_else(
        || Origin::line(base_dir, 0),
        |d| Origin::line(&d.file, d.first_line),
    );
    let missing = |kind: &str| ScenarioError::Invalid {
        at: first.clone(),
        object: "scenario".into(),
        field: kind.into(),
        message: format!("a scenario needs one kubetwin.io/v1alpha1 {kind}"),
    };
    let topology = topology.ok_or_else(|| missing("Topology"))?;
    let workload = workload.ok_or_else(|| missing("Workload"))?;
    let simulation = simulation.unwrap_or_else(|| Doc {
        origin: first.clone(),
        base_dir: base_dir.to_owned(),
        object: Object {
            api_version: API_VERSION.into(),
            kind: "Simulation".into(),
            metadata: Default::default(),
            spec: SimulationSpec {
                seed: 1,
                statistics_interval_seconds: 1.0,
                ..Default::default()
            },
        },
    });
    Ok(Scenario {
        deployments,
        services,
        autoscalers,
        nodes,
        pods,
        service_models,
        topology,
        workload,
        simulation,
    })
}

fn singleton<T>(slot: &mut Option<Doc<T>>, doc: Doc<T>, kind: &str) -> Result<(), ScenarioError> {
    if let Some(previous) = slot {
        return Err(ScenarioError::Invalid {
            at: doc.origin,
            object: kind.into(),
            field: String::new(),
            message: format!(
                "a scenario has one {kind}; another is at {}",
                previous.origin
            ),
        });
    }
    *slot = Some(doc);
    Ok(())
}

/// Deserializes a document into `T`, applying `overrides`, rejecting unknown fields, and
/// naming the field path of any type error.
fn parse<T: DeserializeOwned>(
    document: &Document,
    overrides: &[&Override],
) -> Result<T, ScenarioError> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let value = if overrides.is_empty() {
        serde_saphyr::with_deserializer_from_str(&document.text, |de| {
            let de = serde_path_to_error::Deserializer::new(de, &mut track);
            serde_ignored::deserialize(de, |p| unknown.push(field(&p)))
        })
        .map_err(|e| syntax_error(document, &e, &path_prefix(&track.path())))?
    } else {
        let mut tree: serde_json::Value =
            serde_saphyr::from_str(&document.text).map_err(|e| syntax_error(document, &e, ""))?;
        for o in overrides {
            o.apply(&mut tree)?;
        }
        let de = serde_path_to_error::Deserializer::new(tree, &mut track);
        serde_ignored::deserialize(de, |p| unknown.push(field(&p))).map_err(|e| {
            ScenarioError::Syntax {
                at: Origin::line(&document.file, document.first_line),
                message: format!("{}{e} (after --set)", path_prefix(&track.path())),
            }
        })?
    };
    match unknown.first() {
        None => Ok(value),
        Some(path) => Err(ScenarioError::Syntax {
            at: Origin::line(&document.file, document.first_line),
            message: format!("unknown field `{path}`"),
        }),
    }
}

/// `"spec.replicas: "`, or nothing at the root.
fn path_prefix(path: &serde_path_to_error::Path) -> String {
    match path.to_string().as_str() {
        "." | "" => String::new(),
        p => format!("{p}: "),
    }
}

/// A parser error, at its line in the file (not in the document), its message after
/// `prefix` (the field path, when known).
fn syntax_error(document: &Document, e: &serde_saphyr::Error, prefix: &str) -> ScenarioError {
    let offset = document.first_line - 1;
    let (line, column) = e.location().map_or((document.first_line, 0), |l| {
        (l.line() as usize + offset, l.column() as usize)
    });
    // The core message: the location is ours to print, adjusted to the file.
    let message = format!(
        "{prefix}{}",
        serde_saphyr::DefaultMessageFormatter.format_message(e)
    );
    ScenarioError::Syntax {
        at: Origin {
            file: document.file.clone(),
            line,
            column,
        },
        message,
    }
}

/// Formats a serde_ignored path as a field path: `spec.containers[0].name`.
fn field(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", field(parent)),
        P::Map { parent, key } => match field(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            field(parent)
        }
    }
}
