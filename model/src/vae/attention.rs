//! The VAE mid-block self-attention, port of diffusers' `models/attention_processor.py`
//! (`Attention` with `group_norm`, one head of width C, `residual_connection=True`, as built by
//! `UNetMidBlock2D` for `AutoencoderKL`).

use burn::module::Module;
use burn::nn::{GroupNorm, Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{backend::Backend, Tensor};

use super::resnet::group_norm;

/// Spatial self-attention over the H·W positions.
#[derive(Module, Debug)]
pub struct VaeAttention<B: Backend> {
    pub group_norm: GroupNorm<B>,
    pub to_q: Linear<B>,
    pub to_k: Linear<B>,
    pub to_v: Linear<B>,
    /// Checkpoint key `to_out.0` (renamed in `loader/vae.rs`).
    pub to_out: Linear<B>,
}

impl<B: Backend> VaeAttention<B> {
    pub fn new(channels: usize, groups: usize, device: &B::Device) -> Self {
        let lin = || LinearConfig::new(channels, channels).init(device);
        Self {
            group_norm: group_norm(groups, channels, device),
            to_q: lin(),
            to_k: lin(),
            to_v: lin(),
            to_out: lin(),
        }
    }

    /// [B, C, H, W] → [B, C, H, W].
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, c, h, w] = x.dims();
        // 1. group norm, then positions as tokens: [B, HW, C]
        let t = self
            .group_norm
            .forward(x.clone())
            .reshape([b, c, h * w])
            .swap_dims(1, 2);
        // 2. single-head attention, scale 1/√C
        let q = self.to_q.forward(t.clone()).unsqueeze_dim::<4>(1);
        let k = self.to_k.forward(t.clone()).unsqueeze_dim::<4>(1);
        let v = self.to_v.forward(t).unsqueeze_dim::<4>(1);
        let o = attention(q, k, v, None, None, AttentionModuleOptions::default());
        let o = self.to_out.forward(o.squeeze_dim::<3>(1));
        // 3. back to [B, C, H, W], residual
        o.swap_dims(1, 2).reshape([b, c, h, w]) + x
    }
}
