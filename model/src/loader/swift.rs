//! The PEFT / ModelScope-SWIFT adapter folder layout MagicTime releases its Magic Adapter T and
//! Magic Text-Encoder in:
//!
//! ```text
//! magic_adapter_t/                  magic_text_encoder/
//!   configuration.json                configuration.json
//!   default/                          default/
//!     adapter_config.json               adapter_config.json   (r, lora_alpha, target_modules)
//!     adapter_model.bin                 adapter_model.bin     (PEFT keys: ….lora_A/.lora_B.weight)
//! ```
//!
//! A plain PEFT folder (`adapter_config.json` + `adapter_model.*` at the top) is read too.
//! [`adapter_dir`] resolves either for the loaders; [`write_adapter`] writes the SWIFT layout
//! (weights as `adapter_model.safetensors`, which the loaders read like the `.bin`).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::error::{ModelError, Result};
use crate::lora::LoraSet;
use crate::train::save::{self, SavedTensor};

/// The SWIFT adapter name MagicTime's folders use.
pub const ADAPTER_NAME: &str = "default";

/// The folder that holds `adapter_config.json`: `dir` itself (plain PEFT) or `dir/default/`
/// (SWIFT). When neither has one, `dir` (the loader's error then names the missing file).
pub fn adapter_dir(dir: &Path) -> PathBuf {
    let sub = dir.join(ADAPTER_NAME);
    if !dir.join("adapter_config.json").is_file() && sub.join("adapter_config.json").is_file() {
        sub
    } else {
        dir.to_path_buf()
    }
}

/// The weight file names a PEFT/SWIFT adapter folder may hold, in the order they are looked for.
pub const WEIGHT_FILES: &[&str] = &["adapter_model.safetensors", "adapter_model.bin"];

/// The two files of an adapter folder in either layout: `(adapter_config.json, adapter_model.*)`.
/// A folder that is missing, or holds neither layout completely, is an error that names the
/// folder and the files it should hold.
pub fn adapter_files(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let expected = format!(
        "expected the SWIFT layout ({n}/adapter_config.json + {n}/adapter_model.bin or \
         .safetensors, as MagicTime releases it) or a PEFT folder (adapter_config.json + \
         adapter_model.bin or .safetensors)",
        n = ADAPTER_NAME
    );
    if !dir.is_dir() {
        return Err(ModelError::MissingFile {
            path: dir.to_path_buf(),
            hint: format!("an adapter folder: {expected}"),
        });
    }
    let root = adapter_dir(dir);
    let config = root.join("adapter_config.json");
    if !config.is_file() {
        return Err(ModelError::MissingFile {
            path: dir.join(ADAPTER_NAME).join("adapter_config.json"),
            hint: expected,
        });
    }
    let weights = WEIGHT_FILES
        .iter()
        .map(|n| root.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError::MissingFile {
            path: root.join("adapter_model.bin"),
            hint: format!(
                "{} has adapter_config.json but no adapter_model.bin or .safetensors next to it",
                root.display()
            ),
        })?;
    Ok((config, weights))
}

/// PEFT's saved key of the factor `ab` ("A" or "B") of the weight `target` (`….weight`):
/// `base_model.model.<module>.lora_A.weight`.
pub fn peft_key(target: &str, ab: &str) -> String {
    let module = target.strip_suffix(".weight").unwrap_or(target);
    format!("base_model.model.{module}.lora_{ab}.weight")
}

/// The factors of `lora` as PEFT tensors in torch layout (`lora_A` `[r, in]`, `lora_B`
/// `[out, r]`), each target's key mapped by `key_of_target` first (e.g. to another layout).
pub fn peft_tensors<B: Backend>(
    lora: &LoraSet<B>,
    key_of_target: &dyn Fn(&str) -> String,
) -> Vec<SavedTensor> {
    let mut out = Vec::with_capacity(2 * lora.targets.len());
    for (target, a) in lora.targets.iter().zip(&lora.adapters) {
        let key = key_of_target(target);
        for (ab, w) in [("A", a.lora_a.weight.val()), ("B", a.lora_b.weight.val())] {
            let t = w.transpose();
            out.push(SavedTensor {
                key: peft_key(&key, ab),
                shape: t.dims().to_vec(),
                data: t.into_data().convert::<f32>().to_vec().expect("f32 factor"),
            });
        }
    }
    out
}

/// Writes a SWIFT adapter folder: `configuration.json`, `default/adapter_config.json` (PEFT
/// `LORA`, rank, α, `target_modules`) and `default/adapter_model.safetensors` (f32).
/// Returns the bytes written.
pub fn write_adapter(
    dir: &Path,
    rank: usize,
    alpha: f64,
    target_modules: &[&str],
    tensors: &[SavedTensor],
) -> Result<u64> {
    let json = |v: serde_json::Value| serde_json::to_vec_pretty(&v).unwrap_or_default();
    let files = [
        (
            dir.join("configuration.json"),
            json(serde_json::json!({"framework": "pytorch", "task": "text-to-video-synthesis"})),
        ),
        (
            dir.join(ADAPTER_NAME).join("adapter_config.json"),
            json(serde_json::json!({
                "peft_type": "LORA",
                "r": rank,
                "lora_alpha": alpha,
                "lora_dropout": 0.0,
                "bias": "none",
                "target_modules": target_modules,
            })),
        ),
        (
            dir.join(ADAPTER_NAME).join("adapter_model.safetensors"),
            save::to_safetensors(tensors, false)?,
        ),
    ];
    let mut total = 0;
    for (path, bytes) in files {
        save::write_file(&path, &bytes)?;
        total += bytes.len() as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_swift_and_plain_folders() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(adapter_dir(d.path()), d.path());
        std::fs::create_dir_all(d.path().join("default")).unwrap();
        std::fs::write(d.path().join("default/adapter_config.json"), "{}").unwrap();
        assert_eq!(adapter_dir(d.path()), d.path().join("default"));
        std::fs::write(d.path().join("adapter_config.json"), "{}").unwrap();
        assert_eq!(adapter_dir(d.path()), d.path());
        assert_eq!(
            peft_key("a.b.to_q.weight", "B"),
            "base_model.model.a.b.to_q.lora_B.weight"
        );
    }
}
