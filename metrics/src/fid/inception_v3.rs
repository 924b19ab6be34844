//! pytorch-fid's `InceptionV3` (FID Inception, block 3 = 2048-d pool3 features).
//!
//! Port of `InceptionV3.forward` in pytorch-fid `src/pytorch_fid/inception.py` with
//! `use_fid_inception=True`, `resize_input=True`, `normalize_input=True`: bilinear resize to
//! 299×299 (`F.interpolate(..., align_corners=False)`, no antialias), `2x − 1` from [0, 1],
//! then the torchvision Inception3 stem and the FID blocks, and a global average pool.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::module::max_pool2d;

use super::basic_conv2d::{conv, BasicConv2d};
use super::inception::{InceptionA, InceptionB, InceptionC, InceptionD, InceptionE};

/// Side of the network input.
pub const FID_SIZE: usize = 299;
/// Feature dimension of the pool3 output.
pub const FID_DIM: usize = 2048;

/// Configuration (no options: the architecture is fixed by the TF graph it reproduces).
#[derive(Config, Debug)]
pub struct FidInceptionV3Config {}

/// The FID Inception network up to pool3. Fields are the state-dict prefixes, lower-cased.
#[derive(Module, Debug)]
pub struct FidInceptionV3<B: Backend> {
    pub conv2d_1a_3x3: BasicConv2d<B>,
    pub conv2d_2a_3x3: BasicConv2d<B>,
    pub conv2d_2b_3x3: BasicConv2d<B>,
    pub conv2d_3b_1x1: BasicConv2d<B>,
    pub conv2d_4a_3x3: BasicConv2d<B>,
    pub mixed_5b: InceptionA<B>,
    pub mixed_5c: InceptionA<B>,
    pub mixed_5d: InceptionA<B>,
    pub mixed_6a: InceptionB<B>,
    pub mixed_6b: InceptionC<B>,
    pub mixed_6c: InceptionC<B>,
    pub mixed_6d: InceptionC<B>,
    pub mixed_6e: InceptionC<B>,
    pub mixed_7a: InceptionD<B>,
    pub mixed_7b: InceptionE<B>,
    pub mixed_7c: InceptionE<B>,
}

impl FidInceptionV3Config {
    /// Builds the network with fresh weights (see [`super::loader`]).
    pub fn init<B: Backend>(&self, device: &B::Device) -> FidInceptionV3<B> {
        let d = device;
        FidInceptionV3 {
            conv2d_1a_3x3: conv(d, 3, 32, [3, 3], [2, 2], [0, 0]),
            conv2d_2a_3x3: conv(d, 32, 32, [3, 3], [1, 1], [0, 0]),
            conv2d_2b_3x3: conv(d, 32, 64, [3, 3], [1, 1], [1, 1]),
            conv2d_3b_1x1: conv(d, 64, 80, [1, 1], [1, 1], [0, 0]),
            conv2d_4a_3x3: conv(d, 80, 192, [3, 3], [1, 1], [0, 0]),
            mixed_5b: InceptionA::new(d, 192, 32),
            mixed_5c: InceptionA::new(d, 256, 64),
            mixed_5d: InceptionA::new(d, 288, 64),
            mixed_6a: InceptionB::new(d, 288),
            mixed_6b: InceptionC::new(d, 768, 128),
            mixed_6c: InceptionC::new(d, 768, 160),
            mixed_6d: InceptionC::new(d, 768, 160),
            mixed_6e: InceptionC::new(d, 768, 192),
            mixed_7a: InceptionD::new(d, 768),
            mixed_7b: InceptionE::new(d, 1280, false),
            mixed_7c: InceptionE::new(d, 2048, true),
        }
    }
}

impl<B: Backend> FidInceptionV3<B> {
    /// `[b, 3, 299, 299]` in [−1, 1] → pool3 `[b, 2048]`; `on_endpoint(name, &x)` after each
    /// layer (names as pytorch-fid's modules: `Conv2d_1a_3x3`, `maxpool1`, `Mixed_5b`, …).
    pub fn forward_with(
        &self,
        x: Tensor<B, 4>,
        mut on_endpoint: impl FnMut(&str, &Tensor<B, 4>),
    ) -> Tensor<B, 2> {
        // 1. stem (block 0 and 1)
        let mut x = self.conv2d_1a_3x3.forward(x);
        on_endpoint("Conv2d_1a_3x3", &x);
        x = self.conv2d_2a_3x3.forward(x);
        on_endpoint("Conv2d_2a_3x3", &x);
        x = self.conv2d_2b_3x3.forward(x);
        on_endpoint("Conv2d_2b_3x3", &x);
        x = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        on_endpoint("maxpool1", &x);
        x = self.conv2d_3b_1x1.forward(x);
        on_endpoint("Conv2d_3b_1x1", &x);
        x = self.conv2d_4a_3x3.forward(x);
        on_endpoint("Conv2d_4a_3x3", &x);
        x = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        on_endpoint("maxpool2", &x);
        // 2. block 2
        for (name, block) in [
            ("Mixed_5b", &self.mixed_5b),
            ("Mixed_5c", &self.mixed_5c),
            ("Mixed_5d", &self.mixed_5d),
        ] {
            x = block.forward(x);
            on_endpoint(name, &x);
        }
        x = self.mixed_6a.forward(x);
        on_endpoint("Mixed_6a", &x);
        for (name, block) in [
            ("Mixed_6b", &self.mixed_6b),
            ("Mixed_6c", &self.mixed_6c),
            ("Mixed_6d", &self.mixed_6d),
            ("Mixed_6e", &self.mixed_6e),
        ] {
            x = block.forward(x);
            on_endpoint(name, &x);
        }
        // 3. block 3 and the global average pool
        x = self.mixed_7a.forward(x);
        on_endpoint("Mixed_7a", &x);
        x = self.mixed_7b.forward(x);
        on_endpoint("Mixed_7b", &x);
        x = self.mixed_7c.forward(x);
        on_endpoint("Mixed_7c", &x);
        let [b, c, h, w] = x.dims();
        x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
    }

    /// `[b, 3, 299, 299]` in [−1, 1] → pool3 `[b, 2048]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_with(x, |_, _| {})
    }
}

/// PyTorch `F.interpolate(mode="bilinear", align_corners=False)` (half-pixel centres, no
/// antialias) of one plane `h × w` into `oh × ow`.
pub fn resize_bilinear_half_pixel(
    src: &[f32],
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
) -> Vec<f32> {
    let axis = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_in as f32 / n_out as f32;
        (0..n_out)
            .map(|o| {
                let s = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                (i0, i1, s - i0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(h, oh), axis(w, ow));
    let mut out = Vec::with_capacity(oh * ow);
    for &(y0, y1, ly) in &ys {
        for &(x0, x1, lx) in &xs {
            let p = |y: usize, x: usize| src[y * w + x];
            let top = p(y0, x0) * (1.0 - lx) + p(y0, x1) * lx;
            let bottom = p(y1, x0) * (1.0 - lx) + p(y1, x1) * lx;
            out.push(top * (1.0 - ly) + bottom * ly);
        }
    }
    out
}

/// pytorch-fid's input transform for `[b, 3, h, w]` images in [0, 1] (row-major planes):
/// resize each plane to 299×299, then `2x − 1`. Returns `[b, 3, 299, 299]` flattened.
pub fn fid_input(images: &[f32], b: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(b * 3 * FID_SIZE * FID_SIZE);
    for plane in images.chunks_exact(h * w).take(b * 3) {
        out.extend(
            resize_bilinear_half_pixel(plane, h, w, FID_SIZE, FID_SIZE)
                .into_iter()
                .map(|v| 2.0 * v - 1.0),
        );
    }
    out
}
