//! Stage A: training the `AutoencoderKL` on single frames (reconstruction MSE + a small KL term,
//! the objective of the LDM first stage without its perceptual/GAN terms).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use rand::{Rng, SeedableRng};

use super::data::SynthSet;
use super::{scalar, StageOptions, StageStats, StepInfo};
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

/// The loss on images `x` `[b, 3, H, W]` in [−1, 1], decoding a sample of the posterior.
pub fn vae_loss<B: Backend>(vae: &AutoencoderKl<B>, x: Tensor<B, 4>, kl_weight: f64) -> VaeLoss<B> {
    let post = vae.encode(x.clone());
    let z = post.sample();
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

/// Trains `vae` with Adam on random frames of `data`; returns the trained module.
pub fn train_vae<B: AutodiffBackend>(
    mut vae: AutoencoderKl<B>,
    data: &SynthSet,
    opts: &StageOptions,
    kl_weight: f64,
    progress: &mut dyn FnMut(StepInfo),
) -> (AutoencoderKl<B>, StageStats) {
    let device = vae.quant_conv.weight.device();
    let mut optim = AdamConfig::new().init::<B, AutoencoderKl<B>>();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    B::seed(&device, opts.seed);
    let mut stats = StageStats::default();
    let start = Instant::now();
    for step in 0..opts.steps {
        let idx: Vec<(usize, usize)> = (0..opts.batch)
            .map(|_| {
                (
                    rng.random_range(0..data.count),
                    rng.random_range(0..data.frames),
                )
            })
            .collect();
        let x = data.images::<B>(&idx, &device);
        let loss = vae_loss(&vae, x, kl_weight);
        let value = scalar(loss.total.clone());
        let extra = scalar(loss.recon.clone());
        let grads = GradientsParams::from_grads(loss.total.backward(), &vae);
        vae = optim.step(opts.lr_at(step), vae, grads);
        stats.record(value);
        let elapsed = start.elapsed().as_secs_f64();
        progress(StepInfo {
            step: step + 1,
            total: opts.steps,
            loss: value,
            extra,
            seconds: elapsed,
        });
        if opts.max_seconds.is_some_and(|m| elapsed > m) {
            break;
        }
    }
    stats.seconds = start.elapsed().as_secs_f64();
    (vae, stats)
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
