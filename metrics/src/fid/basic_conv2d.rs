//! `BasicConv2d`: Conv2d (no bias) → BatchNorm2d (ε = 1e-3, eval) → ReLU.
//!
//! Port of torchvision `models/inception.py` `BasicConv2d`, used by pytorch-fid's FID Inception.
//! Inference only: the loader folds the BatchNorm into the convolution
//! (`w' = w·γ/√(var+ε)`, `b' = β − mean·γ/√(var+ε)`), so the module is a biased conv + ReLU.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;

/// Configuration of a [`BasicConv2d`].
#[derive(Config, Debug)]
pub struct BasicConv2dConfig {
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Kernel `[h, w]`.
    pub kernel: [usize; 2],
    /// Stride `[h, w]`.
    #[config(default = "[1, 1]")]
    pub stride: [usize; 2],
    /// Symmetric zero padding `[h, w]` (PyTorch `padding=`).
    #[config(default = "[0, 0]")]
    pub padding: [usize; 2],
}

/// Convolution with folded BatchNorm, then ReLU.
#[derive(Module, Debug)]
pub struct BasicConv2d<B: Backend> {
    /// `conv` (+ folded `bn`), weight `[out, in, kh, kw]`, bias `[out]`.
    pub conv: Conv2d<B>,
}

impl BasicConv2dConfig {
    /// Builds the unit with fresh weights (the loader replaces them).
    pub fn init<B: Backend>(&self, device: &B::Device) -> BasicConv2d<B> {
        let conv = Conv2dConfig::new(self.channels, self.kernel)
            .with_stride(self.stride)
            .with_padding(PaddingConfig2d::Explicit(
                self.padding[0],
                self.padding[1],
                self.padding[0],
                self.padding[1],
            ))
            .with_bias(true)
            .init(device);
        BasicConv2d { conv }
    }
}

impl<B: Backend> BasicConv2d<B> {
    /// `[b, in, h, w]` → `[b, out, h', w']`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        burn::tensor::activation::relu(self.conv.forward(x))
    }
}

/// Shorthand used by the block constructors: `conv(in, out, [kh, kw], [sh, sw], [ph, pw])`.
pub fn conv<B: Backend>(
    device: &B::Device,
    i: usize,
    o: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> BasicConv2d<B> {
    BasicConv2dConfig::new([i, o], k)
        .with_stride(s)
        .with_padding(p)
        .init(device)
}
