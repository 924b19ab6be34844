//! The crate's one error type. Every variant names the file (or key) it is about.

use std::path::{Path, PathBuf};

/// Errors of the data pipeline. Variants name the offending file so that a batch job can skip
/// it and report it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: file not found")]
    NotFound { path: PathBuf },
    #[error("{path}: empty file (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path}: not a media file ffmpeg can open ({reason})")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: no video stream (audio-only or data file)")]
    NoVideoStream { path: PathBuf },
    #[error("{path}: corrupt or truncated video ({reason})")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: no frames could be decoded")]
    NoFrames { path: PathBuf },
    #[error("{path}: cannot encode ({reason})")]
    Encode { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: bad configuration: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: bad manifest/metadata: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("model weights {path}: {reason}")]
    Weights { path: PathBuf, reason: String },
    #[error("captioner: {0}")]
    Captioner(String),
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataError::NotFound { path }
            | DataError::Empty { path }
            | DataError::Unreadable { path, .. }
            | DataError::NoVideoStream { path }
            | DataError::Corrupt { path, .. }
            | DataError::NoFrames { path }
            | DataError::Encode { path, .. }
            | DataError::Io { path, .. }
            | DataError::Config { path, .. }
            | DataError::Manifest { path, .. }
            | DataError::Weights { path, .. } => Some(path),
            DataError::Invalid(_) | DataError::Captioner(_) => None,
        }
    }
}
