//! The MagicTime text-to-video pipeline (ports AnimateDiff `animatediff/pipelines/
//! pipeline_animation.py` `AnimationPipeline.__call__`, as MagicTime's `pipeline_magictime.py`
//! runs it): prompt + negative → tokens → text embeddings (uncond, cond batched) → classifier-free
//! guided DDIM loop over latents `[B, 4, F, H/8, W/8]` → VAE decode per frame → RGB frames.
//!
//! Seeded: the initial noise comes from ChaCha8 (Box–Muller) on the host, so a seed gives the
//! same video on every run of the same backend. A progress callback runs after every denoising
//! step and every decoded frame (the web jobs and the CLI bar use it).

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use crate::clip::text::ClipTextModel;
use crate::clip::tokenizer::{ClipTokenizer, Truncation};
use crate::context::ContextOptions;
use crate::error::{ModelError, Result};
use crate::scheduler::{DdimSchedulerConfig, Scheduler};
use crate::unet::UNet3DConditionModel;
use crate::vae::AutoencoderKl;

pub use crate::loader::magictime::Adapter;
use crate::loader::magictime::{ModelPaths, MotionOverrides};

/// MagicTime's default negative prompt.
pub const DEFAULT_NEGATIVE: &str = "worst quality, low quality, letterboxed";

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// The prompt.
    pub prompt: String,
    /// The negative prompt (the unconditional branch of guidance).
    pub negative: String,
    /// Seed of the initial noise.
    pub seed: u64,
    /// DDIM steps (MagicTime: 25).
    pub steps: usize,
    /// Guidance scale (MagicTime: 8.5).
    pub guidance_scale: f64,
    /// Frames (MagicTime: 16; at most the motion modules' 32).
    pub frames: usize,
    /// Height in pixels (a multiple of the VAE downscale times the UNet stride).
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl GenerateOptions {
    /// MagicTime's defaults: 512², 16 frames, 25 DDIM steps, CFG 8.5, its negative prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        GenerationDefaults::magictime().options(prompt)
    }
}

/// The generation settings a model is made for, read from its folder's
/// `generation_config.json` (written by the trainer; names as diffusers' pipeline arguments),
/// else MagicTime's (`sample_configs/*.yaml`: 512², 16 frames, 25 steps, CFG 8.5). Every entry
/// point (CLI, web generation, evaluation) starts from these.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenerationDefaults {
    pub height: usize,
    pub width: usize,
    pub num_frames: usize,
    pub num_inference_steps: usize,
    pub guidance_scale: f64,
}

impl GenerationDefaults {
    /// The file in a weights folder.
    pub const FILE: &'static str = "generation_config.json";

    /// MagicTime's release settings.
    pub fn magictime() -> Self {
        Self {
            height: 512,
            width: 512,
            num_frames: 16,
            num_inference_steps: 25,
            guidance_scale: 8.5,
        }
    }

    /// Parses `generation_config.json` bytes.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| ModelError::parse(path, e))
    }

    /// The folder's `generation_config.json`, or MagicTime's settings when it has none.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(b) => Self::parse(&path, &b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::magictime()),
            Err(e) => Err(ModelError::io(&path, e)),
        }
    }

    /// Options for `prompt` with these settings (seed 42, MagicTime's negative prompt).
    pub fn options(&self, prompt: impl Into<String>) -> GenerateOptions {
        GenerateOptions {
            prompt: prompt.into(),
            negative: DEFAULT_NEGATIVE.to_string(),
            seed: 42,
            steps: self.num_inference_steps,
            guidance_scale: self.guidance_scale,
            frames: self.num_frames,
            height: self.height,
            width: self.width,
        }
    }
}

/// Where a generation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Denoising step `step` of `total` finished.
    Denoise { step: usize, total: usize },
    /// Frame `frame` of `total` decoded.
    Decode { frame: usize, total: usize },
}

/// A generated clip: `frames` RGB frames, row-major `[frame, y, x, rgb]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// Number of frames.
    pub frames: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// `frames · height · width · 3` bytes.
    pub rgb: Vec<u8>,
}

impl Video {
    /// The bytes of frame `i`.
    pub fn frame(&self, i: usize) -> &[u8] {
        let n = self.height * self.width * 3;
        &self.rgb[i * n..(i + 1) * n]
    }
}

/// Standard normal noise from ChaCha8 (Box–Muller), the same for a seed on every backend.
pub fn seeded_noise<B: Backend, const D: usize>(
    seed: u64,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let v = seeded_normal(seed, shape.iter().product());
    Tensor::from_data(TensorData::new(v, shape.to_vec()), device)
}

/// `n` standard normal values from ChaCha8 (Box–Muller): the values of [`seeded_noise`].
pub fn seeded_normal(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(n + 1);
    while v.len() < n {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        v.push((r * a.cos()) as f32);
        v.push((r * a.sin()) as f32);
    }
    v.truncate(n);
    v
}

/// Video `[B, 3, F, H, W]` in [0, 1] → the first clip as bytes (round to nearest).
pub fn to_video<B: Backend>(video: Tensor<B, 5>) -> Video {
    let [_, _, f, h, w] = video.dims();
    let first = video
        .narrow(0, 0, 1)
        .reshape([3, f, h, w])
        .permute([1, 2, 3, 0]); // [f, h, w, 3]
    let data: Vec<f32> = first
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 video");
    Video {
        frames: f,
        height: h,
        width: w,
        rgb: data
            .into_iter()
            .map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect(),
    }
}

/// The sizes, frame counts and step counts a pipeline accepts ([`MagicTimePipeline::limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateLimits {
    /// Height and width must be positive multiples of this (VAE × UNet downscale).
    pub stride: usize,
    /// Most frames the motion modules take in one pass (their position table); longer videos
    /// run in overlapping context windows ([`crate::context`]), up to
    /// [`crate::context::MAX_FRAMES`].
    pub max_frames: usize,
}

impl GenerateLimits {
    /// Checks the options against the limits (the error says which and why).
    pub fn check(&self, o: &GenerateOptions) -> Result<()> {
        let (stride, max_frames) = (self.stride, self.max_frames);
        if o.height == 0
            || o.width == 0
            || !o.height.is_multiple_of(stride)
            || !o.width.is_multiple_of(stride)
        {
            return Err(ModelError::InvalidInput(format!(
                "size {}x{} must be a positive multiple of {stride}",
                o.width, o.height
            )));
        }
        let most = crate::context::MAX_FRAMES;
        if o.frames == 0 || o.frames > most {
            return Err(ModelError::InvalidInput(format!(
                "{} frames: expected 1..={most} (the motion modules take {max_frames} at once; \
                 longer videos run in overlapping context windows)",
                o.frames
            )));
        }
        if o.steps == 0 || o.steps > 1000 {
            return Err(ModelError::InvalidInput(format!(
                "{} steps: expected 1..=1000",
                o.steps
            )));
        }
        Ok(())
    }
}

/// Tokenizer, text encoder, UNet with motion modules, VAE and the DDIM schedule.
#[derive(Debug)]
pub struct MagicTimePipeline<B: Backend> {
    /// CLIP BPE tokenizer.
    pub tokenizer: ClipTokenizer,
    /// CLIP text encoder.
    pub text_encoder: ClipTextModel<B>,
    /// UNet3D + motion modules.
    pub unet: UNet3DConditionModel<B>,
    /// VAE.
    pub vae: AutoencoderKl<B>,
    /// VAE spatial downscale (8 for SD1.5).
    pub vae_downscale: usize,
    /// Sampling scheduler.
    pub scheduler: DdimSchedulerConfig,
    /// The settings the model is made for (its folder's `generation_config.json`).
    pub defaults: GenerationDefaults,
    /// Device everything lives on.
    pub device: B::Device,
}

impl<B: Backend> MagicTimePipeline<B> {
    /// Loads MagicTime from a weights folder, in MagicTime's `ckpts/` layout or flat
    /// ([`ModelPaths::find`]), applying the adapters in MagicTime's order (S, T, TE).
    ///
    /// `adapters`: `None` = every adapter present; `Some(list)` = exactly these (missing → error).
    pub fn from_dir(dir: &Path, adapters: Option<&[Adapter]>, device: &B::Device) -> Result<Self> {
        let paths = ModelPaths::find(dir, adapters)?;
        let defaults = GenerationDefaults::read(dir)?;
        Self::load(&paths, MotionOverrides::default(), defaults, device)
    }

    /// Loads the files of `paths` ([`crate::loader::magictime::load`]) with the DDIM schedule
    /// of MagicTime and the given generation settings.
    pub fn load(
        paths: &ModelPaths,
        motion: MotionOverrides,
        defaults: GenerationDefaults,
        device: &B::Device,
    ) -> Result<Self> {
        let l = crate::loader::magictime::load::<B>(paths, motion, device)?;
        Ok(Self {
            tokenizer: ClipTokenizer::new()?,
            text_encoder: l.text_encoder,
            unet: l.unet,
            vae: l.vae,
            vae_downscale: l.vae_downscale,
            scheduler: DdimSchedulerConfig::magictime(),
            defaults,
            device: device.clone(),
        })
    }

    /// Text embeddings `[2·n, L, D]`: the unconditional rows first, as AnimateDiff concatenates.
    pub fn encode_ids(&self, cond: Tensor<B, 2, Int>, uncond: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let ids = Tensor::cat(vec![uncond, cond], 0);
        self.text_encoder.forward(ids)
    }

    /// Tokenises `prompt` and `negative` (77 tokens, truncated) and encodes them.
    pub fn encode_prompt(&self, prompt: &str, negative: &str) -> Result<Tensor<B, 3>> {
        let vocab = self.text_encoder_vocab();
        let cond =
            self.tokenizer
                .encode_batch::<B>(&[prompt], Truncation::Truncate, &self.device)?;
        let uncond =
            self.tokenizer
                .encode_batch::<B>(&[negative], Truncation::Truncate, &self.device)?;
        let max = Tensor::cat(vec![cond.clone(), uncond.clone()], 1)
            .max()
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .map_err(|e| ModelError::InvalidInput(format!("token ids: {e:?}")))?[0];
        if max as usize >= vocab {
            return Err(ModelError::InvalidInput(format!(
                "token id {max} is outside the text encoder's vocabulary of {vocab}"
            )));
        }
        Ok(self.encode_ids(cond, uncond))
    }

    fn text_encoder_vocab(&self) -> usize {
        self.text_encoder
            .text_model
            .embeddings
            .token_embedding
            .weight
            .dims()[0]
    }

    /// The guided DDIM loop. `embeddings` `[2·b, L, D]` (uncond first), `latents` `[b, 4, F, h, w]`
    /// (already scaled by the initial sigma). Returns the final latents.
    pub fn denoise(
        &self,
        embeddings: Tensor<B, 3>,
        latents: Tensor<B, 5>,
        steps: usize,
        guidance_scale: f64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tensor<B, 5>> {
        self.denoise_with(embeddings, latents, steps, guidance_scale, None, progress)
    }

    /// The guided noise prediction `ε_u + s·(ε_c − ε_u)` for `latents` `[b, 4, f, h, w]` at `t`.
    fn guided_eps(
        &self,
        latents: Tensor<B, 5>,
        t: usize,
        embeddings: &Tensor<B, 3>,
        guidance_scale: f64,
        scheduler: &crate::scheduler::DdimScheduler,
    ) -> Tensor<B, 5> {
        let b = latents.dims()[0];
        // both guidance branches in one batch
        let input = Tensor::cat(vec![latents.clone(), latents], 0);
        let input = scheduler.scale_model_input(input, t);
        let tt = Tensor::<B, 1>::full([2 * b], t as f32, &self.device);
        let eps = self.unet.forward(input, tt, embeddings.clone());
        let mut halves = eps.chunk(2, 0);
        let eps_c = halves.pop().expect("two halves");
        let eps_u = halves.pop().expect("two halves");
        eps_u.clone() + (eps_c - eps_u) * guidance_scale
    }

    /// [`Self::guided_eps`] over overlapping context windows, fused per frame with the
    /// window weights ([`crate::context`]).
    fn windowed_eps(
        &self,
        latents: &Tensor<B, 5>,
        t: usize,
        embeddings: &Tensor<B, 3>,
        guidance_scale: f64,
        scheduler: &crate::scheduler::DdimScheduler,
        ctx: &ContextOptions,
    ) -> Tensor<B, 5> {
        let [b, c, f, h, w] = latents.dims();
        let mut sum = latents.zeros_like();
        let mut total = vec![0f32; f];
        for (frames, weights) in ctx.frame_windows(f) {
            let len = frames.len();
            let wt = Tensor::<B, 1>::from_floats(weights.as_slice(), &self.device)
                .reshape([1, 1, len, 1, 1]);
            let contiguous = frames.windows(2).all(|p| p[1] == p[0] + 1);
            let x = if contiguous {
                latents.clone().narrow(2, frames[0], len)
            } else {
                let idx: Vec<i64> = frames.iter().map(|&i| i as i64).collect();
                let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [len]), &self.device);
                latents.clone().select(2, idx)
            };
            let eps = self.guided_eps(x, t, embeddings, guidance_scale, scheduler) * wt;
            // scatter-add: one slice for a contiguous window, frame by frame otherwise
            let runs: Vec<(usize, usize)> = if contiguous {
                vec![(frames[0], 0)]
            } else {
                frames.iter().enumerate().map(|(i, &fi)| (fi, i)).collect()
            };
            let n = if contiguous { len } else { 1 };
            for (fi, i) in runs {
                let ranges = [0..b, 0..c, fi..fi + n, 0..h, 0..w];
                let acc = sum.clone().slice(ranges.clone()) + eps.clone().narrow(2, i, n);
                sum = sum.slice_assign(ranges, acc);
            }
            for (&fi, wi) in frames.iter().zip(&weights) {
                total[fi] += wi;
            }
        }
        sum / Tensor::<B, 1>::from_floats(total.as_slice(), &self.device).reshape([1, 1, f, 1, 1])
    }

    /// [`Self::denoise`] with the frames in overlapping context windows when `ctx` is given and
    /// the video is longer than its windows (one pass over every frame otherwise).
    pub fn denoise_with(
        &self,
        embeddings: Tensor<B, 3>,
        mut latents: Tensor<B, 5>,
        steps: usize,
        guidance_scale: f64,
        ctx: Option<&ContextOptions>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Tensor<B, 5>> {
        let scheduler = self.scheduler.build(steps)?;
        let timesteps = scheduler.timesteps().to_vec();
        let frames = latents.dims()[2];
        let ctx = ctx.filter(|c| frames > c.length);
        if let Some(c) = ctx {
            c.check(self.limits().max_frames)?;
            tracing::info!(
                frames,
                windows = c.frame_windows(frames).len(),
                length = c.length,
                overlap = c.overlap,
                "denoising in context windows"
            );
        }
        for (i, &t) in timesteps.iter().enumerate() {
            // 1.–2. guided noise prediction (over windows for long videos)
            let eps = match ctx {
                None => {
                    self.guided_eps(latents.clone(), t, &embeddings, guidance_scale, &scheduler)
                }
                Some(c) => {
                    self.windowed_eps(&latents, t, &embeddings, guidance_scale, &scheduler, c)
                }
            };
            // 3. x_t → x_{t−1}
            latents = scheduler.step(eps, t, latents)?;
            progress(Progress::Denoise {
                step: i + 1,
                total: timesteps.len(),
            });
        }
        Ok(latents)
    }

    /// Scaled latents → video `[b, 3, F, H, W]` in [0, 1], frame by frame.
    pub fn decode(
        &self,
        latents: Tensor<B, 5>,
        progress: &mut dyn FnMut(Progress),
    ) -> Tensor<B, 5> {
        self.vae.decode_video(latents, |frame, total| {
            progress(Progress::Decode { frame, total })
        })
    }

    /// Checks the options fit this pipeline.
    pub fn check(&self, o: &GenerateOptions) -> Result<()> {
        self.limits().check(o)
    }

    /// What [`Self::check`] checks against, to keep without the pipeline (a server checks
    /// requests while a generation holds the pipeline).
    pub fn limits(&self) -> GenerateLimits {
        GenerateLimits {
            stride: self.vae_downscale * (1 << (self.unet.down_blocks.len() - 1)),
            max_frames: self
                .unet
                .down_blocks
                .first()
                .and_then(|b| b.motion_modules.first())
                .map_or(usize::MAX, |m| m.max_len),
        }
    }

    /// The context windows a video of `frames` frames needs by default: none while the motion
    /// modules take every frame at once; beyond that, windows of the frames the model was made
    /// for (its `generation_config.json`: MagicTime 16) overlapping by a quarter.
    pub fn auto_context(&self, frames: usize) -> Option<ContextOptions> {
        let max_len = self.limits().max_frames;
        (frames > max_len).then(|| ContextOptions::new(self.defaults.num_frames.clamp(2, max_len)))
    }

    /// Text → video, the whole pipeline (context windows as [`Self::auto_context`] says).
    pub fn generate(
        &self,
        o: &GenerateOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Video> {
        self.generate_with(o, self.auto_context(o.frames).as_ref(), progress)
    }

    /// [`Self::generate`] with explicit context windows (used when the video is longer than
    /// their length).
    pub fn generate_with(
        &self,
        o: &GenerateOptions,
        ctx: Option<&ContextOptions>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Video> {
        // 1. check inputs
        self.check(o)?;
        let ctx = ctx.filter(|c| o.frames > c.length);
        if let Some(c) = ctx {
            c.check(self.limits().max_frames)?;
        } else if o.frames > self.limits().max_frames {
            return Err(ModelError::InvalidInput(format!(
                "{} frames: more than the motion modules' {} needs context windows",
                o.frames,
                self.limits().max_frames
            )));
        }
        // 2. encode prompt (uncond, cond)
        let emb = self.encode_prompt(&o.prompt, &o.negative)?;
        // 3. prepare latents (DDIM's initial sigma is 1; FreeNoise reorders their frames)
        let (h, w) = (o.height / self.vae_downscale, o.width / self.vae_downscale);
        let mut latents = seeded_noise::<B, 5>(o.seed, [1, 4, o.frames, h, w], &self.device);
        if let Some(c) = ctx.filter(|c| c.freenoise) {
            let order: Vec<i64> = c
                .freenoise_order(o.frames, o.seed)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            let idx =
                Tensor::<B, 1, Int>::from_data(TensorData::new(order, [o.frames]), &self.device);
            latents = latents.select(2, idx);
        }
        // 4. denoise with guidance
        let latents = self.denoise_with(emb, latents, o.steps, o.guidance_scale, ctx, progress)?;
        // 5. decode per frame
        Ok(to_video(self.decode(latents, progress)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn seeded_noise_is_reproducible_and_standard() {
        let dev = Default::default();
        let a: Vec<f32> = seeded_noise::<Cpu, 2>(7, [100, 100], &dev)
            .into_data()
            .to_vec()
            .unwrap();
        let b: Vec<f32> = seeded_noise::<Cpu, 2>(7, [100, 100], &dev)
            .into_data()
            .to_vec()
            .unwrap();
        let c: Vec<f32> = seeded_noise::<Cpu, 2>(8, [100, 100], &dev)
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }
}
