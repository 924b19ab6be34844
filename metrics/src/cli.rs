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
    /// CLIP for clipsim / mt: a transformers CLIP folder, or `tiny-random` (smoke runs only).
    #[arg(long)]
    pub clip: Option<PathBuf>,
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
        .any(|m| matches!(m, Metric::Clipsim | Metric::Mt));
    let embedder = match &args.clip {
        Some(p) => Some(ClipEmbedder::from_setting(p)?),
        None if wants_clip => anyhow::bail!(
            "clipsim/mt need a CLIP model: pass --clip <transformers CLIP folder> \
             (e.g. openai/clip-vit-large-patch14) or --clip tiny-random for a smoke run"
        ),
        None => None,
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
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    let files = crate::report::write_summary(&report, &args.out)?;
    println!("wrote {}", args.out.display());
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
