//! Training the project's default model on ChronoMagic-Synth (Burn autodiff + Adam, generic over
//! the autodiff backend: the CPU for `magictime model train-default`, a worker's `--device` for
//! training jobs) with MagicTime's recipe, in stages ([`stages`]), each runnable on its own
//! (`magictime model train-default --stage a|b|c|d|all`):
//!
//! - **a** base text-to-image ("SD1.5"): the VAE on frames ([`vae`]), then the text encoder and
//!   the spatial UNet (motion modules removed) on single frames of all clips;
//! - **b** motion modules ("AnimateDiff") on *general* clips, base frozen;
//! - **c** Magic Adapter S: LoRA on the spatial attention projections, keyframe–text pairs of
//!   metamorphic clips, motion modules removed (upstream `is_image`), base + motion frozen;
//! - **d** Magic Adapter T (LoRA on the motion modules) + Magic Text-Encoder (LoRA on the text
//!   encoder's attention) on metamorphic videos with MagicTime's dynamic frames extraction, over
//!   the frozen base + S.
//!
//! Every text-conditioned stage drops 10 % of captions ([`diffusion`]). Each stage writes its
//! part of the weights folder in the upstream layouts ([`save`]) and the next stage loads it back
//! through the same loaders as the official release. Every loop checkpoints (weights, Adam
//! state, step; the RNG state is the step) atomically and resumes ([`checkpoint`]).

pub mod checkpoint;
pub mod clip;
pub mod data;
pub mod diffusion;
pub mod freeze;
pub mod save;
pub mod stages;
pub mod vae;

use std::collections::BTreeSet;
use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::default_model::{text_config_json, unet_config_json, vae_config_json};
use crate::error::Result;
use crate::loader::store::checkpoint_key;
use diffusion::TextToVideo;

pub use stages::{run_train_default_with, Stage, TrainDefault, TrainReport};

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
    /// Data-parallel workers: each step's batch is split into this many parts whose
    /// forward/backward run on their own threads (gradients summed, loss weighted by rows).
    pub workers: usize,
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

/// Which stages to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageSelect {
    /// Base text-to-image: VAE, text encoder, spatial UNet.
    A,
    /// Motion modules on general clips.
    B,
    /// Magic Adapter S.
    C,
    /// Magic Adapter T + Magic Text-Encoder.
    D,
    /// a, b, c, d in order.
    All,
}

/// `magictime model train-default`: trains the default model and writes its weights folder.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainDefaultArgs {
    /// Output folder (upstream layout: unet/, vae/, text_encoder/, motion_module.safetensors,
    /// magic_adapter_s/, magic_adapter_t/, magic_text_encoder/). Stages b–d read the earlier
    /// stages' weights from it.
    #[arg(long, default_value = "model/assets/default")]
    pub out: PathBuf,
    /// Stage(s) to run.
    #[arg(long, value_enum, default_value_t = StageSelect::All)]
    pub stage: StageSelect,
    /// Model size preset: frame side and frames per clip (see `default_model::Preset`).
    #[arg(long, value_enum, default_value_t = crate::default_model::Preset::S32)]
    pub preset: crate::default_model::Preset,
    /// ChronoMagic-Synth clips to render (both kinds).
    #[arg(long, default_value_t = 512)]
    pub clips: usize,
    /// Seed of the synthetic data and of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stage a: VAE steps (batch of frames).
    #[arg(long, default_value_t = 1500)]
    pub vae_steps: usize,
    /// Stage a: VAE batch (frames).
    #[arg(long, default_value_t = 16)]
    pub vae_batch: usize,
    /// Stage a: train the VAE on random crops of this side (a multiple of its downscale)
    /// instead of whole frames: the same convolutional weights at a fraction of the cost per
    /// sample.
    #[arg(long)]
    pub vae_crop: Option<usize>,
    /// Stage a: with `--vae-crop`, only the first this many VAE steps see crops; the rest see
    /// whole frames (default: all of them).
    #[arg(long, requires = "vae_crop")]
    pub vae_crop_steps: Option<usize>,
    /// Stage a: VAE wall-time cap in seconds.
    #[arg(long)]
    pub vae_max_seconds: Option<f64>,
    /// Stage a: text encoder + spatial UNet steps.
    #[arg(long, default_value_t = 3000)]
    pub unet_steps: usize,
    /// Batch (clips) of the diffusion stages a–d.
    #[arg(long, default_value_t = 4)]
    pub unet_batch: usize,
    /// Stage a: text encoder + UNet wall-time cap in seconds.
    #[arg(long)]
    pub unet_max_seconds: Option<f64>,
    /// Stage b: motion-module steps.
    #[arg(long, default_value_t = 2000)]
    pub motion_steps: usize,
    /// Stage c: Magic Adapter S steps.
    #[arg(long, default_value_t = 1000)]
    pub adapter_s_steps: usize,
    /// Stage d: Magic Adapter T + Magic Text-Encoder steps.
    #[arg(long, default_value_t = 1500)]
    pub adapter_t_steps: usize,
    /// Wall-time cap in seconds of each of stages b, c, d.
    #[arg(long)]
    pub stage_max_seconds: Option<f64>,
    /// Data-parallel workers per step (the batch is split; 1: one thread does the whole step).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Peak learning rate of the full-weight stages (a, b).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Peak learning rate of the LoRA stages (c, d).
    #[arg(long, default_value_t = 1e-3)]
    pub adapter_lr: f64,
    /// LoRA rank of Magic Adapter S (α = rank).
    #[arg(long, default_value_t = 8)]
    pub rank_s: usize,
    /// LoRA rank of Magic Adapter T (α = rank).
    #[arg(long, default_value_t = 8)]
    pub rank_t: usize,
    /// LoRA rank of the Magic Text-Encoder (α = rank).
    #[arg(long, default_value_t = 8)]
    pub rank_te: usize,
    /// Weigh the diffusion loss of every stage run by `min(1/ᾱ_t, cap)` (the v-prediction MSE,
    /// capped; see `diffusion::v_loss_weights`) instead of the plain ε-MSE: gives the high-noise
    /// steps, where a video's progression is decided, a say in the motion stages.
    #[arg(long)]
    pub v_loss_cap: Option<f64>,
    /// Probability of a null caption in the text-conditioned stages.
    #[arg(long, default_value_t = 0.1)]
    pub caption_dropout: f64,
    /// Checkpoint folder (default: `<out>/checkpoints`).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint every this many steps (0: only by time and at the end of a loop).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every_steps: usize,
    /// Checkpoint every this many minutes.
    #[arg(long, default_value_t = 5.0)]
    pub checkpoint_every_minutes: f64,
    /// Continue from the checkpoints (a finished loop is not run again).
    #[arg(long)]
    pub resume: bool,
    /// Store f16 weights.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub half: bool,
    /// Gzip the text encoder (`model.safetensors.gz`, as the embedded default model stores it;
    /// `--model` folders need it plain).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub gzip_text_encoder: bool,
    /// Stage a starts the text encoder from this CLIP's text tower and keeps it frozen, as
    /// Stable Diffusion keeps its pretrained CLIP text encoder: `in-domain` (the embedded CLIP
    /// trained on ChronoMagic-Synth) or a CLIP / diffusers folder. Without it the text encoder
    /// is trained from scratch with the UNet (the preset's small config).
    #[arg(long, value_name = "in-domain|DIR")]
    pub text_encoder_init: Option<String>,
}

impl Default for TrainDefaultArgs {
    /// The command-line defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: TrainDefaultArgs,
        }
        <Cli as clap::Parser>::parse_from(["train-default"]).args
    }
}

/// Writes the trained networks as a weights folder. Token-embedding rows outside
/// `used_tokens` are zeroed (never trained). With `gzip_text` the text encoder is stored
/// gzip-compressed (`model.safetensors.gz`, for the embedded default model, which
/// `default_model::write_default_dir` unpacks); without it the folder is one
/// `MagicTimePipeline::from_dir` (`--model`) loads as is. Returns the bytes written.
#[allow(clippy::too_many_arguments)]
pub fn save_default_folder<B: Backend>(
    dir: &std::path::Path,
    preset: crate::default_model::Preset,
    text_cfg: &crate::clip::ClipTextConfig,
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
    // UNet: base keys here, motion-module keys in their own file (diffusers layout).
    let base: Vec<_> = save::collect(&model.unet, &|p| crate::loader::unet::checkpoint_key(p))
        .into_iter()
        .filter(|t| !t.key.contains(".motion_modules."))
        .collect();
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
        ("unet/config.json", json(unet_config_json(&preset.unet()))),
        (
            "unet/diffusion_pytorch_model.safetensors",
            save::to_safetensors(&base, half)?,
        ),
        (
            "vae/config.json",
            json(vae_config_json(vae_cfg, preset.size())),
        ),
        (
            "vae/diffusion_pytorch_model.safetensors",
            save::to_safetensors(&vae_t, half)?,
        ),
        ("text_encoder/config.json", json(text_config_json(text_cfg))),
        (
            crate::pipeline::GenerationDefaults::FILE,
            json(serde_json::to_value(preset.generation_defaults()).unwrap_or_default()),
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
    let mut total = save_motion_module(dir, &model.unet, half)?;
    for (name, bytes) in files {
        total += save::write_file_len(&dir.join(name), &bytes)?;
    }
    Ok(total)
}

/// Writes the UNet's motion modules as `motion_module.safetensors` (diffusers keys). Returns
/// the bytes written.
pub fn save_motion_module<B: Backend>(
    dir: &std::path::Path,
    unet: &crate::unet::UNet3DConditionModel<B>,
    half: bool,
) -> Result<u64> {
    let motion: Vec<_> = save::collect(unet, &|p| crate::loader::unet::checkpoint_key(p))
        .into_iter()
        .filter(|t| t.key.contains(".motion_modules."))
        .collect();
    save::write_file_len(
        &dir.join("motion_module.safetensors"),
        &save::to_safetensors(&motion, half)?,
    )
}
