//! The diffusion objective every text-to-image/video stage trains (DDPM ε-prediction, Ho et al.
//! 2020, eq. 14; AnimateDiff / MagicTime train the same): ‖ε − ε_θ(√ᾱ_t·z₀ + √(1−ᾱ_t)·ε, t, c)‖²
//! on VAE latents of ChronoMagic-Synth clips, and the batches of the stages: which clips, which
//! frames ([`FramePick`]: keyframes, uniform, or MagicTime's dynamic frames extraction).
//! Captions are dropped 10 % of the time (half to "", half to the default negative prompt) so
//! classifier-free guidance has an unconditional branch.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use magictime_data::sampler::{uniform_indices, Sampler};
use rand::Rng;

use super::data::{fold_frames, unfold_frames, SynthSet};
use crate::clip::text::ClipTextModel;
use crate::clip::tokenizer::{ClipTokenizer, Truncation};
use crate::error::{ModelError, Result};
use crate::pipeline::{seeded_normal, DEFAULT_NEGATIVE};
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
    /// Whether each clip is metamorphic (ChronoMagic `is_transmit == 0`).
    pub metamorphic: Vec<bool>,
}

fn tokens(tok: &ClipTokenizer, text: &str) -> Result<Vec<i64>> {
    Ok(tok
        .encode_padded(text, Truncation::Truncate)?
        .into_iter()
        .map(i64::from)
        .collect())
}

impl LatentSet {
    /// Encodes every clip frame by frame with the VAE posterior mean × `scaling_factor`, the
    /// clips split over `workers` threads (each with its own copy of the VAE; the result does
    /// not depend on `workers`: the posterior mean has no randomness).
    pub fn encode<B: Backend>(
        vae: &AutoencoderKl<B>,
        data: &SynthSet,
        tok: &ClipTokenizer,
        device: &B::Device,
        workers: usize,
    ) -> Result<Self> {
        let encode_range = |vae: AutoencoderKl<B>, clips: std::ops::Range<usize>| {
            let mut values = Vec::new();
            let mut dims = [data.count, 0, data.frames, 0, 0];
            for clip in clips {
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
            (dims, values)
        };
        // one set of weights for every thread's copy (a fresh module initialises lazily, per clone)
        super::checkpoint::materialize(vae);
        let per = data.count.div_ceil(workers.max(1)).max(1);
        let parts: Vec<([usize; 5], Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..data.count)
                .step_by(per)
                .map(|start| {
                    let (vae, f) = (vae.clone(), &encode_range);
                    s.spawn(move || f(vae, start..(start + per).min(data.count)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("latent encoding thread panicked"))
                .collect()
        });
        let dims = parts
            .first()
            .map_or([data.count, 0, data.frames, 0, 0], |p| p.0);
        let values = parts.into_iter().flat_map(|p| p.1).collect();
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
            metamorphic: data.metamorphic.clone(),
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

impl LatentSet {
    /// Frames `frames[i]` of clip `clips[i]` as values `[b, c, F, h, w]` (every row the same
    /// number of frames F).
    pub fn select(&self, clips: &[usize], frames: &[Vec<usize>]) -> (Vec<f32>, [usize; 5]) {
        let [_, c, f_all, h, w] = self.dims;
        let f = frames.first().map_or(0, Vec::len);
        let mut v = Vec::with_capacity(clips.len() * c * f * h * w);
        for (&clip, fr) in clips.iter().zip(frames) {
            assert_eq!(
                fr.len(),
                f,
                "every clip of a batch has the same number of frames"
            );
            for ch in 0..c {
                for &fi in fr {
                    let start = ((clip * c + ch) * f_all + fi) * h * w;
                    v.extend_from_slice(&self.values[start..start + h * w]);
                }
            }
        }
        (v, [clips.len(), c, f, h, w])
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
    text_encoder: &ClipTextModel<B>,
    unet: &UNet3DConditionModel<B>,
    scheduler: &DdpmScheduler,
    ids: Tensor<B, 2, Int>,
    z0: Tensor<B, 5>,
    noise: Tensor<B, 5>,
    timesteps: &[usize],
) -> Result<Tensor<B, 1>> {
    weighted_diffusion_loss(
        text_encoder,
        unet,
        scheduler,
        ids,
        z0,
        noise,
        timesteps,
        None,
    )
}

/// [`diffusion_loss`] with one weight per sample (`None`: all 1, the plain ε-MSE); the batch mean
/// of `w_i · mean((ε̂_i − ε_i)²)`.
#[allow(clippy::too_many_arguments)]
pub fn weighted_diffusion_loss<B: Backend>(
    text_encoder: &ClipTextModel<B>,
    unet: &UNet3DConditionModel<B>,
    scheduler: &DdpmScheduler,
    ids: Tensor<B, 2, Int>,
    z0: Tensor<B, 5>,
    noise: Tensor<B, 5>,
    timesteps: &[usize],
    weights: Option<&[f32]>,
) -> Result<Tensor<B, 1>> {
    // 1. forward process q(z_t | z_0)
    let zt = scheduler.add_noise(z0, noise.clone(), timesteps)?;
    // 2. text condition
    let context = text_encoder.forward(ids);
    // 3. predict ε
    let t: Vec<f32> = timesteps.iter().map(|&t| t as f32).collect();
    let t = Tensor::<B, 1>::from_floats(t.as_slice(), &zt.device());
    let eps = unet.forward(zt, t, context);
    let sq = (eps - noise).powi_scalar(2);
    Ok(match weights {
        None => sq.mean(),
        Some(w) => {
            let b = timesteps.len();
            let per_sample = sq.reshape([b as i32, -1]).mean_dim(1).reshape([b]);
            let w = Tensor::<B, 1>::from_floats(w, &per_sample.device());
            (per_sample * w).mean()
        }
    })
}

/// Per-sample loss weights that make the ε-loss count the coarse structure (what a frame shows,
/// where a video is in its change) as much as the fine detail: `min(1/ᾱ_t, cap)`. `1/ᾱ_t` turns
/// the ε-MSE into the v-prediction MSE (`‖v̂ − v‖² = ‖ε̂ − ε‖²/ᾱ_t`); the cap bounds the variance
/// of the noisiest steps, as Min-SNR-γ does from the other side. Plain ε-MSE weighs an error in
/// the predicted clean latent by the SNR, so the high-noise steps, the only ones where the frame
/// index (the motion modules' positions) tells more than the noisy frame itself, count ~1/200 of
/// the low-noise ones.
pub fn v_loss_weights(scheduler: &DdpmScheduler, timesteps: &[usize], cap: f64) -> Vec<f32> {
    timesteps
        .iter()
        .map(|&t| (1.0 / scheduler.alphas_cumprod[t]).min(cap) as f32)
        .collect()
}

/// The training noise schedule (SD's linear β 0.00085–0.012 over 1000 steps, as MagicTime samples).
pub fn training_scheduler() -> Result<DdpmScheduler> {
    DdpmSchedulerConfig::new().build(1000)
}

/// Which frames of a clip a sample uses.
#[derive(Debug, Clone)]
pub enum FramePick {
    /// One frame drawn from `n` uniformly spaced keyframes (image stages: keyframe–text pairs).
    Keyframe(usize),
    /// `n` frames spread uniformly over the clip.
    Uniform(usize),
    /// MagicTime's dynamic frames extraction (`magictime_data::sampler`, upstream
    /// `utils/dataset.py`): uniform over the whole clip for metamorphic clips
    /// (`is_transmit == 0`), a random strided window for general ones.
    Dynamic(Sampler),
}

impl FramePick {
    /// Frames per sample.
    pub fn frames(&self) -> usize {
        match self {
            Self::Keyframe(_) => 1,
            Self::Uniform(n) => *n,
            Self::Dynamic(s) => s.config().n,
        }
    }

    fn pick(&self, total: usize, metamorphic: bool, rng: &mut impl Rng) -> Result<Vec<usize>> {
        Ok(match self {
            Self::Keyframe(n) => {
                let keys = uniform_indices(total, (*n).min(total));
                vec![keys[rng.random_range(0..keys.len())]]
            }
            Self::Uniform(n) => uniform_indices(total, *n),
            Self::Dynamic(s) => {
                s.sample(rng.random(), total, Some(!metamorphic))
                    .map_err(|e| ModelError::InvalidInput(format!("frame sampler: {e}")))?
                    .1
            }
        })
    }
}

/// One diffusion batch, prepared on the data thread.
#[derive(Debug, Clone)]
pub struct DiffusionBatch {
    /// Token ids, `rows × 77`.
    pub ids: Vec<i64>,
    pub rows: usize,
    /// Clean latents `[b, c, F, h, w]`.
    pub z0: Vec<f32>,
    pub dims: [usize; 5],
    /// ε, same shape.
    pub noise: Vec<f32>,
    pub timesteps: Vec<usize>,
    /// Per-sample loss weights (empty: unweighted ε-MSE).
    pub weights: Vec<f32>,
    /// The clips of the batch (for tests).
    pub clips: Vec<usize>,
}

impl super::checkpoint::Batch for DiffusionBatch {
    fn rows(&self) -> usize {
        self.rows
    }

    fn split(self, parts: usize) -> Vec<Self> {
        let ranges = super::checkpoint::split_rows(self.rows, parts);
        if ranges.len() <= 1 {
            return vec![self];
        }
        let l = self.ids.len() / self.rows;
        let per: usize = self.dims[1..].iter().product();
        ranges
            .into_iter()
            .map(|r| {
                let mut dims = self.dims;
                dims[0] = r.len();
                Self {
                    ids: self.ids[r.start * l..r.end * l].to_vec(),
                    rows: r.len(),
                    z0: self.z0[r.start * per..r.end * per].to_vec(),
                    dims,
                    noise: self.noise[r.start * per..r.end * per].to_vec(),
                    timesteps: self.timesteps[r.clone()].to_vec(),
                    weights: if self.weights.is_empty() {
                        Vec::new()
                    } else {
                        self.weights[r.clone()].to_vec()
                    },
                    clips: self.clips[r].to_vec(),
                }
            })
            .collect()
    }
}

/// What a diffusion stage samples from.
#[derive(Debug, Clone)]
pub struct DiffusionData<'a> {
    pub latents: &'a LatentSet,
    /// The clips the stage trains on.
    pub pool: Vec<usize>,
    pub frames: FramePick,
    pub batch: usize,
    /// Probability of replacing a caption by a null one (half "", half the default negative).
    pub caption_dropout: f64,
    pub scheduler: &'a DdpmScheduler,
    /// Weigh each sample's loss by [`v_loss_weights`] with this cap (`None`: plain ε-MSE).
    pub v_loss_cap: Option<f64>,
}

impl DiffusionData<'_> {
    /// The batch of a step, from that step's RNG.
    pub fn prepare(&self, rng: &mut impl Rng) -> Result<DiffusionBatch> {
        let l = self.latents;
        let clips: Vec<usize> = (0..self.batch)
            .map(|_| self.pool[rng.random_range(0..self.pool.len())])
            .collect();
        let mut ids = Vec::with_capacity(clips.len() * 77);
        for &i in &clips {
            let row = if rng.random_bool(self.caption_dropout) {
                &l.dropped[rng.random_range(0..l.dropped.len())]
            } else {
                &l.ids[i]
            };
            ids.extend_from_slice(row);
        }
        let frames = clips
            .iter()
            .map(|&i| self.frames.pick(l.dims[2], l.metamorphic[i], rng))
            .collect::<Result<Vec<_>>>()?;
        let (z0, dims) = l.select(&clips, &frames);
        let noise = seeded_normal(rng.random(), z0.len());
        let timesteps = self.scheduler.sample_timesteps(rng, clips.len());
        let weights = self
            .v_loss_cap
            .map(|cap| v_loss_weights(self.scheduler, &timesteps, cap))
            .unwrap_or_default();
        Ok(DiffusionBatch {
            rows: clips.len(),
            ids,
            z0,
            dims,
            noise,
            timesteps,
            weights,
            clips,
        })
    }
}

/// The loss of a prepared batch (and its mean timestep) on `text_encoder` + `unet`.
pub fn batch_loss<B: Backend>(
    text_encoder: &ClipTextModel<B>,
    unet: &UNet3DConditionModel<B>,
    scheduler: &DdpmScheduler,
    b: DiffusionBatch,
) -> Result<(Tensor<B, 1>, f64)> {
    let device = unet.conv_in.weight.device();
    let l = b.ids.len() / b.rows.max(1);
    let ids = Tensor::from_data(TensorData::new(b.ids, [b.rows, l]), &device);
    let z0 = Tensor::from_data(TensorData::new(b.z0, b.dims), &device);
    let noise = Tensor::from_data(TensorData::new(b.noise, b.dims), &device);
    let mean_t = b.timesteps.iter().sum::<usize>() as f64 / b.timesteps.len().max(1) as f64;
    let weights = (!b.weights.is_empty()).then_some(b.weights.as_slice());
    let loss = weighted_diffusion_loss(
        text_encoder,
        unet,
        scheduler,
        ids,
        z0,
        noise,
        &b.timesteps,
        weights,
    )?;
    Ok((loss, mean_t))
}
