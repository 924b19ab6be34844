//! `magictime generate …` and `magictime model …` (clap types + `run`), over the model crate.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};

use magictime_model::backend::{BackendKind, CpuAutodiff, OnBackend};
use magictime_model::context::{ContextOptions, Fuse};
use magictime_model::default_model;
use magictime_model::loader::magictime::{ModelPaths, MotionOverrides};
use magictime_model::pipeline::{
    Adapter, GenerateOptions, GenerationDefaults, MagicTimePipeline, Progress, DEFAULT_NEGATIVE,
};
use magictime_model::sample_config::{Sample, SampleConfig};
use magictime_model::train::{StepInfo, TrainDefault, TrainDefaultArgs};

/// `magictime generate`: text → video (MP4, GIF, WebP or a frame-grid PNG).
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// The prompt (with --config: instead of the config's prompts).
    #[arg(long, required_unless_present = "config")]
    pub prompt: Option<String>,
    /// The negative prompt. Default: the config's `n_prompt`, else MagicTime's.
    #[arg(long)]
    pub negative: Option<String>,
    /// Seed of the initial noise. Default: the config's seeds, else 42.
    #[arg(long)]
    pub seed: Option<u64>,
    /// DDIM steps. Default: the model's own (its `generation_config.json`; MagicTime: 25).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale. Default: the model's own (built-in: 4; MagicTime: 8.5).
    #[arg(long)]
    pub cfg: Option<f64>,
    /// Frames. Default: the model's own (built-in: as trained; MagicTime: 16). More than the
    /// motion modules take at once (32) run in overlapping context windows (--context-*).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Width and height in pixels. Default: the model's own (the built-in model's training size;
    /// MagicTime: 512).
    #[arg(long)]
    pub size: Option<usize>,
    /// Frames per second of the MP4, GIF and WebP.
    #[arg(long, default_value_t = 8)]
    pub fps: u32,
    /// Weights folder (diffusers SD1.5 layout + motion module + MagicTime adapters, flat or as
    /// the release's `ckpts/` tree, see `ModelPaths::find`). Without it (and without --config)
    /// the built-in default model runs (trained on ChronoMagic-Synth; see `default_model`), or a
    /// tiny random model when the binary was built without the `default-model` feature.
    #[arg(long, conflicts_with = "config")]
    pub model: Option<PathBuf>,
    /// An upstream sample config (`sample_configs/RealisticVision.yaml`, …): its weights,
    /// prompts, seeds, size, frames, steps and guidance (each overridden by its flag here).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The folder the config's `./ckpts/…` paths mean (the official `ckpts/` tree, as is).
    #[arg(long, requires = "config")]
    pub ckpts: Option<PathBuf>,
    /// A DreamBooth model (original-LDM single file) over the base model: its UNet, VAE and
    /// text encoder, as the sample configs' `dreambooth_path`.
    #[arg(long)]
    pub dreambooth: Option<PathBuf>,
    /// Adapters to apply: any of s,t,te (default: all present in --model or named by --config).
    #[arg(long, value_delimiter = ',')]
    pub adapters: Option<Vec<Adapter>>,
    /// Context window length for videos longer than it. Default: the model's own frame count
    /// (MagicTime: 16), used only beyond what the motion modules take at once.
    #[arg(long)]
    pub context_length: Option<usize>,
    /// Frames shared by neighbouring windows. Default: a quarter of the length.
    #[arg(long)]
    pub context_overlap: Option<usize>,
    /// How overlapping windows are fused.
    #[arg(long, value_enum, default_value_t = Fuse::Pyramid)]
    pub context_fuse: Fuse,
    /// FreeNoise: later windows start from the first window's noise, shuffled.
    #[arg(long)]
    pub freenoise: bool,
    /// Leave out the strided windows (every k-th frame, spanning the whole video) and fuse the
    /// contiguous windows only.
    #[arg(long)]
    pub no_strided_windows: bool,
    /// Output file; its extension picks the format: .mp4 (the default: a name without extension
    /// gets .mp4), .gif, .webp, or .png (every frame in one grid image). Repeat for several.
    /// With several prompts (--config) each file gets `-<n>` before its extension.
    #[arg(long, required = true)]
    pub out: Vec<PathBuf>,
    /// Where to run: `cpu`, or `cuda` / `cuda:N` in a binary built with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
}

/// `magictime model …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelCommand {
    /// Print what a checkpoint (file or folder) holds and how it maps onto the Burn modules.
    Inspect {
        /// A weights file or a folder of them.
        path: PathBuf,
    },
    /// Train the built-in default model on ChronoMagic-Synth and write its weights folder.
    TrainDefault {
        #[command(flatten)]
        args: Box<TrainDefaultArgs>,
        /// Where to train: `cpu`, or `cuda` / `cuda:N` in a binary built with `--features cuda`.
        #[arg(long, default_value = "cpu")]
        device: BackendKind,
    },
    /// Train the in-domain CLIP (evaluator of CLIPSIM, the metamorphic score and the synth probe)
    /// on ChronoMagic-Synth (CPU) and write it as a transformers CLIP folder.
    TrainClip(magictime_model::train::clip::TrainClipArgs),
}

/// Runs a `magictime model` subcommand.
pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Inspect { path } => inspect(&path),
        ModelCommand::TrainDefault { args, device } => train_default(&args, device),
        ModelCommand::TrainClip(args) => {
            let bar = ProgressBar::new(args.steps as u64);
            magictime_model::train::clip::run_train_clip::<CpuAutodiff>(
                &args,
                Default::default(),
                &mut |s| bar.set_position(s.step as u64),
            )?;
            bar.finish_and_clear();
            Ok(())
        }
    }
}

/// `magictime model train-default`: the selected stages on `--device`, a progress bar per
/// training loop (and the trainer's `tracing` line every 25 steps).
fn train_default(args: &TrainDefaultArgs, device: BackendKind) -> anyhow::Result<()> {
    let mut bar: Option<(&'static str, ProgressBar)> = None;
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {pos}/{len} {msg} {elapsed_precise} eta {eta}",
    )
    .expect("template")
    .progress_chars("=> ");
    let mut progress = |stage: &'static str, s: StepInfo| {
        if bar.as_ref().is_none_or(|(n, _)| *n != stage) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            let b = ProgressBar::new(s.total as u64).with_style(style.clone());
            b.set_prefix(stage);
            bar = Some((stage, b));
        }
        if let Some((_, b)) = &bar {
            b.set_position(s.step as u64);
            b.set_message(format!("loss {:.4}", s.loss));
        }
    };
    device.run(TrainDefault {
        args,
        progress: &mut progress,
    })??;
    if let Some((_, b)) = bar {
        b.finish();
    }
    Ok(())
}

fn inspect(path: &Path) -> anyhow::Result<()> {
    let reports = magictime_model::loader::inspect::inspect(path)?;
    for r in &reports {
        println!(
            "{}: {:?} ({}), {} tensors, {} parameters, loader: {}",
            r.path.display(),
            r.kind,
            r.format,
            r.tensors.len(),
            r.parameters(),
            r.kind.loader()
        );
        for (dtype, n) in r.dtypes() {
            println!("  dtype {dtype}: {n} tensors");
        }
        for (group, tensors, params) in r.groups(2) {
            println!("  {group:<40} {tensors:>6} tensors {params:>12} params");
        }
        if let Some(m) = magictime_model::unet::checkpoint::mapping_summary(r) {
            println!("{m}");
        }
    }
    Ok(())
}

/// The options of a `magictime generate` run: what the arguments give, the rest from the
/// model's own generation config (`MagicTimePipeline::defaults`).
pub fn generate_options(args: &GenerateArgs, d: &GenerationDefaults) -> GenerateOptions {
    let size = args.size;
    GenerateOptions {
        prompt: args.prompt.clone().unwrap_or_default(),
        negative: args
            .negative
            .clone()
            .unwrap_or_else(|| DEFAULT_NEGATIVE.into()),
        seed: args.seed.unwrap_or(42),
        steps: args.steps.unwrap_or(d.num_inference_steps),
        guidance_scale: args.cfg.unwrap_or(d.guidance_scale),
        frames: args.frames.unwrap_or(d.num_frames),
        height: size.unwrap_or(d.height),
        width: size.unwrap_or(d.width),
    }
}

/// The context windows the arguments ask for: explicit when any --context-* / --freenoise flag
/// is given, else the pipeline's default for `frames` (none while the motion modules take them).
pub fn context_options<B: Backend>(
    args: &GenerateArgs,
    pipeline: &MagicTimePipeline<B>,
    frames: usize,
) -> Option<ContextOptions> {
    let explicit = args.context_length.is_some()
        || args.context_overlap.is_some()
        || args.freenoise
        || args.no_strided_windows
        || args.context_fuse != Fuse::Pyramid;
    if !explicit {
        return pipeline.auto_context(frames);
    }
    let max_len = pipeline.limits().max_frames;
    let length = args
        .context_length
        .unwrap_or_else(|| pipeline.defaults.num_frames.clamp(2, max_len));
    let mut c = ContextOptions::new(length);
    if let Some(o) = args.context_overlap {
        c.overlap = o;
    }
    c.fuse = args.context_fuse;
    c.freenoise = args.freenoise;
    c.strided = !args.no_strided_windows;
    Some(c)
}

/// The pipeline and the samples (prompt, negative, seed) of a `generate` run.
fn pipeline_and_samples<B: Backend>(
    args: &GenerateArgs,
    device: &B::Device,
) -> anyhow::Result<(MagicTimePipeline<B>, Vec<Sample>, bool)> {
    let one = |negative: &str, seed: u64| Sample {
        prompt: args.prompt.clone().unwrap_or_default(),
        negative: args.negative.clone().unwrap_or_else(|| negative.into()),
        seed: args.seed.unwrap_or(seed),
    };
    if let Some(path) = &args.config {
        let cfg = SampleConfig::read(path, args.ckpts.as_deref())?;
        let mut paths = cfg.paths.clone();
        if let Some(db) = &args.dreambooth {
            paths.dreambooth = Some(db.clone());
        }
        if let Some(list) = &args.adapters {
            let keep = |a: Adapter, p: &mut Option<PathBuf>| {
                if !list.contains(&a) {
                    *p = None;
                }
            };
            keep(Adapter::S, &mut paths.adapter_s);
            keep(Adapter::T, &mut paths.adapter_t);
            keep(Adapter::Te, &mut paths.text_encoder_adapter);
        }
        tracing::info!(config = %path.display(), ?paths, "loading the config's weights");
        let mut p = MagicTimePipeline::load(&paths, cfg.motion, cfg.defaults, device)
            .with_context(|| format!("loading the weights of {}", path.display()))?;
        p.scheduler = cfg.scheduler;
        let samples = match &args.prompt {
            Some(_) => vec![one(&cfg.samples[0].negative, cfg.samples[0].seed)],
            None => cfg
                .samples
                .iter()
                .map(|s| Sample {
                    prompt: s.prompt.clone(),
                    negative: args.negative.clone().unwrap_or_else(|| s.negative.clone()),
                    seed: args.seed.unwrap_or(s.seed),
                })
                .collect(),
        };
        return Ok((p, samples, false));
    }
    let builtin = args.model.is_none() && default_model::is_available();
    let pipeline = match &args.model {
        Some(dir) => {
            let mut paths = ModelPaths::find(dir, args.adapters.as_deref())?;
            paths.dreambooth = args.dreambooth.clone();
            let defaults = GenerationDefaults::read(dir)?;
            MagicTimePipeline::load(&paths, MotionOverrides::default(), defaults, device)
                .with_context(|| format!("loading {}", dir.display()))?
        }
        None if args.dreambooth.is_some() => {
            anyhow::bail!("--dreambooth goes over a base model: give --model or --config")
        }
        None if builtin => {
            default_model::load_default(device).context("loading the built-in default model")?
        }
        None => {
            eprintln!("no --model and no built-in default model: using a tiny random model (the video is noise)");
            default_model::tiny_random_pipeline(args.seed.unwrap_or(42), device)?
        }
    };
    Ok((pipeline, vec![one(DEFAULT_NEGATIVE, 42)], builtin))
}

/// `out` for sample `i` of `n`: as given for one sample, `<stem>-<i>.<ext>` for several.
fn numbered(out: &Path, i: usize, n: usize) -> PathBuf {
    let out = crate::export::output_path(out);
    if n == 1 {
        return out;
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}-{i}.{ext}"))
}

/// `magictime generate`: builds the pipeline on `--device`, samples with a progress bar, writes
/// the outputs.
pub fn run_generate(args: GenerateArgs) -> anyhow::Result<()> {
    args.device.run(Generate(args))?
}

/// [`run_generate`] on the backend `--device` names (inference: the autodiff backend's inner one).
struct Generate(GenerateArgs);

impl OnBackend for Generate {
    type Output = anyhow::Result<()>;

    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output {
        generate_on::<B::InnerBackend>(self.0, &device)
    }
}

fn generate_on<B: Backend>(args: GenerateArgs, device: &B::Device) -> anyhow::Result<()> {
    let (pipeline, samples, builtin) = pipeline_and_samples::<B>(&args, device)?;
    let base = generate_options(&args, &pipeline.defaults);
    let d = pipeline.defaults;
    if builtin && (base.height != d.height || base.frames != d.num_frames) {
        eprintln!(
            "the built-in default model was trained at --size {} --frames {}",
            d.height, d.num_frames
        );
    }
    // 1. check everything before any work
    pipeline.check(&base)?;
    let ctx = context_options(&args, &pipeline, base.frames);
    if let Some(c) = ctx.as_ref().filter(|c| base.frames > c.length) {
        c.check(pipeline.limits().max_frames)?;
    }
    for out in &args.out {
        crate::export::Format::of(&crate::export::output_path(out))?;
    }
    for (i, sample) in samples.iter().enumerate() {
        let opts = GenerateOptions {
            prompt: sample.prompt.clone(),
            negative: sample.negative.clone(),
            seed: sample.seed,
            ..base.clone()
        };
        tracing::info!(prompt = %opts.prompt, seed = opts.seed, frames = opts.frames, "generating");
        // 2. sample with a progress bar
        let bar = ProgressBar::new((opts.steps + opts.frames) as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_message("denoise");
        let video = pipeline.generate_with(&opts, ctx.as_ref(), &mut |p| match p {
            Progress::Denoise { .. } => bar.inc(1),
            Progress::Decode { .. } => {
                bar.set_message("decode");
                bar.inc(1)
            }
        })?;
        bar.finish_with_message("done");
        // 3. write every output
        for out in &args.out {
            let path = crate::export::export(&numbered(out, i, samples.len()), &video, args.fps)?;
            eprintln!(
                "wrote {} ({} frames, {}x{}, {} fps)",
                path.display(),
                video.frames,
                video.width,
                video.height,
                args.fps
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }

    /// Settings not given on the command line are the model's own (the built-in model's
    /// `generation_config.json` says CFG 4, not MagicTime's 8.5).
    #[test]
    fn unset_options_come_from_the_models_generation_config() {
        let args = Cli::parse_from(["g", "--prompt", "p", "--out", "x.mp4"]).args;
        let d = default_model::Preset::S32.generation_defaults();
        let o = generate_options(&args, &d);
        assert_eq!(
            (o.guidance_scale, o.steps, o.frames, o.height, o.width),
            (4.0, 25, 8, 32, 32)
        );
        let args = Cli::parse_from([
            "g", "--prompt", "p", "--out", "x", "--cfg", "7", "--size", "64",
        ])
        .args;
        let o = generate_options(&args, &d);
        assert_eq!((o.guidance_scale, o.height, o.frames), (7.0, 64, 8));
        if default_model::is_available() {
            let p =
                default_model::load_default::<magictime_model::backend::Cpu>(&Default::default())
                    .unwrap();
            assert_eq!(p.defaults, default_model::defaults());
            assert_eq!(p.defaults.guidance_scale, default_model::GUIDANCE);
        }
    }
}
