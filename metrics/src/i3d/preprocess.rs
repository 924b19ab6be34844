//! The original FVD preprocessing (google-research `frechet_video_distance.py`, `preprocess`):
//! `tf.image.resize_bilinear(frames, (224, 224))` — TF1 defaults, `align_corners=False`,
//! `half_pixel_centers=False`, i.e. source coordinate = destination × (in / out), no antialias —
//! on the uint8 frames cast to float, then `2 · x / 255 − 1`. Plus the frame sampling of the
//! protocol: 16 frames, uniform over the clip as MagicTime's dataset loader takes them
//! (`utils/dataset.py` `_generate_frame_indices`, `is_transmit == 0`): `round(i (N − 1) / 15)` for
//! clips longer than 16 frames; shorter clips take every frame once and then frames 0, 1, …
//! once more, in order (12 frames → 0 0 1 1 2 2 3 3 4 5 … 11).

use serde::{Deserialize, Serialize};

/// Frames per FVD clip.
pub const FVD_FRAMES: usize = 16;
/// Side of the I3D input.
pub const FVD_SIZE: usize = 224;

/// How the 16 frames are taken from a longer clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FrameSampling {
    /// Indices `round(i (N − 1) / 15)`, i = 0..15, for N > 16; for N ≤ 16 every frame plus the
    /// first 16 − N again, sorted (MagicTime `utils/dataset.py` for is_transmit 0).
    #[default]
    Uniform,
    /// The first 16 frames (StyleGAN-V); shorter clips repeat their last frame.
    First,
}

impl FrameSampling {
    /// The frame indices to take from a clip of `n` frames (`n ≥ 1`).
    pub fn indices(self, n: usize, k: usize) -> Vec<usize> {
        match self {
            // the training sampler's uniform mode (MagicTime `_generate_frame_indices`)
            FrameSampling::Uniform => magictime_data::sampler::uniform_indices(n, k),
            FrameSampling::First => (0..k).map(|i| i.min(n - 1)).collect(),
        }
    }
}

/// TF1 `resize_bilinear` (legacy, `half_pixel_centers=False`) of one `h × w × 3` frame into the
/// channels-first planes `out[c][y][x]` of an `oh × ow` image (values as given, not rescaled).
pub fn resize_bilinear_legacy(
    frame: &[u8],
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    mut put: impl FnMut(usize, usize, usize, f32),
) {
    let sy = h as f32 / oh as f32;
    let sx = w as f32 / ow as f32;
    let xs: Vec<(usize, usize, f32)> = (0..ow)
        .map(|x| {
            let src = x as f32 * sx;
            let x0 = (src.floor() as usize).min(w - 1);
            (x0, (x0 + 1).min(w - 1), src - x0 as f32)
        })
        .collect();
    for y in 0..oh {
        let src = y as f32 * sy;
        let y0 = (src.floor() as usize).min(h - 1);
        let y1 = (y0 + 1).min(h - 1);
        let ly = src - y0 as f32;
        for (x, &(x0, x1, lx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let p = |yy: usize, xx: usize| frame[(yy * w + xx) * 3 + c] as f32;
                let top = p(y0, x0) + (p(y0, x1) - p(y0, x0)) * lx;
                let bottom = p(y1, x0) + (p(y1, x1) - p(y1, x0)) * lx;
                put(c, y, x, top + (bottom - top) * ly);
            }
        }
    }
}

/// One clip of `n` frames `[n, h, w, 3]` uint8 → the I3D input `[3, 16, 224, 224]` in [−1, 1]
/// (channels-first, flattened).
pub fn fvd_clip(frames: &[u8], n: usize, h: usize, w: usize, sampling: FrameSampling) -> Vec<f32> {
    let plane = FVD_SIZE * FVD_SIZE;
    let mut out = vec![0.0f32; 3 * FVD_FRAMES * plane];
    for (t, &src) in sampling.indices(n, FVD_FRAMES).iter().enumerate() {
        let frame = &frames[src * h * w * 3..(src + 1) * h * w * 3];
        resize_bilinear_legacy(frame, h, w, FVD_SIZE, FVD_SIZE, |c, y, x, v| {
            out[(c * FVD_FRAMES + t) * plane + y * FVD_SIZE + x] = 2.0 * v / 255.0 - 1.0;
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_bilinear_matches_tf1_mapping() {
        // one row [0, 100] (grey) upsampled to 4: TF1 gives [0, 50, 100, 100]
        let frame: Vec<u8> = [0u8, 100].iter().flat_map(|&v| [v, v, v]).collect();
        let mut got = vec![0.0; 4];
        resize_bilinear_legacy(&frame, 1, 2, 1, 4, |c, _, x, v| {
            if c == 0 {
                got[x] = v
            }
        });
        assert_eq!(got, vec![0.0, 50.0, 100.0, 100.0]);
        // downsampling 4 → 2 takes pixels 0 and 2 (no antialias)
        let frame: Vec<u8> = [10u8, 20, 30, 40].iter().flat_map(|&v| [v, v, v]).collect();
        let mut got = vec![0.0; 2];
        resize_bilinear_legacy(&frame, 1, 4, 1, 2, |_, _, x, v| got[x] = v);
        assert_eq!(got, vec![10.0, 30.0]);
    }

    #[test]
    fn sampling_indices() {
        assert_eq!(
            FrameSampling::Uniform.indices(16, 16),
            (0..16).collect::<Vec<_>>()
        );
        let u = FrameSampling::Uniform.indices(31, 16);
        assert_eq!((u[0], u[1], u[15]), (0, 2, 30));
        assert_eq!(FrameSampling::First.indices(4, 6), vec![0, 1, 2, 3, 3, 3]);
        assert_eq!(FrameSampling::Uniform.indices(1, 16), vec![0; 16]);
        // short clips: MagicTime repeats the first 16 − N frames (not an even spread)
        assert_eq!(
            FrameSampling::Uniform.indices(12, 16),
            vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        );
        assert_eq!(
            FrameSampling::Uniform.indices(5, 16),
            vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
        );
    }

    #[test]
    fn clip_is_scaled_to_unit_range() {
        let frames = vec![255u8; 2 * 8 * 8 * 3];
        let clip = fvd_clip(&frames, 2, 8, 8, FrameSampling::Uniform);
        assert_eq!(clip.len(), 3 * 16 * 224 * 224);
        assert!(clip.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }
}
