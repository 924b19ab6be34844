//! `ResnetBlock2D` with a time embedding, `Downsample2D` and `Upsample2D` (ports diffusers
//! `models/resnet.py`). Under AnimateDiff's `use_inflated_groupnorm` the frames are folded into the
//! batch, so every conv and GroupNorm here runs per frame on `[b·f, c, h, w]`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::norm::{GroupNorm, GroupNormConfig};

/// Config of a [`ResnetBlock2D`].
#[derive(Config, Debug)]
pub struct ResnetBlock2DConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Width of the time embedding.
    pub temb_channels: usize,
    /// GroupNorm groups.
    #[config(default = 32)]
    pub groups: usize,
    /// GroupNorm epsilon.
    #[config(default = 1e-5)]
    pub eps: f64,
    /// The output is divided by this (1 in SD1.5).
    #[config(default = 1.0)]
    pub output_scale_factor: f64,
}

/// norm1 → SiLU → conv1 → + time_emb_proj(SiLU(temb)) → norm2 → SiLU → conv2, plus the
/// (1×1 conv) shortcut.
#[derive(Module, Debug)]
pub struct ResnetBlock2D<B: Backend> {
    /// First GroupNorm.
    pub norm1: GroupNorm<B>,
    /// First 3×3 conv.
    pub conv1: Conv2d<B>,
    /// Time embedding → channels.
    pub time_emb_proj: Linear<B>,
    /// Second GroupNorm.
    pub norm2: GroupNorm<B>,
    /// Second 3×3 conv.
    pub conv2: Conv2d<B>,
    /// 1×1 shortcut when the channel count changes.
    pub conv_shortcut: Option<Conv2d<B>>,
    /// Output divisor.
    pub output_scale_factor: f64,
}

fn conv3<B: Backend>(cin: usize, cout: usize, stride: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl ResnetBlock2DConfig {
    /// Builds the block.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ResnetBlock2D<B> {
        let (ci, co) = (self.in_channels, self.out_channels);
        ResnetBlock2D {
            norm1: GroupNormConfig::new(self.groups, ci)
                .with_eps(self.eps)
                .init(device),
            conv1: conv3(ci, co, 1, device),
            time_emb_proj: LinearConfig::new(self.temb_channels, co).init(device),
            norm2: GroupNormConfig::new(self.groups, co)
                .with_eps(self.eps)
                .init(device),
            conv2: conv3(co, co, 1, device),
            conv_shortcut: (ci != co).then(|| Conv2dConfig::new([ci, co], [1, 1]).init(device)),
            output_scale_factor: self.output_scale_factor,
        }
    }
}

impl<B: Backend> ResnetBlock2D<B> {
    /// `x` `[n, c_in, h, w]`, `temb` `[n, temb_channels]` (already repeated per frame).
    pub fn forward(&self, x: Tensor<B, 4>, temb: Tensor<B, 2>) -> Tensor<B, 4> {
        let h = self.conv1.forward(self.norm1.forward_silu(x.clone()));
        let t = self.time_emb_proj.forward(silu(temb));
        let [n, c] = t.dims();
        let h = h + t.reshape([n, c, 1, 1]);
        let h = self.conv2.forward(self.norm2.forward_silu(h));
        let shortcut = match &self.conv_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        let out = shortcut + h;
        if self.output_scale_factor == 1.0 {
            out
        } else {
            out / self.output_scale_factor
        }
    }
}

/// Stride-2 3×3 conv (`downsamplers.0.conv`, padding 1).
#[derive(Module, Debug)]
pub struct Downsample2D<B: Backend> {
    /// The conv.
    pub conv: Conv2d<B>,
}

impl<B: Backend> Downsample2D<B> {
    /// Builds the downsampler for `channels`.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            conv: conv3(channels, channels, 2, device),
        }
    }

    /// `[n, c, h, w]` → `[n, c, h/2, w/2]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.conv.forward(x)
    }
}

/// Nearest ×2 upsampling then a 3×3 conv (`upsamplers.0.conv`).
#[derive(Module, Debug)]
pub struct Upsample2D<B: Backend> {
    /// The conv.
    pub conv: Conv2d<B>,
}

impl<B: Backend> Upsample2D<B> {
    /// Builds the upsampler for `channels`.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            conv: conv3(channels, channels, 1, device),
        }
    }

    /// `[n, c, h, w]` → `[n, c, out_h, out_w]`; the size defaults to `2h × 2w` (nearest).
    pub fn forward(&self, x: Tensor<B, 4>, size: Option<[usize; 2]>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let up = match size {
            Some([oh, ow]) if oh != 2 * h || ow != 2 * w => burn::tensor::module::interpolate(
                x,
                [oh, ow],
                burn::tensor::ops::InterpolateOptions::new(
                    burn::tensor::ops::InterpolateMode::Nearest,
                ),
            ),
            _ => x
                .reshape([n, c, h, 1, w, 1])
                .expand([n, c, h, 2, w, 2])
                .reshape([n, c, 2 * h, 2 * w]),
        };
        self.conv.forward(up)
    }
}
