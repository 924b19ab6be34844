//! The stages of MagicTime's recipe in miniature (see the module docs of [`crate::train`]) and
//! the run that chains them. Each stage reads the earlier stages' weights back from the output
//! folder through the loaders of the official release (`MagicTimePipeline::from_dir`), trains
//! only its own parameters, and writes its part of the folder.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use magictime_data::sampler::{Sampler, SamplerConfig};

use super::checkpoint::{optimize, CheckpointOptions};
use super::data::SynthSet;
use super::diffusion::{
    batch_loss, training_scheduler, DiffusionBatch, DiffusionData, FramePick, LatentSet,
    TextToVideo,
};
use super::freeze::{check_trained_only, snapshot, Unfreeze};
use super::{save, StageOptions, StageSelect, StageStats, StepInfo, TrainDefaultArgs};
use crate::backend::OnBackend;
use crate::clip::tokenizer::ClipTokenizer;
use crate::error::{ModelError, Result};
use crate::loader::unet::checkpoint_key as unet_key;
use crate::lora::{LoraConfig, LoraSet};
use crate::pipeline::{Adapter, MagicTimePipeline};
use crate::scheduler::DdpmScheduler;

/// One stage of the recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Base text-to-image: VAE, text encoder, spatial UNet on single frames of all clips.
    A,
    /// Motion modules on general clips, base frozen.
    B,
    /// Magic Adapter S on keyframes of metamorphic clips, motion modules removed.
    C,
    /// Magic Adapter T + Magic Text-Encoder on metamorphic videos, base + S frozen.
    D,
}

impl StageSelect {
    /// The stages selected, in order.
    pub fn stages(self) -> Vec<Stage> {
        match self {
            Self::A => vec![Stage::A],
            Self::B => vec![Stage::B],
            Self::C => vec![Stage::C],
            Self::D => vec![Stage::D],
            Self::All => vec![Stage::A, Stage::B, Stage::C, Stage::D],
        }
    }
}

/// The adapters of stages c and d, as one module for one optimiser.
#[derive(Module, Debug)]
pub struct MagicAdapters<B: Backend> {
    /// Magic Adapter S (spatial attention of the UNet).
    pub s: Option<LoraSet<B>>,
    /// Magic Adapter T (motion modules).
    pub t: Option<LoraSet<B>>,
    /// Magic Text-Encoder (text encoder attention).
    pub te: Option<LoraSet<B>>,
}

/// What a training run did (written as `train_log.json` next to the weights; stages not run
/// keep the values of the earlier run that the file already held).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TrainReport {
    pub clips: usize,
    pub size: usize,
    pub frames: usize,
    pub preset: crate::default_model::Preset,
    pub seed: u64,
    /// The stages this run trained.
    pub stages: Vec<Stage>,
    /// Stage a: VAE.
    pub vae: StageStats,
    pub vae_recon_mse_last: f64,
    pub scaling_factor: f64,
    /// Stage a: text encoder + spatial UNet.
    pub unet: StageStats,
    /// Stage b: motion modules.
    pub motion: Option<StageStats>,
    /// Stage c: Magic Adapter S.
    pub adapter_s: Option<StageStats>,
    /// Stage d: Magic Adapter T + Magic Text-Encoder.
    pub adapter_t: Option<StageStats>,
    pub total_seconds: f64,
    /// Bytes of the weights files this run wrote.
    pub bytes: u64,
}

/// Frames rendered per clip: twice the training length (at most the synth's 32), so the
/// dynamic frames extraction has a choice: uniform over the clip or a window.
pub fn render_frames(frames: usize) -> usize {
    (2 * frames).clamp(8, 32)
}

/// The frame sampler of stages b and d (stride 1: a window is `frames` consecutive frames).
pub fn frame_sampler(frames: usize, seed: u64) -> Result<Sampler> {
    Sampler::new(SamplerConfig {
        n: frames,
        stride: 1,
        uniform_ratio: 0.5,
        seed,
    })
    .map_err(|e| ModelError::InvalidInput(format!("frame sampler: {e}")))
}

/// The weights folder `out` as a pipeline on the training backend, with exactly `adapters`
/// applied (through `MagicTimePipeline::from_dir`, the loader of the official release).
pub fn load_folder<B: AutodiffBackend>(
    out: &Path,
    adapters: &[Adapter],
    device: &B::Device,
) -> Result<MagicTimePipeline<B>> {
    let tmp = tempfile::tempdir().map_err(|e| ModelError::io(std::env::temp_dir(), e))?;
    crate::default_model::unpack_dir(out, tmp.path())?;
    MagicTimePipeline::from_dir(tmp.path(), Some(adapters), device)
}

/// Everything the stages share; the stages train on the autodiff backend `B`.
pub struct Run<'a, B: AutodiffBackend> {
    pub args: &'a TrainDefaultArgs,
    pub data: SynthSet,
    pub tokenizer: ClipTokenizer,
    pub scheduler: DdpmScheduler,
    pub ckpt: CheckpointOptions,
    pub device: B::Device,
    pub progress: &'a mut dyn FnMut(&'static str, StepInfo),
    pub report: TrainReport,
}

impl<'a, B: AutodiffBackend> Run<'a, B> {
    /// Renders the data and sets up checkpoints; training runs on `device`.
    pub fn new(
        args: &'a TrainDefaultArgs,
        device: B::Device,
        progress: &'a mut dyn FnMut(&'static str, StepInfo),
    ) -> Result<Self> {
        let p = args.preset;
        let frames = render_frames(p.frames());
        tracing::info!(
            "rendering {} ChronoMagic-Synth clips ({}², {frames} frames, seed {})",
            args.clips,
            p.size(),
            args.seed
        );
        let data = SynthSet::generate(args.clips, p.size(), frames, args.seed)?;
        let ckpt = CheckpointOptions {
            dir: Some(
                args.checkpoint_dir
                    .clone()
                    .unwrap_or_else(|| args.out.join("checkpoints")),
            ),
            every_steps: args.checkpoint_every_steps,
            every_seconds: args.checkpoint_every_minutes * 60.0,
            resume: args.resume,
            stop_after: None,
        };
        Ok(Self {
            args,
            data,
            tokenizer: ClipTokenizer::new()?,
            scheduler: training_scheduler()?,
            ckpt,
            device,
            progress,
            report: TrainReport {
                clips: args.clips,
                size: p.size(),
                frames: p.frames(),
                preset: p,
                seed: args.seed,
                ..Default::default()
            },
        })
    }

    fn diffusion_opts(&self, steps: usize, lr: f64, seed: u64, max: Option<f64>) -> StageOptions {
        StageOptions {
            steps,
            batch: self.args.unet_batch,
            lr,
            warmup: 20.min(steps / 10 + 1),
            seed,
            max_seconds: max,
            workers: self.args.workers,
        }
    }

    /// Runs `stage`.
    pub fn stage(&mut self, stage: Stage) -> Result<()> {
        tracing::info!(?stage, "stage start");
        match stage {
            Stage::A => self.stage_a(),
            Stage::B => self.stage_b(),
            Stage::C => self.stage_c(),
            Stage::D => self.stage_d(),
        }?;
        self.report.stages.push(stage);
        Ok(())
    }

    /// Stage a: VAE on frames, then text encoder + spatial UNet on single frames of all clips;
    /// writes the whole folder (the motion modules as initialised: zero `proj_out`, identity).
    fn stage_a(&mut self) -> Result<()> {
        let (args, p, dev) = (self.args, self.args.preset, self.device.clone());
        // 1. VAE
        B::seed(&dev, args.seed);
        let vae0 = p.vae().init::<B>(&dev);
        let opts = StageOptions {
            steps: args.vae_steps,
            batch: args.vae_batch,
            lr: args.lr,
            warmup: 10,
            seed: args.seed,
            max_seconds: args.vae_max_seconds,
            workers: args.workers,
        };
        let mut recon = 0.0;
        let progress = &mut *self.progress;
        let (vae_t, stats) = super::vae::train_vae(
            vae0,
            &self.data,
            &opts,
            1e-4,
            args.vae_crop
                .map(|side| (side, args.vae_crop_steps.unwrap_or(args.vae_steps))),
            &self.ckpt,
            &mut |s| {
                recon = s.extra;
                progress("vae", s)
            },
        )?;
        let mut vae = vae_t.valid();
        let std = super::vae::latent_std(&vae, &self.data, &dev);
        vae.scaling_factor = 1.0 / std;
        tracing::info!(
            "latent std {std:.4} → scaling_factor {:.4}",
            vae.scaling_factor
        );
        self.report.vae = stats;
        self.report.vae_recon_mse_last = recon;
        self.report.scaling_factor = vae.scaling_factor;
        // 2. text encoder + UNet without motion modules, single frames of all clips
        let latents = LatentSet::encode(&vae, &self.data, &self.tokenizer, &dev, args.workers)?;
        B::seed(&dev, args.seed + 1);
        let unet_full = p.unet().init::<B>(&dev);
        // one set of initial values for the clone `without_motion` takes and the snapshot
        super::checkpoint::materialize(&unet_full);
        let (text_cfg, text_encoder, text_frozen) = match &args.text_encoder_init {
            Some(from) => {
                let (cfg, te) = pretrained_text_encoder(from, &dev)?;
                let cross = p.unet().cross_attention_dim;
                if cfg.hidden_size != cross {
                    return Err(ModelError::InvalidInput(format!(
                        "--text-encoder-init {from}: text width {} but the UNet cross-attends \
                         to width {cross}",
                        cfg.hidden_size
                    )));
                }
                (cfg, te.no_grad(), true)
            }
            None => (p.text(), p.text().init(&dev), false),
        };
        let model = TextToVideo::<B> {
            text_encoder,
            unet: unet_full.without_motion(),
        };
        let before = snapshot(&model.text_encoder, &unet_full);
        let dd = DiffusionData {
            latents: &latents,
            pool: (0..latents.dims[0]).collect(),
            frames: FramePick::Keyframe(usize::MAX),
            batch: args.unet_batch,
            caption_dropout: args.caption_dropout,
            scheduler: &self.scheduler,
            v_loss_cap: args.v_loss_cap,
        };
        let opts = self.diffusion_opts(
            args.unet_steps,
            args.lr,
            args.seed + 1,
            args.unet_max_seconds,
        );
        let sched = &self.scheduler;
        let progress = &mut *self.progress;
        let (model, stats) = optimize(
            "unet",
            model,
            &opts,
            &self.ckpt,
            &|_, rng| dd.prepare(rng),
            &|m: &TextToVideo<B>, b: DiffusionBatch| batch_loss(&m.text_encoder, &m.unet, sched, b),
            &mut |s| progress("unet", s),
        )?;
        self.report.unet = stats;
        // 3. save: base + the untrained motion modules
        let model: TextToVideo<B::InnerBackend> = model.valid();
        let model = TextToVideo {
            unet: model.unet.with_motion_of(&unet_full.valid()),
            text_encoder: model.text_encoder,
        };
        check_trained_only(
            "a",
            &before,
            &snapshot(&model.text_encoder, &model.unet),
            &|k| !k.contains(".motion_modules.") && (!text_frozen || !k.starts_with("text.")),
        )?;
        let used: BTreeSet<usize> = latents
            .ids
            .iter()
            .chain(&latents.dropped)
            .flat_map(|r| r.iter().map(|&i| i as usize))
            .collect();
        let mut vae_cfg = p.vae();
        vae_cfg.scaling_factor = vae.scaling_factor;
        self.report.bytes += super::save_default_folder(
            &args.out,
            p,
            &text_cfg,
            &model,
            &vae,
            &vae_cfg,
            &used,
            args.half,
            args.gzip_text_encoder,
        )?;
        Ok(())
    }

    /// Latents of the rendered clips under the folder's VAE.
    fn latents(&self, pl: &MagicTimePipeline<B>) -> Result<LatentSet> {
        LatentSet::encode(
            &pl.vae.valid(),
            &self.data,
            &self.tokenizer,
            &self.device,
            self.args.workers,
        )
    }

    /// Stage b: the motion modules on general clips (dynamic frames extraction: windows), with
    /// the text encoder and the spatial UNet frozen; writes `motion_module.safetensors`.
    fn stage_b(&mut self) -> Result<()> {
        let args = self.args;
        let pl = load_folder(&args.out, &[], &self.device)?;
        let latents = self.latents(&pl)?;
        let model = TextToVideo {
            text_encoder: pl.text_encoder.no_grad(),
            unet: pl.unet.no_grad().map_motion(&mut Unfreeze),
        };
        let before = snapshot(&model.text_encoder, &model.unet);
        let seed = args.seed + 2;
        let dd = DiffusionData {
            latents: &latents,
            pool: self.data.of_kind(false),
            frames: FramePick::Dynamic(frame_sampler(args.preset.frames(), seed)?),
            batch: args.unet_batch,
            caption_dropout: args.caption_dropout,
            scheduler: &self.scheduler,
            v_loss_cap: args.v_loss_cap,
        };
        let opts = self.diffusion_opts(args.motion_steps, args.lr, seed, args.stage_max_seconds);
        let sched = &self.scheduler;
        let progress = &mut *self.progress;
        let (model, stats) = optimize(
            "motion",
            model,
            &opts,
            &self.ckpt,
            &|_, rng| dd.prepare(rng),
            &|m: &TextToVideo<B>, b: DiffusionBatch| batch_loss(&m.text_encoder, &m.unet, sched, b),
            &mut |s| progress("motion", s),
        )?;
        self.report.motion = Some(stats);
        check_trained_only(
            "b",
            &before,
            &snapshot(&model.text_encoder, &model.unet),
            &|k| k.contains(".motion_modules."),
        )?;
        self.report.bytes += super::save_motion_module(&args.out, &model.valid().unet, args.half)?;
        Ok(())
    }

    /// Stage c: Magic Adapter S on keyframe–text pairs of metamorphic clips, the UNet without
    /// its motion modules (`is_image`), everything else frozen; writes
    /// `magic_adapter_s/magic_adapter_s.safetensors` (LoRA-processor keys).
    fn stage_c(&mut self) -> Result<()> {
        let args = self.args;
        let pl = load_folder(&args.out, &[], &self.device)?;
        let latents = self.latents(&pl)?;
        let text_encoder = pl.text_encoder.no_grad();
        let unet = pl.unet.without_motion().no_grad();
        let seed = args.seed + 3;
        B::seed(&self.device, seed);
        let lora = LoraSet::attach(
            &unet,
            &unet_key,
            &crate::unet::magic_adapter_s::is_target,
            &LoraConfig::new(args.rank_s, args.rank_s as f64),
            &self.device,
        );
        let module = MagicAdapters {
            s: Some(lora),
            t: None,
            te: None,
        };
        let dd = DiffusionData {
            latents: &latents,
            pool: self.data.of_kind(true),
            frames: FramePick::Keyframe(8),
            batch: args.unet_batch,
            caption_dropout: args.caption_dropout,
            scheduler: &self.scheduler,
            v_loss_cap: args.v_loss_cap,
        };
        let opts = self.diffusion_opts(
            args.adapter_s_steps,
            args.adapter_lr,
            seed,
            args.stage_max_seconds,
        );
        let sched = &self.scheduler;
        let progress = &mut *self.progress;
        let (module, stats) = optimize(
            "adapter_s",
            module,
            &opts,
            &self.ckpt,
            &|_, rng| dd.prepare(rng),
            &|m: &MagicAdapters<B>, b: DiffusionBatch| {
                let s = m.s.as_ref().expect("adapter S");
                batch_loss(&text_encoder, &s.apply(unet.clone(), &unet_key), sched, b)
            },
            &mut |s| progress("adapter_s", s),
        )?;
        self.report.adapter_s = Some(stats);
        let s = module.valid().s.expect("adapter S");
        let (text_encoder, unet) = (text_encoder.valid(), unet.valid());
        check_trained_only(
            "c",
            &snapshot(&text_encoder, &unet),
            &snapshot(&text_encoder, &s.apply(unet.clone(), &unet_key)),
            &|k| {
                k.strip_prefix("unet.")
                    .is_some_and(crate::unet::magic_adapter_s::is_target)
            },
        )?;
        let tensors = crate::unet::magic_adapter_s::processor_tensors(&s)?;
        self.report.bytes += save::write_file_len(
            &args.out.join("magic_adapter_s/magic_adapter_s.safetensors"),
            &save::to_safetensors(&tensors, false)?,
        )?;
        Ok(())
    }

    /// Stage d: Magic Adapter T (motion modules) + Magic Text-Encoder on metamorphic videos
    /// (dynamic frames extraction), over the frozen base with Magic Adapter S merged; writes
    /// `magic_adapter_t/` and `magic_text_encoder/` (SWIFT layout).
    fn stage_d(&mut self) -> Result<()> {
        let args = self.args;
        let pl = load_folder(&args.out, &[Adapter::S], &self.device)?;
        let latents = self.latents(&pl)?;
        let text_encoder = pl.text_encoder.no_grad();
        let unet = pl.unet.no_grad();
        let seed = args.seed + 4;
        B::seed(&self.device, seed);
        let text_key = crate::loader::clip::text_key;
        let module = MagicAdapters {
            s: None,
            t: Some(LoraSet::attach(
                &unet,
                &unet_key,
                &crate::motion::magic_adapter_t::is_target,
                &LoraConfig::new(args.rank_t, args.rank_t as f64),
                &self.device,
            )),
            te: Some(LoraSet::attach(
                &text_encoder,
                &text_key,
                &crate::loader::clip::is_text_adapter_target,
                &LoraConfig::new(args.rank_te, args.rank_te as f64),
                &self.device,
            )),
        };
        let dd = DiffusionData {
            latents: &latents,
            pool: self.data.of_kind(true),
            frames: FramePick::Dynamic(frame_sampler(args.preset.frames(), seed)?),
            batch: args.unet_batch,
            caption_dropout: args.caption_dropout,
            scheduler: &self.scheduler,
            v_loss_cap: args.v_loss_cap,
        };
        let opts = self.diffusion_opts(
            args.adapter_t_steps,
            args.adapter_lr,
            seed,
            args.stage_max_seconds,
        );
        let sched = &self.scheduler;
        let progress = &mut *self.progress;
        let (module, stats) = optimize(
            "adapter_t",
            module,
            &opts,
            &self.ckpt,
            &|_, rng| dd.prepare(rng),
            &|m: &MagicAdapters<B>, b: DiffusionBatch| {
                let t = m.t.as_ref().expect("adapter T");
                let te = m.te.as_ref().expect("text-encoder adapter");
                batch_loss(
                    &te.apply(text_encoder.clone(), &text_key),
                    &t.apply(unet.clone(), &unet_key),
                    sched,
                    b,
                )
            },
            &mut |s| progress("adapter_t", s),
        )?;
        self.report.adapter_t = Some(stats);
        let module = module.valid();
        let (t, te) = (
            module.t.expect("adapter T"),
            module.te.expect("text-encoder adapter"),
        );
        let (text_encoder, unet) = (text_encoder.valid(), unet.valid());
        check_trained_only(
            "d",
            &snapshot(&text_encoder, &unet),
            &snapshot(
                &te.apply(text_encoder.clone(), &text_key),
                &t.apply(unet.clone(), &unet_key),
            ),
            &|k| {
                k.strip_prefix("unet.")
                    .is_some_and(crate::motion::magic_adapter_t::is_target)
                    || k.strip_prefix("text.")
                        .is_some_and(crate::loader::clip::is_text_adapter_target)
            },
        )?;
        self.report.bytes +=
            crate::motion::magic_adapter_t::save(&t, &args.out.join("magic_adapter_t"))?;
        self.report.bytes += crate::loader::clip::save_text_encoder_adapter(
            &te,
            &args.out.join("magic_text_encoder"),
        )?;
        Ok(())
    }
}

/// [`run_train_default_with`] on the backend a [`crate::backend::BackendKind`] names
/// ([`crate::backend::BackendKind::run`]):
/// what the CLI and the server's training jobs run.
pub struct TrainDefault<'a> {
    pub args: &'a TrainDefaultArgs,
    pub progress: &'a mut dyn FnMut(&'static str, StepInfo),
}

impl OnBackend for TrainDefault<'_> {
    type Output = Result<TrainReport>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        run_train_default_with::<B>(self.args, device, self.progress)
    }
}

/// Runs the selected stages on the autodiff backend `B` and its `device` (the CLI: the CPU; a
/// worker: its `--device`) and writes the weights folder, logging a `tracing` line every 25 steps
/// and reporting every optimizer step with its loop (`"vae"`, `"unet"`, `"motion"`, `"adapter_s"`,
/// `"adapter_t"`), e.g. to a web job's progress.
pub fn run_train_default_with<B: AutodiffBackend>(
    args: &TrainDefaultArgs,
    device: B::Device,
    progress: &mut dyn FnMut(&'static str, StepInfo),
) -> Result<TrainReport> {
    tracing::info!(backend = B::name(&device), "training on {device:?}");
    let start = Instant::now();
    let mut logged = |stage: &'static str, s: StepInfo| {
        if s.step == 1 || s.step.is_multiple_of(25) || s.step == s.total {
            tracing::info!(
                "[{stage}] step {}/{} loss {:.5} extra {:.4} {:.0}s",
                s.step,
                s.total,
                s.loss,
                s.extra,
                s.seconds
            );
        }
        progress(stage, s)
    };
    let mut run = Run::<B>::new(args, device, &mut logged)?;
    for stage in args.stage.stages() {
        run.stage(stage)?;
    }
    let mut report = run.report;
    report.total_seconds = start.elapsed().as_secs_f64();
    write_log(&args.out.join("train_log.json"), &report)?;
    Ok(report)
}

/// Writes `report` into `path`, keeping the entries of stages this run did not train.
fn write_log(path: &Path, report: &TrainReport) -> Result<()> {
    let new = serde_json::to_value(report).map_err(|e| ModelError::InvalidInput(e.to_string()))?;
    let mut log = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|v| v.is_object())
        .unwrap_or_else(|| serde_json::json!({}));
    let stage_keys: &[(Stage, &[&str])] = &[
        (
            Stage::A,
            &["vae", "vae_recon_mse_last", "scaling_factor", "unet"],
        ),
        (Stage::B, &["motion"]),
        (Stage::C, &["adapter_s"]),
        (Stage::D, &["adapter_t"]),
    ];
    for (k, v) in new.as_object().expect("object") {
        let owner = stage_keys
            .iter()
            .find(|(_, keys)| keys.contains(&k.as_str()));
        if owner.is_none_or(|(s, _)| report.stages.contains(s)) {
            log[k.as_str()] = v.clone();
        }
    }
    save::write_file(
        path,
        serde_json::to_string_pretty(&log)
            .map_err(|e| ModelError::InvalidInput(e.to_string()))?
            .as_bytes(),
    )
}

mod text_encoder;
pub use text_encoder::pretrained_text_encoder;

#[cfg(test)]
mod tests;
