//! The UNet inflated over frames (ports AnimateDiff `animatediff/models/unet.py`
//! `UNet3DConditionModel` with `use_inflated_groupnorm`, numerically diffusers
//! `unets/unet_motion_model.py` `UNetMotionModel`): frames are folded into the batch for every
//! conv, GroupNorm and spatial transformer; the motion modules attend over frames.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::blocks::{BlockSpec, DownBlock, MidBlock, UpBlock};
use super::embeddings::{timestep_embedding, TimestepEmbedding, TimestepEmbeddingConfig};
use super::norm::{GroupNorm, GroupNormConfig};
use crate::motion::MotionModuleConfig;

/// Config of a [`UNet3DConditionModel`].
#[derive(Config, Debug)]
pub struct UNet3DConfig {
    /// Latent channels in.
    #[config(default = 4)]
    pub in_channels: usize,
    /// Latent channels out.
    #[config(default = 4)]
    pub out_channels: usize,
    /// Channels of each level (SD1.5: 320, 640, 1280, 1280).
    pub block_out_channels: Vec<usize>,
    /// Whether down block `i` has spatial cross-attention (up blocks mirror it).
    pub cross_attn: Vec<bool>,
    /// Resnets per down block (up blocks have one more).
    #[config(default = 2)]
    pub layers_per_block: usize,
    /// GroupNorm groups.
    #[config(default = 32)]
    pub norm_num_groups: usize,
    /// Resnet / output GroupNorm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Text context width.
    #[config(default = 768)]
    pub cross_attention_dim: usize,
    /// Spatial attention heads.
    #[config(default = 8)]
    pub attention_heads: usize,
    /// AnimateDiff motion modules (their `in_channels` is set per block), or a plain image UNet.
    pub motion: Option<MotionModuleConfig>,
    /// Timestep features as `[cos, sin]`.
    #[config(default = true)]
    pub flip_sin_to_cos: bool,
    /// Frequency shift of the timestep features.
    #[config(default = 0.0)]
    pub freq_shift: f64,
}

impl UNet3DConfig {
    /// SD1.5 + AnimateDiff v3 as MagicTime runs it (diffusers `unet/config.json` of
    /// `runwayml/stable-diffusion-v1-5`, AnimateDiff `configs/inference/inference-v3.yaml`).
    pub fn sd15() -> Self {
        Self::new(vec![320, 640, 1280, 1280], vec![true, true, true, false]).with_motion(Some(
            MotionModuleConfig::new(0).with_heads(8).with_max_len(32),
        ))
    }

    /// A tiny network for tests and the end-to-end CLI check (context width 32).
    pub fn tiny() -> Self {
        Self::new(vec![32, 64], vec![true, false])
            .with_layers_per_block(1)
            .with_norm_num_groups(8)
            .with_cross_attention_dim(32)
            .with_attention_heads(2)
            .with_motion(Some(
                MotionModuleConfig::new(0)
                    .with_heads(2)
                    .with_norm_num_groups(8),
            ))
    }

    /// The config of `tools/parity/make_unet_fixtures.py` (diffusers' motion GroupNorm).
    pub fn parity() -> Self {
        Self::new(vec![32, 48], vec![true, false])
            .with_layers_per_block(1)
            .with_norm_num_groups(8)
            .with_cross_attention_dim(32)
            .with_attention_heads(2)
            .with_motion(Some(
                MotionModuleConfig::new(0)
                    .with_heads(2)
                    .with_norm_num_groups(8)
                    .with_norm_per_frame(false),
            ))
    }

    /// The benchmark network: channels 64/128/256, SD1.5 block layout otherwise.
    pub fn bench() -> Self {
        Self::new(vec![64, 128, 256], vec![true, true, false])
            .with_motion(Some(MotionModuleConfig::new(0).with_heads(8)))
    }

    /// Width of the time embedding (4 × the first level).
    pub fn time_embed_dim(&self) -> usize {
        self.block_out_channels[0] * 4
    }

    /// Checks the config describes a buildable network.
    pub fn validate(&self) -> crate::Result<()> {
        let err = |m: String| Err(crate::ModelError::Config(m));
        if self.block_out_channels.is_empty()
            || self.block_out_channels.len() != self.cross_attn.len()
        {
            return err(format!(
                "block_out_channels {:?} and cross_attn {:?} must be non-empty and of equal length",
                self.block_out_channels, self.cross_attn
            ));
        }
        for &c in &self.block_out_channels {
            if !c.is_multiple_of(self.norm_num_groups) || !c.is_multiple_of(self.attention_heads) {
                return err(format!(
                    "channels {c} must be divisible by norm_num_groups {} and attention_heads {}",
                    self.norm_num_groups, self.attention_heads
                ));
            }
            if let Some(m) = &self.motion {
                if !c.is_multiple_of(m.heads) || !c.is_multiple_of(m.norm_num_groups) {
                    return err(format!("channels {c} not divisible by motion heads/groups"));
                }
            }
        }
        Ok(())
    }

    /// Builds the network (random init; motion `proj_out` zero). Panics on an invalid config;
    /// call [`Self::validate`] first for a typed error.
    pub fn init<B: Backend>(&self, device: &B::Device) -> UNet3DConditionModel<B> {
        self.validate().expect("valid UNet3DConfig");
        let ch = &self.block_out_channels;
        let n = ch.len();
        let temb = self.time_embed_dim();
        let spec = BlockSpec {
            temb,
            groups: self.norm_num_groups,
            eps: self.norm_eps,
            heads: self.attention_heads,
            cross_attention_dim: self.cross_attention_dim,
            motion: self.motion.clone(),
        };
        let conv3 = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let down_blocks = (0..n)
            .map(|i| {
                let cin = if i == 0 { ch[0] } else { ch[i - 1] };
                DownBlock::new(
                    &spec,
                    cin,
                    ch[i],
                    self.layers_per_block,
                    self.cross_attn[i],
                    i + 1 < n,
                    device,
                )
            })
            .collect();
        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let rev_attn: Vec<bool> = self.cross_attn.iter().rev().copied().collect();
        let up_blocks = (0..n)
            .map(|i| {
                let prev = if i == 0 { rev[0] } else { rev[i - 1] };
                let skip_in = rev[(i + 1).min(n - 1)];
                UpBlock::new(
                    &spec,
                    skip_in,
                    prev,
                    rev[i],
                    self.layers_per_block + 1,
                    rev_attn[i],
                    i + 1 < n,
                    device,
                )
            })
            .collect();
        UNet3DConditionModel {
            conv_in: conv3(self.in_channels, ch[0]),
            time_embedding: TimestepEmbeddingConfig::new(ch[0], temb).init(device),
            down_blocks,
            mid_block: MidBlock::new(&spec, ch[n - 1], device),
            up_blocks,
            conv_norm_out: GroupNormConfig::new(self.norm_num_groups, ch[0])
                .with_eps(self.norm_eps)
                .init(device),
            conv_out: conv3(ch[0], self.out_channels),
            time_proj_dim: ch[0],
            flip_sin_to_cos: self.flip_sin_to_cos,
            freq_shift: self.freq_shift,
        }
    }
}

/// The noise-prediction network ε(x_t, t, text) over videos.
#[derive(Module, Debug)]
pub struct UNet3DConditionModel<B: Backend> {
    /// 3×3 conv from the latent.
    pub conv_in: Conv2d<B>,
    /// Timestep MLP.
    pub time_embedding: TimestepEmbedding<B>,
    /// Down blocks.
    pub down_blocks: Vec<DownBlock<B>>,
    /// Mid block.
    pub mid_block: MidBlock<B>,
    /// Up blocks.
    pub up_blocks: Vec<UpBlock<B>>,
    /// Output GroupNorm.
    pub conv_norm_out: GroupNorm<B>,
    /// 3×3 conv to the latent.
    pub conv_out: Conv2d<B>,
    /// Width of the sinusoidal timestep features.
    pub time_proj_dim: usize,
    /// `[cos, sin]` order.
    pub flip_sin_to_cos: bool,
    /// Frequency shift.
    pub freq_shift: f64,
}

impl<B: Backend> UNet3DConditionModel<B> {
    /// The image UNet: this network with its motion modules taken out (upstream `is_image`
    /// training, where the temporal layers are removed and frames are independent images).
    pub fn without_motion(&self) -> Self {
        let mut u = self.clone();
        u.down_blocks
            .iter_mut()
            .for_each(|b| b.motion_modules.clear());
        u.up_blocks
            .iter_mut()
            .for_each(|b| b.motion_modules.clear());
        u
    }

    /// This network with the motion modules of `other` (same config) put back in.
    pub fn with_motion_of(mut self, other: &Self) -> Self {
        for (b, o) in self.down_blocks.iter_mut().zip(&other.down_blocks) {
            b.motion_modules = o.motion_modules.clone();
        }
        for (b, o) in self.up_blocks.iter_mut().zip(&other.up_blocks) {
            b.motion_modules = o.motion_modules.clone();
        }
        self
    }

    /// Maps the motion modules only (e.g. to make them the one trainable part).
    pub fn map_motion<M: burn::module::ModuleMapper<B>>(mut self, mapper: &mut M) -> Self {
        for b in &mut self.down_blocks {
            b.motion_modules = std::mem::take(&mut b.motion_modules)
                .into_iter()
                .map(|m| m.map(mapper))
                .collect();
        }
        for b in &mut self.up_blocks {
            b.motion_modules = std::mem::take(&mut b.motion_modules)
                .into_iter()
                .map(|m| m.map(mapper))
                .collect();
        }
        self
    }

    /// `sample` `[b, c, f, h, w]`, `timesteps` `[b]`, `context` `[b, l, d]` → `[b, c_out, f, h, w]`.
    pub fn forward(
        &self,
        sample: Tensor<B, 5>,
        timesteps: Tensor<B, 1>,
        context: Tensor<B, 3>,
    ) -> Tensor<B, 5> {
        let [b, c, f, h, w] = sample.dims();
        // 1. time: embedding per video, repeated for each frame
        let t = timestep_embedding(
            timesteps,
            self.time_proj_dim,
            self.flip_sin_to_cos,
            self.freq_shift,
        );
        let emb = self.time_embedding.forward(t);
        let d = emb.dims()[1];
        let emb = emb.reshape([b, 1, d]).expand([b, f, d]).reshape([b * f, d]);
        let [_, l, dc] = context.dims();
        let context = context
            .reshape([b, 1, l, dc])
            .expand([b, f, l, dc])
            .reshape([b * f, l, dc]);
        // 2. frames into the batch: [b·f, c, h, w]
        let x = sample.swap_dims(1, 2).reshape([b * f, c, h, w]);
        let x = self.conv_in.forward(x);
        // 3. down
        let mut skips = vec![x.clone()];
        let mut x = x;
        for block in &self.down_blocks {
            let (y, states) = block.forward(x, &emb, &context, f);
            skips.extend(states);
            x = y;
        }
        // 4. mid
        let mut x = self.mid_block.forward(x, &emb, &context);
        // 5. up
        for block in &self.up_blocks {
            x = block.forward(x, &mut skips, &emb, &context, f);
        }
        // 6. out, frames back out of the batch
        let x = self.conv_out.forward(self.conv_norm_out.forward_silu(x));
        let [_, co, ho, wo] = x.dims();
        x.reshape([b, f, co, ho, wo]).swap_dims(1, 2)
    }
}
