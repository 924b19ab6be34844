//! Videos longer than the motion window: overlapping context windows over the frame axis
//! (ports the "uniform, not looped" schedule of ComfyUI AnimateDiff-Evolved's context options,
//! `animatediff/context.py`, and FreeNoise's noise rescheduling, Qiu et al. 2023).
//!
//! At every denoising step the UNet runs on windows of `length` frames that overlap by `overlap`
//! (the last one ends at the last frame), each with its own positions 0..length in the motion
//! modules; the noise predictions of the windows covering a frame are averaged with weights
//! ([`Fuse`]). With the pyramid weights a frame near a window's edge takes most of its
//! prediction from the neighbouring window, so the seams blend over the whole overlap.
//!
//! FreeNoise: the initial noise of the frames after the first window repeats the noise of the
//! frames one window earlier, shuffled in blocks of `length − overlap` frames, so every window
//! starts from the same noise frames in another order (long-range consistency instead of new
//! content in each window).

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{ModelError, Result};

/// How the predictions of overlapping windows are weighted per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Fuse {
    /// Weight min(i + 1, length − i) for frame i of a window (AnimateDiff-Evolved "pyramid").
    #[default]
    Pyramid,
    /// Every frame weight 1 (AnimateDiff-Evolved "flat": a plain average).
    Flat,
}

impl Fuse {
    /// The weight of each frame of a window of `length` frames.
    pub fn weights(self, length: usize) -> Vec<f32> {
        (0..length)
            .map(|i| match self {
                Self::Pyramid => (i + 1).min(length - i) as f32,
                Self::Flat => 1.0,
            })
            .collect()
    }
}

/// Context-window settings for videos longer than the motion window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextOptions {
    /// Frames per window (the frames the motion modules were trained on: MagicTime 16).
    pub length: usize,
    /// Frames shared by neighbouring windows (AnimateDiff-Evolved's default: 4 of 16).
    pub overlap: usize,
    /// How overlapping predictions are fused.
    pub fuse: Fuse,
    /// FreeNoise noise rescheduling of the initial latents.
    pub freenoise: bool,
    /// Also run strided windows that take every k-th frame (k = ⌊(frames − 1) / (length − 1)⌋,
    /// when at least 2), each spanning (nearly) the whole video (as AnimateDiff-Evolved's
    /// `context_stride`): the motion modules then see the whole progression at once, not only
    /// one window's part of it.
    pub strided: bool,
}

/// The most frames one generation may have (the latents and the decoded video stay in memory).
pub const MAX_FRAMES: usize = 512;

impl ContextOptions {
    /// Windows of `length` frames overlapping by a quarter (at least 1 frame), pyramid fusion,
    /// strided windows too, no FreeNoise.
    pub fn new(length: usize) -> Self {
        Self {
            length,
            overlap: (length / 4).max(1),
            fuse: Fuse::Pyramid,
            freenoise: false,
            strided: true,
        }
    }

    /// Checks the windows fit the motion modules (`max_len` positions).
    pub fn check(&self, max_len: usize) -> Result<()> {
        if self.length < 2 || self.length > max_len {
            return Err(ModelError::InvalidInput(format!(
                "context length {}: the motion modules take 2..={max_len} frames",
                self.length
            )));
        }
        if self.overlap >= self.length {
            return Err(ModelError::InvalidInput(format!(
                "context overlap {} must be smaller than the context length {}",
                self.overlap, self.length
            )));
        }
        Ok(())
    }

    /// The first frame of each window over `frames` frames: every `length − overlap` frames,
    /// the last window moved back to end at the last frame. One window when `frames ≤ length`.
    pub fn windows(&self, frames: usize) -> Vec<usize> {
        if frames <= self.length {
            return vec![0];
        }
        let stride = self.length - self.overlap;
        let mut starts: Vec<usize> = (0..)
            .map(|i| i * stride)
            .take_while(|&s| s + self.length < frames)
            .collect();
        starts.push(frames - self.length);
        starts
    }

    /// Every window as its frames with their fusion weights: the contiguous windows of
    /// [`Self::windows`] (weights of [`Fuse`]), then, when `strided`, the windows
    /// `{o, o + k, …, o + (length − 1)·k}` for o in 0..k, k = ⌊(frames − 1) / (length − 1)⌋
    /// (none when k < 2; moved back to end at the last frame when they would run past it), each
    /// frame weighted by the mean of the contiguous weights.
    pub fn frame_windows(&self, frames: usize) -> Vec<(Vec<usize>, Vec<f32>)> {
        let w = self.fuse.weights(self.length);
        let mut out: Vec<(Vec<usize>, Vec<f32>)> = self
            .windows(frames)
            .into_iter()
            .map(|s| ((s..s + self.length.min(frames)).collect(), w.clone()))
            .collect();
        let k = frames.saturating_sub(1) / (self.length - 1).max(1);
        if self.strided && frames > self.length && k >= 2 {
            let mean = w.iter().sum::<f32>() / w.len() as f32;
            let span = (self.length - 1) * k + 1;
            for o in 0..k {
                let start = o.min(frames - span);
                let idx: Vec<usize> = (0..self.length).map(|i| start + i * k).collect();
                if !out.iter().any(|(f, _)| *f == idx) {
                    out.push((idx, vec![mean; self.length]));
                }
            }
        }
        out
    }

    /// FreeNoise: frame order of the initial noise for `frames` frames — frame `f` takes the
    /// noise of frame `order[f]`. The first window keeps its own noise; each later block of
    /// `length − overlap` frames takes the block one window earlier, shuffled (seeded).
    pub fn freenoise_order(&self, frames: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..frames).collect();
        if !self.freenoise || frames <= self.length {
            return order;
        }
        let stride = self.length - self.overlap;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x46_52_45_45); // "FREE"
        let mut i = self.length;
        while i < frames {
            let n = stride.min(frames - i);
            let mut block: Vec<usize> = (i - self.length..i - self.length + n)
                .map(|j| order[j])
                .collect();
            block.shuffle(&mut rng);
            order[i..i + n].copy_from_slice(&block);
            i += n;
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_frame_and_overlap() {
        let c = ContextOptions::new(16);
        assert_eq!(c.overlap, 4);
        assert_eq!(c.windows(16), [0]);
        assert_eq!(c.windows(48), [0, 12, 24, 32]);
        assert_eq!(c.windows(17), [0, 1]);
        for frames in [17, 30, 48, 100] {
            let w = c.windows(frames);
            assert_eq!(*w.last().unwrap() + 16, frames);
            for pair in w.windows(2) {
                assert!(pair[1] > pair[0] && pair[1] - pair[0] <= 12, "{w:?}");
            }
        }
        assert_eq!(Fuse::Pyramid.weights(5), [1.0, 2.0, 3.0, 2.0, 1.0]);
        // strided windows: every 3rd frame of 48, three of them, each spanning the video
        let fw = c.frame_windows(48);
        assert_eq!(fw.len(), 4 + 3);
        assert_eq!(fw[4].0, (0..48).step_by(3).collect::<Vec<_>>());
        assert_eq!(fw[6].0, (2..48).step_by(3).collect::<Vec<_>>());
        assert_eq!(fw[6].1, vec![4.5; 16]); // the mean pyramid weight of 16
                                            // 40 frames: every 2nd, two windows of 31 frames' span
        let fw = c.frame_windows(40);
        assert_eq!(fw.len(), c.windows(40).len() + 2);
        assert_eq!(fw.last().unwrap().0, (1..32).step_by(2).collect::<Vec<_>>());
        // 46 frames: k = 3 spans all 46, so every offset moves back onto the first: one window
        let fw = c.frame_windows(46);
        assert_eq!(fw.last().unwrap().0, (0..46).step_by(3).collect::<Vec<_>>());
        assert_eq!(fw.len(), c.windows(46).len() + 1);
        for frames in [17, 20, 31, 33, 47, 48, 100] {
            let fw = c.frame_windows(frames);
            assert!(fw.iter().all(|(f, w)| f.len() == 16 && w.len() == 16));
            assert!(
                fw.iter().all(|(f, _)| f.iter().all(|&i| i < frames)),
                "{frames}"
            );
        }
        let plain = ContextOptions {
            strided: false,
            ..c
        };
        assert_eq!(plain.frame_windows(48).len(), 4);
        assert!(ContextOptions::new(16).check(32).is_ok());
        assert!(ContextOptions::new(40).check(32).is_err());
        let c = ContextOptions {
            overlap: 16,
            ..ContextOptions::new(16)
        };
        assert!(c.check(32).unwrap_err().to_string().contains("overlap"));
    }

    /// Every later block is a permutation of the block one window earlier.
    #[test]
    fn freenoise_repeats_the_previous_windows_noise_shuffled() {
        let c = ContextOptions {
            freenoise: true,
            ..ContextOptions::new(8)
        };
        let o = c.freenoise_order(30, 1);
        assert_eq!(&o[..8], &(0..8).collect::<Vec<_>>()[..]);
        for start in (8..30).step_by(6) {
            let n = 6.min(30 - start);
            let mut got = o[start..start + n].to_vec();
            let mut want = o[start - 8..start - 8 + n].to_vec();
            assert_ne!(got, want, "block at {start} not shuffled");
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
        assert_eq!(o, c.freenoise_order(30, 1));
        assert_ne!(o, c.freenoise_order(30, 2));
        assert_eq!(
            ContextOptions::new(8).freenoise_order(30, 1),
            (0..30).collect::<Vec<_>>()
        );
    }
}
