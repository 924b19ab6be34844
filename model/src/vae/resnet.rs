//! The VAE's building blocks, ports of diffusers' `models/resnet.py` (`ResnetBlock2D` without a
//! time embedding), `models/downsampling.py` (`Downsample2D`, asymmetric pad (0,1,0,1) + stride-2
//! conv) and `models/upsampling.py` (`Upsample2D`, nearest ×2 + conv).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{backend::Backend, Tensor};

/// A 3×3, stride-1, padding-1 convolution.
pub fn conv3x3<B: Backend>(c_in: usize, c_out: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// GroupNorm with the VAE's ε = 1e-6.
pub fn group_norm<B: Backend>(groups: usize, channels: usize, device: &B::Device) -> GroupNorm<B> {
    GroupNormConfig::new(groups, channels)
        .with_epsilon(1e-6)
        .init(device)
}

/// `ResnetBlock2D` (no time embedding): GN → SiLU → conv → GN → SiLU → conv, plus shortcut.
#[derive(Module, Debug)]
pub struct ResnetBlock2D<B: Backend> {
    pub norm1: GroupNorm<B>,
    pub conv1: Conv2d<B>,
    pub norm2: GroupNorm<B>,
    pub conv2: Conv2d<B>,
    /// 1×1 conv when the channel count changes.
    pub conv_shortcut: Option<Conv2d<B>>,
}

impl<B: Backend> ResnetBlock2D<B> {
    pub fn new(c_in: usize, c_out: usize, groups: usize, device: &B::Device) -> Self {
        Self {
            norm1: group_norm(groups, c_in, device),
            conv1: conv3x3(c_in, c_out, device),
            norm2: group_norm(groups, c_out, device),
            conv2: conv3x3(c_out, c_out, device),
            conv_shortcut: (c_in != c_out)
                .then(|| Conv2dConfig::new([c_in, c_out], [1, 1]).init(device)),
        }
    }

    /// [B, C_in, H, W] → [B, C_out, H, W].
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let x = match &self.conv_shortcut {
            Some(c) => c.forward(x),
            None => x,
        };
        x + h
    }
}

/// `Downsample2D` as the VAE encoder uses it (`padding=0`: pad right/bottom by one, stride 2).
#[derive(Module, Debug)]
pub struct Downsample2D<B: Backend> {
    pub conv: Conv2d<B>,
}

impl<B: Backend> Downsample2D<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            conv: Conv2dConfig::new([channels, channels], [3, 3])
                .with_stride([2, 2])
                // (top, left, bottom, right) = diffusers' F.pad(x, (0, 1, 0, 1))
                .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
                .init(device),
        }
    }

    /// [B, C, H, W] → [B, C, H/2, W/2].
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.conv.forward(x)
    }
}

/// `Upsample2D`: nearest-neighbour ×2 then a 3×3 conv.
#[derive(Module, Debug)]
pub struct Upsample2D<B: Backend> {
    pub conv: Conv2d<B>,
}

impl<B: Backend> Upsample2D<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            conv: conv3x3(channels, channels, device),
        }
    }

    /// [B, C, H, W] → [B, C, 2H, 2W].
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let options = InterpolateOptions {
            mode: InterpolateMode::Nearest,
            align_corners: false,
        };
        self.conv.forward(interpolate(x, [h * 2, w * 2], options))
    }
}
