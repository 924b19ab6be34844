//! Loading MagicTime as its release is laid out and loaded (ports `utils/util.py` `load_weights`
//! of PKU-YuanGroup/MagicTime): base SD1.5 (diffusers folders) → AnimateDiff motion module →
//! DreamBooth single file (its UNet over the base UNet's, its VAE and its text encoder) →
//! Magic Adapter S (merged) → Magic Adapter T (SWIFT LoRA on the motion modules, merged) →
//! Magic Text-Encoder (SWIFT LoRA on the CLIP attention, merged).
//!
//! [`ModelPaths`] names every file; [`ModelPaths::find`] finds them in a folder (the `ckpts/`
//! tree or a flat weights folder), `crate::sample_config` from an upstream YAML config.
//! [`load`] is the one loader every entry point goes through.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use super::tensors::WeightMap;
use crate::clip::text::ClipTextModel;
use crate::error::{ModelError, Result};
use crate::motion::MotionModuleConfig;
use crate::unet::{UNet3DConditionModel, UNet3DConfig};
use crate::vae::{AutoencoderKl, AutoencoderKlConfig};

/// The MagicTime adapters (`--adapters s,t,te`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Adapter {
    /// Magic Adapter S: spatial-attention LoRA (`magic_adapter_s.ckpt`), merged.
    S,
    /// Magic Adapter T: motion-module LoRA (`magic_adapter_t/`), merged.
    T,
    /// Magic Text-Encoder: CLIP attention LoRA (`magic_text_encoder/`), merged.
    Te,
}

/// Every file of a MagicTime model; `None` = not used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelPaths {
    /// SD1.5 in diffusers layout (`unet/`, `text_encoder/`, `vae/`).
    pub base: PathBuf,
    /// AnimateDiff motion module (`motion_module.ckpt`, original or diffusers keys).
    pub motion_module: Option<PathBuf>,
    /// DreamBooth model: an original-LDM single file (`.safetensors` or `.ckpt`).
    pub dreambooth: Option<PathBuf>,
    /// `magic_adapter_s.ckpt` (LoRA-processor keys).
    pub adapter_s: Option<PathBuf>,
    /// `magic_adapter_t/` (SWIFT or PEFT folder).
    pub adapter_t: Option<PathBuf>,
    /// `magic_text_encoder/` (SWIFT or PEFT folder).
    pub text_encoder_adapter: Option<PathBuf>,
}

/// What the upstream config sets beyond the files: the motion modules' shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MotionOverrides {
    /// Motion-module attention heads (`motion_module_kwargs.num_attention_heads`).
    pub heads: Option<usize>,
    /// Position table length (`temporal_position_encoding_max_len`).
    pub max_len: Option<usize>,
}

fn first_existing(paths: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    paths.into_iter().find(|p| p.exists())
}

impl ModelPaths {
    /// Finds the files in `dir`, in MagicTime's `ckpts/` layout or flat:
    /// - SD1.5 (diffusers layout) at `dir`, `dir/stable-diffusion-v1-5` or
    ///   `dir/Base_Model/stable-diffusion-v1-5`;
    /// - the motion module `motion_module.{ckpt,safetensors}` or `v3_sd15_mm.{ckpt,safetensors}`
    ///   in `dir`, `dir/motion_module/` or `dir/Base_Model/motion_module/`;
    /// - the adapters in `dir` or `dir/Magic_Weights/`: `magic_adapter_s/magic_adapter_s.ckpt`,
    ///   `magic_adapter_t/`, `magic_text_encoder/`.
    ///
    /// No DreamBooth model (a folder may hold several: a sample config names one).
    /// `adapters`: `None` = every adapter present; `Some(list)` = exactly these (missing → error).
    pub fn find(dir: &Path, adapters: Option<&[Adapter]>) -> Result<Self> {
        let base = first_existing(
            [
                "",
                "stable-diffusion-v1-5",
                "Base_Model/stable-diffusion-v1-5",
            ]
            .iter()
            .map(|s| dir.join(s).join("unet")),
        )
        .and_then(|u| u.parent().map(Path::to_path_buf))
        .ok_or_else(|| ModelError::MissingFile {
            path: dir.join("unet/config.json"),
            hint: "expected a diffusers SD1.5 folder (text_encoder/, vae/, unet/) there, in \
                   stable-diffusion-v1-5/ or in Base_Model/stable-diffusion-v1-5/"
                .into(),
        })?;
        let mm_dirs = [
            dir.to_path_buf(),
            dir.join("motion_module"),
            dir.join("Base_Model/motion_module"),
        ];
        let motion_module = first_existing(mm_dirs.iter().flat_map(|d| {
            [
                "motion_module.safetensors",
                "motion_module.ckpt",
                "v3_sd15_mm.ckpt",
                "v3_sd15_mm.safetensors",
            ]
            .map(|n| d.join(n))
        }));
        if motion_module.is_none() {
            tracing::warn!(
                "no motion module found under {}: frames will not be coherent",
                dir.display()
            );
        }
        let magic = [dir.to_path_buf(), dir.join("Magic_Weights")];
        let s = first_existing(magic.iter().flat_map(|d| {
            [
                d.join("magic_adapter_s/magic_adapter_s.ckpt"),
                d.join("magic_adapter_s/magic_adapter_s.safetensors"),
                d.join("magic_adapter_s.ckpt"),
                d.join("magic_adapter_s.safetensors"),
            ]
        }));
        let t = first_existing(magic.iter().map(|d| d.join("magic_adapter_t")));
        let te = first_existing(magic.iter().map(|d| d.join("magic_text_encoder")));
        let mut paths = Self {
            base,
            motion_module,
            dreambooth: None,
            adapter_s: s,
            adapter_t: t,
            text_encoder_adapter: te,
        };
        if let Some(list) = adapters {
            for (a, found, name) in [
                (
                    Adapter::S,
                    &mut paths.adapter_s,
                    "magic_adapter_s/magic_adapter_s.ckpt",
                ),
                (Adapter::T, &mut paths.adapter_t, "magic_adapter_t/"),
                (
                    Adapter::Te,
                    &mut paths.text_encoder_adapter,
                    "magic_text_encoder/",
                ),
            ] {
                if !list.contains(&a) {
                    *found = None;
                } else if found.is_none() {
                    return Err(ModelError::MissingFile {
                        path: dir.join(name),
                        hint: "requested with --adapters".into(),
                    });
                }
            }
        }
        Ok(paths)
    }
}

/// The networks of a loaded model.
#[derive(Debug)]
pub struct Loaded<B: Backend> {
    pub text_encoder: ClipTextModel<B>,
    pub unet: UNet3DConditionModel<B>,
    pub vae: AutoencoderKl<B>,
    /// VAE spatial downscale.
    pub vae_downscale: usize,
}

/// Loads every file of `paths` in MagicTime's order (see the module doc).
pub fn load<B: Backend>(
    paths: &ModelPaths,
    motion: MotionOverrides,
    device: &B::Device,
) -> Result<Loaded<B>> {
    use crate::unet::checkpoint::{find_unet_weights, is_ldm, ldm_unet_key, load_unet};
    let base = &paths.base;
    // 1. base UNet config (+ the config's motion-module shape)
    let unet_dir = base.join("unet");
    let mut config = UNet3DConfig::from_diffusers_json(&unet_dir.join("config.json"))?;
    let m: &mut MotionModuleConfig = config.motion.as_mut().expect("motion config");
    if let Some(h) = motion.heads {
        m.heads = h;
    }
    if let Some(l) = motion.max_len {
        m.max_len = l;
    }
    config.validate()?;
    let mut unet_weights = WeightMap::open(find_unet_weights(&unet_dir)?)?;
    // 2. DreamBooth: its UNet over the base's (non-strict, as upstream)
    if let Some(db) = &paths.dreambooth {
        tracing::info!(path = %db.display(), "DreamBooth model");
        let w = WeightMap::open(db)?;
        if !is_ldm(&w) {
            return Err(ModelError::checkpoint(
                db,
                "expected an original-LDM single-file checkpoint (keys model.diffusion_model.…, \
                 first_stage_model.…, cond_stage_model.…), as DreamBooth models ship",
            ));
        }
        let layers = config.layers_per_block;
        let converted = w.rename(|k| {
            k.starts_with("model.diffusion_model.")
                .then(|| ldm_unet_key(k, layers))
                .flatten()
        });
        unet_weights.tensors.extend(converted.tensors);
    }
    // 3. motion module
    let mm = paths
        .motion_module
        .as_ref()
        .map(WeightMap::open)
        .transpose()?;
    let (mut unet, _) = load_unet::<B>(&config, unet_weights, mm.as_ref(), device)?;
    let vae_config = AutoencoderKlConfig::from_diffusers_json(&base.join("vae/config.json"))?;
    let (mut text_encoder, vae) = match &paths.dreambooth {
        None => (
            crate::loader::clip::load_clip_text::<B>(base, device)?,
            crate::loader::vae::load_vae::<B>(base, device)?,
        ),
        Some(db) => {
            use crate::loader::single_file::{load_clip_text_single_file, load_vae_single_file};
            let text_config = crate::clip::ClipTextConfig::from_hf_json(
                &crate::loader::clip::component_dir(base, "text_encoder").join("config.json"),
            )?;
            (
                load_clip_text_single_file::<B>(&text_config, db, device)?.0,
                load_vae_single_file::<B>(&vae_config, db, device)?.0,
            )
        }
    };
    // 4. adapters, in MagicTime's order
    if let Some(p) = &paths.adapter_s {
        let lora = WeightMap::open(p)?;
        unet = crate::unet::magic_adapter_s::merge(unet, &lora, 1.0, device)?.0;
    }
    if let Some(d) = &paths.adapter_t {
        unet = crate::motion::magic_adapter_t::merge(unet, d, device)?.0;
    }
    if let Some(d) = &paths.text_encoder_adapter {
        text_encoder = crate::loader::clip::load_text_encoder_adapter(text_encoder, d, device)?
            .0
            .merge_lora();
    }
    Ok(Loaded {
        text_encoder,
        unet,
        vae,
        vae_downscale: vae_config.downscale(),
    })
}
