//! CLIP image preprocessing, after transformers' `CLIPImageProcessor` (PIL backend): resize the
//! shortest edge to 224 with PIL's bicubic filter on 8-bit pixels, center-crop 224², scale to
//! [0, 1], normalise with CLIP's mean/std.
//!
//! The resampler ports Pillow's `libImaging/Resample.c` (separable convolution, a = −0.5 cubic
//! kernel widened by the scale factor when shrinking, 22-bit fixed-point coefficients, horizontal
//! pass then vertical pass, rounding to 8 bits after each) so outputs match PIL bit for bit.
//! Pillow ≥ 13 sometimes runs the vertical pass first (python-pillow/Pillow#9549, rule not
//! public in a release note); then results differ by a few 8-bit levels on some sizes.

use burn::tensor::{backend::Backend, Tensor, TensorData};

use crate::error::{ModelError, Result};

/// OpenAI CLIP's per-channel mean (RGB).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel std (RGB).
#[allow(clippy::excessive_precision)] // the constants exactly as OpenAI publishes them
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: first input index and fixed-point weights (Pillow's `precompute_coeffs`).
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) / filterscale))
                .collect();
            let total: f64 = w.iter().sum();
            let fixed = w
                .iter()
                .map(|&k| {
                    let k = if total != 0.0 { k / total } else { k };
                    let v = k * (1i64 << PRECISION_BITS) as f64;
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(v: i64) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an interleaved RGB8 image [h, w, 3] to [oh, ow, 3] like PIL's `Image.resize(BICUBIC)`.
pub fn resize_bicubic_rgb8(img: &[u8], h: usize, w: usize, oh: usize, ow: usize) -> Vec<u8> {
    let round = 1i64 << (PRECISION_BITS - 1);
    // 1. horizontal pass (skipped when the width is unchanged)
    let tmp: Vec<u8> = if ow != w {
        let cx = coefficients(w, ow);
        let mut out = vec![0u8; h * ow * 3];
        for y in 0..h {
            for (xx, (xmin, k)) in cx.iter().enumerate() {
                for c in 0..3 {
                    let mut ss = round;
                    for (i, &kv) in k.iter().enumerate() {
                        ss += img[(y * w + xmin + i) * 3 + c] as i64 * kv as i64;
                    }
                    out[(y * ow + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        out
    } else {
        img.to_vec()
    };
    // 2. vertical pass
    if oh == h {
        return tmp;
    }
    let cy = coefficients(h, oh);
    let mut out = vec![0u8; oh * ow * 3];
    for (yy, (ymin, k)) in cy.iter().enumerate() {
        for x in 0..ow {
            for c in 0..3 {
                let mut ss = round;
                for (i, &kv) in k.iter().enumerate() {
                    ss += tmp[((ymin + i) * ow + x) * 3 + c] as i64 * kv as i64;
                }
                out[(yy * ow + x) * 3 + c] = clip8(ss);
            }
        }
    }
    out
}

/// CLIP's image processor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipImageProcessor {
    /// Target of the shortest edge (224).
    pub shortest_edge: usize,
    /// Square center crop (224).
    pub crop_size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for ClipImageProcessor {
    fn default() -> Self {
        Self {
            shortest_edge: 224,
            crop_size: 224,
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }
    }
}

impl ClipImageProcessor {
    /// A processor for another input size (tiny test towers).
    pub fn with_size(size: usize) -> Self {
        Self {
            shortest_edge: size,
            crop_size: size,
            ..Self::default()
        }
    }

    /// One RGB8 image [h, w, 3] → normalised CHW floats [3, crop, crop].
    pub fn preprocess(&self, rgb: &[u8], h: usize, w: usize) -> Result<Vec<f32>> {
        if rgb.len() != h * w * 3 || h == 0 || w == 0 {
            return Err(ModelError::InvalidInput(format!(
                "RGB image of {h}x{w} needs {} bytes, got {}",
                h * w * 3,
                rgb.len()
            )));
        }
        // 1. resize the shortest edge (transformers' get_resize_output_image_size)
        let s = self.shortest_edge;
        let (oh, ow) = if w <= h {
            ((s as f64 * h as f64 / w as f64) as usize, s)
        } else {
            (s, (s as f64 * w as f64 / h as f64) as usize)
        };
        let resized = resize_bicubic_rgb8(rgb, h, w, oh, ow);
        // 2. center crop (zero padding when the image is smaller than the crop)
        let c = self.crop_size;
        let top = (oh as i64 - c as i64).div_euclid(2);
        let left = (ow as i64 - c as i64).div_euclid(2);
        // 3. rescale to [0, 1] and normalise, channels first
        let mut out = vec![0f32; 3 * c * c];
        for ch in 0..3 {
            for y in 0..c {
                for x in 0..c {
                    let (sy, sx) = (y as i64 + top, x as i64 + left);
                    let v = if sy >= 0 && sx >= 0 && (sy as usize) < oh && (sx as usize) < ow {
                        resized[(sy as usize * ow + sx as usize) * 3 + ch]
                    } else {
                        0
                    };
                    out[(ch * c + y) * c + x] =
                        ((v as f64 / 255.0) as f32 - self.mean[ch]) / self.std[ch];
                }
            }
        }
        Ok(out)
    }

    /// A batch of RGB8 images (each `(pixels, h, w)`) → pixel values [N, 3, crop, crop].
    pub fn preprocess_batch<B: Backend>(
        &self,
        images: &[(&[u8], usize, usize)],
        device: &B::Device,
    ) -> Result<Tensor<B, 4>> {
        let c = self.crop_size;
        let mut all = Vec::with_capacity(images.len() * 3 * c * c);
        for (px, h, w) in images {
            all.extend(self.preprocess(px, *h, *w)?);
        }
        Ok(Tensor::from_data(
            TensorData::new(all, [images.len(), 3, c, c]),
            device,
        ))
    }
}
