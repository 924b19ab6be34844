//! Command-line entry points of the model crate; the `magictime` binary (server crate) wires
//! them as `magictime generate …` and `magictime model …`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::Cpu;
use crate::clip::text::ClipTextConfig;
use crate::clip::tokenizer::ClipTokenizer;
use crate::pipeline::{
    Adapter, GenerateOptions, GenerationDefaults, MagicTimePipeline, Progress, Video,
    DEFAULT_NEGATIVE,
};
use crate::scheduler::DdimSchedulerConfig;
use crate::unet::UNet3DConfig;
use crate::vae::AutoencoderKlConfig;

/// `magictime generate`: text → MP4.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// The prompt.
    #[arg(long)]
    pub prompt: String,
    /// The negative prompt.
    #[arg(long, default_value = DEFAULT_NEGATIVE)]
    pub negative: String,
    /// Seed of the initial noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// DDIM steps. Default: the model's own (its `generation_config.json`; MagicTime: 25).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale. Default: the model's own (built-in: 4; MagicTime: 8.5).
    #[arg(long)]
    pub cfg: Option<f64>,
    /// Frames (1..=32). Default: the model's own (built-in: as trained; MagicTime: 16).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Width and height in pixels. Default: the model's own (the built-in model's training size;
    /// MagicTime: 512).
    #[arg(long)]
    pub size: Option<usize>,
    /// Frames per second of the MP4.
    #[arg(long, default_value_t = 8)]
    pub fps: u32,
    /// Weights folder (diffusers SD1.5 layout + motion module + MagicTime adapters, see
    /// `MagicTimePipeline::from_dir`). Without it the built-in default model runs (trained on
    /// ChronoMagic-Synth at 32×32, 8 frames; see `default_model`), or a tiny random model when the
    /// binary was built without the `default-model` feature.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Adapters to apply: any of s,t,te (default: all present in --model).
    #[arg(long, value_delimiter = ',')]
    pub adapters: Option<Vec<Adapter>>,
    /// Output video (.mp4).
    #[arg(long)]
    pub out: PathBuf,
}

/// `magictime model …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelCommand {
    /// Print what a checkpoint (file or folder) holds and how it maps onto the Burn modules.
    Inspect {
        /// A weights file or a folder of them.
        path: PathBuf,
    },
    /// Time Burn (CPU) against diffusers/torch (CPU) on the same UNet weights and print ratios.
    Bench(crate::unet::bench::BenchArgs),
    /// Train the built-in default model on ChronoMagic-Synth (CPU) and write its weights folder.
    TrainDefault(crate::train::TrainDefaultArgs),
    /// Train the in-domain CLIP (evaluator of CLIPSIM, the metamorphic score and the synth probe)
    /// on ChronoMagic-Synth (CPU) and write it as a transformers CLIP folder.
    TrainClip(crate::train::clip::TrainClipArgs),
}

/// Runs a `magictime model` subcommand.
pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Inspect { path } => inspect(&path),
        ModelCommand::Bench(args) => crate::unet::bench::run(&args),
        ModelCommand::TrainDefault(args) => crate::train::run_train_default(&args)
            .map(|_| ())
            .map_err(Into::into),
        ModelCommand::TrainClip(args) => crate::train::clip::run_train_clip(&args)
            .map(|_| ())
            .map_err(Into::into),
    }
}

fn inspect(path: &Path) -> anyhow::Result<()> {
    let reports = crate::loader::inspect::inspect(path)?;
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
        if let Some(m) = crate::unet::checkpoint::mapping_summary(r) {
            println!("{m}");
        }
    }
    Ok(())
}

/// Replaces every parameter with seeded values (matrices N(0, 1/fan_in), biases 0, norm scales
/// kept), independent of the backend's global RNG (which concurrent callers would share).
struct Reseed {
    seed: u64,
    count: u64,
    stack: Vec<String>,
}

impl<B: Backend> burn::module::ModuleMapper<B> for Reseed {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<B, D>> {
        let (id, t, mapper) = param.consume();
        let dims: [usize; D] = t.dims();
        self.count += 1;
        let t = if D >= 2 {
            let fan_in = dims[1..].iter().product::<usize>().max(1) as f64;
            crate::pipeline::seeded_noise::<B, D>(self.seed ^ (self.count << 32), dims, &t.device())
                / fan_in.sqrt()
        } else if self
            .stack
            .last()
            .is_some_and(|n| n == "bias" || n == "beta")
        {
            t.zeros_like()
        } else {
            t
        };
        burn::module::Param::from_mapped_value(id, t, mapper)
    }
}

fn reseed<B: Backend, M: burn::module::Module<B>>(m: M, seed: u64) -> M {
    m.map(&mut Reseed {
        seed,
        count: 0,
        stack: vec![],
    })
}

/// A tiny random pipeline (seeded), for end-to-end checks without weights.
pub fn tiny_random_pipeline<B: Backend>(
    seed: u64,
    device: &B::Device,
) -> anyhow::Result<MagicTimePipeline<B>> {
    let tokenizer = ClipTokenizer::new()?;
    let text = ClipTextConfig::tiny()
        .with_vocab_size(tokenizer.vocab_size())
        .with_eos_token_id(tokenizer.eos_token_id as usize);
    let vae = AutoencoderKlConfig::tiny();
    Ok(MagicTimePipeline {
        text_encoder: reseed(text.init(device), seed),
        unet: reseed(UNet3DConfig::tiny().init(device), seed.wrapping_add(1)),
        vae_downscale: vae.downscale(),
        vae: reseed(vae.init(device), seed.wrapping_add(2)),
        tokenizer,
        scheduler: DdimSchedulerConfig::magictime(),
        defaults: crate::pipeline::GenerationDefaults::magictime(),
        device: device.clone(),
    })
}

/// Writes RGB frames as an H.264 MP4.
pub fn write_mp4(path: &Path, video: &Video, fps: u32) -> anyhow::Result<()> {
    let opts = magictime_data::video::EncodeOptions::default();
    let mut w = magictime_data::video::VideoWriter::mp4(
        path,
        (video.width as u32, video.height as u32),
        fps as f64,
        &opts,
    )?;
    for i in 0..video.frames {
        w.push(video.frame(i))?;
    }
    w.finish()?;
    Ok(())
}

/// The options of a `magictime generate` run: what the arguments give, the rest from the
/// model's own generation config (`MagicTimePipeline::defaults`).
pub fn generate_options(args: &GenerateArgs, d: &GenerationDefaults) -> GenerateOptions {
    let size = args.size.unwrap_or(d.height);
    GenerateOptions {
        prompt: args.prompt.clone(),
        negative: args.negative.clone(),
        seed: args.seed,
        steps: args.steps.unwrap_or(d.num_inference_steps),
        guidance_scale: args.cfg.unwrap_or(d.guidance_scale),
        frames: args.frames.unwrap_or(d.num_frames),
        height: size,
        width: size,
    }
}

/// `magictime generate`: builds the pipeline, samples with a progress bar, writes the MP4.
pub fn run_generate(args: GenerateArgs) -> anyhow::Result<()> {
    let device = Default::default();
    let builtin = args.model.is_none() && crate::default_model::is_available();
    let pipeline: MagicTimePipeline<Cpu> = match &args.model {
        Some(dir) => MagicTimePipeline::from_dir(dir, args.adapters.as_deref(), &device)
            .with_context(|| format!("loading {}", dir.display()))?,
        None if builtin => crate::default_model::load_default(&device)
            .context("loading the built-in default model")?,
        None => {
            eprintln!("no --model and no built-in default model: using a tiny random model (the video is noise)");
            tiny_random_pipeline(args.seed, &device)?
        }
    };
    let opts = generate_options(&args, &pipeline.defaults);
    let d = pipeline.defaults;
    if builtin && (opts.height != d.height || opts.frames != d.num_frames) {
        eprintln!(
            "the built-in default model was trained at --size {} --frames {}",
            d.height, d.num_frames
        );
    }
    let frames = opts.frames;
    pipeline.check(&opts)?;
    let bar = ProgressBar::new((opts.steps + frames) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    bar.set_message("denoise");
    let video = pipeline.generate(&opts, &mut |p| match p {
        Progress::Denoise { .. } => bar.inc(1),
        Progress::Decode { .. } => {
            bar.set_message("decode");
            bar.inc(1)
        }
    })?;
    bar.finish_with_message("done");
    write_mp4(&args.out, &video, args.fps)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} frames, {}x{}, {} fps)",
        args.out.display(),
        video.frames,
        video.width,
        video.height,
        args.fps
    );
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
        let d = crate::default_model::Preset::S32.generation_defaults();
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
        if crate::default_model::is_available() {
            let p = crate::default_model::load_default::<Cpu>(&Default::default()).unwrap();
            assert_eq!(p.defaults, crate::default_model::defaults());
            assert_eq!(p.defaults.guidance_scale, crate::default_model::GUIDANCE);
        }
    }
}
