//! MagicTime "Magic Adapter T": a PEFT/SWIFT LoRA folder (`adapter_config.json` +
//! `adapter_model.{safetensors,bin}`, at the top or, as MagicTime's release, under `default/`
//! next to `configuration.json`) on the motion-module linears, merged into the UNet:
//! `W += (α / r) · B @ A` (PEFT `lora_alpha`, `r`; SWIFT writes the same file layout).
//!
//! Keys are accepted with or without PEFT's `base_model.model.` prefix and adapter name
//! (`.lora_A.default.weight`), in the original AnimateDiff or the diffusers motion layout:
//! `…motion_modules.M.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.lora_A.weight`
//! → `…motion_modules.M.transformer_blocks.0.attn1.to_q.weight`.

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::loader::original_to_diffusers_key;
use crate::error::{ModelError, Result};
use crate::loader::unet::load_into;
use crate::loader::{LoadMode, LoadReport, RawTensor, WeightMap};

/// `(target weight key, is_b)` of a PEFT LoRA key, or `None` for other keys.
pub fn peft_target(key: &str) -> Option<(String, bool)> {
    let k = key.strip_prefix("base_model.model.").unwrap_or(key);
    let (head, is_b, tail) = if let Some((h, t)) = k.split_once(".lora_A.") {
        (h, false, t)
    } else if let Some((h, t)) = k.split_once(".lora_B.") {
        (h, true, t)
    } else {
        return None;
    };
    if !tail.ends_with("weight") {
        return None;
    }
    let target = format!("{head}.weight");
    let target = if target.contains(".temporal_transformer.") {
        original_to_diffusers_key(&target)?
    } else {
        target
    };
    Some((target, is_b))
}

/// `(rank, alpha)` from a PEFT `adapter_config.json`.
pub fn read_config(path: &Path) -> Result<(usize, f64)> {
    let file = crate::loader::peft::PeftConfigFile::read(path)?;
    let r = file.rank(path)?;
    let alpha = file.alpha(r);
    if file.use_rslora == Some(true) || file.use_dora == Some(true) {
        return Err(ModelError::checkpoint(
            path,
            "rsLoRA/DoRA adapters are not supported for the UNet",
        ));
    }
    Ok((r, alpha))
}

/// The merged deltas `scale · B @ A` keyed by target weight.
pub fn deltas<B: Backend>(w: &WeightMap, scale: f64, device: &B::Device) -> Result<WeightMap> {
    let mut pairs: std::collections::BTreeMap<String, (Option<&RawTensor>, Option<&RawTensor>)> =
        Default::default();
    for (k, t) in &w.tensors {
        let Some((target, is_b)) = peft_target(k) else {
            return Err(ModelError::checkpoint(
                &w.path,
                format!("key `{k}` is not a LoRA lora_A/lora_B weight"),
            ));
        };
        let e = pairs.entry(target).or_default();
        if is_b {
            e.1 = Some(t);
        } else {
            e.0 = Some(t);
        }
    }
    let mut out = WeightMap {
        path: w.path.clone(),
        tensors: Default::default(),
    };
    for (target, (a, b)) in pairs {
        let (Some(a), Some(b)) = (a, b) else {
            return Err(ModelError::MissingKey {
                path: w.path.clone(),
                key: format!("{target} (lora_A and lora_B)"),
                expected: vec![],
            });
        };
        if a.shape.len() != 2 || b.shape.len() != 2 || b.shape[1] != a.shape[0] {
            return Err(ModelError::ShapeMismatch {
                path: w.path.clone(),
                key: format!("{target} lora_B"),
                expected: vec![b.shape.first().copied().unwrap_or(0), a.shape[0]],
                found: b.shape.clone(),
            });
        }
        let ta =
            Tensor::<B, 2>::from_data(TensorData::new(a.data.clone(), a.shape.clone()), device);
        let tb =
            Tensor::<B, 2>::from_data(TensorData::new(b.data.clone(), b.shape.clone()), device);
        let d = tb.matmul(ta) * scale;
        let shape = d.dims().to_vec();
        out.tensors.insert(
            target,
            RawTensor {
                shape,
                data: d.into_data().to_vec::<f32>().expect("f32"),
            },
        );
    }
    Ok(out)
}

/// Merges the adapter folder `dir` into `module` (the UNet). Every target must exist.
pub fn merge<B: Backend, M: Module<B>>(
    module: M,
    dir: &Path,
    device: &B::Device,
) -> Result<(M, LoadReport)> {
    // SWIFT (MagicTime's release) saves the adapter under `default/`
    let (config, file) = crate::loader::swift::adapter_files(dir)?;
    let (r, alpha) = read_config(&config)?;
    let w = WeightMap::open(&file)?;
    if w.tensors.is_empty() {
        return Err(ModelError::checkpoint(
            &file,
            "holds no tensors; expected PEFT LoRA weights (`….lora_A.weight`, `….lora_B.weight`)",
        ));
    }
    let d = deltas::<B>(&w, alpha / r as f64, device)?;
    let (module, report) = load_into(module, &d, LoadMode::Add)?;
    if let Some(k) = report.unused.first() {
        return Err(ModelError::checkpoint(
            &file,
            format!("LoRA target `{k}` is not a weight of the UNet"),
        ));
    }
    Ok((module, report))
}

/// The motion-module linears Magic Adapter T adapts (12 per module in MagicTime's release:
/// `proj_in`, `proj_out`, q/k/v/out of both temporal attentions, both feed-forward linears).
pub const TARGET_MODULES: &[&str] = &[
    "proj_in",
    "proj_out",
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "ff.net.0.proj",
    "ff.net.2",
];

/// Whether the UNet weight `key` (diffusers layout) is one Magic Adapter T adapts.
pub fn is_target(key: &str) -> bool {
    key.contains(".motion_modules.")
        && TARGET_MODULES
            .iter()
            .any(|m| key.ends_with(&format!(".{m}.weight")))
}

/// Writes a trained Magic Adapter T (a [`LoraSet`](crate::lora::LoraSet) on the UNet's motion
/// modules) as MagicTime's SWIFT folder (`configuration.json`, `default/adapter_config.json`,
/// `default/adapter_model.safetensors`), keys in the original AnimateDiff layout under
/// `base_model.model.` as SWIFT saves the wrapped AnimateDiff UNet. [`merge`] reads it back.
pub fn save<B: Backend>(lora: &crate::lora::LoraSet<B>, dir: &Path) -> Result<u64> {
    let tensors = crate::loader::swift::peft_tensors(lora, &|k| {
        super::loader::diffusers_to_original_key(k).unwrap_or_else(|| k.to_string())
    });
    crate::loader::swift::write_adapter(dir, lora.rank, lora.alpha, TARGET_MODULES, &tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::motion::MotionModuleConfig;

    #[test]
    fn maps_peft_keys() {
        let k = "base_model.model.up_blocks.0.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_v.lora_B.default.weight";
        assert_eq!(
            peft_target(k).unwrap(),
            (
                "up_blocks.0.motion_modules.2.transformer_blocks.0.attn2.to_v.weight".into(),
                true
            )
        );
        assert!(peft_target("down_blocks.0.motion_modules.0.proj_in.weight").is_none());
    }

    #[test]
    fn merges_peft_folder_with_alpha_over_r() {
        let dev = Default::default();
        let m = MotionModuleConfig::new(8)
            .with_heads(2)
            .with_norm_num_groups(4)
            .init::<Cpu>(&dev);
        let before: Vec<f32> = m.proj_in.weight.val().into_data().to_vec().unwrap(); // [in, out]
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("adapter_config.json"),
            r#"{"r": 2, "lora_alpha": 4, "target_modules": ["proj_in"]}"#,
        )
        .unwrap();
        let a: Vec<f32> = (0..16).map(|i| i as f32 * 0.1).collect(); // [2, 8]
        let b: Vec<f32> = (0..16).map(|i| 1.0 - i as f32 * 0.05).collect(); // [8, 2]
        let mut st = std::collections::HashMap::new();
        let bytes = |v: &Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (ab, bb) = (bytes(&a), bytes(&b));
        st.insert(
            "base_model.model.proj_in.lora_A.weight".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 8], &ab).unwrap(),
        );
        st.insert(
            "base_model.model.proj_in.lora_B.weight".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![8, 2], &bb).unwrap(),
        );
        safetensors::serialize_to_file(st, None, &dir.path().join("adapter_model.safetensors"))
            .unwrap();
        let (m, report) = merge(m, dir.path(), &dev).unwrap();
        assert_eq!(report.loaded, 1);
        let after: Vec<f32> = m.proj_in.weight.val().into_data().to_vec().unwrap();
        // torch W[o][i] += 2 · Σ_r B[o][r] A[r][i]; Burn stores [i][o]
        for o in 0..8 {
            for i in 0..8 {
                let d: f32 = (0..2).map(|r| b[o * 2 + r] * a[r * 8 + i]).sum::<f32>() * 2.0;
                let (x, y) = (before[i * 8 + o] + d, after[i * 8 + o]);
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
        }
    }
}
