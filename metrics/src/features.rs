//! Feature extractors over decoded videos: I3D logits (FVD) and Inception pool3 (FID/KID).
//!
//! Videos come in as RGB u8 frames `[n, h, w, 3]`; each extractor applies its protocol's
//! preprocessing on the CPU and runs its network in batches on the Burn backend `B` (the CPU's
//! [`Cpu`] for `magictime eval`, a worker's `--device` for evaluation jobs).

use std::path::Path;

use burn::backend::Flex;
use burn::prelude::*;

use crate::error::Result;
use crate::fid::{fid_input, FidInceptionV3, FID_DIM, FID_SIZE};
use crate::i3d::preprocess::{fvd_clip, FrameSampling, FVD_FRAMES, FVD_SIZE};
use crate::i3d::InceptionI3d;

/// The CPU backend of the metrics (`magictime eval`, the studies' scorer, cut detection).
pub type Cpu = Flex;

/// A decoded clip: `n` frames of `h × w × 3` u8, row-major.
#[derive(Debug, Clone)]
pub struct Clip {
    pub frames: Vec<u8>,
    pub n: usize,
    pub h: usize,
    pub w: usize,
}

impl Clip {
    /// Frame `i` as a `h × w × 3` slice.
    pub fn frame(&self, i: usize) -> &[u8] {
        let s = self.h * self.w * 3;
        &self.frames[i * s..(i + 1) * s]
    }
}

/// I3D (Kinetics-400) features for FVD: 400 logits and the 1024-d pool per clip.
pub struct I3dExtractor<B: Backend> {
    net: InceptionI3d<B>,
    device: B::Device,
    /// How 16 frames are taken from each clip.
    pub sampling: FrameSampling,
}

/// Features of a batch of clips.
#[derive(Debug, Clone, Default)]
pub struct I3dFeatures {
    /// `[n, 400]` row-major.
    pub logits: Vec<f32>,
    /// `[n, 1024]` row-major.
    pub pool: Vec<f32>,
}

impl<B: Backend> I3dExtractor<B> {
    /// Loads the converted Kinetics-400 weights onto `device`.
    pub fn load(weights: &Path, sampling: FrameSampling, device: &B::Device) -> Result<Self> {
        Ok(Self {
            net: crate::i3d::load_i3d(weights, device)?,
            device: device.clone(),
            sampling,
        })
    }

    /// Features of `clips` (one forward pass for the whole batch).
    pub fn extract(&self, clips: &[&Clip]) -> I3dFeatures {
        if clips.is_empty() {
            return I3dFeatures::default();
        }
        let mut input = Vec::with_capacity(clips.len() * 3 * FVD_FRAMES * FVD_SIZE * FVD_SIZE);
        for c in clips {
            input.extend(fvd_clip(&c.frames, c.n, c.h, c.w, self.sampling));
        }
        let x = Tensor::<B, 5>::from_data(
            TensorData::new(input, [clips.len(), 3, FVD_FRAMES, FVD_SIZE, FVD_SIZE]),
            &self.device,
        );
        let out = self.net.forward(x);
        I3dFeatures {
            logits: out.logits.into_data().to_vec::<f32>().expect("f32 logits"),
            pool: out.pool.into_data().to_vec::<f32>().expect("f32 pool"),
        }
    }
}

/// Inception pool3 features (pytorch-fid protocol) of video frames.
pub struct InceptionExtractor<B: Backend> {
    net: FidInceptionV3<B>,
    device: B::Device,
}

impl<B: Backend> InceptionExtractor<B> {
    /// Loads pytorch-fid's `.pth` onto `device` (clear error naming the file when absent).
    pub fn load(weights: &Path, device: &B::Device) -> Result<Self> {
        Ok(Self {
            net: crate::fid::load_fid_inception(weights, device)?,
            device: device.clone(),
        })
    }

    /// pool3 features `[frames.len(), 2048]` of `h × w × 3` u8 frames.
    pub fn extract(&self, frames: &[&[u8]], h: usize, w: usize) -> Vec<f32> {
        if frames.is_empty() {
            return Vec::new();
        }
        // [b, 3, h, w] in [0, 1]
        let mut planes = Vec::with_capacity(frames.len() * 3 * h * w);
        for f in frames {
            for c in 0..3 {
                planes.extend((0..h * w).map(|p| f[p * 3 + c] as f32 / 255.0));
            }
        }
        let x = fid_input(&planes, frames.len(), h, w);
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(x, [frames.len(), 3, FID_SIZE, FID_SIZE]),
            &self.device,
        );
        let out = self
            .net
            .forward(x)
            .into_data()
            .to_vec::<f32>()
            .expect("f32 pool3");
        debug_assert_eq!(out.len(), frames.len() * FID_DIM);
        out
    }
}
