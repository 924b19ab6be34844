//! Key conversion for AnimateDiff motion-module checkpoints (ports the key mapping of diffusers'
//! `scripts/convert_animatediff_motion_module_to_diffusers.py`).
//!
//! | original AnimateDiff (`v3_sd15_mm.ckpt`)                     | diffusers / this crate        |
//! |--------------------------------------------------------------|-------------------------------|
//! | `module.` prefix (DDP checkpoints)                            | dropped                       |
//! | `….motion_modules.M.temporal_transformer.…`                   | `….motion_modules.M.…`        |
//! | `transformer_blocks.N.attention_blocks.0` / `.1`              | `….attn1` / `….attn2`         |
//! | `transformer_blocks.N.norms.0` / `.1`                         | `….norm1` / `….norm2`         |
//! | `transformer_blocks.N.ff_norm`                                | `….norm3`                     |
//! | `…pos_encoder.pe`                                            | dropped (computed)            |
//!
//! A diffusers `MotionAdapter` file uses the UNet's keys already, except that its mid-block
//! modules live under `mid_block.motion_modules` (none in v3).

use std::path::Path;

use crate::error::Result;
use crate::loader::tensors::{is_ignored_buffer, WeightMap};

/// Converts one original AnimateDiff key to the diffusers key; `None` for keys that are not
/// motion-module parameters (or are computed buffers).
pub fn original_to_diffusers_key(key: &str) -> Option<String> {
    let key = key.strip_prefix("module.").unwrap_or(key);
    if !key.contains(".motion_modules.") || is_ignored_buffer(key) {
        return None;
    }
    let key = key.replace(".temporal_transformer.", ".");
    let mut out = format!(".{key}");
    for (from, to) in [
        (".attention_blocks.0.", ".attn1."),
        (".attention_blocks.1.", ".attn2."),
        (".norms.0.", ".norm1."),
        (".norms.1.", ".norm2."),
        (".ff_norm.", ".norm3."),
    ] {
        out = out.replace(from, to);
    }
    Some(out[1..].to_string())
}

/// The original AnimateDiff key of a diffusers motion-module key (the inverse of
/// [`original_to_diffusers_key`] without the `module.` prefix); `None` for other keys.
pub fn diffusers_to_original_key(key: &str) -> Option<String> {
    let (head, tail) = key.split_once(".motion_modules.")?;
    let (m, rest) = tail.split_once('.')?;
    let mut rest = format!(".{rest}");
    for (from, to) in [
        (".attn1.", ".attention_blocks.0."),
        (".attn2.", ".attention_blocks.1."),
        (".norm1.", ".norms.0."),
        (".norm2.", ".norms.1."),
        (".norm3.", ".ff_norm."),
    ] {
        rest = rest.replace(from, to);
    }
    Some(format!(
        "{head}.motion_modules.{m}.temporal_transformer{rest}"
    ))
}

/// Whether a checkpoint uses the original AnimateDiff layout.
pub fn is_original_layout(weights: &WeightMap) -> bool {
    weights
        .tensors
        .keys()
        .any(|k| k.contains(".temporal_transformer."))
}

/// Reads a motion-module safetensors file in either layout and returns diffusers keys.
pub fn read_motion_modules(path: impl AsRef<Path>) -> Result<WeightMap> {
    let w = WeightMap::from_safetensors(path)?;
    Ok(to_diffusers(w))
}

/// Converts a motion-module map in either layout to diffusers keys (motion keys only).
pub fn to_diffusers(w: WeightMap) -> WeightMap {
    if is_original_layout(&w) {
        w.rename(original_to_diffusers_key)
    } else {
        w.rename(|k| {
            (k.contains(".motion_modules.") && !is_ignored_buffer(k)).then(|| k.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_original_keys() {
        let k = "module.up_blocks.1.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.weight";
        assert_eq!(
            original_to_diffusers_key(k).unwrap(),
            "up_blocks.1.motion_modules.2.transformer_blocks.0.attn2.to_out.0.weight"
        );
        let k =
            "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.ff_norm.bias";
        assert_eq!(
            original_to_diffusers_key(k).unwrap(),
            "down_blocks.0.motion_modules.0.transformer_blocks.0.norm3.bias"
        );
        assert_eq!(
            original_to_diffusers_key(
                "down_blocks.0.motion_modules.0.temporal_transformer.norm.weight"
            )
            .unwrap(),
            "down_blocks.0.motion_modules.0.norm.weight"
        );
        assert!(original_to_diffusers_key(
            "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"
        )
        .is_none());
        assert!(original_to_diffusers_key("down_blocks.0.resnets.0.conv1.weight").is_none());
        for k in [
            "up_blocks.1.motion_modules.2.transformer_blocks.0.attn2.to_out.0.weight",
            "down_blocks.0.motion_modules.0.transformer_blocks.0.norm3.bias",
            "down_blocks.0.motion_modules.1.proj_in.weight",
            "down_blocks.0.motion_modules.0.transformer_blocks.0.ff.net.0.proj.weight",
        ] {
            let o = diffusers_to_original_key(k).unwrap();
            assert!(o.contains(".temporal_transformer."), "{o}");
            assert_eq!(original_to_diffusers_key(&o).unwrap(), k);
        }
    }
}
