//! The import's other inputs: a fitted model (`--model`, kubetwin documents) and node prices
//! by instance type (`--prices`).

use std::collections::BTreeMap;
use std::path::Path;

use super::ImportError;
use crate::model::kinds::{
    API_VERSION, Object, ServiceModelSpec, SimulationSpec, TopologySpec, WorkloadSpec,
};
use crate::model::{
    Doc, Document, ScenarioError, read_documents, read_header, read_object, split_documents,
};

/// What a fitted model says that Kubernetes does not: the documents `kubetwin fit
/// --prometheus` writes (ServiceModels and a Workload), optionally a Topology (its
/// latencies and location tiers are used) and a Simulation (used as is).
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// ServiceModels, matched to workloads by `spec.deployment` or name.
    pub service_models: Vec<Doc<Object<ServiceModelSpec>>>,
    /// The users' location, request types and flows.
    pub workload: Option<Doc<Object<WorkloadSpec>>>,
    /// Latencies (`spec.latency`) and tiers of the locations it names.
    pub topology: Option<Doc<Object<TopologySpec>>>,
    /// Run settings.
    pub simulation: Option<Doc<Object<SimulationSpec>>>,
}

impl Model {
    /// Reads a model file: multi-document YAML of kubetwin kinds only.
    ///
    /// # Errors
    /// An unreadable file, a malformed document (file, line, field path), a kind other than
    /// ServiceModel, Workload, Topology or Simulation, or two of a singleton kind.
    pub fn read(path: &Path) -> Result<Model, ImportError> {
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Model::from_documents(read_documents(path)?, base_dir)
    }

    /// Reads a model from `text`, as if it were the file `name` (for messages), e.g. the
    /// `model.yaml` key of a ConfigMap.
    ///
    /// # Errors
    /// As [`Model::read`].
    pub fn parse(name: &Path, text: &str) -> Result<Model, ImportError> {
        Model::from_documents(split_documents(name, text), Path::new("."))
    }

    fn from_documents(documents: Vec<Document>, base_dir: &Path) -> Result<Model, ImportError> {
        let mut model = Model::default();
        for document in documents {
            let (api_version, kind) = read_header(&document)?;
            fn doc<T>(document: &Document, base_dir: &Path, object: T) -> Doc<T> {
                Doc {
                    origin: document.origin(),
                    base_dir: base_dir.to_owned(),
                    object,
                }
            }
            match (api_version.as_str(), kind.as_str()) {
                (API_VERSION, "ServiceModel") => model.service_models.push(doc(
                    &document,
                    base_dir,
                    read_object(&document, true)?,
                )),
                (API_VERSION, "Workload") => {
                    once(&mut model.workload, &document)?;
                    model.workload = Some(doc(&document, base_dir, read_object(&document, true)?));
                }
                (API_VERSION, "Topology") => {
                    once(&mut model.topology, &document)?;
                    model.topology = Some(doc(&document, base_dir, read_object(&document, true)?));
                }
                (API_VERSION, "Simulation") => {
                    once(&mut model.simulation, &document)?;
                    model.simulation =
                        Some(doc(&document, base_dir, read_object(&document, true)?));
                }
                _ => {
                    return Err(ScenarioError::Syntax {
                        at: document.origin(),
                        message: format!(
                            "a model holds {API_VERSION} ServiceModel, Workload, Topology and \
                             Simulation documents, not {api_version}/{kind}"
                        ),
                    }
                    .into());
                }
            }
        }
        Ok(model)
    }
}

/// Fails when `slot` is already filled.
fn once<T>(slot: &mut Option<Doc<T>>, document: &Document) -> Result<(), ScenarioError> {
    match slot {
        Some(previous) => Err(ScenarioError::Syntax {
            at: document.origin(),
            message: format!(
                "a second document of this kind; the first is at {}",
                previous.origin
            ),
        }),
        None => Ok(()),
    }
}

/// Reads prices per hour by instance type: a YAML map such as `m5.large: 0.096`.
///
/// # Errors
/// [`ImportError::Prices`] when the file is unreadable, not such a map, or holds a price
/// that is not a number >= 0.
pub fn read_prices(path: &Path) -> Result<BTreeMap<String, f64>, ImportError> {
    let error = |message: String| ImportError::Prices {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let prices: BTreeMap<String, f64> = serde_saphyr::from_str(&text).map_err(|e| {
        error(format!(
            "expected a map from instance type to price per hour: {e}"
        ))
    })?;
    match prices.iter().find(|(_, p)| !(p.is_finite() && **p >= 0.0)) {
        Some((instance_type, p)) => Err(error(format!(
            "{instance_type}: price {p} is not a number >= 0"
        ))),
        None => Ok(prices),
    }
}
