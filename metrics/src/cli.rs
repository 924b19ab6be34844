//! Command-line entry points for `magictime eval` and `magictime bench-metrics` (the binary in
//! `server/` wires these; all logic is here).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::clip_embedder::ClipEmbedder;
use crate::clipsim::VideoTextEmbedder;
use crate::eval::{evaluate, EvalOptions, Metric};
use crate::i3d::preprocess::FrameSampling;
use crate::kid::KidOptions;

pub use crate::bench::{run_bench, BenchArgs};

/// `magictime eval --real DIR|manifest --fake DIR|manifest --metrics fvd,fid,kid,clipsim,mt --n 2048 --out report.json`
#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// Real videos: a folder (uses its manifest.jsonl when present) or a .jsonl / .csv manifest.
    #[arg(long)]
    pub real: PathBuf,
    /// Generated videos: a folder or a manifest (prompts needed for clipsim / mt).
    #[arg(long)]
    pub fake: PathBuf,
    /// Metrics to compute (fvd also reports kvd).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "fvd")]
    pub metrics: Vec<Metric>,
    /// Videos per set (the first N of each listing).
    #[arg(long, default_value_t = 2048)]
    pub n: usize,
    /// Report JSON; the Markdown summary and SVG plots go next to it.
    #[arg(long, default_value = "report.json")]
    pub out: PathBuf,
    /// Converted I3D weights (`make i3d-weights`).
    #[arg(long, default_value = crate::i3d::loader::DEFAULT_WEIGHTS)]
    pub i3d_weights: PathBuf,
    /// pytorch-fid's pt_inception-2015-12-05-6726825d.pth.
    #[arg(long, default_value = crate::fid::loader::DEFAULT_WEIGHTS)]
    pub fid_weights: PathBuf,
    /// How 16 frames are taken from longer clips.
    #[arg(long, value_enum, default_value = "uniform")]
    pub sampling: FrameSampling,
    /// Videos per I3D forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Frames per video for FID / KID.
    #[arg(long, default_value_t = 16)]
    pub fid_frames: usize,
    /// KID subsets.
    #[arg(long, default_value_t = 100)]
    pub kid_subsets: usize,
    /// KID subset size (at most).
    #[arg(long, default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Seed of the KID subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CLIP for clipsim / mt / probe: `in-domain` (the embedded CLIP trained on
    /// ChronoMagic-Synth; see `magictime probe` for its validity table), a transformers CLIP
    /// folder (e.g. openai/clip-vit-large-patch14), or `tiny-random` (smoke runs only).
    #[arg(long, default_value = magictime_model::clip::in_domain::SETTING)]
    pub clip: PathBuf,
}

impl EvalArgs {
    /// The library options these flags describe.
    pub fn options(&self) -> EvalOptions {
        EvalOptions {
            metrics: self.metrics.clone(),
            n: self.n,
            i3d_weights: self.i3d_weights.clone(),
            fid_weights: self.fid_weights.clone(),
            sampling: self.sampling,
            batch: self.batch,
            fid_frames: self.fid_frames,
            kid: KidOptions {
                num_subsets: self.kid_subsets,
                max_subset_size: self.kid_subset_size,
                seed: self.seed,
            },
        }
    }
}

/// Runs an evaluation with progress bars, writes the JSON report and the summary, prints where.
pub fn run_eval(args: &EvalArgs) -> anyhow::Result<()> {
    let wants_clip = args
        .metrics
        .iter()
        .any(|m| matches!(m, Metric::Clipsim | Metric::Mt | Metric::Probe));
    let embedder = if wants_clip {
        Some(ClipEmbedder::from_setting(&args.clip)?)
    } else {
        None
    };
    run_eval_with(args, embedder.as_ref().map(|e| e as &dyn VideoTextEmbedder))
}

/// [`run_eval`] with a CLIP embedder for clipsim / mt.
pub fn run_eval_with(
    args: &EvalArgs,
    embedder: Option<&dyn VideoTextEmbedder>,
) -> anyhow::Result<()> {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed}")
        .expect("template")
        .progress_chars("=> ");
    let bars: std::sync::Mutex<Vec<(String, ProgressBar)>> = Default::default();
    let progress = |stage: &str, done: usize, total: usize| {
        let mut bars = bars.lock().expect("progress lock");
        let bar = match bars.iter().find(|(s, _)| s == stage) {
            Some((_, b)) => b.clone(),
            None => {
                let b = multi.add(ProgressBar::new(total as u64));
                b.set_style(style.clone());
                b.set_prefix(stage.to_string());
                bars.push((stage.to_string(), b.clone()));
                b
            }
        };
        bar.set_position(done as u64);
        if done == total {
            bar.finish();
        }
    };
    let report = evaluate(&args.real, &args.fake, &args.options(), embedder, &progress)?;
    let json = serde_json::to_string_pretty(&report.to_json())?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::report::write_atomic(&args.out, json.as_bytes())?;
    let files = crate::report::write_summary(&report, &args.out)?;
    println!("wrote {}", args.out.display());
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// `magictime probe`: what a CLIP recognises in videos with ChronoMagic-Synth prompts, zero-shot
/// — scene (20), object colour (10), background colour (8), metamorphic vs general, caption ↔
/// video R@1 over 100 videos, CLIPSIM and amplitudes per prompt kind (see `probe.rs`).
///
/// Without `--videos` it renders held-out ChronoMagic-Synth clips (`--synth-seed`, a seed no
/// trainer used) and probes them with their own captions: the validity table of the CLIP.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Videos with prompts: a folder with manifest.jsonl, or a .jsonl / .csv manifest.
    #[arg(long)]
    pub videos: Option<PathBuf>,
    /// Seed of the rendered held-out clips (without --videos).
    #[arg(long, default_value_t = 7)]
    pub synth_seed: u64,
    /// Rendered clips (without --videos).
    #[arg(long, default_value_t = 200)]
    pub synth_clips: usize,
    /// Side of the rendered clips in pixels.
    #[arg(long, default_value_t = 32)]
    pub synth_size: u32,
    /// Frames of the rendered clips.
    #[arg(long, default_value_t = 8)]
    pub synth_frames: usize,
    /// Give every rendered clip the next clip's caption (the chance baseline).
    #[arg(long)]
    pub shuffle_prompts: bool,
    /// At most this many videos of --videos.
    #[arg(long)]
    pub n: Option<usize>,
    /// CLIP: `in-domain` (embedded, trained on ChronoMagic-Synth), a transformers CLIP folder,
    /// or `tiny-random`.
    #[arg(long, default_value = magictime_model::clip::in_domain::SETTING)]
    pub clip: PathBuf,
    /// Report JSON (the Markdown table goes next to it as .md).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Measure a text-to-video model instead of the CLIP: generate one video per caption of the
    /// held-out clips (--synth-seed/--synth-clips, at --synth-size/--synth-frames) and probe the
    /// generated and the real clips side by side, with FVD between them when --i3d-weights exist.
    #[arg(long)]
    pub generate: bool,
    /// The model to generate with (a MagicTime weights folder); the built-in model by default.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// DDIM steps of the generation.
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// Guidance scale of the generation (default: the built-in model's).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// Folder for the real and generated videos (real/, generated/; default: a temporary one).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// I3D weights for the FVD of --generate (`make i3d-weights`).
    #[arg(long, default_value = crate::i3d::loader::DEFAULT_WEIGHTS)]
    pub i3d_weights: PathBuf,
}

/// Probes the videos of a folder or manifest (all need prompts).
fn probe_folder(
    e: &ClipEmbedder,
    path: &std::path::Path,
    n: Option<usize>,
    progress: &dyn Fn(usize, usize),
) -> anyhow::Result<crate::probe::ProbeReport> {
    let mut items = crate::eval::list_videos(path)?;
    items.truncate(n.unwrap_or(usize::MAX));
    let mut prober = crate::probe::Prober::new(e)?;
    for (i, item) in items.iter().enumerate() {
        let prompt = item.prompt.as_deref().with_context(|| {
            format!(
                "{}: no prompt (use a manifest with captions)",
                item.path.display()
            )
        })?;
        let clip = crate::eval::decode(&item.path)?;
        let frames: Vec<&[u8]> = (0..clip.n).map(|t| clip.frame(t)).collect();
        prober.add(&frames, clip.h, clip.w, prompt)?;
        progress(i + 1, items.len());
    }
    Ok(prober.finish()?)
}

/// `probe --generate`: generate from held-out captions, probe generated and real side by side.
fn run_probe_generate(
    args: &ProbeArgs,
    e: &ClipEmbedder,
) -> anyhow::Result<crate::probe::ProbeReport> {
    use magictime_model::backend::Cpu;
    use magictime_model::pipeline::MagicTimePipeline;
    let device = Default::default();
    let pipeline: MagicTimePipeline<Cpu> = match &args.model {
        Some(dir) => MagicTimePipeline::from_dir(dir, None, &device)
            .with_context(|| format!("loading {}", dir.display()))?,
        None => magictime_model::default_model::load_default(&device)
            .context("loading the built-in default model")?,
    };
    let tmp = tempfile::tempdir()?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let o = crate::probe::GenerateProbe {
        seed: args.synth_seed,
        clips: args.synth_clips,
        size: args.synth_size as usize,
        frames: args.synth_frames,
        steps: args.steps,
        guidance: args
            .guidance
            .unwrap_or(magictime_model::default_model::GUIDANCE),
    };
    let bar = ProgressBar::new(o.clips as u64);
    let (real, fake) = crate::probe::generate_probe_sets(&pipeline, &o, &work, &|d, _| {
        bar.set_position(d as u64)
    })?;
    bar.finish_and_clear();
    let real_r = probe_folder(e, &real, None, &|_, _| {})?;
    let fake_r = probe_folder(e, &fake, None, &|_, _| {})?;
    let fvd = if args.i3d_weights.is_file() {
        let opts = EvalOptions {
            metrics: vec![Metric::Fvd],
            n: o.clips,
            i3d_weights: args.i3d_weights.clone(),
            fid_weights: PathBuf::new(),
            sampling: FrameSampling::Uniform,
            batch: 4,
            fid_frames: 16,
            kid: KidOptions::default(),
        };
        evaluate(&real, &fake, &opts, None, &|_, _, _| {})?
            .fvd
            .map(|f| f.value)
    } else {
        None
    };
    let model = args
        .model
        .as_ref()
        .map_or("the built-in model".to_string(), |m| {
            m.display().to_string()
        });
    println!(
        "Generated ({model}, DDIM {} steps, guidance {}) from {} held-out captions (seed {}), {}², {} frames\n",
        o.steps, o.guidance, o.clips, o.seed, o.size, o.frames
    );
    println!("{}", crate::probe::side_by_side(&real_r, &fake_r, fvd));
    if let Some(out) = &args.out {
        let json =
            serde_json::json!({ "real": real_r, "generated": fake_r, "fvd": fvd, "model": model });
        crate::report::write_atomic(out, serde_json::to_string_pretty(&json)?.as_bytes())?;
        println!("wrote {}", out.display());
    }
    Ok(fake_r)
}

/// Runs the probe, prints its table and writes the report when asked.
pub fn run_probe(args: &ProbeArgs) -> anyhow::Result<crate::probe::ProbeReport> {
    let e = ClipEmbedder::from_setting(&args.clip)?;
    let bar = ProgressBar::new(0);
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    if args.generate {
        return run_probe_generate(args, &e);
    }
    let report = match &args.videos {
        None => crate::probe::probe_synth(
            &e,
            args.synth_seed,
            args.synth_clips,
            args.synth_size,
            args.synth_frames,
            args.shuffle_prompts,
            &progress,
        )?,
        Some(path) => probe_folder(&e, path, args.n, &progress)?,
    };
    bar.finish_and_clear();
    let md = report.markdown();
    println!("{md}");
    if let Some(out) = &args.out {
        crate::report::write_atomic(out, serde_json::to_string_pretty(&report)?.as_bytes())?;
        let md_path = out.with_extension("md");
        crate::report::write_atomic(&md_path, md.as_bytes())?;
        println!("wrote {} and {}", out.display(), md_path.display());
    }
    Ok(report)
}
