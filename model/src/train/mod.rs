//! Training the project's default model on ChronoMagic-Synth (CPU, Burn autodiff + Adam):
//! stage A trains the VAE on frames ([`vae`]), stage B the text encoder and UNet3D jointly on
//! VAE latents with the DDPM ε loss ([`diffusion`]); [`save`] writes the upstream folder layout.
//! `magictime model train-default` / `tools/train_default.sh` run [`run_train_default`].

pub mod clip;
pub mod data;
pub mod diffusion;
pub mod freeze;
pub mod save;
pub mod vae;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::backend::{Cpu, CpuAutodiff};
use crate::clip::tokenizer::ClipTokenizer;
use crate::default_model::{
    text_config, text_config_json, unet_config, unet_config_json, vae_config, vae_config_json,
};
use crate::error::{ModelError, Result};
use crate::loader::store::checkpoint_key;
use data::SynthSet;
use diffusion::{LatentSet, TextToVideo};

/// Optimisation settings of one stage.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Optimizer steps (upper bound when `max_seconds` stops earlier).
    pub steps: usize,
    /// Batch size (frames for the VAE, clips for the UNet).
    pub batch: usize,
    /// Peak Adam learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// Seed of batch order, noise and timesteps.
    pub seed: u64,
    /// Stop after this much wall time.
    pub max_seconds: Option<f64>,
}

impl StageOptions {
    /// Linear warm-up, then cosine decay to 10 % of `lr` at `steps`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let p = (step - self.warmup) as f64 / (self.steps - self.warmup).max(1) as f64;
        self.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos()))
    }
}

/// Progress of one optimizer step.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    /// Stage-specific: reconstruction MSE (VAE) or mean timestep (UNet).
    pub extra: f64,
    pub seconds: f64,
}

/// Loss history summary of a stage.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StageStats {
    pub steps: usize,
    pub seconds: f64,
    /// Mean loss of the first 20 steps.
    pub first_loss: f64,
    /// Mean loss of the last 20 steps.
    pub last_loss: f64,
    #[serde(skip)]
    history: Vec<f64>,
}

impl StageStats {
    fn record(&mut self, loss: f64) {
        self.history.push(loss);
        self.steps = self.history.len();
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
        self.first_loss = mean(&self.history[..self.history.len().min(20)]);
        self.last_loss = mean(&self.history[self.history.len().saturating_sub(20)..]);
    }
}

/// A one-element tensor's value.
pub fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    f64::from(
        t.into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 scalar")[0],
    )
}

/// `magictime model train-default`: trains the default model and writes its weights folder.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainDefaultArgs {
    /// Output folder (upstream layout: unet/, vae/, text_encoder/, motion_module.safetensors).
    #[arg(long, default_value = "model/assets/default")]
    pub out: PathBuf,
    /// ChronoMagic-Synth clips to render (both kinds).
    #[arg(long, default_value_t = 512)]
    pub clips: usize,
    /// Seed of the synthetic data and of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// VAE steps (batch of frames).
    #[arg(long, default_value_t = 1500)]
    pub vae_steps: usize,
    /// VAE batch (frames).
    #[arg(long, default_value_t = 16)]
    pub vae_batch: usize,
    /// VAE wall-time cap in seconds.
    #[arg(long)]
    pub vae_max_seconds: Option<f64>,
    /// UNet + text encoder steps.
    #[arg(long, default_value_t = 3000)]
    pub unet_steps: usize,
    /// UNet batch (clips of 8 frames).
    #[arg(long, default_value_t = 4)]
    pub unet_batch: usize,
    /// UNet wall-time cap in seconds.
    #[arg(long)]
    pub unet_max_seconds: Option<f64>,
    /// Store f16 weights.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub half: bool,
    /// Gzip the text encoder (`model.safetensors.gz`, as the embedded default model stores it;
    /// `--model` folders need it plain).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub gzip_text_encoder: bool,
}

/// What a training run did (written as `train_log.json` next to the weights).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    pub clips: usize,
    pub size: usize,
    pub frames: usize,
    pub seed: u64,
    pub vae: StageStats,
    pub vae_recon_mse_last: f64,
    pub scaling_factor: f64,
    pub unet: StageStats,
    pub total_seconds: f64,
    pub bytes: u64,
}

fn log_every(stage: &'static str) -> impl FnMut(StepInfo) {
    move |s: StepInfo| {
        if s.step == 1 || s.step.is_multiple_of(25) || s.step == s.total {
            eprintln!(
                "[{stage}] step {}/{} loss {:.5} extra {:.4} {:.0}s",
                s.step, s.total, s.loss, s.extra, s.seconds
            );
        }
    }
}

/// Renders the data, trains both stages and writes the weights folder. Returns the report.
pub fn run_train_default(args: &TrainDefaultArgs) -> Result<TrainReport> {
    run_train_default_with(args, &mut |_, _| {})
}

/// [`run_train_default`] that also reports every optimizer step with its stage (`"vae"` or
/// `"unet"`), e.g. to a web job's progress.
pub fn run_train_default_with(
    args: &TrainDefaultArgs,
    progress: &mut dyn FnMut(&'static str, StepInfo),
) -> Result<TrainReport> {
    let start = Instant::now();
    let device = Default::default();
    let (size, frames) = (crate::default_model::SIZE, crate::default_model::FRAMES);
    // 1. data
    eprintln!(
        "rendering {} ChronoMagic-Synth clips ({size}², {frames} frames, seed {})",
        args.clips, args.seed
    );
    let data = SynthSet::generate(args.clips, size, frames, args.seed)?;
    // 2. stage A: VAE
    <CpuAutodiff as Backend>::seed(&device, args.seed);
    let vae0 = vae_config().init::<CpuAutodiff>(&device);
    let vae_opts = StageOptions {
        steps: args.vae_steps,
        batch: args.vae_batch,
        lr: 1e-3,
        warmup: 10,
        seed: args.seed,
        max_seconds: args.vae_max_seconds,
    };
    let mut recon_last = 0.0;
    let mut log = log_every("vae");
    let (vae_t, vae_stats) = vae::train_vae(vae0, &data, &vae_opts, 1e-4, &mut |s| {
        recon_last = s.extra;
        progress("vae", s);
        log(s)
    });
    let mut vae_inf = vae_t.valid();
    let std = vae::latent_std(&vae_inf, &data, &device);
    vae_inf.scaling_factor = 1.0 / std;
    eprintln!(
        "latent std {std:.4} → scaling_factor {:.4}",
        vae_inf.scaling_factor
    );
    // 3. stage B: text encoder + UNet on latents
    let tok = ClipTokenizer::new()?;
    let latents = LatentSet::encode(&vae_inf, &data, &tok, &device)?;
    <CpuAutodiff as Backend>::seed(&device, args.seed + 1);
    let model = TextToVideo::<CpuAutodiff> {
        text_encoder: text_config().init(&device),
        unet: unet_config().init(&device),
    };
    let unet_opts = StageOptions {
        steps: args.unet_steps,
        batch: args.unet_batch,
        lr: 1e-3,
        warmup: 20,
        seed: args.seed + 1,
        max_seconds: args.unet_max_seconds,
    };
    let mut log = log_every("unet");
    let (model, unet_stats) =
        diffusion::train_diffusion(model, &latents, &unet_opts, 0.1, &mut |s| {
            progress("unet", s);
            log(s)
        })?;
    let model: TextToVideo<Cpu> = model.valid();
    // 4. save in the upstream layouts
    let used: BTreeSet<usize> = latents
        .ids
        .iter()
        .chain(&latents.dropped)
        .flat_map(|r| r.iter().map(|&i| i as usize))
        .collect();
    let mut scaled_vae_cfg = vae_config();
    scaled_vae_cfg.scaling_factor = vae_inf.scaling_factor;
    let bytes = save_default_folder(
        &args.out,
        &model,
        &vae_inf,
        &scaled_vae_cfg,
        &used,
        args.half,
        args.gzip_text_encoder,
    )?;
    let report = TrainReport {
        clips: args.clips,
        size,
        frames,
        seed: args.seed,
        vae: vae_stats,
        vae_recon_mse_last: recon_last,
        scaling_factor: vae_inf.scaling_factor,
        unet: unet_stats,
        total_seconds: start.elapsed().as_secs_f64(),
        bytes,
    };
    let log_path = args.out.join("train_log.json");
    save::write_file(
        &log_path,
        serde_json::to_string_pretty(&report)
            .map_err(|e| ModelError::InvalidInput(e.to_string()))?
            .as_bytes(),
    )?;
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    Ok(report)
}

/// Writes the trained networks as a weights folder. Token-embedding rows outside
/// `used_tokens` are zeroed (never trained). With `gzip_text` the text encoder is stored
/// gzip-compressed (`model.safetensors.gz`, for the embedded default model, which
/// `default_model::write_default_dir` unpacks); without it the folder is one
/// `MagicTimePipeline::from_dir` (`--model`) loads as is. Returns the bytes written.
pub fn save_default_folder<B: Backend>(
    dir: &std::path::Path,
    model: &TextToVideo<B>,
    vae: &crate::vae::AutoencoderKl<B>,
    vae_cfg: &crate::vae::AutoencoderKlConfig,
    used_tokens: &BTreeSet<usize>,
    half: bool,
    gzip_text: bool,
) -> Result<u64> {
    use crate::loader::clip::CLIP_RENAMES;
    use crate::loader::vae::VAE_RENAMES;
    let json = |v: serde_json::Value| serde_json::to_vec_pretty(&v).unwrap_or_default();
    // UNet: base keys and motion-module keys in two files (diffusers layout).
    let unet = save::collect(&model.unet, &|p| crate::unet::loader::checkpoint_key(p));
    let (motion, base): (Vec<_>, Vec<_>) = unet
        .into_iter()
        .partition(|t| t.key.contains(".motion_modules."));
    let mut text = save::collect(&model.text_encoder, &|p| {
        checkpoint_key(CLIP_RENAMES, &p.join("."))
    });
    save::zero_rows_except(
        &mut text,
        "text_model.embeddings.token_embedding.weight",
        used_tokens,
    );
    let vae_t = save::collect(vae, &|p| checkpoint_key(VAE_RENAMES, &p.join(".")));
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("unet/config.json", json(unet_config_json(&unet_config()))),
        (
            "unet/diffusion_pytorch_model.safetensors",
            save::to_safetensors(&base, half)?,
        ),
        (
            "motion_module.safetensors",
            save::to_safetensors(&motion, half)?,
        ),
        ("vae/config.json", json(vae_config_json(vae_cfg))),
        (
            "vae/diffusion_pytorch_model.safetensors",
            save::to_safetensors(&vae_t, half)?,
        ),
        (
            "text_encoder/config.json",
            json(text_config_json(&text_config())),
        ),
        (
            if gzip_text {
                "text_encoder/model.safetensors.gz"
            } else {
                "text_encoder/model.safetensors"
            },
            save::to_safetensors(&text, half)?,
        ),
    ];
    let mut total = 0;
    for (name, bytes) in files {
        let path = dir.join(name);
        save::write_file(&path, &bytes)?;
        total += std::fs::metadata(&path)
            .map_err(|e| ModelError::io(&path, e))?
            .len();
    }
    Ok(total)
}
