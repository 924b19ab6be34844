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
    pub(crate) fn delta(adapter: &LoraLinearAdapter<B>) -> Tensor<B, 2> {
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

/// Parameter path segments → the weight's checkpoint key (e.g. `loader::unet::checkpoint_key`).
pub type KeyFn<'a> = &'a dyn Fn(&[String]) -> String;

/// Visits the `Linear` weights of a module as `(checkpoint key, [in, out])`.
struct LinearWeights<'a> {
    stack: Vec<(String, String)>,
    key_of: KeyFn<'a>,
    out: Vec<(String, [usize; 2])>,
}

impl<B: Backend> burn::module::ModuleVisitor<B> for LinearWeights<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        let is_linear = self
            .stack
            .last()
            .is_some_and(|(n, c)| n == "weight" && c == "Struct:Linear");
        if D == 2 && is_linear {
            let s = param.lazy_shape();
            let path: Vec<String> = self.stack.iter().map(|(n, _)| n.clone()).collect();
            self.out.push(((self.key_of)(&path), [s[0], s[1]]));
        }
    }
}

/// LoRA factors for a chosen set of `Linear` weights of another module, addressed by checkpoint
/// key (`…attn1.to_q.weight`). This is how adapters are *trained* on modules whose layers are
/// plain `Linear`s (the UNet's spatial attention for Magic Adapter S, the motion modules for
/// Magic Adapter T, the text encoder for the Magic Text-Encoder): [`LoraSet::apply`] returns
/// the module with every target weight replaced by `W + (α/r)·A·B` — differentiable in A and B,
/// so `(W + ΔW)·x = W·x + (α/r)·B(A(x))` is the LoRA forward, and the optimiser only ever sees
/// the factors. The upstream files store exactly these factors; inference merges them (the
/// loaders in `unet::magic_adapter_s`, `motion::magic_adapter_t`, `loader::clip`).
#[derive(Module, Debug)]
pub struct LoraSet<B: Backend> {
    /// One adapter per target, in `targets` order (Burn layout: A `[in, r]`, B `[r, out]`).
    pub adapters: Vec<LoraLinearAdapter<B>>,
    /// Checkpoint keys of the adapted weights.
    #[module(skip)]
    pub targets: Vec<String>,
    /// Rank and α.
    pub rank: usize,
    pub alpha: f64,
}

impl<B: Backend> LoraSet<B> {
    /// Fresh adapters (A Kaiming-uniform as PEFT, B zero: a no-op until trained) on every
    /// `Linear` weight of `module` whose key passes `select`.
    pub fn attach<M: Module<B>>(
        module: &M,
        key_of: KeyFn,
        select: &dyn Fn(&str) -> bool,
        config: &LoraConfig,
        device: &B::Device,
    ) -> Self {
        let mut v = LinearWeights {
            stack: vec![],
            key_of,
            out: vec![],
        };
        module.visit(&mut v);
        let (targets, adapters) = v
            .out
            .into_iter()
            .filter(|(k, _)| select(k))
            .map(|(k, [d_in, d_out])| {
                let lora = LoraLinear::<B>::from(
                    LinearConfig::new(d_in, d_out)
                        .with_bias(false)
                        .with_initializer(Initializer::Zeros)
                        .init(device),
                )
                .with_adapter(config, device)
                .lora
                .expect("adapter just attached");
                (k, lora)
            })
            .unzip();
        Self {
            adapters,
            targets,
            rank: config.rank,
            alpha: config.alpha,
        }
    }

    /// α / r.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// `(target key, (α/r)·A·B)` in Burn's `[in, out]` layout.
    pub fn deltas(&self) -> Vec<(String, Tensor<B, 2>)> {
        self.targets
            .iter()
            .zip(&self.adapters)
            .map(|(k, a)| (k.clone(), LoraLinear::delta(a)))
            .collect()
    }

    /// `module` with every target weight `W` replaced by `W + (α/r)·A·B`. Panics if a target is
    /// not a weight of `module` (the set was attached to a different network).
    pub fn apply<M: Module<B>>(&self, module: M, key_of: KeyFn) -> M {
        struct Apply<'a, B: Backend> {
            stack: Vec<String>,
            key_of: KeyFn<'a>,
            deltas: std::collections::HashMap<String, Tensor<B, 2>>,
        }
        impl<B: Backend> burn::module::ModuleMapper<B> for Apply<'_, B> {
            fn enter_module(&mut self, name: &str, _container_type: &str) {
                self.stack.push(name.to_string());
            }
            fn exit_module(&mut self, _name: &str, _container_type: &str) {
                self.stack.pop();
            }
            fn map_float<const D: usize>(
                &mut self,
                param: burn::module::Param<Tensor<B, D>>,
            ) -> burn::module::Param<Tensor<B, D>> {
                match self.deltas.remove(&(self.key_of)(&self.stack)) {
                    Some(delta) if D == 2 => {
                        let (id, w, mapper) = param.consume();
                        let shape = w.shape();
                        burn::module::Param::from_mapped_value(id, w + delta.reshape(shape), mapper)
                    }
                    Some(_) => panic!("LoRA target {:?} is not a matrix", self.stack),
                    None => param,
                }
            }
        }
        let mut m = Apply {
            stack: vec![],
            key_of,
            deltas: self.deltas().into_iter().collect(),
        };
        let out = module.map(&mut m);
        assert!(
            m.deltas.is_empty(),
            "LoRA targets not in the module: {:?}",
            m.deltas.keys().collect::<Vec<_>>()
        );
        out
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
