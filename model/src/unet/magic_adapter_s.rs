//! MagicTime "Magic Adapter S": a LoRA on the spatial attention projections (q/k/v/out of attn1
//! and attn2), stored as diffusers LoRA-processor keys
//! `….attnN.processor.to_{q,k,v,out}_lora.{down,up}.weight` and merged into the UNet the way the
//! official loader does (MagicTime `utils/util.py` `load_diffusers_lora`):
//! `W += α · (2·up) @ (2·down)` with the target `….attnN.to_{q,k,v}` / `….attnN.to_out.0`.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::error::{ModelError, Result};
use crate::loader::unet::load_into;
use crate::loader::{LoadMode, LoadReport, RawTensor, WeightMap};
use crate::train::save::SavedTensor;

/// The weight key a LoRA-processor `down` key updates, or `None` when `key` is not a `down` key.
pub fn target_key(down_key: &str) -> Option<String> {
    if !down_key.contains("_lora.down.") {
        return None;
    }
    let k = down_key
        .replace("processor.", "")
        .replace("_lora", "")
        .replace("down.", "");
    Some(k.replace("to_out.", "to_out.0."))
}

/// The merged deltas `α·(2·up)@(2·down)`, keyed by the weight they update (`[out, in]`).
/// Errors name the file and key when an `up` half is missing or the ranks disagree.
pub fn deltas<B: Backend>(lora: &WeightMap, alpha: f32, device: &B::Device) -> Result<WeightMap> {
    let mut out = WeightMap {
        path: lora.path.clone(),
        tensors: Default::default(),
    };
    for (key, down) in &lora.tensors {
        let Some(target) = target_key(key) else {
            if key.contains("_lora.up.") {
                continue;
            }
            return Err(ModelError::checkpoint(
                &lora.path,
                format!("key `{key}` is not a LoRA-processor `down`/`up` weight"),
            ));
        };
        let up_key = key.replace(".down.", ".up.");
        let up = lora
            .tensors
            .get(&up_key)
            .ok_or_else(|| ModelError::MissingKey {
                path: lora.path.clone(),
                key: up_key.clone(),
                expected: vec![0, down.shape[0]],
            })?;
        if down.shape.len() != 2 || up.shape.len() != 2 || up.shape[1] != down.shape[0] {
            return Err(ModelError::ShapeMismatch {
                path: lora.path.clone(),
                key: up_key,
                expected: vec![up.shape[0], down.shape[0]],
                found: up.shape.clone(),
            });
        }
        let d = Tensor::<B, 2>::from_data(
            TensorData::new(down.data.clone(), down.shape.clone()),
            device,
        );
        let u =
            Tensor::<B, 2>::from_data(TensorData::new(up.data.clone(), up.shape.clone()), device);
        let delta = (u * 2.0).matmul(d * 2.0) * alpha;
        let shape = delta.dims().to_vec();
        let data = delta.into_data().to_vec::<f32>().expect("f32 tensor");
        out.tensors.insert(target, RawTensor { shape, data });
    }
    Ok(out)
}

/// Merges a Magic Adapter S into `module` (a UNet, or anything with the same attention keys).
/// Every delta must find its weight (strict on the adapter side).
pub fn merge<B: Backend, M: burn::module::Module<B>>(
    module: M,
    lora: &WeightMap,
    alpha: f32,
    device: &B::Device,
) -> Result<(M, LoadReport)> {
    let d = deltas::<B>(lora, alpha, device)?;
    let (module, report) = load_into(module, &d, LoadMode::Add)?;
    if let Some(k) = report.unused.first() {
        return Err(ModelError::checkpoint(
            &lora.path,
            format!(
                "LoRA target `{k}` is not a weight of the model ({} unmatched)",
                report.unused.len()
            ),
        ));
    }
    Ok((module, report))
}

/// The LoRA-processor key of `which` ("down" or "up") for the attention weight `target`
/// (`….attnN.to_q.weight`, `….attnN.to_out.0.weight`); the inverse of [`target_key`].
pub fn processor_key(target: &str, which: &str) -> Option<String> {
    let module = target.strip_suffix(".weight")?;
    let module = module.strip_suffix(".0").unwrap_or(module); // to_out.0 → to_out
    let (attn, proj) = module.rsplit_once('.')?;
    matches!(proj, "to_q" | "to_k" | "to_v" | "to_out")
        .then(|| format!("{attn}.processor.{proj}_lora.{which}.weight"))
}

/// Whether the UNet weight `key` is one Magic Adapter S adapts: q/k/v/out of `attn1` and `attn2`
/// in the spatial transformers (`….attentions.N.transformer_blocks.M.attnK.…`), not the motion
/// modules' temporal attention.
pub fn is_target(key: &str) -> bool {
    key.contains(".attentions.")
        && !key.contains(".motion_modules.")
        && (key.contains(".attn1.") || key.contains(".attn2."))
        && processor_key(key, "down").is_some()
}

/// A trained Magic Adapter S as LoRA-processor tensors (torch layout): `down` = A/2 `[r, in]`,
/// `up` = (α/r)·B/2 `[out, r]`, so the official merge `W += 1·(2·up)@(2·down)` (α = 1, what
/// [`merge`] is called with) adds exactly the trained (α/r)·B·A.
pub fn processor_tensors<B: Backend>(lora: &crate::lora::LoraSet<B>) -> Result<Vec<SavedTensor>> {
    let mut out = Vec::with_capacity(2 * lora.targets.len());
    for (target, a) in lora.targets.iter().zip(&lora.adapters) {
        for (which, w) in [
            ("down", a.lora_a.weight.val().transpose() * 0.5),
            ("up", a.lora_b.weight.val().transpose() * (0.5 * a.scale)),
        ] {
            let key = processor_key(target, which).ok_or_else(|| {
                ModelError::InvalidInput(format!("`{target}` is not an attention projection"))
            })?;
            out.push(SavedTensor {
                key,
                shape: w.dims().to_vec(),
                data: w.into_data().convert::<f32>().to_vec().expect("f32 factor"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processor_keys_invert_target_keys() {
        for k in [
            "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_out.0.weight",
            "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight",
            "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_v.weight",
        ] {
            assert!(is_target(k), "{k}");
            assert_eq!(target_key(&processor_key(k, "down").unwrap()).unwrap(), k);
        }
        for k in [
            "down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.weight",
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight",
            "down_blocks.0.attentions.0.proj_in.weight",
        ] {
            assert!(!is_target(k), "{k}");
        }
    }

    #[test]
    fn maps_processor_keys_to_weights() {
        assert_eq!(
            target_key("down_blocks.0.attentions.1.transformer_blocks.0.attn2.processor.to_out_lora.down.weight")
                .unwrap(),
            "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_out.0.weight"
        );
        assert_eq!(
            target_key(
                "mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight"
            )
            .unwrap(),
            "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight"
        );
        assert!(target_key("x.attn1.processor.to_q_lora.up.weight").is_none());
    }
}
