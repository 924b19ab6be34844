//! Freeze / unfreeze helpers for partial training (e.g. adapters on a frozen base, as the
//! MagicTime paper trains Magic Adapters on top of a frozen base model), and the check that a
//! stage changed only what it trains.

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::save;
use crate::error::{ModelError, Result};
use crate::loader::unet::checkpoint_key as unet_key;

/// Every parameter of `module` stops requiring gradients (the optimizer leaves it alone).
pub fn freeze<B: AutodiffBackend, M: Module<B>>(module: M) -> M {
    module.no_grad()
}

/// The mapper that makes every parameter it visits require gradients.
pub struct Unfreeze;

impl<B: burn::tensor::backend::Backend> burn::module::ModuleMapper<B> for Unfreeze {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<B, D>> {
        param.set_require_grad(true)
    }
}

/// Every parameter of `module` requires gradients again.
pub fn unfreeze<B: AutodiffBackend, M: Module<B>>(module: M) -> M {
    module.map(&mut Unfreeze)
}

/// Number of parameters that currently require gradients.
pub fn trainable_params<B: AutodiffBackend, M: Module<B>>(module: &M) -> usize {
    struct Count(usize);
    impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
        ) {
            if param.val().is_require_grad() {
                self.0 += param.lazy_shape().num_elements();
            }
        }
    }
    let mut c = Count(0);
    module.visit(&mut c);
    c.0
}

/// The parameters of a text encoder + UNet pair by checkpoint key (`text.…` / `unet.…`).
pub fn snapshot<B: Backend>(
    text_encoder: &crate::clip::text::ClipTextModel<B>,
    unet: &crate::unet::UNet3DConditionModel<B>,
) -> Vec<save::SavedTensor> {
    let mut v = save::collect(text_encoder, &|p| {
        format!("text.{}", crate::loader::clip::text_key(p))
    });
    v.extend(save::collect(unet, &|p| format!("unet.{}", unet_key(p))));
    v
}

/// Checks that a stage trained only what it should: every key of `before` for which
/// `trainable` is false is bit-identical in `after`, and some trainable key changed.
/// Returns the number of changed tensors.
pub fn check_trained_only(
    stage: &str,
    before: &[save::SavedTensor],
    after: &[save::SavedTensor],
    trainable: &dyn Fn(&str) -> bool,
) -> Result<usize> {
    let after: std::collections::HashMap<&str, &save::SavedTensor> =
        after.iter().map(|t| (t.key.as_str(), t)).collect();
    let mut changed = 0;
    for b in before {
        let a = after.get(b.key.as_str()).ok_or_else(|| {
            ModelError::InvalidInput(format!("stage {stage}: parameter {} disappeared", b.key))
        })?;
        let same = a.shape == b.shape
            && a.data
                .iter()
                .zip(&b.data)
                .all(|(x, y)| x.to_bits() == y.to_bits());
        if !same {
            if !trainable(&b.key) {
                return Err(ModelError::InvalidInput(format!(
                    "stage {stage}: frozen parameter {} changed",
                    b.key
                )));
            }
            changed += 1;
        }
    }
    if changed == 0 {
        return Err(ModelError::InvalidInput(format!(
            "stage {stage}: no trainable parameter changed"
        )));
    }
    tracing::info!(
        stage,
        changed,
        "trained parameters changed; frozen ones bit-identical"
    );
    Ok(changed)
}
