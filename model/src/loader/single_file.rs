//! Original-LDM single-file checkpoints (`*.safetensors` / `*.ckpt` as DreamBooth models such as
//! RealisticVision ship): the VAE under `first_stage_model.` and the CLIP text encoder under
//! `cond_stage_model.transformer.`, converted on the fly like diffusers'
//! `loaders/single_file_utils.py` (`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`).
//! The UNet keys (`model.diffusion_model.`) are left to the UNet loader.
//!
//! VAE key table (after the prefix; `n` = number of blocks, decoder blocks are numbered in reverse):
//!
//! | LDM                                   | diffusers / module                        |
//! |---------------------------------------|-------------------------------------------|
//! | `encoder.down.{i}.block.{j}.`         | `encoder.down_blocks.{i}.resnets.{j}.`    |
//! | `encoder.down.{i}.downsample.conv.`   | `encoder.down_blocks.{i}.downsamplers.0.conv.` |
//! | `decoder.up.{i}.block.{j}.`           | `decoder.up_blocks.{n−1−i}.resnets.{j}.`  |
//! | `decoder.up.{i}.upsample.conv.`       | `decoder.up_blocks.{n−1−i}.upsamplers.0.conv.` |
//! | `{enc,dec}.mid.block_{1,2}.`          | `….mid_block.resnets.{0,1}.`              |
//! | `{enc,dec}.mid.attn_1.{norm,q,k,v,proj_out}.` | `….mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out}.` (1×1 conv → Linear) |
//! | `nin_shortcut`, `norm_out`            | `conv_shortcut`, `conv_norm_out`          |
//!
//! Errors on these files print module paths (diffusers naming), not the LDM keys.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::clip::CLIP_RENAMES;
use super::store::{load_file, LoadReport, Missing, Rename};
use crate::clip::{ClipTextConfig, ClipTextModel};
use crate::error::Result;
use crate::vae::{AutoencoderKl, AutoencoderKlConfig};

/// LDM → diffusers renames for a VAE with `n_blocks` blocks.
pub fn ldm_vae_renames(n_blocks: usize) -> Vec<Rename> {
    let mut r = vec![
        Rename::one_way(r"^(?:first_stage_model|vae)\.", ""),
        Rename::one_way(
            r"^encoder\.down\.(\d+)\.block\.",
            "encoder.down_blocks.$1.resnets.",
        ),
        Rename::one_way(
            r"^encoder\.down\.(\d+)\.downsample\.conv\.",
            "encoder.down_blocks.$1.downsamplers.0.conv.",
        ),
    ];
    for i in 0..n_blocks {
        let j = n_blocks - 1 - i;
        r.push(Rename::one_way(
            format!(r"^decoder\.up\.{i}\.block\."),
            format!("decoder.up_blocks.{j}.resnets."),
        ));
        r.push(Rename::one_way(
            format!(r"^decoder\.up\.{i}\.upsample\.conv\."),
            format!("decoder.up_blocks.{j}.upsamplers.0.conv."),
        ));
    }
    r.extend([
        Rename::one_way(
            r"^(encoder|decoder)\.mid\.block_1\.",
            "$1.mid_block.resnets.0.",
        ),
        Rename::one_way(
            r"^(encoder|decoder)\.mid\.block_2\.",
            "$1.mid_block.resnets.1.",
        ),
        Rename::one_way(
            r"^(encoder|decoder)\.mid\.attn_1\.norm\.",
            "$1.mid_block.attentions.0.group_norm.",
        ),
        Rename::one_way(
            r"^(encoder|decoder)\.mid\.attn_1\.(q|k|v)\.",
            "$1.mid_block.attentions.0.to_$2.",
        ),
        Rename::one_way(
            r"^(encoder|decoder)\.mid\.attn_1\.proj_out\.",
            "$1.mid_block.attentions.0.to_out.",
        ),
        Rename::one_way(r"\.nin_shortcut\.", ".conv_shortcut."),
        Rename::one_way(r"^(encoder|decoder)\.norm_out\.", "$1.conv_norm_out."),
    ]);
    r
}

/// Loads the VAE out of an LDM single-file checkpoint.
pub fn load_vae_single_file<B: Backend>(
    config: &AutoencoderKlConfig,
    path: &Path,
    device: &B::Device,
) -> Result<(AutoencoderKl<B>, LoadReport)> {
    config.validate()?;
    let mut model = config.init::<B>(device);
    let renames = ldm_vae_renames(config.block_out_channels.len());
    let report = load_file(&mut model, path, &renames, Missing::Deny)?;
    Ok((model, report))
}

/// Loads the CLIP text encoder out of an LDM single-file checkpoint (SD1.x layout).
pub fn load_clip_text_single_file<B: Backend>(
    config: &ClipTextConfig,
    path: &Path,
    device: &B::Device,
) -> Result<(ClipTextModel<B>, LoadReport)> {
    let mut model = config.init::<B>(device);
    // Older checkpoints lack the `text_model.` level under the prefix.
    let mut renames = vec![Rename::one_way(
        r"^cond_stage_model\.transformer\.(?:text_model\.)?",
        "text_model.",
    )];
    renames.extend(CLIP_RENAMES.iter().cloned());
    let report = load_file(&mut model, path, &renames, Missing::Deny)?;
    Ok((model, report))
}
