//! Errors of reading and validating a scenario. Every one names where it comes from.

use std::fmt;
use std::path::PathBuf;

/// A place in a scenario: a file, and the line and column where known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
}

impl Origin {
    /// The start of `line` of `file`.
    pub fn line(file: impl Into<PathBuf>, line: usize) -> Self {
        Origin {
            file: file.into(),
            line,
            column: 0,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        Ok(())
    }
}

/// Why a scenario could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML or does not match its kind's schema (wrong type,
    /// missing field, unknown field). `message` includes a source snippet when available.
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Origin,
        /// What the parser said.
        message: String,
    },
    /// A document's `apiVersion`/`kind` is not one kubetwin reads.
    #[error("{at}: unsupported object {api_version}/{kind}; {}", SUPPORTED_KINDS)]
    UnsupportedKind {
        /// Where the document starts.
        at: Origin,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// A field's value is invalid or inconsistent with the rest of the scenario.
    #[error("{at}: {object} {field}: {message}")]
    Invalid {
        /// Where the object is defined.
        at: Origin,
        /// `Kind/name` of the object.
        object: String,
        /// The field path inside the object, e.g. `spec.calls[0].service`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A `--set PATH=VALUE` override could not be applied.
    #[error("--set {expression}: {message}")]
    Override {
        /// The override as given.
        expression: String,
        /// What is wrong.
        message: String,
    },
}

/// The kinds a scenario may contain, for error messages.
pub const SUPPORTED_KINDS: &str = "supported: apps/v1 Deployment, v1 Service, v1 Node, v1 Pod, \
    autoscaling/v2 HorizontalPodAutoscaler, kubetwin.io/v1alpha1 Topology|ServiceModel|Workload|Simulation";
