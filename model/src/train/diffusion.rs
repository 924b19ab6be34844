//! Stage B: joint training of the CLIP text encoder and the UNet3D (+ motion modules) on VAE
//! latents of ChronoMagic-Synth clips with the DDPM ε-prediction loss (Ho et al. 2020, eq. 14;
//! AnimateDiff / MagicTime train the same objective): ‖ε − ε_θ(√ᾱ_t·z₀ + √(1−ᾱ_t)·ε, t, c)‖².
//! Captions are dropped 10 % of the time (half to "", half to the default negative prompt) so
//! classifier-free guidance has an unconditional branch.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::data::{fold_frames, unfold_frames, SynthSet};
use super::{scalar, StageOptions, StageStats, StepInfo};
use crate::clip::text::ClipTextModel;
use crate::clip::tokenizer::{ClipTokenizer, Truncation};
use crate::error::Result;
use crate::pipeline::{seeded_noise, DEFAULT_NEGATIVE};
use crate::scheduler::{DdpmScheduler, DdpmSchedulerConfig, Scheduler};
use crate::unet::UNet3DConditionModel;
use crate::vae::AutoencoderKl;

/// The two trained networks of the text-to-video model, as one module for one optimizer.
#[derive(Module, Debug)]
pub struct TextToVideo<B: Backend> {
    /// CLIP text encoder.
    pub text_encoder: ClipTextModel<B>,
    /// UNet3D with motion modules.
    pub unet: UNet3DConditionModel<B>,
}

/// VAE latents (scaled) of every clip, `[n, 4, F, h, w]`, with tokenised captions.
#[derive(Debug, Clone)]
pub struct LatentSet {
    /// `[n, c, f, h, w]` dims.
    pub dims: [usize; 5],
    /// Values, clip-major.
    pub values: Vec<f32>,
    /// Token ids (77 per caption).
    pub ids: Vec<Vec<i64>>,
    /// Ids of the dropped-caption prompts ("" and the default negative).
    pub dropped: Vec<Vec<i64>>,
}

fn tokens(tok: &ClipTokenizer, text: &str) -> Result<Vec<i64>> {
    Ok(tok
        .encode_padded(text, Truncation::Truncate)?
        .into_iter()
        .map(i64::from)
        .collect())
}

impl LatentSet {
    /// Encodes every clip frame by frame with the VAE posterior mean × `scaling_factor`.
    pub fn encode<B: Backend>(
        vae: &AutoencoderKl<B>,
        data: &SynthSet,
        tok: &ClipTokenizer,
        device: &B::Device,
    ) -> Result<Self> {
        let mut values = Vec::new();
        let mut dims = [data.count, 0, data.frames, 0, 0];
        for clip in 0..data.count {
            let z = vae.encode_scaled(fold_frames(data.videos::<B>(&[clip], device)));
            let z = unfold_frames(z, data.frames);
            let [_, c, _, h, w] = z.dims();
            dims = [data.count, c, data.frames, h, w];
            values.extend(
                z.into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .expect("f32 latents"),
            );
        }
        let ids = data
            .captions
            .iter()
            .map(|c| tokens(tok, c))
            .collect::<Result<_>>()?;
        let dropped = vec![tokens(tok, "")?, tokens(tok, DEFAULT_NEGATIVE)?];
        Ok(Self {
            dims,
            values,
            ids,
            dropped,
        })
    }

    /// Latents of clips `idx` `[b, c, f, h, w]`.
    pub fn batch<B: Backend>(&self, idx: &[usize], device: &B::Device) -> Tensor<B, 5> {
        let [_, c, f, h, w] = self.dims;
        let per = c * f * h * w;
        let mut v = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            v.extend_from_slice(&self.values[i * per..(i + 1) * per]);
        }
        Tensor::from_data(TensorData::new(v, [idx.len(), c, f, h, w]), device)
    }
}

/// Token ids `[b, 77]` from rows of ids.
pub fn id_tensor<B: Backend>(rows: &[&Vec<i64>], device: &B::Device) -> Tensor<B, 2, Int> {
    let l = rows.first().map_or(0, |r| r.len());
    let v: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(v, [rows.len(), l]), device)
}

/// ε-prediction MSE for clean latents `z0` `[b, 4, F, h, w]`, captions `ids`, noise and timesteps.
pub fn diffusion_loss<B: Backend>(
    model: &TextToVideo<B>,
    scheduler: &DdpmScheduler,
    ids: Tensor<B, 2, Int>,
    z0: Tensor<B, 5>,
    noise: Tensor<B, 5>,
    timesteps: &[usize],
) -> Result<Tensor<B, 1>> {
    // 1. forward process q(z_t | z_0)
    let zt = scheduler.add_noise(z0, noise.clone(), timesteps)?;
    // 2. text condition
    let context = model.text_encoder.forward(ids);
    // 3. predict ε
    let t: Vec<f32> = timesteps.iter().map(|&t| t as f32).collect();
    let t = Tensor::<B, 1>::from_floats(t.as_slice(), &zt.device());
    let eps = model.unet.forward(zt, t, context);
    Ok((eps - noise).powi_scalar(2).mean())
}

/// The training noise schedule (SD's linear β 0.00085–0.012 over 1000 steps, as MagicTime samples).
pub fn training_scheduler() -> Result<DdpmScheduler> {
    DdpmSchedulerConfig::new().build(1000)
}

/// Trains `model` on `latents` with Adam; returns the trained module.
pub fn train_diffusion<B: AutodiffBackend>(
    mut model: TextToVideo<B>,
    latents: &LatentSet,
    opts: &StageOptions,
    caption_dropout: f64,
    progress: &mut dyn FnMut(StepInfo),
) -> Result<(TextToVideo<B>, StageStats)> {
    let device = model.unet.conv_in.weight.device();
    let scheduler = training_scheduler()?;
    let mut optim = AdamConfig::new().init::<B, TextToVideo<B>>();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut stats = StageStats::default();
    let start = Instant::now();
    let [n, c, f, h, w] = latents.dims;
    for step in 0..opts.steps {
        let idx: Vec<usize> = (0..opts.batch).map(|_| rng.random_range(0..n)).collect();
        let rows: Vec<&Vec<i64>> = idx
            .iter()
            .map(|&i| {
                if rng.random_bool(caption_dropout) {
                    &latents.dropped[rng.random_range(0..latents.dropped.len())]
                } else {
                    &latents.ids[i]
                }
            })
            .collect();
        let ids = id_tensor::<B>(&rows, &device);
        let z0 = latents.batch::<B>(&idx, &device);
        let noise = seeded_noise::<B, 5>(rng.random(), [idx.len(), c, f, h, w], &device);
        let timesteps = scheduler.sample_timesteps(&mut rng, idx.len());
        let loss = diffusion_loss(&model, &scheduler, ids, z0, noise, &timesteps)?;
        let value = scalar(loss.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(opts.lr_at(step), model, grads);
        stats.record(value);
        let elapsed = start.elapsed().as_secs_f64();
        progress(StepInfo {
            step: step + 1,
            total: opts.steps,
            loss: value,
            extra: timesteps.iter().sum::<usize>() as f64 / timesteps.len() as f64,
            seconds: elapsed,
        });
        if opts.max_seconds.is_some_and(|m| elapsed > m) {
            break;
        }
    }
    stats.seconds = start.elapsed().as_secs_f64();
    Ok((model, stats))
}
