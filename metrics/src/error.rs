//! The one error type of the metrics crate.

use std::path::PathBuf;

/// Everything that can go wrong while computing a metric. Messages name the file, key or shape
/// involved so that a failing evaluation says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Two inputs that must agree in a dimension do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        what: String,
        expected: String,
        got: String,
    },
    /// Not enough samples for the requested statistic.
    #[error("{what} needs at least {needed} samples, got {got}")]
    TooFewSamples {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    /// A numerical routine failed (non-finite input, eigensolver did not converge).
    #[error("numerical failure in {what}: {detail}")]
    Numerical { what: &'static str, detail: String },
    /// A weight file the metric needs is absent.
    #[error("missing weights for {model}: {path} not found. {hint}")]
    MissingWeights {
        model: &'static str,
        path: PathBuf,
        hint: String,
    },
    /// A weight or fixture file exists but a tensor in it is missing or has the wrong shape.
    #[error("bad tensor {key:?} in {path}: {detail}")]
    BadTensor {
        path: PathBuf,
        key: String,
        detail: String,
    },
    /// An input file could not be read or parsed.
    #[error("cannot read {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    /// An argument is outside its valid range.
    #[error("invalid argument {name}: {detail}")]
    InvalidArgument { name: &'static str, detail: String },
}

/// `Result` with [`MetricsError`] as the default error.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;
