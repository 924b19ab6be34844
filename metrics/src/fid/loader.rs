//! Loads FID Inception weights: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (a torch
//! zip pickle) or a safetensors file with the same keys, both read by the model crate's loader
//! (`magictime_model::loader::WeightMap`, burn-store), or any [`TensorSource`] (the parity test feeds generated weights through the same path).
//!
//! Key table (state-dict key → module field), one `BasicConv2d` per prefix:
//!
//! | key                                   | field                                  |
//! |---------------------------------------|----------------------------------------|
//! | `{P}.conv.weight` `[o, i, kh, kw]`    | `{p}.conv.weight` × γ/√(var+ε)         |
//! | `{P}.bn.{weight,bias,running_mean,running_var}` | folded: `{p}.conv.bias` = β − mean·γ/√(var+ε), ε = 1e-3 |
//! | `fc.*`, `*.num_batches_tracked`       | unused (pool3 features come before `fc`) |
//!
//! `{P}` is `Conv2d_1a_3x3` … or `Mixed_6b.branch7x7dbl_3`; `{p}` is its lower-cased field path.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;

use super::basic_conv2d::BasicConv2d;
use super::inception::{InceptionA, InceptionB, InceptionC, InceptionD, InceptionE};
use super::inception_v3::{FidInceptionV3, FidInceptionV3Config};
use crate::error::{MetricsError, Result};
use magictime_model::loader::WeightMap;

/// BatchNorm ε of torchvision's `BasicConv2d`.
pub const BATCH_NORM_EPS: f64 = 1e-3;
/// File name pytorch-fid downloads (from GitHub; not available from a package registry).
pub const WEIGHTS_FILE: &str = "pt_inception-2015-12-05-6726825d.pth";
/// Where the loader looks by default (relative to the repository root).
pub const DEFAULT_WEIGHTS: &str = "var/weights/fid/pt_inception-2015-12-05-6726825d.pth";

/// The default weights path, from the working directory or the workspace root.
pub fn default_weights_path() -> PathBuf {
    let here = PathBuf::from(DEFAULT_WEIGHTS);
    if here.exists() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(DEFAULT_WEIGHTS)
}

/// Anything that yields f32 tensors by state-dict key.
pub trait TensorSource {
    /// Values (row-major) and shape of `key`; `expected` is the shape the loader wants (files
    /// ignore it, the loader checks; generated sources use it).
    fn tensor(&self, key: &str, expected: &[usize]) -> Result<(Vec<f32>, Vec<usize>)>;
    /// Where the tensors come from (for error messages).
    fn origin(&self) -> PathBuf;
}

/// A state dict file (`.pth`, or `.safetensors` with the same keys) read by the model crate's
/// loader.
pub struct PthSource {
    map: WeightMap,
}

impl PthSource {
    /// Opens `path`; a missing file gives [`MetricsError::MissingWeights`] naming the file to get.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(missing(path));
        }
        let map = WeightMap::open(path).map_err(|e| MetricsError::Io {
            path: path.to_path_buf(),
            detail: format!("not a PyTorch state dict: {e}"),
        })?;
        Ok(Self { map })
    }
}

fn missing(path: &Path) -> MetricsError {
    MetricsError::MissingWeights {
        model: "FID InceptionV3 (pytorch-fid)",
        path: path.to_path_buf(),
        hint: format!(
            "FID needs pytorch-fid's {WEIGHTS_FILE} (the TF 2015-12-05 Inception graph ported to \
             PyTorch, released on github.com/mseitzer/pytorch-fid, not on a package registry). \
             Download it yourself and put it at {DEFAULT_WEIGHTS} or pass its path."
        ),
    }
}

impl TensorSource for PthSource {
    fn tensor(&self, key: &str, _expected: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        let t = self
            .map
            .tensors
            .get(key)
            .ok_or_else(|| MetricsError::BadTensor {
                path: self.map.path.clone(),
                key: key.to_string(),
                detail: "missing".into(),
            })?;
        Ok((t.data.clone(), t.shape.clone()))
    }

    fn origin(&self) -> PathBuf {
        self.map.path.clone()
    }
}

fn load_conv<B: Backend>(
    src: &dyn TensorSource,
    prefix: &str,
    unit: &mut BasicConv2d<B>,
    device: &B::Device,
) -> Result<()> {
    let want = unit.conv.weight.dims();
    let [o, ..] = want;
    let (w, shape) = src.tensor(&format!("{prefix}.conv.weight"), &want)?;
    if shape != want {
        return Err(MetricsError::BadTensor {
            path: src.origin(),
            key: format!("{prefix}.conv.weight"),
            detail: format!("shape {shape:?}, expected {want:?}"),
        });
    }
    let mut bn = Vec::with_capacity(4);
    for name in ["weight", "bias", "running_mean", "running_var"] {
        let key = format!("{prefix}.bn.{name}");
        let (v, s) = src.tensor(&key, &[o])?;
        if s != [o] {
            return Err(MetricsError::BadTensor {
                path: src.origin(),
                key,
                detail: format!("shape {s:?}, expected [{o}]"),
            });
        }
        bn.push(v);
    }
    let per = w.len() / o;
    let mut weight = vec![0.0f32; w.len()];
    let mut bias = vec![0.0f32; o];
    for c in 0..o {
        let scale = bn[0][c] as f64 / (bn[3][c] as f64 + BATCH_NORM_EPS).sqrt();
        bias[c] = (bn[1][c] as f64 - bn[2][c] as f64 * scale) as f32;
        for k in 0..per {
            weight[c * per + k] = (w[c * per + k] as f64 * scale) as f32;
        }
    }
    unit.conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, want), device));
    unit.conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [o]),
        device,
    )));
    Ok(())
}

macro_rules! load_block {
    ($src:expr, $dev:expr, $name:expr, $block:expr, [$($field:ident),*]) => {{
        $(load_conv($src, &format!("{}.{}", $name, stringify!($field)), &mut $block.$field, $dev)?;)*
    }};
}

fn load_a<B: Backend>(
    s: &dyn TensorSource,
    d: &B::Device,
    n: &str,
    m: &mut InceptionA<B>,
) -> Result<()> {
    load_block!(
        s,
        d,
        n,
        m,
        [
            branch1x1,
            branch5x5_1,
            branch5x5_2,
            branch3x3dbl_1,
            branch3x3dbl_2,
            branch3x3dbl_3,
            branch_pool
        ]
    );
    Ok(())
}

fn load_b<B: Backend>(
    s: &dyn TensorSource,
    d: &B::Device,
    n: &str,
    m: &mut InceptionB<B>,
) -> Result<()> {
    load_block!(
        s,
        d,
        n,
        m,
        [branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3]
    );
    Ok(())
}

fn load_c<B: Backend>(
    s: &dyn TensorSource,
    d: &B::Device,
    n: &str,
    m: &mut InceptionC<B>,
) -> Result<()> {
    load_block!(
        s,
        d,
        n,
        m,
        [
            branch1x1,
            branch7x7_1,
            branch7x7_2,
            branch7x7_3,
            branch7x7dbl_1,
            branch7x7dbl_2,
            branch7x7dbl_3,
            branch7x7dbl_4,
            branch7x7dbl_5,
            branch_pool
        ]
    );
    Ok(())
}

fn load_d<B: Backend>(
    s: &dyn TensorSource,
    d: &B::Device,
    n: &str,
    m: &mut InceptionD<B>,
) -> Result<()> {
    load_block!(
        s,
        d,
        n,
        m,
        [
            branch3x3_1,
            branch3x3_2,
            branch7x7x3_1,
            branch7x7x3_2,
            branch7x7x3_3,
            branch7x7x3_4
        ]
    );
    Ok(())
}

fn load_e<B: Backend>(
    s: &dyn TensorSource,
    d: &B::Device,
    n: &str,
    m: &mut InceptionE<B>,
) -> Result<()> {
    load_block!(
        s,
        d,
        n,
        m,
        [
            branch1x1,
            branch3x3_1,
            branch3x3_2a,
            branch3x3_2b,
            branch3x3dbl_1,
            branch3x3dbl_2,
            branch3x3dbl_3a,
            branch3x3dbl_3b,
            branch_pool
        ]
    );
    Ok(())
}

/// Builds the FID Inception from any tensor source with pytorch-fid's state-dict keys.
pub fn load_from_source<B: Backend>(
    src: &dyn TensorSource,
    device: &B::Device,
) -> Result<FidInceptionV3<B>> {
    let mut net = FidInceptionV3Config::new().init::<B>(device);
    load_conv(src, "Conv2d_1a_3x3", &mut net.conv2d_1a_3x3, device)?;
    load_conv(src, "Conv2d_2a_3x3", &mut net.conv2d_2a_3x3, device)?;
    load_conv(src, "Conv2d_2b_3x3", &mut net.conv2d_2b_3x3, device)?;
    load_conv(src, "Conv2d_3b_1x1", &mut net.conv2d_3b_1x1, device)?;
    load_conv(src, "Conv2d_4a_3x3", &mut net.conv2d_4a_3x3, device)?;
    load_a(src, device, "Mixed_5b", &mut net.mixed_5b)?;
    load_a(src, device, "Mixed_5c", &mut net.mixed_5c)?;
    load_a(src, device, "Mixed_5d", &mut net.mixed_5d)?;
    load_b(src, device, "Mixed_6a", &mut net.mixed_6a)?;
    load_c(src, device, "Mixed_6b", &mut net.mixed_6b)?;
    load_c(src, device, "Mixed_6c", &mut net.mixed_6c)?;
    load_c(src, device, "Mixed_6d", &mut net.mixed_6d)?;
    load_c(src, device, "Mixed_6e", &mut net.mixed_6e)?;
    load_d(src, device, "Mixed_7a", &mut net.mixed_7a)?;
    load_e(src, device, "Mixed_7b", &mut net.mixed_7b)?;
    load_e(src, device, "Mixed_7c", &mut net.mixed_7c)?;
    Ok(net)
}

/// Builds the FID Inception from pytorch-fid's `.pth` at `path`.
pub fn load_fid_inception<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<FidInceptionV3<B>> {
    let src = PthSource::open(path)?;
    load_from_source(&src, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_weights_error_names_file_and_place() {
        let err = PthSource::open(Path::new("/nonexistent/pt_inception.pth"))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(WEIGHTS_FILE) && msg.contains(DEFAULT_WEIGHTS),
            "{msg}"
        );
        assert!(msg.contains("/nonexistent/pt_inception.pth"));
    }
}
