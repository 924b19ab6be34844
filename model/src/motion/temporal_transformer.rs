//! The AnimateDiff temporal transformer (ports AnimateDiff `animatediff/models/motion_module.py`
//! `VanillaTemporalModule`/`TemporalTransformer3DModel`/`TemporalTransformerBlock` and diffusers
//! `AnimateDiffTransformer3D`):
//! GroupNorm → proj_in → blocks of [LayerNorm → +sinusoidal PE → temporal self-attention]×2 →
//! LayerNorm → GEGLU FF → proj_out (zero-initialised) → outer residual. Attention runs over frames
//! only: tokens are reshaped to `(b·h·w, f, c)`.
//!
//! Field names are diffusers' (`norm1/attn1`, `norm2/attn2`, `norm3`, `ff`); the original
//! AnimateDiff names (`attention_blocks.i`, `norms.i`, `ff_norm`) are mapped in `loader.rs`.
//!
//! One numerical difference between the two upstreams is a config switch: the original module
//! normalises each frame separately (`(b f) c h w`), diffusers normalises each video over
//! `(c, f, h, w)` ([`MotionModuleConfig::norm_per_frame`]).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::kernels::layout::swap_last2;
use crate::unet::attention::{Attention, AttentionConfig, FeedForward, FeedForwardConfig};
use crate::unet::linear::linear_rows;
use crate::unet::norm::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig};

/// Config of a [`MotionModule`].
#[derive(Config, Debug)]
pub struct MotionModuleConfig {
    /// Channels (the UNet block's width).
    pub in_channels: usize,
    /// Attention heads (AnimateDiff: 8).
    #[config(default = 8)]
    pub heads: usize,
    /// Temporal transformer blocks (AnimateDiff: 1).
    #[config(default = 1)]
    pub num_layers: usize,
    /// Length of the sinusoidal position table (AnimateDiff v3: 32): the most frames supported.
    #[config(default = 32)]
    pub max_len: usize,
    /// GroupNorm groups.
    #[config(default = 32)]
    pub norm_num_groups: usize,
    /// `true`: GroupNorm per frame (original AnimateDiff, what MagicTime runs);
    /// `false`: per video over (c, f, h, w) (diffusers `AnimateDiffTransformer3D`).
    #[config(default = true)]
    pub norm_per_frame: bool,
    /// Zero the output projection at init (AnimateDiff's `zero_initialize`).
    #[config(default = true)]
    pub zero_init_proj_out: bool,
}

/// One temporal transformer block: two temporal self-attentions and a GEGLU feed-forward.
#[derive(Module, Debug)]
pub struct TemporalTransformerBlock<B: Backend> {
    /// LayerNorm before the first attention (`norms.0`).
    pub norm1: LayerNorm<B>,
    /// First temporal self-attention (`attention_blocks.0`).
    pub attn1: Attention<B>,
    /// LayerNorm before the second attention (`norms.1`).
    pub norm2: LayerNorm<B>,
    /// Second temporal self-attention (`attention_blocks.1`).
    pub attn2: Attention<B>,
    /// LayerNorm before the feed-forward (`ff_norm`).
    pub norm3: LayerNorm<B>,
    /// GEGLU feed-forward.
    pub ff: FeedForward<B>,
}

/// A motion module (`…motion_modules.M`), applied to `[b·f, c, h, w]`.
#[derive(Module, Debug)]
pub struct MotionModule<B: Backend> {
    /// GroupNorm (eps 1e-6).
    pub norm: GroupNorm<B>,
    /// Linear into the attention width.
    pub proj_in: Linear<B>,
    /// Temporal transformer blocks.
    pub transformer_blocks: Vec<TemporalTransformerBlock<B>>,
    /// Linear back to the channels (zero at init).
    pub proj_out: Linear<B>,
    /// Most frames the position table covers.
    pub max_len: usize,
    /// See [`MotionModuleConfig::norm_per_frame`].
    pub norm_per_frame: bool,
}

impl MotionModuleConfig {
    /// Builds the module.
    pub fn init<B: Backend>(&self, device: &B::Device) -> MotionModule<B> {
        let c = self.in_channels;
        let dh = c / self.heads;
        let attn = || AttentionConfig::new(c, self.heads, dh).init(device);
        let mut proj_out = LinearConfig::new(c, c).init(device);
        if self.zero_init_proj_out {
            proj_out.weight = Param::from_tensor(Tensor::zeros([c, c], device));
            proj_out.bias = Some(Param::from_tensor(Tensor::zeros([c], device)));
        }
        MotionModule {
            norm: GroupNormConfig::new(self.norm_num_groups, c)
                .with_eps(1e-6)
                .init(device),
            proj_in: LinearConfig::new(c, c).init(device),
            transformer_blocks: (0..self.num_layers)
                .map(|_| TemporalTransformerBlock {
                    norm1: LayerNormConfig::new(c).init(device),
                    attn1: attn(),
                    norm2: LayerNormConfig::new(c).init(device),
                    attn2: attn(),
                    norm3: LayerNormConfig::new(c).init(device),
                    ff: FeedForwardConfig::new(c).init(device),
                })
                .collect(),
            proj_out,
            max_len: self.max_len,
            norm_per_frame: self.norm_per_frame,
        }
    }
}

/// Sinusoidal position table `[1, frames, dim]`: even columns `sin(p·w_i)`, odd `cos(p·w_i)`,
/// `w_i = exp(−2i·ln(10000)/dim)`.
pub fn position_encoding<B: Backend>(
    frames: usize,
    dim: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    let mut pe = vec![0f32; frames * dim];
    for p in 0..frames {
        for i in (0..dim).step_by(2) {
            let w = (-(i as f64) * 10000f64.ln() / dim as f64).exp();
            let a = p as f64 * w;
            pe[p * dim + i] = a.sin() as f32;
            if i + 1 < dim {
                pe[p * dim + i + 1] = a.cos() as f32;
            }
        }
    }
    Tensor::<B, 1>::from_floats(pe.as_slice(), device).reshape([1, frames, dim])
}

impl<B: Backend> TemporalTransformerBlock<B> {
    /// `x` `[b·h·w, f, c]`, `pe` `[1, f, c]`.
    pub fn forward(&self, x: Tensor<B, 3>, pe: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self
            .attn1
            .forward(self.norm1.forward(x.clone()) + pe.clone(), None)
            + x;
        let x = self.attn2.forward(self.norm2.forward(x.clone()) + pe, None) + x;
        self.ff.forward(self.norm3.forward(x.clone())) + x
    }
}

impl<B: Backend> MotionModule<B> {
    /// `x` `[b·f, c, h, w]` with `frames` frames per video → same shape.
    ///
    /// # Panics
    /// When `frames` exceeds the position table (`max_len`) or does not divide the batch.
    pub fn forward(&self, x: Tensor<B, 4>, frames: usize) -> Tensor<B, 4> {
        let [bf, c, h, w] = x.dims();
        assert!(
            frames <= self.max_len && frames > 0 && bf.is_multiple_of(frames),
            "motion module: {frames} frames (max {}) for a batch of {bf}",
            self.max_len
        );
        let b = bf / frames;
        let residual = x.clone();
        // 1. GroupNorm (per frame, or per video over c, f, h, w), same layout
        let normed = if self.norm_per_frame {
            self.norm.forward(x)
        } else {
            self.norm.forward_video(x, frames)
        };
        // 2. tokens over time: [b, f·c, h·w] → [b, h·w, f·c] = [b·h·w, f, c]
        let t = swap_last2(normed.reshape([b, frames * c, h * w])).reshape([b * h * w, frames, c]);
        let mut t = linear_rows(&self.proj_in, t);
        let pe = position_encoding::<B>(frames, c, &t.device());
        for block in &self.transformer_blocks {
            t = block.forward(t, pe.clone());
        }
        let t = linear_rows(&self.proj_out, t);
        // 3. back to [b·f, c, h, w] + residual
        let t = swap_last2(t.reshape([b, h * w, frames * c])).reshape([bf, c, h, w]);
        t + residual
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn zero_initialised_module_is_identity() {
        let dev = Default::default();
        let m = MotionModuleConfig::new(16)
            .with_heads(2)
            .with_norm_num_groups(4)
            .init::<Cpu>(&dev);
        let x = Tensor::<Cpu, 4>::random(
            [6, 16, 3, 2],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let y = m.forward(x.clone(), 3);
        let d: f32 = (y - x).abs().max().into_scalar();
        assert_eq!(d, 0.0);
    }

    #[test]
    fn position_table_matches_formula() {
        let pe: Vec<f32> = position_encoding::<Cpu>(3, 4, &Default::default())
            .into_data()
            .to_vec()
            .unwrap();
        // p = 2, dim 4: [sin 2, cos 2, sin .02, cos .02]
        let want = [2f32.sin(), 2f32.cos(), 0.02f32.sin(), 0.02f32.cos()];
        for (a, b) in pe[8..].iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
