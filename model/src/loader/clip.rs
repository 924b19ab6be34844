//! Loaders for CLIP checkpoints and the MagicTime text-encoder adapter.
//!
//! Key table (checkpoint key → module path), all else is identical:
//!
//! | checkpoint (transformers / PEFT)                              | module                                |
//! |---------------------------------------------------------------|---------------------------------------|
//! | `….self_attn.{q,k,v,out}_proj.{weight,bias}`                  | `….self_attn.{q,k,v,out}_proj.base.…` |
//! | `base_model.model.….{q,k,v,out}_proj.lora_A[.default].weight` | `….{q,k,v,out}_proj.lora.lora_a.weight` |
//! | `base_model.model.….{q,k,v,out}_proj.lora_B[.default].weight` | `….{q,k,v,out}_proj.lora.lora_b.weight` |
//! | `*.weight` / `*.bias` of LayerNorm                            | `gamma` / `beta` (PyTorchToBurnAdapter) |
//! | `{embeddings,encoder,final_layer_norm}.…` (transformers 5)    | `text_model.…` (vision: `vision_model.…`) |
//!
//! Folders: a transformers/diffusers `text_encoder/` holds `config.json` and `model.safetensors`
//! (or `pytorch_model.bin`); the PEFT/SWIFT `magic_text_encoder/` holds `adapter_config.json`
//! (`r`, `lora_alpha`, `target_modules`) and `adapter_model.safetensors` / `adapter_model.bin`.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use super::peft::{PeftConfigFile, TargetModules};
use super::store::{find_weights, load_file, LoadReport, Missing, Rename, Renames};
use crate::clip::{ClipTextConfig, ClipTextModel, ClipVisionConfig, ClipVisionModel};
use crate::error::{ModelError, Result};
use crate::lora::LoraConfig;

/// Checkpoint ↔ module renames for CLIP towers.
pub const CLIP_RENAMES: Renames = &[Rename::new(
    r"^(.*\.self_attn\.(?:q|k|v|out)_proj)\.(weight|bias)$",
    "$1.base.$2",
    r"^(.*\.self_attn\.(?:q|k|v|out)_proj)\.base\.(weight|bias)$",
    "$1.$2",
)];

/// transformers ≥ 5 saves `CLIPTextModel` without the `text_model.` level; put it back.
pub const TEXT_PREFIX_RENAMES: Renames = &[Rename::new(
    r"^(embeddings|encoder|final_layer_norm)\.",
    "text_model.$1.",
    r"^$",
    "",
)];

/// transformers ≥ 5 saves `CLIPVisionModel` without the `vision_model.` level; put it back.
pub const VISION_PREFIX_RENAMES: Renames = &[Rename::new(
    r"^(embeddings|encoder|pre_layrnorm|post_layernorm)\.",
    "vision_model.$1.",
    r"^$",
    "",
)];

/// PEFT / SWIFT adapter keys → LoRA factors of the wrapped projections (with or without the
/// `text_model.` level: transformers 4.x had it, 5.x not).
pub const PEFT_RENAMES: Renames = &[
    Rename::new(
        r"^(?:base_model\.model\.)?(?:text_model\.)?(.*)\.lora_A(?:\.default)?\.weight$",
        "text_model.$1.lora.lora_a.weight",
        r"^(.*)\.lora\.lora_a\.weight$",
        "base_model.model.$1.lora_A.weight",
    ),
    Rename::new(
        r"^(?:base_model\.model\.)?(?:text_model\.)?(.*)\.lora_B(?:\.default)?\.weight$",
        "text_model.$1.lora.lora_b.weight",
        r"^(.*)\.lora\.lora_b\.weight$",
        "base_model.model.$1.lora_B.weight",
    ),
];

const TEXT_WEIGHTS: &[&str] = &[
    "model.safetensors",
    "pytorch_model.bin",
    "diffusion_pytorch_model.safetensors",
];

/// The gzip-compressed weights the in-domain CLIP trainer writes by default (and the binary
/// embeds).
const GZ_WEIGHTS: &str = "model.safetensors.gz";

/// The weights file of a CLIP folder: one of [`TEXT_WEIGHTS`], else its `model.safetensors.gz`
/// gunzipped into a temporary folder (returned with it, so the file lives while it is read).
fn clip_weights(dir: &Path) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match find_weights(dir, TEXT_WEIGHTS) {
        Ok(p) => Ok((p, None)),
        Err(_) if dir.join(GZ_WEIGHTS).is_file() => {
            let gz = dir.join(GZ_WEIGHTS);
            let tmp = tempfile::tempdir().map_err(|e| ModelError::io(std::env::temp_dir(), e))?;
            let out = tmp.path().join("model.safetensors");
            let file = std::fs::File::open(&gz).map_err(|e| ModelError::from_read(&gz, e))?;
            let mut target = std::fs::File::create(&out).map_err(|e| ModelError::io(&out, e))?;
            std::io::copy(&mut flate2::read::GzDecoder::new(file), &mut target)
                .map_err(|e| ModelError::parse(&gz, format!("not a gzip file: {e}")))?;
            Ok((out, Some(tmp)))
        }
        Err(e) => Err(e),
    }
}

/// `dir` itself when it holds a `config.json`, else `dir/sub` (a diffusers pipeline root).
pub(crate) fn component_dir(dir: &Path, sub: &str) -> PathBuf {
    if dir.join("config.json").is_file() || !dir.join(sub).is_dir() {
        dir.to_path_buf()
    } else {
        dir.join(sub)
    }
}

/// Loads a CLIP text model from a weights file with a known config.
pub fn load_clip_text_file<B: Backend>(
    config: &ClipTextConfig,
    weights: &Path,
    device: &B::Device,
) -> Result<(ClipTextModel<B>, LoadReport)> {
    let mut model = config.init::<B>(device);
    let renames: Vec<Rename> = TEXT_PREFIX_RENAMES
        .iter()
        .chain(CLIP_RENAMES)
        .cloned()
        .collect();
    let report = load_file(&mut model, weights, &renames, Missing::Deny)?;
    Ok((model, report))
}

/// Loads the text encoder of a diffusers folder (`root/text_encoder/` or the folder itself).
pub fn load_clip_text<B: Backend>(dir: &Path, device: &B::Device) -> Result<ClipTextModel<B>> {
    let dir = component_dir(dir, "text_encoder");
    let config = ClipTextConfig::from_hf_json(&dir.join("config.json"))?;
    let (weights, _tmp) = clip_weights(&dir)?;
    Ok(load_clip_text_file(&config, &weights, device)?.0)
}

/// Loads a CLIP vision tower (+ projection) from a weights file with a known config.
pub fn load_clip_vision_file<B: Backend>(
    config: &ClipVisionConfig,
    weights: &Path,
    device: &B::Device,
) -> Result<(ClipVisionModel<B>, LoadReport)> {
    let mut model = config.init::<B>(device);
    let renames: Vec<Rename> = VISION_PREFIX_RENAMES
        .iter()
        .chain(CLIP_RENAMES)
        .cloned()
        .collect();
    let report = load_file(&mut model, weights, &renames, Missing::Deny)?;
    Ok((model, report))
}

/// Loads a CLIP vision tower from a transformers folder (`config.json` + weights).
pub fn load_clip_vision<B: Backend>(dir: &Path, device: &B::Device) -> Result<ClipVisionModel<B>> {
    let dir = component_dir(dir, "image_encoder");
    let config = ClipVisionConfig::from_hf_json(&dir.join("config.json"))?;
    let (weights, _tmp) = clip_weights(&dir)?;
    Ok(load_clip_vision_file(&config, &weights, device)?.0)
}

/// A PEFT/SWIFT LoRA adapter config (`adapter_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct PeftAdapterConfig {
    pub rank: usize,
    pub alpha: f64,
    /// The projection names the adapter wraps (`q_proj`, `k_proj`, `v_proj`, `out_proj`).
    pub targets: Vec<String>,
    /// rsLoRA scaling α/√r instead of α/r.
    pub use_rslora: bool,
}

impl PeftAdapterConfig {
    /// Reads `adapter_config.json`. `target_modules` is a list of names or (SWIFT) a regex over
    /// module paths; `candidates` are the module names the regex is tested against.
    pub fn read(path: &Path, candidates: &[&str]) -> Result<Self> {
        let file = PeftConfigFile::read(path)?;
        let rank = file.rank(path)?;
        let targets = match &file.target_modules {
            Some(TargetModules::Names(names)) => names
                .iter()
                .map(|s| s.rsplit('.').next().unwrap_or(s).to_string())
                .collect::<Vec<_>>(),
            Some(TargetModules::Regex(re)) => {
                let re = regex::Regex::new(re)
                    .map_err(|e| ModelError::parse(path, format!("target_modules regex: {e}")))?;
                candidates
                    .iter()
                    .filter(|c| {
                        re.is_match(&format!("text_model.encoder.layers.0.self_attn.{c}"))
                            || re.is_match(c)
                    })
                    .map(|c| c.to_string())
                    .collect()
            }
            None => return Err(ModelError::parse(path, "no `target_modules`")),
        };
        let unknown: Vec<&String> = targets
            .iter()
            .filter(|t| !candidates.contains(&t.as_str()))
            .collect();
        if !unknown.is_empty() || targets.is_empty() {
            return Err(ModelError::checkpoint(
                path,
                format!("target_modules {targets:?}: supported are {candidates:?}"),
            ));
        }
        if file.has_unsupported_variant() {
            return Err(ModelError::checkpoint(
                path,
                "DoRA and per-module rank/alpha patterns are not supported",
            ));
        }
        Ok(Self {
            rank,
            alpha: file.alpha(rank),
            targets,
            use_rslora: file.use_rslora == Some(true),
        })
    }

    /// The wrapper config: scale α/r, or α/√r with rsLoRA.
    pub fn lora(&self) -> LoraConfig {
        let alpha = if self.use_rslora {
            self.alpha * (self.rank as f64).sqrt()
        } else {
            self.alpha
        };
        LoraConfig::new(self.rank, alpha)
    }
}

const ATTN_PROJ: &[&str] = &["q_proj", "k_proj", "v_proj", "out_proj"];

/// Attaches and loads a PEFT/SWIFT text-encoder adapter folder (MagicTime's
/// `magic_text_encoder/`). The adapters stay unmerged; call `merge_lora()` for inference speed.
pub fn load_text_encoder_adapter<B: Backend>(
    model: ClipTextModel<B>,
    dir: &Path,
    device: &B::Device,
) -> Result<(ClipTextModel<B>, PeftAdapterConfig)> {
    // SWIFT saves the adapter under a per-adapter subfolder (`default/`).
    let (config_path, weights) = super::swift::adapter_files(dir)?;
    let config = PeftAdapterConfig::read(&config_path, ATTN_PROJ)?;
    let targets: Vec<&str> = config.targets.iter().map(String::as_str).collect();
    let mut model = model.with_lora(&targets, &config.lora(), device);
    load_file(
        &mut model,
        &weights,
        PEFT_RENAMES,
        Missing::OnlyContaining(".lora."),
    )?;
    Ok((model, config))
}

/// The learned `logit_scale` (ln of the temperature) of a transformers `CLIPModel` folder's
/// `model.safetensors`, when the file has one.
pub fn read_logit_scale(dir: &Path) -> Option<f32> {
    use burn_store::{ModuleStore, SafetensorsStore};
    // burn-store maps the file and reads this one tensor
    let mut store = SafetensorsStore::from_file(dir.join("model.safetensors"));
    let t = store
        .get_all_snapshots()
        .ok()?
        .get("logit_scale")?
        .to_data()
        .ok()?;
    t.convert::<f32>().to_vec::<f32>().ok()?.first().copied()
}

/// Whether the text-encoder weight `key` is one the Magic Text-Encoder adapts (q/k/v/out of
/// every self-attention).
pub fn is_text_adapter_target(key: &str) -> bool {
    key.contains(".self_attn.")
        && ATTN_PROJ
            .iter()
            .any(|p| key.ends_with(&format!(".{p}.weight")))
}

/// The checkpoint key (transformers layout) of a text-encoder parameter path.
pub fn text_key(path: &[String]) -> String {
    super::store::checkpoint_key(CLIP_RENAMES, &path.join("."))
}

/// Writes a trained Magic Text-Encoder (a [`LoraSet`](crate::lora::LoraSet) on the text
/// encoder, keys from [`text_key`]) as MagicTime's SWIFT folder, which
/// [`load_text_encoder_adapter`] reads back.
pub fn save_text_encoder_adapter<B: Backend>(
    lora: &crate::lora::LoraSet<B>,
    dir: &Path,
) -> Result<u64> {
    let tensors = super::swift::peft_tensors(lora, &|k| k.to_string());
    super::swift::write_adapter(dir, lora.rank, lora.alpha, ATTN_PROJ, &tensors)
}
