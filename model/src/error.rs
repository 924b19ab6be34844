//! The one error type of the model crate.
//!
//! Every loader error names the file, and where it applies the key and both shapes, so a user
//! holding a wrong checkpoint sees at once what does not fit.

use std::path::PathBuf;

/// Errors of the model crate (loading checkpoints, tokenising, configuring, choosing a backend).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file that a loader needs does not exist.
    #[error("{path}: file not found{}", hint_suffix(.hint))]
    MissingFile { path: PathBuf, hint: String },

    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file exists but cannot be parsed (bad JSON, bad safetensors header, bad pickle, ...).
    #[error("{path}: cannot parse: {msg}")]
    Parse { path: PathBuf, msg: String },

    /// A tensor the module needs is absent from the checkpoint.
    #[error("{path}: missing key `{key}` (module expects shape {expected:?})")]
    MissingKey {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
    },

    /// A tensor is present but its shape differs from the module's.
    #[error("{path}: key `{key}` has shape {found:?}, module expects {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// A checkpoint holds keys that map to nothing (strict loading).
    #[error("{path}: {} unexpected key(s), first `{}`", .keys.len(), .keys.first().map(String::as_str).unwrap_or(""))]
    UnexpectedKeys { path: PathBuf, keys: Vec<String> },

    /// Any other checkpoint problem (wrong dtype, inconsistent adapter config, ...).
    #[error("{path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },

    /// A configuration that cannot describe a valid network or scheduler.
    #[error("invalid config: {0}")]
    Config(String),

    /// A prompt longer than the text encoder's context (only in strict tokenisation).
    #[error(
        "prompt has {tokens} tokens (with start/end), more than the {max} allowed: {prompt:?}"
    )]
    PromptTooLong {
        prompt: String,
        tokens: usize,
        max: usize,
    },

    /// A call argument (tensor shape, step index, ...) outside what the function accepts.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The requested backend cannot run here (feature not built, no driver, no device).
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" ({hint})")
    }
}

/// Result type of the model crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    /// A `MissingFile` error without a hint.
    pub fn missing_file(path: impl Into<PathBuf>) -> Self {
        Self::MissingFile {
            path: path.into(),
            hint: String::new(),
        }
    }

    /// `MissingFile` when `path` does not exist, else `Io` for it.
    pub fn from_read(path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::missing_file(path)
        } else {
            Self::io(path, source)
        }
    }

    /// An `Io` error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A `Parse` error for `path`.
    pub fn parse(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Self::Parse {
            path: path.into(),
            msg: msg.to_string(),
        }
    }

    /// A `Checkpoint` error for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Self::Checkpoint {
            path: path.into(),
            msg: msg.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_key_and_shapes() {
        let e = ModelError::ShapeMismatch {
            path: "vae/model.safetensors".into(),
            key: "decoder.conv_in.weight".into(),
            expected: vec![512, 4, 3, 3],
            found: vec![256, 4, 3, 3],
        };
        let s = e.to_string();
        assert!(s.contains("vae/model.safetensors"), "{s}");
        assert!(s.contains("decoder.conv_in.weight"), "{s}");
        assert!(
            s.contains("[512, 4, 3, 3]") && s.contains("[256, 4, 3, 3]"),
            "{s}"
        );
        let m = ModelError::MissingFile {
            path: "x/config.json".into(),
            hint: "a diffusers folder has one".into(),
        };
        assert_eq!(
            m.to_string(),
            "x/config.json: file not found (a diffusers folder has one)"
        );
    }
}
