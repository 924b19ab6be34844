//! Training data from ChronoMagic-Synth (`magictime_data::synth`): clips rendered in memory,
//! kept as bytes `[N, 3, F, H, W]` (read as `[-1, 1]` floats) with their captions and kinds.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use magictime_data::synth::{self, ClipKind, KindSelect, SynthConfig};

use crate::error::{ModelError, Result};

/// Rendered clips as floats in `[-1, 1]`.
#[derive(Debug, Clone)]
pub struct SynthSet {
    /// Clips.
    pub count: usize,
    /// Frames per clip.
    pub frames: usize,
    /// Frame side in pixels.
    pub size: usize,
    /// `count · 3 · frames · size · size` bytes, clip-major `[n, c, f, y, x]` (`x / 127.5 − 1`
    /// is the training value).
    pub pixels: Vec<u8>,
    /// One caption per clip.
    pub captions: Vec<String>,
    /// Whether each clip is metamorphic (vs. general motion).
    pub metamorphic: Vec<bool>,
}

impl SynthSet {
    /// Renders `count` clips of `size`² and `frames` frames with `seed` (both kinds).
    pub fn generate(count: usize, size: usize, frames: usize, seed: u64) -> Result<Self> {
        let mut cfg = SynthConfig::new(count, size as u32, frames, seed);
        cfg.kind = KindSelect::Both;
        let clips = synth::generate(&cfg)
            .map_err(|e| ModelError::InvalidInput(format!("ChronoMagic-Synth: {e}")))?;
        let per = 3 * frames * size * size;
        let mut pixels = vec![0u8; count * per];
        let mut captions = Vec::with_capacity(count);
        let mut metamorphic = Vec::with_capacity(count);
        for (n, clip) in clips.iter().enumerate() {
            for (f, img) in clip.frames.iter().enumerate() {
                for (x, y, p) in img.enumerate_pixels() {
                    for c in 0..3 {
                        let i =
                            n * per + ((c * frames + f) * size + y as usize) * size + x as usize;
                        pixels[i] = p.0[c];
                    }
                }
            }
            captions.push(clip.caption.clone());
            metamorphic.push(clip.kind == ClipKind::Metamorphic);
        }
        Ok(Self {
            count: clips.len(),
            frames,
            size,
            pixels,
            captions,
            metamorphic,
        })
    }

    /// Clips `idx` as a video batch `[b, 3, F, H, W]`.
    pub fn videos<B: Backend>(&self, idx: &[usize], device: &B::Device) -> Tensor<B, 5> {
        let per = 3 * self.frames * self.size * self.size;
        let mut v = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            v.extend(
                self.pixels[i * per..(i + 1) * per]
                    .iter()
                    .map(|&p| to_unit(p)),
            );
        }
        Tensor::from_data(
            TensorData::new(v, [idx.len(), 3, self.frames, self.size, self.size]),
            device,
        )
    }

    /// Single frames `(clip, frame)` as image values `[b, 3, H, W]` in `[-1, 1]`.
    pub fn image_values(&self, idx: &[(usize, usize)]) -> Vec<f32> {
        let (f_n, s) = (self.frames, self.size);
        let per = 3 * f_n * s * s;
        let mut v = Vec::with_capacity(idx.len() * 3 * s * s);
        for &(n, f) in idx {
            for c in 0..3 {
                let start = n * per + (c * f_n + f) * s * s;
                v.extend(
                    self.pixels[start..start + s * s]
                        .iter()
                        .map(|&p| to_unit(p)),
                );
            }
        }
        v
    }

    /// Single frames `(clip, frame)` as an image batch `[b, 3, H, W]`.
    pub fn images<B: Backend>(&self, idx: &[(usize, usize)], device: &B::Device) -> Tensor<B, 4> {
        let s = self.size;
        Tensor::from_data(
            TensorData::new(self.image_values(idx), [idx.len(), 3, s, s]),
            device,
        )
    }

    /// Indices of the clips of one kind (`metamorphic` or general).
    pub fn of_kind(&self, metamorphic: bool) -> Vec<usize> {
        (0..self.count)
            .filter(|&i| self.metamorphic[i] == metamorphic)
            .collect()
    }
}

/// A stored byte as the training value in `[-1, 1]`.
fn to_unit(p: u8) -> f32 {
    f32::from(p) / 127.5 - 1.0
}

/// `[b, 3, F, H, W]` → `[b·F, 3, H, W]` (frames folded into the batch).
pub fn fold_frames<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 4> {
    let [b, c, f, h, w] = x.dims();
    x.permute([0, 2, 1, 3, 4]).reshape([b * f, c, h, w])
}

/// `[b·F, C, h, w]` → `[b, C, F, h, w]`.
pub fn unfold_frames<B: Backend>(x: Tensor<B, 4>, frames: usize) -> Tensor<B, 5> {
    let [bf, c, h, w] = x.dims();
    x.reshape([bf / frames, frames, c, h, w])
        .permute([0, 2, 1, 3, 4])
}
