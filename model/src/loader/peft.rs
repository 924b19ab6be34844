//! PEFT's `adapter_config.json` (peft `tuners/lora/config.py` `LoraConfig`; SWIFT writes the
//! same file) as a serde struct: the one reader of the LoRA adapters' configs, the text
//! encoder's ([`super::clip::PeftAdapterConfig`]) and the UNet's
//! ([`crate::motion::magic_adapter_t::read_config`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// `target_modules`: module names, or (SWIFT) one regex over module paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    Names(Vec<String>),
    Regex(String),
}

/// The fields of `adapter_config.json` this port reads (null or absent: `None`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeftConfigFile {
    /// The rank.
    pub r: Option<usize>,
    /// α (default: the rank).
    pub lora_alpha: Option<f64>,
    pub target_modules: Option<TargetModules>,
    pub use_rslora: Option<bool>,
    pub use_dora: Option<bool>,
    pub rank_pattern: Option<BTreeMap<String, serde_json::Value>>,
    pub alpha_pattern: Option<BTreeMap<String, serde_json::Value>>,
}

impl PeftConfigFile {
    /// Reads `path`.
    pub fn read(path: &Path) -> crate::Result<Self> {
        super::read_config(path)
    }

    /// The rank, refused (naming `path` and `r`) when absent or 0.
    pub fn rank(&self, path: &Path) -> crate::Result<usize> {
        self.r.filter(|&r| r > 0).ok_or_else(|| {
            crate::ModelError::parse(path, "expected a positive integer `r` (the LoRA rank)")
        })
    }

    /// α, the rank when the file has none.
    pub fn alpha(&self, rank: usize) -> f64 {
        self.lora_alpha.unwrap_or(rank as f64)
    }

    /// DoRA or per-module rank/α patterns (which no loader here supports).
    pub fn has_unsupported_variant(&self) -> bool {
        let non_empty = |m: &Option<BTreeMap<String, serde_json::Value>>| {
            m.as_ref().is_some_and(|m| !m.is_empty())
        };
        self.use_dora == Some(true)
            || non_empty(&self.rank_pattern)
            || non_empty(&self.alpha_pattern)
    }
}
