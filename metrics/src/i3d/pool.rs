//! Max pooling with TF "SAME" padding and the final average pooling of I3D.
//!
//! Ports `nn.max_pool(..., padding="SAME")` and `nn.avg_pool(..., padding="VALID")` as used by
//! i3d-jax `i3d_jax/i3d.py`. Burn 0.21 has no 3-D pooling, and a max over a box is separable:
//! pad with −∞ (what `lax.reduce_window` pads a max with), take a 2-D max pool over (h, w), then
//! a max pool over t.

use burn::prelude::*;
use burn::tensor::module::{avg_pool2d, max_pool2d};

use super::unit3d::pad_same;

/// Max pool of `[b, c, t, h, w]` with window `kernel`, `stride`, TF "SAME" padding.
pub fn max_pool3d_same<B: Backend>(
    x: Tensor<B, 5>,
    kernel: [usize; 3],
    stride: [usize; 3],
) -> Tensor<B, 5> {
    let x = pad_same(x, kernel, stride, f32::NEG_INFINITY);
    let [b, c, t, h, w] = x.dims();
    // 1. (h, w) window on [b, c·t, h, w]
    let x = if kernel[1] > 1 || kernel[2] > 1 || stride[1] > 1 || stride[2] > 1 {
        max_pool2d(
            x.reshape([b, c * t, h, w]),
            [kernel[1], kernel[2]],
            [stride[1], stride[2]],
            [0, 0],
            [1, 1],
            false,
        )
    } else {
        x.reshape([b, c * t, h, w])
    };
    let [_, _, ho, wo] = x.dims();
    // 2. t window on [b·c, 1, t, ho·wo]
    let x = if kernel[0] > 1 || stride[0] > 1 {
        max_pool2d(
            x.reshape([b * c, 1, t, ho * wo]),
            [kernel[0], 1],
            [stride[0], 1],
            [0, 0],
            [1, 1],
            false,
        )
    } else {
        x.reshape([b * c, 1, t, ho * wo])
    };
    let to = x.dims()[2];
    x.reshape([b, c, to, ho, wo])
}

/// `nn.avg_pool(window (2, 7, 7), stride 1, VALID)` followed by the mean over the remaining time
/// steps (i3d-jax averages the logits over time; the logits layer is linear, so averaging the
/// pooled features first gives the same logits). `[b, c, t, 7, 7]` → `[b, c]`.
pub fn logits_pool<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 2> {
    let [b, c, t, h, w] = x.dims();
    assert!(
        h == 7 && w == 7 && t >= 2,
        "I3D pool expects [b, c, t>=2, 7, 7], got {:?}",
        x.dims()
    );
    // spatial 7x7 VALID → 1x1
    let x = avg_pool2d(
        x.reshape([b, c * t, h, w]),
        [7, 7],
        [1, 1],
        [0, 0],
        true,
        false,
    );
    // temporal window 2, stride 1 → t − 1 positions, then their mean
    let x = x.reshape([b * c, 1, t, 1]);
    let x = avg_pool2d(x, [2, 1], [1, 1], [0, 0], true, false);
    x.reshape([b, c, t - 1]).mean_dim(2).reshape([b, c])
}
