//! LoRA (low-rank adaptation) as a generic wrapper around a frozen base layer, after PEFT's
//! `tuners/lora/layer.py` (`Linear`, `Conv2d` with 1×1 kernels) and the MagicTime loaders.
//!
//! y = base(x) + (α / r) · B(A(x)), with A: in → r ("lora_A", "down") and B: r → out
//! ("lora_B", "up"). `merge` folds (α/r)·B·A into the base weight (inference speed, and how
//! MagicTime applies Magic Adapter S); `unmerge` subtracts it again. A merged layer ignores its
//! adapter in `forward`, so merged and unmerged forwards agree (tested below).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Tensor};

/// Rank and scale of one adapter.
#[derive(Config, Debug, Copy)]
pub struct LoraConfig {
    /// Rank r.
    pub rank: usize,
    /// α: the update is scaled by α / r (PEFT `lora_alpha`).
    pub alpha: f64,
}

impl LoraConfig {
    /// α / r.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// The two low-rank factors of a Linear adapter.
#[derive(Module, Debug)]
pub struct LoraLinearAdapter<B: Backend> {
    /// A: [in → r] (PEFT `lora_A`, diffusers `lora.down`); Burn layout [in, r].
    pub lora_a: Linear<B>,
    /// B: [r → out] (PEFT `lora_B`, diffusers `lora.up`); zero-initialised so a fresh adapter is a no-op.
    pub lora_b: Linear<B>,
    /// α / r.
    pub scale: f64,
    /// Whether (α/r)·B·A has been added into the base weight.
    pub merged: bool,
}

/// A Linear layer with an optional LoRA adapter. Without an adapter it is exactly the base layer.
#[derive(Module, Debug)]
pub struct LoraLinear<B: Backend> {
    pub base: Linear<B>,
    pub lora: Option<LoraLinearAdapter<B>>,
}

impl<B: Backend> From<Linear<B>> for LoraLinear<B> {
    fn from(base: Linear<B>) -> Self {
        Self { base, lora: None }
    }
}

impl<B: Backend> LoraLinear<B> {
    /// A plain (adapter-less) layer from a Linear config.
    pub fn new(config: &LinearConfig, device: &B::Device) -> Self {
        config.init(device).into()
    }

    /// [in, out] of the base layer.
    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
    }

    /// Attaches a fresh adapter (A Kaiming-uniform as PEFT, B zeros) replacing any previous one.
    /// Fails if the layer currently holds a merged adapter (unmerge first).
    pub fn with_adapter(mut self, config: &LoraConfig, device: &B::Device) -> Self {
        assert!(
            !self.lora.as_ref().is_some_and(|l| l.merged),
            "unmerge the current adapter before replacing it"
        );
        let [d_in, d_out] = self.dims();
        let lora_a = LinearConfig::new(d_in, config.rank)
            .with_bias(false)
            .init(device);
        let lora_b = LinearConfig::new(config.rank, d_out)
            .with_bias(false)
            .with_initializer(Initializer::Zeros)
            .init(device);
        self.lora = Some(LoraLinearAdapter {
            lora_a,
            lora_b,
            scale: config.scale(),
            merged: false,
        });
        self
    }

    /// Freezes the base weights (no gradients) so only the adapter trains.
    pub fn freeze_base(mut self) -> Self {
        self.base = self.base.no_grad();
        self
    }

    /// (α/r)·A·B in Burn's [in, out] layout.
    fn delta(adapter: &LoraLinearAdapter<B>) -> Tensor<B, 2> {
        adapter
            .lora_a
            .weight
            .val()
            .matmul(adapter.lora_b.weight.val())
            .mul_scalar(adapter.scale)
    }

    /// Adds the adapter into the base weight (no-op without an adapter or when merged).
    pub fn merge(mut self) -> Self {
        if let Some(adapter) = self.lora.as_mut().filter(|a| !a.merged) {
            let delta = Self::delta(adapter);
            self.base.weight = self.base.weight.map(|w| w + delta);
            adapter.merged = true;
        }
        self
    }

    /// Removes a merged adapter from the base weight again.
    pub fn unmerge(mut self) -> Self {
        if let Some(adapter) = self.lora.as_mut().filter(|a| a.merged) {
            let delta = Self::delta(adapter);
            self.base.weight = self.base.weight.map(|w| w - delta);
            adapter.merged = false;
        }
        self
    }

    /// Merges and drops the adapter, leaving a plain layer.
    pub fn merge_and_unload(self) -> Linear<B> {
        self.merge().base
    }

    /// y = base(x) + (α/r)·B(A(x)) (the second term only while unmerged).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match &self.lora {
            Some(a) if !a.merged => {
                let update = a.lora_b.forward(a.lora_a.forward(x.clone()));
                self.base.forward(x) + update.mul_scalar(a.scale)
            }
            _ => self.base.forward(x),
        }
    }
}

/// The two 1×1 convolutions of a conv adapter.
#[derive(Module, Debug)]
pub struct LoraConvAdapter<B: Backend> {
    /// A: 1×1 conv in → r.
    pub lora_a: Conv2d<B>,
    /// B: 1×1 conv r → out, zero-initialised.
    pub lora_b: Conv2d<B>,
    pub scale: f64,
    pub merged: bool,
}

/// A 1×1 Conv2d (e.g. a UNet `proj_in`/`proj_out`) with an optional LoRA adapter.
#[derive(Module, Debug)]
pub struct LoraConv1x1<B: Backend> {
    pub base: Conv2d<B>,
    pub lora: Option<LoraConvAdapter<B>>,
}

impl<B: Backend> From<Conv2d<B>> for LoraConv1x1<B> {
    fn from(base: Conv2d<B>) -> Self {
        Self { base, lora: None }
    }
}

impl<B: Backend> LoraConv1x1<B> {
    /// Attaches a fresh adapter. Panics if the base is not a 1×1, ungrouped convolution.
    pub fn with_adapter(mut self, config: &LoraConfig, device: &B::Device) -> Self {
        let [d_out, d_in, kh, kw] = self.base.weight.dims();
        assert!(
            kh == 1 && kw == 1,
            "LoRA conv wrapper supports 1x1 kernels only"
        );
        let lora_a = Conv2dConfig::new([d_in, config.rank], [1, 1])
            .with_bias(false)
            .init(device);
        let lora_b = Conv2dConfig::new([config.rank, d_out], [1, 1])
            .with_bias(false)
            .with_initializer(Initializer::Zeros)
            .init(device);
        self.lora = Some(LoraConvAdapter {
            lora_a,
            lora_b,
            scale: config.scale(),
            merged: false,
        });
        self
    }

    /// Freezes the base weights.
    pub fn freeze_base(mut self) -> Self {
        self.base = self.base.no_grad();
        self
    }

    /// (α/r)·B·A as a [out, in, 1, 1] kernel.
    fn delta(adapter: &LoraConvAdapter<B>) -> Tensor<B, 4> {
        let [r, d_in, _, _] = adapter.lora_a.weight.dims();
        let [d_out, _, _, _] = adapter.lora_b.weight.dims();
        let a = adapter.lora_a.weight.val().reshape([r, d_in]);
        let b = adapter.lora_b.weight.val().reshape([d_out, r]);
        b.matmul(a)
            .mul_scalar(adapter.scale)
            .reshape([d_out, d_in, 1, 1])
    }

    /// Adds the adapter into the base kernel.
    pub fn merge(mut self) -> Self {
        if let Some(adapter) = self.lora.as_mut().filter(|a| !a.merged) {
            let delta = Self::delta(adapter);
            self.base.weight = self.base.weight.map(|w| w + delta);
            adapter.merged = true;
        }
        self
    }

    /// Removes a merged adapter from the base kernel.
    pub fn unmerge(mut self) -> Self {
        if let Some(adapter) = self.lora.as_mut().filter(|a| a.merged) {
            let delta = Self::delta(adapter);
            self.base.weight = self.base.weight.map(|w| w - delta);
            adapter.merged = false;
        }
        self
    }

    /// [B, C, H, W] → [B, C', H, W].
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match &self.lora {
            Some(a) if !a.merged => {
                let update = a.lora_b.forward(a.lora_a.forward(x.clone()));
                self.base.forward(x) + update.mul_scalar(a.scale)
            }
            _ => self.base.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use burn::tensor::{Distribution, Tolerance};

    type B = Cpu;

    /// Random (non-zero) B so the adapter really changes the output.
    fn randomise_b(mut l: LoraLinear<B>) -> LoraLinear<B> {
        let a = l.lora.as_mut().unwrap();
        a.lora_b.weight = a
            .lora_b
            .weight
            .clone()
            .map(|w| Tensor::random(w.shape(), Distribution::Normal(0.0, 0.5), &w.device()));
        l
    }

    #[test]
    fn linear_merge_equals_unmerged_forward_and_unmerge_restores() {
        let dev = Default::default();
        B::seed(&dev, 11);
        let layer: LoraLinear<B> = LoraLinear::new(&LinearConfig::new(12, 7), &dev);
        let x = Tensor::<B, 3>::random([2, 5, 12], Distribution::Normal(0.0, 1.0), &dev);
        let plain = layer.forward(x.clone());
        let layer = layer.with_adapter(&LoraConfig::new(4, 8.0), &dev);
        // A fresh adapter (B = 0) changes nothing.
        layer
            .forward(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&plain.clone().into_data(), Tolerance::absolute(1e-6));
        let layer = randomise_b(layer);
        let unmerged = layer.forward(x.clone());
        let diff: f32 = (unmerged.clone() - plain.clone()).abs().max().into_scalar();
        assert!(diff > 1e-2, "adapter must change the output, diff {diff}");
        let merged = layer.merge();
        merged
            .forward(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&unmerged.into_data(), Tolerance::absolute(1e-4));
        let restored = merged.unmerge();
        let y = restored.base.forward(x);
        y.into_data()
            .assert_approx_eq::<f32>(&plain.into_data(), Tolerance::absolute(1e-4));
    }

    #[test]
    fn conv1x1_merge_equals_unmerged_forward() {
        let dev = Default::default();
        B::seed(&dev, 12);
        let base = Conv2dConfig::new([6, 5], [1, 1]).init::<B>(&dev);
        let mut layer = LoraConv1x1::from(base).with_adapter(&LoraConfig::new(2, 4.0), &dev);
        let a = layer.lora.as_mut().unwrap();
        a.lora_b.weight = a
            .lora_b
            .weight
            .clone()
            .map(|w| Tensor::random(w.shape(), Distribution::Normal(0.0, 0.5), &w.device()));
        let x = Tensor::<B, 4>::random([2, 6, 3, 4], Distribution::Normal(0.0, 1.0), &dev);
        let unmerged = layer.forward(x.clone());
        let plain = layer.base.forward(x.clone());
        let diff: f32 = (unmerged.clone() - plain).abs().max().into_scalar();
        assert!(diff > 1e-2);
        layer
            .merge()
            .forward(x)
            .into_data()
            .assert_approx_eq::<f32>(&unmerged.into_data(), Tolerance::absolute(1e-4));
    }

    #[test]
    fn freeze_base_keeps_adapter_trainable() {
        type A = crate::backend::CpuAutodiff;
        let dev = Default::default();
        let layer: LoraLinear<A> = LoraLinear::new(&LinearConfig::new(4, 3), &dev)
            .with_adapter(&LoraConfig::new(2, 2.0), &dev)
            .freeze_base();
        assert!(!layer.base.weight.is_require_grad());
        assert!(layer.lora.as_ref().unwrap().lora_a.weight.is_require_grad());
    }
}
