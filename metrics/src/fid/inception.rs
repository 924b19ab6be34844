//! The Inception blocks of pytorch-fid's "FID Inception" (TF 2015-12-05 graph).
//!
//! Ports `FIDInceptionA`, `FIDInceptionC`, `FIDInceptionE_1`, `FIDInceptionE_2` of pytorch-fid
//! `src/pytorch_fid/inception.py` and the unpatched `InceptionB`, `InceptionD` of torchvision
//! `models/inception.py`. The FID variants differ from torchvision's in their pool branches:
//! average pools exclude the padding (`count_include_pad=False`), and the last block (E_2) uses a
//! max pool. Field names are the state-dict keys (`branch3x3dbl_1`, …).

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::module::{avg_pool2d, max_pool2d};

use super::basic_conv2d::{conv, BasicConv2d};

fn avg3_no_pad<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    avg_pool2d(x, [3, 3], [1, 1], [1, 1], false, false)
}

/// `FIDInceptionA` (Mixed_5b/5c/5d): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avgpool→1×1.
#[derive(Module, Debug)]
pub struct InceptionA<B: Backend> {
    pub branch1x1: BasicConv2d<B>,
    pub branch5x5_1: BasicConv2d<B>,
    pub branch5x5_2: BasicConv2d<B>,
    pub branch3x3dbl_1: BasicConv2d<B>,
    pub branch3x3dbl_2: BasicConv2d<B>,
    pub branch3x3dbl_3: BasicConv2d<B>,
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionA<B> {
    /// Block with `c` input channels and `pool` pool-branch channels.
    pub fn new(device: &B::Device, c: usize, pool: usize) -> Self {
        Self {
            branch1x1: conv(device, c, 64, [1, 1], [1, 1], [0, 0]),
            branch5x5_1: conv(device, c, 48, [1, 1], [1, 1], [0, 0]),
            branch5x5_2: conv(device, 48, 64, [5, 5], [1, 1], [2, 2]),
            branch3x3dbl_1: conv(device, c, 64, [1, 1], [1, 1], [0, 0]),
            branch3x3dbl_2: conv(device, 64, 96, [3, 3], [1, 1], [1, 1]),
            branch3x3dbl_3: conv(device, 96, 96, [3, 3], [1, 1], [1, 1]),
            branch_pool: conv(device, c, pool, [1, 1], [1, 1], [0, 0]),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b5 = self
            .branch5x5_2
            .forward(self.branch5x5_1.forward(x.clone()));
        let b3 = self.branch3x3dbl_1.forward(x.clone());
        let b3 = self.branch3x3dbl_3.forward(self.branch3x3dbl_2.forward(b3));
        let bp = self.branch_pool.forward(avg3_no_pad(x));
        Tensor::cat(vec![b1, b5, b3, bp], 1)
    }
}

/// `InceptionB` (Mixed_6a, grid reduction): 3×3/2 | 1×1→3×3→3×3/2 | maxpool 3/2.
#[derive(Module, Debug)]
pub struct InceptionB<B: Backend> {
    pub branch3x3: BasicConv2d<B>,
    pub branch3x3dbl_1: BasicConv2d<B>,
    pub branch3x3dbl_2: BasicConv2d<B>,
    pub branch3x3dbl_3: BasicConv2d<B>,
}

impl<B: Backend> InceptionB<B> {
    pub fn new(device: &B::Device, c: usize) -> Self {
        Self {
            branch3x3: conv(device, c, 384, [3, 3], [2, 2], [0, 0]),
            branch3x3dbl_1: conv(device, c, 64, [1, 1], [1, 1], [0, 0]),
            branch3x3dbl_2: conv(device, 64, 96, [3, 3], [1, 1], [1, 1]),
            branch3x3dbl_3: conv(device, 96, 96, [3, 3], [2, 2], [0, 0]),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self.branch3x3.forward(x.clone());
        let bd = self.branch3x3dbl_1.forward(x.clone());
        let bd = self.branch3x3dbl_3.forward(self.branch3x3dbl_2.forward(bd));
        let bp = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        Tensor::cat(vec![b3, bd, bp], 1)
    }
}

/// `FIDInceptionC` (Mixed_6b–6e): factorised 7×7 branches.
#[derive(Module, Debug)]
pub struct InceptionC<B: Backend> {
    pub branch1x1: BasicConv2d<B>,
    pub branch7x7_1: BasicConv2d<B>,
    pub branch7x7_2: BasicConv2d<B>,
    pub branch7x7_3: BasicConv2d<B>,
    pub branch7x7dbl_1: BasicConv2d<B>,
    pub branch7x7dbl_2: BasicConv2d<B>,
    pub branch7x7dbl_3: BasicConv2d<B>,
    pub branch7x7dbl_4: BasicConv2d<B>,
    pub branch7x7dbl_5: BasicConv2d<B>,
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionC<B> {
    /// Block with `c` input channels and `c7` channels in the 7×7 branches.
    pub fn new(device: &B::Device, c: usize, c7: usize) -> Self {
        let (k17, p17, k71, p71) = ([1, 7], [0, 3], [7, 1], [3, 0]);
        Self {
            branch1x1: conv(device, c, 192, [1, 1], [1, 1], [0, 0]),
            branch7x7_1: conv(device, c, c7, [1, 1], [1, 1], [0, 0]),
            branch7x7_2: conv(device, c7, c7, k17, [1, 1], p17),
            branch7x7_3: conv(device, c7, 192, k71, [1, 1], p71),
            branch7x7dbl_1: conv(device, c, c7, [1, 1], [1, 1], [0, 0]),
            branch7x7dbl_2: conv(device, c7, c7, k71, [1, 1], p71),
            branch7x7dbl_3: conv(device, c7, c7, k17, [1, 1], p17),
            branch7x7dbl_4: conv(device, c7, c7, k71, [1, 1], p71),
            branch7x7dbl_5: conv(device, c7, 192, k17, [1, 1], p17),
            branch_pool: conv(device, c, 192, [1, 1], [1, 1], [0, 0]),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b7 = self.branch7x7_1.forward(x.clone());
        let b7 = self.branch7x7_3.forward(self.branch7x7_2.forward(b7));
        let bd = self.branch7x7dbl_1.forward(x.clone());
        let bd = self.branch7x7dbl_3.forward(self.branch7x7dbl_2.forward(bd));
        let bd = self.branch7x7dbl_5.forward(self.branch7x7dbl_4.forward(bd));
        let bp = self.branch_pool.forward(avg3_no_pad(x));
        Tensor::cat(vec![b1, b7, bd, bp], 1)
    }
}

/// `InceptionD` (Mixed_7a, grid reduction).
#[derive(Module, Debug)]
pub struct InceptionD<B: Backend> {
    pub branch3x3_1: BasicConv2d<B>,
    pub branch3x3_2: BasicConv2d<B>,
    pub branch7x7x3_1: BasicConv2d<B>,
    pub branch7x7x3_2: BasicConv2d<B>,
    pub branch7x7x3_3: BasicConv2d<B>,
    pub branch7x7x3_4: BasicConv2d<B>,
}

impl<B: Backend> InceptionD<B> {
    pub fn new(device: &B::Device, c: usize) -> Self {
        Self {
            branch3x3_1: conv(device, c, 192, [1, 1], [1, 1], [0, 0]),
            branch3x3_2: conv(device, 192, 320, [3, 3], [2, 2], [0, 0]),
            branch7x7x3_1: conv(device, c, 192, [1, 1], [1, 1], [0, 0]),
            branch7x7x3_2: conv(device, 192, 192, [1, 7], [1, 1], [0, 3]),
            branch7x7x3_3: conv(device, 192, 192, [7, 1], [1, 1], [3, 0]),
            branch7x7x3_4: conv(device, 192, 192, [3, 3], [2, 2], [0, 0]),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self
            .branch3x3_2
            .forward(self.branch3x3_1.forward(x.clone()));
        let b7 = self.branch7x7x3_1.forward(x.clone());
        let b7 = self.branch7x7x3_2.forward(b7);
        let b7 = self.branch7x7x3_4.forward(self.branch7x7x3_3.forward(b7));
        let bp = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        Tensor::cat(vec![b3, b7, bp], 1)
    }
}

/// `FIDInceptionE_1` / `FIDInceptionE_2` (Mixed_7b / 7c): expanded 3×3 branches; the pool
/// branch is an average pool without padding counts (E_1) or a max pool (E_2).
#[derive(Module, Debug)]
pub struct InceptionE<B: Backend> {
    pub branch1x1: BasicConv2d<B>,
    pub branch3x3_1: BasicConv2d<B>,
    pub branch3x3_2a: BasicConv2d<B>,
    pub branch3x3_2b: BasicConv2d<B>,
    pub branch3x3dbl_1: BasicConv2d<B>,
    pub branch3x3dbl_2: BasicConv2d<B>,
    pub branch3x3dbl_3a: BasicConv2d<B>,
    pub branch3x3dbl_3b: BasicConv2d<B>,
    pub branch_pool: BasicConv2d<B>,
    /// `true` for E_2 (max pool branch).
    pub max_pool: bool,
}

impl<B: Backend> InceptionE<B> {
    pub fn new(device: &B::Device, c: usize, max_pool: bool) -> Self {
        Self {
            branch1x1: conv(device, c, 320, [1, 1], [1, 1], [0, 0]),
            branch3x3_1: conv(device, c, 384, [1, 1], [1, 1], [0, 0]),
            branch3x3_2a: conv(device, 384, 384, [1, 3], [1, 1], [0, 1]),
            branch3x3_2b: conv(device, 384, 384, [3, 1], [1, 1], [1, 0]),
            branch3x3dbl_1: conv(device, c, 448, [1, 1], [1, 1], [0, 0]),
            branch3x3dbl_2: conv(device, 448, 384, [3, 3], [1, 1], [1, 1]),
            branch3x3dbl_3a: conv(device, 384, 384, [1, 3], [1, 1], [0, 1]),
            branch3x3dbl_3b: conv(device, 384, 384, [3, 1], [1, 1], [1, 0]),
            branch_pool: conv(device, c, 192, [1, 1], [1, 1], [0, 0]),
            max_pool,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b3 = self.branch3x3_1.forward(x.clone());
        let b3 = Tensor::cat(
            vec![
                self.branch3x3_2a.forward(b3.clone()),
                self.branch3x3_2b.forward(b3),
            ],
            1,
        );
        let bd = self.branch3x3dbl_1.forward(x.clone());
        let bd = self.branch3x3dbl_2.forward(bd);
        let bd = Tensor::cat(
            vec![
                self.branch3x3dbl_3a.forward(bd.clone()),
                self.branch3x3dbl_3b.forward(bd),
            ],
            1,
        );
        let pooled = if self.max_pool {
            max_pool2d(x, [3, 3], [1, 1], [1, 1], [1, 1], false)
        } else {
            avg3_no_pad(x)
        };
        let bp = self.branch_pool.forward(pooled);
        Tensor::cat(vec![b1, b3, bd, bp], 1)
    }
}
