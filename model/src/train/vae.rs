//! Stage A: training the `AutoencoderKL` on single frames (reconstruction MSE + a small KL term,
//! the objective of the LDM first stage without its perceptual/GAN terms).

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;

use super::checkpoint::{optimize, CheckpointOptions};
use super::data::SynthSet;
use super::{scalar, StageOptions, StageStats, StepInfo};
use crate::error::Result;
use crate::pipeline::seeded_normal;
use crate::vae::AutoencoderKl;

/// Loss terms of one VAE batch.
#[derive(Debug, Clone)]
pub struct VaeLoss<B: Backend> {
    /// `recon + kl_weight · kl`.
    pub total: Tensor<B, 1>,
    /// Mean squared reconstruction error (pixels in [−1, 1]).
    pub recon: Tensor<B, 1>,
    /// Mean KL(q(z|x) ‖ N(0, I)) per latent element.
    pub kl: Tensor<B, 1>,
}

/// The loss on images `x` `[b, 3, H, W]` in [−1, 1], decoding the posterior sample
/// `mean + σ·eps` (`eps` standard normal, the latent's shape).
pub fn vae_loss<B: Backend>(
    vae: &AutoencoderKl<B>,
    x: Tensor<B, 4>,
    eps: Tensor<B, 4>,
    kl_weight: f64,
) -> VaeLoss<B> {
    let post = vae.encode(x.clone());
    let z = post.sample_with(eps);
    let recon = (vae.decode(z) - x).powi_scalar(2).mean();
    let kl = ((post.mean.clone().powi_scalar(2) + post.logvar.clone().exp() - post.logvar - 1.0)
        * 0.5)
        .mean();
    VaeLoss {
        total: recon.clone() + kl.clone() * kl_weight,
        recon,
        kl,
    }
}

/// One VAE batch, prepared on the data thread: frames and the posterior noise.
#[derive(Debug, Clone)]
pub struct VaeBatch {
    /// `[b, 3, H, W]` values in [−1, 1].
    pub x: Vec<f32>,
    /// Standard normal values, `[b, latent channels, H/d, W/d]`.
    pub eps: Vec<f32>,
    pub dims: [usize; 4],
    pub latent_dims: [usize; 4],
}

impl super::checkpoint::Batch for VaeBatch {
    fn rows(&self) -> usize {
        self.dims[0]
    }

    fn split(self, parts: usize) -> Vec<Self> {
        let ranges = super::checkpoint::split_rows(self.dims[0], parts);
        if ranges.len() <= 1 {
            return vec![self];
        }
        let per: usize = self.dims[1..].iter().product();
        let lper: usize = self.latent_dims[1..].iter().product();
        ranges
            .into_iter()
            .map(|r| {
                let (mut dims, mut latent_dims) = (self.dims, self.latent_dims);
                (dims[0], latent_dims[0]) = (r.len(), r.len());
                Self {
                    x: self.x[r.start * per..r.end * per].to_vec(),
                    eps: self.eps[r.start * lper..r.end * lper].to_vec(),
                    dims,
                    latent_dims,
                }
            })
            .collect()
    }
}

/// Trains `vae` with Adam on random frames of `data` (loop `name` of [`optimize`]); returns the
/// trained module. With `crop = Some((side, steps))`, the first `steps` steps see random
/// `side`×`side` windows of the frames instead of whole frames: the VAE is convolutional, so
/// crops train the same weights at a fraction of the cost per sample; the steps after them see
/// whole frames, as the group norms and the mid-block attention do at inference.
#[allow(clippy::too_many_arguments)]
pub fn train_vae<B: AutodiffBackend>(
    vae: AutoencoderKl<B>,
    data: &SynthSet,
    opts: &StageOptions,
    kl_weight: f64,
    crop: Option<(usize, usize)>,
    ckpt: &CheckpointOptions,
    progress: &mut dyn FnMut(StepInfo),
) -> Result<(AutoencoderKl<B>, StageStats)> {
    let device = vae.quant_conv.weight.device();
    let c = vae.quant_conv.weight.dims()[0] / 2;
    let down = vae_downscale(&vae);
    let full = data.size;
    let (side, crop_steps) = crop.unwrap_or((full, 0));
    if side == 0 || side > full || side % down != 0 {
        return Err(crate::error::ModelError::InvalidInput(format!(
            "VAE crop {side}: must be a multiple of {down} and at most the frame side {full}"
        )));
    }
    let prepare = |step: usize, rng: &mut rand_chacha::ChaCha8Rng| {
        let s = if step < crop_steps { side } else { full };
        let ls = s / down;
        let idx: Vec<(usize, usize)> = (0..opts.batch)
            .map(|_| {
                (
                    rng.random_range(0..data.count),
                    rng.random_range(0..data.frames),
                )
            })
            .collect();
        let latent_dims = [idx.len(), c, ls, ls];
        let mut x = data.image_values(&idx);
        if s < full {
            let offsets: Vec<(usize, usize)> = idx
                .iter()
                .map(|_| {
                    (
                        rng.random_range(0..=full - s),
                        rng.random_range(0..=full - s),
                    )
                })
                .collect();
            x = crop_images(&x, full, s, &offsets);
        }
        Ok(VaeBatch {
            x,
            eps: seeded_normal(rng.random(), latent_dims.iter().product()),
            dims: [idx.len(), 3, s, s],
            latent_dims,
        })
    };
    let loss = |vae: &AutoencoderKl<B>, b: VaeBatch| -> Result<(Tensor<B, 1>, f64)> {
        let x = Tensor::from_data(TensorData::new(b.x, b.dims), &device);
        let eps = Tensor::from_data(TensorData::new(b.eps, b.latent_dims), &device);
        let l = vae_loss(vae, x, eps, kl_weight);
        let recon = scalar(l.recon);
        Ok((l.total, recon))
    };
    optimize("vae", vae, opts, ckpt, &prepare, &loss, progress)
}

/// `side`×`side` windows at `offsets` (row, column) of `[n, 3, full, full]` images.
fn crop_images(x: &[f32], full: usize, side: usize, offsets: &[(usize, usize)]) -> Vec<f32> {
    let mut out = Vec::with_capacity(offsets.len() * 3 * side * side);
    for (n, &(y0, x0)) in offsets.iter().enumerate() {
        for c in 0..3 {
            let plane = &x[(n * 3 + c) * full * full..(n * 3 + c + 1) * full * full];
            for y in y0..y0 + side {
                out.extend_from_slice(&plane[y * full + x0..y * full + x0 + side]);
            }
        }
    }
    out
}

/// Pixels per latent cell of a VAE (2^(levels − 1)).
fn vae_downscale<B: Backend>(vae: &AutoencoderKl<B>) -> usize {
    1 << vae
        .encoder
        .down_blocks
        .iter()
        .filter(|b| !b.downsamplers.is_empty())
        .count()
}

/// Latent statistics of the trained VAE's posterior means on `data` (for `scaling_factor`).
pub fn latent_std<B: Backend>(vae: &AutoencoderKl<B>, data: &SynthSet, device: &B::Device) -> f64 {
    let mut sum = 0.0f64;
    let mut sq = 0.0f64;
    let mut n = 0usize;
    for clip in 0..data.count.min(64) {
        let idx: Vec<(usize, usize)> = (0..data.frames).map(|f| (clip, f)).collect();
        let m: Vec<f32> = vae
            .encode(data.images::<B>(&idx, device))
            .mean
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 latents");
        for v in m {
            sum += f64::from(v);
            sq += f64::from(v) * f64::from(v);
            n += 1;
        }
    }
    let mean = sum / n as f64;
    (sq / n as f64 - mean * mean).max(1e-12).sqrt()
}

/// The inference copy of a trained autodiff module.
pub fn inference<B: AutodiffBackend>(vae: AutoencoderKl<B>) -> AutoencoderKl<B::InnerBackend> {
    vae.valid()
}

#[cfg(test)]
mod tests {
    use super::crop_images;

    #[test]
    fn crops_are_windows_of_each_plane() {
        // two 4×4 RGB images whose value encodes (image, channel, row, column)
        let full = 4;
        let x: Vec<f32> = (0..2 * 3 * full * full).map(|i| i as f32).collect();
        let out = crop_images(&x, full, 2, &[(0, 0), (1, 2)]);
        assert_eq!(out.len(), 2 * 3 * 4);
        assert_eq!(&out[..4], &[0.0, 1.0, 4.0, 5.0]);
        // image 1, channel 0 starts at 48; window rows 1..3, columns 2..4
        let b = 48.0;
        assert_eq!(&out[12..16], &[b + 6.0, b + 7.0, b + 10.0, b + 11.0]);
        // image 1, channel 2
        let b2 = 48.0 + 32.0;
        assert_eq!(&out[20..24], &[b2 + 6.0, b2 + 7.0, b2 + 10.0, b2 + 11.0]);
    }
}
