//! Loader for diffusers' `AutoencoderKL` folders (`vae/config.json` +
//! `diffusion_pytorch_model.safetensors` or `.bin`).
//!
//! Key table (checkpoint key → module path), all else is identical:
//!
//! | checkpoint                                        | module                         |
//! |---------------------------------------------------|--------------------------------|
//! | `…attentions.0.to_out.0.{weight,bias}`            | `…attentions.0.to_out.…`       |
//! | `…attentions.0.{query,key,value,proj_attn}.…` (diffusers < 0.14) | `…{to_q,to_k,to_v,to_out}.…` |
//! | GroupNorm `weight` / `bias`                       | `gamma` / `beta` (adapter)     |

use std::path::Path;

use burn::tensor::backend::Backend;

use super::store::{find_weights, load_file, LoadReport, Missing, Rename, Renames};
use crate::error::Result;
use crate::vae::{AutoencoderKl, AutoencoderKlConfig};

/// Checkpoint ↔ module renames for the VAE.
pub const VAE_RENAMES: Renames = &[
    Rename::new(
        r"\.to_out\.0\.(weight|bias)$",
        ".to_out.$1",
        r"\.to_out\.(weight|bias)$",
        ".to_out.0.$1",
    ),
    Rename::new(
        r"\.attentions\.0\.query\.",
        ".attentions.0.to_q.",
        r"^$",
        "",
    ),
    Rename::new(r"\.attentions\.0\.key\.", ".attentions.0.to_k.", r"^$", ""),
    Rename::new(
        r"\.attentions\.0\.value\.",
        ".attentions.0.to_v.",
        r"^$",
        "",
    ),
    Rename::new(
        r"\.attentions\.0\.proj_attn\.",
        ".attentions.0.to_out.",
        r"^$",
        "",
    ),
];

const VAE_WEIGHTS: &[&str] = &[
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.bin",
];

/// Loads a VAE from a weights file with a known config.
pub fn load_vae_file<B: Backend>(
    config: &AutoencoderKlConfig,
    weights: &Path,
    device: &B::Device,
) -> Result<(AutoencoderKl<B>, LoadReport)> {
    config.validate()?;
    let mut model = config.init::<B>(device);
    let report = load_file(&mut model, weights, VAE_RENAMES, Missing::Deny)?;
    Ok((model, report))
}

/// Loads the VAE of a diffusers folder (`root/vae/` or the folder itself).
pub fn load_vae<B: Backend>(dir: &Path, device: &B::Device) -> Result<AutoencoderKl<B>> {
    let dir = if dir.join("config.json").is_file() || !dir.join("vae").is_dir() {
        dir.to_path_buf()
    } else {
        dir.join("vae")
    };
    let config = AutoencoderKlConfig::from_diffusers_json(&dir.join("config.json"))?;
    let weights = find_weights(&dir, VAE_WEIGHTS)?;
    Ok(load_vae_file(&config, &weights, device)?.0)
}
