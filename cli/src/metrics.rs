//! `magictime eval` and `magictime probe` (clap types + `run`), over the metrics crate.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use burn::tensor::backend::{AutodiffBackend, Backend};
use magictime_metrics::clip_embedder::ClipEmbedder;
use magictime_metrics::clipsim::VideoTextEmbedder;
use magictime_metrics::eval::{evaluate, EvalOptions, Metric};
use magictime_metrics::features::Cpu;
use magictime_metrics::i3d::preprocess::FrameSampling;
use magictime_metrics::kid::KidOptions;
use magictime_model::backend::{BackendKind, OnBackend};

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
    #[arg(long, default_value = magictime_metrics::i3d::loader::DEFAULT_WEIGHTS)]
    pub i3d_weights: PathBuf,
    /// pytorch-fid's pt_inception-2015-12-05-6726825d.pth.
    #[arg(long, default_value = magictime_metrics::fid::loader::DEFAULT_WEIGHTS)]
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
    /// ChronoMagic-Synth; on 2,400 held-out synth clips, zero-shot: scene 95.4 %, object colour
    /// 95.0 %, background 99.1 %, metamorphic vs general 99.4 %, caption→video R@1 99 %;
    /// `magictime probe --synth-seed 7,8,12,13,30,31 --synth-clips 400` remakes that table), a
    /// transformers CLIP folder (e.g. openai/clip-vit-large-patch14), or `tiny-random` (smoke
    /// runs only).
    #[arg(long, default_value = magictime_model::clip::in_domain::SETTING)]
    pub clip: PathBuf,
    /// Where I3D, Inception and CLIP run: `cpu`, or `cuda` / `cuda:N` in a binary built with
    /// `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
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

/// Runs an evaluation on `--device` with progress bars, writes the JSON report and the summary,
/// prints where.
pub fn run_eval(args: &EvalArgs) -> anyhow::Result<()> {
    args.device.run(Eval(args))?
}

/// [`run_eval`] on the backend `--device` names (the autodiff backend's inner one: no gradients).
struct Eval<'a>(&'a EvalArgs);

impl OnBackend for Eval<'_> {
    type Output = anyhow::Result<()>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let args = self.0;
        let wants_clip = args
            .metrics
            .iter()
            .any(|m| matches!(m, Metric::Clipsim | Metric::Mt | Metric::Probe));
        let embedder = if wants_clip {
            Some(ClipEmbedder::<B::InnerBackend>::from_setting(
                &args.clip, &device,
            )?)
        } else {
            None
        };
        run_eval_on::<B::InnerBackend>(
            args,
            embedder.as_ref().map(|e| e as &dyn VideoTextEmbedder),
            &device,
        )
    }
}

/// [`run_eval`] with a CLIP embedder for clipsim / mt, on `device`.
fn run_eval_on<B: Backend>(
    args: &EvalArgs,
    embedder: Option<&dyn VideoTextEmbedder>,
    device: &B::Device,
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
    let report = evaluate::<B>(
        &args.real,
        &args.fake,
        &args.options(),
        embedder,
        device,
        &progress,
    )?;
    let json = serde_json::to_string_pretty(&report.to_json())?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    magictime_metrics::report::write_atomic(&args.out, json.as_bytes())?;
    let files = magictime_metrics::report::write_summary(&report, &args.out)?;
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
    /// Seed of the rendered held-out clips (without --videos); a comma-separated list probes
    /// --synth-clips clips of each seed together (e.g. `7,8,12,13,30,31`: the validity table of
    /// the in-domain CLIP, 2,400 clips with --synth-clips 400: see its README). --generate and
    /// --ablation take one seed.
    #[arg(long, default_value = "7", value_delimiter = ',')]
    pub synth_seed: Vec<u64>,
    /// Rendered clips per seed (without --videos).
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
    /// With --generate: instead of generating, pass the held-out real clips through the model's
    /// VAE (encode → decode), the ceiling the VAE puts on every number of the generated videos.
    #[arg(long, requires = "generate")]
    pub reconstruct: bool,
    /// The model to generate with (a MagicTime weights folder); the built-in model by default.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// DDIM steps of the generation.
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// Guidance scale of the generation (default: the built-in model's).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// Adapters of --generate: any of s,t,te (default: all that --model has).
    #[arg(long, value_delimiter = ',')]
    pub adapters: Option<Vec<magictime_model::pipeline::Adapter>>,
    /// The paper's ablation: generate the held-out captions with base + motion, + S, + S + T
    /// and + S + T + Magic Text-Encoder (all four must be in --model) and print FVD, CLIPSIM,
    /// amplitudes and the scene / colour accuracies per prompt kind.
    #[arg(long)]
    pub ablation: bool,
    /// Folder for the real and generated videos (real/, generated/; default: a temporary one).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// I3D weights for the FVD of --generate (`make i3d-weights`).
    #[arg(long, default_value = magictime_metrics::i3d::loader::DEFAULT_WEIGHTS)]
    pub i3d_weights: PathBuf,
}

/// Probes the videos of a folder or manifest (all need prompts).
fn probe_folder(
    e: &ClipEmbedder<Cpu>,
    path: &std::path::Path,
    n: Option<usize>,
    progress: &dyn Fn(usize, usize),
) -> anyhow::Result<magictime_metrics::probe::ProbeReport> {
    let mut items = magictime_metrics::eval::list_videos(path)?;
    items.truncate(n.unwrap_or(usize::MAX));
    let mut prober = magictime_metrics::probe::Prober::new(e)?;
    for (i, item) in items.iter().enumerate() {
        let prompt = item.prompt.as_deref().with_context(|| {
            format!(
                "{}: no prompt (use a manifest with captions)",
                item.path.display()
            )
        })?;
        let clip = magictime_metrics::eval::decode(&item.path)?;
        let frames: Vec<&[u8]> = (0..clip.n).map(|t| clip.frame(t)).collect();
        prober.add(&frames, clip.h, clip.w, prompt)?;
        progress(i + 1, items.len());
    }
    Ok(prober.finish()?)
}

/// The model of `probe --generate`: `--model` with `adapters` (`None`: all it has), or the
/// built-in one written to `tmp` (so adapters can be chosen for it too).
fn probe_pipeline(
    args: &ProbeArgs,
    adapters: Option<&[magictime_model::pipeline::Adapter]>,
    tmp: &std::path::Path,
) -> anyhow::Result<magictime_model::pipeline::MagicTimePipeline<magictime_metrics::features::Cpu>>
{
    use magictime_model::pipeline::MagicTimePipeline;
    let device = Default::default();
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => {
            let dir = tmp.join("built-in-model");
            magictime_model::default_model::write_default_dir(&dir)
                .context("writing the built-in default model")?;
            dir
        }
    };
    MagicTimePipeline::from_dir(&dir, adapters, &device)
        .with_context(|| format!("loading {}", dir.display()))
}

/// Generates one video per held-out caption with `pipeline` into `work/` (real/, generated/)
/// and probes both sets. Returns (real, generated, the generation settings).
fn generate_and_probe(
    args: &ProbeArgs,
    e: &ClipEmbedder<Cpu>,
    pipeline: &magictime_model::pipeline::MagicTimePipeline<magictime_metrics::features::Cpu>,
    work: &std::path::Path,
) -> anyhow::Result<(
    magictime_metrics::probe::ProbeReport,
    magictime_metrics::probe::ProbeReport,
    magictime_metrics::probe::GenerateProbe,
)> {
    let o = magictime_metrics::probe::GenerateProbe {
        seed: args.synth_seed[0],
        clips: args.synth_clips,
        size: args.synth_size as usize,
        frames: args.synth_frames,
        steps: args.steps,
        guidance: args.guidance.unwrap_or(pipeline.defaults.guidance_scale),
        reconstruct: args.reconstruct,
    };
    let bar = ProgressBar::new(o.clips as u64);
    let (real, fake) =
        magictime_metrics::probe::generate_probe_sets(pipeline, &o, work, &|d, _| {
            bar.set_position(d as u64)
        })?;
    bar.finish_and_clear();
    let real_r = probe_folder(e, &real, None, &|_, _| {})?;
    let fake_r = probe_folder(e, &fake, None, &|_, _| {})?;
    Ok((real_r, fake_r, o))
}

/// FVD (I3D) between two folders or manifests of `n` videos; `None` without I3D weights.
fn probe_fvd(
    args: &ProbeArgs,
    real: &std::path::Path,
    fake: &std::path::Path,
    n: usize,
) -> anyhow::Result<Option<f64>> {
    if !args.i3d_weights.is_file() {
        return Ok(None);
    }
    let opts = EvalOptions {
        metrics: vec![Metric::Fvd],
        n,
        i3d_weights: args.i3d_weights.clone(),
        fid_weights: PathBuf::new(),
        sampling: FrameSampling::Uniform,
        batch: 4,
        fid_frames: 16,
        kid: KidOptions::default(),
    };
    Ok(
        evaluate::<Cpu>(real, fake, &opts, None, &Default::default(), &|_, _, _| {})?
            .fvd
            .map(|f| f.value),
    )
}

fn model_name(args: &ProbeArgs) -> String {
    args.model
        .as_ref()
        .map_or("the built-in model".to_string(), |m| {
            m.display().to_string()
        })
}

/// `probe --generate`: real vs generated, side by side.
fn run_probe_generate(
    args: &ProbeArgs,
    e: &ClipEmbedder<Cpu>,
) -> anyhow::Result<magictime_metrics::probe::ProbeReport> {
    let tmp = tempfile::tempdir()?;
    let pipeline = probe_pipeline(args, args.adapters.as_deref(), tmp.path())?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let (real_r, fake_r, o) = generate_and_probe(args, e, &pipeline, &work)?;
    let fvd = probe_fvd(args, &work.join("real"), &work.join("generated"), o.clips)?;
    let model = model_name(args);
    if o.reconstruct {
        println!(
            "Reconstructed by the VAE of {model} (encode → decode, no generation): {} held-out clips (seed {}), {}², {} frames\n",
            o.clips, o.seed, o.size, o.frames
        );
    } else {
        println!(
            "Generated ({model}, DDIM {} steps, guidance {}) from {} held-out captions (seed {}), {}², {} frames\n",
            o.steps, o.guidance, o.clips, o.seed, o.size, o.frames
        );
    }
    let fake_name = if o.reconstruct {
        "VAE reconstruction"
    } else {
        "generated"
    };
    println!(
        "{}",
        magictime_metrics::probe::side_by_side(&real_r, &fake_r, fake_name, fvd)
    );
    if let Some(out) = &args.out {
        let json =
            serde_json::json!({ "real": real_r, "generated": fake_r, "fvd": fvd, "model": model });
        magictime_metrics::report::write_atomic(
            out,
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        println!("wrote {}", out.display());
    }
    Ok(fake_r)
}

/// `probe --ablation`: the same held-out captions generated by base + motion, + S, + S + T and
/// + S + T + Magic Text-Encoder, probed per prompt kind ([`magictime_metrics::ablation`]).
fn run_probe_ablation(args: &ProbeArgs, e: &ClipEmbedder<Cpu>) -> anyhow::Result<()> {
    use magictime_metrics::ablation::{kind_numbers, split_manifest_by_kind, AblationRow, KINDS};
    use magictime_model::pipeline::Adapter;
    let variants: [(&str, &str, &[Adapter]); 4] = [
        ("base + motion (b)", "b", &[]),
        ("+ Magic Adapter S", "s", &[Adapter::S]),
        ("+ S + T", "st", &[Adapter::S, Adapter::T]),
        (
            "+ S + T + Magic Text-Encoder",
            "stte",
            &[Adapter::S, Adapter::T, Adapter::Te],
        ),
    ];
    let tmp = tempfile::tempdir()?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let (mut real, mut rows) = (None, Vec::new());
    let mut settings = None;
    for (name, slug, adapters) in variants {
        eprintln!("ablation: generating with {name}");
        let pipeline = probe_pipeline(args, Some(adapters), tmp.path())?;
        let dir = work.join(slug);
        let (real_r, fake_r, o) = generate_and_probe(args, e, &pipeline, &dir)?;
        let real_split = split_manifest_by_kind(&dir.join("real"))?;
        let fake_split = split_manifest_by_kind(&dir.join("generated"))?;
        let mut kinds = Vec::new();
        for (i, kind) in KINDS.iter().enumerate() {
            let mut k = kind_numbers(&fake_r, kind);
            k.fvd = probe_fvd(args, &real_split[i], &fake_split[i], k.n)?;
            kinds.push(k);
        }
        real.get_or_insert_with(|| KINDS.map(|k| kind_numbers(&real_r, k)));
        settings = Some(o);
        rows.push(AblationRow {
            variant: name.to_string(),
            kinds,
        });
    }
    let (real, o) = (
        real.unwrap_or_else(|| unreachable!()),
        settings.unwrap_or_else(|| unreachable!()),
    );
    let md = magictime_metrics::ablation::markdown(&real, &rows);
    println!(
        "Ablation ({}, DDIM {} steps, guidance {}) on {} held-out captions (seed {}), {}², {} frames, CLIP: {}\n\n{md}",
        model_name(args), o.steps, o.guidance, o.clips, o.seed, o.size, o.frames, e.name()
    );
    if let Some(out) = &args.out {
        let json = serde_json::json!({ "real": real, "rows": rows, "model": model_name(args) });
        magictime_metrics::report::write_atomic(
            out,
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        magictime_metrics::report::write_atomic(&out.with_extension("md"), md.as_bytes())?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// Runs the probe, prints its table and writes the report when asked.
/// `None` for the ablation, which prints and writes its own table.
pub fn run_probe(
    args: &ProbeArgs,
) -> anyhow::Result<Option<magictime_metrics::probe::ProbeReport>> {
    let e = ClipEmbedder::<Cpu>::from_setting(&args.clip, &Default::default())?;
    let bar = ProgressBar::new(0);
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    if (args.ablation || args.generate) && args.synth_seed.len() != 1 {
        anyhow::bail!(
            "--generate and --ablation take one --synth-seed (given: {:?})",
            args.synth_seed
        );
    }
    if args.ablation {
        run_probe_ablation(args, &e)?;
        return Ok(None);
    }
    if args.generate {
        return run_probe_generate(args, &e).map(Some);
    }
    let report = match &args.videos {
        None => magictime_metrics::probe::probe_synth(
            &e,
            &args.synth_seed,
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
        magictime_metrics::report::write_atomic(
            out,
            serde_json::to_string_pretty(&report)?.as_bytes(),
        )?;
        let md_path = out.with_extension("md");
        magictime_metrics::report::write_atomic(&md_path, md.as_bytes())?;
        println!("wrote {} and {}", out.display(), md_path.display());
    }
    Ok(Some(report))
}
