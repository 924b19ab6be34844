//! VAE encoder and decoder, ports of diffusers' `models/autoencoders/vae.py` (`Encoder`,
//! `Decoder`) and the blocks they use from `models/unets/unet_2d_blocks.py`
//! (`DownEncoderBlock2D`, `UpDecoderBlock2D`, `UNetMidBlock2D`).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::GroupNorm;
use burn::tensor::activation::silu;
use burn::tensor::{backend::Backend, Tensor};

use super::attention::VaeAttention;
use super::resnet::{conv3x3, group_norm, Downsample2D, ResnetBlock2D, Upsample2D};
use super::AutoencoderKlConfig;

/// `UNetMidBlock2D` without time embedding: resnet → (attention → resnet)*.
#[derive(Module, Debug)]
pub struct MidBlock2D<B: Backend> {
    pub resnets: Vec<ResnetBlock2D<B>>,
    pub attentions: Vec<VaeAttention<B>>,
}

impl<B: Backend> MidBlock2D<B> {
    fn new(c: usize, groups: usize, attention: bool, device: &B::Device) -> Self {
        Self {
            resnets: (0..2)
                .map(|_| ResnetBlock2D::new(c, c, groups, device))
                .collect(),
            attentions: if attention {
                vec![VaeAttention::new(c, groups, device)]
            } else {
                vec![]
            },
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = self.resnets[0].forward(x);
        for (i, resnet) in self.resnets[1..].iter().enumerate() {
            if let Some(attn) = self.attentions.get(i) {
                x = attn.forward(x);
            }
            x = resnet.forward(x);
        }
        x
    }
}

/// `DownEncoderBlock2D`: resnets then an optional stride-2 downsampler (`downsamplers.0`).
#[derive(Module, Debug)]
pub struct DownEncoderBlock2D<B: Backend> {
    pub resnets: Vec<ResnetBlock2D<B>>,
    pub downsamplers: Vec<Downsample2D<B>>,
}

/// `UpDecoderBlock2D`: resnets then an optional nearest ×2 upsampler (`upsamplers.0`).
#[derive(Module, Debug)]
pub struct UpDecoderBlock2D<B: Backend> {
    pub resnets: Vec<ResnetBlock2D<B>>,
    pub upsamplers: Vec<Upsample2D<B>>,
}

/// Image [B, 3, H, W] → Gaussian moments [B, 2·latent, H/2^(n−1), W/2^(n−1)] (before quant_conv).
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    pub conv_in: Conv2d<B>,
    pub down_blocks: Vec<DownEncoderBlock2D<B>>,
    pub mid_block: MidBlock2D<B>,
    pub conv_norm_out: GroupNorm<B>,
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Encoder<B> {
    pub fn new(c: &AutoencoderKlConfig, device: &B::Device) -> Self {
        let boc = &c.block_out_channels;
        let g = c.norm_num_groups;
        let mut prev = boc[0];
        let down_blocks = boc
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let resnets = (0..c.layers_per_block)
                    .map(|j| ResnetBlock2D::new(if j == 0 { prev } else { out }, out, g, device))
                    .collect();
                prev = out;
                DownEncoderBlock2D {
                    resnets,
                    downsamplers: if i + 1 < boc.len() {
                        vec![Downsample2D::new(out, device)]
                    } else {
                        vec![]
                    },
                }
            })
            .collect();
        let last = *boc.last().expect("block_out_channels not empty");
        Self {
            conv_in: conv3x3(c.in_channels, boc[0], device),
            down_blocks,
            mid_block: MidBlock2D::new(last, g, c.mid_block_add_attention, device),
            conv_norm_out: group_norm(g, last, device),
            conv_out: conv3x3(last, 2 * c.latent_channels, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        // 1. in
        let mut x = self.conv_in.forward(x);
        // 2. down
        for block in &self.down_blocks {
            for r in &block.resnets {
                x = r.forward(x);
            }
            for d in &block.downsamplers {
                x = d.forward(x);
            }
        }
        // 3. mid
        let x = self.mid_block.forward(x);
        // 4. out
        self.conv_out.forward(silu(self.conv_norm_out.forward(x)))
    }
}

/// Latents [B, latent, h, w] (after post_quant_conv) → image [B, 3, h·2^(n−1), w·2^(n−1)].
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    pub conv_in: Conv2d<B>,
    pub mid_block: MidBlock2D<B>,
    pub up_blocks: Vec<UpDecoderBlock2D<B>>,
    pub conv_norm_out: GroupNorm<B>,
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Decoder<B> {
    pub fn new(c: &AutoencoderKlConfig, device: &B::Device) -> Self {
        let rev: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
        let g = c.norm_num_groups;
        let mut prev = rev[0];
        let up_blocks = rev
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let resnets = (0..c.layers_per_block + 1)
                    .map(|j| ResnetBlock2D::new(if j == 0 { prev } else { out }, out, g, device))
                    .collect();
                prev = out;
                UpDecoderBlock2D {
                    resnets,
                    upsamplers: if i + 1 < rev.len() {
                        vec![Upsample2D::new(out, device)]
                    } else {
                        vec![]
                    },
                }
            })
            .collect();
        let first = *rev.last().expect("block_out_channels not empty");
        Self {
            conv_in: conv3x3(c.latent_channels, rev[0], device),
            mid_block: MidBlock2D::new(rev[0], g, c.mid_block_add_attention, device),
            up_blocks,
            conv_norm_out: group_norm(g, first, device),
            conv_out: conv3x3(first, c.out_channels, device),
        }
    }

    pub fn forward(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        // 1. in
        let x = self.conv_in.forward(z);
        // 2. mid
        let mut x = self.mid_block.forward(x);
        // 3. up
        for block in &self.up_blocks {
            for r in &block.resnets {
                x = r.forward(x);
            }
            for u in &block.upsamplers {
                x = u.forward(x);
            }
        }
        // 4. out
        self.conv_out.forward(silu(self.conv_norm_out.forward(x)))
    }
}
