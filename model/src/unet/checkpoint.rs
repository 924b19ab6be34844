//! Loading a whole UNet from upstream files: a diffusers `unet/` folder (`config.json` +
//! `diffusion_pytorch_model.{safetensors,bin}`), an original LDM single-file checkpoint
//! (`model.diffusion_model.*`, converted like diffusers' `convert_ldm_unet_checkpoint`), then an
//! AnimateDiff motion-module file in either layout.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use super::{UNet3DConditionModel, UNet3DConfig};
use crate::error::{ModelError, Result};
use crate::loader::unet::{load_into, load_into_owned};
use crate::loader::{LoadMode, LoadReport, WeightMap};
use crate::motion::loader::to_diffusers;
use crate::motion::MotionModuleConfig;

impl UNet3DConfig {
    /// Reads diffusers' `unet/config.json` (`UNet2DConditionModel` or `UNetMotionModel`) and adds
    /// AnimateDiff v3 motion modules (8 heads, 32 positions, per-frame GroupNorm).
    pub fn from_diffusers_json(path: &Path) -> Result<Self> {
        /// The fields of diffusers' `UNet2DConditionModel` / `UNetMotionModel` config this port
        /// reads.
        #[derive(serde::Deserialize)]
        struct DiffusersUnet {
            block_out_channels: Option<Vec<usize>>,
            down_block_types: Option<Vec<String>>,
            num_attention_heads: Option<usize>,
            attention_head_dim: Option<usize>,
            motion_num_attention_heads: Option<usize>,
            in_channels: Option<usize>,
            out_channels: Option<usize>,
            layers_per_block: Option<usize>,
            norm_num_groups: Option<usize>,
            cross_attention_dim: Option<usize>,
            norm_eps: Option<f64>,
        }
        let v: DiffusersUnet = crate::loader::read_config(path)?;
        let channels = v
            .block_out_channels
            .ok_or_else(|| ModelError::parse(path, "no `block_out_channels`"))?;
        let cross_attn: Vec<bool> = match &v.down_block_types {
            Some(t) => t.iter().map(|x| x.starts_with("CrossAttn")).collect(),
            None => (0..channels.len())
                .map(|i| i + 1 < channels.len())
                .collect(),
        };
        // diffusers' legacy naming: SD1.5 stores the head count in `attention_head_dim`.
        let heads = v.num_attention_heads.or(v.attention_head_dim).unwrap_or(8);
        let mut c = Self::new(channels, cross_attn)
            .with_attention_heads(heads)
            .with_motion(Some(
                MotionModuleConfig::new(0).with_heads(v.motion_num_attention_heads.unwrap_or(8)),
            ));
        if let Some(x) = v.in_channels {
            c.in_channels = x;
        }
        if let Some(x) = v.out_channels {
            c.out_channels = x;
        }
        if let Some(x) = v.layers_per_block {
            c.layers_per_block = x;
        }
        if let Some(x) = v.norm_num_groups {
            c.norm_num_groups = x;
            if let Some(m) = c.motion.as_mut() {
                m.norm_num_groups = x;
            }
        }
        if let Some(x) = v.cross_attention_dim {
            c.cross_attention_dim = x;
        }
        if let Some(x) = v.norm_eps {
            c.norm_eps = x;
        }
        c.validate()?;
        Ok(c)
    }
}

/// The diffusers key of an original LDM UNet key (`model.diffusion_model.` prefix optional), for
/// `layers` resnets per down block; `None` for keys outside the UNet.
pub fn ldm_unet_key(key: &str, layers: usize) -> Option<String> {
    let k = key.strip_prefix("model.diffusion_model.").unwrap_or(key);
    let resnet = |rest: &str| -> String {
        let mut r = format!(".{rest}");
        for (a, b) in [
            (".in_layers.0.", ".norm1."),
            (".in_layers.2.", ".conv1."),
            (".out_layers.0.", ".norm2."),
            (".out_layers.3.", ".conv2."),
            (".emb_layers.1.", ".time_emb_proj."),
            (".skip_connection.", ".conv_shortcut."),
        ] {
            r = r.replace(a, b);
        }
        r[1..].to_string()
    };
    let split3 = |s: &str| -> Option<(usize, usize, String)> {
        let mut it = s.splitn(3, '.');
        let i = it.next()?.parse().ok()?;
        let j = it.next()?.parse().ok()?;
        Some((i, j, it.next()?.to_string()))
    };
    let is_attention = |rest: &str| {
        rest.starts_with("norm.")
            || rest.starts_with("proj_")
            || rest.starts_with("transformer_blocks.")
    };
    if let Some(rest) = k.strip_prefix("time_embed.") {
        return Some(rest.replacen("0.", "time_embedding.linear_1.", 1).replacen(
            "2.",
            "time_embedding.linear_2.",
            1,
        ));
    }
    if let Some(rest) = k.strip_prefix("out.0.") {
        return Some(format!("conv_norm_out.{rest}"));
    }
    if let Some(rest) = k.strip_prefix("out.2.") {
        return Some(format!("conv_out.{rest}"));
    }
    if let Some(rest) = k.strip_prefix("input_blocks.0.0.") {
        return Some(format!("conv_in.{rest}"));
    }
    if let Some(s) = k.strip_prefix("input_blocks.") {
        let (i, j, rest) = split3(s)?;
        let (b, l) = ((i - 1) / (layers + 1), (i - 1) % (layers + 1));
        return Some(match (j, l == layers) {
            (0, true) => format!(
                "down_blocks.{b}.downsamplers.0.conv.{}",
                rest.strip_prefix("op.")?
            ),
            (0, false) => format!("down_blocks.{b}.resnets.{l}.{}", resnet(&rest)),
            (1, _) => format!("down_blocks.{b}.attentions.{l}.{rest}"),
            _ => return None,
        });
    }
    if let Some(s) = k.strip_prefix("middle_block.") {
        let (j, rest) = s.split_once('.')?;
        return Some(match j {
            "0" => format!("mid_block.resnets.0.{}", resnet(rest)),
            "1" => format!("mid_block.attentions.0.{rest}"),
            "2" => format!("mid_block.resnets.1.{}", resnet(rest)),
            _ => return None,
        });
    }
    if let Some(s) = k.strip_prefix("output_blocks.") {
        let (i, j, rest) = split3(s)?;
        let (b, l) = (i / (layers + 1), i % (layers + 1));
        return Some(match j {
            0 => format!("up_blocks.{b}.resnets.{l}.{}", resnet(&rest)),
            1 if is_attention(&rest) => format!("up_blocks.{b}.attentions.{l}.{rest}"),
            1 | 2 => format!("up_blocks.{b}.upsamplers.0.{rest}"),
            _ => return None,
        });
    }
    None
}

/// Whether a checkpoint is an original LDM single file.
pub fn is_ldm(weights: &WeightMap) -> bool {
    weights
        .tensors
        .keys()
        .any(|k| k.starts_with("model.diffusion_model."))
}

/// Weights of a diffusers `unet/` folder: the first of the usual file names.
pub fn find_unet_weights(dir: &Path) -> Result<PathBuf> {
    for name in [
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.fp16.safetensors",
        "diffusion_pytorch_model.bin",
        "model.safetensors",
    ] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ModelError::MissingFile {
        path: dir.join("diffusion_pytorch_model.safetensors"),
        hint: "a diffusers unet folder holds diffusion_pytorch_model.safetensors or .bin".into(),
    })
}

/// Loads the image UNet (every non-motion parameter must be present; no key may be left over),
/// then the motion modules when a file is given (every motion parameter must be present).
pub fn load_unet<B: Backend>(
    config: &UNet3DConfig,
    base: WeightMap,
    motion: Option<&WeightMap>,
    device: &B::Device,
) -> Result<(UNet3DConditionModel<B>, LoadReport)> {
    let base_path = base.path.clone();
    let base = if is_ldm(&base) {
        let layers = config.layers_per_block;
        base.rename(|k| {
            k.starts_with("model.diffusion_model.")
                .then(|| ldm_unet_key(k, layers))
                .flatten()
        })
    } else {
        base
    };
    // the map is consumed: every tensor moves into the module (the weights are held once)
    let (unet, mut report) = load_into_owned(config.init::<B>(device), base, LoadMode::Partial)?;
    if let Some(k) = report.unused.first() {
        return Err(ModelError::UnexpectedKeys {
            path: base_path.clone(),
            keys: vec![k.clone()],
        });
    }
    let not_motion: Vec<&String> = report
        .missing
        .iter()
        .filter(|k| !k.contains(".motion_modules."))
        .collect();
    if let Some(k) = not_motion.first() {
        return Err(ModelError::MissingKey {
            path: base_path.clone(),
            key: (*k).clone(),
            expected: vec![],
        });
    }
    let Some(motion) = motion else {
        return Ok((unet, report));
    };
    let mm = to_diffusers(motion.clone());
    let (unet, r) = load_into(unet, &mm, LoadMode::Partial)?;
    if let Some(k) = r.unused.first() {
        return Err(ModelError::checkpoint(
            &motion.path,
            format!("motion key `{k}` has no motion module (mid-block modules are not supported: AnimateDiff v3 has none)"),
        ));
    }
    if let Some(k) = r.missing.iter().find(|k| k.contains(".motion_modules.")) {
        return Err(ModelError::MissingKey {
            path: motion.path.clone(),
            key: k.clone(),
            expected: vec![],
        });
    }
    report.loaded += r.loaded;
    report.missing.clear();
    Ok((unet, report))
}

/// For a UNet-related checkpoint (diffusers UNet, LDM single file, motion module, Magic Adapter
/// S), how its keys map onto the SD1.5 [`UNet3DConditionModel`]: matched, shape mismatches,
/// unmapped keys and module parameters the file does not cover. `None` for other files.
pub fn mapping_summary(report: &crate::loader::inspect::FileReport) -> Option<String> {
    use crate::loader::inspect::CheckpointKind as K;
    use std::collections::BTreeMap;
    let keys: Vec<(String, Vec<usize>)> = report
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    let config = UNet3DConfig::sd15();
    let layers = config.layers_per_block;
    let converted: Vec<(String, Option<String>, Vec<usize>)> = match report.kind {
        K::DiffusersUnet => keys
            .into_iter()
            .map(|(k, s)| (k.clone(), Some(k), s))
            .collect(),
        K::LdmSingleFile => keys
            .into_iter()
            .filter(|(k, _)| k.starts_with("model.diffusion_model."))
            .map(|(k, s)| (k.clone(), ldm_unet_key(&k, layers), s))
            .collect(),
        K::MotionModule => keys
            .into_iter()
            .map(|(k, s)| {
                (
                    k.clone(),
                    crate::motion::loader::original_to_diffusers_key(&k),
                    s,
                )
            })
            .collect(),
        K::LoraProcessor => {
            let mut out = vec![];
            for (k, s) in &keys {
                if let Some(t) = super::magic_adapter_s::target_key(k) {
                    let up = keys.iter().find(|(u, _)| *u == k.replace(".down.", ".up."));
                    let shape = up.map(|(_, us)| vec![us[0], s[1]]).unwrap_or_default();
                    out.push((k.clone(), Some(t), shape));
                }
            }
            out
        }
        _ => return None,
    };
    let device = Default::default();
    let module = config.init::<crate::backend::Cpu>(&device);
    let params: BTreeMap<String, Vec<usize>> = crate::loader::unet::parameter_keys(&module)
        .into_iter()
        .collect();
    let (mut matched, mut mismatched, mut unmapped) = (0usize, vec![], vec![]);
    let mut covered = std::collections::BTreeSet::new();
    for (orig, target, shape) in &converted {
        match target.as_ref().and_then(|t| params.get(t).map(|p| (t, p))) {
            Some((t, p)) => {
                covered.insert(t.clone());
                if p.iter().product::<usize>() == shape.iter().product::<usize>() {
                    matched += 1;
                } else {
                    mismatched.push(format!("{orig} {shape:?} -> {t} {p:?}"));
                }
            }
            None if !crate::loader::tensors::is_ignored_buffer(orig) => unmapped.push(orig.clone()),
            None => {}
        }
    }
    let uncovered: Vec<&String> = params.keys().filter(|k| !covered.contains(*k)).collect();
    let motion_uncovered = uncovered
        .iter()
        .filter(|k| k.contains(".motion_modules."))
        .count();
    let mut s = format!(
        "  maps onto UNet3DConditionModel (sd15): {matched} tensors match, {} shape mismatches, {} unmapped keys; \
         module params not in this file: {} motion-module, {} other",
        mismatched.len(),
        unmapped.len(),
        motion_uncovered,
        uncovered.len() - motion_uncovered
    );
    for m in mismatched.iter().take(3) {
        s.push_str(&format!("\n    mismatch: {m}"));
    }
    for u in unmapped.iter().take(3) {
        s.push_str(&format!("\n    unmapped: {u}"));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_sd15_ldm_keys() {
        let cases = [
            (
                "model.diffusion_model.input_blocks.0.0.weight",
                "conv_in.weight",
            ),
            (
                "model.diffusion_model.time_embed.2.bias",
                "time_embedding.linear_2.bias",
            ),
            (
                "model.diffusion_model.input_blocks.1.0.in_layers.0.weight",
                "down_blocks.0.resnets.0.norm1.weight",
            ),
            (
                "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight",
                "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight",
            ),
            (
                "model.diffusion_model.input_blocks.3.0.op.weight",
                "down_blocks.0.downsamplers.0.conv.weight",
            ),
            (
                "model.diffusion_model.input_blocks.4.0.skip_connection.bias",
                "down_blocks.1.resnets.0.conv_shortcut.bias",
            ),
            (
                "model.diffusion_model.middle_block.2.emb_layers.1.weight",
                "mid_block.resnets.1.time_emb_proj.weight",
            ),
            (
                "model.diffusion_model.output_blocks.2.1.conv.weight",
                "up_blocks.0.upsamplers.0.conv.weight",
            ),
            (
                "model.diffusion_model.output_blocks.5.2.conv.bias",
                "up_blocks.1.upsamplers.0.conv.bias",
            ),
            (
                "model.diffusion_model.output_blocks.5.1.proj_out.weight",
                "up_blocks.1.attentions.2.proj_out.weight",
            ),
            ("model.diffusion_model.out.2.weight", "conv_out.weight"),
        ];
        for (ldm, want) in cases {
            assert_eq!(ldm_unet_key(ldm, 2).as_deref(), Some(want), "{ldm}");
        }
    }
}
